from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.detect.cex import EdgeParams, Route, find_opportunities, price_route, routes_for, walk
from arb.errors import BadInput
from tests.factories import T0, D, book

RATES = {"USDT": D(1), "BUSD": D(1), "USD": D(1)}


def params(fee_b="0", fee_s="0.001", size="5000", cap="1e9", rates=RATES):
    fees = {("binance", "BTC/BUSD"): D(fee_b), ("bybit", "BTC/USDT"): D(fee_s)}
    return EdgeParams(trade_size_usd=D(size), max_position_usd=D(cap), quote_usd=rates,
                      fee=lambda v, s: fees.get((v, s), D(0)))


ROUTE = Route("bybit", "BTC/USDT", "binance", "BTC/BUSD")


def books(ask="17000", bid="17030", amt="1"):
    buy = book("bybit", "BTC/USDT", [("16999", amt)], [(ask, amt)])
    sell = book("binance", "BTC/BUSD", [(bid, amt)], [("17031", amt)])
    return buy, sell


def test_walk_vwap_across_levels():
    levels = book("x", "BTC/USDT", [], [("100", "1"), ("101", "1"), ("102", "5")]).asks
    filled, cost = walk(levels, D("2.5"))
    assert filled == D("2.5")
    assert cost == D(100) + D(101) + D("0.5") * D(102)
    filled, cost = walk(levels, D("3"), limit=D("101"), side="buy")
    assert filled == D(2) and cost == D(201)


def test_price_route_exact_money():
    buy, sell = books()
    o = price_route(ROUTE, buy, sell, params(size="17000"), observed_at=T0, opportunity_id="o1")
    assert o is not None
    assert o.size == D(1)
    assert o.gross_profit == D(30)
    assert o.fees == D("17")  # 0.10% of the 17,000 USDT purchase on Bybit; Binance BTC/BUSD 0%
    assert o.net_profit == D("13")
    assert o.route_id == "BTC/USDT~BTC/BUSD:bybit->binance"
    assert o.edge_bps == (D("13") / D(17000) * 10000).quantize(D("0.000001"))
    assert o.size_capped_by is None


def test_no_gross_edge_is_no_opportunity():
    buy, sell = books(ask="17030", bid="17000")
    assert price_route(ROUTE, buy, sell, params(), observed_at=T0, opportunity_id="o1") is None


def test_size_capped_by_depth_and_position():
    buy, sell = books(amt="0.1")
    o = price_route(ROUTE, buy, sell, params(size="17000"), observed_at=T0, opportunity_id="o1")
    assert o.size == D("0.1") and o.size_capped_by == "depth"
    buy, sell = books(amt="10")
    o = price_route(ROUTE, buy, sell, params(size="17000", cap="1700"), observed_at=T0, opportunity_id="o1")
    assert o.size == D("0.1") and o.size_capped_by == "position_cap"


def test_quote_currencies_are_never_silently_equal():
    buy, sell = books()
    with pytest.raises(BadInput) as e:
        price_route(ROUTE, buy, sell, params(rates={"USDT": D(1)}), observed_at=T0, opportunity_id="o1")
    assert e.value.reason == "no_quote_rate" and "BUSD" in str(e.value)
    # A BUSD discount shows up in the edge: selling for BUSD worth 0.99 USD kills this gap.
    o = price_route(ROUTE, buy, sell, params(rates={"USDT": D(1), "BUSD": D("0.99")}), observed_at=T0,
                    opportunity_id="o1")
    assert o is None


def test_routes_pair_same_base_across_venues():
    r = routes_for([("binance", "BTC/BUSD"), ("bybit", "BTC/USDT"), ("bybit", "ETH/USDT")])
    assert {x.route_id for x in r} == {"BTC/BUSD~BTC/USDT:binance->bybit", "BTC/USDT~BTC/BUSD:bybit->binance"}


def test_find_opportunities_ids_only_for_positive_edges():
    buy, sell = books()
    n = iter(range(1, 100))
    opps = find_opportunities({("bybit", "BTC/USDT"): buy, ("binance", "BTC/BUSD"): sell},
                              routes_for([("bybit", "BTC/USDT"), ("binance", "BTC/BUSD")]), params(),
                              observed_at=T0, next_id=lambda: f"o{next(n)}")
    assert [o.id for o in opps] == ["o1"] and opps[0].buy_venue == "bybit"


prices = st.decimals(min_value="1000", max_value="100000", places=2)
fee_rates = st.decimals(min_value="0", max_value="0.01", places=5)


@given(ask=prices, gap_bps=st.integers(1, 300), f1=fee_rates, f2=fee_rates, extra=fee_rates)
def test_fees_never_raise_net_profit(ask, gap_bps, f1, f2, extra):
    bid = (ask * (1 + Decimal(gap_bps) / 10000)).quantize(D("0.01"))
    buy, sell = books(ask=str(ask), bid=str(bid), amt="2")
    lo = price_route(ROUTE, buy, sell, params(fee_b=f1, fee_s=f2), observed_at=T0, opportunity_id="a")
    hi = price_route(ROUTE, buy, sell, params(fee_b=f1 + extra, fee_s=f2 + extra), observed_at=T0, opportunity_id="b")
    if lo is None:
        assert hi is None
        return
    assert lo.net_profit <= lo.gross_profit
    assert hi.net_profit <= lo.net_profit
    assert hi.edge_bps <= lo.edge_bps
    assert lo.net_profit == lo.gross_profit - lo.fees - lo.gas
