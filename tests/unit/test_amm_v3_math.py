"""arb.amm.v3 libraries: reference values from Uniswap v3-core's own test suite, reverts, and hypothesis properties."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.amm.v3 import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    AmmRevert,
    V3Pool,
    add_delta,
    compute_swap_step,
    get_amount0_delta,
    get_amount1_delta,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    mul_div,
    mul_div_rounding_up,
)

E18 = 10**18
Q96 = 2**96
MAX_UINT256 = 2**256 - 1


def encode_price_sqrt(reserve1: int, reserve0: int) -> int:
    """v3-core test/shared/utilities.ts: bignumber.js (40 decimals, ROUND_HALF_UP) sqrt(r1/r0) * 2**96, floored."""
    with localcontext() as ctx:
        ctx.prec = 200
        q = (Decimal(reserve1) / Decimal(reserve0)).quantize(Decimal("1e-40"), rounding=ROUND_HALF_UP)
        s = q.sqrt().quantize(Decimal("1e-40"), rounding=ROUND_HALF_UP)
        return int((s * Q96).to_integral_value(rounding=ROUND_FLOOR))


# ---------------------------------------------------------------- reference values (v3-core test/*.spec.ts)
@pytest.mark.parametrize(
    ("price", "target", "liquidity", "remaining", "fee", "expected"),
    [
        # exact amount in that gets capped at price target in one for zero
        (encode_price_sqrt(1, 1), encode_price_sqrt(101, 100), 2 * E18, E18, 600,
         (encode_price_sqrt(101, 100), 9975124224178055, 9925619580021728, 5988667735148)),
        # exact amount out that gets capped at price target in one for zero
        (encode_price_sqrt(1, 1), encode_price_sqrt(101, 100), 2 * E18, -E18, 600,
         (encode_price_sqrt(101, 100), 9975124224178055, 9925619580021728, 5988667735148)),
        # exact amount in that is fully spent in one for zero
        (encode_price_sqrt(1, 1), encode_price_sqrt(1000, 100), 2 * E18, E18, 600,
         (get_next_sqrt_price_from_input(encode_price_sqrt(1, 1), 2 * E18, E18 - 600000000000000, False),
          999400000000000000, 666399946655997866, 600000000000000)),
        # exact amount out that is fully received in one for zero
        (encode_price_sqrt(1, 1), encode_price_sqrt(10000, 100), 2 * E18, -E18, 600,
         (get_next_sqrt_price_from_output(encode_price_sqrt(1, 1), 2 * E18, E18, False),
          2 * E18, E18, 1200720432259356)),
        # amount out is capped at the desired amount out
        (417332158212080721273783715441582, 1452870262520218020823638996, 159344665391607089467575320103, -1, 1,
         (417332158212080721273783715441581, 1, 1, 1)),
        # target price of 1 uses partial input amount
        (2, 1, 1, 3915081100057732413702495386755767, 1,
         (1, 39614081257132168796771975168, 0, 39614120871253040049813)),
        # entire input amount taken as fee
        (2413, 79887613182836312, 1985041575832132834610021537970, 10, 1872, (2413, 0, 0, 10)),
        # handles intermediate insufficient liquidity in zero for one / one for zero exact output case
        (20282409603651670423947251286016, 20282409603651670423947251286016 * 11 // 10, 1024, -4, 3000,
         (20282409603651670423947251286016 * 11 // 10, 26215, 0, 79)),
        (20282409603651670423947251286016, 20282409603651670423947251286016 * 9 // 10, 1024, -263000, 3000,
         (20282409603651670423947251286016 * 9 // 10, 1, 26214, 1)),
    ],
)
def test_compute_swap_step_matches_v3_core_tests(price, target, liquidity, remaining, fee, expected):
    assert compute_swap_step(price, target, liquidity, remaining, fee) == expected


def test_sqrt_price_math_matches_v3_core_tests():
    one = encode_price_sqrt(1, 1)
    assert one == Q96
    assert get_next_sqrt_price_from_input(one, E18, E18 // 10, False) == 87150978765690771352898345369
    assert get_next_sqrt_price_from_input(one, E18, E18 // 10, True) == 72025602285694852357767227579
    assert get_next_sqrt_price_from_input(one, 10 * E18, 2**100, True) == 624999999995069620
    assert get_next_sqrt_price_from_input(one, 1, MAX_UINT256 // 2, True) == 1
    assert get_next_sqrt_price_from_input(1, 1, 2**255, True) == 1  # any input cannot underflow the price
    assert get_next_sqrt_price_from_input(one, E18 // 10, 0, True) == one
    assert get_next_sqrt_price_from_output(one, E18, E18 // 10, False) == 88031291682515930659493278152
    assert get_next_sqrt_price_from_output(one, E18, E18 // 10, True) == 71305346262837903834189555302
    assert get_amount0_delta(encode_price_sqrt(121, 100), one, E18, True) == 90909090909090910
    assert get_amount0_delta(encode_price_sqrt(121, 100), one, E18, False) == 90909090909090909
    assert get_amount1_delta(one, encode_price_sqrt(121, 100), E18, True) == 100000000000000000
    assert get_amount1_delta(one, encode_price_sqrt(121, 100), E18, False) == 99999999999999999
    assert get_amount0_delta(encode_price_sqrt(2, 1), one, 0, True) == 0
    up = get_amount0_delta(encode_price_sqrt(2**96, 1), encode_price_sqrt(2**90, 1), E18, True)
    assert up == get_amount0_delta(encode_price_sqrt(2**96, 1), encode_price_sqrt(2**90, 1), E18, False) + 1
    # sqrtP * sqrtQ overflows
    p, liq = 1025574284609383690408304870162715216695788925244, 50015962439936049619261659728067971248
    q = get_next_sqrt_price_from_input(p, liq, 406, True)
    assert q == 1025574284609383582644711336373707553698163132913
    assert get_amount0_delta(p, q, liq, True) == 406


def test_sqrt_price_math_reverts_like_the_deployed_contract():
    sp = 20282409603651670423947251286016
    with pytest.raises(AmmRevert):
        get_next_sqrt_price_from_input(0, 0, E18 // 10, False)
    with pytest.raises(AmmRevert):
        get_next_sqrt_price_from_input(1, 0, E18 // 10, True)
    with pytest.raises(AmmRevert):  # input amount overflows the price
        get_next_sqrt_price_from_input(2**160 - 1, 1024, 1024, False)
    with pytest.raises(AmmRevert):  # output exactly the virtual reserves of token0
        get_next_sqrt_price_from_output(sp, 1024, 4, False)
    with pytest.raises(AmmRevert):
        get_next_sqrt_price_from_output(sp, 1024, 5, False)
    with pytest.raises(AmmRevert):  # v1.0.0 requires sqrtPX96 > quotient: all of token1's virtual reserve reverts
        get_next_sqrt_price_from_output(sp, 1024, 262144, True)
    with pytest.raises(AmmRevert):
        get_next_sqrt_price_from_output(Q96, 1, MAX_UINT256, True)
    with pytest.raises(AmmRevert):
        get_next_sqrt_price_from_output(Q96, 1, MAX_UINT256, False)


def test_tick_math_bounds():
    assert get_sqrt_ratio_at_tick(MIN_TICK) == MIN_SQRT_RATIO
    assert get_sqrt_ratio_at_tick(MAX_TICK) == MAX_SQRT_RATIO
    assert get_sqrt_ratio_at_tick(MIN_TICK + 1) == 4295343490
    assert get_sqrt_ratio_at_tick(MAX_TICK - 1) == 1461373636630004318706518188784493106690254656249
    assert get_sqrt_ratio_at_tick(0) == Q96
    assert get_tick_at_sqrt_ratio(MIN_SQRT_RATIO) == MIN_TICK
    assert get_tick_at_sqrt_ratio(MAX_SQRT_RATIO - 1) == MAX_TICK - 1
    assert get_tick_at_sqrt_ratio(Q96) == 0 and get_tick_at_sqrt_ratio(Q96 - 1) == -1
    for bad in (MIN_TICK - 1, MAX_TICK + 1):
        with pytest.raises(AmmRevert, match="^T"):
            get_sqrt_ratio_at_tick(bad)
    for bad in (MIN_SQRT_RATIO - 1, MAX_SQRT_RATIO):
        with pytest.raises(AmmRevert, match="^R"):
            get_tick_at_sqrt_ratio(bad)


ticks = st.integers(min_value=MIN_TICK, max_value=MAX_TICK)


@settings(max_examples=400, deadline=None)
@given(t=ticks)
def test_tick_math_round_trips_and_brackets(t):
    r = get_sqrt_ratio_at_tick(t)
    if t < MAX_TICK:
        assert get_tick_at_sqrt_ratio(r) == t
        nxt = get_sqrt_ratio_at_tick(t + 1)
        assert r < nxt
        assert get_tick_at_sqrt_ratio(nxt - 1) == t  # the greatest tick whose ratio <= the price
    if t > MIN_TICK:
        assert get_tick_at_sqrt_ratio(r - 1) == t - 1


@settings(max_examples=60, deadline=None)
@given(t=st.integers(min_value=-200_000, max_value=200_000))
def test_sqrt_ratio_is_accurate(t):
    with localcontext() as ctx:
        ctx.prec = 80
        exact = Decimal("1.0001") ** t
        exact = exact.sqrt() * Q96
    assert abs(Decimal(get_sqrt_ratio_at_tick(t)) - exact) <= exact * Decimal("1e-18") + 1


@settings(max_examples=300, deadline=None)
@given(price=st.integers(min_value=MIN_SQRT_RATIO, max_value=MAX_SQRT_RATIO - 1))
def test_tick_at_sqrt_ratio_is_the_greatest_tick_below(price):
    t = get_tick_at_sqrt_ratio(price)
    assert get_sqrt_ratio_at_tick(t) <= price
    assert t == MAX_TICK or get_sqrt_ratio_at_tick(t + 1) > price


def test_full_math_reverts_like_the_contract():
    assert mul_div(MAX_UINT256, MAX_UINT256, MAX_UINT256) == MAX_UINT256
    assert mul_div_rounding_up(2**255, 3, 2**255) == 3
    with pytest.raises(AmmRevert):
        mul_div(Q96, 2**161, 1)  # result >= 2**256
    with pytest.raises(AmmRevert):
        mul_div(1, 1, 0)
    a, b = 535006138814359, 432862656469423142931042426214547535783388063929571229938474969  # a*b = 2**257 - 1
    assert mul_div(a, b, 2) == MAX_UINT256
    with pytest.raises(AmmRevert):  # rounding the max result up overflows
        mul_div_rounding_up(a, b, 2)


@settings(max_examples=300, deadline=None)
@given(a=st.integers(0, MAX_UINT256), b=st.integers(0, MAX_UINT256), d=st.integers(1, MAX_UINT256))
def test_mul_div_is_floor_and_ceil(a, b, d):
    exact_floor = a * b // d
    if exact_floor > MAX_UINT256:
        with pytest.raises(AmmRevert):
            mul_div(a, b, d)
        return
    assert mul_div(a, b, d) == exact_floor
    ceil = -(-a * b // d)
    if ceil > MAX_UINT256:
        with pytest.raises(AmmRevert):
            mul_div_rounding_up(a, b, d)
    else:
        assert mul_div_rounding_up(a, b, d) == ceil


def test_liquidity_math():
    assert add_delta(1, 0) == 1 and add_delta(1, -1) == 0 and add_delta(1, 1) == 2
    with pytest.raises(AmmRevert, match="LS"):
        add_delta(1, -2)
    with pytest.raises(AmmRevert, match="LA"):
        add_delta(2**128 - 15, 15)


# ---------------------------------------------------------------- tick bitmap
def _pool_with_ticks(initialized: list[int], spacing: int) -> V3Pool:
    return V3Pool.from_state("p", "t0", "t1", 3000, spacing, Q96, 0, 0, {t: 1 for t in initialized})


def _next_by_definition(initialized: list[int], spacing: int, tick: int, lte: bool) -> tuple[int, bool]:
    """The same answer from a sorted list: nearest initialized tick within the 256-spacing word, else the word edge."""
    compressed = tick // spacing
    if lte:
        word_start = (compressed >> 8) << 8
        found = [c for c in (t // spacing for t in initialized) if word_start <= c <= compressed]
        return (max(found) * spacing, True) if found else (word_start * spacing, False)
    c0 = compressed + 1
    word_end = ((c0 >> 8) << 8) + 255
    found = [c for c in (t // spacing for t in initialized) if c0 <= c <= word_end]
    return (min(found) * spacing, True) if found else (word_end * spacing, False)


def test_next_initialized_tick_examples():
    # the v3-core TickBitmap test fixture: ticks -200, -55, -4, 70, 78, 84, 139, 240, 535 with spacing 1
    pool = _pool_with_ticks([-200, -55, -4, 70, 78, 84, 139, 240, 535], 1)
    nxt = pool.next_initialized_tick_within_one_word
    assert nxt(78, False) == (84, True)
    assert nxt(-55, False) == (-4, True)
    assert nxt(77, False) == (78, True)
    assert nxt(-56, False) == (-55, True)
    assert nxt(255, False) == (511, False)  # next word, nothing initialized: its last tick
    assert nxt(-257, False) == (-200, True)
    assert nxt(78, True) == (78, True)
    assert nxt(79, True) == (78, True)
    assert nxt(258, True) == (256, False)  # word boundary
    assert nxt(256, True) == (256, False)
    assert nxt(72, True) == (70, True)
    assert nxt(-257, True) == (-512, False)
    assert nxt(1023, True) == (768, False)


@settings(max_examples=300, deadline=None)
@given(
    spacing=st.sampled_from([1, 10, 60, 200]),
    compressed=st.lists(st.integers(-3000, 3000), max_size=12, unique=True),
    tick=st.integers(-700_000, 700_000),
    lte=st.booleans(),
)
def test_next_initialized_tick_matches_its_definition(spacing, compressed, tick, lte):
    initialized = [c * spacing for c in compressed]
    tick = tick % (3500 * spacing) - 1750 * spacing  # near the initialized ticks, both signs
    pool = _pool_with_ticks(initialized, spacing)
    assert pool.next_initialized_tick_within_one_word(tick, lte) == _next_by_definition(
        initialized, spacing, tick, lte
    )
