"""Reset the daily risk limits (counters to zero, a daily-loss stop re-armed) and record the reset in the warehouse.

Deployed as `reset-daily-limits/midnight-utc` (cron ``0 0 * * *``, UTC); run it by hand to re-arm execution after a
daily-loss stop. A running continuous flow applies the reset within seconds (``arb.risk.reset.ResetWatcher``).
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run


@flow(name="reset-daily-limits", log_prints=True)
def reset_daily_limits(scope: str = "*", reason: str = "midnight UTC reset", profile: str | None = None,
                       env_file: str = ".env") -> dict:
    from datetime import UTC, datetime

    from arb import wiring
    from arb.logs import setup_logging
    from arb.settings import load_settings
    from arb.warehouse.resets import reset_daily_limits as do_reset

    settings = load_settings(env_files=wiring.env_files(profile, env_file))
    setup_logging(settings.log_path, settings.log_level)
    records = do_reset(settings.warehouse_path, now=datetime.now(UTC), scope=scope, reason=reason,
                       requested_by=f"prefect flow run {flow_run.id}")
    reset = [{"scope": r.scope, "day": str(r.day) if r.day else None, "prev_executions": r.prev_executions,
              "prev_loss_usd": str(r.prev_loss_usd) if r.prev_loss_usd is not None else None,
              "prev_stopped_reason": r.prev_stopped_reason} for r in records]
    get_run_logger().info("daily limits reset (%s): %s", scope, reset)
    return {"flow_run_id": str(flow_run.id), "scope": scope, "reset": reset}
