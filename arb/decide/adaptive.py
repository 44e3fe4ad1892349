"""Adaptive confidence thresholds: the design's "adjust confidence thresholds" step of adaptive learning.

The rule (pure; applied per route, from the route's history as of decision time):

- A route with fewer than ``MIN_EXECUTIONS`` (5) executions uses the mode's min confidence unchanged.
- A route that keeps failing is made harder to take: with success EMA ``s`` below ``LOW_SUCCESS`` (0.5), the min
  confidence rises by ``MAX_RAISE`` x (0.5 - s) / 0.5, i.e. up to +0.10 for a route that always fails.
- A route that keeps delivering is made slightly easier: with ``s`` above ``HIGH_SUCCESS`` (0.8) AND a profit capture
  EMA of at least ``MIN_CAPTURE`` (0.9: it realizes what it predicts), the min confidence falls by
  ``MAX_LOWER`` x (s - 0.8) / 0.2, i.e. at most -0.05.
- Bounds: the result always lies in [base - 0.05, min(base + 0.10, 0.95)], so learning can never take a mode far from
  its documented preset (conservative 0.75 stays within 0.70-0.85).

Every decision records the base and the effective threshold (``thresholds.min_confidence`` /
``min_confidence_effective``) and the reason names the effective one, so the adaptation is audited row by row.
"""

from __future__ import annotations

from arb.decide.history import RouteStats

MIN_EXECUTIONS = 5
LOW_SUCCESS = 0.5
HIGH_SUCCESS = 0.8
MIN_CAPTURE = 0.9
MAX_RAISE = 0.10
MAX_LOWER = 0.05
CEILING = 0.95


def effective_min_confidence(base: float, route: RouteStats | None) -> float:
    if route is None or route.n_executions < MIN_EXECUTIONS:
        return base
    s = route.success_ema
    delta = 0.0
    if s < LOW_SUCCESS:
        delta = MAX_RAISE * (LOW_SUCCESS - s) / LOW_SUCCESS
    elif s > HIGH_SUCCESS and route.capture_ratio_ema >= MIN_CAPTURE:
        delta = -MAX_LOWER * min(1.0, (s - HIGH_SUCCESS) / (1 - HIGH_SUCCESS))
    lo, hi = base - MAX_LOWER, min(base + MAX_RAISE, max(base, CEILING))
    return min(hi, max(lo, round(base + delta, 6)))
