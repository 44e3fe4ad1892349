"""The design's multi-factor score, without ML (the learned model plugs in later behind ``Scorer``).

Each factor is a number in [0, 1]; higher is better. Confidence is their weighted mean, so it stays in [0, 1].

=================  ==========================================================================================
edge_quality       1 - exp(-net_edge_bps / edge_scale_bps); 0 for a non-positive net edge. With the default
                   scale (the mode's min edge), an edge exactly at the min edge scores 0.63.
execution_risk     cost efficiency: 1 - (fees + gas) / gross profit, clipped to [0, 1]. On-chain this is the
                   design's gas efficiency; off-chain, fees play the part of gas.
market_regime      1 / (1 + vol / vol_ref): calm markets score near 1, a market moving vol_ref bps per
                   sqrt(minute) scores 0.5 (legging risk grows with volatility). 0.5 before any estimate.
liquidity_depth    min(1, depth on the thinner side / (depth_multiple x trade notional)).
route_history      success EMA x clip(capture-ratio EMA, 0, 1), shrunk toward the 0.5 prior while the route has
                   few executions: w = n / (n + prior_weight).
=================  ==========================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from arb.decide.features import FEATURE_VERSION, features
from arb.decide.history import PRIOR_SUCCESS, RouteStats
from arb.domain import Opportunity

DEFAULT_WEIGHTS: dict[str, float] = {
    "edge_quality": 0.30,
    "execution_risk": 0.20,
    "market_regime": 0.15,
    "liquidity_depth": 0.15,
    "route_history": 0.20,
}


@dataclass(frozen=True)
class ScoreContext:
    """What the scorer may know at decision time (no look-ahead)."""

    vol_bps: float | None
    route: RouteStats | None
    min_edge_bps: Decimal


@dataclass(frozen=True)
class Score:
    confidence: float
    factors: dict[str, float]
    weights: dict[str, float]
    model_version: str | None = None
    features: tuple[float, ...] = ()
    feature_version: str | None = None  # arb.decide.features.FEATURE_VERSION when ``features`` is that vector


class Scorer(Protocol):
    def score(self, opp: Opportunity, ctx: ScoreContext) -> Score: ...


def _clip(x: float) -> float:
    if math.isnan(x):
        return 0.0
    return 0.0 if x < 0 else 1.0 if x > 1 else x


@dataclass(frozen=True)
class HeuristicScorer:
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    vol_ref_bps: float = 20.0
    depth_multiple: float = 5.0
    prior_weight: float = 5.0
    edge_scale_bps: float | None = None  # None: the mode's min edge (at least 1 bps)

    def factors(self, opp: Opportunity, ctx: ScoreContext) -> dict[str, float]:
        scale = self.edge_scale_bps if self.edge_scale_bps is not None else max(float(ctx.min_edge_bps), 1.0)
        edge = float(opp.edge_bps)
        edge_q = 0.0 if edge <= 0 else 1.0 - math.exp(-edge / scale)
        gross = float(opp.gross_profit)
        costs = float(opp.fees + opp.gas)
        exec_risk = _clip(1.0 - costs / gross) if gross > 0 else 0.0
        regime = 0.5 if ctx.vol_bps is None else 1.0 / (1.0 + ctx.vol_bps / self.vol_ref_bps)
        notional = float(opp.notional_usd)
        liq = _clip(float(opp.liquidity_depth) / (self.depth_multiple * notional)) if notional > 0 else 0.0
        r = ctx.route
        if r is None or r.n_executions == 0:
            hist = PRIOR_SUCCESS
        else:
            raw = r.success_ema * _clip(r.capture_ratio_ema)
            w = r.n_executions / (r.n_executions + self.prior_weight)
            hist = w * raw + (1 - w) * PRIOR_SUCCESS
        return {
            "edge_quality": _clip(edge_q),
            "execution_risk": exec_risk,
            "market_regime": _clip(regime),
            "liquidity_depth": liq,
            "route_history": _clip(hist),
        }

    def score(self, opp: Opportunity, ctx: ScoreContext) -> Score:
        f = self.factors(opp, ctx)
        w = {k: float(self.weights.get(k, 0.0)) for k in f}
        total = sum(w.values())
        conf = sum(f[k] * w[k] for k in f) / total if total > 0 else 0.0
        return Score(
            confidence=_clip(conf),
            factors=f,
            weights=w,
            model_version=None,
            features=features(opp, ctx),
            feature_version=FEATURE_VERSION,
        )
