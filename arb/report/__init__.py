"""The report: PnL, win/success rates, rejection reasons and model versions for a period, as markdown (for Prefect
artifacts) and as a self-contained HTML file with plots under ``settings.reports_dir``.

``make_report`` is the one use-case the flow and the CLI call; :mod:`arb.report.data` queries (read-only, exact
Decimal money) and :mod:`arb.report.render` formats and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from arb.report.data import PERIODS, ReportData, build_report_data, normalise_reason, period_window
from arb.report.render import TABLES, ReportFiles, render_html, render_markdown, tables, write_report

if TYPE_CHECKING:
    from arb.settings import Settings

__all__ = [
    "PERIODS",
    "TABLES",
    "Report",
    "ReportData",
    "ReportFiles",
    "build_report_data",
    "make_report",
    "normalise_reason",
    "period_window",
]


@dataclass(frozen=True)
class Report:
    data: ReportData
    files: ReportFiles
    markdown: str
    tables: dict[str, list[dict[str, str]]]  # keyed as TABLES: routes, venues, chains, reasons, models

    @property
    def counts(self) -> dict[str, int]:
        s = self.data.summary
        return {"executions": s.executions, "wins": s.wins, "decisions": s.decisions, "executed": s.executed,
                "rejected": s.rejected, "deferred": s.deferred, "routes": len(self.data.by_route),
                "model_versions": len(self.data.registry.versions)}


def make_report(settings: Settings, period: str, now: datetime) -> Report:
    """Build the ``period`` report ending at ``now`` from the settings' warehouse and MLflow store, write the HTML
    (and ``latest-<period>.html``) under ``settings.reports_dir``, and return it with its markdown and tables."""
    data = build_report_data(settings.warehouse_path, period, now, tracking_uri=settings.mlflow_tracking_uri)
    files = write_report(data, settings.reports_dir, html_text=render_html(data))
    return Report(data=data, files=files, markdown=render_markdown(data, files.html), tables=tables(data))
