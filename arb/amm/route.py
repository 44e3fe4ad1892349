"""Routes: chains of exact-input swaps over V2 and V3 pools, computed as an on-chain executor would see them.

A route is a sequence of :class:`Hop` (pool, token_in -> token_out). Each hop's whole output is the next hop's input
(``amountOutMinimum`` checks aside, exactly what an atomic executor contract receives). A pool that appears twice in a
route is seen by the later hop in the state the earlier hop left it in, as on chain. V3 hops are exact input with the
periphery's "no limit" price bound (MIN_SQRT_RATIO+1 / MAX_SQRT_RATIO-1).

A V3 hop that reaches that bound before using its whole input is a partial fill (the pool just takes less): by default
that raises ``AmmRevert("PARTIAL_FILL")``, since an executor that checks its balances would revert; pass
``allow_partial=True`` to get the pool's behaviour instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from arb.amm.v2 import V2Pool, V2Swap
from arb.amm.v3.errors import AmmRevert
from arb.amm.v3.pool import V3Pool, V3Swap

Pool = V2Pool | V3Pool


@dataclass(frozen=True, slots=True)
class Hop:
    pool: Pool
    token_in: str
    token_out: str

    def __post_init__(self) -> None:
        if {self.token_in, self.token_out} != {self.pool.token0, self.pool.token1}:
            raise AmmRevert("route", f"hop {self.token_in}->{self.token_out} does not match pool {self.pool.address}")


Route = Sequence[Hop]


def make_route(pools: Iterable[Pool], token_in: str) -> tuple[Hop, ...]:
    """Chain pools starting from `token_in`: each hop sells the previous hop's output token."""
    hops = []
    token = token_in
    for pool in pools:
        nxt = pool.other(token)
        hops.append(Hop(pool, token, nxt))
        token = nxt
    if not hops:
        raise AmmRevert("route", "a route needs at least one pool")
    return tuple(hops)


def route_swaps(route: Route, amount_in: int, *, allow_partial: bool = False) -> list[V2Swap | V3Swap]:
    """Every hop's swap (amount_in taken, amount_out, pool_after), in order."""
    if not route:
        raise AmmRevert("route", "empty route")
    if amount_in <= 0:
        raise AmmRevert("INSUFFICIENT_INPUT_AMOUNT", f"amount_in must be positive, got {amount_in}")
    latest: dict[str, Pool] = {}
    swaps: list[V2Swap | V3Swap] = []
    amount = amount_in
    for i, hop in enumerate(route):
        if i and hop.token_in != route[i - 1].token_out:
            raise AmmRevert("route", f"hop {i} sells {hop.token_in} but hop {i - 1} bought {route[i - 1].token_out}")
        pool = latest.get(hop.pool.address, hop.pool)
        swap = pool.exact_input(hop.token_in, amount)
        if swap.amount_in != amount and not allow_partial:
            raise AmmRevert("PARTIAL_FILL", f"hop {i} ({pool.address}) took {swap.amount_in} of {amount}")
        latest[pool.address] = swap.pool_after
        swaps.append(swap)
        amount = swap.amount_out
    return swaps


def route_output(route: Route, amount_in: int, *, allow_partial: bool = False) -> int:
    """The last hop's output for `amount_in` into the first hop (exact integer, as on chain)."""
    return route_swaps(route, amount_in, allow_partial=allow_partial)[-1].amount_out


def route_states_after(route: Route, amount_in: int, *, allow_partial: bool = False) -> dict[str, Pool]:
    """Every touched pool's state after the route executes, by pool address."""
    states: dict[str, Pool] = {}
    for swap in route_swaps(route, amount_in, allow_partial=allow_partial):
        states[swap.pool_after.address] = swap.pool_after
    return states
