from datetime import UTC, datetime
from decimal import Decimal

from arb.amm.optimal import flash_premium
from arb.amm.route import make_route, route_output
from arb.amm.v2 import V2Pool
from arb.detect.onchain import ChainMarket, OnchainDetector
from arb.execute.flashloan import PlanBook
from arb.market.source import ChainSnapshot, MarketBatch
from tests.factories import Counter

T = datetime(2022, 12, 13, 0, 0, 12, tzinfo=UTC)
WETH, USDC = "0x" + "11" * 20, "0x" + "22" * 20
E18, E6 = 10**18, 10**6


def market(premium=5):
    return ChainMarket(name="ethereum", symbols={WETH: "WETH", USDC: "USDC"}, decimals={WETH: 18, USDC: 6},
                       venues={"0xp1": "uniswap-v2", "0xp2": "sushiswap"}, native=WETH, usd=USDC,
                       flash_assets=frozenset({WETH, USDC}), premium_bps=premium, priority_fee_wei=10**9)


def snapshot(gap_bps: int, base_fee=10 * 10**9):
    # WETH is token0 (lower address). Pool 1 at 1320 USDC, pool 2 higher by gap_bps.
    p1 = V2Pool("0xp1", WETH, USDC, 5_000 * E18, 5_000 * 1320 * E6)
    p2 = V2Pool("0xp2", WETH, USDC, 3_000 * E18, 3_000 * 1320 * (10_000 + gap_bps) * E6 // 10_000)
    return ChainSnapshot("ethereum", 31337, 7, T, base_fee, {p.address: p for p in (p1, p2)})


def find(snap, premium=5):
    plans = PlanBook()
    det = OnchainDetector({"ethereum": market(premium)}, plans)
    opps = det.find(MarketBatch(at=T, books=(), chains=(snap,)), None, T, Counter("o"))
    return opps, plans, det


def test_two_pool_cycle_priced_exactly_with_premium_and_gas():
    snap = snapshot(150)
    opps, plans, det = find(snap)
    assert opps, "a 150 bps gap between two 0.3% pools is an arbitrage"
    best = max(opps, key=lambda o: o.net_profit)
    assert best.kind == "flash_loan" and best.chain == "ethereum"
    # Buy WETH where it is cheap (uniswap-v2), sell it where it is dear (sushiswap), whichever asset is borrowed.
    assert best.route_id in ("ethereum:USDC>uniswap-v2>WETH>sushiswap>USDC",
                             "ethereum:WETH>sushiswap>USDC>uniswap-v2>WETH")
    plan = plans(best)
    route = make_route([snap.pools[h.pool] for h in plan.hops], plan.asset)
    out = route_output(route, plan.amount)
    premium = flash_premium(plan.amount, 5)
    assert plan.predicted_profit_wei == out - plan.amount - premium
    assert best.gross_profit_wei == out - plan.amount
    assert best.net_profit == best.gross_profit - best.fees - best.gas
    assert best.gas_wei == plan.gas_estimate * (10 * 10**9 + 10**9)
    assert 1 <= plan.min_profit and best.net_profit_wei == plan.predicted_profit_wei - plan.min_profit
    # The optimum beats its neighbours on the exact integer function.
    for dx in (-10**15, 10**15):
        x = plan.amount + dx if plan.asset == WETH else plan.amount + dx // 10**12
        assert route_output(route, x) - x - flash_premium(x, 5) <= plan.predicted_profit_wei


def test_small_gap_is_no_opportunity_and_premium_matters():
    assert find(snapshot(50))[0] == []  # below two 0.3% fees
    with_premium = max(o.net_profit for o in find(snapshot(150), premium=5)[0])
    higher = max(o.net_profit for o in find(snapshot(150), premium=50)[0])
    assert higher < with_premium


def test_gas_price_lowers_net_profit():
    cheap = max(o.net_profit for o in find(snapshot(150, base_fee=1 * 10**9))[0])
    dear = max(o.net_profit for o in find(snapshot(150, base_fee=200 * 10**9))[0])
    assert dear < cheap and Decimal(0) < cheap


def test_cex_dex_edge_detected_and_rejected_by_the_decider():
    from arb.detect.onchain import CexDexParams
    from arb.domain import Action
    from arb.market.validate import MarketState
    from tests.factories import book
    from tests.unit.test_decider import decider

    wbtc = "0x" + "33" * 20
    assert USDC < wbtc  # token0 is the lower address
    pool = V2Pool("0xp3", USDC, wbtc, 2_000_000 * E6, 2_000_000 * 10**8 // 17_200)
    snap = ChainSnapshot("ethereum", 31337, 7, T, 10**9, {pool.address: pool, **snapshot(0).pools})
    m = ChainMarket(name="ethereum", symbols={WETH: "WETH", USDC: "USDC", wbtc: "WBTC"},
                    decimals={WETH: 18, USDC: 6, wbtc: 8}, venues={"0xp3": "uniswap-v2"}, native=WETH, usd=USDC,
                    flash_assets=frozenset(), premium_bps=5)
    state = MarketState()
    cex = book("bybit", "BTC/USDT", [("17400", "5")], [("17401", "5")], at=T)
    state.apply(MarketBatch(at=T, books=(cex,)), T, 5000)
    det = OnchainDetector({"ethereum": m}, PlanBook(), cex_dex=CexDexParams(
        trade_size_usd=Decimal(10_000), fee=lambda v, s: Decimal("0.001"), quote_usd={"USDT": Decimal(1)},
        max_age_ms=5000))
    opps = det.find(MarketBatch(at=T, books=(), chains=(snap,)), state, T, Counter("o"))
    [edge] = [o for o in opps if o.kind == "cex_arb"]
    assert edge.route_id == "BTC:ethereum:uniswap-v2->bybit" and edge.chain == "ethereum"
    assert edge.net_profit == edge.gross_profit - edge.fees - edge.gas and edge.net_profit > 0
    [d] = decider(min_edge_bps=Decimal(1)).decide([edge], now=T, vol_bps=lambda o: None, routes={})
    assert d.action is Action.REJECT and any("detection only" in r for r in d.reasons)
