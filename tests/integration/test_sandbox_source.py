"""The sandbox market on real anvil chains: reference prices, the driver (moves pools toward the reference,
reproducible with a seed) and SandboxSource (2 s steps, an ethereum block every 6th step, CEX books once per minute,
blocks mined only by the source, block order competitor > ours > noise)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from eth_account import Account

from arb.chain.anvil import DEV_KEYS, rpc
from arb.chain.sandbox import Sandbox
from arb.errors import FatalError
from arb.execute.gas import fees_for
from arb.market.dex import DexCollector, pool_state, snapshot_state
from arb.sandbox import SIM_START, DriverParams, MarketDriver, ReferencePrices, SandboxSource, sim_sandbox
from arb.sandbox.driver import mid_price

OURS = Account.from_key(DEV_KEYS[0])
COMPETITOR = Account.from_key(DEV_KEYS[1]).address
NOISE = {Account.from_key(k).address for k in DEV_KEYS[2:6]}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with sim_sandbox(tmp_path_factory.mktemp("sim") / "manifest.json") as sb:
        yield sb


@pytest.fixture(scope="module")
def reference(lean_day):
    return ReferencePrices.from_lean(lean_day)


def test_reference_prices_follow_the_recorded_btc_and_proxy_eth_matic(reference):
    # binance btcbusd 2022-12-13: first bar open 17212.12, close 17208.88; second bar close 17226.99
    assert reference.btc(SIM_START) == reference.btc(SIM_START + timedelta(seconds=58)) == 17212.12
    assert reference.btc(SIM_START + timedelta(seconds=60)) == 17208.88
    assert reference.btc(SIM_START + timedelta(seconds=179)) == 17226.99
    assert reference.usd("WETH", SIM_START) == 1320.0 and reference.usd("WMATIC", SIM_START) == 0.87
    later = SIM_START + timedelta(seconds=150)
    ratio = reference.btc(later) / 17212.12
    assert reference.usd("WETH", later) == pytest.approx(1320 * ratio, rel=1e-12)
    assert reference.usd("WMATIC", later) == pytest.approx(0.87 * ratio, rel=1e-12)
    assert reference.usd("WBTC", later) == reference.btc(later)
    assert reference.usd("USDC", later) == reference.usd("DAI", later) == 1.0


def _deviation_bps(driver, snap, at) -> dict[str, float]:
    return {a: abs(mid_price(p) / driver.reference_price(snap.chain, p, at) - 1) * 1e4 for a, p in snap.pools.items()}


def _run(sb, reference, params, steps):
    """Driver steps on polygon, mined by hand (timestamps before the simulated start, as the source's would be)."""
    c = sb.chains["polygon"]
    driver = MarketDriver.for_sandbox(sb, reference, params)
    dex = DexCollector(c.anvil.url, c.manifest)
    snap = first = dex.read_all()
    ts = int(snap.timestamp.timestamp())
    for i in range(steps):
        at = SIM_START + timedelta(seconds=2 * i)
        driver.compete("polygon", snap, at)
        driver.noise("polygon", snap, at)
        rpc(c.anvil.url, "evm_mine", [ts + 2 * (i + 1)])
        snap = dex.update(snap.block_number + 1, "latest")
    return driver, first, snap


def test_driver_moves_prices_toward_the_reference_and_is_reproducible(sandbox, reference):
    c = sandbox.chains["polygon"]
    start = c.anvil.snapshot()
    try:
        MarketDriver.for_sandbox(sandbox, reference).setup(("polygon",))
        rpc(c.anvil.url, "evm_setAutomine", [False])
        ready = c.anvil.snapshot()

        calm = DriverParams(seed=1, lag_steps=0, overshoot_sigma=0.0, p_trade=0.6, p_compete=0.0)
        driver, first, last = _run(sandbox, reference, calm, 20)
        before = _deviation_bps(driver, first, SIM_START)
        after = _deviation_bps(driver, last, SIM_START + timedelta(seconds=38))
        print(f"\nmax |pool - reference|: {max(before.values()):.1f} bps -> {max(after.values()):.1f} bps")
        assert max(before.values()) > 60  # the deployed offsets (sushiswap WBTC/USDC +90 bps, ...)
        assert max(after.values()) < 5 and driver.stats["noise_txs"] >= 5
        assert driver.stats["noise_send_errors"] == 0

        c.anvil.revert(ready)
        ready = c.anvil.snapshot()
        params = DriverParams(seed=7, p_compete=0.5)
        runs = []
        for seed in (7, 7, 8):
            d, _, snap = _run(sandbox, reference, DriverParams(**{**vars(params), "seed": seed}), 12)
            runs.append(([(s.pool, s.token_in, s.amount_in, s.role) for s in d.sent],
                         [pool_state(p) for p in snap.pools.values()]))
            c.anvil.revert(ready)
            ready = c.anvil.snapshot()
        assert runs[0] == runs[1] and runs[0][0]  # same seed: the same trades and the same pool states
        assert runs[2] != runs[0]
    finally:
        rpc(c.anvil.url, "evm_setAutomine", [True])
        c.anvil.revert(start)


def test_source_steps_blocks_books_and_block_order(sandbox, lean_day):
    eth, pol = sandbox.chains["ethereum"], sandbox.chains["polygon"]
    src = SandboxSource(lean_day, sandbox=sandbox, params=DriverParams(p_compete=1.0, capture=0.5, overshoot_sigma=0.01,
                                                                        min_profit_usd=0.5))
    assert src.total_batches is None and ("binance", "BTC/BUSD") in src.symbols
    batches = src.batches()
    ordered = 0
    ours: str | None = None
    try:
        prev_blocks: dict[str, int] = {}
        for step in range(61):
            b = next(batches)
            at = SIM_START + timedelta(seconds=2 * step)
            assert b.at == at
            names = [s.chain for s in b.chains]
            assert names == (["ethereum", "polygon"] if step % 6 == 0 else ["polygon"])
            for s in b.chains:
                assert s.timestamp == at  # chain time = simulated time
                if s.chain in prev_blocks:
                    assert s.block_number == prev_blocks[s.chain] + 1
                prev_blocks[s.chain] = s.block_number
            if step in (30, 60):  # the minute bars ending at 00:01 and 00:02
                assert {(x.venue, x.symbol) for x in b.books} == {("binance", "BTC/BUSD"), ("bybit", "BTC/USDT")}
                assert all(x.timestamp == at for x in b.books)
            else:
                assert b.books == ()

            if ours is not None:  # our tx of the previous step is in this polygon block: after competitor, before noise
                block = pol.w3.eth.get_block(prev_blocks["polygon"], full_transactions=True)
                senders = [t["from"] for t in block["transactions"]]
                where = [t["hash"].to_0x_hex() for t in block["transactions"]].index(ours)
                assert all(s == COMPETITOR for s in senders[:where])
                assert all(s in NOISE for s in senders[where + 1:])
                ordered += COMPETITOR in senders and any(s in NOISE for s in senders)

            # the engine's move after this batch: one transaction with its usual fee policy (tip 1 gwei)
            snap = b.chains[-1]
            fees = fees_for(snap.base_fee_wei, 10**9, 10**12)
            nonce = pol.w3.eth.get_transaction_count(OURS.address, "pending")
            tx = {"type": 2, "chainId": 31338, "nonce": nonce, "to": OURS.address, "value": 0, "gas": 21_000,
                  "maxFeePerGas": fees.max_fee_per_gas, "maxPriorityFeePerGas": fees.max_priority_fee_per_gas}
            ours = pol.w3.eth.send_raw_transaction(OURS.sign_transaction(tx).raw_transaction).to_0x_hex()
            if step in (1, 7):  # nobody else mines: it waits in the mempool until the source's next step
                time.sleep(0.3)
                assert pol.w3.eth.block_number == prev_blocks["polygon"]
                assert eth.w3.eth.block_number == prev_blocks["ethereum"]
                assert rpc(pol.anvil.url, "eth_getTransactionReceipt", [ours]) is None
        print(f"\nblocks with competitor + ours + noise: {ordered}; driver: {dict(src.driver.stats)}")
        assert ordered >= 3 and src.driver.stats["competitor_arbs"] >= 3
        for name, c in sandbox.chains.items():  # the log-driven snapshots are still exact
            fresh = DexCollector(c.anvil.url, c.manifest).read_all(src.snapshots[name].block_number)
            assert snapshot_state(fresh) == snapshot_state(src.snapshots[name])
    finally:
        batches.close()
        src.close()
    assert rpc(pol.anvil.url, "anvil_getAutomine") is True  # a given sandbox gets automine back


def test_duration_bounds_an_owned_sandbox_and_close_stops_it(lean_day):
    src = SandboxSource(lean_day, duration=timedelta(seconds=10), eth_every=3)
    try:
        got = list(src.batches())
        urls = [c.anvil.url for c in src.sandbox.chains.values()]
    finally:
        src.close()
    assert [b.at for b in got] == [SIM_START + timedelta(seconds=2 * i) for i in range(5)]
    assert [len(b.chains) for b in got] == [2, 1, 1, 2, 1]
    for url in urls:
        with pytest.raises(OSError):
            rpc(url, "eth_chainId", timeout=1)
    src.close()  # twice is fine


def test_a_sandbox_already_past_the_start_is_refused(lean_day, tmp_path):
    with Sandbox(tmp_path / "m.json", chains=("polygon",)) as sb:
        src = SandboxSource(lean_day, sandbox=sb)
        with pytest.raises(FatalError, match="already at or past the simulated start.*sim_sandbox"):
            src.open()
        src.close()
        assert sb.healthy()
