"""The continuous detect -> decide -> execute -> record flow: ONE long-lived flow run.

The hot loop is plain Python inside ``arb.runner.run``: a Prefect task per tick would cost about a second each and pile
up in memory. This file only reads settings, calls the library, and returns a small summary.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run


@flow(name="detect-and-execute", log_prints=True)
def detect_and_execute(
    source: str = "replay",
    data: str | None = None,
    speed: str = "max",
    duration: str | None = None,
    profile: str | None = None,
    env_file: str = ".env",
    progress: bool = False,
) -> dict:
    from arb import wiring
    from arb.logs import setup_logging
    from arb.runner import run
    from arb.settings import load_settings

    settings = load_settings(env_files=wiring.env_files(profile, env_file))
    setup_logging(settings.log_path, settings.log_level)
    summary = run(settings, source=source, data=data, speed=speed, duration=duration, profile=profile,
                  progress=progress)
    result = {"flow_run_id": str(flow_run.id), "run_id": summary.run_id, "stopped_by": summary.stopped_by,
              "stats": summary.stats,
              "data_quality": summary.data_quality}
    get_run_logger().info("run %s finished (%s): %s", summary.run_id, summary.stopped_by, summary.stats)
    return result
