"""Optimal input size for a flash-financed cyclic arbitrage, on the exact integer route function.

Profit of borrowing ``x`` of token A, running the cycle and repaying the loan with its premium::

    profit(x) = route_output(x) - x - premium(x) - gas_cost        premium(x) = (x * p + 5000) // 10000

``premium`` is Aave V3's ``percentMul`` (``p`` = FLASHLOAN_PREMIUM_TOTAL in bps, 5 today; read it at run time).
``gas_cost`` is a constant already converted into token A's units (see :func:`gas_cost_in_token`), so it never moves the
optimum, only the reported net profit.

Every result is checked on the exact integer route function (:func:`arb.amm.route.route_output`); the closed form and
the search only choose which integers to check. When no input makes a gross profit the answer is
``Optimum(amount_in=0, profit=0)``: do not trade.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from arb.amm.route import Hop, Route, route_output
from arb.amm.v2 import V2Pool, fee_fraction
from arb.amm.v3.errors import AmmRevert
from arb.amm.v3.full_math import MAX_UINT256, MIN_INT256

PERCENTAGE_FACTOR = 10_000
HALF_PERCENTAGE_FACTOR = 5_000


def flash_premium(amount: int, premium_bps: int) -> int:
    """Aave V3 PercentageMath.percentMul(amount, premium_bps): (amount * p + 5000) // 10000, reverting on overflow."""
    if amount < 0 or premium_bps < 0:
        raise AmmRevert("percentMul", "amount and premium must be non-negative")
    if premium_bps and amount > (MAX_UINT256 - HALF_PERCENTAGE_FACTOR) // premium_bps:
        raise AmmRevert("percentMul", "amount * premium overflows uint256")
    return (amount * premium_bps + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR


def gas_cost_in_token(gas_used: int, gas_price_wei: int, token_per_native_num: int = 1, token_per_native_den: int = 1
                      ) -> int:
    """Gas cost in the borrowed token's smallest unit, rounded up: gas_used * gas_price * num / den.

    ``num/den`` is the exact rational price of one wei of the native coin in the token's smallest units (1/1 when the
    borrowed token is WETH). Pass the result as ``gas_cost_wei`` to the optimisers.
    """
    if gas_used < 0 or gas_price_wei < 0 or token_per_native_num < 0 or token_per_native_den <= 0:
        raise ValueError("gas_used, gas_price_wei and the price must be non-negative, the denominator positive")
    return -(-gas_used * gas_price_wei * token_per_native_num // token_per_native_den)


@dataclass(frozen=True, slots=True)
class Optimum:
    """The best input found. Unpacks as ``amount_in, profit = optimum``; ``profit`` is net of premium and gas."""

    amount_in: int
    profit: int
    amount_out: int = 0
    premium: int = 0
    gas_cost: int = 0

    @property
    def gross_profit(self) -> int:
        """Profit before gas (after the flash-loan premium)."""
        return self.amount_out - self.amount_in - self.premium

    def __iter__(self):
        return iter((self.amount_in, self.profit))


class _Objective:
    """The exact integer route output and profit of one route, cached per input."""

    def __init__(self, route: Route, premium_bps: int, lo: int, hi: int) -> None:
        self.route, self.premium_bps, self.lo, self.hi = route, premium_bps, lo, hi
        self._out: dict[int, int | None] = {}
        self._partial: set[int] = set()

    def out(self, x: int) -> int | None:
        """route_output(x), or None if the route reverts for x (zero outputs, a V3 partial fill)."""
        if x not in self._out:
            try:
                self._out[x] = route_output(self.route, x)
            except AmmRevert as e:
                self._out[x] = None
                if e.reason == "PARTIAL_FILL":
                    self._partial.add(x)
        return self._out[x]

    def feasible_hi(self) -> int:
        """The largest input in [lo, hi] that no V3 hop fills only partially (a drained pool): beyond it every input
        reverts, so the optimum may sit right at this cliff. Partial fills are monotone in the input."""
        hi = self.hi
        self.out(hi)
        if hi not in self._partial:
            return hi
        lo = self.lo
        self.out(lo)
        if lo in self._partial:
            return lo - 1
        while hi - lo > 1:  # invariant: lo fills, hi fills partially
            mid = (lo + hi) // 2
            self.out(mid)
            if mid in self._partial:
                hi = mid
            else:
                lo = mid
        return lo

    def best_seen(self) -> int | None:
        """The evaluated input with the highest profit (the smallest such input on ties)."""
        best, best_profit = None, None
        for x in sorted(self._out):
            p = self.profit(x)
            if p is not None and (best_profit is None or p > best_profit):
                best, best_profit = x, p
        return best

    def profit(self, x: int) -> int | None:
        out = self.out(x)
        return None if out is None else out - x - flash_premium(x, self.premium_bps)

    def step_start(self, x: int, hint: int = 0) -> int:
        """The least x' <= x (within [lo, x]) with the same route output: the cheapest input for that output.

        ``hint``: the width of a neighbouring step; steps of the same route near each other are about as wide, so a
        few evaluations around x + 1 - hint usually settle it (checked exactly; a miss falls back to a bisection)."""
        target = self.out(x)
        if hint > 3:
            below = x + 1 - hint - 3
            if below >= self.lo and self.out(below) != target:
                for g in range(below + 1, min(below + 6, x + 1)):
                    if self.out(g) == target:  # out(g - 1) != target and the output is monotone
                        return g
        d = 1
        while x - d >= self.lo and self.out(x - d) == target:
            d *= 2
        if x - d < self.lo:
            if self.out(self.lo) == target:
                return self.lo
            below = self.lo  # out(below) != target, out(x) == target
        else:
            below = x - d
        top = x
        while top - below > 1:  # invariant: out(below) != target == out(top)
            mid = (below + top) // 2
            if self.out(mid) == target:
                top = mid
            else:
                below = mid
        return top

    def next_step(self, x: int, hint: int = 0) -> int | None:
        """The least x' > x (within [x, hi]) whose route output differs from x's, or None. ``hint`` as in
        :meth:`step_start`: x is a step start and the step is probably about ``hint`` wide."""
        target = self.out(x)
        if hint > 3:
            inside = x + hint - 3
            if inside <= self.hi and self.out(inside) == target:
                for g in range(inside + 1, min(inside + 6, self.hi + 1)):
                    if self.out(g) != target:  # out(g - 1) == target and the output is monotone
                        return g
        d = 1
        while x + d <= self.hi and self.out(x + d) == target:
            d *= 2
        if x + d > self.hi:
            if self.hi <= x or self.out(self.hi) == target:
                return None
            top = self.hi
        else:
            top = x + d
        below = x + d // 2 if d > 1 else x
        while top - below > 1:  # invariant: out(below) == target != out(top)
            mid = (below + top) // 2
            if self.out(mid) == target:
                below = mid
            else:
                top = mid
        return top

    def polish(self, x0: int, patience: int, max_steps: int | None = None) -> int | None:
        """Walk the route output's steps outward from x0, scoring each step at its cheapest input, until `patience`
        steps on a side come out worse than the best so far (ties do not count: the profit can rise in a staircase
        with long flat treads), or after `max_steps` (default 4 * patience) steps on a side.
        The integer optimum is always such a step start (a smaller input with the same output is strictly cheaper),
        so this is exact once the walk covers the flat top. When it does not (deep pools whose flat top spans
        millions of steps), every step start there is within the floors' jitter of the optimum anyway."""
        if max_steps is None:
            max_steps = 4 * patience
        if self.out(x0) is None:
            return None
        best = start = self.step_start(x0)
        best_profit = self.profit(best)
        cur, misses, steps, width = start, 0, 0, 0
        while misses < patience and steps < max_steps:
            steps += 1
            nxt = self.next_step(cur, width)
            if nxt is None or self.out(nxt) is None:
                break
            width = nxt - cur
            p = self.profit(nxt)
            if p is not None and (best_profit is None or p > best_profit):
                best, best_profit, misses = nxt, p, 0
            elif p is None or best_profit is None or p < best_profit:
                misses += 1
            cur = nxt
        cur, misses, steps, width = start, 0, 0, 0
        while misses < patience and steps < max_steps and cur > self.lo:
            steps += 1
            if self.out(cur - 1) is None:
                break
            prev = self.step_start(cur - 1, width)
            width = cur - prev
            p = self.profit(prev)
            if p is not None and (best_profit is None or p >= best_profit):
                if best_profit is None or p > best_profit:
                    misses = 0
                best, best_profit = prev, p  # ties go to the smaller input
            else:
                misses += 1
            cur = prev
        return best

    def result(self, x: int | None, gas_cost_wei: int) -> Optimum:
        profit = None if x is None else self.profit(x)
        if x is None or profit is None or profit <= 0:
            return Optimum(0, 0, gas_cost=gas_cost_wei)
        out = self.out(x)
        assert out is not None
        return Optimum(x, profit - gas_cost_wei, out, flash_premium(x, self.premium_bps), gas_cost_wei)


def optimal_two_pool_v2(
    pool1: V2Pool, pool2: V2Pool, token_a: str, *, premium_bps: int = 0, gas_cost_wei: int = 0, patience: int = 16
) -> Optimum:
    """Closed-form optimal input for borrow A -> (pool1: A->B) -> (pool2: B->A) -> repay A plus premium.

    Derivation. Let pool1 hold (a1 of A, b1 of B), pool2 hold (b2 of B, a2 of A), and let fee fractions be
    g_i = n_i/d_i (997/1000 for 0.3 %). In real numbers one hop gives out(x) = g*x*R_out / (R_in + g*x); composing
    the two Moebius maps and clearing the denominators d1*d2 gives::

        f(x) = N*x / (D0 + D1*x)      N = n1*n2*b1*a2,  D0 = d1*d2*a1*b2,  D1 = n1*(d2*b2 + n2*b1)

    The borrowed x costs x*(1 + p/10000), so profit(x) = f(x) - x*(10000 + p)/10000, a concave function with
    f'(x) = N*D0 / (D0 + D1*x)**2. Setting profit'(x) = 0::

        (D0 + D1*x)**2 = N*D0*10000 / (10000 + p)   =>   x* = (sqrt(N*D0*10000/(10000 + p)) - D0) / D1

    which is positive iff f'(0) = N/D0 > (10000 + p)/10000; otherwise no input is profitable. x* is computed with
    ``math.isqrt`` (exact integer square root, no floats).

    The integer route floors each hop, so the integer profit is the concave curve minus a few wei of jitter, and
    its optimum sits near x* at the START of a step of the (monotone, step-shaped) route output: a smaller input with
    the same output is strictly cheaper. So: score x*-2 .. x*+2 and the least inputs that buy y*-2 .. y*+2 on the
    first hop (y* = out1(x*); least input for y = ceil(y*a1*d1 / (n1*(b1 - y)))) on the exact integer route
    (pair.swap checks included), then walk the output's steps outward from the best of them, scoring each at its
    cheapest input, until ``patience`` steps on a side come out worse. On small pools this equals a brute force over
    every input (tested); on deep pools the flat top can be wider than the walk, and the result is then within the
    floors' jitter of the optimum (a few wei, or one output step of a coarse intermediate token).
    """
    if pool1.address == pool2.address:
        raise ValueError("a two-pool cycle needs two different pools")
    token_b = pool1.other(token_a)
    if pool2.other(token_b) != token_a:
        raise ValueError(f"pool2 {pool2.address} does not trade {token_b} back into {token_a}")
    if premium_bps < 0:
        raise ValueError("premium_bps must be non-negative")
    route = (Hop(pool1, token_a, token_b), Hop(pool2, token_b, token_a))
    a1, b1 = (pool1.reserve0, pool1.reserve1) if token_a == pool1.token0 else (pool1.reserve1, pool1.reserve0)
    b2, a2 = (pool2.reserve0, pool2.reserve1) if token_b == pool2.token0 else (pool2.reserve1, pool2.reserve0)
    if min(a1, b1, a2, b2) <= 0:
        return Optimum(0, 0, gas_cost=gas_cost_wei)
    n1, d1 = fee_fraction(pool1.fee_bps)
    n2, d2 = fee_fraction(pool2.fee_bps)
    big_n = n1 * n2 * b1 * a2
    d0 = d1 * d2 * a1 * b2
    d1_ = n1 * (d2 * b2 + n2 * b1)
    if big_n * PERCENTAGE_FACTOR <= d0 * (PERCENTAGE_FACTOR + premium_bps):
        # no profit in real numbers, so none in integers either: the floors only lower the output, and the premium's
        # half-up rounding lowers it by less than 1/2 wei, so the integer profit is < 1/2, i.e. <= 0
        return Optimum(0, 0, gas_cost=gas_cost_wei)
    root = math.isqrt(big_n * d0 * PERCENTAGE_FACTOR // (PERCENTAGE_FACTOR + premium_bps))
    x_star = max(1, (root - d0) // d1_)

    obj = _Objective(route, premium_bps, 1, a2 - 1)
    candidates = [x for x in range(x_star - 2, x_star + 3) if 1 <= x < a2]
    # and the least inputs that buy y* - 2 .. y* + 2 on the first hop (y* = its output at x*): also covers a first
    # hop that pays nothing at x* (tiny or unprofitable pools)
    y_star = n1 * x_star * b1 // (d1 * a1 + n1 * x_star)
    candidates += [-(-y * a1 * d1 // (n1 * (b1 - y))) for y in range(max(1, y_star - 2), y_star + 3) if y < b1]
    scored = [x for x in candidates if obj.profit(x) is not None]
    if not scored:
        return Optimum(0, 0, gas_cost=gas_cost_wei)
    x0 = max(scored, key=lambda x: (obj.profit(x), -x))  # type: ignore[arg-type, return-value]
    return obj.result(obj.polish(x0, patience), gas_cost_wei)


def max_output(hop: Hop) -> int:
    """The most the hop's pool can pay out in its direction: a V2 reserve minus 1 wei, or for V3 everything down to
    the price bound (an exact-output swap of "all" walks every initialized tick)."""
    pool = hop.pool
    if isinstance(pool, V2Pool):
        return (pool.reserve1 if hop.token_in == pool.token0 else pool.reserve0) - 1
    zero_for_one = hop.token_in == pool.token0
    amount0, amount1, _ = pool.swap(zero_for_one, MIN_INT256 + 1)
    return -(amount1 if zero_for_one else amount0)


def optimal_route_input(
    route: Route,
    *,
    lo: int = 1,
    hi: int | None = None,
    premium_bps: int = 0,
    gas_cost_wei: int = 0,
    local_scan: int = 16,
) -> Optimum:
    """Maximise route_output(x) - x - premium(x) over integers x in [lo, hi] for any route (V2, V3, multi-hop).

    ``hi`` defaults to the last hop's :func:`max_output` (a larger input cannot be repaid), and is lowered to the
    largest input no V3 hop fills only partially (bisection; the optimum can sit right at that cliff). The search:

    0. scans every input if [lo, hi] holds at most 4 * local_scan + 1 of them; otherwise
    1. brackets the optimum by sampling [lo, hi] at geometrically spaced points (lo + w/2**k and lo + 3w/2**(k+2));
       inputs whose route reverts (zero outputs, V3 partial fills) count as -infinity;
    2. narrows the bracket around the best sample with a golden-section search on the exact integer profit (profit is
       concave in theory; ties keep the middle, which is right for a concave function with a flat top);
    3. scans the last few integers of the bracket, then walks the route output's steps outward from the best point
       evaluated so far (each step scored at its cheapest input) until ``local_scan`` steps on a side come out worse
       (see :meth:`_Objective.polish`): this absorbs the floors' wei-level jitter, wide output steps (a coarse
       intermediate token), staircases and tick-crossing kinks.

    Exact (equal to a brute force) on small pools, as the tests check; on deep pools the flat top spans more steps
    than the walk, and the result is within the step jitter of the optimum (nano-ETH scale, see the tests).
    """
    if not route:
        raise ValueError("empty route")
    if route[0].token_in != route[-1].token_out:
        raise ValueError("route is not a cycle: the profit must be in the borrowed token")
    if hi is None:
        hi = max_output(route[-1])
    lo = max(lo, 1)
    if hi < lo:
        return Optimum(0, 0, gas_cost=gas_cost_wei)

    obj = _Objective(route, premium_bps, lo, hi)
    hi = obj.hi = obj.feasible_hi()
    if hi < lo:
        return Optimum(0, 0, gas_cost=gas_cost_wei)
    _golden(obj.profit, lo, hi, local_scan)
    x = obj.best_seen()  # the best point the bracketing and the golden section evaluated
    return obj.result(None if x is None else obj.polish(x, local_scan), gas_cost_wei)


def _better(a: int | None, b: int | None) -> bool:
    """a strictly better than b, where None (a revert) is -infinity."""
    return a is not None and (b is None or a > b)


def _golden(profit: Callable[[int], int | None], lo: int, hi: int, local_scan: int) -> int | None:
    width = hi - lo
    if width <= 4 * local_scan:  # small enough to look at every input
        best = lo
        for x in range(lo, hi + 1):
            if _better(profit(x), profit(best)):
                best = x
        return best if profit(best) is not None else None
    points = {lo, hi}
    k = 1
    while width >> k:
        points.add(lo + (width >> k))
        points.add(lo + ((3 * width) >> (k + 1)))
        k += 1
    samples = sorted(points)
    best_i = 0
    for i, x in enumerate(samples):
        if _better(profit(x), profit(samples[best_i])):
            best_i = i
    if profit(samples[best_i]) is None:
        return None
    a = samples[max(best_i - 1, 0)]
    b = samples[min(best_i + 1, len(samples) - 1)]

    # golden-section search on [a, b] (integers; the cache makes the reused interior point free)
    inv_phi_num, inv_phi_den = 618_033_988_749_895, 1_000_000_000_000_000
    while b - a > 2 * local_scan + 2:
        step = (b - a) * inv_phi_num // inv_phi_den
        m1, m2 = b - step, a + step
        if m1 >= m2:
            break
        p1, p2 = profit(m1), profit(m2)
        if _better(p1, p2):
            b = m2 - 1
        elif _better(p2, p1):
            a = m1 + 1
        else:  # equal (flat top) or both revert: keep the middle
            if p1 is None:
                break
            a, b = m1, m2
    best = a
    for x in range(a, b + 1):
        if _better(profit(x), profit(best)):
            best = x
    return best if profit(best) is not None else None
