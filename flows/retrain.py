"""Retrain the execution-success model from the warehouse: ONE short flow run per retrain.

This file only reads settings, calls ``arb.ml.train.retrain`` (read-only on the warehouse, safe while the engine
writes; idempotent through the watermark stored on each registered version), and returns a small summary. The
trigger (every 25 executions) lives in the deployment, not here.
"""

from __future__ import annotations

import os

from prefect import flow, get_run_logger
from prefect.runtime import flow_run


@flow(name="retrain", log_prints=True)
def retrain(
    tracking_uri: str | None = None,
    warehouse: str | None = None,
    min_samples: int = 200,
    holdout: float = 0.2,
    force: bool = False,
    profile: str | None = None,
    env_file: str = ".env",
) -> dict:
    from arb import wiring
    from arb.logs import setup_logging
    from arb.ml.train import retrain as do_retrain
    from arb.settings import load_settings

    settings = load_settings(env_files=wiring.env_files(profile, env_file))
    setup_logging(settings.log_path, settings.log_level)
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlruns/mlflow.db"
    result = do_retrain(warehouse or settings.warehouse_path, uri, min_samples=min_samples,
                        holdout=int(holdout) if holdout >= 1 else holdout, force=force)
    get_run_logger().info("retrain %s: version %s alias %s (%s)", result.status, result.version, result.alias,
                          result.reason)
    return {"flow_run_id": str(flow_run.id), **result.as_dict()}
