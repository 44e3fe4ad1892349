"""arb.market.ccxt_source against (a) a hand-written FakeExchange raising real ccxt exceptions and (b) the
UNMODIFIED ``ccxt.binance`` class pointed at a local HTTP server on 127.0.0.1.

The depth snapshot served in (b) is a real Binance REST reply (NKNUSDT, 2021-10-12) from
../shared/data/cex-ws-captures/BINANCE.http.0.0 (cryptofeed sample data, licence in that folder), read at test time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import ccxt
import pytest

from arb.errors import BadInput, FatalError
from arb.market.ccxt_source import CcxtBookSource, build_exchange, fetch_taker_fees, translate_error
from arb.market.fees import FeeSchedule
from arb.market.source import BookSource
from arb.market.validate import MarketState

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CAPTURE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cex-ws-captures" / "BINANCE.http.0.0"


class StepClock:
    """A clock that only moves when told to (by ``sleep`` or ``advance``)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


class FakeExchange:
    """The slice of ccxt's sync Exchange interface the source uses. ``script[symbol]`` is consumed one item per
    fetch: a dict is returned, an exception instance is raised; the last item repeats."""

    def __init__(self, id: str, markets: dict[str, dict[str, Any]], script: dict[str, list[Any]],
                 load_errors: list[Exception] | None = None) -> None:
        self.id = id
        self.markets: dict[str, dict[str, Any]] | None = None
        self._markets = markets
        self._script = script
        self._load_errors = list(load_errors or [])
        self.load_calls = 0
        self.fetches: list[tuple[str, int | None]] = []
        self.closed = False

    def load_markets(self, reload: bool = False, params: dict | None = None) -> dict[str, dict[str, Any]]:
        self.load_calls += 1
        if self._load_errors:
            raise self._load_errors.pop(0)
        self.markets = self._markets
        return self.markets

    def fetch_order_book(self, symbol: str, limit: int | None = None, params: dict | None = None) -> dict:
        if self.markets is None:
            raise AssertionError("fetch before load_markets")
        self.fetches.append((symbol, limit))
        items = self._script[symbol]
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self.closed = True


def ob(bid: float, ask: float, ts: int | None = 1704067200123, depth: int = 3) -> dict:
    return {"bids": [[bid - i, 1.5 + i] for i in range(depth)],
            "asks": [[ask + i, 0.1 * (i + 1)] for i in range(depth)],
            "timestamp": ts, "datetime": None, "nonce": None, "symbol": None}


MARKETS = {"BTC/USDT": {"taker": 0.001}, "ETH/USDT": {"taker": 0.00075}}


def source(exchanges: dict[str, Any], symbols=("BTC/USDT",), clock: StepClock | None = None, **kw) -> CcxtBookSource:
    clock = clock or StepClock()
    kw.setdefault("max_polls", 3)
    return CcxtBookSource(exchanges, list(symbols), depth=2, poll_interval=1.0, clock=clock, sleep=clock.sleep, **kw)


def test_polls_convert_books_exactly():
    a = FakeExchange("binance", MARKETS, {"BTC/USDT": [ob(42000.1, 42000.2)]})
    b = FakeExchange("bybit", MARKETS, {"BTC/USDT": [ob(41999.9, 42000.3, ts=None)]})
    clock = StepClock()
    src = source({"binance": a, "bybit": b}, clock=clock)
    assert isinstance(src, BookSource)
    assert src.total_batches == 3
    batches = list(src.batches())
    assert len(batches) == 3 and all(len(x.books) == 2 and not x.rejects for x in batches)
    first = batches[0].books[0]
    assert first.venue == "binance" and first.symbol == "BTC/USDT"
    assert first.bids[0].price == D("42000.1") and str(first.bids[0].price) == "42000.1"  # via str, not binary
    assert first.asks[1].amount == D("0.2")
    assert len(first.bids) == 2  # cut to depth
    assert first.timestamp == datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert batches[1].books[1].timestamp == T0 + timedelta(seconds=1)  # no exchange time: clock()
    assert [x.at for x in batches] == [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]
    assert a.load_calls == 1 and b.load_calls == 1  # lazily, once
    assert a.fetches == [("BTC/USDT", 2)] * 3
    assert clock.sleeps == [1.0, 1.0]  # between polls, not after the last
    src.close()
    assert a.closed and b.closed


def test_unlisted_symbol_is_counted_once_and_never_fetched():
    a = FakeExchange("binance", {"BTC/USDT": {}}, {"BTC/USDT": [ob(100, 101)]})
    src = source({"binance": a}, symbols=["BTC/USDT", "DOGE/EUR"])
    batches = list(src.batches())
    assert [r for x in batches for r in x.rejects] == [("unknown_symbol", "binance:DOGE/EUR: binance does not list "
                                                                          "DOGE/EUR; not polled")]
    assert {s for s, _ in a.fetches} == {"BTC/USDT"}
    assert src.symbols == {("binance", "BTC/USDT")}


