"""A live CEX order-book collector on ccxt's unified API, with no code specific to one exchange.

The exchanges are ccxt ``Exchange`` objects built elsewhere (the wiring module; :func:`build_exchange` is a small
helper for it) and passed in. Each poll, for every venue: ``load_markets()`` once (lazily, the first time), then
``fetch_order_book(symbol, limit=depth)`` for each requested symbol the venue lists. ccxt's
``{'bids': [[price, amount], ...], 'asks': ..., 'timestamp': ms or None}`` becomes an :class:`~arb.domain.OrderBook`
(numbers via ``Decimal(str(x))``; a missing timestamp is replaced by ``clock()``).

ccxt errors are translated once, where they enter (:func:`translate_error`), and the loop branches on the category:

- AuthenticationError, ExchangeNotAvailable (and its OnMaintenance) -> :class:`~arb.errors.FatalError`, raised
  out of ``batches()``: stop and tell the user.
- NetworkError, RequestTimeout, DDoSProtection, RateLimitExceeded (any other NetworkError too) ->
  :class:`~arb.errors.TransientError`: reject ``transient``, that book is skipped for this poll, and so are the venue's
  remaining symbols; the venue then backs off for ``backoff_base × 2^(n−1)`` seconds (at most ``max_backoff``) after
  ``n`` transient failures in a row. A successful fetch resets ``n``.
- BadSymbol -> reject ``unknown_symbol``; the symbol is not polled again on that venue.
- any other ccxt error -> reject ``exchange_error``; retried next poll.

A requested symbol the venue does not list is counted once as ``unknown_symbol`` when its markets load. A reply that
cannot become a book (missing sides, non-numeric levels) is counted as ``unparsable``. Validation of the books
themselves (crossed, stale...) is :mod:`arb.market.validate`'s job.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt

from arb.domain import BookLevel, OrderBook
from arb.errors import ArbError, BadInput, FatalError, TransientError
from arb.market.source import MarketBatch, reject_detail

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def build_exchange(exchange_id: str, config: dict[str, Any] | None = None) -> Any:
    """``getattr(ccxt, exchange_id)(config)``; a clear :class:`BadInput` when ccxt has no such exchange."""
    if exchange_id not in ccxt.exchanges:
        close = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise BadInput("unknown_exchange", f"ccxt has no exchange {exchange_id!r}: check CEX_EXCHANGES, which takes "
                                           f"ccxt exchange ids such as binance, bybit, kraken.{hint}")
    return getattr(ccxt, exchange_id)(dict(config or {}))


def translate_error(e: Exception, venue: str, symbol: str | None = None) -> ArbError:
    """Map a ccxt exception to the project's error categories (see the module docstring)."""
    where = f"{venue} {symbol}" if symbol else venue
    if isinstance(e, ccxt.AuthenticationError):
        return FatalError(f"{where}: authentication failed ({type(e).__name__}: {e}). Check the API key and secret "
                          f"configured for {venue}, or remove {venue} from CEX_EXCHANGES.")
    if isinstance(e, ccxt.ExchangeNotAvailable):  # a NetworkError subclass: must be tested before NetworkError
        return FatalError(f"{where}: exchange not available ({type(e).__name__}: {e}). It may be down, in "
                          f"maintenance, or closed to your region; remove {venue} from CEX_EXCHANGES or retry later.")
    if isinstance(e, ccxt.BadSymbol):
        return BadInput("unknown_symbol", f"{where}: {venue} does not list this symbol ({e})")
    if isinstance(e, ccxt.NetworkError):
        return TransientError(f"{where}: {type(e).__name__}: {e}")
    if isinstance(e, ccxt.BaseError):
        return BadInput("exchange_error", f"{where}: {type(e).__name__}: {e}")
    raise TypeError(f"not a ccxt error: {e!r}") from e


