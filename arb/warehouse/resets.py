"""Daily-limit resets: the rare writer (the `reset-daily-limits/midnight-utc` flow, or `arb reset-limits`) and the query
a running engine polls.

``reset_daily_limits`` takes the short write path (open, one transaction, close; retried while the engine's writer
holds the file). For each matching scope it zeroes the scope's most recent ``daily_limits`` row (its current day: a
live engine's day is today, a replay's or the sandbox's is its simulated day), clears a daily-loss stop, and appends
one ``limit_resets`` row with the values it replaced, so every reset is audited. A running engine sees the new
``limit_resets`` row (:func:`latest_reset`) within seconds and resets its in-memory state too
(:class:`arb.risk.reset.ResetWatcher`); an engine that starts later restores the zeroed row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from arb.errors import BadInput, FatalError
from arb.warehouse.reader import DEFAULT_TIMEOUT, read_query
from arb.warehouse.schema import apply_migrations, connect

ALL_SCOPES = "*"


@dataclass(frozen=True)
class ResetRecord:
    reset_id: str
    requested_at: datetime
    scope: str
    day: date | None
    reason: str
    requested_by: str
    prev_executions: int | None
    prev_profit_usd: Decimal | None
    prev_loss_usd: Decimal | None
    prev_stopped_reason: str | None


def reset_daily_limits(path: str | Path, *, now: datetime, scope: str = ALL_SCOPES, reason: str = "midnight UTC reset",
                       requested_by: str = "cli", timeout: float = 30.0) -> list[ResetRecord]:
    """Reset the current day of ``scope`` (``*``: every scope). Returns the audit rows written (at least one)."""
    if now.tzinfo is None:
        raise BadInput("naive_time", "reset_daily_limits needs a timezone-aware `now` (UTC)")
    if not scope:
        raise BadInput("bad_scope", "scope must be a risk scope name or '*' (every scope)")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    con = connect(p, read_only=False, timeout=timeout)
    try:
        apply_migrations(con)
        con.execute("BEGIN TRANSACTION")
        try:
            where, params = ("", []) if scope == ALL_SCOPES else ("WHERE scope = ?", [scope])
            rows = con.execute(
                "SELECT scope, day, executions, profit_usd, loss_usd, stopped_reason FROM ("
                "  SELECT *, row_number() OVER (PARTITION BY scope ORDER BY day DESC) AS rn FROM daily_limits"
                f"  {where}) WHERE rn = 1 ORDER BY scope", params).fetchall()
            records: list[ResetRecord] = []
            batch = uuid.uuid4().hex[:12]
            for i, (sc, day, ex, prof, loss, stopped) in enumerate(rows):
                con.execute(
                    "UPDATE daily_limits SET executions = 0, profit_usd = 0, loss_usd = 0, stopped_reason = NULL, "
                    "updated_at = ? WHERE scope = ? AND day = ?", [now, sc, day])
                records.append(ResetRecord(f"reset-{batch}-{i}", now, sc, day, reason, requested_by, ex, prof, loss,
                                           stopped))
            if scope == ALL_SCOPES or not rows:
                # The wildcard row is what running engines of any scope (even one without a row yet) react to.
                records.append(ResetRecord(f"reset-{batch}-all" if scope == ALL_SCOPES else f"reset-{batch}-0", now,
                                           scope, None, reason, requested_by, None, None, None, None))
            for r in records:
                con.execute("INSERT INTO limit_resets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [r.reset_id, r.requested_at, r.scope, r.day, r.reason, r.requested_by,
                             r.prev_executions, r.prev_profit_usd, r.prev_loss_usd, r.prev_stopped_reason])
            con.execute("COMMIT")
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise
        return records
    except duckdb.Error as e:
        raise FatalError(f"resetting the daily limits in {p} failed: {e}") from e
    finally:
        con.close()


def latest_reset(path: str | Path, scope: str, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[datetime, str] | None:
    """The newest reset that applies to ``scope`` (its own or a '*' reset): (requested_at, reset_id), or None."""
    if not Path(path).exists():
        return None
    rows = read_query(
        path,
        "SELECT requested_at, reset_id FROM limit_resets WHERE scope = ? OR scope = ? "
        "ORDER BY requested_at DESC, reset_id DESC LIMIT 1",
        [scope, ALL_SCOPES], timeout=timeout)
    return (rows[0][0], rows[0][1]) if rows else None
