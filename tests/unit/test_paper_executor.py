from arb.domain import Action, Decision, ExecutionStatus
from arb.execute.paper import PaperCexExecutor
from tests.factories import T0, Counter, D, book, later
from tests.unit.test_decider import opp

RATES = {"USDT": D(1), "BUSD": D(1)}
FEES = {("bybit", "BTC/USDT"): D("0.001"), ("binance", "BTC/BUSD"): D(0)}


def executor(latency_ms=250):
    return PaperCexExecutor(latency_ms=latency_ms, slippage_tolerance_bps=D(5), fee=lambda v, s: FEES[(v, s)],
                            quote_usd=RATES, next_id=Counter("x"))


def decision(o, size="0.3") -> Decision:
    return Decision(id="d1", opportunity_id=o.id, route_id=o.route_id, action=Action.EXECUTE, confidence=0.9,
                    factors={}, weights={}, reasons=("selected",), thresholds={}, ai_mode="aggressive",
                    decided_at=T0, size=D(size))


class Books:
    def __init__(self, *bs):
        self.m = {(b.venue, b.symbol): b for b in bs}

    def __call__(self, venue, symbol):
        return self.m.get((venue, symbol))


def test_waits_for_a_book_at_or_after_arrival():
    o = opp()  # buy bybit at 17000, sell binance at 17030, size 0.3
    ex = executor()
    ex.submit(decision(o), o, T0)
    same_time = Books(book("bybit", "BTC/USDT", [("16999", "1")], [("17000", "1")], at=T0),
                      book("binance", "BTC/BUSD", [("17030", "1")], [("17031", "1")], at=T0))
    assert ex.poll(later(0.1), same_time) == [] and ex.in_flight == 1
    nxt = later(60)
    moved = Books(book("bybit", "BTC/USDT", [("16999", "1")], [("17001", "1")], at=nxt),
                  book("binance", "BTC/BUSD", [("17025", "1")], [("17031", "1")], at=nxt))
    [x] = ex.poll(nxt, moved)
    assert x.status is ExecutionStatus.FILLED and ex.in_flight == 0
    # Fills at the NEW prices (within the IOC limits): 0.3 x (17025 - 17001) - 0.1% x 0.3 x 17001
    assert x.realized_profit == D("0.3") * (D(17025) - D(17001)) - D("0.3") * D(17001) * D("0.001")
    assert x.predicted_profit == D(5) and x.latency_ms == 60_000
    assert x.slippage_bps == ((D(5) - x.realized_profit) / D(5000) * 10000).quantize(D("0.000001"))
    assert {f.side for f in x.fills} == {"buy", "sell"}


def test_ioc_limit_partial_fill_unwinds_the_remainder():
    o = opp()
    ex = executor(latency_ms=0)
    ex.submit(decision(o), o, T0)
    nxt = later(60)
    # Bybit asks: only 0.1 within the buy limit (17000 x 1.0005 = 17008.5); Binance bids plenty at 17030.
    bs = Books(book("bybit", "BTC/USDT", [("16990", "5")], [("17005", "0.1"), ("17050", "5")], at=nxt),
               book("binance", "BTC/BUSD", [("17030", "5")], [("17031", "5")], at=nxt))
    [x] = ex.poll(nxt, bs)
    assert x.status is ExecutionStatus.PARTIAL
    buy, sell, unwind = x.fills
    assert buy.amount == D("0.1") and sell.amount == D("0.3")
    assert unwind.side == "buy" and unwind.amount == D("0.2") and unwind.venue == "binance" and unwind.price == 17031
    expected = D("0.3") * 17030 - D("0.1") * 17005 - D("0.2") * 17031 - D("0.1") * 17005 * D("0.001")
    assert x.realized_profit == expected and "unwound short 0.2" in x.note


def test_missed_when_prices_ran_away_and_drain_on_end():
    o = opp()
    ex = executor(latency_ms=0)
    ex.submit(decision(o), o, T0)
    nxt = later(60)
    bs = Books(book("bybit", "BTC/USDT", [("17100", "5")], [("17200", "5")], at=nxt),
               book("binance", "BTC/BUSD", [("16900", "5")], [("16901", "5")], at=nxt))
    [x] = ex.poll(nxt, bs)
    assert x.status is ExecutionStatus.MISSED and x.realized_profit == 0 and x.fills == ()
    ex.submit(decision(o).model_copy(update={"id": "d2"}), o, nxt)
    [y] = ex.drain(nxt, bs)  # no book at or after arrival... arrival == nxt, so it fills against nxt books
    assert y.decision_id == "d2"
    ex2 = executor(latency_ms=1000)
    ex2.submit(decision(o), o, nxt)
    [z] = ex2.drain(nxt, bs)
    assert z.status is ExecutionStatus.MISSED and "stream ended" in z.note and ex2.in_flight == 0