@pytest.mark.parametrize("exc", [ccxt.NetworkError, ccxt.RequestTimeout, ccxt.DDoSProtection,
                                 ccxt.RateLimitExceeded])
def test_transient_errors_skip_the_book_and_back_off(exc):
    a = FakeExchange("binance", MARKETS, {"BTC/USDT": [exc("boom"), exc("boom"), ob(100, 101)],
                                          "ETH/USDT": [ob(10, 11)]})
    b = FakeExchange("bybit", MARKETS, {"BTC/USDT": [ob(100, 101)], "ETH/USDT": [ob(10, 11)]})
    clock = StepClock()
    src = source({"binance": a, "bybit": b}, symbols=["BTC/USDT", "ETH/USDT"], clock=clock, max_polls=6)
    state = MarketState()
    per_poll = []
    for batch in src.batches():
        state.apply(batch, now=batch.at, max_age_ms=10**12)
        per_poll.append(sorted((bk.venue, bk.symbol) for bk in batch.books))
    bybit_both = [("bybit", "BTC/USDT"), ("bybit", "ETH/USDT")]
    both = [("binance", "BTC/USDT"), ("binance", "ETH/USDT")] + bybit_both
    # t=0 fails (backoff 1 s) -> t=1 fails (backoff 2 s, until t=3) -> t=2 skipped -> t=3 ok from then on
    assert per_poll == [bybit_both, bybit_both, bybit_both, both, both, both]
    assert [s for s, _ in a.fetches].count("ETH/USDT") == 3  # rest of the venue was spared while failing
    assert state.quality.counts == {"transient": 2}
    assert state.quality.by_market == {("binance", "BTC/USDT"): {"transient": 2}}
    assert exc.__name__ in state.quality.snapshot()["samples"]["transient"][0]


def test_backoff_is_capped():
    a = FakeExchange("binance", MARKETS, {"BTC/USDT": [ccxt.RequestTimeout("slow")]})
    clock = StepClock()
    src = source({"binance": a}, clock=clock, max_polls=40, max_backoff=4.0)
    list(src.batches())
    # failures at t = 0, 1, 3, 7, 11, 15, ... : delays 1, 2, 4, 4, 4 ...
    assert len(a.fetches) == 3 + (39 - 7) // 4 + 1


def test_bad_symbol_is_unknown_and_dropped():
    a = FakeExchange("binance", MARKETS, {"BTC/USDT": [ccxt.BadSymbol("binance does not have market symbol")],
                                          "ETH/USDT": [ob(10, 11)]})
    src = source({"binance": a}, symbols=["BTC/USDT", "ETH/USDT"])
    batches = list(src.batches())
    assert [r[0] for x in batches for r in x.rejects] == ["unknown_symbol"]
    assert [s for s, _ in a.fetches].count("BTC/USDT") == 1
    assert all(len(x.books) == 1 for x in batches)


def test_other_exchange_errors_and_malformed_replies_are_rejects():
    a = FakeExchange("binance", MARKETS, {"BTC/USDT": [ccxt.ExchangeError("weird"), {"bids": "nope", "asks": []},
                                                       {"bids": [[None, 1]], "asks": []}, ob(100, 101)]})
    src = source({"binance": a}, max_polls=4)
    batches = list(src.batches())
    assert [r[0] for x in batches for r in x.rejects] == ["exchange_error", "unparsable", "unparsable"]
    assert [len(x.books) for x in batches] == [0, 0, 0, 1]


@pytest.mark.parametrize("exc", [ccxt.AuthenticationError, ccxt.ExchangeNotAvailable, ccxt.OnMaintenance])
def test_fatal_errors_stop_the_source(exc):
    a = FakeExchange("kraken", MARKETS, {"BTC/USDT": [exc("nope")]})
    with pytest.raises(FatalError, match="kraken") as e:
        list(source({"kraken": a}).batches())
    assert isinstance(e.value.__cause__, exc)
    b = FakeExchange("kraken", MARKETS, {}, load_errors=[exc("nope")])
    with pytest.raises(FatalError, match="CEX_EXCHANGES"):
        list(source({"kraken": b}).batches())


def test_load_markets_transient_failure_is_retried():
    a = FakeExchange("binance", MARKETS, {"BTC/USDT": [ob(100, 101)]}, load_errors=[ccxt.NetworkError("down")])
    src = source({"binance": a}, max_polls=3)
    batches = list(src.batches())
    assert batches[0].rejects[0][0] == "transient" and "load_markets" in batches[0].rejects[0][1]
    assert [len(x.books) for x in batches] == [0, 1, 1]
    assert a.load_calls == 2


