"""Read-only metrics over the warehouse: what the dashboard shows and what the alerts are evaluated on.

Each ``q_*`` function runs its queries on an open read-only connection; :func:`snapshot` runs several of them inside
one :func:`arb.warehouse.reader.with_reader` call, so the figures of one snapshot are consistent with each other even
while the engine flushes (one connection sees one committed state).

Conventions:

- Money is ``Decimal``: exact sums of the DECIMAL(38,18) columns. Ratios (win rate, gas share, drawdown, the share of
  the daily loss limit used) are floats: they are scores, not money.
- Overall figures cover the whole warehouse, every run in it.
- A recent window is relative to the wall clock ``now`` that the caller passes in, not to the newest row:
  "the last 60 minutes" means ``decided_at >= now - 60 min`` (decisions) and ``filled_at >= now - 60 min``
  (executions). A replay of a past day therefore has an empty recent window, while its overall figures are complete.
- "Today", for the daily loss, is the UTC day of ``now``, read from ``daily_limits`` for the risk scope of the latest
  run (the row the engine's risk manager keeps for that scope and day).
- An execution is a success when its ``success`` column is true and a win when ``realized_profit > 0``.
  ``realized_profit`` is net of gas (the executors subtract it), so the gross profit before gas is
  ``realized_profit + gas_cost``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from arb.warehouse.reader import DEFAULT_TIMEOUT, OnRetry, with_reader

if TYPE_CHECKING:
    from arb.settings import Settings

Con = duckdb.DuckDBPyConnection
ACTIONS = ("execute", "reject", "defer")
ZERO = Decimal(0)


def _dec(x: Any) -> Decimal:
    """A summed DECIMAL as a Decimal (NULL, i.e. no rows, is 0)."""
    return ZERO if x is None else Decimal(x)


def utc(now: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already (the project's convention)."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


# --- the figures -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionCounts:
    execute: int = 0
    reject: int = 0
    defer: int = 0
    other: int = 0  # actions this code does not know (a newer writer); counted in ``total``

    @property
    def total(self) -> int:
        return self.execute + self.reject + self.defer + self.other


@dataclass(frozen=True)
class Totals:
    """Decisions and executions over some period, with their profitability."""

    decisions: DecisionCounts
    executions: int
    successes: int  # executions with success = true
    wins: int  # executions with realized_profit > 0
    realized_profit: Decimal  # USD, net of fees and gas
    predicted_profit: Decimal  # USD
    gas_cost: Decimal  # USD

    @property
    def gross_profit(self) -> Decimal:
        """Realized profit before gas."""
        return self.realized_profit + self.gas_cost

    @property
    def win_rate(self) -> float | None:
        """wins / executions; None without executions."""
        return self.wins / self.executions if self.executions else None

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.executions if self.executions else None

    @property
    def gas_share(self) -> float | None:
        """gas cost / gross profit before gas; None while the gross profit is not positive (the share is undefined:
        the win-rate and drawdown alerts cover a losing book)."""
        gross = self.gross_profit
        return float(self.gas_cost / gross) if gross > 0 else None

    @property
    def capture_ratio(self) -> float | None:
        """realized / predicted profit; None unless the predicted profit is positive."""
        return float(self.realized_profit / self.predicted_profit) if self.predicted_profit > 0 else None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    started_at: datetime | None
    finished_at: datetime | None
    status: str | None
    source: str | None
    ai_mode: str | None
    profile: str | None
    dry_run: bool | None
    ml_enabled: bool | None
    risk_scope: str | None
    model_version: str | None


@dataclass(frozen=True)
class Drawdown:
    """Over the cumulative realized PnL curve ordered by ``filled_at`` (ties by execution id), starting at 0:
    drawdown = (peak - current) / (capital_usd + peak), where peak is the running maximum of the curve (>= 0)."""

    current: float
    max: float
    peak_pnl: Decimal  # the highest cumulative realized PnL so far (0 before any profit)
    pnl: Decimal  # the cumulative realized PnL now


@dataclass(frozen=True)
class DailyLoss:
    scope: str | None  # the latest run's risk scope; None without runs
    day: date  # the UTC day of ``now``
    loss_usd: Decimal
    limit_usd: Decimal  # MAX_DAILY_LOSS_USD
    executions: int
    stopped_reason: str | None

    @property
    def used(self) -> float | None:
        """loss / limit; None when the limit is 0 (no fraction of it can be used)."""
        return float(self.loss_usd / self.limit_usd) if self.limit_usd > 0 else None


@dataclass(frozen=True)
class LatestDecision:
    decision_id: str
    decided_at: datetime
    route_id: str
    kind: str
    action: str
    confidence: float | None
    model_version: str | None
    net_profit: Decimal | None  # in ``profit_currency`` (USD for the CEX and flash-loan paths)
    profit_currency: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class AlertRow:
    """A row of the warehouse ``alerts`` table."""

    alert_id: str
    at: datetime
    level: str
    kind: str
    message: str | None
    run_id: str | None


@dataclass(frozen=True)
class Snapshot:
    """Everything the alerts need and the dashboard shows, read in one consistent pass."""

    now: datetime
    window_minutes: int
    capital_usd: Decimal
    overall: Totals
    recent: Totals
    latest_run: RunInfo | None
    model_version: str | None  # the newest model_version seen in decisions
    drawdown: Drawdown
    daily_loss: DailyLoss

    @property
    def portfolio_value_usd(self) -> Decimal:
        """capital_usd + the realized PnL of every execution."""
        return self.capital_usd + self.overall.realized_profit


# --- queries on an open connection -----------------------------------------------------------------------------------


def q_totals(con: Con, since: datetime | None = None) -> Totals:
    """Totals over the whole warehouse, or over decisions decided / executions filled at or after ``since``."""
    d_where, x_where, params = "", "", []
    if since is not None:
        d_where, x_where, params = " WHERE decided_at >= ?", " WHERE filled_at >= ?", [utc(since)]
    counts: dict[str, int] = {}
    for action, n in con.execute(f"SELECT action, count(*) FROM decisions{d_where} GROUP BY action", params).fetchall():
        counts[action] = int(n)
    decisions = DecisionCounts(
        execute=counts.pop("execute", 0),
        reject=counts.pop("reject", 0),
        defer=counts.pop("defer", 0),
        other=sum(counts.values()),
    )
    n, successes, wins, realized, predicted, gas = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE success), count(*) FILTER (WHERE realized_profit > 0), "
        f"sum(realized_profit), sum(predicted_profit), sum(gas_cost) FROM executions{x_where}",
        params,
    ).fetchall()[0]
    return Totals(
        decisions=decisions,
        executions=int(n),
        successes=int(successes),
        wins=int(wins),
        realized_profit=_dec(realized),
        predicted_profit=_dec(predicted),
        gas_cost=_dec(gas),
    )


def q_latest_run(con: Con) -> RunInfo | None:
    """The most recently started run (the same choice as ``arb stats``)."""
    rows = con.execute(
        "SELECT run_id, started_at, finished_at, status, source, ai_mode, profile, dry_run, ml_enabled, risk_scope, "
        "model_version FROM runs ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT 1"
    ).fetchall()
    return RunInfo(*rows[0]) if rows else None


def q_model_version(con: Con) -> str | None:
    """The model_version of the newest decision decided by a model (decisions of the heuristic scorer say "none")."""
    rows = con.execute(
        "SELECT model_version FROM decisions WHERE model_version IS NOT NULL AND model_version <> 'none' "
        "ORDER BY decided_at DESC, decision_id DESC LIMIT 1"
    ).fetchall()
    return rows[0][0] if rows else None


def q_latest_decisions(con: Con, limit: int) -> list[LatestDecision]:
    rows = con.execute(
        "SELECT decision_id, decided_at, route_id, kind, action, confidence, model_version, net_profit, "
        "profit_currency, reasons FROM decisions ORDER BY decided_at DESC, decision_id DESC LIMIT ?",
        [int(limit)],
    ).fetchall()
    return [
        LatestDecision(
            decision_id=r[0], decided_at=r[1], route_id=r[2], kind=r[3], action=r[4], confidence=r[5],
            model_version=r[6], net_profit=None if r[7] is None else Decimal(r[7]), profit_currency=r[8],
            reasons=tuple(r[9] or ()),
        )
        for r in rows
    ]


_CURVE = """
WITH c AS (
    SELECT filled_at, execution_id,
           sum(coalesce(realized_profit, 0)) OVER w AS pnl
    FROM executions WHERE filled_at IS NOT NULL
    WINDOW w AS (ORDER BY filled_at, execution_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), p AS (
    SELECT filled_at, execution_id, pnl,
           greatest(max(pnl) OVER w, 0) AS peak
    FROM c
    WINDOW w AS (ORDER BY filled_at, execution_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
"""


def q_drawdown(con: Con, capital_usd: Decimal) -> Drawdown:
    """See :class:`Drawdown`. The row of the maximum is found in SQL; both ratios are then computed from exact
    Decimals."""
    capital = Decimal(capital_usd)
    if not capital.is_finite() or capital <= 0:
        raise ValueError(f"capital_usd must be positive to compute a drawdown, got {capital_usd}")

    def ratio(peak: Decimal, pnl: Decimal) -> float:
        return float((peak - pnl) / (capital + peak))

    last = con.execute(_CURVE + "SELECT peak, pnl FROM p ORDER BY filled_at DESC, execution_id DESC LIMIT 1").fetchall()
    if not last:
        return Drawdown(current=0.0, max=0.0, peak_pnl=ZERO, pnl=ZERO)
    peak, pnl = _dec(last[0][0]), _dec(last[0][1])
    worst = con.execute(
        _CURVE + "SELECT peak, pnl FROM p ORDER BY (peak - pnl) / (CAST(? AS DECIMAL(38,18)) + peak) DESC, "
        "filled_at, execution_id LIMIT 1",
        [capital],
    ).fetchall()[0]
    current = ratio(peak, pnl)
    return Drawdown(current=current, max=max(current, ratio(_dec(worst[0]), _dec(worst[1]))), peak_pnl=peak, pnl=pnl)


def q_daily_loss(con: Con, scope: str | None, day: date, limit_usd: Decimal) -> DailyLoss:
    rows = (
        con.execute(
            "SELECT loss_usd, executions, stopped_reason FROM daily_limits WHERE scope = ? AND day = ?", [scope, day]
        ).fetchall()
        if scope is not None
        else []
    )
    loss, executions, stopped = rows[0] if rows else (None, 0, None)
    return DailyLoss(
        scope=scope, day=day, loss_usd=_dec(loss), limit_usd=Decimal(limit_usd), executions=int(executions or 0),
        stopped_reason=stopped,
    )


def _risk_day(con: Con, run: RunInfo | None, now: datetime) -> date:
    """The latest run's current risk day: the UTC day of its newest decision (source time: a replay's or the
    sandbox's simulated day; a live run's today), else the UTC day of ``now``."""
    if run is not None:
        rows = con.execute("SELECT max(decided_at) FROM decisions WHERE run_id = ?", [run.run_id]).fetchall()
        if rows and rows[0][0] is not None:
            return utc(rows[0][0]).date()
    return now.date()


def q_recent_alerts(con: Con, limit: int) -> list[AlertRow]:
    rows = con.execute(
        'SELECT alert_id, "at", level, kind, message, run_id FROM alerts ORDER BY "at" DESC, alert_id DESC LIMIT ?',
        [int(limit)],
    ).fetchall()
    return [AlertRow(*r) for r in rows]


def q_snapshot(
    con: Con, *, now: datetime, capital_usd: Decimal, max_daily_loss_usd: Decimal, window_minutes: int = 60
) -> Snapshot:
    if window_minutes < 1:
        raise ValueError(f"window_minutes must be 1 or more, got {window_minutes}")
    now = utc(now)
    run = q_latest_run(con)
    return Snapshot(
        now=now,
        window_minutes=window_minutes,
        capital_usd=Decimal(capital_usd),
        overall=q_totals(con),
        recent=q_totals(con, now - timedelta(minutes=window_minutes)),
        latest_run=run,
        model_version=q_model_version(con),
        drawdown=q_drawdown(con, capital_usd),
        daily_loss=q_daily_loss(con, run.risk_scope if run else None, _risk_day(con, run, now), max_daily_loss_usd),
    )


# --- one-call readers ------------------------------------------------------------------------------------------------


def read(
    path: str | Path, fn: Callable[[Con], Any], *, timeout: float = DEFAULT_TIMEOUT, on_retry: OnRetry | None = None
) -> Any:
    """Run ``fn`` (one or more ``q_*`` calls) on one read-only connection. Raises WarehouseNotFound (no file yet),
    TransientError (the writer kept the lock for ``timeout`` s) or FatalError (a table is missing, a query failed)."""
    return with_reader(path, fn, timeout=timeout, on_retry=on_retry)


def snapshot(
    path: str | Path,
    *,
    now: datetime,
    capital_usd: Decimal,
    max_daily_loss_usd: Decimal,
    window_minutes: int = 60,
    timeout: float = DEFAULT_TIMEOUT,
    on_retry: OnRetry | None = None,
) -> Snapshot:
    """One consistent :class:`Snapshot` of the warehouse at ``path`` (one read-only connection)."""
    return with_reader(
        path,
        lambda con: q_snapshot(
            con, now=now, capital_usd=capital_usd, max_daily_loss_usd=max_daily_loss_usd, window_minutes=window_minutes
        ),
        timeout=timeout,
        on_retry=on_retry,
    )


def snapshot_from_settings(
    settings: Settings, *, now: datetime, window_minutes: int = 60, timeout: float = DEFAULT_TIMEOUT
) -> Snapshot:
    """:func:`snapshot` of WAREHOUSE_PATH with the capital and MAX_DAILY_LOSS_USD of ``settings``."""
    return snapshot(
        settings.warehouse_path,
        now=now,
        capital_usd=settings.capital_usd,
        max_daily_loss_usd=settings.max_daily_loss_usd,
        window_minutes=window_minutes,
        timeout=timeout,
    )
