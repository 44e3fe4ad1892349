"""What every market-data source hands over: batches of order books, in source-time order.

A *source* is a collector at the edge of the system (a live ccxt poller, a replay of a recording). It turns whatever it
reads into :class:`~arb.domain.OrderBook` objects and groups them into :class:`MarketBatch` es. It does not judge the
books: validation (NaN, crossed, stale...) is :mod:`arb.market.validate`'s job, so that every source's bad data is
counted the same way. A record that cannot even become an ``OrderBook`` (an unparsable CSV row, a network error) is
handed over as a ``(reason, detail)`` pair in :attr:`MarketBatch.rejects`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from arb.domain import OrderBook


@dataclass(frozen=True)
class ChainSnapshot:
    """The state of one chain's configured pools at one block (read in one round trip, kept current from logs).

    ``pools`` maps a pool address to its exact-integer AMM state (``arb.amm`` V2Pool / V3Pool).
    """

    chain: str
    chain_id: int
    block_number: int
    timestamp: datetime
    base_fee_wei: int
    pools: Mapping[str, Any]


@dataclass(frozen=True)
class MarketBatch:
    """Everything a source saw at one source-time ``at`` (tz-aware UTC).

    ``rejects`` are ``(reason, detail)`` pairs for records that could not be turned into an ``OrderBook``. When the
    venue and symbol are known, ``detail`` starts with ``"venue:BASE/QUOTE: "`` (see :func:`reject_detail`) so that
    :class:`~arb.market.validate.DataQuality` can count the reject against that market too.
    """

    at: datetime
    books: tuple[OrderBook, ...]
    rejects: tuple[tuple[str, str], ...] = ()
    chains: tuple[ChainSnapshot, ...] = ()

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"MarketBatch.at must be timezone-aware (UTC), got naive {self.at!r}")


@runtime_checkable
class BookSource(Protocol):
    """A collector of order books. Live sources poll; replays read a file. Both yield :class:`MarketBatch` es."""

    name: str

    @property
    def symbols(self) -> frozenset[tuple[str, str]]:
        """The ``(venue, unified symbol)`` pairs this source can produce."""
        ...

    @property
    def total_batches(self) -> int | None:
        """How many batches :meth:`batches` will yield, when known in advance (replays), else ``None``."""
        ...

    def batches(self) -> Iterator[MarketBatch]:
        """Yield batches in source-time order."""
        ...

    def close(self) -> None:
        """Release files or sessions. Safe to call twice."""
        ...


def reject_detail(venue: str | None, symbol: str | None, message: str) -> str:
    """``("bybit", "BTC/USDT", "timeout")`` -> ``"bybit:BTC/USDT: timeout"``; the market prefix only when known."""
    if venue and symbol:
        return f"{venue}:{symbol}: {message}"
    return message


def group_by_time(
    books: Iterable[OrderBook],
    rejects: Iterable[tuple[datetime | None, str, str]] = (),
    *,
    fallback_at: datetime | None = None,
) -> list[MarketBatch]:
    """Group books with the same timestamp into one batch each, in time order (the replay rule).

    Books with the same timestamp keep the order they were given in. ``rejects`` are ``(time or None, reason,
    detail)``: a reject with a time joins the batch at that time (a batch with no books is made if needed); one without
    a time joins the first batch. If there are rejects but no books and no timed rejects, a single empty batch at
    ``fallback_at`` carries them (dropped when ``fallback_at`` is None).
    """
    by_time: dict[datetime, list[OrderBook]] = defaultdict(list)
    for book in books:
        by_time[book.timestamp].append(book)
    rej_by_time: dict[datetime, list[tuple[str, str]]] = defaultdict(list)
    loose: list[tuple[str, str]] = []
    for at, reason, detail in rejects:
        if at is None:
            loose.append((reason, detail))
        else:
            rej_by_time[at].append((reason, detail))
    times = sorted(set(by_time) | set(rej_by_time))
    if not times:
        if loose and fallback_at is not None:
            return [MarketBatch(at=fallback_at, books=(), rejects=tuple(loose))]
        return []
    out: list[MarketBatch] = []
    for i, at in enumerate(times):
        rej = (loose if i == 0 else []) + rej_by_time.get(at, [])
        out.append(MarketBatch(at=at, books=tuple(by_time.get(at, ())), rejects=tuple(rej)))
    return out
