"""A general order-book recording format, so anyone can record books and replay them.

Format
------
One row per book snapshot, wide::

    timestamp, venue, symbol,
    bid_price_1, bid_amount_1, ..., bid_price_N, bid_amount_N,
    ask_price_1, ask_amount_1, ..., ask_price_M, ask_amount_M

- ``timestamp``: when the venue's book had this state, UTC. Either ISO-8601 (``2022-12-13T00:01:00Z``; an offset
  other than UTC is converted; a time without an offset is read as UTC) or an integer of epoch milliseconds.
- ``venue``: the ccxt exchange id (``binance``); ``symbol``: the ccxt unified symbol (``BTC/USDT``).
- Levels best first: bids highest price first, asks lowest first. ``N`` and ``M`` are read from the header; level
  ``k`` needs both its price and amount column, for ``k = 1..N`` without gaps. Empty cells mean the book has fewer
  levels; the filled levels of a side must come first (a gap, or a price without its amount, makes the row
  ``unparsable``). Other columns are ignored, except ``bid_*``/``ask_*`` names that break the pattern (an error).
- Numbers are decimal text, read with ``Decimal(text)``: nothing goes through float. ``NaN`` is kept as
  ``Decimal('NaN')`` (validation counts it).

Files: ``.csv`` (UTF-8, header row) or ``.parquet``/``.pq``. :class:`RecordingWriter` writes Parquet with a
``timestamp[us, UTC]`` column and prices/amounts as *strings* (exact decimal text); :class:`RecordingSource` also
reads Parquet whose level columns are ``decimal128``, integers, or floats (a float is taken by its shortest repr,
``Decimal(str(x))``, and is only as exact as the float was), and whose timestamp is a timestamp, integer epoch ms or
ISO string column.

Replay rules (:class:`RecordingSource`): books with the same timestamp form one batch; batches come in time order.
A row whose timestamp is earlier than an earlier row's for the same venue+symbol is dropped and counted as
``out_of_order``; rows outside ``known`` (when given) are counted as ``unknown_symbol``; a row that cannot become a
book is counted as ``unparsable``. The whole file is read when the first batch (or ``total_batches``) is asked for.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from arb.domain import BookLevel, OrderBook, split_symbol
from arb.errors import BadInput
from arb.market.source import MarketBatch, group_by_time, reject_detail

_LEVEL_COL = re.compile(r"^(?P<side>bid|ask)_(?P<what>price|amount)_(?P<k>[1-9][0-9]*)$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_REQUIRED = ("timestamp", "venue", "symbol")


def _fmt_time(t: datetime) -> str:
    if t.tzinfo is None or t.utcoffset() is None:
        raise BadInput("naive_timestamp", f"book timestamp {t!r} has no timezone; stamp books in UTC")
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _fmt_dec(d: Decimal) -> str:
    return format(d, "f") if d.is_finite() else str(d)


def header(bid_levels: int, ask_levels: int) -> list[str]:
    """The canonical column names for ``bid_levels`` bid and ``ask_levels`` ask levels."""
    cols = list(_REQUIRED)
    for side, n in (("bid", bid_levels), ("ask", ask_levels)):
        for k in range(1, n + 1):
            cols += [f"{side}_price_{k}", f"{side}_amount_{k}"]
    return cols


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise BadInput("bad_path", f"{path}: unknown recording type {suffix!r}; use a .csv or .parquet file name")


@dataclass(frozen=True)
class _Layout:
    """Column indices of a recording's header."""

    ts: int
    venue: int
    symbol: int
    bids: tuple[tuple[int, int], ...]  # (price column, amount column) per level
    asks: tuple[tuple[int, int], ...]

    @property
    def width(self) -> int:
        return 1 + max([self.ts, self.venue, self.symbol] + [i for pair in self.bids + self.asks for i in pair])


def _layout(columns: Sequence[str], where: str) -> _Layout:
    names = [c.strip() for c in columns]
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        raise BadInput("bad_header", f"{where}: missing column(s) {', '.join(missing)}; the header must start "
                                     f"timestamp,venue,symbol,bid_price_1,bid_amount_1,...")
    found: dict[tuple[str, str, int], int] = {}
    for i, c in enumerate(names):
        m = _LEVEL_COL.match(c)
        if m:
            found[(m["side"], m["what"], int(m["k"]))] = i
        elif c.startswith(("bid_", "ask_")):
            raise BadInput("bad_header", f"{where}: column {c!r} does not follow bid_price_K/bid_amount_K/"
                                         f"ask_price_K/ask_amount_K (K = 1, 2, ...)")
    sides: dict[str, tuple[tuple[int, int], ...]] = {}
    for side in ("bid", "ask"):
        ks = sorted({k for (s, _, k) in found if s == side})
        if ks != list(range(1, len(ks) + 1)):
            raise BadInput("bad_header", f"{where}: {side} levels {ks} must be numbered 1..N without gaps")
        pairs = []
        for k in ks:
            if (side, "price", k) not in found or (side, "amount", k) not in found:
                raise BadInput("bad_header", f"{where}: level {k} needs both {side}_price_{k} and {side}_amount_{k}")
            pairs.append((found[(side, "price", k)], found[(side, "amount", k)]))
        sides[side] = tuple(pairs)
    return _Layout(names.index("timestamp"), names.index("venue"), names.index("symbol"), sides["bid"], sides["ask"])


