"""arb.amm.route and arb.amm.optimal: recorded mainnet cyclic arbitrages, Aave premium rounding, closed form and
search against brute force."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st

from arb.amm import (
    AmmRevert,
    Hop,
    V2Pool,
    V3Pool,
    flash_premium,
    gas_cost_in_token,
    get_amount_in,
    get_amount_out,
    make_route,
    optimal_route_input,
    optimal_two_pool_v2,
    route_output,
    route_states_after,
    route_swaps,
)
from arb.amm.v3 import get_sqrt_ratio_at_tick

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
INT_COLUMNS = (
    "reserve0_before reserve1_before amount0_in amount1_in amount0_out amount1_out reserve0_after reserve1_after"
).split()


def _csv(path: Path) -> list[dict]:
    if not path.is_file():
        pytest.fail(f"recorded data missing at {path}: the repo expects ../shared/data beside it")
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def arbs() -> list[dict]:
    rows = _csv(DATA / "mainnet-cyclic-arbs" / "cyclic_arbitrages.csv")
    assert len(rows) == 16
    return rows


@pytest.fixture(scope="module")
def legs_by_tx() -> dict[str, list[dict]]:
    """The V2 legs of each transaction from v2_swaps.csv, in call-trace order."""
    out: dict[str, list[dict]] = {}
    for r in _csv(DATA / "univ2-swaps" / "v2_swaps.csv"):
        for c in INT_COLUMNS:
            r[c] = int(r[c])
        out.setdefault(r["tx_hash"], []).append(r)
    for legs in out.values():
        legs.sort(key=lambda r: [int(p) for p in r["trace_address"].split("/")])
    return out


def _pool(r: dict) -> V2Pool:
    return V2Pool(r["pair"], r["token0"], r["token1"], r["reserve0_before"], r["reserve1_before"])


def _token_in(r: dict) -> str:
    return r["token0"] if r["direction"] == "0to1" else r["token1"]


# ---------------------------------------------------------------- recorded cyclic arbitrages
def test_gross_profit_is_out_minus_in_on_every_row(arbs):
    for a in arbs:
        assert int(a["gross_profit"]) == int(a["amount_out"]) - int(a["amount_in"]), a["tx_hash"]
        assert a["profit_token"] == WETH
        assert len(a["path"].split(" > ")) == int(a["n_swaps"])
    suspect = [a for a in arbs if a["note"].startswith("SUSPECT")]
    assert len(suspect) == 2 and all(int(a["gross_profit"]) < 0 for a in suspect)


def test_all_v2_arbs_recomputed_from_recorded_reserves(arbs, legs_by_tx):
    """Where every leg is a V2 pair with recorded reserves and the bot took the maximum on every leg, the whole cycle
    is recomputed with route_output from the amount in: the amount out matches to the wei, and so does every pair's
    reserves after."""
    checked = []
    for a in arbs:
        pairs = [leg.split(":") for leg in a["path"].split(" > ")]
        legs = legs_by_tx.get(a["tx_hash"], [])
        if a["note"].startswith("SUSPECT") or any(kind != "v2" for kind, _ in pairs):
            continue
        assert [r["pair"] for r in legs] == [addr for _, addr in pairs]
        if not all(r["exact_match"] == "1" for r in legs):
            continue
        route = tuple(Hop(_pool(r), _token_in(r), _pool(r).other(_token_in(r))) for r in legs)
        assert route[0].token_in == route[-1].token_out == WETH
        assert route_output(route, int(a["amount_in"])) == int(a["amount_out"]), a["tx_hash"]
        after = route_states_after(route, int(a["amount_in"]))
        for r in legs:
            assert (after[r["pair"]].reserve0, after[r["pair"]].reserve1) == (r["reserve0_after"], r["reserve1_after"])
        checked.append(a["tx_hash"][:10])
    assert len(checked) == 8, checked


def test_flash_swap_arb(arbs, legs_by_tx):
    """0xff37cd33: a Uniswap V2 flash swap. The first pair lends token X first and is repaid in WETH; the bot took
    8 wei less than the maximum. The repayment covers getAmountIn and passes the pair's K check; the second leg is
    exact."""
    a = next(a for a in arbs if a["tx_hash"].startswith("0xff37cd33"))
    first, second = legs_by_tx[a["tx_hash"]]
    assert first["flash_swap"] == "1" and int(first["out_minus_max"]) == -8
    repay = first["amount1_in"]
    assert repay == int(a["amount_in"])
    assert get_amount_in(first["amount0_out"], first["reserve1_before"], first["reserve0_before"]) <= repay
    _pool(first).swap(first["amount0_out"], 0, 0, repay)  # K holds
    out = get_amount_out(second["amount0_in"], second["reserve0_before"], second["reserve1_before"])
    assert out == second["amount1_out"] == int(a["amount_out"])


def test_mixed_v2_v3_arbs_chain_through_their_v2_legs(arbs, legs_by_tx):
    """V3 legs cannot be recomputed (the data has no V3 pool state); the V2 legs are exact, and where the cycle starts
    or ends on V2 the recorded amount in / out is that leg's."""
    mixed = [a for a in arbs if "v3:" in a["path"]]
    assert len(mixed) == 5
    for a in mixed:
        kinds = [leg.split(":")[0] for leg in a["path"].split(" > ")]
        legs = legs_by_tx.get(a["tx_hash"], [])
        assert len(legs) == kinds.count("v2")
        for r in legs:
            assert r["exact_match"] == "1"
            amount_in = r["amount0_in"] if r["direction"] == "0to1" else r["amount1_in"]
            assert _pool(r).amount_out(_token_in(r), amount_in) == r["amount0_out"] + r["amount1_out"]
        if kinds[0] == "v2":
            r = legs[0]
            assert (r["amount0_in"] or r["amount1_in"]) == int(a["amount_in"])
        if kinds[-1] == "v2":
            r = legs[-1]
            assert r["amount0_out"] + r["amount1_out"] == int(a["amount_out"])


