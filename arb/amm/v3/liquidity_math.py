"""LiquidityMath.addDelta of Uniswap V3 core."""

from __future__ import annotations

from arb.amm.v3.errors import AmmRevert
from arb.amm.v3.full_math import MAX_UINT128


def add_delta(x: int, y: int) -> int:
    """x + y for a uint128 x and an int128 y; reverts 'LS' on underflow and 'LA' on overflow, like the contract."""
    z = x + y
    if y < 0:
        if z < 0:
            raise AmmRevert("LS", f"liquidity {x} minus {-y} underflows")
    elif z > MAX_UINT128:
        raise AmmRevert("LA", f"liquidity {x} plus {y} overflows uint128")
    return z