def _num(x: Any) -> Decimal:
    if x is None or isinstance(x, bool):
        raise ValueError(f"{x!r} is not a number")
    try:
        return Decimal(str(x))
    except InvalidOperation:
        raise ValueError(f"{x!r} is not a number") from None


def _levels(raw: Any, side: str, depth: int | None) -> tuple[BookLevel, ...]:
    if not isinstance(raw, list | tuple):
        raise ValueError(f"'{side}' is {type(raw).__name__}, expected a list of [price, amount]")
    out = []
    for entry in raw[:depth]:
        if not isinstance(entry, list | tuple) or len(entry) < 2:
            raise ValueError(f"'{side}' entry {entry!r} is not [price, amount]")
        out.append(BookLevel(price=_num(entry[0]), amount=_num(entry[1])))
    return tuple(out)


def order_book_from_ccxt(venue: str, symbol: str, raw: Mapping[str, Any], *, now: datetime,
                         depth: int | None = None) -> OrderBook:
    """Convert ccxt's unified order-book dict. Raises :class:`BadInput` ``unparsable`` when it is malformed."""
    try:
        if not isinstance(raw, Mapping):
            raise ValueError(f"reply is {type(raw).__name__}, expected an order book dict")
        bids = _levels(raw.get("bids"), "bids", depth)
        asks = _levels(raw.get("asks"), "asks", depth)
        ms = raw.get("timestamp")
        if ms is None:
            ts = now
        elif isinstance(ms, int | float) and not isinstance(ms, bool):
            ts = _EPOCH + timedelta(milliseconds=int(ms))
        else:
            raise ValueError(f"timestamp {ms!r} is not epoch milliseconds")
    except ValueError as e:
        raise BadInput("unparsable", reject_detail(venue, symbol, str(e))) from None
    return OrderBook(venue=venue, symbol=symbol, timestamp=ts, bids=bids, asks=asks)