# ---------------------------------------------------------------- routes
def test_route_chains_hops_and_sees_its_own_state_changes():
    p1 = V2Pool("p1", "A", "B", 10**21, 2 * 10**21)
    p2 = V2Pool("p2", "B", "C", 5 * 10**20, 10**21)
    route = make_route([p1, p2], "A")
    assert [(h.token_in, h.token_out) for h in route] == [("A", "B"), ("B", "C")]
    y = get_amount_out(10**18, 10**21, 2 * 10**21)
    assert route_output(route, 10**18) == get_amount_out(y, 5 * 10**20, 10**21)
    # the same pair twice: the second hop sees the reserves the first hop left
    there_and_back = make_route([p1, p1], "A")
    after_first = p1.after_swap("A", 10**18)
    assert route_output(there_and_back, 10**18) == after_first.amount_out("B", y)
    assert route_output(there_and_back, 10**18) < 10**18  # a round trip on one pair only pays fees
    swaps = route_swaps(there_and_back, 10**18)
    assert route_states_after(there_and_back, 10**18)["p1"] == swaps[1].pool_after
    with pytest.raises(AmmRevert):
        route_output(route, 0)
    with pytest.raises(AmmRevert):
        Hop(p1, "A", "C")
    with pytest.raises(AmmRevert):
        route_output((Hop(p1, "A", "B"), Hop(p1, "A", "B")), 10**18)  # hop 1 does not sell what hop 0 bought


def _small_v3(liquidity_scale: int = 1) -> V3Pool:
    pool = V3Pool.initialize("v3", "A", "B", 500, 10, get_sqrt_ratio_at_tick(0))
    for lo, hi, liq in [(-100, 100, 200_000), (-30, 50, 100_000), (0, 20, 300_000), (20, 200, 50_000)]:
        _, _, pool = pool.mint(lo, hi, liq * liquidity_scale, owner="lp")
    return pool


def test_v3_hop_is_exact_input_without_limit_and_partial_fills_revert():
    pool = _small_v3()
    v2 = V2Pool("v2", "A", "B", 104_000, 100_000)
    route = make_route([pool, v2], "A")
    res = pool.exact_input("A", 500)
    assert route_output(route, 500) == v2.amount_out("B", res.amount_out)
    # more A than the pool can absorb before MIN_SQRT_RATIO: the pool would take less; an executor must not
    with pytest.raises(AmmRevert, match="PARTIAL_FILL"):
        route_output(route, 10**9)
    partial = route_swaps(route, 10**9, allow_partial=True)
    assert partial[0].amount_in < 10**9 and partial[0].pool_after.liquidity == 0


# ---------------------------------------------------------------- Aave premium, gas
def test_flash_premium_is_aave_percent_mul():
    # percentMul(value, percentage) = (value * percentage + 5000) / 10000: half up
    assert flash_premium(10_000, 5) == 5
    assert flash_premium(1_000, 5) == 1  # 0.5 rounds up
    assert flash_premium(999, 5) == 0  # 0.4995 rounds down
    assert flash_premium(1, 5) == 0
    assert flash_premium(3, 5000) == 2  # 1.5 -> 2
    assert flash_premium(10**18, 9) == 9 * 10**14
    assert flash_premium(123456789, 0) == 0
    with pytest.raises(AmmRevert):
        flash_premium(2**256 // 5, 5)


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(0, 10**40), p=st.integers(0, 10_000))
def test_flash_premium_rounds_half_up(amount, p):
    prem = flash_premium(amount, p)
    # |premium - amount*p/10000| <= 1/2, ties upward
    assert 2 * abs(prem * 10_000 - amount * p) <= 10_000
    assert (prem * 10_000 - amount * p) != -5_000


