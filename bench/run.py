"""Benchmarks, measured side by side in one run; prints tables (never a timed assertion).

1. decision latency per market update (p50/p99) for 10 and 200 routes;
2. replay throughput in market events/s through the whole pipeline, DuckDB included (the real recorded day);
3. warehouse append throughput, batched against naive per-row inserts (bench/warehouse_bench.py).

    .venv/bin/python bench/run.py --data ../shared/data/cex-minute-bars-20221213
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from arb.decide.decider import Decider, Thresholds  # noqa: E402
from arb.decide.scoring import HeuristicScorer  # noqa: E402
from arb.detect.cex import EdgeParams  # noqa: E402
from arb.domain import BookLevel, OrderBook  # noqa: E402
from arb.engine import Engine, EngineConfig, IdGen  # noqa: E402
from arb.execute.paper import PaperCexExecutor  # noqa: E402
from arb.market.source import MarketBatch  # noqa: E402
from arb.market.validate import MarketState  # noqa: E402
from arb.risk.limits import RiskLimits, RiskManager, RiskState  # noqa: E402

T0 = datetime(2022, 12, 13, tzinfo=UTC)


class NullWriter:
    """Buffers nothing: isolates the decision path from storage (storage is measured separately)."""

    def __getattr__(self, name):
        return lambda *a, **k: None


def _book(venue: str, symbol: str, mid: Decimal, at: datetime, levels: int = 5) -> OrderBook:
    step = mid / Decimal(10_000)
    return OrderBook(
        venue=venue, symbol=symbol, timestamp=at,
        bids=tuple(BookLevel(price=mid - step * (i + 1), amount=Decimal("0.2")) for i in range(levels)),
        asks=tuple(BookLevel(price=mid + step * (i + 1), amount=Decimal("0.2")) for i in range(levels)),
    )


def decision_latency(n_routes: int, updates: int = 400, full: bool = False) -> dict:
    """n_routes ordered routes = n_routes/2 symbols x 2 venues; latency = engine.step for one market update.

    ``full=False``: each update moves one book (a websocket-style delta): only the routes it touches are re-priced.
    ``full=True``: each update is a snapshot of every book (a polling cycle): every route is re-priced and decided.
    """
    n_symbols = max(1, n_routes // 2)
    symbols = [f"C{i}/USDT" for i in range(n_symbols)]
    venues = ["va", "vb"]
    ids = IdGen("bench")
    risk = RiskManager(RiskLimits(max_daily_executions=10**9, cooldown_s=0, max_concurrent=10**9),
                       RiskState(scope="bench", day=T0.date()))
    th = Thresholds(ai_mode="aggressive", min_confidence=0.5, min_edge_bps=Decimal(2),
                    cex_min_profit_usd=Decimal("0.5"),
                    flash_loan_min_profit_eth=Decimal("0.15"), eth_usd_price=Decimal(1300))
    fee = lambda v, s: Decimal("0.0005")  # noqa: E731
    engine = Engine(
        run_id="bench", source=None, state=MarketState(), decider=Decider(HeuristicScorer(), th, risk, ids.maker("d")),
        edge=EdgeParams(trade_size_usd=Decimal(1000), max_position_usd=Decimal(10**6), quote_usd={"USDT": Decimal(1)},
                        fee=fee),
        executor=PaperCexExecutor(latency_ms=100, slippage_tolerance_bps=Decimal(5), fee=fee,
                                  quote_usd={"USDT": Decimal(1)}, next_id=ids.maker("x")),
        writer=NullWriter(), ids=ids, config=EngineConfig(max_data_age_ms=10**9),
    )
    at = T0
    engine.step(MarketBatch(at=at, books=tuple(_book(v, s, Decimal(100 + i), at) for i, s in enumerate(symbols)
                                                for v in venues)))
    lat = []
    for k in range(updates):
        at = at + timedelta(milliseconds=100)
        i = k % n_symbols
        # Alternate a crossing gap (an opportunity, decided) and a quiet book.
        mid = Decimal(100 + i) * (Decimal("1.004") if k % 2 == 0 else Decimal(1))
        if full:
            bump = Decimal("1.004") if k % 2 == 0 else Decimal(1)
            books = tuple(_book(v, s, Decimal(100 + j) * (bump if v == "va" else 1), at)
                          for j, s in enumerate(symbols) for v in venues)
        else:
            books = (_book(venues[k % 2], symbols[i], mid, at),)
        b = MarketBatch(at=at, books=books)
        t = time.perf_counter_ns()
        engine.step(b)
        lat.append((time.perf_counter_ns() - t) / 1e6)
    lat.sort()
    return {"routes": len(engine._routes), "updates": updates, "kind": "all books" if full else "one book",
            "p50_ms": statistics.median(lat),
            "p99_ms": lat[int(len(lat) * 0.99) - 1], "decisions": sum(engine.c.decisions.values())}


def replay_throughput(data: Path) -> dict:
    from arb.runner import run
    from arb.settings import load_settings

    profile = Path(__file__).resolve().parent.parent / "arb" / "profiles" / "replay-20221213.env"
    with tempfile.TemporaryDirectory() as tmp:
        s = load_settings(env_files=(profile,), warehouse_path=Path(tmp) / "b.duckdb",
                          log_path=Path(tmp) / "b.log", kill_switch_file=Path(tmp) / "KILL")
        t = time.perf_counter()
        summary = run(s, source="replay", data=data, progress=False)
        dt = time.perf_counter() - t
    events = summary.stats.get("books", None)
    dec = sum(summary.stats["decisions"].values())
    return {"seconds": dt, "batches": summary.stats.get("batches"), "books": events, "decisions": dec}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/cex-minute-bars-20221213"))
    ap.add_argument("--rows", type=int, default=20_000)
    args = ap.parse_args()
    con = Console(width=150)

    t = Table(title="Decision latency per market update (engine.step: validate, detect, score, decide, buffer)")
    for c in ("routes", "update", "updates", "decisions", "p50 ms", "p99 ms"):
        t.add_column(c, justify="right")
    for n in (10, 200):
        for full in (False, True):
            r = decision_latency(n, updates=200 if full else 400, full=full)
            t.add_row(str(r["routes"]), r["kind"], str(r["updates"]), str(r["decisions"]), f"{r['p50_ms']:.3f}",
                      f"{r['p99_ms']:.3f}")
    con.print(t)

    r = replay_throughput(args.data)
    t = Table(title="Replay throughput: the recorded day 2022-12-13, whole pipeline, DuckDB included")
    for c in ("books (events)", "batches", "decisions", "seconds", "events/s"):
        t.add_column(c, justify="right")
    t.add_row(str(r["books"]), str(r["batches"]), str(r["decisions"]), f"{r['seconds']:.2f}",
              f"{r['books'] / r['seconds']:.0f}")
    con.print(t)

    try:
        from bench.warehouse_bench import run as wh_run
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from warehouse_bench import run as wh_run
    rows = wh_run(args.rows)
    t = Table(title="Warehouse append throughput (decision rows)")
    keys = list(rows[0].keys())
    for k in keys:
        t.add_column(k, justify="right")
    for row in rows:
        t.add_row(*[f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values()])
    con.print(t)


if __name__ == "__main__":
    main()
