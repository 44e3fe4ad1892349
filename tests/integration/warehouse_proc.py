"""A warehouse writer process for multi-process tests (and a source of realistic domain objects for the others).

    python tests/integration/warehouse_proc.py --db PATH --run-id R --mode steady --seconds 30 --rate 300 --ids-file F

Modes:
- ``steady``: every ``--tick`` seconds, add ``rate * tick`` decisions through WarehouseWriter and call ``maybe_flush()``
  (the detection loop's pattern). Each accepted id is appended to ``--ids-file`` and fsync'd once per tick.
- ``batches``: batches of random size; ids are ``{run}-b{batch}-n{size}-{i}`` so a reader can check that every batch
  present is complete. Prints ``flush-start B N`` before and ``flush-end B`` after each explicit ``flush()``.

SIGTERM raises out of the loop (a handler must not flush itself: it may interrupt a flush) and ``finally`` closes the
writer, which flushes what is buffered. The last line on stdout is ``SUMMARY {json}``.

Generic on purpose: ``--factory module:function`` replaces the synthetic rows with any ``f(run_id, seq) -> (Decision,
Opportunity)``, so the test can be re-pointed at the real detection flow's objects.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from arb.domain import Action, Decision, Execution, ExecutionStatus, Fill, Opportunity
from arb.warehouse import WarehouseWriter, migrate

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
Pair = tuple[Decision, Opportunity]


def make_opportunity(oid: str, *, seq: int = 0, route_id: str = "BTC/USDT:binance->kraken", **over) -> Opportunity:
    size = Decimal("0.0125") + Decimal(seq % 97) / Decimal(10000)
    buy = Decimal("16800.12") + Decimal(seq % 13)
    sell = buy * Decimal("1.0031")
    fields = dict(
        id=oid,
        kind="cex_arb",
        route_id=route_id,
        symbol="BTC/USDT",
        sell_symbol="BTC/USDT",
        buy_venue="binance",
        sell_venue="kraken",
        size=size,
        buy_price=buy,
        sell_price=sell,
        notional_usd=size * buy,
        gross_edge_bps=Decimal("31.0"),
        edge_bps=Decimal("11.0") - Decimal(seq % 7),
        gross_profit=size * (sell - buy),
        fees=size * buy * Decimal("0.002"),
        net_profit=size * (sell - buy) - size * buy * Decimal("0.002"),
        liquidity_depth=Decimal("250000.5"),
        observed_at=T0 + timedelta(milliseconds=seq),
        data_age_ms=120 + seq % 50,
        fee_rates=(Decimal("0.001"), Decimal("0.001")),
    )
    fields.update(over)
    return Opportunity(**fields)


def make_decision(did: str, opp: Opportunity, *, seq: int = 0, **over) -> Decision:
    action = Action.EXECUTE if seq % 20 == 0 else Action.REJECT
    fields = dict(
        id=did,
        opportunity_id=opp.id,
        route_id=opp.route_id,
        action=action,
        confidence=0.5 + (seq % 50) / 100,
        factors={"edge": 0.62, "liquidity": 0.91, "freshness": 0.8, "route_history": 0.5, "volatility": 0.7},
        weights={"edge": 0.35, "liquidity": 0.2, "freshness": 0.15, "route_history": 0.2, "volatility": 0.1},
        reasons=("ok",) if action is Action.EXECUTE else ("edge_below_min", "confidence_below_min"),
        thresholds={"min_confidence": "0.75", "min_edge_bps": "40", "max_position_usd": "15000.00"},
        ai_mode="conservative",
        model_version=None,
        decided_at=opp.observed_at + timedelta(microseconds=250),
        size=opp.size if action is Action.EXECUTE else Decimal(0),
        features=(float(opp.edge_bps), 0.91, 0.8, 0.5, 0.7, float(seq % 10)),
    )
    fields.update(over)
    return Decision(**fields)


def make_execution(xid: str, d: Decision, o: Opportunity, *, realized: Decimal = Decimal("1.25"), **over) -> Execution:
    fill = Fill(
        venue=o.buy_venue,
        symbol=o.symbol,
        side="buy",
        price=o.buy_price,
        requested=o.size,
        amount=o.size,
        fee=o.fees / 2,
        fee_currency="USDT",
        limit_price=o.buy_price * Decimal("1.001"),
    )
    fields = dict(
        id=xid,
        decision_id=d.id,
        opportunity_id=o.id,
        route_id=o.route_id,
        symbol=o.symbol,
        status=ExecutionStatus.FILLED,
        fills=(fill, fill.model_copy(update={"venue": o.sell_venue, "side": "sell", "price": o.sell_price})),
        submitted_at=d.decided_at,
        filled_at=d.decided_at + timedelta(milliseconds=180),
        latency_ms=180,
        predicted_profit=o.net_profit,
        realized_profit=realized,
        fees=o.fees,
        slippage_bps=Decimal("1.5"),
        edge_bps=o.edge_bps,
    )
    fields.update(over)
    return Execution(**fields)


def synthetic(run_id: str, seq: int, did: str | None = None) -> Pair:
    did = did or f"{run_id}-d{seq:09d}"
    opp = make_opportunity(f"{run_id}-o{seq:09d}", seq=seq)
    return make_decision(did, opp, seq=seq), opp


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough; let close() finish
    raise _Terminated


def _load_factory(spec: str | None) -> Callable[..., Pair]:
    if not spec:
        return synthetic
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)


def run_steady(w: WarehouseWriter, a: argparse.Namespace, factory: Callable[..., Pair], ids_fd) -> int:
    per_tick = max(1, round(a.rate * a.tick))
    end = time.monotonic() + a.seconds
    seq = 0
    next_tick = time.monotonic()
    while time.monotonic() < end:
        accepted = []
        for _ in range(per_tick):
            d, o = factory(a.run_id, seq)
            w.add_decision(d, o, a.run_id)
            if d.executes:
                w.add_execution(make_execution(f"{d.id}-x", d, o), a.run_id)
            accepted.append(d.id)
            seq += 1
        if ids_fd is not None:
            ids_fd.write("".join(i + "\n" for i in accepted))
            ids_fd.flush()
            os.fsync(ids_fd.fileno())
        w.update_run(a.run_id, opportunities_detected=seq, opportunities_submitted=seq)
        w.maybe_flush()
        next_tick += a.tick
        time.sleep(max(0.0, next_tick - time.monotonic()))
    return seq


def run_batches(w: WarehouseWriter, a: argparse.Namespace, factory: Callable[..., Pair], ids_fd) -> int:
    rng = random.Random(a.seed)
    end = time.monotonic() + a.seconds
    total = 0
    b = 0
    while time.monotonic() < end:
        size = rng.randint(a.batch_min, a.batch_max)
        for i in range(size):
            d, o = factory(a.run_id, total + i, did=f"{a.run_id}-b{b:06d}-n{size}-{i:06d}")
            w.add_decision(d, o, a.run_id)
        total += size
        # counters in the same transaction as the rows: a reader can check runs.detected == count(decisions)
        w.update_run(a.run_id, opportunities_detected=total)
        print(f"flush-start {b} {size}", flush=True)
        w.flush()
        print(f"flush-end {b}", flush=True)
        b += 1
    return total


# --- helpers for tests: another process holding the file -------------------------------------------------------

_HOLD = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == "ro")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("released", flush=True)
"""


