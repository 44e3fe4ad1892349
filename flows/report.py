"""The report flow: ONE short flow run per report (hourly, daily, or all history).

This file only reads settings, calls ``arb.report.make_report`` (read-only on the warehouse, safe while the engine
writes), publishes the result as Prefect artifacts, and returns a small summary. Artifact keys:
``arb-report-<period>`` (markdown summary), ``arb-report-<period>-{routes,venues,chains,reasons,models}`` (tables)
and ``arb-report-<period>-html`` (a link to the HTML file with the plots).
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run


@flow(name="report", log_prints=True)
def report(period: str = "hourly", profile: str | None = None, env_file: str = ".env") -> dict:
    from arb import wiring
    from arb.logs import setup_logging
    from arb.report import TABLES, make_report, period_window
    from arb.settings import load_settings

    now = datetime.now(UTC)
    period_window(period, now)  # a bad period fails here, naming the allowed values, before any work
    settings = load_settings(env_files=wiring.env_files(profile, env_file))
    setup_logging(settings.log_path, settings.log_level)
    rep = make_report(settings, period, now)
    key = f"arb-report-{period}"
    create_markdown_artifact(rep.markdown, key=key, description=f"arb {period} report summary")
    for name, rows in rep.tables.items():
        create_table_artifact(rows, key=f"{key}-{name}", description=f"{TABLES[name]} ({period})")
    create_link_artifact(rep.files.html.resolve().as_uri(), link_text=rep.files.html.name, key=f"{key}-html",
                         description=f"the {period} HTML report with plots (latest copy: {rep.files.latest})")
    get_run_logger().info("report %s written to %s: %s", period, rep.files.html, rep.counts)
    return {"flow_run_id": str(flow_run.id), "period": period, "html": str(rep.files.html),
            "latest": str(rep.files.latest), "counts": rep.counts}