def test_translate_error_categories():
    assert isinstance(translate_error(ccxt.RateLimitExceeded("x"), "v"), type(translate_error(ccxt.NetworkError(""),
                                                                                                   "v")))
    assert translate_error(ccxt.BadSymbol("x"), "v", "A/B").reason == "unknown_symbol"
    assert isinstance(translate_error(ccxt.OnMaintenance("x"), "v"), FatalError)
    with pytest.raises(TypeError):
        translate_error(ValueError("not ccxt"), "v")


def test_taker_fees_from_markets_feed_the_fee_schedule():
    a = FakeExchange("binance", MARKETS, {})
    fees = fetch_taker_fees(a, ["BTC/USDT", "ETH/USDT", "XRP/USDT"])
    assert fees == {("binance", "BTC/USDT"): D("0.001"), ("binance", "ETH/USDT"): D("0.00075")}
    assert str(fees[("binance", "ETH/USDT")]) == "0.00075"
    schedule = FeeSchedule(market_fees=fees, default_lookup=lambda v: None)
    assert schedule.taker("binance", "ETH/USDT") == (D("0.00075"), "ccxt-market")


def test_build_exchange():
    ex = build_exchange("binance", {"enableRateLimit": True})
    assert isinstance(ex, ccxt.binance)
    with pytest.raises(BadInput, match="ccxt has no exchange 'binanse'.*binance") as e:
        build_exchange("binanse", {})
    assert e.value.reason == "unknown_exchange"


# ---- (b) the real ccxt.binance class against a local server


def _snapshot() -> dict:
    assert CAPTURE.is_file(), f"recorded capture missing: {CAPTURE}"
    line = CAPTURE.read_text().splitlines()[0]
    url, _, rest = line.partition(" -> ")
    assert "api/v3/depth?symbol=NKNUSDT" in url
    return json.loads(rest.partition(": ")[2])


EXCHANGE_INFO = {
    "timezone": "UTC", "serverTime": 1633998512320, "rateLimits": [], "exchangeFilters": [],
    "symbols": [{
        "symbol": "NKNUSDT", "status": "TRADING", "baseAsset": "NKN", "baseAssetPrecision": 8,
        "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "permissions": ["SPOT"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00010000", "maxPrice": "1000.00000000",
             "tickSize": "0.00010000"},
            {"filterType": "LOT_SIZE", "minQty": "1.00000000", "maxQty": "900000.00000000", "stepSize": "1.00000000"},
        ],
    }],
}


@pytest.fixture
def local_binance() -> Iterator[tuple[Any, list[str]]]:
    depth = _snapshot()
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            hits.append(self.path)
            u = urlparse(self.path)
            if u.path == "/public/exchangeInfo":
                payload: dict = EXCHANGE_INFO
            elif u.path == "/public/depth" and parse_qs(u.query).get("symbol") == ["NKNUSDT"]:
                n = int(parse_qs(u.query).get("limit", ["100"])[0])
                payload = {"lastUpdateId": depth["lastUpdateId"], "bids": depth["bids"][:n], "asks": depth["asks"][:n]}
            else:
                self.send_error(404)
                return
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    ex = ccxt.binance({"options": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False}, "timeout": 5000})
    # every API base URL points at the local server: nothing can reach another host
    ex.urls["api"] = {name: f"http://127.0.0.1:{port}/{name}" for name in ex.urls["api"]}
    ex.session.trust_env = False  # ignore any HTTP(S)_PROXY in the environment
    try:
        yield ex, hits
    finally:
        ex.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_real_ccxt_binance_against_local_server(local_binance):
    ex, hits = local_binance
    depth = _snapshot()
    clock = StepClock()
    src = CcxtBookSource({"binance": ex}, ["NKN/USDT", "BTC/USDT"], depth=5, poll_interval=0.5, clock=clock,
                         sleep=clock.sleep, max_polls=2)
    batches = list(src.batches())
    assert [len(b.books) for b in batches] == [1, 1]
    assert batches[0].rejects == (("unknown_symbol", "binance:BTC/USDT: binance does not list BTC/USDT; not polled"),)
    book = batches[0].books[0]
    assert book.venue == "binance" and book.symbol == "NKN/USDT"
    assert [(lv.price, lv.amount) for lv in book.bids] == [(D(p), D(a)) for p, a in depth["bids"][:5]]
    assert [(lv.price, lv.amount) for lv in book.asks] == [(D(p), D(a)) for p, a in depth["asks"][:5]]
    assert book.bids[0].price == D("0.3521")
    assert book.timestamp == T0  # Binance spot depth carries no time: clock()
    state = MarketState()
    assert state.apply(batches[1], now=batches[1].at, max_age_ms=5000) == [batches[1].books[0]]
    fees = fetch_taker_fees(ex, ["NKN/USDT"])
    assert FeeSchedule(market_fees=fees).taker("binance", "NKN/USDT") == (D("0.001"), "ccxt-market")
    assert hits == ["/public/exchangeInfo", "/public/depth?symbol=NKNUSDT&limit=5",
                    "/public/depth?symbol=NKNUSDT&limit=5"]