class CcxtBookSource:
    """Poll order books from ccxt exchanges. ``exchanges`` maps venue id -> ccxt Exchange (or a compatible fake).

    ``clock`` and ``sleep`` are injected so tests control time. ``poll_interval`` is the time between poll starts;
    ``max_polls=None`` polls forever (``total_batches`` is then ``None``).
    """

    def __init__(
        self,
        exchanges: Mapping[str, Any],
        symbols: Sequence[str],
        *,
        depth: int,
        poll_interval: float,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        max_polls: int | None = None,
        backoff_base: float = 1.0,
        max_backoff: float = 60.0,
        name: str = "ccxt",
    ) -> None:
        if not exchanges:
            raise BadInput("bad_parameter", "no exchanges given; set CEX_EXCHANGES, e.g. binance,bybit")
        if not symbols:
            raise BadInput("bad_parameter", "no symbols given; set CEX_SYMBOLS, e.g. BTC/USDT")
        if depth < 1:
            raise BadInput("bad_parameter", f"depth must be 1 or more, got {depth}")
        self._exchanges = dict(exchanges)
        self._symbols = tuple(dict.fromkeys(symbols))
        self.depth = depth
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self.max_polls = max_polls
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self.name = name
        self._listed: dict[str, list[str]] = {}  # venue -> symbols to poll (after load_markets)
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, datetime] = {}
        self.polls = 0

    @property
    def symbols(self) -> frozenset[tuple[str, str]]:
        """The requested (venue, symbol) pairs; the ones a venue does not list are dropped after its markets load."""
        return frozenset((v, s) for v in self._exchanges for s in self._listed.get(v, self._symbols))

    @property
    def total_batches(self) -> int | None:
        return self.max_polls

    def batches(self) -> Iterator[MarketBatch]:
        while self.max_polls is None or self.polls < self.max_polls:
            started = self._clock()
            batch = self.poll()
            yield batch
            if self.max_polls is not None and self.polls >= self.max_polls:
                return
            elapsed = (self._clock() - started).total_seconds()
            self._sleep(max(0.0, self.poll_interval - elapsed))

    def poll(self) -> MarketBatch:
        """One round over every venue and symbol. Raises :class:`FatalError`; everything else becomes a reject."""
        self.polls += 1
        books: list[OrderBook] = []
        rejects: list[tuple[str, str]] = []
        for venue, ex in self._exchanges.items():
            retry_at = self._retry_at.get(venue)
            if retry_at is not None and self._clock() < retry_at:
                continue  # backing off after a transient error
            if venue not in self._listed and not self._load(venue, ex, rejects):
                continue
            for symbol in list(self._listed[venue]):
                try:
                    raw = ex.fetch_order_book(symbol, limit=self.depth)
                except ccxt.BaseError as e:
                    err = translate_error(e, venue, symbol)
                    if isinstance(err, FatalError):
                        raise err from e
                    if isinstance(err, TransientError):
                        rejects.append(("transient", reject_detail(venue, symbol, str(err))))
                        self._back_off(venue)
                        break  # spare a struggling venue the rest of this poll
                    assert isinstance(err, BadInput)
                    rejects.append((err.reason, reject_detail(venue, symbol, str(err))))
                    if err.reason == "unknown_symbol":
                        self._listed[venue].remove(symbol)
                    continue
                try:
                    books.append(order_book_from_ccxt(venue, symbol, raw, now=self._clock(), depth=self.depth))
                except BadInput as e:
                    rejects.append((e.reason, str(e)))
                    continue
                self._failures[venue] = 0
                self._retry_at.pop(venue, None)
        return MarketBatch(at=self._clock(), books=tuple(books), rejects=tuple(rejects))

    def _load(self, venue: str, ex: Any, rejects: list[tuple[str, str]]) -> bool:
        try:
            ex.load_markets()
        except ccxt.BaseError as e:
            err = translate_error(e, venue)
            if isinstance(err, FatalError):
                raise err from e
            reason = "transient" if isinstance(err, TransientError) else getattr(err, "reason", "exchange_error")
            rejects.append((reason, f"{venue}: load_markets: {err}"))
            if isinstance(err, TransientError):
                self._back_off(venue)
            return False
        markets = ex.markets or {}
        self._listed[venue] = [s for s in self._symbols if s in markets]
        for s in self._symbols:
            if s not in markets:
                rejects.append(("unknown_symbol", reject_detail(venue, s, f"{venue} does not list {s}; not polled")))
        return True

    def _back_off(self, venue: str) -> None:
        n = self._failures.get(venue, 0) + 1
        self._failures[venue] = n
        delay = min(self.backoff_base * 2 ** (n - 1), self.max_backoff)
        self._retry_at[venue] = self._clock() + timedelta(seconds=delay)

    def close(self) -> None:
        """Close the exchanges' HTTP sessions (sync ccxt). Safe to call twice."""
        for ex in self._exchanges.values():
            close = getattr(ex, "close", None)
            if callable(close) and not inspect.iscoroutinefunction(close):
                close()


def fetch_taker_fees(exchange: Any, symbols: Sequence[str], *, venue: str | None = None
                     ) -> dict[tuple[str, str], Decimal]:
    """Taker rates from the loaded market info: ``{(venue, symbol): Decimal(str(markets[symbol]['taker']))}``.

    Loads markets if needed (ccxt errors translated as in :func:`translate_error`). Symbols the venue does not list,
    or lists without a taker rate, are left out (:class:`arb.market.fees.FeeSchedule` then falls back).
    """
    v = venue or exchange.id
    if not exchange.markets:
        try:
            exchange.load_markets()
        except ccxt.BaseError as e:
            raise translate_error(e, v) from e
    out: dict[tuple[str, str], Decimal] = {}
    for s in symbols:
        market = (exchange.markets or {}).get(s)
        taker = market.get("taker") if market else None
        if taker is None:
            continue
        out[(v, s)] = _num(taker)
    return out
