"""Warehouse append throughput: the batched writer against naive per-row inserts, on realistic decision rows.

    .venv/bin/python bench/warehouse_bench.py [ROWS]

Importable: ``run(rows) -> list[dict]`` returns the table rows. Every method writes into a fresh, migrated file.
Rows/s includes everything the loop pays: converting the domain objects, opening the file, inserting, committing and
closing. Slow methods run on fewer rows (the "rows" column says how many) to keep the whole bench under a minute.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from arb.domain import Action, Decision, Opportunity
from arb.warehouse import WarehouseWriter, migrate
from arb.warehouse import rows as R

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def make_pair(run_id: str, seq: int) -> tuple[Decision, Opportunity]:
    size = Decimal("0.0125") + Decimal(seq % 97) / Decimal(10000)
    buy = Decimal("16800.12") + Decimal(seq % 13)
    sell = buy * Decimal("1.0031")
    opp = Opportunity(
        id=f"{run_id}-o{seq}", kind="cex_arb", route_id="BTC/USDT:binance->kraken", symbol="BTC/USDT",
        sell_symbol="BTC/USDT", buy_venue="binance", sell_venue="kraken", size=size, buy_price=buy, sell_price=sell,
        notional_usd=size * buy, gross_edge_bps=Decimal("31"), edge_bps=Decimal("11.25"),
        gross_profit=size * (sell - buy), fees=size * buy * Decimal("0.002"),
        net_profit=size * (sell - buy) - size * buy * Decimal("0.002"), liquidity_depth=Decimal("250000.5"),
        observed_at=T0 + timedelta(milliseconds=seq), data_age_ms=120, fee_rates=(Decimal("0.001"), Decimal("0.001")),
    )  # fmt: skip
    dec = Decision(
        id=f"{run_id}-d{seq}", opportunity_id=opp.id, route_id=opp.route_id, action=Action.REJECT,
        confidence=0.61, factors={"edge": 0.62, "liquidity": 0.91, "freshness": 0.8, "route_history": 0.5},
        weights={"edge": 0.4, "liquidity": 0.2, "freshness": 0.2, "route_history": 0.2},
        reasons=("edge_below_min", "confidence_below_min"),
        thresholds={"min_confidence": "0.75", "min_edge_bps": "40"}, ai_mode="conservative",
        decided_at=opp.observed_at + timedelta(microseconds=250), size=Decimal(0),
        features=(11.25, 0.91, 0.8, 0.5, 0.7, 3.0),
    )  # fmt: skip
    return dec, opp


def _insert_one_sql() -> str:
    cols = R.DECISIONS.columns
    exprs = ", ".join(f"CAST(? AS {R.SQL_CASTS[k]})" if k in R.SQL_CASTS else "?" for _, k in cols)
    return f"INSERT INTO decisions ({', '.join(c for c, _ in cols)}) VALUES ({exprs})"


def _params(row: dict) -> list:
    return [row[c] for c, _ in R.DECISIONS.columns]


def bench_writer(db: Path, pairs: list, batch: int) -> float:
    w = WarehouseWriter(db, flush_seconds=1e9, flush_rows=10**9)
    t0 = time.perf_counter()
    for i, (d, o) in enumerate(pairs, 1):
        w.add_decision(d, o, "bench")
        if i % batch == 0:
            w.flush()
    w.flush()
    return time.perf_counter() - t0


def bench_per_row_open_connection(db: Path, pairs: list) -> float:
    sql = _insert_one_sql()
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    for d, o in pairs:
        con.execute(sql, _params(R.decision_row(d, o, "bench")))  # autocommit: one transaction per row
    con.close()
    return time.perf_counter() - t0


def bench_per_row_open_insert_close(db: Path, pairs: list) -> float:
    sql = _insert_one_sql()
    t0 = time.perf_counter()
    for d, o in pairs:
        con = duckdb.connect(str(db))
        con.execute(sql, _params(R.decision_row(d, o, "bench")))
        con.close()
    return time.perf_counter() - t0


def bench_executemany(db: Path, pairs: list, batch: int) -> float:
    sql = _insert_one_sql()
    t0 = time.perf_counter()
    for start in range(0, len(pairs), batch):
        rows = [_params(R.decision_row(d, o, "bench")) for d, o in pairs[start : start + batch]]
        con = duckdb.connect(str(db))
        con.execute("BEGIN")
        con.executemany(sql, rows)
        con.execute("COMMIT")
        con.close()
    return time.perf_counter() - t0


def _prefill(db: Path, n: int) -> None:
    """Put ``n`` decision rows in the table (SQL-generated, fast) to see how a big table slows a flush."""
    con = duckdb.connect(str(db))
    con.execute(
        "INSERT INTO decisions (decision_id, run_id, opportunity_id, decided_at, observed_at, route_id, kind, symbol, "
        "sell_symbol, buy_venue, sell_venue, action, net_profit) SELECT 'old-' || range, 'old', 'o' || range, now(), "
        "now(), 'r', 'cex_arb', 'BTC/USDT', 'BTC/USDT', 'a', 'b', 'reject', 0.01 FROM range(?)",
        [n],
    )
    con.close()


def run(rows: int = 10000) -> list[dict]:
    cases: list[tuple[str, int, int, Callable[[Path, list], float], int]] = [
        # (method, rows per commit, rows to write, function, rows already in the table)
        ("writer: arrow batch", 1, min(rows, 60), lambda db, p: bench_writer(db, p, 1), 0),
        ("writer: arrow batch", 10, min(rows, 600), lambda db, p: bench_writer(db, p, 10), 0),
        ("writer: arrow batch", 100, min(rows, 5000), lambda db, p: bench_writer(db, p, 100), 0),
        ("writer: arrow batch", 300, rows, lambda db, p: bench_writer(db, p, 300), 0),
        ("writer: arrow batch", 1000, rows, lambda db, p: bench_writer(db, p, 1000), 0),
        ("writer: arrow batch", 5000, rows, lambda db, p: bench_writer(db, p, 5000), 0),
        (
            "writer: arrow batch, table at 1M rows",
            300,
            min(rows, 6000),
            lambda db, p: bench_writer(db, p, 300),
            1_000_000,
        ),  # fmt: skip
        ("executemany, 1 txn per batch", 1000, min(rows, 1000), lambda db, p: bench_executemany(db, p, 1000), 0),
        # holds the file for the whole run: no reader could open it meanwhile
        ("per-row INSERT, open once, autocommit", 1, min(rows, 500), bench_per_row_open_connection, 0),
        ("per-row open-INSERT-close", 1, min(rows, 60), bench_per_row_open_insert_close, 0),
    ]
    pairs = [make_pair("bench", i) for i in range(max(c[2] for c in cases))]
    R.DECISIONS.arrow_table([R.decision_row(*pairs[0], "bench")])  # one-off imports out of the timings
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (method, batch, n, fn, prefill) in enumerate(cases):
            db = Path(tmp) / f"b{i}.duckdb"
            migrate(db)
            if prefill:
                _prefill(db, prefill)
            secs = fn(db, pairs[:n])
            con = duckdb.connect(str(db), read_only=True)
            stored = con.execute("SELECT count(*) FROM decisions WHERE run_id = 'bench'").fetchall()[0][0]
            con.close()
            assert stored == n, f"{method}: wrote {stored} of {n}"
            commits = -(-n // batch)
            out.append(
                {
                    "method": method,
                    "rows_per_commit": batch,
                    "rows": n,
                    "seconds": round(secs, 3),
                    "rows_per_s": round(n / secs),
                    "ms_per_commit": round(secs / commits * 1000, 1),
                }
            )
    return out


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    t0 = time.perf_counter()
    table = run(rows)
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"warehouse append throughput (decision rows, duckdb {duckdb.__version__})")
    for col, just in (("method", "left"), ("rows/commit", "right"), ("rows", "right"), ("seconds", "right"),
                      ("rows/s", "right"), ("ms/commit", "right")):  # fmt: skip
        t.add_column(col, justify=just)
    for r in table:
        t.add_row(r["method"], str(r["rows_per_commit"]), str(r["rows"]), f"{r['seconds']:.3f}",
                  f"{r['rows_per_s']:,}", f"{r['ms_per_commit']:.1f}")  # fmt: skip
    Console().print(t)
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
