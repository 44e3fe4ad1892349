"""AMM math throughput: V2 quotes, V3 swaps (recorded ENS/WETH pool state), routes and optimal sizing.

    .venv/bin/python bench/amm_bench.py

Importable: ``run() -> list[dict]`` returns the table rows (name, calls, microseconds per call). Prints a table;
never a timed assertion.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arb.amm import (  # noqa: E402
    V2Pool,
    V3Pool,
    get_amount_out,
    make_route,
    optimal_route_input,
    optimal_two_pool_v2,
    route_output,
)

ENS_POOL = Path(__file__).resolve().parents[2] / "shared" / "data" / "univ3-ens-weth-pool"


def _ens_pool() -> V3Pool:
    """The recorded ENS/WETH pool replayed to its last recorded state (block 13579000): mints, burns and swaps."""
    def rows(name: str) -> list[dict]:
        with (ENS_POOL / name).open() as f:
            return list(csv.DictReader(f))

    cfg = rows("pool_config.csv")[0]
    pool = V3Pool.initialize("ens", cfg["token0"], cfg["token1"], int(cfg["fee"]), int(cfg["tick_spacing"]),
                             int(cfg["initial_sqrt_price_X96"]))
    events = rows("liquidity_events.csv") + rows("swap_events.csv")
    events.sort(key=lambda r: (int(r["block_number"]), int(r["transaction_index"]), int(r["log_index"])))
    for r in events:
        if "type" in r:
            op = pool.mint if r["type"] == "1" else pool.burn
            _, _, pool = op(int(r["tick_lower"]), int(r["tick_upper"]), int(r["liquidity"]), r["msg_sender"])
        else:
            _, _, pool = pool.swap(int(r["amount0"]) > 0, int(r["amount_specified"]))
    return pool


def _time(name: str, fn: Callable[[], object], calls: int) -> dict:
    fn()
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    us = (time.perf_counter() - t) / calls * 1e6
    return {"name": name, "calls": calls, "us_per_call": round(us, 1)}


def run() -> list[dict]:
    weth, usdc, dai = "WETH", "USDC", "DAI"
    a = V2Pool("a", usdc, weth, 30_000_000 * 10**6, 10_000 * 10**18)
    b = V2Pool("b", usdc, weth, 15_150_000 * 10**6, 5_000 * 10**18)
    c = V2Pool("c", dai, weth, 30_000_000 * 10**18, 10_000 * 10**18)
    d = V2Pool("d", dai, weth, 15_150_000 * 10**18, 5_000 * 10**18)
    ens = _ens_pool()
    weth_in = ens.token0
    # a V2 pair pricing ENS 5 % above the V3 pool, for a V3 -> V2 cycle
    ens_out = ens.amount_out(weth_in, 10**18)
    v2_ens = V2Pool("e", ens.token0, ens.token1, 1000 * 10**18, ens_out * 1000 * 100 // 105)
    v3_cycle = make_route([ens, v2_ens], weth_in)
    return [
        _time("v2 get_amount_out", lambda: get_amount_out(10**18, 10**21, 3 * 10**24), 200_000),
        _time("v2 route_output, 2 hops", lambda: route_output(make_route([b, a], weth), 10**18), 20_000),
        _time("v3 swap, no tick crossed (0.1 WETH)", lambda: ens.swap(True, 10**17), 5_000),
        _time("v3 swap, 2 ticks crossed (2 WETH)", lambda: ens.swap(True, 2 * 10**18), 5_000),
        _time("v3 swap, drains the pool (3 WETH)", lambda: ens.swap(True, 3 * 10**18), 5_000),
        _time("optimal_two_pool_v2 (USDC legs)", lambda: optimal_two_pool_v2(b, a, weth, premium_bps=5), 200),
        _time("optimal_two_pool_v2 (DAI legs)", lambda: optimal_two_pool_v2(d, c, weth, premium_bps=5), 200),
        _time("optimal_route_input V2 (USDC legs)", lambda: optimal_route_input(make_route([b, a], weth)), 20),
        _time("optimal_route_input V2 (DAI legs)", lambda: optimal_route_input(make_route([d, c], weth)), 20),
        _time("optimal_route_input V3 -> V2", lambda: optimal_route_input(v3_cycle, premium_bps=5), 10),
    ]


def main() -> None:
    rows = run()
    width = max(len(r["name"]) for r in rows)
    print(f"{'benchmark':<{width}}  {'calls':>8}  {'us/call':>10}")
    for r in rows:
        print(f"{r['name']:<{width}}  {r['calls']:>8}  {r['us_per_call']:>10}")


if __name__ == "__main__":
    main()
