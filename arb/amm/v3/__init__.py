"""Uniswap V3 core math on Python ints: a faithful port of the deployed v1.0.0 libraries and the pool's swap loop.

Plain ints in, plain ints out; reverts become :class:`AmmRevert`. Verified against the recorded ENS/WETH pool
(``tests/unit/test_amm_v3_replay.py``: all 63 swaps, every mint and burn, to the wei).
"""

from arb.amm.v3.errors import AmmRevert
from arb.amm.v3.full_math import mul_div, mul_div_rounding_up
from arb.amm.v3.liquidity_math import add_delta
from arb.amm.v3.pool import FEE_TICK_SPACING, TickInfo, V3Pool, V3Swap
from arb.amm.v3.sqrt_price_math import (
    get_amount0_delta,
    get_amount1_delta,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
)
from arb.amm.v3.swap_math import compute_swap_step
from arb.amm.v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)

__all__ = [
    "AmmRevert",
    "FEE_TICK_SPACING",
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "TickInfo",
    "V3Pool",
    "V3Swap",
    "add_delta",
    "compute_swap_step",
    "get_amount0_delta",
    "get_amount1_delta",
    "get_next_sqrt_price_from_input",
    "get_next_sqrt_price_from_output",
    "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio",
    "mul_div",
    "mul_div_rounding_up",
]