def hold_lock(path: str | Path, seconds: float, *, read_only: bool):
    """Start a process that opens ``path`` (read-only: like a reader; else like a writer) and keeps it open for
    ``seconds``. Returns the Popen once the file is held; the caller waits on it."""
    import subprocess

    p = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path), str(seconds), "ro" if read_only else "rw"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = p.stdout.readline().strip()
    if line != "locked":
        p.kill()
        raise RuntimeError(f"lock holder did not start: {line!r}")
    return p


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--mode", choices=("steady", "batches"), default="steady")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=300.0, help="decisions per second (steady)")
    p.add_argument("--tick", type=float, default=0.05)
    p.add_argument("--flush-seconds", type=float, default=1.0)
    p.add_argument("--flush-rows", type=int, default=2000)
    p.add_argument("--batch-min", type=int, default=2000)
    p.add_argument("--batch-max", type=int, default=20000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ids-file")
    p.add_argument("--factory", help="module:function returning (Decision, Opportunity) for (run_id, seq)")
    a = p.parse_args(argv)

    factory = _load_factory(a.factory)
    import pandas  # noqa: F401  # pyarrow imports it on the first conversion (~1 s); pay it before "ready"

    migrate(a.db)
    w = WarehouseWriter(a.db, flush_seconds=a.flush_seconds, flush_rows=a.flush_rows)
    w.start_run(
        a.run_id,
        started_at=datetime.now(UTC),
        source=f"warehouse_proc:{a.mode}",
        ai_mode="conservative",
        profile="test",
        dry_run=True,
        settings_json="{}",
        risk_scope=f"test:{a.run_id}",
    )
    w.flush()
    ids_fd = open(a.ids_file, "a", encoding="utf-8") if a.ids_file else None  # noqa: SIM115
    signal.signal(signal.SIGTERM, _on_sigterm)
    print("ready", flush=True)
    n, terminated, buffered_at_close = 0, False, 0
    try:
        n = (run_steady if a.mode == "steady" else run_batches)(w, a, factory, ids_fd)
    except _Terminated:
        terminated = True
    finally:
        buffered_at_close = w.buffered_rows
        w.close()
        if ids_fd is not None:
            ids_fd.close()
    summary = {
        "terminated": terminated,
        "generated": n,
        "buffered_at_close": buffered_at_close,
        "rows_written": w.rows_written,
        "flushes": w.flushes,
        "lock_retries": w.lock_retries,
        "failed_flushes": w.failed_flushes,
        "last_flush_ms": round(w.last_flush_ms, 1),
    }
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path.cwd()))  # so --factory can name project modules
    sys.exit(main())
