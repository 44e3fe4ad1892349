from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from arb.domain.base import Frozen


class Action(StrEnum):
    EXECUTE = "execute"
    REJECT = "reject"
    DEFER = "defer"


class Decision(Frozen):
    """The full trace of one decision, taken or not: every factor, every reason, every threshold in force."""

    id: str
    opportunity_id: str
    route_id: str
    action: Action
    confidence: float
    factors: dict[str, float]  # factor name -> value in [0, 1]
    weights: dict[str, float]  # factor name -> weight used to combine it
    reasons: tuple[str, ...]
    thresholds: dict[str, str]  # name -> value, as strings so Decimals stay exact
    ai_mode: str
    model_version: str | None = None
    decided_at: datetime
    size: Decimal  # base units approved (0 when not executed)
    features: tuple[float, ...] = ()  # the model input at decision time (see arb.decide.features)
    feature_version: str | None = None  # names/order/transforms of ``features``, e.g. "f16.v1"

    @property
    def executes(self) -> bool:
        return self.action is Action.EXECUTE
