"""Small builders for domain objects used across tests (plain functions, no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from arb.domain import BookLevel, OrderBook

T0 = datetime(2022, 12, 13, 0, 1, tzinfo=UTC)


def D(x) -> Decimal:
    return Decimal(str(x))


def book(venue: str, symbol: str, bids, asks, at: datetime = T0) -> OrderBook:
    return OrderBook(
        venue=venue,
        symbol=symbol,
        timestamp=at,
        bids=tuple(BookLevel(price=D(p), amount=D(a)) for p, a in bids),
        asks=tuple(BookLevel(price=D(p), amount=D(a)) for p, a in asks),
    )


def later(seconds: float, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


class Counter:
    def __init__(self, prefix: str) -> None:
        self.prefix, self.n = prefix, 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}"
