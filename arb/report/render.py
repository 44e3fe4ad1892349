"""Render :class:`~arb.report.data.ReportData`: table rows (for Prefect artifacts), a markdown summary, and one
self-contained HTML file with four PNG plots embedded as base64 (no external assets, opens offline).

Money is rounded here and only here: cents, or six decimals for non-zero amounts below a cent. Plots are drawn on
``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot, so rendering touches no global backend state.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from arb.report.data import NO_MODEL, ROLLING_WINDOW, ReportData

PLOTS: dict[str, str] = {
    "cumulative_pnl": "Cumulative realized PnL",
    "win_rate": "Win rate over executions",
    "calibration": "Calibration: predicted vs observed success",
    "latency": "Execution latency",
}
TABLES: dict[str, str] = {
    "routes": "PnL by route",
    "venues": "PnL by venue",
    "chains": "PnL by chain",
    "reasons": "Rejection reasons",
    "models": "Model versions",
}
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


# --- formatting ------------------------------------------------------------------------------------------------------


def fmt_usd(d: Decimal | None) -> str:
    if d is None:
        return "-"
    if d == 0 or abs(d) >= Decimal("0.005"):
        return f"{d.quantize(CENT, rounding=ROUND_HALF_EVEN):,.2f}"
    return f"{d.quantize(MICRO, rounding=ROUND_HALF_EVEN):f}"


def fmt_dollars(d: Decimal | None) -> str:
    """``$1,234.56`` / ``-$2.86``: for prose (tables carry the unit in the header and use :func:`fmt_usd`)."""
    if d is None:
        return "-"
    text = fmt_usd(d)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def fmt_rate(x: float | Decimal | None) -> str:
    if x is None or pd.isna(x):
        return "-"
    return f"{float(x) * 100:.1f}%"


def fmt_float(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or pd.isna(x) else f"{float(x):.{digits}f}"


def fmt_time(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def stamp(now: datetime) -> str:
    """The UTC timestamp in report file names: 20261102T120000Z."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# --- tables (one source for markdown, HTML and the Prefect table artifacts) -----------------------------------------


def _agg_cells(r: Any) -> dict[str, str]:
    return {
        "executions": str(int(r["executions"])),
        "wins": str(int(r["wins"])),
        "win rate": fmt_rate(r["win_rate"]),
        "success rate": fmt_rate(r["success_rate"]),
        "realized (USD)": fmt_usd(r["realized"]),
        "predicted (USD)": fmt_usd(r["predicted"]),
        "gas (USD)": fmt_usd(r["gas"]),
        "fees (USD)": fmt_usd(r["fees"]),
    }


def _model_rows(data: ReportData) -> list[dict[str, str]]:
    used = {str(r["model_version"]): r for _, r in data.models.iterrows()}
    rows = []

    def usage(r: Any | None) -> dict[str, str]:
        if r is None:
            return {"decisions": "0", "executed": "0", "executions": "0", "wins": "0", "realized (USD)": fmt_usd(None)}
        return {"decisions": str(int(r["decisions"])), "executed": str(int(r["executed"])),
                "executions": str(int(r["executions"])), "wins": str(int(r["wins"])),
                "realized (USD)": fmt_usd(r["realized"])}

    for v in data.registry.versions:
        rows.append({"model": v.label, "alias": ", ".join(v.aliases) or "-", "test AUC": fmt_float(v.test_auc),
                     "test Brier": fmt_float(v.test_brier), "registered": fmt_time(v.created_at),
                     **usage(used.pop(v.label, None))})
    for label, r in used.items():
        where = "-" if label == NO_MODEL else "not in the registry"
        rows.append({"model": label, "alias": where, "test AUC": "-", "test Brier": "-", "registered": "-",
                     **usage(r)})
    return rows


