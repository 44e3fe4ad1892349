"""Read-only access for every process that is not the writer: retrain and report flows, the API, the CLI.

Each call opens the file read-only, runs its queries and closes, so the writer gets the file back between queries.
While the writer holds the file (a flush, about 30 ms) the open fails with DuckDB's lock error; it is retried with
backoff for ``timeout`` seconds and then raised as TransientError. Money stays exact: ``read_query`` returns Decimal and
int, and ``read_df`` goes through Arrow so DECIMAL and HUGEINT columns arrive as Decimal objects, not float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from arb.errors import FatalError
from arb.warehouse.rows import DailyLimitsRow, RouteStatsRow
from arb.warehouse.schema import connect

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")
OnRetry = Callable[[int, BaseException], None]
DEFAULT_TIMEOUT = 10.0


class WarehouseNotFound(FatalError):
    """There is no warehouse file (or no such run) yet."""


def with_reader(
    path: str | Path,
    fn: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    on_retry: OnRetry | None = None,
) -> T:
    """Run ``fn`` on one short-lived read-only connection (one consistent snapshot for several queries)."""
    p = Path(path)
    if not p.exists():
        raise WarehouseNotFound(
            f"no warehouse at {p}: run `arb run` first to create it (or point WAREHOUSE_PATH at an existing file)"
        )
    con = connect(p, read_only=True, timeout=timeout, on_retry=on_retry)
    try:
        return fn(con)
    except duckdb.CatalogException as e:
        raise FatalError(f"warehouse {p} lacks a table or column ({e}); run `arb run` once to migrate it") from e
    except duckdb.Error as e:
        raise FatalError(f"warehouse query on {p} failed: {e}") from e
    finally:
        con.close()


def read_query(
    path: str | Path,
    sql: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    on_retry: OnRetry | None = None,
) -> list[tuple[Any, ...]]:
    return with_reader(path, lambda con: con.execute(sql, params).fetchall(), timeout=timeout, on_retry=on_retry)


def read_df(
    path: str | Path,
    sql: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    on_retry: OnRetry | None = None,
) -> pd.DataFrame:
    """A DataFrame; DECIMAL/HUGEINT columns hold exact ``Decimal`` objects (dtype object)."""
    return with_reader(
        path, lambda con: con.sql(sql, params=params).to_arrow_table().to_pandas(), timeout=timeout, on_retry=on_retry
    )


# --- queries the CLI and the decider use ------------------------------------------------------------------------------


def _cents(d: Decimal | None) -> float:
    return float((d or Decimal(0)).quantize(Decimal("0.01")))


def stats(
    path: str | Path, run_id: str | None = None, *, timeout: float = DEFAULT_TIMEOUT, on_retry: OnRetry | None = None
) -> dict[str, Any]:
    """The design's stats JSON for ``run_id`` (default: the most recently started run).

    Daily figures come from ``daily_limits`` for the run's risk scope and the UTC day of its last decision (its start
    day when it has none). Money is computed in DECIMAL and rounded to cents only here, for display.
    """

    def q(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        sel = (
            "SELECT run_id, opportunities_detected, opportunities_submitted, opportunities_queued, pending_executions, "
            "risk_scope, ml_enabled, model_version, started_at FROM runs "
        )
        if run_id is None:
            rows = con.execute(sel + "ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT 1").fetchall()
        else:
            rows = con.execute(sel + "WHERE run_id = ?", [run_id]).fetchall()
        if not rows:
            which = f"run {run_id!r}" if run_id else "any run"
            raise WarehouseNotFound(f"the warehouse at {path} has no record of {which}; run `arb run` first")
        rid, detected, submitted, queued, pending, scope, ml_enabled, model_version, started_at = rows[0]
        n_dec, last_decided = con.execute(
            "SELECT count(*), max(decided_at) FROM decisions WHERE run_id = ?", [rid]
        ).fetchall()[0]
        n_exec, n_success = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE success) FROM executions WHERE run_id = ?", [rid]
        ).fetchall()[0]
        ref: datetime | None = last_decided or started_at
        day = ref.astimezone(UTC).date() if ref is not None else None
        limits = (
            con.execute(
                "SELECT executions, profit_usd, loss_usd FROM daily_limits WHERE scope = ? AND day = ?", [scope, day]
            ).fetchall()
            if scope is not None and day is not None
            else []
        )
        d_exec, d_profit, d_loss = limits[0] if limits else (0, Decimal(0), Decimal(0))
        return {
            "run_id": rid,
            "opportunities_detected": int(detected or 0),
            "opportunities_submitted": int(submitted or 0),
            "orchestrator": {
                "opportunities_queued": int(queued or 0),
                "pending_executions": int(pending or 0),
                "daily_executions": int(d_exec or 0),
                "daily_profit_usd": _cents(d_profit),
                "daily_losses_usd": _cents(d_loss),
                "ai_stats": {
                    "total_predictions": int(n_dec),
                    "total_executions": int(n_exec),
                    "win_rate": round(n_success / n_exec, 4) if n_exec else 0.0,
                    "ml_enabled": bool(ml_enabled),
                    "model_trained": model_version is not None,
                },
            },
        }

    return with_reader(path, q, timeout=timeout, on_retry=on_retry)


def load_route_stats(
    path: str | Path, scope: str = "default", *, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, RouteStatsRow]:
    """The learned per-route state of one scope (an account; each replay run is its own scope by default)."""
    rows = read_query(
        path,
        "SELECT route_id, success_ema, capture_ratio_ema, n_executions, n_success, realized_profit, predicted_profit, "
        "updated_at, scope FROM route_stats WHERE scope = ? ORDER BY route_id",
        [scope],
        timeout=timeout,
    )
    return {r[0]: RouteStatsRow(*r) for r in rows}


def load_daily_limits(
    path: str | Path, scope: str, day: date, *, timeout: float = DEFAULT_TIMEOUT
) -> DailyLimitsRow | None:
    rows = read_query(
        path,
        "SELECT scope, day, executions, profit_usd, loss_usd, stopped_reason, updated_at FROM daily_limits "
        "WHERE scope = ? AND day = ?",
        [scope, day],
        timeout=timeout,
    )
    return DailyLimitsRow(*rows[0]) if rows else None


def decision_ids(path: str | Path, run_id: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Every decision id recorded for ``run_id``, in decision order."""
    rows = read_query(
        path,
        "SELECT decision_id FROM decisions WHERE run_id = ? ORDER BY decided_at, decision_id",
        [run_id],
        timeout=timeout,
    )
    return [r[0] for r in rows]
