"""DexCollector on the real sandbox (real Uniswap V2/V3 bytecode on anvil): one round trip reads every pool and agrees
with direct calls; the log-driven update equals a fresh read after random swaps, mints and burns (V2 and V3, with
tick-crossing V3 swaps, NFT-manager burns and fee-collect "pokes"), in full and windowed tick modes."""

from __future__ import annotations

import random
import shutil

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account

from arb.chain import artifacts
from arb.chain.anvil import DEV_KEYS, rpc
from arb.chain.deploy import DEADLINE, MAX_UINT, rpc_batch
from arb.chain.manifest import PoolInfo
from arb.chain.sandbox import Sandbox
from arb.errors import FatalError
from arb.market.dex import LENS_RUNTIME, DexCollector, compile_lens, pool_state, snapshot_state

TRADER = Account.from_key(DEV_KEYS[7])


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("dex") / "manifest.json") as sb:
        yield sb


def _c(w3, name, address):
    return w3.eth.contract(address=address, abi=artifacts.load(name).abi)


def _word(hexdata: str, i: int = 0) -> int:
    b = bytes.fromhex(hexdata[2:])
    v = int.from_bytes(b[32 * i:32 * i + 32], "big")
    return v - 2**256 if v >> 255 else v


def test_read_all_is_one_round_trip_and_agrees_with_direct_calls(sandbox):
    for _name, (anvil, w3, chain) in sandbox.chains.items():
        dex = DexCollector(w3, chain)
        snap = dex.read_all()
        assert dex.requests == 1  # one HTTP request, one eth_call
        block = w3.eth.get_block("latest")
        assert (snap.block_number, int(snap.timestamp.timestamp()), snap.base_fee_wei) == \
               (block["number"], block["timestamp"], block["baseFeePerGas"])
        assert set(snap.pools) == {p.address for p in chain.pools}
        tokens = {s: t.address for s, t in chain.tokens.items()}
        for p in chain.pools:
            pool = snap.pools[p.address]
            assert (pool.token0, pool.token1) == (tokens[p.token0], tokens[p.token1])
            if p.kind == "v2":
                r0, r1, _ = _c(w3, "UniswapV2Pair", p.address).functions.getReserves().call()
                assert (pool.reserve0, pool.reserve1, pool.fee_bps) == (r0, r1, 30)
                continue
            c = _c(w3, "UniswapV3Pool", p.address)
            slot0 = c.functions.slot0().call()
            assert (pool.sqrt_price_x96, pool.tick, pool.fee_protocol) == (slot0[0], slot0[1], slot0[5])
            assert pool.liquidity == c.functions.liquidity().call()
            assert (pool.fee, pool.tick_spacing) == (p.fee, c.functions.tickSpacing().call())
            lo, hi = dex.words[p.address]
            # every bitmap word of the tick range, through a raw batch, equals the collector's bitmap
            calls = [("eth_call", [{"to": p.address, "data": "0x5339c296" + abi_encode(["int16"], [w]).hex()},
                                   hex(snap.block_number)]) for w in range(lo, hi + 1)]
            words = {w: int(x, 16) for w, x in zip(range(lo, hi + 1), rpc_batch(anvil.url, calls), strict=True)}
            assert {w: x for w, x in words.items() if x} == dict(pool.bitmap)
            assert len(pool.ticks) >= 2  # full range: +-887220 (0.3%) or +-887270 (0.05%), plus concentrated ones
            for t, info in pool.ticks.items():
                gross, net, *_rest, initialized = c.functions.ticks(t).call()
                assert initialized and (info.liquidity_gross, info.liquidity_net) == (gross, net)


def test_lens_runtime_is_the_build_of_its_source():
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    assert compile_lens() == LENS_RUNTIME


class Trader:
    """DEV_KEYS[7], funded with every token, sending raw signed transactions (automine off: mined by the test)."""

    def __init__(self, anvil, w3, chain):
        self.url, self.w3, self.chain = anvil.url, w3, chain
        self.nonce = w3.eth.get_transaction_count(TRADER.address, "pending")
        self.raws: list[str] = []

    def tx(self, to: str, data: str | bytes, gas: int = 1_500_000, value: int = 0) -> None:
        data = data if isinstance(data, str) else "0x" + data.hex()
        tx = {"type": 2, "chainId": self.chain.chain_id, "nonce": self.nonce, "to": to, "value": value,
              "data": data, "gas": gas, "maxFeePerGas": 200 * 10**9, "maxPriorityFeePerGas": 10**9}
        self.nonce += 1
        self.raws.append("0x" + bytes(TRADER.sign_transaction(tx).raw_transaction).hex())

    def mine(self) -> list[dict]:
        hashes = rpc_batch(self.url, [("eth_sendRawTransaction", [r]) for r in self.raws]) if self.raws else []
        self.raws = []
        rpc(self.url, "evm_mine")
        return rpc_batch(self.url, [("eth_getTransactionReceipt", [h]) for h in hashes]) if hashes else []


