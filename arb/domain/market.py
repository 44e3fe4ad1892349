"""Order books and quotes, keyed by ccxt unified symbols such as ``BTC/USDT``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from arb.domain.base import Frozen


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"BTC/USDT"`` -> ``("BTC", "USDT")``. Raises ValueError on anything else."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise ValueError(f"not a ccxt unified spot symbol: {symbol!r} (expected BASE/QUOTE, e.g. BTC/USDT)")
    return base, quote.split(":")[0]


class BookLevel(Frozen):
    price: Decimal
    amount: Decimal  # base units


class OrderBook(Frozen):
    """A snapshot of one venue's book. ``bids`` best (highest) first, ``asks`` best (lowest) first.

    ``timestamp`` is when the venue's book had this state (exchange time). Validation (NaN, crossed, stale...)
    lives in :mod:`arb.market.validate`, so a source can hand over what it saw and have it counted.
    """

    venue: str
    symbol: str
    timestamp: datetime
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]

    @property
    def base(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def quote_ccy(self) -> str:
        return split_symbol(self.symbol)[1]

    @property
    def best_bid(self) -> BookLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> BookLevel | None:
        return self.asks[0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    def top(self) -> Quote:
        bb, ba = self.best_bid, self.best_ask
        if bb is None or ba is None:
            raise ValueError(f"{self.venue} {self.symbol}: book has an empty side")
        return Quote(
            venue=self.venue,
            symbol=self.symbol,
            timestamp=self.timestamp,
            bid=bb.price,
            bid_size=bb.amount,
            ask=ba.price,
            ask_size=ba.amount,
        )


class Quote(Frozen):
    """Best bid and ask of one venue."""

    venue: str
    symbol: str
    timestamp: datetime
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal
