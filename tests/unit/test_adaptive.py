"""The adaptive confidence threshold (arb.decide.adaptive): its documented rule and bounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arb.decide.adaptive import effective_min_confidence
from arb.decide.history import RouteStats


def route(success: float, capture: float = 1.0, n: int = 20) -> RouteStats:
    return RouteStats(route_id="r", success_ema=success, capture_ratio_ema=capture, n_executions=n)


def test_no_or_little_history_keeps_the_mode_threshold():
    assert effective_min_confidence(0.75, None) == 0.75
    assert effective_min_confidence(0.75, route(0.0, n=4)) == 0.75


def test_a_failing_route_needs_more_confidence_up_to_plus_ten_points():
    assert effective_min_confidence(0.75, route(0.0)) == 0.85
    assert effective_min_confidence(0.75, route(0.25)) == 0.8
    assert effective_min_confidence(0.75, route(0.5)) == 0.75


def test_a_reliable_route_that_captures_its_profit_gets_at_most_five_points_off():
    assert effective_min_confidence(0.75, route(1.0, capture=0.95)) == 0.70
    assert effective_min_confidence(0.75, route(0.9, capture=0.95)) == 0.725
    assert effective_min_confidence(0.75, route(1.0, capture=0.5)) == 0.75  # wins, but realizes half: no discount


def test_the_ceiling_caps_a_high_base():
    assert effective_min_confidence(0.9, route(0.0)) == 0.95


@given(base=st.floats(0.5, 0.95), s=st.floats(0, 1), c=st.floats(0, 2), n=st.integers(0, 1000))
def test_always_within_the_documented_bounds(base, s, c, n):
    v = effective_min_confidence(base, route(s, c, n))
    assert base - 0.05 - 1e-9 <= v <= min(base + 0.10, max(base, 0.95)) + 1e-9


def test_the_decider_applies_and_records_the_adapted_threshold():
    from arb.decide.decider import Decider
    from arb.decide.scoring import HeuristicScorer
    from arb.domain import Action
    from arb.risk.limits import RiskLimits, RiskManager, RiskState
    from tests.factories import T0, Counter
    from tests.unit.test_decider import opp, thresholds

    def decide(routes):
        d = Decider(HeuristicScorer(), thresholds(min_confidence=0.5), RiskManager(
            RiskLimits(), RiskState(scope="t", day=T0.date())), Counter("d"))
        return d.decide([opp()], now=T0, vol_bps=lambda o: 5.0, routes=routes)[0]

    fresh = decide({})
    assert fresh.action is Action.EXECUTE and fresh.thresholds["min_confidence_effective"] == "0.5"
    # the same opportunity on a route that failed every time: the threshold rises by 0.10, to above its confidence
    failing = RouteStats("r1", success_ema=0.0, capture_ratio_ema=0.0, n_executions=30)
    dec = decide({"r1": failing})
    assert dec.thresholds["min_confidence"] == "0.5" and dec.thresholds["min_confidence_effective"] == "0.6"
    assert (dec.action is Action.REJECT) == (dec.confidence < 0.6)
    if dec.action is Action.REJECT:
        assert any("adapted from 0.50 by route history" in r for r in dec.reasons)
