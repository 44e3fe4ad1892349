"""FullMath / UnsafeMath / SafeCast of Uniswap V3 core (v1.0.0), on Python ints with the EVM's range checks.

Python ints do not overflow, so every place where the Solidity code relies on a width (uint256 results, uint160 prices,
uint128 liquidity, int256 amounts) is checked explicitly and raises :class:`AmmRevert` where the contract reverts.
"""

from __future__ import annotations

from arb.amm.v3.errors import AmmRevert

Q96 = 1 << 96
Q128 = 1 << 128
MAX_UINT128 = (1 << 128) - 1
MAX_UINT160 = (1 << 160) - 1
MAX_UINT256 = (1 << 256) - 1
MAX_INT128 = (1 << 127) - 1
MIN_INT128 = -(1 << 127)
MAX_INT256 = (1 << 255) - 1
MIN_INT256 = -(1 << 255)


def mul_div(a: int, b: int, denominator: int) -> int:
    """floor(a*b/denominator) with full 512-bit precision; reverts if denominator == 0 or the result >= 2**256."""
    if denominator <= 0:
        raise AmmRevert("FullMath.mulDiv", "denominator is 0")
    result = a * b // denominator
    if result > MAX_UINT256:
        raise AmmRevert("FullMath.mulDiv", "result overflows uint256")
    return result


def mul_div_rounding_up(a: int, b: int, denominator: int) -> int:
    """ceil(a*b/denominator); reverts like FullMath.mulDivRoundingUp (denominator 0, result >= 2**256)."""
    result = mul_div(a, b, denominator)
    if (a * b) % denominator:
        if result >= MAX_UINT256:
            raise AmmRevert("FullMath.mulDivRoundingUp", "result overflows uint256")
        result += 1
    return result


def div_rounding_up(x: int, y: int) -> int:
    """UnsafeMath.divRoundingUp: ceil(x / y). Division by zero yields 0 in the EVM (never reached by the callers)."""
    if y == 0:
        return 0
    return x // y + (1 if x % y else 0)


def to_uint160(x: int) -> int:
    """SafeCast.toUint160."""
    if not 0 <= x <= MAX_UINT160:
        raise AmmRevert("SafeCast.toUint160", f"{x} does not fit in uint160")
    return x


def to_int256(x: int) -> int:
    """SafeCast.toInt256 (of a uint256)."""
    if x > MAX_INT256:
        raise AmmRevert("SafeCast.toInt256", f"{x} does not fit in int256")
    return x


def to_int128(x: int) -> int:
    """SafeCast.toInt128 (of an int256)."""
    if not MIN_INT128 <= x <= MAX_INT128:
        raise AmmRevert("SafeCast.toInt128", f"{x} does not fit in int128")
    return x


def check_int256(x: int, what: str) -> int:
    """LowGasSafeMath.add/sub on int256: revert on overflow."""
    if not MIN_INT256 <= x <= MAX_INT256:
        raise AmmRevert("LowGasSafeMath", f"{what} overflows int256")
    return x