def test_gas_cost_in_token_rounds_up():
    assert gas_cost_in_token(150_000, 30 * 10**9) == 4_500_000_000_000_000
    # USDC (6 decimals) at 2000 USDC per ETH: 2000e6 per 1e18 wei
    assert gas_cost_in_token(150_000, 30 * 10**9, 2000 * 10**6, 10**18) == 9_000_000
    assert gas_cost_in_token(1, 1, 1, 3) == 1  # never rounds a cost down to 0


# ---------------------------------------------------------------- optimal sizing
def _brute_force(a1: int, b1: int, b2: int, a2: int, p: int) -> int:
    """Best gross profit over every input 1..a2, with get_amount_out only (an independent path)."""
    best = 0
    for x in range(1, a2 + 1):
        y = get_amount_out(x, a1, b1)
        if y == 0:
            continue
        z = get_amount_out(y, b2, a2)
        if z == 0:
            continue
        best = max(best, z - x - flash_premium(x, p))
    return best


@settings(max_examples=150, deadline=None)
@given(a1=st.integers(20, 200_000), b1=st.integers(20, 200_000), a2=st.integers(50, 3000),
       spread_pct=st.integers(2, 40), p=st.sampled_from([0, 5, 9, 30]), flip=st.booleans())
@example(a1=379, b1=20, a2=386, spread_pct=28, p=900, flip=False)  # a real-number loss, a 1-wei integer gain
@example(a1=1000, b1=1000, a2=1000, spread_pct=0, p=0, flip=True)  # no price gap: nothing to gain
def test_closed_form_and_search_equal_brute_force_on_small_pools(a1, b1, a2, spread_pct, p, flip):
    # pool2 prices A up to 40 % above pool1; depths and the A/B unit ratio vary widely, so either token can be the
    # coarse one (wide output steps, as WETH vs USDC)
    b2 = a2 * b1 * 100 // (a1 * (100 + spread_pct))
    assume(b2 >= 10)
    pool1 = V2Pool("p1", "A", "B", a1, b1) if not flip else V2Pool("p1", "B", "A", b1, a1)
    pool2 = V2Pool("p2", "A", "B", a2, b2)
    best = _brute_force(a1, b1, b2, a2, p)
    event("profitable" if best > 0 else "unprofitable")
    closed = optimal_two_pool_v2(pool1, pool2, "A", premium_bps=p)
    search = optimal_route_input(make_route([pool1, pool2], "A"), premium_bps=p)
    assert closed.profit == best
    assert search.profit == best
    for res in (closed, search):
        if res.amount_in:  # the reported profit is the exact route's
            out = route_output(make_route([pool1, pool2], "A"), res.amount_in)
            assert res.amount_out == out and res.profit == out - res.amount_in - flash_premium(res.amount_in, p)
        else:
            assert res.profit == 0 == best


def test_closed_form_on_deep_pools_and_against_the_search():
    usdc, weth = "USDC", "WETH"
    cheap = V2Pool("a", usdc, weth, 30_000_000 * 10**6, 10_000 * 10**18)  # 3000 USDC/ETH
    dear = V2Pool("b", usdc, weth, 15_150_000 * 10**6, 5_000 * 10**18)  # 3030 USDC/ETH
    closed = optimal_two_pool_v2(dear, cheap, weth, premium_bps=5)
    assert closed.amount_in > 0 and closed.profit > 0
    route = make_route([dear, cheap], weth)
    out = route_output(route, closed.amount_in)
    assert closed.profit == out - closed.amount_in - flash_premium(closed.amount_in, 5)
    # the continuous optimum's neighbours are no better
    for x in (closed.amount_in - 10**12, closed.amount_in + 10**12):
        assert route_output(route, x) - x - flash_premium(x, 5) <= closed.profit
    search = optimal_route_input(route, premium_bps=5)
    # a coarse intermediate (USDC) makes the top flat over ~1e15 wei of input: the search lands within the
    # step jitter (< 1e9 wei here) of the closed form
    assert 0 <= closed.profit - search.profit < 10**9
    # the wrong direction is not profitable
    assert tuple(optimal_two_pool_v2(cheap, dear, weth, premium_bps=5)) == (0, 0)
    assert tuple(optimal_route_input(make_route([cheap, dear], weth), premium_bps=5)) == (0, 0)


