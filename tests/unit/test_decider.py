from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.decide.decider import Decider, Thresholds
from arb.decide.history import RouteStats, update_route
from arb.decide.scoring import HeuristicScorer, ScoreContext
from arb.domain import Action, ExecutionRecord, Opportunity
from arb.errors import Rejected
from arb.execute.paper import PaperCexExecutor
from arb.risk.limits import RiskLimits, RiskManager, RiskState
from tests.factories import T0, Counter, D, later


def opp(i=1, edge="8", net="5", gross="15", fees="10", notional="5000", depth="50000", route="r1") -> Opportunity:
    return Opportunity(
        id=f"o{i}", kind="cex_arb", route_id=route, symbol="BTC/USDT", sell_symbol="BTC/BUSD", buy_venue="bybit",
        sell_venue="binance", size=D("0.3"), buy_price=D(17000), sell_price=D(17030), notional_usd=D(notional),
        gross_edge_bps=D(edge) + 10, edge_bps=D(edge), gross_profit=D(gross), fees=D(fees), net_profit=D(net),
        liquidity_depth=D(depth), observed_at=T0, data_age_ms=0,
    )


def thresholds(**kw):
    base = dict(ai_mode="aggressive", min_confidence=0.5, min_edge_bps=D(2), cex_min_profit_usd=D("0.5"),
                flash_loan_min_profit_eth=D("0.15"), eth_usd_price=D(1300))
    base.update(kw)
    return Thresholds(**base)


def decider(limits=None, **kw):
    risk = RiskManager(limits or RiskLimits(), RiskState(scope="t", day=T0.date()))
    return Decider(HeuristicScorer(), thresholds(**kw), risk, Counter("d"))


def decide(d, opps, at=T0, vol=5.0):
    return d.decide(opps, now=at, vol_bps=lambda o: vol, routes={})


def test_factors_in_unit_interval_and_recorded():
    [dec] = decide(decider(), [opp()])
    assert set(dec.factors) == {"edge_quality", "execution_risk", "market_regime", "liquidity_depth", "route_history"}
    assert all(0 <= v <= 1 for v in dec.factors.values())
    assert 0 <= dec.confidence <= 1
    assert dec.thresholds["min_edge_bps"] == "2" and dec.ai_mode == "aggressive" and dec.model_version is None


def test_conservative_min_edge_rejects_with_reason():
    [dec] = decide(decider(min_edge_bps=D(40), min_confidence=0.75, ai_mode="conservative"), [opp()])
    assert dec.action is Action.REJECT and dec.size == 0
    assert any("net edge 8.00 bps" in r and "< min edge 40 bps (conservative)" in r for r in dec.reasons)


def test_min_profit_threshold():
    [dec] = decide(decider(cex_min_profit_usd=D(50)), [opp()])
    assert dec.action is Action.REJECT
    assert any("net profit $5.00 < min profit $50" in r for r in dec.reasons)


def test_best_of_batch_executes_rest_deferred_by_cooldown():
    ds = decide(decider(), [opp(1, net="2", edge="3"), opp(2, net="9", edge="9"), opp(3, net="5")])
    by = {d.opportunity_id: d for d in ds}
    assert by["o2"].action is Action.EXECUTE
    assert by["o1"].action is Action.DEFER and any("cooldown" in r for r in by["o1"].reasons)
    assert ds[0].opportunity_id == "o2"  # ranked best first


def test_daily_limit_rejects():
    d = decider(limits=RiskLimits(max_daily_executions=1, cooldown_s=0))
    assert decide(d, [opp(1)])[0].action is Action.EXECUTE
    [dec] = decide(d, [opp(2)], at=later(10))
    assert dec.action is Action.REJECT and any("daily executions 1 reached" in r for r in dec.reasons)


def test_executor_refuses_a_rejected_decision():
    [dec] = decide(decider(min_edge_bps=D(40)), [opp()])
    ex = PaperCexExecutor(latency_ms=0, slippage_tolerance_bps=D(5), fee=lambda v, s: D(0),
                          quote_usd={"USDT": D(1), "BUSD": D(1)}, next_id=Counter("x"))
    with pytest.raises(Rejected):
        ex.submit(dec, opp(), T0)
    assert ex.in_flight == 0


def test_route_history_ema():
    s = RouteStats("r1")
    rec = ExecutionRecord(timestamp=T0, symbol="BTC/USDT", edge_bps=D(5), predicted_profit=D(10), actual_profit=D(5),
                          success=True, gas_cost=D(0), slippage_bps=D(3), route_id="r1")
    s2 = update_route(s, rec, alpha=0.1)
    assert s2.success_ema == pytest.approx(0.5 * 0.9 + 1 * 0.1)
    assert s2.capture_ratio_ema == pytest.approx(1.0 * 0.9 + 0.5 * 0.1)
    assert (s2.n_executions, s2.n_success, s2.realized_profit) == (1, 1, D(5))
    fail = rec.model_copy(update={"success": False, "actual_profit": D(-3)})
    s3 = update_route(s2, fail, alpha=0.1)
    assert s3.success_ema == pytest.approx(s2.success_ema * 0.9)


def test_history_raises_confidence_for_a_proven_route():
    sc = HeuristicScorer()
    good = RouteStats("r1", success_ema=0.95, capture_ratio_ema=0.9, n_executions=50)
    bad = RouteStats("r1", success_ema=0.1, capture_ratio_ema=0.2, n_executions=50)
    ctx = dict(vol_bps=5.0, min_edge_bps=D(2))
    assert sc.score(opp(), ScoreContext(route=good, **ctx)).confidence > \
        sc.score(opp(), ScoreContext(route=None, **ctx)).confidence > \
        sc.score(opp(), ScoreContext(route=bad, **ctx)).confidence


@given(st.lists(st.tuples(st.integers(-20, 40), st.integers(-5, 30), st.floats(0, 200)), min_size=1, max_size=12),
       st.integers(0, 60), st.integers(1, 4))
def test_a_rejected_decision_never_executes(specs, step, max_conc):
    """Whatever the batch, only EXECUTE decisions reach the executor and they pass every threshold."""
    d = decider(limits=RiskLimits(max_concurrent=max_conc, cooldown_s=3, max_daily_executions=5))
    ex = PaperCexExecutor(latency_ms=0, slippage_tolerance_bps=D(5), fee=lambda v, s: D(0),
                          quote_usd={"USDT": D(1), "BUSD": D(1)}, next_id=Counter("x"))
    opps = [opp(i, edge=str(e), net=str(n), gross=str(abs(n) + 10)) for i, (e, n, _) in enumerate(specs)]
    by_id = {o.id: o for o in opps}
    ds = decide(d, opps, at=later(step))
    assert len(ds) == len(opps) and {x.opportunity_id for x in ds} == set(by_id)
    for dec in ds:
        o = by_id[dec.opportunity_id]
        if dec.action is Action.EXECUTE:
            ex.submit(dec, o, later(step))
            assert o.edge_bps >= 2 and o.net_profit >= Decimal("0.5") and dec.confidence >= 0.5
        else:
            assert dec.size == 0 and dec.reasons
            with pytest.raises(Rejected):
                ex.submit(dec, o, later(step))
    assert ex.in_flight == sum(x.action is Action.EXECUTE for x in ds) <= 1
