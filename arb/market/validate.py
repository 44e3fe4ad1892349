"""Validation of order books, counting of bad data, and the latest valid book per market.

:func:`validate_book` is pure: it takes a book and the context (``now``, the last timestamp seen for that market, the
known markets) and returns ``None`` for a good book or one reason key. The keys, checked in this order (the first
that applies is reported):

==================== ============================================================================================
``naive_timestamp``  the book's timestamp has no timezone (every source stamps UTC; a naive time is a source bug)
``unknown_symbol``   ``(venue, symbol)`` is not in ``known`` (only when ``known`` is given)
``nan``              any price or amount is NaN or infinite
``non_positive_price``  any price <= 0
``non_positive_amount`` any amount <= 0
``empty_side``       no bids or no asks
``unsorted_levels``  bids not strictly descending or asks not strictly ascending (a repeated price counts)
``crossed_book``     best bid >= best ask
``out_of_order``     timestamp earlier than the last *valid* book's for that venue+symbol (equal is fine)
``stale``            ``now - timestamp > max_age_ms``
==================== ============================================================================================

Sources add their own keys to :attr:`~arb.market.source.MarketBatch.rejects` (``unparsable``, ``transient``,
``duplicate``, ``exchange_error``...); :class:`DataQuality` counts all of them alike.

:class:`MarketState` is the only place books are kept: it validates every book of a batch, counts the rejects, and
stores only valid books, so bad data never reaches detection.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from arb.domain import BookLevel, OrderBook
from arb.market.source import MarketBatch

REASONS: tuple[str, ...] = (
    "naive_timestamp",
    "unknown_symbol",
    "nan",
    "non_positive_price",
    "non_positive_amount",
    "empty_side",
    "unsorted_levels",
    "crossed_book",
    "out_of_order",
    "stale",
)

Market = tuple[str, str]


def validate_book(
    book: OrderBook,
    *,
    now: datetime,
    last_seen: datetime | None,
    known: set[Market] | frozenset[Market] | None,
    max_age_ms: int,
) -> str | None:
    """Return ``None`` if ``book`` is usable at ``now``, else the first reason key that applies (see module doc)."""
    ts = book.timestamp
    if ts.tzinfo is None or ts.utcoffset() is None:
        return "naive_timestamp"
    if known is not None and (book.venue, book.symbol) not in known:
        return "unknown_symbol"
    levels: tuple[BookLevel, ...] = book.bids + book.asks
    # NaN first: every comparison below would raise decimal.InvalidOperation on a NaN.
    if any(not lv.price.is_finite() or not lv.amount.is_finite() for lv in levels):
        return "nan"
    if any(lv.price <= 0 for lv in levels):
        return "non_positive_price"
    if any(lv.amount <= 0 for lv in levels):
        return "non_positive_amount"
    if not book.bids or not book.asks:
        return "empty_side"
    if any(a.price <= b.price for a, b in zip(book.bids[:-1], book.bids[1:], strict=True)):
        return "unsorted_levels"
    if any(a.price >= b.price for a, b in zip(book.asks[:-1], book.asks[1:], strict=True)):
        return "unsorted_levels"
    if book.bids[0].price >= book.asks[0].price:
        return "crossed_book"
    if last_seen is not None and ts < last_seen:
        return "out_of_order"
    if (now - ts) > timedelta(milliseconds=max_age_ms):
        return "stale"
    return None


_MARKET_PREFIX = re.compile(r"^(?P<venue>[^\s:/]+):(?P<symbol>[^\s:/]+/[^\s:]+): ")


class DataQuality:
    """Counts of rejected records by reason, and by ``(venue, symbol)`` when known.

    Keeps the last few details per reason (``samples``) so a report can show *what* was wrong, not just how often.
    """

    def __init__(self, samples_per_reason: int = 5) -> None:
        self._counts: Counter[str] = Counter()
        self._by_market: dict[Market, Counter[str]] = defaultdict(Counter)
        self._samples_per_reason = samples_per_reason
        self._samples: dict[str, deque[str]] = {}

    def record(self, reason: str, *, venue: str | None = None, symbol: str | None = None, detail: str = "") -> None:
        """Count one reject."""
        self._counts[reason] += 1
        if venue is not None and symbol is not None:
            self._by_market[(venue, symbol)][reason] += 1
        if detail:
            self._samples.setdefault(reason, deque(maxlen=self._samples_per_reason)).append(detail)

    def record_book(self, reason: str, book: OrderBook) -> None:
        self.record(reason, venue=book.venue, symbol=book.symbol,
                    detail=f"{book.venue}:{book.symbol}: {reason} at {book.timestamp.isoformat()}")

    def record_source_reject(self, reason: str, detail: str) -> None:
        """Count a ``(reason, detail)`` of a batch; a ``venue:BASE/QUOTE: `` detail prefix names the market."""
        m = _MARKET_PREFIX.match(detail)
        if m:
            self.record(reason, venue=m["venue"], symbol=m["symbol"], detail=detail)
        else:
            self.record(reason, detail=detail)

    @property
    def counts(self) -> dict[str, int]:
        """Rejects by reason, reasons sorted."""
        return {k: self._counts[k] for k in sorted(self._counts)}

    @property
    def by_market(self) -> dict[Market, dict[str, int]]:
        return {m: dict(sorted(c.items())) for m, c in sorted(self._by_market.items())}

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def merge(self, other: DataQuality) -> DataQuality:
        """Add ``other``'s counts (and samples) into this one, in place; returns ``self`` for chaining."""
        self._counts.update(other._counts)
        for m, c in other._by_market.items():
            self._by_market[m].update(c)
        for reason, details in other._samples.items():
            for d in details:
                self._samples.setdefault(reason, deque(maxlen=self._samples_per_reason)).append(d)
        return self

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy: ``{"total", "by_reason", "by_market" ("venue:symbol" keys), "samples"}``."""
        return {
            "total": self.total,
            "by_reason": self.counts,
            "by_market": {f"{v}:{s}": c for (v, s), c in self.by_market.items()},
            "samples": {r: list(d) for r, d in sorted(self._samples.items())},
        }

    def __repr__(self) -> str:
        return f"DataQuality(total={self.total}, counts={self.counts})"


class MarketState:
    """The latest *valid* book per ``(venue, symbol)``. Bad data is counted in :attr:`quality` and never stored."""

    def __init__(self, known: Iterable[Market] | None = None, quality: DataQuality | None = None) -> None:
        self.known: frozenset[Market] | None = frozenset(known) if known is not None else None
        self.quality = quality if quality is not None else DataQuality()
        self._books: dict[Market, OrderBook] = {}

    def apply(self, batch: MarketBatch, now: datetime, max_age_ms: int) -> list[OrderBook]:
        """Validate every book of ``batch`` at ``now``; store and return the valid ones, count the rest.

        Books are applied in batch order, so a second book for the same market in one batch is checked against the
        first. ``batch.rejects`` are counted too.
        """
        for reason, detail in batch.rejects:
            self.quality.record_source_reject(reason, detail)
        valid: list[OrderBook] = []
        for book in batch.books:
            key = (book.venue, book.symbol)
            prev = self._books.get(key)
            reason = validate_book(
                book, now=now, last_seen=prev.timestamp if prev else None, known=self.known, max_age_ms=max_age_ms
            )
            if reason is not None:
                self.quality.record_book(reason, book)
                continue
            self._books[key] = book
            valid.append(book)
        return valid

    def get(self, venue: str, symbol: str) -> OrderBook | None:
        return self._books.get((venue, symbol))

    def books(self) -> list[OrderBook]:
        """Every stored book (possibly stale by now), sorted by venue then symbol."""
        return [self._books[k] for k in sorted(self._books)]

    def fresh(self, now: datetime, max_age_ms: int) -> list[OrderBook]:
        """The stored books that are still within ``max_age_ms`` of ``now``, sorted by venue then symbol."""
        limit = timedelta(milliseconds=max_age_ms)
        return [b for b in self.books() if (now - b.timestamp) <= limit]

    def as_mapping(self) -> Mapping[Market, OrderBook]:
        return dict(self._books)

    def __len__(self) -> int:
        return len(self._books)

    def __contains__(self, key: object) -> bool:
        return key in self._books
