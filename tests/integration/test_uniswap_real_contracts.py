"""Our exact AMM math against the REAL Uniswap contracts (npm bytecode) on anvil, to the wei.

V2: for random reserves and inputs, the real UniswapV2Pair pays exactly ``arb.amm.v2.get_amount_out`` (the integer
formula ``in*997*Rout // (Rin*1000 + in*997)``) and refuses one wei more with "UniswapV2: K".
V3: for random extra positions, directions and inputs, the real QuoterV2 (eth_call) and a real SwapRouter swap equal
``arb.amm.v3.V3Pool`` built from the pool's on-chain state: output, price after, tick and liquidity.

One session chain (the ethereum sandbox market); every example runs between evm_snapshot and evm_revert.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from arb.chain import artifacts
from arb.chain.deploy import DEADLINE, MAX_UINT, Pipeline, sorted_pair
from arb.chain.sandbox import Sandbox

try:
    from arb.amm.v2 import get_amount_out
except ImportError:  # pragma: no cover - the module is written by another engineer
    def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
        return amount_in * 997 * reserve_out // (reserve_in * 1000 + amount_in * 997)

MAX_UINT112 = 2**112 - 1
HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Lab(SimpleNamespace):
    def __repr__(self) -> str:  # keeps hypothesis' "Failing test case" short
        return f"<{', '.join(self.__dict__)}>"


def _c(w3, name, address):
    return w3.eth.contract(address=address, abi=artifacts.load(name).abi)


@pytest.fixture(scope="module")
def eth():
    with Sandbox(None, chains=("ethereum",)) as sb:
        anvil, w3, chain = sb.chains["ethereum"]
        yield Lab(anvil=anvil, w3=w3, chain=chain, sender=sb.sender("ethereum"),
                              me=chain.deployer)


@contextmanager
def isolated(eth):
    """Run a block between evm_snapshot and evm_revert (the nonce rolls back too: forget the local one)."""
    snap = eth.anvil.snapshot()
    try:
        yield
    finally:
        assert eth.anvil.revert(snap)
        eth.sender.nonce = None


# ------------------------------------------------------------------------------------------------ V2


@pytest.fixture(scope="module")
def v2_lab(eth):
    """A fresh real UniswapV2Factory with one empty pair of two fresh tokens (18 and 6 decimals)."""
    px = Pipeline(eth.sender)
    a = px.deploy("TKA", "TestERC20", "Token A", "TKA", 18)
    b = px.deploy("TKB", "TestERC20", "Token B", "TKB", 6)
    factory = px.deploy("factory", "UniswapV2Factory", eth.me)
    for t in (a, b):
        px.call("mint", t, "mint", eth.me, 2**120, gas=150_000)
    px.call("createPair", factory, "createPair", a.address, b.address, gas=4_000_000)
    px.flush()
    t0, t1 = sorted_pair(a.address, b.address)
    pair = _c(eth.w3, "UniswapV2Pair", factory.functions.getPair(t0, t1).call())
    assert pair.functions.token0().call() == t0
    return Lab(pair=pair, token0=_c(eth.w3, "TestERC20", t0), token1=_c(eth.w3, "TestERC20", t1))


def _magnitude(lo: int, hi: int, minimum: int = 1):
    """Integers spread over orders of magnitude (10^lo .. 10^hi, at least ``minimum``), boundaries included."""
    return st.integers(lo, hi).flatmap(lambda e: st.integers(max(minimum, 10 ** (e - 1)), max(minimum, 10**e)))


@st.composite
def v2_cases(draw):
    r0 = draw(_magnitude(3, 30, 1001))  # both > 1000: sqrt(r0*r1) > MINIMUM_LIQUIDITY
    r1 = draw(_magnitude(3, 30, 1001))
    zero_for_one = draw(st.booleans())
    r_in = r0 if zero_for_one else r1
    amount_in = min(draw(_magnitude(0, 30)), MAX_UINT112 - r_in)
    return r0, r1, zero_for_one, amount_in


@HYP
@given(case=v2_cases())
def test_real_v2_pair_pays_exactly_get_amount_out(eth, v2_lab, case):
    r0, r1, zero_for_one, amount_in = case
    pair, me = v2_lab.pair, eth.me
    tin, tout = (v2_lab.token0, v2_lab.token1) if zero_for_one else (v2_lab.token1, v2_lab.token0)
    r_in, r_out = (r0, r1) if zero_for_one else (r1, r0)
    with isolated(eth):
        px = Pipeline(eth.sender)
        px.call("fund0", v2_lab.token0, "transfer", pair.address, r0, gas=120_000)
        px.call("fund1", v2_lab.token1, "transfer", pair.address, r1, gas=120_000)
        px.call("mint", pair, "mint", me, gas=300_000)
        px.call("pay in", tin, "transfer", pair.address, amount_in, gas=120_000)
        px.flush()
        assert pair.functions.getReserves().call()[:2] == [r0, r1]

        out = get_amount_out(amount_in, r_in, r_out)
        assert out == amount_in * 997 * r_out // (r_in * 1000 + amount_in * 997)  # the protocol's own formula

        def outs(n: int) -> tuple[int, int]:
            return (0, n) if zero_for_one else (n, 0)

        with pytest.raises(ContractLogicError) as e:  # one wei more breaks the invariant
            pair.functions.swap(*outs(out + 1), me, b"").call({"from": me})
        assert "UniswapV2: K" in str(e.value) or (out + 1 == r_out and "INSUFFICIENT_LIQUIDITY" in str(e.value))
        event("no output (input too small)" if out == 0 else "swap executed")
        if out == 0:
            with pytest.raises(ContractLogicError, match="INSUFFICIENT_OUTPUT_AMOUNT"):
                pair.functions.swap(0, 0, me, b"").call({"from": me})
            return

        before = tout.functions.balanceOf(me).call()
        px = Pipeline(eth.sender)
        px.call("swap", pair, "swap", *outs(out), me, b"", gas=300_000)
        px.flush()
        assert tout.functions.balanceOf(me).call() - before == out
        after = pair.functions.getReserves().call()[:2]
        assert after == ([r_in + amount_in, r_out - out] if zero_for_one else [r_out - out, r_in + amount_in])


# ------------------------------------------------------------------------------------------------ V3


@pytest.fixture(scope="module")
def v3_lab(eth):
    v3 = pytest.importorskip("arb.amm.v3", reason="arb/amm/v3 (the V3 math) is not there yet")
    venue = eth.chain.venues["uniswap-v3"]
    px = Pipeline(eth.sender)
    for t in eth.chain.tokens.values():
        px.call("approve router", _c(eth.w3, "TestERC20", t.address), "approve", venue.router, MAX_UINT,
                gas=100_000)
    px.flush()
    return Lab(v3=v3, venue=venue, pools=eth.chain.pools_of(kind="v3"),
                           npm=_c(eth.w3, "NonfungiblePositionManager", venue.position_manager),
                           quoter=_c(eth.w3, "QuoterV2", venue.quoter),
                           router=_c(eth.w3, "SwapRouter", venue.router))


def _model(eth, lab, p, a0: str, a1: str):
    """arb.amm.v3.V3Pool from the real pool's state: slot0, liquidity, and liquidityNet of every position's ticks."""
    pool = _c(eth.w3, "UniswapV3Pool", p.address)
    slot0 = pool.functions.slot0().call()
    ticks: set[int] = set()
    for token_id in range(1, lab.npm.functions.totalSupply().call() + 1):
        pos = lab.npm.functions.positions(token_id).call()
        if (pos[2], pos[3], pos[4]) == (a0, a1, p.fee) and pos[7] > 0:
            ticks |= {pos[5], pos[6]}
    nets = {t: pool.functions.ticks(t).call()[1] for t in sorted(ticks)}
    return pool, lab.v3.V3Pool.from_state(p.address, a0, a1, p.fee, pool.functions.tickSpacing().call(),
                                          slot0[0], slot0[1], pool.functions.liquidity().call(), nets)


@st.composite
def v3_cases(draw):
    pool_i = draw(st.integers(0, 3))
    zero_for_one = draw(st.booleans())
    # extra positions: (lower offset, width) in tick spacings around the current tick, per-mille of the pool's
    # balances (small, so that swaps move the price across their ticks)
    extra = draw(st.lists(st.tuples(st.integers(-12, 12), st.integers(1, 24), st.integers(1, 40)), max_size=3))
    tiny = draw(st.integers(0, 4)) == 0
    amount = draw(st.integers(1, 10**6)) if tiny else None
    share_ppm = draw(_magnitude(1, 6).map(lambda x: min(x, 300_000)))  # of the pool's balance of the input token
    return pool_i, zero_for_one, extra, amount, share_ppm


@settings(HYP, max_examples=30)
@given(case=v3_cases())
def test_real_v3_quoter_and_swap_equal_our_v3_math(eth, v3_lab, case):
    pool_i, zero_for_one, extra, amount, share_ppm = case
    p = v3_lab.pools[pool_i % len(v3_lab.pools)]
    a0, a1 = eth.chain.tokens[p.token0].address, eth.chain.tokens[p.token1].address
    tin, tout = (a0, a1) if zero_for_one else (a1, a0)
    erc = {a: _c(eth.w3, "TestERC20", a) for a in (a0, a1)}
    with isolated(eth):
        pool = _c(eth.w3, "UniswapV3Pool", p.address)
        spacing = pool.functions.tickSpacing().call()
        tick = pool.functions.slot0().call()[1]
        bal = {a: erc[a].functions.balanceOf(p.address).call() for a in (a0, a1)}
        px = Pipeline(eth.sender)
        for lo_off, width, share in extra:
            lower = (tick // spacing + lo_off) * spacing
            params = (a0, a1, p.fee, lower, lower + width * spacing, bal[a0] * share // 1000,
                      bal[a1] * share // 1000, 0, 0, eth.me, DEADLINE)
            px.call("extra position", v3_lab.npm, "mint", params, gas=1_200_000)
        px.flush()

        pool, model = _model(eth, v3_lab, p, a0, a1)
        amount_in = amount if amount is not None else max(1, erc[tin].functions.balanceOf(p.address).call()
                                                          * share_ppm // 1_000_000)
        want = model.exact_input(tin, amount_in)
        quoted, sqrt_after, crossed, _ = v3_lab.quoter.functions.quoteExactInputSingle(
            (tin, tout, amount_in, p.fee, 0)).call()
        assert want.amount_in == amount_in
        event(f"initialized ticks crossed: {min(crossed, 2)}{'+' if crossed > 2 else ''}")
        target(float(crossed), label="initialized ticks crossed")
        assert (quoted, sqrt_after) == (want.amount_out, want.pool_after.sqrt_price_x96)

        before = erc[tout].functions.balanceOf(eth.me).call()
        px = Pipeline(eth.sender)
        px.call("swap", v3_lab.router, "exactInputSingle",
                (tin, tout, p.fee, eth.me, DEADLINE, amount_in, quoted, 0), gas=2_000_000)
        px.flush()
        assert erc[tout].functions.balanceOf(eth.me).call() - before == want.amount_out
        slot0 = pool.functions.slot0().call()
        assert (slot0[0], slot0[1]) == (want.pool_after.sqrt_price_x96, want.pool_after.tick)
        assert pool.functions.liquidity().call() == want.pool_after.liquidity
