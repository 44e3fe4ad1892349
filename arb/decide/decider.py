"""The decider: score a batch of opportunities, select the best, apply thresholds and risk limits.

For every candidate it returns a ``Decision`` carrying every factor, the weights, the thresholds in force and the
reasons it was taken or not, so the warehouse holds a full decision trace.

Order of work for one batch:
1. score every opportunity (``Scorer``), and rank by expected value = confidence x net profit (best first);
2. thresholds: confidence >= min confidence; net edge >= the mode's min edge (after fees); net profit >= the
   path-specific minimum (CEX_MIN_PROFIT_USD for ``cex_arb``, FLASH_LOAN_MIN_PROFIT_ETH for ``flash_loan``); the
   path must be enabled;
3. risk: kill switch, daily executions, daily losses, position cap (hard: reject); concurrency and cooldown (soft:
   defer). The first candidate that clears everything executes; the risk state then counts it, so the cooldown defers
   the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from arb.decide.adaptive import effective_min_confidence
from arb.decide.history import RouteStats
from arb.decide.scoring import Score, ScoreContext, Scorer
from arb.domain import Action, Decision, Opportunity
from arb.risk.limits import RiskManager


@dataclass(frozen=True)
class Thresholds:
    ai_mode: str
    min_confidence: float
    min_edge_bps: Decimal
    cex_min_profit_usd: Decimal
    flash_loan_min_profit_eth: Decimal
    eth_usd_price: Decimal
    enable_cex: bool = True
    enable_flash_loans: bool = True
    enable_aqua: bool = True

    def as_trace(self) -> dict[str, str]:
        return {
            "min_confidence": str(self.min_confidence),
            "min_edge_bps": str(self.min_edge_bps),
            "cex_min_profit_usd": str(self.cex_min_profit_usd),
            "flash_loan_min_profit_eth": str(self.flash_loan_min_profit_eth),
        }


def threshold_reasons(opp: Opportunity, score: Score, t: Thresholds, min_confidence: float | None = None
                      ) -> list[str]:
    """Every threshold the opportunity fails, as readable reasons (empty = passes). ``min_confidence``: the route's
    adapted threshold (:mod:`arb.decide.adaptive`); default the mode's."""
    reasons = []
    min_conf = t.min_confidence if min_confidence is None else min_confidence
    if opp.kind == "cex_arb" and not t.enable_cex:
        reasons.append("CEX execution disabled (ENABLE_CEX_EXECUTION=false)")
    if opp.kind == "cex_arb" and opp.chain is not None:
        reasons.append("CEX<->DEX edge: detection only, no executor can do both legs atomically yet")
    if opp.kind == "flash_loan" and not t.enable_flash_loans:
        reasons.append("flash loans disabled (ENABLE_FLASH_LOANS=false)")
    if score.confidence < min_conf:
        adapted = "" if min_conf == t.min_confidence else f", adapted from {t.min_confidence:.2f} by route history"
        reasons.append(f"confidence {score.confidence:.3f} < min confidence {min_conf:.3f} ({t.ai_mode}{adapted})")
    if opp.edge_bps < t.min_edge_bps:
        reasons.append(
            f"net edge {opp.edge_bps:.2f} bps (gross {opp.gross_edge_bps:.2f} bps - fees) < min edge "
            f"{t.min_edge_bps} bps ({t.ai_mode})"
        )
    if opp.kind == "flash_loan":
        min_usd = t.flash_loan_min_profit_eth * t.eth_usd_price
        if opp.net_profit < min_usd:
            reasons.append(f"net profit ${opp.net_profit:.2f} < flash-loan min {t.flash_loan_min_profit_eth} ETH")
    elif opp.net_profit < t.cex_min_profit_usd:
        reasons.append(f"net profit ${opp.net_profit:.2f} < min profit ${t.cex_min_profit_usd} (CEX_MIN_PROFIT_USD)")
    return reasons


@dataclass
class Decider:
    scorer: Scorer
    thresholds: Thresholds
    risk: RiskManager
    next_id: Callable[[], str]

    def decide(
        self,
        opps: Sequence[Opportunity],
        *,
        now: datetime,
        vol_bps: Callable[[Opportunity], float | None],
        routes: Mapping[str, RouteStats],
    ) -> list[Decision]:
        t = self.thresholds
        items = [(o, ScoreContext(vol_bps=vol_bps(o), route=routes.get(o.route_id), min_edge_bps=t.min_edge_bps))
                 for o in opps]
        many = getattr(self.scorer, "score_many", None)  # a batch-capable scorer scores the batch in one call
        scores = many(items) if many is not None else [self.scorer.score(o, c) for o, c in items]
        scored: list[tuple[Opportunity, Score]] = list(zip(opps, scores, strict=True))
        # Best first: expected value, then net edge, then id for a deterministic order.
        scored.sort(key=lambda p: (-(p[1].confidence * float(p[0].net_profit)), -p[0].edge_bps, p[0].id))

        decisions = []
        for rank, (opp, score) in enumerate(scored, start=1):
            min_conf = effective_min_confidence(t.min_confidence, routes.get(opp.route_id))
            reasons = threshold_reasons(opp, score, t, min_conf)
            action = Action.REJECT if reasons else Action.EXECUTE
            # Capital at risk: the notional for a CEX trade; for a flash loan only the gas (the loan is repaid in the
            # same transaction or the transaction reverts).
            at_risk = opp.gas if opp.kind == "flash_loan" else opp.notional_usd
            blocks = self.risk.blocks(at_risk, now)
            reasons += [b.reason for b in blocks]
            if action is Action.EXECUTE and blocks:
                action = Action.REJECT if any(b.hard for b in blocks) else Action.DEFER
            if action is Action.EXECUTE:
                self.risk.on_submit(now)
                reasons.append(
                    f"selected: rank {rank}/{len(scored)} by expected value; confidence {score.confidence:.3f} >= "
                    f"{min_conf:.3f}, net edge {opp.edge_bps:.2f} >= {t.min_edge_bps} bps, "
                    f"net profit ${opp.net_profit:.2f}"
                )
            decisions.append(
                Decision(
                    id=self.next_id(),
                    opportunity_id=opp.id,
                    route_id=opp.route_id,
                    action=action,
                    confidence=score.confidence,
                    factors=score.factors,
                    weights=score.weights,
                    reasons=tuple(reasons),
                    thresholds={**t.as_trace(), "min_confidence_effective": str(min_conf)},
                    ai_mode=t.ai_mode,
                    model_version=score.model_version,
                    decided_at=now,
                    size=opp.size if action is Action.EXECUTE else Decimal(0),
                    features=score.features,
                    feature_version=score.feature_version,
                )
            )
        return decisions
