"""Retrain the execution-success model from the warehouse: ONE short flow run per retrain.

This file only reads settings, calls ``arb.ml.train.retrain`` (read-only on the warehouse, safe while the engine
writes) and returns a small summary. The `retrain/every-25-trades` deployment's event trigger (threshold 25 on
``arb.execution.recorded``) starts it with ``every=25``: it trains only when at least that many executions arrived
since the newest registered version's watermark, so a duplicate trigger skips and a missed one is caught up by the
next. ``trigger_event_id`` names the event that fired the trigger (for the audit trail only: events may arrive out of
order, so it is not "the 25th trade").
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run


@flow(name="retrain", log_prints=True)
def retrain(
    every: int | None = None,
    min_samples: int | None = None,
    holdout: float = 0.2,
    force: bool = False,
    trigger_event_id: str | None = None,
    warehouse: str | None = None,
    tracking_uri: str | None = None,
    profile: str | None = None,
    env_file: str = ".env",
) -> dict:
    from arb import wiring
    from arb.logs import setup_logging
    from arb.ml.train import retrain as do_retrain
    from arb.settings import load_settings

    settings = load_settings(env_files=wiring.env_files(profile, env_file))
    setup_logging(settings.log_path, settings.log_level)
    result = do_retrain(warehouse or settings.warehouse_path, tracking_uri or settings.mlflow_tracking_uri,
                        min_samples=min_samples if min_samples is not None else settings.retrain_min_samples,
                        holdout=int(holdout) if holdout >= 1 else holdout, force=force, every=every)
    get_run_logger().info("retrain %s: version %s alias %s (%s); trigger event %s", result.status, result.version,
                          result.alias, result.reason, trigger_event_id)
    return {"flow_run_id": str(flow_run.id), "trigger_event_id": trigger_event_id, **result.as_dict()}