def tables(data: ReportData) -> dict[str, list[dict[str, str]]]:
    """Each table of the report as rows of display strings, keyed as in TABLES."""
    return {
        "routes": [{"route": str(r["route_id"]), **_agg_cells(r)} for _, r in data.by_route.iterrows()],
        "venues": [{"buy venue": str(r["buy_venue"]), "sell venue": str(r["sell_venue"]), "kind": str(r["kind"]),
                    "chain": str(r["chain"]), **_agg_cells(r)} for _, r in data.by_venue.iterrows()],
        "chains": [{"chain": str(r["chain"]), **_agg_cells(r)} for _, r in data.by_chain.iterrows()],
        "reasons": [{"reason": str(r["reason"]), "count": str(int(r["count"])),
                     "share of rejected/deferred decisions": fmt_rate(r["share"])}
                    for _, r in data.reasons.iterrows()],
        "models": _model_rows(data),
    }


# --- the summary -----------------------------------------------------------------------------------------------------


def headline(data: ReportData) -> list[str]:
    """The headline facts, one line each (plain text, markdown-safe)."""
    s = data.summary
    start = fmt_time(data.start) if data.start is not None else "the beginning"
    lines = [f"Period {data.period}: {start} to {fmt_time(data.now)} (UTC)"]
    if data.warehouse_note:
        return [*lines, f"No warehouse yet: {data.warehouse_note}"]
    if s.executions == 0:
        lines.append(f"No executions in this period ({s.decisions} decisions recorded: {s.executed} executed, "
                     f"{s.rejected} rejected, {s.deferred} deferred).")
    else:
        capture = f" (capture {fmt_rate(s.capture_ratio)})" if s.capture_ratio is not None else ""
        lines += [
            f"Executions: {s.executions}; wins {s.wins} (win rate {fmt_rate(s.win_rate)}); "
            f"success rate {fmt_rate(s.success_rate)}",
            f"Realized PnL: {fmt_dollars(s.realized)}; predicted {fmt_dollars(s.predicted)}{capture}; "
            f"gas {fmt_dollars(s.gas)}; fees {fmt_dollars(s.fees)}",
            f"Decisions: {s.decisions} ({s.executed} executed, {s.rejected} rejected, {s.deferred} deferred)",
            "Statuses: " + ", ".join(f"{k} {v}" for k, v in s.statuses.items()),
            f"Latency: p50 {fmt_float(s.latency_p50_ms, 0)} ms, p95 {fmt_float(s.latency_p95_ms, 0)} ms",
            f"Fills from {fmt_time(s.first_fill)} to {fmt_time(s.last_fill)}",
        ]
    return lines


