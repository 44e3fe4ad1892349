"""arb.market.recording: the general wide-row format, CSV and Parquet round trips, and the Lean export."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arb.domain import BookLevel, OrderBook
from arb.errors import BadInput
from arb.market.lean import LeanBookSource, ReplayParams
from arb.market.recording import RecordingSource, RecordingWriter, header, lean_to_recording
from arb.market.source import BookSource
from arb.market.validate import MarketState

DAY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cex-minute-bars-20221213"
T0 = datetime(2022, 12, 13, 0, 1, tzinfo=UTC)


def lv(p: str, a: str) -> BookLevel:
    return BookLevel(price=D(p), amount=D(a))


def same(a: OrderBook, b: OrderBook) -> bool:
    """Equality that treats NaN == NaN (Decimal NaN never equals itself)."""
    def key(book: OrderBook):
        return (book.venue, book.symbol, book.timestamp,
                [(str(x.price) if x.price.is_nan() else x.price, str(x.amount) if x.amount.is_nan() else x.amount)
                 for x in book.bids], "|",
                [(str(x.price) if x.price.is_nan() else x.price, str(x.amount) if x.amount.is_nan() else x.amount)
                 for x in book.asks])
    return key(a) == key(b)


BOOKS = [
    OrderBook(venue="binance", symbol="BTC/BUSD", timestamp=T0,
              bids=(lv("17208.019556", "2.2132084"), lv("17206.29875404440", "2.2132084")),
              asks=(lv("17209.740444", "2.2132084"),)),
    OrderBook(venue="bybit", symbol="BTC/USDT", timestamp=T0, bids=(lv("17205.01", "0.00531"),),
              asks=(lv("17206.77", "0.00416"), lv("17208.49", "1E-8"), lv("1E+5", "3"))),
    OrderBook(venue="bybit", symbol="BTC/USDT", timestamp=T0 + timedelta(minutes=1, microseconds=123456),
              bids=(lv("NaN", "1"),), asks=()),
]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_is_exact(tmp_path, suffix):
    path = tmp_path / f"rec{suffix}"
    with RecordingWriter(path) as w:
        assert w.write(BOOKS[:2]) == 2
        w.write(BOOKS[2:])
    src = RecordingSource(path)
    assert isinstance(src, BookSource)
    batches = list(src.batches())
    assert src.total_batches == 2
    assert [len(b.books) for b in batches] == [2, 1]
    back = [bk for b in batches for bk in b.books]
    assert all(same(a, b) for a, b in zip(BOOKS, back, strict=True))
    assert back[0].bids[1].price == D("17206.29875404440")
    assert back[1].asks[1].amount == D("1E-8")
    assert src.symbols == {("binance", "BTC/BUSD"), ("bybit", "BTC/USDT")}
    assert not list(tmp_path.glob("*.tmp"))


def test_csv_layout_and_append(tmp_path):
    path = tmp_path / "rec.csv"
    with RecordingWriter(path) as w:
        w.write(BOOKS[:2])
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == header(2, 3)
    assert lines[1].startswith("2022-12-13T00:01:00Z,binance,BTC/BUSD,17208.019556,2.2132084,")
    assert "0.00000001" in lines[2] and "100000," in lines[2]  # fixed-point text, no exponent
    with RecordingWriter(path) as w:  # a second writer appends under the same header
        w.write(BOOKS[2:])
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and lines.count(lines[0]) == 1
    assert lines[3].startswith("2022-12-13T00:02:00.123456Z,bybit,BTC/USDT,NaN,1,")
    assert len(list(RecordingSource(path).batches())) == 2


def test_fixed_depth_truncates_and_counts(tmp_path):
    path = tmp_path / "rec.csv"
    with RecordingWriter(path, levels=1) as w:
        w.write(BOOKS)
    assert w.truncated == 2
    back = [bk for b in RecordingSource(path).batches() for bk in b.books]
    assert [len(b.asks) for b in back] == [1, 1, 0]


def test_parquet_is_written_to_tmp_then_renamed(tmp_path):
    path = tmp_path / "rec.parquet"
    w = RecordingWriter(path, row_group_size=2)
    w.write(BOOKS[:2])  # reaches row_group_size: one row group written to the .tmp file
    w.write(BOOKS[2:])  # buffered until close
    assert not path.exists() and (tmp_path / "rec.parquet.tmp").exists()
    w.close()
    assert path.exists() and not (tmp_path / "rec.parquet.tmp").exists()
    schema = pq.read_schema(path)
    assert schema.field("bid_price_1").type == pa.string()
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert pq.ParquetFile(path).metadata.num_row_groups == 2


def test_reader_accepts_epoch_ms_offsets_and_fewer_levels(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(
        "timestamp,venue,symbol,bid_price_1,bid_amount_1,bid_price_2,bid_amount_2,ask_price_1,ask_amount_1,note\n"
        "1670889660000,kraken,ETH/USD,1260.5,2,1260.4,1,1260.6,3,first\n"
        "2022-12-13T01:01:00+01:00,kraken,BTC/USD,17000,1,,,17001,1,\n"
        "2022-12-13T00:02:00,kraken,ETH/USD,1261,1,,,1262,1,naive is UTC\n"
    )
    batches = list(RecordingSource(path).batches())
    assert [b.at for b in batches] == [T0, T0 + timedelta(minutes=1)]
    eth, btc = batches[0].books
    assert eth.symbol == "ETH/USD" and eth.bids[1] == lv("1260.4", "1")
    assert btc.timestamp == T0 and len(btc.bids) == 1
    assert batches[1].books[0].timestamp.tzinfo is not None


def test_bad_rows_are_counted(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "timestamp,venue,symbol,bid_price_1,bid_amount_1,bid_price_2,bid_amount_2,ask_price_1,ask_amount_1\n"
        "2022-12-13T00:02:00Z,a,BTC/USDT,100,1,,,101,1\n"
        "2022-12-13T00:01:00Z,a,BTC/USDT,100,1,,,101,1\n"      # out of order for a BTC/USDT
        "2022-12-13T00:01:00Z,b,BTC/USDT,100,1,,,101,1\n"      # another market: fine
        "yesterday,a,BTC/USDT,100,1,,,101,1\n"                 # unparsable time
        "2022-12-13T00:03:00Z,a,BTCUSDT,100,1,,,101,1\n"       # unparsable symbol
        "2022-12-13T00:03:00Z,a,BTC/USDT,100,,,,101,1\n"       # price without amount
        "2022-12-13T00:03:00Z,a,BTC/USDT,,,99,1,101,1\n"       # gap before level 2
        "2022-12-13T00:03:00Z,a,BTC/USDT,1O0,1,,,101,1\n"      # letter O
        "2022-12-13T00:03:00Z,a,BTC/USDT,100,1\n"              # short row
        "2022-12-13T00:03:00Z,z,BTC/USDT,100,1,,,101,1\n"      # not known
        "2022-12-13T00:03:00Z,a,BTC/USDT,101,1,,,100,1\n"      # crossed: a book, judged by validation
    )
    src = RecordingSource(path, known={("a", "BTC/USDT"), ("b", "BTC/USDT")})
    assert src.symbols == {("a", "BTC/USDT"), ("b", "BTC/USDT")}
    state = MarketState()
    for b in src.batches():
        state.apply(b, now=b.at, max_age_ms=60_000)
    assert state.quality.counts == {"crossed_book": 1, "out_of_order": 1, "unknown_symbol": 1, "unparsable": 6}
    assert state.get("a", "BTC/USDT").timestamp == T0 + timedelta(minutes=1)
    assert any("line 8" in s and "level 2 follows an empty level" in s
               for s in state.quality.snapshot()["samples"]["unparsable"])


@pytest.mark.parametrize(
    ("head", "match"),
    [
        ("venue,symbol,bid_price_1,bid_amount_1", "missing column"),
        ("timestamp,venue,symbol,bid_price_1,bid_amount_1,bid_price_3,bid_amount_3", "without gaps"),
        ("timestamp,venue,symbol,bid_price_1,ask_price_1,ask_amount_1", "needs both"),
        ("timestamp,venue,symbol,bid_px_1,bid_amount_1", "does not follow"),
    ],
)
def test_bad_headers_raise(tmp_path, head, match):
    path = tmp_path / "h.csv"
    path.write_text(head + "\n")
    with pytest.raises(BadInput, match=match):
        list(RecordingSource(path).batches())


def test_bad_paths_raise(tmp_path):
    with pytest.raises(BadInput, match="no such recording"):
        RecordingSource(tmp_path / "missing.csv")
    with pytest.raises(BadInput, match=r"use a \.csv or \.parquet"):
        RecordingWriter(tmp_path / "x.json")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(BadInput, match="not a readable Parquet"):
        list(RecordingSource(tmp_path / "junk.parquet").batches())


def test_reads_foreign_parquet_with_decimal128_and_epoch_ms(tmp_path):
    path = tmp_path / "theirs.parquet"
    dec = pa.decimal128(18, 8)
    table = pa.table({
        "timestamp": pa.array([1670889660000], pa.int64()),
        "venue": ["okx"], "symbol": ["SOL/USDT"],
        "bid_price_1": pa.array([D("13.12345678")], dec), "bid_amount_1": pa.array([D("5")], dec),
        "ask_price_1": pa.array([D("13.2")], dec), "ask_amount_1": pa.array([D("0.00000001")], dec),
    })
    pq.write_table(table, path)
    (bk,) = [bk for b in RecordingSource(path).batches() for bk in b.books]
    assert bk.timestamp == T0
    assert bk.bids[0].price == D("13.12345678") and bk.asks[0].amount == D("0.00000001")


# ---- property: arbitrary Decimal books survive both formats exactly

_dec = st.decimals(min_value=D("-1E+12"), max_value=D("1E+12"), allow_nan=False, allow_infinity=False, places=12)
_side = st.lists(st.builds(BookLevel, price=_dec, amount=_dec), max_size=3).map(tuple)
_book = st.builds(
    OrderBook,
    venue=st.sampled_from(["binance", "bybit", "kraken"]),
    symbol=st.sampled_from(["BTC/USDT", "ETH/BTC"]),
    timestamp=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                           timezones=st.just(UTC)),
    bids=_side,
    asks=_side,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books=st.lists(_book, min_size=1, max_size=6))
def test_round_trip_property(books):
    books = sorted(books, key=lambda b: b.timestamp)  # in time order: nothing is out of order
    with tempfile.TemporaryDirectory() as d:
        for suffix in (".csv", ".parquet"):
            path = Path(d) / f"r{suffix}"
            with RecordingWriter(path) as w:
                w.write(books)
            back = [bk for b in RecordingSource(path).batches() for bk in b.books]
            assert len(back) == len(books)
            # batching is stable: books with equal timestamps keep their order
            assert back == books


def test_non_utc_offsets_are_converted(tmp_path):
    path = tmp_path / "tz.csv"
    b = BOOKS[0].model_copy(update={"timestamp": T0.astimezone(timezone(timedelta(hours=5)))})
    with RecordingWriter(path) as w:
        w.write([b])
    assert "2022-12-13T00:01:00Z" in path.read_text()
    (back,) = [bk for bt in RecordingSource(path).batches() for bk in bt.books]
    assert back.timestamp == T0 and back.timestamp.utcoffset() == timedelta(0)


# ---- Lean export


def test_lean_export_replays_identically(tmp_path):
    params = ReplayParams(5, D(1), D("0.10"), D("0.5"))
    out = tmp_path / "day.parquet"
    res = lean_to_recording(DAY, out, params)
    assert (res.books, res.batches, res.rejects) == (2880, 1440, {})
    lean = [bk for b in LeanBookSource.from_params(DAY, params).batches() for bk in b.books]
    rec_src = RecordingSource(out)
    assert rec_src.total_batches == 1440
    rec = [bk for b in rec_src.batches() for bk in b.books]
    assert rec == lean


def test_lean_export_with_filters_to_csv(tmp_path):
    out = tmp_path / "bybit.csv"
    res = lean_to_recording(DAY, out, ReplayParams(3, D(1), D("0.10"), D("0.5")), symbols=["bybit:BTC/USDT"],
                            end=T0 + timedelta(minutes=9))
    assert (res.books, res.batches) == (9, 9)  # stamps 00:01 .. 00:09; end is exclusive
    assert out.read_text().splitlines()[0].split(",") == header(3, 3)
    # the same export through the keyword form that arb.lean re-exports
    from arb.market import lean

    res2 = lean.lean_to_recording(DAY, tmp_path / "kw.csv", levels=3, level_step_bps=D(1), depth_fraction=D("0.10"),
                                  half_spread_bps=D("0.5"), symbols=["bybit:BTC/USDT"], end=T0 + timedelta(minutes=9))
    assert res2.books == 9 and (tmp_path / "kw.csv").read_text() == out.read_text()
    with pytest.raises(BadInput, match="no books to export"):
        lean_to_recording(DAY, tmp_path / "none.csv", ReplayParams(3, D(1), D("0.1"), D("0.5")),
                          start=T0 + timedelta(days=2))
    assert not (tmp_path / "none.csv").exists()