# ---------------------------------------------------------------- writing


class RecordingWriter:
    """Append books to a recording (format chosen by the file suffix).

    - CSV: the header is written with the first books (or read from an existing file, which is appended to); each
      :meth:`write` appends and flushes, so a crash loses nothing already written.
    - Parquet: rows go to ``<name>.tmp`` in row groups of ``row_group_size``; :meth:`close` renames it over ``path``,
      so readers never see a half-written file. An existing ``path`` is replaced on close.

    The number of levels per side is ``levels`` when given, else the deepest side among the first books written.
    Deeper books are cut to that depth (counted in :attr:`truncated`).
    """

    def __init__(self, path: str | Path, *, levels: int | None = None, row_group_size: int = 65_536) -> None:
        self.path = Path(path)
        self.kind = _kind(self.path)
        if levels is not None and levels < 1:
            raise BadInput("bad_parameter", f"levels must be 1 or more, got {levels}")
        self.levels = levels
        self.row_group_size = row_group_size
        self.truncated = 0
        self.rows_written = 0
        self._bid_n: int | None = None
        self._ask_n: int | None = None
        self._csv: TextIO | None = None
        self._csv_writer: Any = None
        self._pq_writer: Any = None
        self._buffer: list[OrderBook] = []
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._closed = False

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fix_depth(self, books: Sequence[OrderBook]) -> None:
        if self._bid_n is not None:
            return
        if self.levels is not None:
            self._bid_n = self._ask_n = self.levels
        else:
            self._bid_n = max((len(b.bids) for b in books), default=0) or 1
            self._ask_n = max((len(b.asks) for b in books), default=0) or 1

    def _cells(self, book: OrderBook) -> list[str | None]:
        assert self._bid_n is not None and self._ask_n is not None
        if len(book.bids) > self._bid_n or len(book.asks) > self._ask_n:
            self.truncated += 1
        out: list[str | None] = [_fmt_time(book.timestamp), book.venue, book.symbol]
        for levels, n in ((book.bids, self._bid_n), (book.asks, self._ask_n)):
            for k in range(n):
                if k < len(levels):
                    out += [_fmt_dec(levels[k].price), _fmt_dec(levels[k].amount)]
                else:
                    out += [None, None]
        return out

    def write(self, books: Iterable[OrderBook]) -> int:
        """Record ``books``; returns how many."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        books = list(books)
        if not books:
            return 0
        if self.kind == "csv":
            self._write_csv(books)
        else:
            self._buffer.extend(books)
            if len(self._buffer) >= self.row_group_size:
                self._flush_parquet()
        self.rows_written += len(books)
        return len(books)

    def write_batch(self, batch: MarketBatch) -> int:
        return self.write(batch.books)

    def _write_csv(self, books: list[OrderBook]) -> None:
        if self._csv is None:
            exists = self.path.exists() and self.path.stat().st_size > 0
            if exists:
                with self.path.open(newline="", encoding="utf-8") as f:
                    first = next(csv.reader(f), [])
                lay = _layout(first, str(self.path))
                if [c.strip() for c in first] != header(len(lay.bids), len(lay.asks)):
                    raise BadInput("bad_header", f"{self.path}: can only append to a file in the canonical column "
                                                 f"order; write to a new file instead")
                self._bid_n, self._ask_n = len(lay.bids), len(lay.asks)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fix_depth(books)
            self._csv = self.path.open("a", newline="", encoding="utf-8")
            self._csv_writer = csv.writer(self._csv, lineterminator="\n")
            if not exists:
                assert self._bid_n is not None and self._ask_n is not None
                self._csv_writer.writerow(header(self._bid_n, self._ask_n))
        for b in books:
            self._csv_writer.writerow(["" if c is None else c for c in self._cells(b)])
        assert self._csv is not None
        self._csv.flush()

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._buffer and self._pq_writer is not None:
            return
        self._fix_depth(self._buffer)
        assert self._bid_n is not None and self._ask_n is not None
        cols = header(self._bid_n, self._ask_n)
        schema = pa.schema([pa.field("timestamp", pa.timestamp("us", tz="UTC")), pa.field("venue", pa.string()),
                            pa.field("symbol", pa.string())] + [pa.field(c, pa.string()) for c in cols[3:]])
        rows = [self._cells(b) for b in self._buffer]
        arrays: list[Any] = [pa.array([b.timestamp for b in self._buffer], type=schema.field(0).type)]
        for i in range(1, len(cols)):
            arrays.append(pa.array([r[i] for r in rows], type=pa.string()))
        table = pa.Table.from_arrays(arrays, schema=schema)
        if self._pq_writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._pq_writer = pq.ParquetWriter(str(self._tmp), schema)
        self._pq_writer.write_table(table)
        self._buffer = []

    def close(self) -> None:
        """Finish the file (Parquet: write the rest, then rename ``.tmp`` over ``path``). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._csv is not None:
            self._csv.close()
        if self.kind == "parquet":
            self._flush_parquet()
            self._pq_writer.close()
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Stop without publishing: a Parquet ``.tmp`` is deleted (CSV rows already written stay)."""
        if self._closed:
            return
        self._closed = True
        if self._csv is not None:
            self._csv.close()
        if self._pq_writer is not None:
            self._pq_writer.close()
        self._tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- reading


def _parse_time(raw: Any) -> datetime:
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return _EPOCH + timedelta(milliseconds=raw)
    if isinstance(raw, str):
        text = raw.strip()
        if text.isdigit():
            return _EPOCH + timedelta(milliseconds=int(text))
        t = datetime.fromisoformat(text)  # ValueError when not ISO-8601
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    raise ValueError(f"timestamp {raw!r} is neither ISO-8601 nor epoch milliseconds")


def _parse_num(raw: Any) -> Decimal | None:
    if raw is None:
        return None
    if isinstance(raw, Decimal):
        return Decimal("NaN") if raw.is_snan() else raw
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a number")
    if isinstance(raw, int | float):
        return Decimal(str(raw))
    text = str(raw).strip()
    if not text:
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    return Decimal("NaN") if d.is_snan() else d


def _side(cells: Sequence[tuple[Any, Any]], side: str) -> tuple[BookLevel, ...]:
    levels: list[BookLevel] = []
    ended = False
    for k, (p_raw, a_raw) in enumerate(cells, start=1):
        price, amount = _parse_num(p_raw), _parse_num(a_raw)
        if price is None and amount is None:
            ended = True
            continue
        if price is None or amount is None:
            raise ValueError(f"{side} level {k} has a price or an amount but not both")
        if ended:
            raise ValueError(f"{side} level {k} follows an empty level")
        levels.append(BookLevel(price=price, amount=amount))
    return tuple(levels)


@dataclass
class _Loaded:
    batches: list[MarketBatch]
    markets: frozenset[tuple[str, str]]
    books: int = 0
    rejects: dict[str, int] = field(default_factory=dict)


class RecordingSource:
    """A replay :class:`~arb.market.source.BookSource` over a recording (see the module docstring)."""

    def __init__(self, path: str | Path, known: Iterable[tuple[str, str]] | None = None) -> None:
        self.path = Path(path)
        self.kind = _kind(self.path)
        if not self.path.is_file():
            raise BadInput("bad_path", f"{self.path}: no such recording file; expected a .csv or .parquet file with "
                                       f"columns timestamp,venue,symbol,bid_price_1,bid_amount_1,...")
        self.known = frozenset(known) if known is not None else None
        self.name = f"recording:{self.path.name}"
        self._loaded: _Loaded | None = None
        self._lay: _Layout | None = None  # set when the header is read

    def _rows(self) -> Iterator[tuple[str, list[Any]]]:
        """(where, cells) per data row, with cells ordered as ``self._lay`` says."""
        if self.kind == "csv":
            try:
                f = self.path.open(newline="", encoding="utf-8", errors="replace")
            except OSError as e:
                raise BadInput("bad_path", f"{self.path}: cannot be read ({e.strerror or e})") from e
            with f:
                reader = csv.reader(f)
                first = next(reader, None)
                if first is None:
                    raise BadInput("bad_header", f"{self.path}: empty file; expected a header row")
                self._lay = _layout(first, str(self.path))
                for row in reader:
                    if not row or all(not c.strip() for c in row):
                        continue
                    yield f"line {reader.line_num}", row
        else:
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(str(self.path))
            except Exception as e:  # pyarrow raises several unrelated types for a corrupt file
                raise BadInput("bad_path", f"{self.path}: not a readable Parquet file ({e})") from e
            self._lay = _layout(table.column_names, str(self.path))
            columns = [c.to_pylist() for c in table.columns]
            for i in range(table.num_rows):
                yield f"row {i}", [col[i] for col in columns]

    def _load(self) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        books: list[OrderBook] = []
        rejects: list[tuple[datetime | None, str, str]] = []
        last: dict[tuple[str, str], datetime] = {}
        markets: set[tuple[str, str]] = set()
        for where, cells in self._rows():
            lay = self._lay
            assert lay is not None
            venue = symbol = None
            at: datetime | None = None
            try:
                if len(cells) < lay.width:
                    raise ValueError(f"{len(cells)} fields, the header has {lay.width}")
                venue = str(cells[lay.venue] or "").strip()
                symbol = str(cells[lay.symbol] or "").strip()
                if not venue:
                    raise ValueError("empty venue")
                split_symbol(symbol)  # ValueError unless BASE/QUOTE
                at = _parse_time(cells[lay.ts])
                bids = _side([(cells[p], cells[a]) for p, a in lay.bids], "bid")
                asks = _side([(cells[p], cells[a]) for p, a in lay.asks], "ask")
            except (ValueError, TypeError, OverflowError) as e:
                ok = bool(venue) and symbol is not None and "/" in symbol
                rejects.append((at, "unparsable", reject_detail(venue if ok else None, symbol if ok else None,
                                                                f"{self.path.name} {where}: {e}")))
                continue
            key = (venue, symbol)
            if self.known is not None and key not in self.known:
                rejects.append((at, "unknown_symbol", reject_detail(venue, symbol, f"{self.path.name} {where}: "
                                                                    f"not among the known markets")))
                continue
            prev = last.get(key)
            if prev is not None and at < prev:
                rejects.append((at, "out_of_order", reject_detail(venue, symbol, f"{self.path.name} {where}: "
                                                                  f"{at.isoformat()} after {prev.isoformat()}")))
                continue
            last[key] = at
            markets.add(key)
            books.append(OrderBook(venue=venue, symbol=symbol, timestamp=at, bids=bids, asks=asks))
        batches = group_by_time(books, rejects, fallback_at=_EPOCH)
        counts: dict[str, int] = {}
        for _, reason, _ in rejects:
            counts[reason] = counts.get(reason, 0) + 1
        self._loaded = _Loaded(batches, frozenset(markets), len(books), counts)
        return self._loaded

    @property
    def symbols(self) -> frozenset[tuple[str, str]]:
        return self.known if self.known is not None else self._load().markets

    @property
    def total_batches(self) -> int:
        return len(self._load().batches)

    def batches(self) -> Iterator[MarketBatch]:
        yield from self._load().batches

    def close(self) -> None:
        """Drop the loaded rows. The file itself is never held open between calls."""
        self._loaded = None


# ---------------------------------------------------------------- conversion


@dataclass(frozen=True)
class ExportResult:
    path: Path
    books: int
    batches: int
    rejects: dict[str, int]  # rows of the Lean folder that could not become a book, by reason (not in the file)


def lean_to_recording(
    lean_folder: str | Path,
    out_path: str | Path,
    params: Any = None,
    *,
    levels: int | None = None,
    level_step_bps: Decimal | None = None,
    depth_fraction: Decimal | None = None,
    half_spread_bps: Decimal | None = None,
    symbols: Iterable[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> ExportResult:
    """Export a Lean minute-bar folder to a recording, deriving books exactly as the Lean replay does.

    ``params`` is a :class:`arb.market.lean.ReplayParams` (or anything with ``levels``, ``level_step_bps``,
    ``depth_fraction``, ``half_spread_bps``); alternatively pass those four as keywords. Every derived book is written
    as is, valid or not, so replaying the recording gives the same books (and the same validation results) as
    replaying the folder. Returns counts; ``.books`` is the number of books written.
    """
    from arb.market.lean import LeanBookSource, ReplayParams

    if params is None:
        if levels is None or level_step_bps is None or depth_fraction is None or half_spread_bps is None:
            raise BadInput("bad_parameter", "pass params=ReplayParams(...) or all of levels, level_step_bps, "
                                            "depth_fraction, half_spread_bps")
        params = ReplayParams(levels, level_step_bps, depth_fraction, half_spread_bps)
    p = params if isinstance(params, ReplayParams) else ReplayParams(
        params.levels, params.level_step_bps, params.depth_fraction, params.half_spread_bps)
    src = LeanBookSource.from_params(lean_folder, p, symbols=symbols, start=start, end=end)
    rejects: dict[str, int] = {}
    n_books = n_batches = 0
    out = Path(out_path)
    writer = RecordingWriter(out, levels=p.levels)
    try:
        for batch in src.batches():
            n_batches += 1
            n_books += writer.write(batch.books)
            for reason, _ in batch.rejects:
                rejects[reason] = rejects.get(reason, 0) + 1
    except BaseException:
        writer.abort()
        raise
    if n_books == 0:
        writer.abort()
        raise BadInput("empty", f"{lean_folder}: no books to export (check the symbols/start/end filters)")
    writer.close()
    src.close()
    return ExportResult(out, n_books, n_batches, rejects)
