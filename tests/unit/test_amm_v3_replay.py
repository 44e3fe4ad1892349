"""Replay the recorded Uniswap V3 ENS/WETH 0.3 % pool from initialisation: every mint, burn and swap, to the wei.

Then hypothesis properties of the swap loop on random pools (sign conventions, price limits, tick and liquidity
consistency, exact input vs exact output).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.amm.v3 import MAX_SQRT_RATIO, MIN_SQRT_RATIO, AmmRevert, V3Pool, get_sqrt_ratio_at_tick

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "univ3-ens-weth-pool"
NPM = "0xC36442b4a4522E871399CD717aBDD847Ab11FE88"  # NonfungiblePositionManager: the owner of every position here


def _read(name: str) -> list[dict]:
    path = DATA / name
    if not path.is_file():
        pytest.fail(f"recorded V3 pool data missing at {path}: the repo expects ../shared/data beside it")
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def replay() -> dict:
    """Run every event in (block, transaction index, log index) order; collect ours next to the recorded values."""
    cfg = _read("pool_config.csv")[0]
    pool = V3Pool.initialize(
        "0x92560C178cE069CC014138eD3C2F5221Ba71f58a", cfg["token0"], cfg["token1"],
        int(cfg["fee"]), int(cfg["tick_spacing"]), int(cfg["initial_sqrt_price_X96"]),
    )
    events = [("L", r) for r in _read("liquidity_events.csv")] + [("S", r) for r in _read("swap_events.csv")]
    # the csv lists burns after later mints: log order is what the chain executed
    events.sort(key=lambda e: (int(e[1]["block_number"]), int(e[1]["transaction_index"]), int(e[1]["log_index"])))
    liquidity, swaps = [], []
    for kind, r in events:
        if kind == "L":
            op = pool.mint if r["type"] == "1" else pool.burn
            a0, a1, pool = op(int(r["tick_lower"]), int(r["tick_upper"]), int(r["liquidity"]), owner=r["msg_sender"])
            liquidity.append((r, (a0, a1), (int(r["amount0"]), int(r["amount1"]))))
            continue
        amount0, amount1, specified = int(r["amount0"]), int(r["amount1"]), int(r["amount_specified"])
        # Swap event amounts are the pool's view: positive = paid in. Token0 paid in means zeroForOne. The
        # amount_specified column (inferred by the recorder) is positive for exact input, negative for exact output.
        zero_for_one = amount0 > 0
        before = pool
        got0, got1, pool = pool.swap(zero_for_one, specified)
        recorded = (amount0, amount1, int(r["sqrt_price_x96"]), int(r["liquidity"]), int(r["tick"]))
        ours = (got0, got1, pool.sqrt_price_x96, pool.liquidity, pool.tick)
        swaps.append((r, before, ours, recorded))
    return {"pool": pool, "liquidity": liquidity, "swaps": swaps}


def test_all_63_swaps_reproduced_exactly(replay):
    swaps = replay["swaps"]
    assert len(swaps) == 63
    mismatches = [(r["id"], ours, recorded) for r, _, ours, recorded in swaps if ours != recorded]
    assert mismatches == []


def test_every_mint_and_burn_amount_reproduced(replay):
    rows = replay["liquidity"]
    assert len(rows) == 5
    for r, ours, recorded in rows:
        assert ours == recorded, r["id"]
    # in log order: mint, a partial burn of that position, a 0-liquidity poke (fee collection), two more mints
    assert [r["type"] for r, _, _ in rows] == ["1", "2", "2", "1", "1"]


def test_the_replay_covers_the_hard_cases(replay):
    swaps = replay["swaps"]
    kinds = {"in0": 0, "in1": 0, "out0": 0, "out1": 0}
    for r, _, _, (a0, *_rest) in swaps:
        exact_in, zero_for_one = int(r["amount_specified"]) > 0, a0 > 0
        kinds[("in" if exact_in else "out") + ("0" if zero_for_one == exact_in else "1")] += 1
    assert kinds == {"in0": 28, "in1": 28, "out0": 0, "out1": 7}  # exact output swaps are replayed too
    # swap 10 sold WETH until the pool's liquidity ran out: it stopped at MIN_SQRT_RATIO + 1 (the router's "no
    # limit") with 1 wei of the specified input unused, tick -887272 and no liquidity in range
    r, before, ours, _ = swaps[9]
    assert r["id"] == "10"
    assert ours[2] == MIN_SQRT_RATIO + 1 and ours[3] == 0 and ours[4] == -887272
    assert int(r["amount_specified"]) - ours[0] == 1
    # the in-range liquidity changed through crossings: (27.8, 66.4, 1536.9) e18 all appear
    assert {s[2][3] for s in swaps} >= {27848677274506847359, 66387141178760536346, 1536854602599667230140}


def test_from_state_snapshot_reproduces_the_same_swaps(replay):
    """A pool rebuilt from slot0 + liquidity + {tick: liquidityNet} (what a node gives) swaps identically."""
    for r, before, _ours, recorded in replay["swaps"][40:]:
        snap = V3Pool.from_state(
            before.address, before.token0, before.token1, before.fee, before.tick_spacing,
            before.sqrt_price_x96, before.tick, before.liquidity,
            {t: info.liquidity_net for t, info in before.ticks.items()},
        )
        a0, a1, after = snap.swap(recorded[0] > 0, int(r["amount_specified"]))
        assert (a0, a1, after.sqrt_price_x96, after.liquidity, after.tick) == recorded


def test_exact_input_and_output_helpers_agree_with_the_recorded_swaps(replay):
    for r, before, ours, _ in replay["swaps"]:
        specified = int(r["amount_specified"])
        token_in = before.token0 if ours[0] > 0 else before.token1
        paid, received = (ours[0], -ours[1]) if ours[0] > 0 else (ours[1], -ours[0])
        if specified > 0:
            res = before.exact_input(token_in, specified)
        else:
            res = before.exact_output(token_in, -specified)
        assert (res.amount_in, res.amount_out) == (paid, received)
        assert res.pool_after.sqrt_price_x96 == ours[2]


def test_final_state(replay):
    pool = replay["pool"]
    assert sorted(pool.ticks) == [45540, 49800, 58080, 64020, 64800, 68100]
    assert pool.positions[(NPM, 49800, 64020)] == 556973545490136947176 - 529124868215630099817
    with pytest.raises(AmmRevert, match="LS"):  # cannot burn more than the position holds
        pool.burn(49800, 64020, 556973545490136947176, owner=NPM)
    with pytest.raises(AmmRevert, match="NP"):  # a poke needs a position
        pool.burn(49800, 64020, 0, owner="someone else")
    with pytest.raises(AmmRevert, match="TLU"):
        pool.mint(60, 60, 1)
    with pytest.raises(AmmRevert):  # not a multiple of the tick spacing
        pool.mint(61, 120, 1)
    # burning everything removes the ticks again (Tick.clear) and restores the bitmap
    p = pool
    for (owner, lo, hi), liq in pool.positions.items():
        _, _, p = p.burn(lo, hi, liq, owner=owner)
    assert p.ticks == {} and p.bitmap == {} and p.liquidity == 0


def test_swap_requires(replay):
    pool = replay["pool"]
    with pytest.raises(AmmRevert, match="AS"):
        pool.swap(True, 0)
    with pytest.raises(AmmRevert, match="SPL"):
        pool.swap(True, 10**18, pool.sqrt_price_x96)  # limit must be below the price for zeroForOne
    with pytest.raises(AmmRevert, match="SPL"):
        pool.swap(False, 10**18, MAX_SQRT_RATIO)
    with pytest.raises(AmmRevert, match="SPL"):
        pool.swap(True, 10**18, MIN_SQRT_RATIO)


# ---------------------------------------------------------------- properties on random pools
@st.composite
def pools(draw):
    spacing = draw(st.sampled_from([1, 10, 60]))
    tick0 = draw(st.integers(-5000, 5000))
    pool = V3Pool.initialize("p", "t0", "t1", draw(st.sampled_from([500, 3000, 10000])), spacing,
                             get_sqrt_ratio_at_tick(tick0) + draw(st.integers(0, 10**6)))
    for _ in range(draw(st.integers(1, 5))):
        lo = draw(st.integers(-60, 59)) * spacing * 10
        width = draw(st.integers(1, 60)) * spacing
        liquidity = draw(st.integers(10**6, 10**24))
        _, _, pool = pool.mint(lo, lo + width * 10, liquidity, owner="lp")
    return pool


def _in_range_liquidity(pool: V3Pool) -> int:
    return sum(liq for (_, lo, hi), liq in pool.positions.items() if lo <= pool.tick < hi)


@settings(max_examples=150, deadline=None)
@given(pool=pools(), zero_for_one=st.booleans(), amount=st.integers(1, 10**24), exact_in=st.booleans(),
       limit_frac=st.one_of(st.none(), st.integers(1, 999)))
def test_swap_signs_limits_and_state(pool, zero_for_one, amount, exact_in, limit_frac):
    price = pool.sqrt_price_x96
    if limit_frac is None:
        limit = None
        bound = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
    else:  # a limit somewhere between the price and the end of the range
        far = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
        limit = price + (far - price) * limit_frac // 100_000
        if limit == price:
            return
        bound = limit
    specified = amount if exact_in else -amount
    a0, a1, after = pool.swap(zero_for_one, specified, limit)
    paid, got = (a0, a1) if zero_for_one else (a1, a0)
    # sign conventions: the input side is paid in (>= 0), the output side paid out (<= 0)
    assert paid >= 0 and got <= 0
    if exact_in:
        assert paid <= amount
    else:
        assert -got <= amount
    # the price moved the right way and never past the limit
    if zero_for_one:
        assert bound <= after.sqrt_price_x96 <= price
    else:
        assert price <= after.sqrt_price_x96 <= bound
    # stopped early only at the limit
    if (paid if exact_in else -got) != amount:
        assert after.sqrt_price_x96 == bound
    # tick consistent with the price (on a boundary crossed downward the pool keeps tick = boundary - 1)
    t = after.tick
    r_t, r_next = get_sqrt_ratio_at_tick(t), get_sqrt_ratio_at_tick(t + 1)
    assert r_t <= after.sqrt_price_x96 <= r_next
    # in-range liquidity equals the sum of the positions around the current tick
    assert after.liquidity == _in_range_liquidity(after)


@settings(max_examples=100, deadline=None)
@given(pool=pools(), zero_for_one=st.booleans(), amount=st.integers(1000, 10**22))
def test_exact_output_of_an_exact_input_costs_no_more(pool, zero_for_one, amount):
    token_in = "t0" if zero_for_one else "t1"
    fwd = pool.exact_input(token_in, amount)
    if fwd.amount_in != amount or fwd.amount_out == 0:  # partial fill at the price bound, or nothing out
        return
    back = pool.exact_output(token_in, fwd.amount_out)
    assert back.amount_out == fwd.amount_out
    assert back.amount_in <= amount
    # and the output is monotone in the input
    assert pool.exact_input(token_in, amount + amount // 3 + 1).amount_out >= fwd.amount_out


@settings(max_examples=60, deadline=None)
@given(pool=pools(), zero_for_one=st.booleans(), exact_in=st.booleans(), word=st.integers(-30, 30),
       on_boundary=st.booleans(), jitter=st.integers(1, 10**9))
def test_empty_region_shortcut_equals_the_literal_walk(pool, zero_for_one, exact_in, word, on_boundary, jitter):
    """Swaps that drain the liquidity and run on to a limit land on the same price and tick with or without the
    shortcut over empty words (limits exactly on a word-start tick included: the contract then sets tick = T - 1)."""
    from arb.amm.v3 import pool as pool_module

    spacing = pool.tick_spacing
    t = word * 256 * spacing + (0 if on_boundary else spacing * 7)
    limit = get_sqrt_ratio_at_tick(t) + (0 if on_boundary else jitter % 1000)
    price = pool.sqrt_price_x96
    if (zero_for_one and not limit < price) or (not zero_for_one and not limit > price):
        limit = MIN_SQRT_RATIO + 1 + jitter if zero_for_one else MAX_SQRT_RATIO - 1 - jitter
    amount = 10**40 if exact_in else -(10**40)
    fast = pool.swap(zero_for_one, amount, limit)
    pool_module._SKIP_EMPTY_WORDS = False
    try:
        slow = pool.swap(zero_for_one, amount, limit)
    finally:
        pool_module._SKIP_EMPTY_WORDS = True
    assert fast[:2] == slow[:2]
    assert (fast[2].sqrt_price_x96, fast[2].tick, fast[2].liquidity) == (
        slow[2].sqrt_price_x96, slow[2].tick, slow[2].liquidity)
    assert fast[2].fee_growth_global0_x128 == slow[2].fee_growth_global0_x128
    assert fast[2].fee_growth_global1_x128 == slow[2].fee_growth_global1_x128


def test_from_state_with_tick_info_mints_like_the_replayed_pool(replay):
    pool = replay["pool"]
    snap = V3Pool.from_state(pool.address, pool.token0, pool.token1, pool.fee, pool.tick_spacing,
                             pool.sqrt_price_x96, pool.tick, pool.liquidity, dict(pool.ticks))
    assert dict(snap.bitmap) == dict(pool.bitmap)
    for lo, hi in [(49800, 64020), (58080, 60000), (-600, 600), (64800, 70020)]:  # shared, in range, below, above
        a = pool.mint(lo, hi, 10**20, owner="x")
        b = snap.mint(lo, hi, 10**20, owner="x")
        assert a[:2] == b[:2]
        assert (a[2].liquidity, dict(a[2].ticks), dict(a[2].bitmap)) == (b[2].liquidity, dict(b[2].ticks),
                                                                          dict(b[2].bitmap))
    with pytest.raises(AmmRevert):
        V3Pool.from_state("p", "a", "b", 3000, 60, pool.sqrt_price_x96, pool.tick, 0, {61: 5})
