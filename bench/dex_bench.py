"""DEX pool-state reads: how fast each way of reading pools is, what a log-driven update costs per block, and the
latency from a new block to a fresh snapshot.

    .venv/bin/python bench/dex_bench.py [--data ../shared/data/cex-minute-bars-20221213]

Importable: ``run() -> list[dict]`` returns the table rows. One anvil (cancun), one market deployed with the real
Uniswap bytecode (arb.chain.deploy): 200 V2 pairs (20 V2 factories x the 10 pairs of WETH, USDC, WBTC, DAI, WMATIC)
plus the sandbox's 4 V3 pools with their positions, and the BatchReader.

Read methods, each reading all 200 pairs' reserves (repeated; reads/s = pools per second of wall time):

- ``web3 per pool``: ``pair.functions.getReserves().call()`` for each pair (the naive way);
- ``raw eth_call per pool``: the same 200 eth_calls as raw JSON-RPC, one HTTP request each (no web3 formatting);
- ``BatchReader via web3``: one ``getV2Reserves(pairs)`` eth_call through a web3 contract object;
- ``BatchReader raw``: the same eth_call as raw JSON-RPC, decoded with eth_abi;
- ``raw JSON-RPC batch``: 200 eth_calls in one HTTP request, decoded by hand;
- ``lens (DexCollector.read_all)``: one eth_call of the state-overridden lens (block header included), into V2Pool
  objects; and the same for all 204 pools with the V3 pools' complete tick tables.

Log-driven update: blocks with k noise swaps (the sandbox driver, k ~ 10 and ~50 pools), then the time of
``DexCollector.update`` (eth_getLogs + header, applied) against ``read_all``. Latency: from ``evm_mine`` returning
(the block exists) to the snapshot object being ready, over 100 blocks, p50/p99.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from eth_abi import decode as abi_decode  # noqa: E402

from arb.chain import artifacts  # noqa: E402
from arb.chain.anvil import DEV_KEYS, Anvil, rpc  # noqa: E402
from arb.chain.client import Sender, account, make_web3  # noqa: E402
from arb.chain.deploy import deploy_market  # noqa: E402
from arb.chain.pools import ETHEREUM, ChainSpec, TokenSpec, V2PoolSpec, V2VenueSpec  # noqa: E402
from arb.market.dex import DexCollector  # noqa: E402
from arb.sandbox.driver import SIM_START, DriverParams, MarketDriver, ReferencePrices  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cex-minute-bars-20221213"
SYMBOLS = ("WETH", "USDC", "WBTC", "DAI", "WMATIC")
GET_RESERVES = "0x0902f1ac"


def bench_spec(venues: int = 20) -> ChainSpec:
    pairs = list(itertools.combinations(SYMBOLS, 2))
    return ChainSpec(
        name="bench", chain_id=31337, native="WETH",
        tokens=(TokenSpec("WETH", 18, "weth9"), TokenSpec("USDC", 6), TokenSpec("WBTC", 8), TokenSpec("DAI", 18),
                TokenSpec("WMATIC", 18)),
        v2_venues=tuple(V2VenueSpec(f"v2-{i:02d}", tuple(V2PoolSpec(a, b, 1_000_000, offset_bps=(i * 7) % 21 - 10)
                                                          for a, b in pairs)) for i in range(venues)),
        v3_venues=ETHEREUM.v3_venues, flash_funding_usd=1_000_000, deployer_float_usd=20_000_000)


def _post(session: requests.Session, url: str, body) -> object:
    return session.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}).json()


def _rate(fn, pools: int, repeat: int) -> tuple[float, float]:
    fn()  # warm up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    dt = (time.perf_counter() - t0) / repeat
    return pools / dt, dt * 1000


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run(data: Path = DEFAULT_DATA, blocks: int = 100) -> list[dict]:
    rows: list[dict] = []
    with Anvil(chain_id=31337) as node:
        w3 = make_web3(node.url)
        t0 = time.perf_counter()
        deployed = deploy_market(Sender(w3, account(DEV_KEYS[0])), bench_spec())
        chain = deployed.chain
        print(f"deployed {len(chain.pools)} pools ({deployed.transactions} txs) in {time.perf_counter() - t0:.1f} s",
              flush=True)
        v2 = chain.pools_of(kind="v2")
        addrs = [p.address for p in v2]
        n = len(addrs)
        s = requests.Session()
        pair_abi = artifacts.load("UniswapV2Pair").abi
        pairs = [w3.eth.contract(address=a, abi=pair_abi) for a in addrs]
        reader = w3.eth.contract(address=chain.contracts.batch_reader, abi=artifacts.load("BatchReader").abi)
        reader_data = reader.encode_abi("getV2Reserves", [addrs])
        v2_only = chain.model_copy(update={"pools": v2})
        lens_v2, lens_all = DexCollector(node.url, v2_only), DexCollector(node.url, chain)

        def per_pool_raw():
            for a in addrs:
                _post(s, node.url, {"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                                    "params": [{"to": a, "data": GET_RESERVES}, "latest"]})

        def reader_raw():
            out = _post(s, node.url, {"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                                      "params": [{"to": reader.address, "data": reader_data}, "latest"]})
            return abi_decode(["uint112[]", "uint112[]", "uint32[]"], bytes.fromhex(out["result"][2:]))

        def raw_batch():
            body = [{"jsonrpc": "2.0", "id": i, "method": "eth_call",
                     "params": [{"to": a, "data": GET_RESERVES}, "latest"]} for i, a in enumerate(addrs)]
            out = _post(s, node.url, body)
            return [(int(o["result"][2:66], 16), int(o["result"][66:130], 16)) for o in out]

        methods = [
            ("web3 per pool", lambda: [c.functions.getReserves().call() for c in pairs], n, 2),
            ("raw eth_call per pool", per_pool_raw, n, 3),
            ("BatchReader via web3", lambda: reader.functions.getV2Reserves(addrs).call(), n, 30),
            ("BatchReader raw", reader_raw, n, 50),
            ("raw JSON-RPC batch", raw_batch, n, 30),
            ("lens (DexCollector.read_all)", lens_v2.read_all, n, 50),
            ("lens, + 4 V3 full tick tables", lens_all.read_all, len(chain.pools), 30),
        ]
        for name, fn, pools, repeat in methods:
            rate, ms = _rate(fn, pools, repeat)
            rows.append({"what": f"read {pools} pools: {name}", "value": f"{rate:,.0f} pools/s", "ms": f"{ms:.2f}"})
            print(f"  {rows[-1]}", flush=True)

        # log-driven updates: noise swaps on ~k pools per block (the sandbox driver), automine off
        reference = ReferencePrices.from_lean(data)
        rpc(node.url, "evm_setAutomine", [False])
        for p_trade in (0.05, 0.25):
            driver = MarketDriver({"bench": (node.url, chain)}, reference,
                                  DriverParams(p_trade=p_trade, p_compete=0.0, lag_steps=0, seed=3))
            driver.setup()
            dex = DexCollector(node.url, chain)
            snap = dex.read_all()
            upd, full, swaps = [], [], []
            for i in range(blocks):
                at = SIM_START + timedelta(seconds=2 * i)
                before = driver.stats["noise_txs"]
                driver.noise("bench", snap, at)
                swaps.append(driver.stats["noise_txs"] - before)
                rpc(node.url, "evm_mine")
                t1 = time.perf_counter()
                snap = dex.update(snap.block_number + 1, "latest")
                t2 = time.perf_counter()
                DexCollector(node.url, chain).read_all(snap.block_number)
                t3 = time.perf_counter()
                upd.append((t2 - t1) * 1000)
                full.append((t3 - t2) * 1000)
            k = statistics.mean(swaps)
            rows.append({"what": f"new block -> snapshot, update from logs (~{k:.0f} swaps/block, {blocks} blocks)",
                         "value": f"p50 {_pct(upd, 0.5):.2f} ms, p99 {_pct(upd, 0.99):.2f} ms",
                         "ms": f"{statistics.mean(upd):.2f}"})
            rows.append({"what": f"new block -> snapshot, full read_all of {len(chain.pools)} pools (same blocks)",
                         "value": f"p50 {_pct(full, 0.5):.2f} ms, p99 {_pct(full, 0.99):.2f} ms",
                         "ms": f"{statistics.mean(full):.2f}"})
            print(f"  {rows[-2]}\n  {rows[-1]}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the Lean CEX recording (driver reference)")
    ap.add_argument("--blocks", type=int, default=100)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(args.data, args.blocks)
    width = max(len(r["what"]) for r in rows)
    print(f"\n{'what':<{width}}  {'rate / latency':<32}  mean ms")
    for r in rows:
        print(f"{r['what']:<{width}}  {r['value']:<32}  {r['ms']:>7}")
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
