"""Replay of QuantConnect Lean crypto *minute bars* as order books.

Input layout (spot only; ``cryptofuture/`` is ignored)::

    <folder>/crypto/<venue>/minute/<ticker>/<YYYYMMDD>_<ticker>_minute_trade.csv   Time,Open,High,Low,Close,Volume
    <folder>/crypto/<venue>/minute/<ticker>/<YYYYMMDD>_<ticker>_minute_quote.csv   Time,BidO,BidH,BidL,BidClose,
                                                                                    LastBidSize,AskO,AskH,AskL,
                                                                                    AskClose,LastAskSize

``venue`` is the folder name (``binance``, ``bybit``). The ticker becomes a ccxt unified symbol by splitting off the
longest known quote currency suffix (:data:`QUOTE_CURRENCIES`): ``btcbusd`` -> ``BTC/BUSD``, ``btcusdt`` ->
``BTC/USDT``.
A ticker with no known suffix is skipped and counted once as ``unknown_symbol``.

Time
----
``Time`` is milliseconds since midnight UTC of the file's date and marks the bar's START. A bar's close is only known
when the minute ends, so every book derived from the bar starting at ``t`` is stamped ``midnight + t + 60 s``. All
books with the same stamp form one :class:`~arb.market.source.MarketBatch`; batches come in time order.

How a book is derived from the bars of one minute
-------------------------------------------------
Parameters (settings): ``L`` = REPLAY_LEVELS, ``s`` = REPLAY_LEVEL_STEP_BPS / 10⁴, ``f`` = REPLAY_DEPTH_FRACTION,
``h`` = REPLAY_HALF_SPREAD_BPS / 10⁴. All arithmetic is ``Decimal`` (28 significant digits); numbers are parsed from
the CSV text, never through float.

1. Best prices ``b1`` (bid) and ``a1`` (ask):

   - a quote bar exists for the minute: ``b1`` = bid close, ``a1`` = ask close (real quotes);
   - otherwise, from the trade bar's close ``C``: ``b1 = C × (1 − h)``, ``a1 = C × (1 + h)``. This spread is a
     stated assumption, not a measurement (``h`` must be above 0: ``b1 = a1`` would be a crossed book).

2. Levels, when a trade bar exists (volume ``V``): ``L`` levels per side, level ``k = 1..L`` at
   ``bid_k = b1 × (1 − (k−1)·s)`` and ``ask_k = a1 × (1 + (k−1)·s)``, each carrying the even share
   ``q = f × V / L`` (so each side totals ``f × V``, a fraction of what traded in that minute). When a quote bar
   gives a real best size, level 1 carries ``max(real size, q)`` on that side (the real "last bid/ask size" is often
   tiny, so the minute's volume is the better depth estimate; it is never made smaller than what was really quoted).
   Levels with equal prices (``s = 0``) are merged into one level carrying their summed amount.
   If ``V`` is exactly 0 (no trades that minute) there is no depth estimate: the book is the single real quote level
   when a quote bar exists, and otherwise has empty sides (validation rejects it as ``empty_side``).

3. Only a quote bar, no trade bar: one level per side, ``(bid close, last bid size)`` and ``(ask close, last ask
   size)``, the real sizes only.

On the recorded day 2022-12-13 this gives 1,440 batches of two books (Binance BTC/BUSD, Bybit BTC/USDT); Bybit's
books use real quotes from 00:00 to 12:00 (721 quote bars) and the assumed spread after.

Bad data
--------
This module does not judge books; :mod:`arb.market.validate` does. A NaN in the CSV becomes ``Decimal('NaN')`` in the
book (counted ``nan`` there), a zero price becomes a zero price (``non_positive_price``), crossed quotes stay crossed
(``crossed_book``). Rows that cannot become a book are handed over as batch rejects: ``unparsable`` (wrong number
of fields, non-numeric text, time outside 0..86,399,999), ``duplicate`` (a minute already seen in that file; the
first row wins) and ``out_of_order`` (a minute earlier than the previous row of that file; the row is dropped,
because a replay emits in time order and could not otherwise show it out of order).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any

from arb.domain import BookLevel, OrderBook
from arb.errors import BadInput, ConfigError
from arb.market.source import MarketBatch, group_by_time, reject_detail

QUOTE_CURRENCIES: tuple[str, ...] = (
    "USDT", "BUSD", "USDC", "TUSD", "FDUSD", "USDP", "DAI", "USD", "BTC", "ETH", "BNB",
    "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "TRY", "BRL",
)
_FILE = re.compile(r"^(?P<date>\d{8})_(?P<ticker>[a-z0-9]+)_minute_(?P<kind>trade|quote)\.csv$")
_DAY_MS = 86_400_000
_BAR = timedelta(seconds=60)
_BPS = Decimal(10_000)
# InvalidOperation is not trapped, so Infinity*0 and friends give NaN (counted by validation) instead of raising.
_CTX = Context(prec=28, traps=[])
_NAN = Decimal("NaN")
_EXPECTED = (
    "expected a Lean data folder containing crypto/<venue>/minute/<ticker>/<YYYYMMDD>_<ticker>_minute_trade.csv "
    "(and optional ..._minute_quote.csv), e.g. ../shared/data/cex-minute-bars-20221213"
)


def ticker_to_symbol(ticker: str) -> str | None:
    """``"btcbusd"`` -> ``"BTC/BUSD"`` by the longest known quote suffix; ``None`` when no suffix fits."""
    t = ticker.upper()
    for q in sorted(QUOTE_CURRENCIES, key=len, reverse=True):
        if t.endswith(q) and len(t) > len(q):
            return f"{t[: -len(q)]}/{q}"
    return None


@dataclass(frozen=True)
class ReplayParams:
    """The four settings of the derivation rule (see the module docstring)."""

    levels: int
    level_step_bps: Decimal
    depth_fraction: Decimal
    half_spread_bps: Decimal

    def __post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        if not isinstance(self.levels, int) or self.levels < 1:
            problems.append(("REPLAY_LEVELS", f"must be an integer of 1 or more, got {self.levels!r}"))
        for name, v in (("REPLAY_LEVEL_STEP_BPS", self.level_step_bps), ("REPLAY_HALF_SPREAD_BPS",
                                                                         self.half_spread_bps)):
            if not isinstance(v, Decimal) or not v.is_finite() or v < 0:
                problems.append((name, f"must be a Decimal of zero or more basis points, got {v!r}"))
        f = self.depth_fraction
        if not isinstance(f, Decimal) or not f.is_finite() or not (0 < f <= 1):
            problems.append(("REPLAY_DEPTH_FRACTION", f"must be a Decimal fraction in (0, 1], got {f!r}"))
        if not problems and (self.levels - 1) * self.level_step_bps >= _BPS:
            problems.append(("REPLAY_LEVEL_STEP_BPS", "(REPLAY_LEVELS - 1) x REPLAY_LEVEL_STEP_BPS must stay below "
                                                      "10000 bps, or the deepest bid would be priced at or below 0"))
        if not problems and not (0 < self.half_spread_bps < _BPS):
            problems.append(("REPLAY_HALF_SPREAD_BPS", "must be above 0 (a zero spread makes bid = ask, a crossed "
                                                       "book) and below 10000 bps, e.g. 0.5"))
        if problems:
            raise ConfigError(problems)

    @classmethod
    def from_settings(cls, settings: Any) -> ReplayParams:
        """From an :class:`arb.settings.Settings` (or anything with the four ``replay_*`` attributes)."""
        return cls(
            levels=settings.replay_levels,
            level_step_bps=settings.replay_level_step_bps,
            depth_fraction=settings.replay_depth_fraction,
            half_spread_bps=settings.replay_half_spread_bps,
        )


@dataclass(frozen=True)
class TradeBar:
    """What the rule uses of a trade bar."""

    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class QuoteBar:
    """What the rule uses of a quote bar: closes and last sizes."""

    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal


@dataclass(frozen=True)
class _Market:
    venue: str
    ticker: str
    symbol: str | None
    folder: Path


def _dec(text: str) -> Decimal:
    d = Decimal(text.strip())  # raises InvalidOperation on non-numeric text
    return _NAN if d.is_snan() else d


def _dmax(a: Decimal, b: Decimal) -> Decimal:
    if a.is_nan() or b.is_nan():
        return _NAN
    return a if a >= b else b


def derive_levels(
    trade: TradeBar | None, quote: QuoteBar | None, p: ReplayParams
) -> tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]:
    """Bids and asks for one minute by the documented rule. At least one of ``trade``/``quote`` must be given."""
    with localcontext(_CTX):
        if quote is not None and trade is None:
            return ((BookLevel(price=quote.bid, amount=quote.bid_size),),
                    (BookLevel(price=quote.ask, amount=quote.ask_size),))
        assert trade is not None
        h = p.half_spread_bps / _BPS
        s = p.level_step_bps / _BPS
        if quote is not None:
            b1, a1 = quote.bid, quote.ask
        else:
            b1, a1 = trade.close * (1 - h), trade.close * (1 + h)
        share = p.depth_fraction * trade.volume / p.levels
        if share == 0:  # no trades that minute: no depth estimate
            if quote is None:
                return (), ()
            return ((BookLevel(price=b1, amount=quote.bid_size),), (BookLevel(price=a1, amount=quote.ask_size),))
        bids: list[tuple[Decimal, Decimal]] = []
        asks: list[tuple[Decimal, Decimal]] = []
        for k in range(p.levels):
            bid_amt = ask_amt = share
            if k == 0 and quote is not None:
                bid_amt, ask_amt = _dmax(quote.bid_size, share), _dmax(quote.ask_size, share)
            bids.append((b1 if k == 0 else b1 * (1 - k * s), bid_amt))
            asks.append((a1 if k == 0 else a1 * (1 + k * s), ask_amt))
        return _merge(bids), _merge(asks)


def _merge(levels: list[tuple[Decimal, Decimal]]) -> tuple[BookLevel, ...]:
    out: list[list[Decimal]] = []
    for price, amount in levels:
        if out and not price.is_nan() and out[-1][0] == price:
            out[-1][1] += amount
        else:
            out.append([price, amount])
    return tuple(BookLevel(price=p, amount=a) for p, a in out)


def _match_filter(flt: frozenset[str] | None, venue: str, symbol: str) -> bool:
    return flt is None or symbol in flt or f"{venue}:{symbol}" in flt


class LeanBookSource:
    """A replay :class:`~arb.market.source.BookSource` over a Lean minute-bar folder (see the module docstring).

    ``symbols`` filters markets: entries are unified symbols (``"BTC/USDT"``, any venue) or ``"venue:BASE/QUOTE"``.
    ``start``/``end`` (tz-aware) keep books stamped ``start <= t < end``.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        levels: int,
        level_step_bps: Decimal,
        depth_fraction: Decimal,
        half_spread_bps: Decimal,
        symbols: Iterable[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        self.params = ReplayParams(levels, level_step_bps, depth_fraction, half_spread_bps)
        self.folder = Path(folder)
        for label, t in (("start", start), ("end", end)):
            if t is not None and (t.tzinfo is None or t.utcoffset() is None):
                raise BadInput("bad_parameter", f"{label}={t!r} must be timezone-aware (UTC)")
        self.start, self.end = start, end
        self._filter = frozenset(symbols) if symbols is not None else None
        self.name = f"lean:{self.folder.name}"
        self._markets, self._dates = self._scan()
        self._total: int | None = None
        if self._filter is not None and not self.symbols:
            have = ", ".join(sorted(f"{m.venue}:{m.symbol}" for m in self._markets if m.symbol)) or "none"
            raise BadInput("unknown_symbol", f"{self.folder}: no market matches symbols={sorted(self._filter)}; "
                                             f"the folder has {have}")

    @classmethod
    def from_params(cls, folder: str | Path, params: ReplayParams, **kwargs: Any) -> LeanBookSource:
        return cls(folder, levels=params.levels, level_step_bps=params.level_step_bps,
                   depth_fraction=params.depth_fraction, half_spread_bps=params.half_spread_bps, **kwargs)

    # ---- discovery ----
    def _scan(self) -> tuple[list[_Market], list[date]]:
        root = self.folder / "crypto"
        if not self.folder.is_dir():
            raise BadInput("bad_path", f"{self.folder}: no such folder; {_EXPECTED}")
        if not root.is_dir():
            raise BadInput("bad_path", f"{self.folder}: has no crypto/ subfolder; {_EXPECTED}")
        markets: list[_Market] = []
        dates: set[date] = set()
        try:
            for venue_dir in sorted(p for p in root.iterdir() if p.is_dir()):
                minute = venue_dir / "minute"
                if not minute.is_dir():
                    continue
                for tdir in sorted(p for p in minute.iterdir() if p.is_dir()):
                    files = [m for f in tdir.iterdir() if (m := _FILE.match(f.name)) and m["ticker"] == tdir.name]
                    if not files:
                        continue
                    markets.append(_Market(venue_dir.name, tdir.name, ticker_to_symbol(tdir.name), tdir))
                    for m in files:
                        try:
                            dates.add(datetime.strptime(m["date"], "%Y%m%d").date())
                        except ValueError:
                            continue
        except OSError as e:
            raise BadInput("bad_path", f"{self.folder}: cannot be read ({e.strerror or e}); {_EXPECTED}") from e
        if not markets:
            raise BadInput("bad_path", f"{self.folder}: no minute bar files found; {_EXPECTED}")
        return markets, sorted(dates)

    @property
    def symbols(self) -> frozenset[tuple[str, str]]:
        return frozenset((m.venue, m.symbol) for m in self._markets
                         if m.symbol is not None and _match_filter(self._filter, m.venue, m.symbol))

    # ---- reading ----
    def _read(
        self, path: Path, n_fields: int, kind: str, m: _Market, symbol: str, midnight: datetime,
        rejects: list[tuple[datetime | None, str, str]],
    ) -> dict[int, list[Decimal]]:
        if not path.exists():
            return {}
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as e:
            raise BadInput("bad_path", f"{path}: cannot be read ({e.strerror or e})") from e
        rel = path.relative_to(self.folder)
        rows: dict[int, list[Decimal]] = {}
        last = -1
        for lineno, fields in enumerate(csv.reader(text.splitlines()), start=1):
            if not fields or all(not f.strip() for f in fields):
                continue

            def reject(reason: str, why: str, at: datetime | None, _lineno: int = lineno) -> None:
                rejects.append((at, reason, reject_detail(m.venue, symbol, f"{rel}:{_lineno}: {why}")))

            if len(fields) != n_fields:
                reject("unparsable", f"{kind} row has {len(fields)} fields, expected {n_fields}", None)
                continue
            t = fields[0].strip()
            if not t.isdigit() or not (0 <= int(t) < _DAY_MS):
                reject("unparsable", f"time {t!r} is not milliseconds since midnight (0..{_DAY_MS - 1})", None)
                continue
            ms = int(t)
            at = midnight + timedelta(milliseconds=ms) + _BAR
            try:
                values = [_dec(f) for f in fields[1:]]
            except InvalidOperation:
                reject("unparsable", f"non-numeric field in {kind} row {','.join(fields)!r}", at)
                continue
            if ms == last or ms in rows:
                reject("duplicate", f"{kind} bar for minute {ms} ms repeated; first row kept", at)
                continue
            if ms < last:
                reject("out_of_order", f"{kind} bar for minute {ms} ms after {last} ms; dropped", at)
                continue
            last = ms
            rows[ms] = values
        return rows

    def _in_range(self, t: datetime) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)

    def _load_date(self, day: date) -> list[MarketBatch]:
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if (self.start is not None and midnight + timedelta(days=1) + _BAR <= self.start) or (
            self.end is not None and midnight >= self.end
        ):
            return []
        stamp = day.strftime("%Y%m%d")
        books: list[OrderBook] = []
        rejects: list[tuple[datetime | None, str, str]] = []
        for m in self._markets:
            trade_path = m.folder / f"{stamp}_{m.ticker}_minute_trade.csv"
            quote_path = m.folder / f"{stamp}_{m.ticker}_minute_quote.csv"
            if not trade_path.exists() and not quote_path.exists():
                continue
            if m.symbol is None:
                rejects.append((None, "unknown_symbol",
                                f"{m.folder.relative_to(self.folder)}: ticker {m.ticker!r} ends in no known quote "
                                f"currency ({', '.join(QUOTE_CURRENCIES)}); its {stamp} files were skipped"))
                continue
            if not _match_filter(self._filter, m.venue, m.symbol):
                continue
            trades = self._read(trade_path, 6, "trade", m, m.symbol, midnight, rejects)
            quotes = self._read(quote_path, 11, "quote", m, m.symbol, midnight, rejects)
            for ms in sorted(set(trades) | set(quotes)):
                at = midnight + timedelta(milliseconds=ms) + _BAR
                if not self._in_range(at):
                    continue
                tr = trades.get(ms)
                qr = quotes.get(ms)
                trade = TradeBar(close=tr[3], volume=tr[4]) if tr else None
                quote = QuoteBar(bid=qr[3], bid_size=qr[4], ask=qr[8], ask_size=qr[9]) if qr else None
                bids, asks = derive_levels(trade, quote, self.params)
                books.append(OrderBook(venue=m.venue, symbol=m.symbol, timestamp=at, bids=bids, asks=asks))
        rejects = [r for r in rejects if r[0] is None or self._in_range(r[0])]
        return group_by_time(books, rejects, fallback_at=midnight)

    # ---- BookSource ----
    @property
    def total_batches(self) -> int:
        if self._total is None:
            self._total = sum(len(self._load_date(d)) for d in self._dates)
        return self._total

    def batches(self) -> Iterator[MarketBatch]:
        for d in self._dates:
            yield from self._load_date(d)

    def close(self) -> None:
        """Nothing is held open between batches; present for the BookSource protocol."""


LeanMinuteSource = LeanBookSource  # the name arb.wiring uses


def lean_to_recording(lean_folder: str | Path, out_path: str | Path, params: ReplayParams | None = None,
                      **kwargs: Any) -> Any:
    """Export a Lean folder to the general recording format: :func:`arb.market.recording.lean_to_recording`."""
    from arb.market.recording import lean_to_recording as export

    return export(lean_folder, out_path, params, **kwargs)
