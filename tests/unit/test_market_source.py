"""arb.market.source: the batch type and the replay grouping rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.domain import BookLevel, OrderBook
from arb.market.source import MarketBatch, group_by_time, reject_detail
from arb.market.validate import DataQuality

T0 = datetime(2022, 12, 13, tzinfo=UTC)


def book(venue: str, minute: int) -> OrderBook:
    lv = (BookLevel(price=D(1), amount=D(1)),)
    return OrderBook(venue=venue, symbol="BTC/USDT", timestamp=T0 + timedelta(minutes=minute), bids=lv, asks=lv)


def test_batch_time_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        MarketBatch(at=datetime(2022, 12, 13), books=())


def test_group_by_time_orders_groups_and_places_rejects():
    books = [book("b", 2), book("a", 1), book("c", 2), book("a", 3)]
    rejects = [(None, "unparsable", "x.csv:1"), (T0 + timedelta(minutes=2), "duplicate", "b:BTC/USDT: y"),
               (T0 + timedelta(minutes=5), "out_of_order", "z")]
    batches = group_by_time(books, rejects)
    assert [b.at for b in batches] == [T0 + timedelta(minutes=m) for m in (1, 2, 3, 5)]
    assert [[bk.venue for bk in b.books] for b in batches] == [["a"], ["b", "c"], ["a"], []]
    assert [b.rejects for b in batches] == [(("unparsable", "x.csv:1"),), (("duplicate", "b:BTC/USDT: y"),), (),
                                            (("out_of_order", "z"),)]


def test_group_by_time_with_only_loose_rejects_uses_the_fallback():
    assert group_by_time([], [(None, "unparsable", "x")]) == []
    (b,) = group_by_time([], [(None, "unparsable", "x")], fallback_at=T0)
    assert b.at == T0 and b.books == () and b.rejects == (("unparsable", "x"),)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 5)), max_size=30))
def test_grouping_keeps_every_book_once_in_time_order(items):
    books = [book(v, m) for v, m in items]
    batches = group_by_time(books)
    flat = [bk for b in batches for bk in b.books]
    assert sorted(flat, key=lambda x: (x.timestamp, x.venue)) == sorted(books, key=lambda x: (x.timestamp, x.venue))
    assert [b.at for b in batches] == sorted({bk.timestamp for bk in books})
    assert all(bk.timestamp == b.at for b in batches for bk in b.books)


def test_reject_detail_prefix_is_what_data_quality_reads():
    q = DataQuality()
    q.record_source_reject("transient", reject_detail("bybit", "BTC/USDT", "timeout"))
    q.record_source_reject("transient", reject_detail(None, None, "bybit: load_markets: timeout"))
    assert q.counts == {"transient": 2}
    assert q.by_market == {("bybit", "BTC/USDT"): {"transient": 1}}
