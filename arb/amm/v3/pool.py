"""A Uniswap V3 pool's swap-relevant state, and the pool's swap / mint / burn on it, ported from UniswapV3Pool v1.0.0.

``V3Pool`` is immutable: ``swap``/``mint``/``burn`` return the amounts and a new ``V3Pool``. A swap never changes the
set of initialized ticks, so the returned pool shares the tick tables with the old one (cheap to call in a search).

Kept: slot0 (sqrtPriceX96, tick), in-range liquidity, fee, tickSpacing, the initialized ticks (liquidityGross,
liquidityNet), the real tick bitmap (so ``nextInitializedTickWithinOneWord`` is the contract's own algorithm, word
boundaries included), positions' liquidity (for the 'NP'/'LS' checks of burn) and the global fee growth (with the
protocol fee switch). Not kept: the oracle, per-tick fee-growth-outside and seconds accumulators, tokens owed.
None of them changes an amount, a price, a tick or the liquidity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from arb.amm.v3.errors import AmmRevert
from arb.amm.v3.full_math import MAX_INT256, MAX_UINT128, MAX_UINT256, MIN_INT256, Q128, check_int256, mul_div
from arb.amm.v3.liquidity_math import add_delta
from arb.amm.v3.sqrt_price_math import get_amount0_delta_signed, get_amount1_delta_signed
from arb.amm.v3.swap_math import compute_swap_step
from arb.amm.v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)

#: The factory's enabled fee tiers (pips) and their tick spacings.
FEE_TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}


def tick_spacing_to_max_liquidity_per_tick(tick_spacing: int) -> int:
    """Tick.tickSpacingToMaxLiquidityPerTick (Solidity division truncates toward zero)."""
    min_tick = -(-MIN_TICK // tick_spacing) * tick_spacing
    max_tick = (MAX_TICK // tick_spacing) * tick_spacing
    num_ticks = (max_tick - min_tick) // tick_spacing + 1
    return MAX_UINT128 // num_ticks


@dataclass(frozen=True, slots=True)
class TickInfo:
    """An initialized tick: total liquidity referencing it, and the liquidity added when crossed left to right."""

    liquidity_gross: int
    liquidity_net: int


@dataclass(frozen=True, slots=True)
class V3Swap:
    """The outcome of one exact-input hop (see :meth:`V3Pool.exact_input`)."""

    amount_in: int  # input actually taken (less than asked only if the price limit was reached)
    amount_out: int
    pool_after: V3Pool


@dataclass(frozen=True, eq=False)
class V3Pool:
    """State of one Uniswap V3 pool. Amounts, prices and liquidity are plain ints, as on chain.

    Build one with :meth:`initialize` (an empty pool, then :meth:`mint`) or :meth:`from_state` (slot0, liquidity and
    the initialized ticks' liquidityNet read from a node). ``fee`` is in pips (3000 = 0.3 %).
    """

    address: str
    token0: str
    token1: str
    fee: int
    tick_spacing: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    # read-only views: pools returned by swap() share them with the pool they came from
    ticks: Mapping[int, TickInfo] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    bitmap: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    positions: Mapping[tuple[str, int, int], int] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    fee_growth_global0_x128: int = 0
    fee_growth_global1_x128: int = 0
    fee_protocol: int = 0  # slot0.feeProtocol: token0's denominator in the low 4 bits, token1's in the high 4
    # (lowest, highest) initialized tick, computed on first use and handed on to the pools a swap returns
    _tick_range: tuple[int, int] | None = field(default=None, repr=False, compare=False)

    # ---------------------------------------------------------------- construction
    @classmethod
    def initialize(
        cls, address: str, token0: str, token1: str, fee: int, tick_spacing: int, sqrt_price_x96: int
    ) -> V3Pool:
        """UniswapV3Pool.initialize: an empty pool at sqrt_price_x96 (tick from the price, no liquidity)."""
        tick = get_tick_at_sqrt_ratio(sqrt_price_x96)
        return cls(address, token0, token1, fee, tick_spacing, sqrt_price_x96, tick, 0)

    @classmethod
    def from_state(
        cls,
        address: str,
        token0: str,
        token1: str,
        fee: int,
        tick_spacing: int,
        sqrt_price_x96: int,
        tick: int,
        liquidity: int,
        liquidity_net: Mapping[int, int | TickInfo],
    ) -> V3Pool:
        """A pool from chain state: slot0 (sqrtPriceX96 AND tick: the tick is not always derivable from the price),
        in-range liquidity, and every initialized tick as {tick: liquidityNet} or {tick: TickInfo(liquidityGross,
        liquidityNet)} (``ticks(tick)`` on chain returns both). Given only liquidityNet, liquidityGross is taken as
        |liquidityNet| (1 if that is 0, so the tick stays initialized); it only matters to later mints and burns.
        Positions are unknown, so burns on such a pool revert ('NP'/'LS')."""
        if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
            raise AmmRevert("R", f"sqrtPriceX96 {sqrt_price_x96} out of range")
        ticks: dict[int, TickInfo] = {}
        bitmap: dict[int, int] = {}
        for t, info in liquidity_net.items():
            if t % tick_spacing or not MIN_TICK <= t <= MAX_TICK:
                raise AmmRevert("tick", f"initialized tick {t} is not a multiple of tick spacing {tick_spacing}")
            if not isinstance(info, TickInfo):
                info = TickInfo(abs(info) or 1, info)
            if info.liquidity_gross <= 0:
                raise AmmRevert("tick", f"tick {t} has no liquidityGross: it is not initialized")
            ticks[t] = info
            _flip_tick(bitmap, t, tick_spacing)
        return cls(address, token0, token1, fee, tick_spacing, sqrt_price_x96, tick, liquidity,
                   MappingProxyType(ticks), MappingProxyType(bitmap))

    # ---------------------------------------------------------------- queries
    def next_initialized_tick_within_one_word(self, tick: int, lte: bool) -> tuple[int, bool]:
        """TickBitmap.nextInitializedTickWithinOneWord: the next initialized tick at or left of (lte) / right of `tick`
        within the same 256-spacing word, else the word's last tick with initialized=False."""
        ts = self.tick_spacing
        compressed = tick // ts  # rounds toward negative infinity, as the contract does explicitly
        if lte:
            word_pos, bit_pos = compressed >> 8, compressed % 256
            mask = (1 << bit_pos) - 1 + (1 << bit_pos)
            masked = self.bitmap.get(word_pos, 0) & mask
            if masked:
                return (compressed - (bit_pos - (masked.bit_length() - 1))) * ts, True
            return (compressed - bit_pos) * ts, False
        word_pos, bit_pos = (compressed + 1) >> 8, (compressed + 1) % 256
        mask = MAX_UINT256 ^ ((1 << bit_pos) - 1)
        masked = self.bitmap.get(word_pos, 0) & mask
        if masked:
            lsb = (masked & -masked).bit_length() - 1
            return (compressed + 1 + (lsb - bit_pos)) * ts, True
        return (compressed + 1 + (255 - bit_pos)) * ts, False

    def initialized_tick_range(self) -> tuple[int, int] | None:
        """(lowest, highest) initialized tick, or None without any."""
        if self._tick_range is None and self.ticks:
            object.__setattr__(self, "_tick_range", (min(self.ticks), max(self.ticks)))
        return self._tick_range

    next_initialized_tick = next_initialized_tick_within_one_word

    def liquidity_net_at(self, tick: int) -> int:
        info = self.ticks.get(tick)
        return info.liquidity_net if info else 0

    # ---------------------------------------------------------------- swap
    def swap(
        self, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None = None
    ) -> tuple[int, int, V3Pool]:
        """UniswapV3Pool.swap: returns (amount0, amount1, pool_after) with the pool's signs (positive = paid into the
        pool, negative = paid out). amount_specified > 0 is exact input, < 0 exact output. Without a limit the price
        may go to MIN_SQRT_RATIO+1 / MAX_SQRT_RATIO-1 (what the periphery passes for "no limit")."""
        if amount_specified == 0:
            raise AmmRevert("AS", "amountSpecified is 0")
        if not MIN_INT256 <= amount_specified <= MAX_INT256:
            raise AmmRevert("AS", "amountSpecified does not fit in int256")
        if sqrt_price_limit_x96 is None:
            sqrt_price_limit_x96 = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
        price = self.sqrt_price_x96
        if zero_for_one:
            if not (MIN_SQRT_RATIO < sqrt_price_limit_x96 < price):
                raise AmmRevert("SPL", f"limit {sqrt_price_limit_x96} not in (MIN_SQRT_RATIO, price {price})")
        elif not (price < sqrt_price_limit_x96 < MAX_SQRT_RATIO):
            raise AmmRevert("SPL", f"limit {sqrt_price_limit_x96} not in (price {price}, MAX_SQRT_RATIO)")

        fee, fee_protocol = self.fee, (self.fee_protocol % 16 if zero_for_one else self.fee_protocol >> 4)
        exact_input = amount_specified > 0
        remaining, calculated = amount_specified, 0
        tick, liquidity = self.tick, self.liquidity
        fee_growth = self.fee_growth_global0_x128 if zero_for_one else self.fee_growth_global1_x128
        ticks = self.ticks
        tick_range = self.initialized_tick_range()

        while remaining != 0 and price != sqrt_price_limit_x96:
            if liquidity == 0 and _SKIP_EMPTY_WORDS and (
                tick_range is None or (tick_range[0] > tick if zero_for_one else tick_range[1] <= tick)
            ):
                # Nothing left to cross and no liquidity: the contract would walk word by word to the limit with
                # zero amounts (hundreds of steps). Jump there, landing on the same tick it would.
                price, tick = sqrt_price_limit_x96, _tick_after_empty_walk(
                    sqrt_price_limit_x96, zero_for_one, self.tick_spacing
                )
                break
            price_start = price
            tick_next, initialized = self.next_initialized_tick_within_one_word(tick, zero_for_one)
            tick_next = MIN_TICK if tick_next < MIN_TICK else MAX_TICK if tick_next > MAX_TICK else tick_next
            price_next = get_sqrt_ratio_at_tick(tick_next)
            if zero_for_one:
                target = sqrt_price_limit_x96 if price_next < sqrt_price_limit_x96 else price_next
            else:
                target = sqrt_price_limit_x96 if price_next > sqrt_price_limit_x96 else price_next
            price, step_in, step_out, step_fee = compute_swap_step(price, target, liquidity, remaining, fee)

            if exact_input:
                remaining -= step_in + step_fee
                calculated = check_int256(calculated - step_out, "amountCalculated")
            else:
                remaining += step_out
                calculated = check_int256(calculated + step_in + step_fee, "amountCalculated")

            if fee_protocol > 0:
                step_fee -= step_fee // fee_protocol
            if liquidity > 0:
                fee_growth = (fee_growth + mul_div(step_fee, Q128, liquidity)) & MAX_UINT256

            if price == price_next:
                if initialized:
                    net = ticks[tick_next].liquidity_net
                    liquidity = add_delta(liquidity, -net if zero_for_one else net)
                tick = tick_next - 1 if zero_for_one else tick_next
            elif price != price_start:
                tick = get_tick_at_sqrt_ratio(price)

        if zero_for_one == exact_input:
            amount0, amount1 = amount_specified - remaining, calculated
        else:
            amount0, amount1 = calculated, amount_specified - remaining

        changes: dict = {"sqrt_price_x96": price, "tick": tick, "liquidity": liquidity, "_tick_range": tick_range}
        changes["fee_growth_global0_x128" if zero_for_one else "fee_growth_global1_x128"] = fee_growth
        return amount0, amount1, dataclasses.replace(self, **changes)

    def exact_input(self, token_in: str, amount_in: int, sqrt_price_limit_x96: int | None = None) -> V3Swap:
        """Swap exactly `amount_in` of `token_in` (as SwapRouter.exactInputSingle / QuoterV2 do)."""
        zero_for_one = self._direction(token_in)
        if amount_in <= 0:
            raise AmmRevert("AS", f"amount_in must be positive, got {amount_in}")
        amount0, amount1, after = self.swap(zero_for_one, amount_in, sqrt_price_limit_x96)
        if zero_for_one:
            return V3Swap(amount0, -amount1, after)
        return V3Swap(amount1, -amount0, after)

    def exact_output(self, token_in: str, amount_out: int, sqrt_price_limit_x96: int | None = None) -> V3Swap:
        """Swap for exactly `amount_out` of the other token (less only if the price limit is reached first)."""
        zero_for_one = self._direction(token_in)
        if amount_out <= 0:
            raise AmmRevert("AS", f"amount_out must be positive, got {amount_out}")
        amount0, amount1, after = self.swap(zero_for_one, -amount_out, sqrt_price_limit_x96)
        if zero_for_one:
            return V3Swap(amount0, -amount1, after)
        return V3Swap(amount1, -amount0, after)

    def amount_out(self, token_in: str, amount_in: int) -> int:
        """Output of an exact-input swap with no price limit (a partial fill at the price bound is returned as is)."""
        return self.exact_input(token_in, amount_in).amount_out

    def other(self, token: str) -> str:
        self._direction(token)
        return self.token1 if token == self.token0 else self.token0

    def _direction(self, token_in: str) -> bool:
        if token_in == self.token0:
            return True
        if token_in == self.token1:
            return False
        raise AmmRevert("token", f"{token_in} is not a token of pool {self.address}")

    # ---------------------------------------------------------------- liquidity
    def mint(self, tick_lower: int, tick_upper: int, amount: int, owner: str = "") -> tuple[int, int, V3Pool]:
        """UniswapV3Pool.mint: returns (amount0, amount1, pool_after); amounts are what the minter pays (rounded up)."""
        if amount <= 0:
            raise AmmRevert("mint", "amount must be > 0")
        if amount > MAX_UINT128:
            raise AmmRevert("mint", "amount does not fit in uint128")
        a0, a1, pool = self._modify_position(owner, tick_lower, tick_upper, amount)
        return a0, a1, pool

    def burn(self, tick_lower: int, tick_upper: int, amount: int, owner: str = "") -> tuple[int, int, V3Pool]:
        """UniswapV3Pool.burn: returns (amount0, amount1, pool_after); amounts are owed to the owner (rounded down).
        amount 0 is a 'poke' and needs an existing position ('NP')."""
        if not 0 <= amount <= MAX_UINT128:
            raise AmmRevert("burn", "amount does not fit in uint128")
        a0, a1, pool = self._modify_position(owner, tick_lower, tick_upper, -amount)
        return -a0, -a1, pool

    def _modify_position(self, owner: str, tick_lower: int, tick_upper: int, delta: int) -> tuple[int, int, V3Pool]:
        if tick_lower >= tick_upper:
            raise AmmRevert("TLU", f"tickLower {tick_lower} >= tickUpper {tick_upper}")
        if tick_lower < MIN_TICK:
            raise AmmRevert("TLM", f"tickLower {tick_lower} < MIN_TICK")
        if tick_upper > MAX_TICK:
            raise AmmRevert("TUM", f"tickUpper {tick_upper} > MAX_TICK")
        ticks, bitmap = self.ticks, self.bitmap
        if delta != 0:
            max_liq = tick_spacing_to_max_liquidity_per_tick(self.tick_spacing)
            ticks, bitmap = dict(ticks), dict(bitmap)
            for t, upper in ((tick_lower, False), (tick_upper, True)):
                info = ticks.get(t, TickInfo(0, 0))
                gross = add_delta(info.liquidity_gross, delta)
                if gross > max_liq:
                    raise AmmRevert("LO", f"liquidityGross at tick {t} above the per-tick maximum")
                net = info.liquidity_net - delta if upper else info.liquidity_net + delta
                if not -(1 << 127) <= net < (1 << 127):
                    raise AmmRevert("SafeCast.toInt128", f"liquidityNet at tick {t} overflows int128")
                if (gross == 0) != (info.liquidity_gross == 0):
                    if t % self.tick_spacing:
                        raise AmmRevert("TickBitmap.flipTick", f"tick {t} not a multiple of {self.tick_spacing}")
                    _flip_tick(bitmap, t, self.tick_spacing)
                if gross == 0:
                    ticks.pop(t, None)  # Tick.clear (only happens when liquidityDelta < 0 and the tick flipped)
                else:
                    ticks[t] = TickInfo(gross, net)
        key = (owner, tick_lower, tick_upper)
        held = self.positions.get(key, 0)
        if delta == 0:
            if held <= 0:
                raise AmmRevert("NP", f"no position {key}")
            positions = dict(self.positions)
        else:
            positions = dict(self.positions)
            positions[key] = add_delta(held, delta)

        amount0 = amount1 = 0
        liquidity = self.liquidity
        if delta != 0:
            sqrt_lower, sqrt_upper = get_sqrt_ratio_at_tick(tick_lower), get_sqrt_ratio_at_tick(tick_upper)
            if self.tick < tick_lower:
                amount0 = get_amount0_delta_signed(sqrt_lower, sqrt_upper, delta)
            elif self.tick < tick_upper:
                amount0 = get_amount0_delta_signed(self.sqrt_price_x96, sqrt_upper, delta)
                amount1 = get_amount1_delta_signed(sqrt_lower, self.sqrt_price_x96, delta)
                liquidity = add_delta(liquidity, delta)
            else:
                amount1 = get_amount1_delta_signed(sqrt_lower, sqrt_upper, delta)
        pool = dataclasses.replace(
            self, ticks=MappingProxyType(ticks), bitmap=MappingProxyType(bitmap),
            positions=MappingProxyType(positions), liquidity=liquidity, _tick_range=None,
        )
        return amount0, amount1, pool


#: Tests switch this off to compare the shortcut with the contract's literal word-by-word walk.
_SKIP_EMPTY_WORDS = True


def _tick_after_empty_walk(limit: int, zero_for_one: bool, tick_spacing: int) -> int:
    """slot0.tick after the swap loop walks an empty, liquidity-free region to the price `limit`.

    Upward, every landing gives tick = getTickAtSqrtRatio(price). Downward, the loop steps to word starts (multiples of
    256 * tickSpacing) and on landing exactly on one, T, it sets tick = T - 1; otherwise the last step stops at the
    limit between two ticks and recomputes the tick from the price.
    """
    t = get_tick_at_sqrt_ratio(limit)
    if zero_for_one and t % (256 * tick_spacing) == 0 and get_sqrt_ratio_at_tick(t) == limit:
        return t - 1
    return t


def _flip_tick(bitmap: dict[int, int], tick: int, tick_spacing: int) -> None:
    compressed = tick // tick_spacing
    word_pos, bit_pos = compressed >> 8, compressed % 256
    word = bitmap.get(word_pos, 0) ^ (1 << bit_pos)
    if word:
        bitmap[word_pos] = word
    else:
        bitmap.pop(word_pos, None)
