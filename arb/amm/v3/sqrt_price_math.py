"""SqrtPriceMath of Uniswap V3 core v1.0.0 (the deployed version), including its overflow branches."""

from __future__ import annotations

from arb.amm.v3.errors import AmmRevert
from arb.amm.v3.full_math import (
    MAX_UINT160,
    MAX_UINT256,
    Q96,
    div_rounding_up,
    mul_div,
    mul_div_rounding_up,
    to_int256,
    to_uint160,
)


def get_next_sqrt_price_from_amount0_rounding_up(sqrt_px96: int, liquidity: int, amount: int, add: bool) -> int:
    """Price after adding (add=True) or removing `amount` of token0: L*sqrtP / (L +- amount*sqrtP), rounded up."""
    if amount == 0:
        return sqrt_px96
    numerator1 = liquidity << 96
    product = amount * sqrt_px96
    if add:
        if product <= MAX_UINT256:  # (product = amount * sqrtPX96) / amount == sqrtPX96
            denominator = numerator1 + product
            if denominator <= MAX_UINT256:  # denominator >= numerator1, i.e. no wrap
                return mul_div_rounding_up(numerator1, sqrt_px96, denominator)
        # overflow fallback: L / (L / sqrtP + amount)
        denominator1 = numerator1 // sqrt_px96 + amount
        if denominator1 > MAX_UINT256:
            raise AmmRevert("LowGasSafeMath.add", "L/sqrtP + amount overflows uint256")
        return div_rounding_up(numerator1, denominator1) & MAX_UINT160
    if not (product <= MAX_UINT256 and numerator1 > product):
        raise AmmRevert("SqrtPriceMath", "token0 output exceeds the virtual reserve")
    return to_uint160(mul_div_rounding_up(numerator1, sqrt_px96, numerator1 - product))


def get_next_sqrt_price_from_amount1_rounding_down(sqrt_px96: int, liquidity: int, amount: int, add: bool) -> int:
    """Price after adding (add=True) or removing `amount` of token1: sqrtP +- amount/L, rounded down."""
    if add:
        quotient = (amount << 96) // liquidity if amount <= MAX_UINT160 else mul_div(amount, Q96, liquidity)
        new = sqrt_px96 + quotient
        if new > MAX_UINT256:
            raise AmmRevert("LowGasSafeMath.add", "sqrtP + amount/L overflows uint256")
        return to_uint160(new)
    if amount <= MAX_UINT160:
        quotient = div_rounding_up(amount << 96, liquidity)
    else:
        quotient = mul_div_rounding_up(amount, Q96, liquidity)
    if not sqrt_px96 > quotient:
        raise AmmRevert("SqrtPriceMath", "token1 output exceeds the virtual reserve")
    return sqrt_px96 - quotient


def get_next_sqrt_price_from_input(sqrt_px96: int, liquidity: int, amount_in: int, zero_for_one: bool) -> int:
    """Next price after `amount_in` (already net of fee) of token0 (zero_for_one) or token1 comes in."""
    if sqrt_px96 <= 0:
        raise AmmRevert("SqrtPriceMath", "sqrtPX96 is 0")
    if liquidity <= 0:
        raise AmmRevert("SqrtPriceMath", "liquidity is 0")
    if zero_for_one:
        return get_next_sqrt_price_from_amount0_rounding_up(sqrt_px96, liquidity, amount_in, True)
    return get_next_sqrt_price_from_amount1_rounding_down(sqrt_px96, liquidity, amount_in, True)


def get_next_sqrt_price_from_output(sqrt_px96: int, liquidity: int, amount_out: int, zero_for_one: bool) -> int:
    """Next price after `amount_out` of token1 (zero_for_one) or token0 goes out."""
    if sqrt_px96 <= 0:
        raise AmmRevert("SqrtPriceMath", "sqrtPX96 is 0")
    if liquidity <= 0:
        raise AmmRevert("SqrtPriceMath", "liquidity is 0")
    if zero_for_one:
        return get_next_sqrt_price_from_amount1_rounding_down(sqrt_px96, liquidity, amount_out, False)
    return get_next_sqrt_price_from_amount0_rounding_up(sqrt_px96, liquidity, amount_out, False)


def get_amount0_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token0 between two prices for `liquidity`: L*2**96*(sqrtB - sqrtA) / sqrtB / sqrtA (order-insensitive)."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    numerator1 = liquidity << 96
    numerator2 = sqrt_ratio_b_x96 - sqrt_ratio_a_x96
    if sqrt_ratio_a_x96 <= 0:
        raise AmmRevert("SqrtPriceMath", "sqrtRatioAX96 is 0")
    if round_up:
        return div_rounding_up(mul_div_rounding_up(numerator1, numerator2, sqrt_ratio_b_x96), sqrt_ratio_a_x96)
    return mul_div(numerator1, numerator2, sqrt_ratio_b_x96) // sqrt_ratio_a_x96


def get_amount1_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token1 between two prices for `liquidity`: L*(sqrtB - sqrtA)/2**96 (order-insensitive)."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    if round_up:
        return mul_div_rounding_up(liquidity, sqrt_ratio_b_x96 - sqrt_ratio_a_x96, Q96)
    return mul_div(liquidity, sqrt_ratio_b_x96 - sqrt_ratio_a_x96, Q96)


def get_amount0_delta_signed(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int) -> int:
    """Signed token0 delta for a signed liquidity change (rounded up when adding, down when removing)."""
    if liquidity < 0:
        return -to_int256(get_amount0_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, -liquidity, False))
    return to_int256(get_amount0_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, liquidity, True))


def get_amount1_delta_signed(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int) -> int:
    """Signed token1 delta for a signed liquidity change (rounded up when adding, down when removing)."""
    if liquidity < 0:
        return -to_int256(get_amount1_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, -liquidity, False))
    return to_int256(get_amount1_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, liquidity, True))