def _md_cell(v: str) -> str:
    return v.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict[str, str]], empty: str = "nothing in this period") -> str:
    if not rows:
        return f"_{empty}_"
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(_md_cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def render_markdown(data: ReportData, html_path: Path | None = None) -> str:
    parts = [f"# arb report: {data.period}", "", *(f"- {line}" for line in headline(data))]
    if html_path is not None:
        parts.append(f"- HTML report with plots: `{html_path}`")
    for key, rows in tables(data).items():
        parts += ["", f"## {TABLES[key]}", "", markdown_table(rows)]
        if key == "models" and data.registry.note:
            parts += ["", f"_Registry: {data.registry.note}_"]
    return "\n".join(parts) + "\n"


# --- plots -----------------------------------------------------------------------------------------------------------


def _figure(width: float = 8.0, height: float = 3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot()


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _times(ex: pd.DataFrame) -> Any:
    return pd.to_datetime(ex["filled_at"], utc=True).dt.tz_convert(None).to_numpy()


def render_plots(data: ReportData) -> dict[str, bytes]:
    """The four plots as PNG bytes, keyed as in PLOTS; {} when the period has no executions."""
    ex = data.executions
    if data.empty or ex.empty:
        return {}
    t = _times(ex)
    out: dict[str, bytes] = {}

    fig, ax = _figure()
    ax.step(t, [float(v) for v in ex["cum_realized"]], where="post", color="tab:green")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(PLOTS["cumulative_pnl"])
    ax.set_xlabel("filled at (UTC)")
    ax.set_ylabel("USD")
    fig.autofmt_xdate()
    out["cumulative_pnl"] = _png(fig)

    fig, ax = _figure()
    ax.plot(t, ex["rolling_win_rate"], label=f"rolling ({ROLLING_WINDOW} executions)", color="tab:blue")
    ax.plot(t, ex["cumulative_win_rate"], label="cumulative", color="tab:orange", ls="--")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(PLOTS["win_rate"])
    ax.set_xlabel("filled at (UTC)")
    ax.set_ylabel("win rate")
    ax.legend(loc="lower right")
    fig.autofmt_xdate()
    out["win_rate"] = _png(fig)

    fig, ax = _figure(5.5, 5.0)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    for name, g in data.calibration.groupby("predictor", sort=False):
        ax.plot(g["mean_predicted"], g["observed_rate"], "o-", label=f"{name} (n={int(g['n'].sum())})")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(PLOTS["calibration"])
    ax.set_xlabel("predicted (bin mean)")
    ax.set_ylabel("observed win rate of executions")
    ax.legend(loc="upper left")
    out["calibration"] = _png(fig)

    fig, ax = _figure()
    lat = pd.to_numeric(ex["latency_ms"], errors="coerce").dropna().astype(float)
    if len(lat):
        ax.hist(lat, bins=min(30, max(5, lat.nunique())), color="tab:purple", alpha=0.8)
        for q, style in ((0.5, "-"), (0.95, "--")):
            v = float(lat.quantile(q))
            ax.axvline(v, color="black", ls=style, lw=1, label=f"p{int(q * 100)} {v:.0f} ms")
        ax.legend()
    ax.set_title(PLOTS["latency"])
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("executions")
    out["latency"] = _png(fig)
    return out


# --- HTML ------------------------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.note { color: #666; font-style: italic; } img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
"""


def html_table(rows: list[dict[str, str]], empty: str = "nothing in this period") -> str:
    if not rows:
        return f'<p class="note">{html.escape(empty)}</p>'
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: ReportData, plots: dict[str, bytes] | None = None) -> str:
    plots = render_plots(data) if plots is None else plots
    e = html.escape
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>arb report: {e(data.period)} {e(fmt_time(data.now))}</title><style>{_CSS}</style></head><body>",
        f"<h1>arb report: {e(data.period)}</h1>",
        "<ul>" + "".join(f"<li>{e(line)}</li>" for line in headline(data)) + "</ul>",
        f'<p class="note">warehouse {e(str(data.warehouse))}; generated for {e(fmt_time(data.now))}</p>',
    ]
    if plots:
        parts.append("<h2>Plots</h2>")
        for key, title in PLOTS.items():
            if key in plots:
                b64 = base64.b64encode(plots[key]).decode("ascii")
                parts.append(f'<h3>{e(title)}</h3><img alt="{e(title)}" src="data:image/png;base64,{b64}">')
    else:
        parts.append('<p class="note">No executions in this period: nothing to plot.</p>')
    for key, rows in tables(data).items():
        parts += [f"<h2>{e(TABLES[key])}</h2>", html_table(rows)]
        if key == "models" and data.registry.note:
            parts.append(f'<p class="note">Registry: {e(data.registry.note)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --- files -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFiles:
    html: Path  # report-<period>-<UTC stamp>.html
    latest: Path  # latest-<period>.html, a copy of the same content


def _write_atomic(path: Path, text: str) -> None:
    from arb.files import write_atomic

    write_atomic(path, text)


def write_report(data: ReportData, reports_dir: str | Path, *, html_text: str | None = None) -> ReportFiles:
    """Write the HTML report under ``reports_dir`` (created if missing) and refresh ``latest-<period>.html``."""
    folder = Path(reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    text = html_text if html_text is not None else render_html(data)
    target = folder / f"report-{data.period}-{stamp(data.now)}.html"
    latest = folder / f"latest-{data.period}.html"
    _write_atomic(target, text)
    _write_atomic(latest, text)
    return ReportFiles(html=target, latest=latest)
