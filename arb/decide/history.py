"""Route history: the design's adaptive learning rules.

- success rate, an EMA per route: ``new = old * (1 - alpha) + result * alpha`` (result is 1 for a profitable
  execution, 0 otherwise);
- profit capture ratio, ``actual / predicted``, also an EMA.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from arb.domain import ExecutionRecord

PRIOR_SUCCESS = 0.5  # an unseen route is a coin flip
PRIOR_CAPTURE = 1.0  # and is assumed to capture what it predicts
CAPTURE_CLIP = (-2.0, 2.0)  # one wild fill must not dominate the ratio


@dataclass(frozen=True)
class RouteStats:
    route_id: str
    success_ema: float = PRIOR_SUCCESS
    capture_ratio_ema: float = PRIOR_CAPTURE
    n_executions: int = 0
    n_success: int = 0
    realized_profit: Decimal = Decimal(0)
    predicted_profit: Decimal = Decimal(0)
    updated_at: datetime | None = None
    scope: str = "default"


def update_route(stats: RouteStats, rec: ExecutionRecord, alpha: float = 0.1) -> RouteStats:
    result = 1.0 if rec.success else 0.0
    if rec.predicted_profit > 0:
        ratio = float(rec.actual_profit / rec.predicted_profit)
        ratio = min(max(ratio, CAPTURE_CLIP[0]), CAPTURE_CLIP[1])
    else:
        ratio = stats.capture_ratio_ema
    return replace(
        stats,
        success_ema=stats.success_ema * (1 - alpha) + result * alpha,
        capture_ratio_ema=stats.capture_ratio_ema * (1 - alpha) + ratio * alpha,
        n_executions=stats.n_executions + 1,
        n_success=stats.n_success + int(rec.success),
        realized_profit=stats.realized_profit + rec.actual_profit,
        predicted_profit=stats.predicted_profit + rec.predicted_profit,
        updated_at=rec.timestamp,
    )
