"""Exact integer AMM math: Uniswap V2 and V3 as the contracts compute them, routes, and optimal sizing.

No floats anywhere: amounts, reserves, prices (Q64.96) and liquidity are Python ints, and every rounding is the
contract's. Reverts raise :class:`AmmRevert` (a ``ValueError``) with the contract's reason.
"""

from arb.amm.optimal import (
    Optimum,
    flash_premium,
    gas_cost_in_token,
    optimal_route_input,
    optimal_two_pool_v2,
)
from arb.amm.route import Hop, Route, make_route, route_output, route_states_after, route_swaps
from arb.amm.v2 import V2Pool, V2Swap, get_amount_in, get_amount_out
from arb.amm.v3 import V3Pool, V3Swap
from arb.amm.v3.errors import AmmRevert

__all__ = [
    "AmmRevert",
    "Hop",
    "Optimum",
    "Route",
    "V2Pool",
    "V2Swap",
    "V3Pool",
    "V3Swap",
    "flash_premium",
    "gas_cost_in_token",
    "get_amount_in",
    "get_amount_out",
    "make_route",
    "optimal_route_input",
    "optimal_two_pool_v2",
    "route_output",
    "route_states_after",
    "route_swaps",
]
