"""On-chain benchmarks, side by side in one run; prints tables (never a timed assertion).

1. pool-state reads/s for 200 pools: naive per-pool eth_call against the batched methods (bench/dex_bench.py);
2. latency from a new block to a decision: the sandbox mines a block, the collector refreshes the pools from logs,
   the engine detects (2-3 hop cycles, optimal sizes), scores and decides, and the executor is handed its plans;
3. simulation latency: eth_call of a whole flash-loan arbitrage (ArbExecutor.execute) at the pending block.
   (No in-process EVM is used, so there is no second column to compare.)

    .venv/bin/python bench/chain_bench.py --data ../shared/data/cex-minute-bars-20221213
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs))) - 1))]


def block_to_decision(data: Path, minutes: int = 4) -> dict:
    from arb import wiring
    from arb.engine import IdGen
    from arb.settings import load_settings
    from arb.warehouse.schema import migrate
    from arb.warehouse.writer import WarehouseWriter
    from arb.wiring_chain import build_sandbox_stack

    profile = Path(__file__).resolve().parent.parent / "arb" / "profiles" / "sandbox.env"
    with tempfile.TemporaryDirectory() as tmp:
        s = load_settings(env_files=(profile,), warehouse_path=Path(tmp) / "b.duckdb", log_path=Path(tmp) / "b.log",
                          kill_switch_file=Path(tmp) / "KILL", sandbox_manifest_path=Path(tmp) / "m.json")
        ids = IdGen("bench")
        stack = build_sandbox_stack(s, data, duration=timedelta(minutes=minutes), next_id=ids.maker("x"))
        migrate(s.warehouse_path)
        writer = WarehouseWriter(s.warehouse_path)
        lat: list[float] = []
        sims: list[float] = []

        def on_batch(i, batch):
            if batch.chains:
                lat.append((time.perf_counter() - stack.source.last_mined_perf) * 1000)

        engine = wiring.build_engine(s, source=stack.source, run_id="bench", risk_scope="bench", writer=writer,
                                     ids=ids, detectors=[stack.detector],
                                     executors={"flash_loan": stack.executor}, on_batch=on_batch)
        try:
            summary = engine.run()
            # Simulation latency: eth_call of execute() for the latest plans found on each chain.
            for name, snap in stack.source.snapshots.items():
                c = stack.executor._chains[name]
                book = stack.detector.plans
                opps = stack.detector.cycles(snap, stack.markets[name], snap.timestamp, ids.maker("b"))
                for o in opps[:20]:
                    plan = book(o)
                    fn = c.contract.functions.execute(plan.asset, plan.amount, [h.as_abi() for h in plan.hops], 0)
                    for _ in range(5):
                        t = time.perf_counter()
                        try:
                            fn.call({"from": stack.executor.owner_address}, block_identifier="pending")
                        except Exception:  # noqa: BLE001 - a route that no longer pays still costs a simulation
                            pass
                        sims.append((time.perf_counter() - t) * 1000)
        finally:
            writer.close()
            stack.close()
    return {"blocks": len(lat), "p50": statistics.median(lat), "p99": pct(lat, 0.99),
            "sim_n": len(sims), "sim_p50": statistics.median(sims) if sims else float("nan"),
            "sim_p99": pct(sims, 0.99) if sims else float("nan"), "decisions": sum(summary.stats["decisions"].values()),
            "executions": summary.stats["orchestrator"]["ai_stats"]["total_executions"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/cex-minute-bars-20221213"))
    args = ap.parse_args()
    con = Console(width=150)
    from dex_bench import run as dex_run

    rows = dex_run(args.data)
    t = Table(title="Pool-state reads (200 V2 pairs on anvil) and block -> snapshot")
    for k in rows[0]:
        t.add_column(k, justify="right")
    for r in rows:
        t.add_row(*[str(v) for v in r.values()])
    con.print(t)

    r = block_to_decision(args.data)
    t = Table(title="Sandbox: new block -> decision (collector update from logs, detection, scoring, decision)")
    for c in ("blocks", "decisions", "executions", "p50 ms", "p99 ms"):
        t.add_column(c, justify="right")
    t.add_row(str(r["blocks"]), str(r["decisions"]), str(r["executions"]), f"{r['p50']:.1f}", f"{r['p99']:.1f}")
    con.print(t)
    t = Table(title="Simulation of a whole flash-loan arbitrage (ArbExecutor.execute via eth_call at pending)")
    for c in ("calls", "p50 ms", "p99 ms"):
        t.add_column(c, justify="right")
    t.add_row(str(r["sim_n"]), f"{r['sim_p50']:.2f}", f"{r['sim_p99']:.2f}")
    con.print(t)


if __name__ == "__main__":
    main()
