"""The versioned 16-dimensional feature vector: shape, finiteness, determinism, monotonicity, storage round trip."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from arb.decide.decider import Decider, Thresholds
from arb.decide.features import FEATURE_NAMES, FEATURE_VERSION, features
from arb.decide.history import RouteStats
from arb.decide.scoring import HeuristicScorer, ScoreContext
from arb.domain import Opportunity
from arb.risk.limits import RiskLimits, RiskManager, RiskState
from tests.factories import T0, Counter, D

CTX = ScoreContext(vol_bps=5.0, route=None, min_edge_bps=D(2))


def idx(name: str) -> int:
    return FEATURE_NAMES.index(name)


def cex(edge="8", net="5", gross="15", fees="10", notional="5000", depth="50000", **over) -> Opportunity:
    fields = dict(
        id="o1",
        kind="cex_arb",
        route_id="r1",
        symbol="BTC/USDT",
        sell_symbol="BTC/BUSD",
        buy_venue="bybit",
        sell_venue="binance",
        size=D("0.3"),
        buy_price=D(17000),
        sell_price=D(17030),
        notional_usd=D(notional),
        gross_edge_bps=D(edge) + 10,
        edge_bps=D(edge),
        gross_profit=D(gross),
        fees=D(fees),
        net_profit=D(net),
        liquidity_depth=D(depth),
        observed_at=T0,
        data_age_ms=250,
    )
    fields.update(over)
    return Opportunity(**fields)


def flash(**over) -> Opportunity:
    fields = dict(
        kind="flash_loan",
        route_id="uniswap_v2:WETH>USDC>WETH",
        chain="ethereum",
        symbol="WETH/USDC",
        sell_symbol="WETH/USDC",
        buy_venue="uniswap_v2",
        sell_venue="sushiswap",
        gas=D("12.5"),
        gas_wei=10**16,
        gross_profit=D("300"),
        fees=D("0.9"),
        net_profit=D("286.6"),
        gross_edge_bps=D("60"),
        edge_bps=D("57.3"),
    )
    fields.update(over)
    return cex(**fields)


def assert_vector(v):
    assert len(v) == len(FEATURE_NAMES) == 16
    assert all(isinstance(x, float) and math.isfinite(x) for x in v), v


def test_sixteen_unique_names_and_a_version():
    assert len(FEATURE_NAMES) == 16 and len(set(FEATURE_NAMES)) == 16
    assert FEATURE_VERSION == "f16.v1"


def test_cex_vector():
    v = features(cex(), CTX)
    assert_vector(v)
    f = dict(zip(FEATURE_NAMES, v, strict=True))
    assert f["net_edge_bps"] == 8 and f["gross_edge_bps"] == 18
    assert f["log_net_profit_usd"] == math.log1p(5)
    assert f["fee_ratio"] == 10 / 15 and f["gas_ratio"] == 0
    assert f["log_notional_usd"] == math.log1p(5000) and f["log_depth_ratio"] == math.log1p(10)
    assert f["data_age_s"] == 0.25 and f["vol_bps"] == 5
    assert (f["kind_cex_arb"], f["kind_flash_loan"], f["kind_aqua"], f["on_chain"]) == (1, 0, 0, 0)
    assert (f["route_success_ema"], f["route_capture_ema"], f["route_log_executions"]) == (0.5, 1.0, 0.0)


def test_flash_loan_vector_with_route_history():
    route = RouteStats("uniswap_v2:WETH>USDC>WETH", success_ema=0.8, capture_ratio_ema=0.9, n_executions=12)
    v = features(flash(), ScoreContext(vol_bps=None, route=route, min_edge_bps=D(2)))
    assert_vector(v)
    f = dict(zip(FEATURE_NAMES, v, strict=True))
    assert (f["kind_cex_arb"], f["kind_flash_loan"], f["kind_aqua"], f["on_chain"]) == (0, 1, 0, 1)
    assert f["gas_ratio"] == 12.5 / 300 and f["vol_bps"] == -1.0  # documented "no estimate" default
    assert (f["route_success_ema"], f["route_capture_ema"], f["route_log_executions"]) == (0.8, 0.9, math.log1p(12))


def test_deterministic():
    assert features(cex(), CTX) == features(cex(), CTX)
    assert features(flash(), CTX) == features(flash(), CTX)


def test_monotone():
    i = idx("net_edge_bps")
    assert features(cex(edge="9"), CTX)[i] > features(cex(edge="8"), CTX)[i]
    i = idx("log_net_profit_usd")
    assert features(cex(net="50"), CTX)[i] > features(cex(net="5"), CTX)[i] > features(cex(net="-5"), CTX)[i]
    i = idx("log_depth_ratio")
    assert features(cex(depth="90000"), CTX)[i] > features(cex(depth="50000"), CTX)[i]
    i = idx("fee_ratio")
    assert features(cex(fees="12"), CTX)[i] > features(cex(fees="10"), CTX)[i]


def test_zero_and_pathological_inputs_use_defaults():
    v = features(cex(notional="0", gross="0", depth="0", net="0"), ScoreContext(float("nan"), None, D(2)))
    assert_vector(v)
    f = dict(zip(FEATURE_NAMES, v, strict=True))
    assert f["fee_ratio"] == 10 and f["gas_ratio"] == 0 and f["log_depth_ratio"] == 0 and f["vol_bps"] == -1
    v = features(cex(edge="Infinity", net="NaN", notional="1E-300", depth="1E+400", data_age_ms=10**400), CTX)
    assert_vector(v)


money = st.decimals(allow_nan=True, allow_infinity=True, min_value=None, max_value=None, places=None)
small = st.decimals(min_value=-(10**30), max_value=10**30, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["cex_arb", "flash_loan", "aqua"]),
    chain=st.none() | st.just("ethereum"),
    values=st.lists(money | small, min_size=8, max_size=8),
    age=st.integers(min_value=-(10**20), max_value=10**400),
    vol=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    route=st.none()
    | st.builds(
        RouteStats,
        route_id=st.just("r1"),
        success_ema=st.floats(),
        capture_ratio_ema=st.floats(),
        n_executions=st.integers(min_value=0, max_value=10**400),
    ),
)
def test_never_nan_or_inf(kind, chain, values, age, vol, route):
    notional, gross_edge, edge, gross, fees, gas, net, depth = values
    o = cex(
        kind=kind,
        chain=chain,
        notional_usd=notional,
        gross_edge_bps=gross_edge,
        edge_bps=edge,
        gross_profit=gross,
        fees=fees,
        gas=gas,
        net_profit=net,
        liquidity_depth=depth,
        data_age_ms=age,
    )
    v = features(o, ScoreContext(vol_bps=vol, route=route, min_edge_bps=D(2)))
    assert_vector(v)
    assert v == features(o, ScoreContext(vol_bps=vol, route=route, min_edge_bps=D(2)))


def test_scorer_and_decider_carry_the_vector():
    score = HeuristicScorer().score(cex(), CTX)
    assert score.features == features(cex(), CTX) and score.feature_version == FEATURE_VERSION
    t = Thresholds(
        ai_mode="aggressive",
        min_confidence=0.5,
        min_edge_bps=D(2),
        cex_min_profit_usd=D("0.5"),
        flash_loan_min_profit_eth=D("0.15"),
        eth_usd_price=D(1300),
    )
    d = Decider(HeuristicScorer(), t, RiskManager(RiskLimits(), RiskState(scope="t", day=T0.date())), Counter("d"))
    [dec] = d.decide([cex()], now=T0, vol_bps=lambda o: 5.0, routes={})
    assert dec.features == features(cex(), CTX) and dec.feature_version == FEATURE_VERSION


def test_stored_vector_round_trips_through_the_warehouse(tmp_path):
    from arb.warehouse import WarehouseWriter, migrate, read_query

    db = tmp_path / "wh.duckdb"
    migrate(db)
    t = Thresholds(
        ai_mode="aggressive",
        min_confidence=0.5,
        min_edge_bps=D(2),
        cex_min_profit_usd=D("0.5"),
        flash_loan_min_profit_eth=D("0.15"),
        eth_usd_price=D(1300),
    )
    d = Decider(HeuristicScorer(), t, RiskManager(RiskLimits(), RiskState(scope="t", day=T0.date())), Counter("d"))
    o = flash(id="o2")
    [dec] = d.decide([o], now=T0, vol_bps=lambda o: None, routes={})
    w = WarehouseWriter(db)
    w.add_decision(dec, o, "run-1")
    w.flush()
    stored, version = read_query(db, "SELECT features, feature_version FROM decisions")[0]
    assert tuple(stored) == dec.features and len(stored) == 16
    assert version == FEATURE_VERSION