def test_gas_cost_gives_net_profit_without_moving_the_optimum():
    p1 = V2Pool("p1", "A", "B", 10**22, 2 * 10**22)
    p2 = V2Pool("p2", "A", "B", 10**22, 21 * 10**21)
    gross = optimal_two_pool_v2(p2, p1, "A", premium_bps=5)
    net = optimal_two_pool_v2(p2, p1, "A", premium_bps=5, gas_cost_wei=3 * 10**15)
    assert net.amount_in == gross.amount_in and net.profit == gross.profit - 3 * 10**15
    assert net.gross_profit == gross.profit
    amount_in, profit = net  # unpacks as (amount_in, profit)
    assert (amount_in, profit) == (net.amount_in, net.profit)
    searched = optimal_route_input(make_route([p2, p1], "A"), premium_bps=5, gas_cost_wei=3 * 10**15)
    assert searched.profit == searched.gross_profit - 3 * 10**15


def test_closed_form_rejects_bad_cycles():
    p1 = V2Pool("p1", "A", "B", 1000, 1000)
    with pytest.raises(ValueError):
        optimal_two_pool_v2(p1, p1, "A")
    with pytest.raises(ValueError):
        optimal_two_pool_v2(p1, V2Pool("p2", "B", "C", 1000, 1000), "A")


@pytest.mark.parametrize(("reserve_a", "p"), [(100_200, 0), (101_500, 0), (103_000, 5), (105_000, 30),
                                              (108_333, 0), (112_000, 5)])
def test_search_equals_brute_force_on_a_v3_v2_cycle_with_tick_crossings(reserve_a, p):
    """A -> B on a small V3 pool (several positions, crossings within the range) then B -> A on a V2 pair."""
    route = make_route([_small_v3(), V2Pool("v2", "A", "B", reserve_a, 100_000)], "A")
    best = 0
    for x in range(1, 1200):  # beyond ~1200 the V3 pool is drained (partial fill) and profit is negative anyway
        try:
            out = route_output(route, x)
        except AmmRevert:
            continue
        best = max(best, out - x - flash_premium(x, p))
    res = optimal_route_input(route, premium_bps=p)
    assert res.profit == best
    if best:
        ticks_crossed = route[0].pool.tick - route[0].pool.exact_input("A", res.amount_in).pool_after.tick
        assert ticks_crossed > 20  # the optimum is past at least one initialized tick (20 and 0)


@settings(max_examples=30, deadline=None)
@given(reserve_a=st.integers(100_200, 112_000), p=st.sampled_from([0, 5, 30]), lo=st.integers(1, 1300),
       width=st.integers(0, 64))
def test_search_equals_brute_force_on_small_ranges(reserve_a, p, lo, width):
    route = make_route([_small_v3(), V2Pool("v2", "A", "B", reserve_a, 100_000)], "A")
    hi = lo + width
    best = 0
    for x in range(lo, hi + 1):
        try:
            best = max(best, route_output(route, x) - x - flash_premium(x, p))
        except AmmRevert:
            continue
    res = optimal_route_input(route, lo=lo, hi=hi, premium_bps=p)
    event("profitable" if best > 0 else "unprofitable")
    assert res.profit == best
    assert res.amount_in == 0 or lo <= res.amount_in <= hi


def test_search_on_a_needle_is_within_a_wei():
    """A known limit of any search that does not look at every input: on [561, 960] this route's profit is 3 for
    130 inputs, 4 for exactly two, then 3 again. The search returns 3 (1 wei short); the brute force finds the 4."""
    route = make_route([_small_v3(), V2Pool("v2", "A", "B", 102_312, 100_000)], "A")
    profits = [route_output(route, x) - x for x in range(561, 961)]
    assert max(profits) == 4 and profits.count(4) == 2
    res = optimal_route_input(route, lo=561, hi=960)
    assert max(profits) - 1 <= res.profit <= max(profits)


def test_our_optimum_is_at_least_what_the_recorded_bots_made(arbs, legs_by_tx):
    """On the recorded all-V2 cycles (pre-trade reserves), the bot's own input is one feasible choice, so our
    optimum (no flash premium: these were self-funded) must make at least the bot's gross profit."""
    compared = 0
    for a in arbs:
        legs = legs_by_tx.get(a["tx_hash"], [])
        if a["note"].startswith("SUSPECT") or "v3:" in a["path"] or not all(r["exact_match"] == "1" for r in legs):
            continue
        route = tuple(Hop(_pool(r), _token_in(r), _pool(r).other(_token_in(r))) for r in legs)
        bot = int(a["gross_profit"])
        searched = optimal_route_input(route)
        assert searched.profit >= bot, a["tx_hash"]
        if len(route) == 2:
            closed = optimal_two_pool_v2(route[0].pool, route[1].pool, WETH)
            assert closed.profit >= bot
            assert abs(closed.profit - searched.profit) <= 10**9  # same optimum up to step jitter
        compared += 1
    assert compared == 8
