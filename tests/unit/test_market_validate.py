"""arb.market.validate: every reason key, DataQuality, MarketState (bad data is never stored)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.domain import BookLevel, OrderBook
from arb.market.source import MarketBatch
from arb.market.validate import REASONS, DataQuality, MarketState, validate_book

T0 = datetime(2022, 12, 13, 12, 0, tzinfo=UTC)
MAX_AGE = 5000


def lv(price: str, amount: str = "1") -> BookLevel:
    return BookLevel(price=D(price), amount=D(amount))


def book(bids=(("100", "1"),), asks=(("101", "1"),), *, ts=T0, venue="binance", symbol="BTC/USDT") -> OrderBook:
    return OrderBook(venue=venue, symbol=symbol, timestamp=ts,
                     bids=tuple(lv(*b) for b in bids), asks=tuple(lv(*a) for a in asks))


def check(b: OrderBook, *, now=T0, last_seen=None, known=None, max_age_ms=MAX_AGE):
    return validate_book(b, now=now, last_seen=last_seen, known=known, max_age_ms=max_age_ms)


def test_a_good_book_passes():
    assert check(book(bids=[("100", "1"), ("99", "2")], asks=[("101", "1"), ("102", "3")])) is None


@pytest.mark.parametrize(
    ("b", "reason"),
    [
        (book(bids=[("NaN", "1")]), "nan"),
        (book(asks=[("101", "NaN")]), "nan"),
        (book(asks=[("Infinity", "1")]), "nan"),
        (book(bids=[("100", "-Infinity")]), "nan"),
        (book(bids=[("100", "1"), ("sNaN", "1")]), "nan"),
        (book(bids=[("0", "1")]), "non_positive_price"),
        (book(asks=[("101", "1"), ("-102", "1")]), "non_positive_price"),
        (book(bids=[("100", "0")]), "non_positive_amount"),
        (book(asks=[("101", "-0.5")]), "non_positive_amount"),
        (book(bids=[]), "empty_side"),
        (book(asks=[]), "empty_side"),
        (book(bids=[("100", "1")], asks=[("100", "1")]), "crossed_book"),
        (book(bids=[("102", "1")], asks=[("101", "1")]), "crossed_book"),
        (book(bids=[("99", "1"), ("100", "1")]), "unsorted_levels"),
        (book(asks=[("102", "1"), ("101", "1")]), "unsorted_levels"),
        (book(bids=[("100", "1"), ("100", "2")]), "unsorted_levels"),
        (book(ts=datetime(2022, 12, 13, 12, 0)), "naive_timestamp"),
    ],
)
def test_each_reason(b, reason):
    assert reason in REASONS
    assert check(b) == reason


def test_stale_is_strictly_older_than_max_age():
    b = book(ts=T0)
    assert check(b, now=T0 + timedelta(milliseconds=MAX_AGE)) is None
    assert check(b, now=T0 + timedelta(milliseconds=MAX_AGE + 1)) == "stale"


def test_out_of_order_but_equal_is_fine():
    b = book(ts=T0)
    assert check(b, last_seen=T0 + timedelta(milliseconds=1)) == "out_of_order"
    assert check(b, last_seen=T0) is None
    assert check(b, last_seen=T0 - timedelta(seconds=1)) is None


def test_unknown_symbol_only_when_known_given():
    b = book(venue="kraken")
    assert check(b, known={("binance", "BTC/USDT")}) == "unknown_symbol"
    assert check(b, known={("kraken", "BTC/USDT")}) is None
    assert check(b, known=None) is None


# ---- properties

_price = st.decimals(min_value=D("0.00000001"), max_value=D("1000000"), places=8, allow_nan=False)
_any_dec = st.one_of(
    st.decimals(min_value=D("-10"), max_value=D("1000"), places=4, allow_nan=False, allow_infinity=False),
    st.sampled_from([D("NaN"), D("Infinity"), D("-Infinity"), D(0)]),
)
_levels = st.lists(st.builds(BookLevel, price=_any_dec, amount=_any_dec), max_size=4).map(tuple)


@given(bid=_price, gap=st.decimals(min_value=D(0), max_value=D(1000), places=8), extra=st.integers(0, 3))
def test_validate_never_accepts_a_crossed_book(bid, gap, extra):
    """Any otherwise-perfect book whose best bid >= best ask is rejected as crossed."""
    ask = bid - gap
    if ask <= 0:
        ask = bid  # equal counts as crossed
    bids = (BookLevel(price=bid, amount=D(1)),) + tuple(BookLevel(price=bid / (k + 2), amount=D(1))
                                                        for k in range(extra))
    asks = (BookLevel(price=ask, amount=D(1)),) + tuple(BookLevel(price=ask * (k + 2), amount=D(1))
                                                        for k in range(extra))
    b = OrderBook(venue="v", symbol="A/B", timestamp=T0, bids=bids, asks=asks)
    assert check(b) == "crossed_book"


@settings(max_examples=300)
@given(bids=_levels, asks=_levels)
def test_accepted_books_satisfy_every_invariant(bids, asks):
    b = OrderBook(venue="v", symbol="A/B", timestamp=T0, bids=bids, asks=asks)
    if check(b) is None:
        assert bids and asks
        assert all(x.price.is_finite() and x.amount.is_finite() and x.price > 0 and x.amount > 0 for x in bids + asks)
        assert all(a.price > c.price for a, c in zip(bids, bids[1:], strict=False))
        assert all(a.price < c.price for a, c in zip(asks, asks[1:], strict=False))
        assert bids[0].price < asks[0].price


# ---- DataQuality


def test_data_quality_counts_merge_and_snapshot():
    q = DataQuality(samples_per_reason=2)
    q.record_book("nan", book())
    q.record_book("nan", book(venue="bybit"))
    q.record_source_reject("transient", "bybit:BTC/USDT: RequestTimeout: slow")
    q.record_source_reject("unparsable", "file.csv:3: 4 fields")
    assert q.counts == {"nan": 2, "transient": 1, "unparsable": 1}
    assert q.total == 4
    assert q.by_market[("bybit", "BTC/USDT")] == {"nan": 1, "transient": 1}
    other = DataQuality()
    other.record("nan", venue="binance", symbol="BTC/USDT", detail="x")
    other.record("stale")
    assert q.merge(other) is q
    assert q.counts == {"nan": 3, "stale": 1, "transient": 1, "unparsable": 1}
    assert q.by_market[("binance", "BTC/USDT")] == {"nan": 2}
    snap = q.snapshot()
    assert snap["total"] == 6
    assert snap["by_reason"]["nan"] == 3
    assert snap["by_market"]["bybit:BTC/USDT"] == {"nan": 1, "transient": 1}
    assert len(snap["samples"]["nan"]) == 2  # bounded
    assert snap["samples"]["unparsable"] == ["file.csv:3: 4 fields"]


# ---- MarketState


def test_market_state_stores_only_valid_books_and_counts_the_rest():
    s = MarketState(known={("binance", "BTC/USDT"), ("bybit", "BTC/USDT")})
    good = book(ts=T0)
    batch = MarketBatch(
        at=T0,
        books=(good, book(venue="bybit", bids=[("NaN", "1")]), book(venue="kraken")),
        rejects=(("unparsable", "bybit:BTC/USDT: line 7"),),
    )
    valid = s.apply(batch, now=T0, max_age_ms=MAX_AGE)
    assert valid == [good]
    assert s.get("binance", "BTC/USDT") == good
    assert s.get("bybit", "BTC/USDT") is None  # bad data never stored
    assert s.get("kraken", "BTC/USDT") is None
    assert s.quality.counts == {"nan": 1, "unknown_symbol": 1, "unparsable": 1}
    assert s.quality.by_market[("bybit", "BTC/USDT")] == {"nan": 1, "unparsable": 1}

    # a later crossed book does not replace the stored good one
    t1 = T0 + timedelta(seconds=1)
    assert s.apply(MarketBatch(at=t1, books=(book(ts=t1, bids=[("200", "1")]),)), now=t1, max_age_ms=MAX_AGE) == []
    assert s.get("binance", "BTC/USDT") == good
    # out of order is judged against the last *valid* book
    older = book(ts=T0 - timedelta(seconds=1))
    assert s.apply(MarketBatch(at=t1, books=(older,)), now=t1, max_age_ms=MAX_AGE) == []
    assert s.quality.counts["out_of_order"] == 1
    newer = book(ts=t1, bids=[("100.5", "2")])
    assert s.apply(MarketBatch(at=t1, books=(newer,)), now=t1, max_age_ms=MAX_AGE) == [newer]
    assert s.books() == [newer]
    assert len(s) == 1 and ("binance", "BTC/USDT") in s


def test_market_state_fresh_excludes_books_that_became_stale():
    s = MarketState()
    a = book(ts=T0)
    b = book(venue="bybit", ts=T0 + timedelta(seconds=4))
    s.apply(MarketBatch(at=b.timestamp, books=(a, b)), now=b.timestamp, max_age_ms=MAX_AGE)
    assert s.fresh(T0 + timedelta(seconds=5), MAX_AGE) == [a, b]
    assert s.fresh(T0 + timedelta(seconds=6), MAX_AGE) == [b]
    assert s.books() == [a, b]  # still stored; fresh() is a view


def test_two_books_for_one_market_in_one_batch_are_applied_in_order():
    s = MarketState()
    first = book(ts=T0 + timedelta(seconds=1))
    second = book(ts=T0)  # older than the first: out of order
    assert s.apply(MarketBatch(at=T0, books=(first, second)), now=T0 + timedelta(seconds=1), max_age_ms=MAX_AGE) == [
        first]
    assert s.quality.counts == {"out_of_order": 1}