def _fund(tr: Trader) -> None:
    w3, chain = tr.w3, tr.chain
    rpc(tr.url, "anvil_setBalance", [TRADER.address, hex(10**30)])
    for sym, t in chain.tokens.items():
        if sym == chain.native:
            tr.tx(t.address, _c(w3, "WETH9", t.address).encode_abi("deposit"), value=50_000 * 10**18)
        else:
            rpc(tr.url, "anvil_dealERC20", [TRADER.address, t.address, hex(10**9 * 10**t.decimals)])
        for v in chain.venues.values():
            for spender in (v.router, v.position_manager):
                if spender:
                    tr.tx(t.address, _c(w3, "TestERC20", t.address).encode_abi("approve", [spender, MAX_UINT]))


def _crossed(before, after) -> int:
    lo, hi = sorted((before.tick, after.tick))
    return sum(1 for t in after.ticks if lo < t <= hi)


def test_log_update_equals_fresh_read_after_random_swaps_mints_burns(sandbox):
    anvil, w3, chain = sandbox.chains["ethereum"]
    snap_id = anvil.snapshot()
    rng = random.Random(11)
    try:
        tr = Trader(anvil, w3, chain)
        _fund(tr)
        assert all(r["status"] == "0x1" for r in tr.mine())
        rpc(anvil.url, "evm_setAutomine", [False])
        full, windowed = DexCollector(w3, chain), DexCollector(w3, chain, tick_radius=0)
        full.read_all()
        windowed.read_all()
        npm_addr = chain.venues["uniswap-v3"].position_manager
        npm = _c(w3, "NonfungiblePositionManager", npm_addr)
        v2_router = {v: _c(w3, "UniswapV2Router02", chain.venues[v].router) for v in ("uniswap-v2", "sushiswap")}
        v3_router = _c(w3, "SwapRouter", chain.venues["uniswap-v3"].router)
        v2 = chain.pools_of(kind="v2")
        v3 = chain.pools_of(kind="v3")
        addr = {s: t.address for s, t in chain.tokens.items()}
        dec = {s: t.decimals for s, t in chain.tokens.items()}
        usd = {"WETH": 1320, "WBTC": 17200, "USDC": 1, "DAI": 1}
        crossings = mints = burns = pokes = v2_mints = v2_burns = 0

        def units(sym: str, dollars: float) -> int:
            return int(dollars / usd[sym] * 10 ** dec[sym])

        blocks = 10
        for _block in range(blocks):
            before = dict(full.snapshot.pools)
            for _ in range(rng.randint(4, 9)):
                op = rng.random()
                if op < 0.3:  # V2 swap through the real router
                    p: PoolInfo = rng.choice(v2)
                    a, b = (p.token0, p.token1) if rng.random() < 0.5 else (p.token1, p.token0)
                    data = v2_router[p.venue].encode_abi("swapExactTokensForTokens", [
                        units(a, rng.uniform(1e3, 3e5)), 0, [addr[a], addr[b]], TRADER.address, DEADLINE])
                    tr.tx(v2_router[p.venue].address, data)
                elif op < 0.4:  # V2 mint (transfer both, mint) or burn (LP to the pair, burn)
                    p = rng.choice(v2)
                    pair = _c(w3, "UniswapV2Pair", p.address)
                    lp = pair.functions.balanceOf(TRADER.address).call()
                    if not lp or rng.random() < 0.4:
                        for s in (p.token0, p.token1):
                            tr.tx(addr[s], _c(w3, "TestERC20", addr[s]).encode_abi(
                                "transfer", [p.address, units(s, rng.uniform(1e4, 1e5))]))
                        tr.tx(p.address, pair.encode_abi("mint", [TRADER.address]))
                        v2_mints += 1
                    else:
                        tr.tx(p.address, pair.encode_abi("transfer", [p.address, lp // 2]))
                        tr.tx(p.address, pair.encode_abi("burn", [TRADER.address]))
                        v2_burns += 1
                elif op < 0.75:  # V3 swap, often large enough to cross ticks
                    p = rng.choice(v3)
                    a, b = (p.token0, p.token1) if rng.random() < 0.5 else (p.token1, p.token0)
                    params = (addr[a], addr[b], p.fee, TRADER.address, DEADLINE, units(a, rng.uniform(1e4, 1.5e6)),
                              0, 0)
                    tr.tx(v3_router.address, v3_router.encode_abi("exactInputSingle", [params]))
                elif op < 0.9:  # V3 mint of a narrow range around the current price, through the NFT manager
                    p = rng.choice(v3)
                    pool = full.snapshot.pools[p.address]
                    s = pool.tick_spacing
                    lo = (pool.tick // s - rng.randint(0, 12)) * s
                    hi = lo + rng.randint(1, 15) * s
                    params = (addr[p.token0], addr[p.token1], p.fee, lo, hi, units(p.token0, 2e5),
                              units(p.token1, 2e5), 0, 0, TRADER.address, DEADLINE)
                    tr.tx(npm_addr, npm.encode_abi("mint", [params]))
                    mints += 1
                else:  # V3 burn (decreaseLiquidity) of one of our positions, or a collect (a Burn of 0: a poke)
                    n = npm.functions.balanceOf(TRADER.address).call()
                    if n:
                        token_id = npm.functions.tokenOfOwnerByIndex(TRADER.address, rng.randrange(n)).call()
                        liq = npm.functions.positions(token_id).call()[7]
                        if liq and rng.random() < 0.7:
                            amount = liq if rng.random() < 0.4 else rng.randint(1, liq)
                            tr.tx(npm_addr, npm.encode_abi("decreaseLiquidity", [(token_id, amount, 0, 0, DEADLINE)]))
                            burns += 1
                        elif liq:
                            tr.tx(npm_addr, npm.encode_abi("collect", [(token_id, TRADER.address, 2**128 - 1,
                                                                       2**128 - 1)]))
                            pokes += 1
            tr.mine()
            number = w3.eth.block_number
            requests = full.requests
            got = full.update(full.snapshot.block_number + 1, number)
            assert full.requests == requests + 1  # eth_getLogs + header: one request
            windowed.update(windowed.snapshot.block_number + 1, number)
            fresh = DexCollector(w3, chain).read_all(number)
            assert got.block_number == fresh.block_number == number
            assert snapshot_state(got) == snapshot_state(fresh)
            fresh_windowed = DexCollector(w3, chain, tick_radius=0).read_all(number)
            assert snapshot_state(windowed.snapshot) == snapshot_state(fresh_windowed)
            crossings += sum(_crossed(before[p.address], got.pools[p.address]) for p in v3)
        print(f"\nV3 tick crossings {crossings}, V3 mints {mints}, burns {burns}, pokes {pokes}; "
              f"V2 mints {v2_mints}, burns {v2_burns}; windowed collector re-reads {windowed.requests - 1 - blocks}")
        assert crossings >= 3 and mints >= 3 and burns >= 1 and pokes >= 1 and v2_mints >= 1 and v2_burns >= 1

        # the log-updated V3 state simulates a tick-crossing swap exactly as the real pool (QuoterV2) does
        quoter = _c(w3, "QuoterV2", chain.venues["uniswap-v3"].quoter)
        checked = 0
        for p in v3:
            pool = full.snapshot.pools[p.address]
            for token_in, dollars in ((p.token0, 2e6), (p.token1, 2e6)):
                amount = units(token_in, dollars)
                sim = pool.exact_input(addr[token_in], amount)
                quoted = quoter.functions.quoteExactInputSingle(
                    (addr[token_in], pool.other(addr[token_in]), amount, p.fee, 0)).call()
                assert sim.amount_out == quoted[0]
                assert sim.pool_after.sqrt_price_x96 == quoted[1] and quoted[2] == _crossed(pool, sim.pool_after)
                checked += quoted[2] > 0
        assert checked >= 1
    finally:
        rpc(anvil.url, "evm_setAutomine", [True])
        anvil.revert(snap_id)


def test_update_continues_from_the_snapshot_and_names_unreadable_pools(sandbox):
    anvil, w3, chain = sandbox.chains["polygon"]
    dex = DexCollector(anvil.url, chain)
    first = dex.update(to_block="latest")  # no snapshot yet: a full read
    assert dex.requests == 1 and dex.snapshot is first
    assert dex.update(to_block="latest") is first  # no new block: the same snapshot
    anvil.mine(2)
    with pytest.raises(ValueError, match=f"must start at block {first.block_number + 1}"):
        dex.update(first.block_number + 2, "latest")
    later = dex.update(first.block_number + 1, "latest")
    assert later.block_number == first.block_number + 2
    assert [pool_state(p) for p in later.pools.values()] == [pool_state(p) for p in first.pools.values()]

    bogus = PoolInfo(venue="quickswap", kind="v2", address=chain.tokens["USDC"].address, token0="WMATIC",
                     token1="WETH", fee=3000)
    bad = chain.model_copy(update={"pools": (*chain.pools_of(kind="v2")[:1], bogus)})
    with pytest.raises(FatalError, match=rf"quickswap WMATIC/WETH fee 3000 at {bogus.address} could not be read"):
        DexCollector(w3, bad).read_all()
