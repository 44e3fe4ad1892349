"""Uniswap V2 constant-product math on Python ints, exactly as UniswapV2Library / UniswapV2Pair compute it.

For the 0.3 % fee (``fee_bps=30``) the library's own 997/1000 form is used. Other fees use (10000 - fee_bps)/10000,
which for 30 bps is the same fraction (9970/10000), so forks with a 0.3 % fee (SushiSwap, QuickSwap, ...) match to the
wei. Reverts raise :class:`AmmRevert` (a ``ValueError``) with the contract's require reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from arb.amm.v3.errors import AmmRevert

MAX_UINT112 = (1 << 112) - 1


def fee_fraction(fee_bps: int) -> tuple[int, int]:
    """(numerator, denominator) of the share of the input that counts: 997/1000 for 30 bps, else (10000-f)/10000."""
    if fee_bps == 30:
        return 997, 1000
    if not 0 <= fee_bps < 10_000:
        raise AmmRevert("fee", f"fee_bps must be in [0, 10000), got {fee_bps}")
    return 10_000 - fee_bps, 10_000


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """UniswapV2Library.getAmountOut: the most `reserve_out` a pair pays for `amount_in` (floor)."""
    if amount_in <= 0:
        raise AmmRevert("UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT", f"amount_in={amount_in}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise AmmRevert("UniswapV2Library: INSUFFICIENT_LIQUIDITY", f"reserves {reserve_in}, {reserve_out}")
    num, den = fee_fraction(fee_bps)
    amount_in_with_fee = amount_in * num
    return amount_in_with_fee * reserve_out // (reserve_in * den + amount_in_with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """UniswapV2Library.getAmountIn: the least input that buys `amount_out` (floor + 1, as the library does)."""
    if amount_out <= 0:
        raise AmmRevert("UniswapV2Library: INSUFFICIENT_OUTPUT_AMOUNT", f"amount_out={amount_out}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise AmmRevert("UniswapV2Library: INSUFFICIENT_LIQUIDITY", f"reserves {reserve_in}, {reserve_out}")
    if amount_out >= reserve_out:  # the library underflows (ds-math-sub-underflow); the pair would say this
        raise AmmRevert("UniswapV2: INSUFFICIENT_LIQUIDITY", f"amount_out {amount_out} >= reserve_out {reserve_out}")
    num, den = fee_fraction(fee_bps)
    return reserve_in * amount_out * den // ((reserve_out - amount_out) * num) + 1


@dataclass(frozen=True, slots=True)
class V2Swap:
    """The outcome of one exact-input hop (same shape as :class:`arb.amm.v3.V3Swap`)."""

    amount_in: int
    amount_out: int
    pool_after: V2Pool


@dataclass(frozen=True, slots=True)
class V2Pool:
    """One V2 pair: its reserves as ``getReserves()`` returns them. Immutable; swaps return a new pool."""

    address: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int
    fee_bps: int = 30

    def _reserves(self, token_in: str) -> tuple[int, int, bool]:
        if token_in == self.token0:
            return self.reserve0, self.reserve1, True
        if token_in == self.token1:
            return self.reserve1, self.reserve0, False
        raise AmmRevert("token", f"{token_in} is not a token of pair {self.address}")

    def other(self, token: str) -> str:
        self._reserves(token)
        return self.token1 if token == self.token0 else self.token0

    def amount_out(self, token_in: str, amount_in: int) -> int:
        """getAmountOut for `amount_in` of `token_in` against this pair's reserves."""
        r_in, r_out, _ = self._reserves(token_in)
        return get_amount_out(amount_in, r_in, r_out, self.fee_bps)

    def amount_in(self, token_in: str, amount_out: int) -> int:
        """getAmountIn: the least `token_in` that buys `amount_out` of the other token."""
        r_in, r_out, _ = self._reserves(token_in)
        return get_amount_in(amount_out, r_in, r_out, self.fee_bps)

    def after_swap(self, token_in: str, amount_in: int) -> V2Pool:
        """The pair after a router swap of `amount_in` (it pays the maximum getAmountOut)."""
        return self.exact_input(token_in, amount_in).pool_after

    def exact_input(self, token_in: str, amount_in: int) -> V2Swap:
        """Swap `amount_in` of `token_in` for the maximum output, as the router does (pair.swap checks included)."""
        out = self.amount_out(token_in, amount_in)
        if token_in == self.token0:
            return V2Swap(amount_in, out, self.swap(0, out, amount_in, 0))
        return V2Swap(amount_in, out, self.swap(out, 0, 0, amount_in))

    def swap(self, amount0_out: int, amount1_out: int, amount0_in: int, amount1_in: int) -> V2Pool:
        """UniswapV2Pair.swap with the given outputs, after the caller sent the given inputs (balance = reserve + in).

        Applies the pair's requires, including the fee-adjusted K check, and returns the pair with its new reserves.
        """
        r0, r1 = self.reserve0, self.reserve1
        if amount0_out < 0 or amount1_out < 0 or amount0_in < 0 or amount1_in < 0:
            raise AmmRevert("amounts", "amounts must be non-negative")
        if amount0_out == 0 and amount1_out == 0:
            raise AmmRevert("UniswapV2: INSUFFICIENT_OUTPUT_AMOUNT")
        if not (amount0_out < r0 and amount1_out < r1):
            raise AmmRevert("UniswapV2: INSUFFICIENT_LIQUIDITY", f"out ({amount0_out}, {amount1_out}) vs ({r0}, {r1})")
        if amount0_in == 0 and amount1_in == 0:
            raise AmmRevert("UniswapV2: INSUFFICIENT_INPUT_AMOUNT")
        balance0 = r0 - amount0_out + amount0_in
        balance1 = r1 - amount1_out + amount1_in
        num, den = fee_fraction(self.fee_bps)
        fee_part = den - num  # 3 of 1000 for the 0.3 % pair
        adjusted0 = balance0 * den - amount0_in * fee_part
        adjusted1 = balance1 * den - amount1_in * fee_part
        if adjusted0 * adjusted1 < r0 * r1 * den * den:
            raise AmmRevert("UniswapV2: K", "the inputs do not pay for the outputs")
        if balance0 > MAX_UINT112 or balance1 > MAX_UINT112:
            raise AmmRevert("UniswapV2: OVERFLOW", "balance does not fit in uint112")
        return V2Pool(self.address, self.token0, self.token1, balance0, balance1, self.fee_bps)
