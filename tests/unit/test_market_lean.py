"""arb.market.lean on the real recorded day (../shared/data/cex-minute-bars-20221213) and on small bad folders.

Expected values are computed here from the CSV *text* with Decimal, independently of the module.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.domain import BookLevel, OrderBook
from arb.errors import BadInput, ConfigError
from arb.market.lean import LeanBookSource, QuoteBar, ReplayParams, TradeBar, derive_levels, ticker_to_symbol
from arb.market.source import BookSource
from arb.market.validate import MarketState, validate_book

DAY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cex-minute-bars-20221213"
MIDNIGHT = datetime(2022, 12, 13, tzinfo=UTC)
P = {"levels": 5, "level_step_bps": D("1"), "depth_fraction": D("0.10"), "half_spread_bps": D("0.5")}
H = D("0.5") / 10_000
S = D("1") / 10_000


def rows(rel: str) -> dict[int, list[str]]:
    with (DAY / rel).open(newline="") as f:
        return {int(r[0]): r for r in csv.reader(f) if r}


@pytest.fixture(scope="module")
def day() -> list:
    assert DAY.is_dir(), f"recorded data missing: {DAY}"
    src = LeanBookSource(DAY, **P)
    return [src, list(src.batches())]


BINANCE_T = "crypto/binance/minute/btcbusd/20221213_btcbusd_minute_trade.csv"
BYBIT_T = "crypto/bybit/minute/btcusdt/20221213_btcusdt_minute_trade.csv"
BYBIT_Q = "crypto/bybit/minute/btcusdt/20221213_btcusdt_minute_quote.csv"


def test_real_day_counts(day):
    src, batches = day
    assert isinstance(src, BookSource)
    assert src.symbols == {("binance", "BTC/BUSD"), ("bybit", "BTC/USDT")}
    assert src.total_batches == len(batches) == 1440
    assert all(len(b.books) == 2 for b in batches)
    assert all(not b.rejects for b in batches)
    assert [b.at for b in batches] == sorted(b.at for b in batches)
    assert batches[0].at == MIDNIGHT + timedelta(minutes=1)
    assert batches[-1].at == MIDNIGHT + timedelta(days=1)
    assert all(bk.timestamp == b.at for b in batches for bk in b.books)
    # every book validates on the real day
    state = MarketState()
    assert sum(len(state.apply(b, now=b.at, max_age_ms=5000)) for b in batches) == 2880
    assert state.quality.total == 0


def test_timestamps_are_bar_start_plus_60s(day):
    _, batches = day
    starts = set(rows(BINANCE_T))
    assert {int((b.at - MIDNIGHT).total_seconds() * 1000) - 60_000 for b in batches} == starts


def test_first_binance_book_is_trade_derived_exactly(day):
    _, batches = day
    bk = next(b for b in batches[0].books if b.venue == "binance")
    r = rows(BINANCE_T)[0]
    close, volume = D(r[4]), D(r[5])
    assert r[4] == "17208.88" and r[5] == "110.66042"
    assert bk.bids[0].price == close * (1 - H) == D("17208.019556")
    assert bk.asks[0].price == close * (1 + H) == D("17209.740444")
    share = D("0.10") * volume / 5
    assert share == D("2.2132084")
    assert len(bk.bids) == len(bk.asks) == 5
    for k in range(5):
        assert bk.bids[k].price == close * (1 - H) * (1 - k * S)
        assert bk.asks[k].price == close * (1 + H) * (1 + k * S)
        assert bk.bids[k].amount == bk.asks[k].amount == share
    assert sum(x.amount for x in bk.bids) == D("0.10") * volume


def test_first_bybit_book_uses_real_quotes(day):
    _, batches = day
    bk = next(b for b in batches[0].books if b.venue == "bybit")
    q, t = rows(BYBIT_Q)[0], rows(BYBIT_T)[0]
    assert bk.bids[0].price == D(q[4]) == D("17205.01")  # bid close, the CSV text
    assert bk.asks[0].price == D(q[9]) == D("17206.77")  # ask close
    share = D("0.10") * D(t[5]) / 5
    # real last sizes 0.00531 / 0.00416 are below the even share: level 1 carries the share
    assert bk.bids[0].amount == max(D(q[5]), share) == share
    assert bk.asks[0].amount == max(D(q[10]), share) == share
    assert bk.bids[4].price == D("17205.01") * (1 - 4 * S)
    assert bk.asks[4].price == D("17206.77") * (1 + 4 * S)


def test_level_one_keeps_a_real_size_larger_than_the_share(day):
    _, batches = day
    bk = next(b for b in batches[1].books if b.venue == "bybit")  # bar 60000
    q, t = rows(BYBIT_Q)[60_000], rows(BYBIT_T)[60_000]
    share = D("0.10") * D(t[5]) / 5
    assert D(q[10]) > share  # 0.458998 real ask size
    assert bk.asks[0].amount == D("0.458998")
    assert bk.bids[0].amount == share > D(q[5])
    assert all(x.amount == share for x in bk.asks[1:])


def test_bybit_quotes_end_at_noon_then_spread_is_assumed(day):
    _, batches = day
    by_at = {b.at: next(x for x in b.books if x.venue == "bybit") for b in batches}
    last_quote = by_at[MIDNIGHT + timedelta(hours=12, minutes=1)]  # bar starting 12:00 has a quote
    q = rows(BYBIT_Q)[43_200_000]
    assert last_quote.bids[0].price == D(q[4]) and last_quote.asks[0].price == D(q[9])
    after = by_at[MIDNIGHT + timedelta(hours=12, minutes=2)]
    close = D(rows(BYBIT_T)[43_260_000][4])
    assert after.bids[0].price == close * (1 - H)
    assert after.asks[0].price == close * (1 + H)
    assert len(rows(BYBIT_Q)) == 721


def test_filters_symbols_and_time_range():
    src = LeanBookSource(DAY, **P, symbols=["bybit:BTC/USDT"], start=MIDNIGHT + timedelta(minutes=10),
                         end=MIDNIGHT + timedelta(minutes=20))
    batches = list(src.batches())
    assert src.total_batches == len(batches) == 10
    assert {bk.venue for b in batches for bk in b.books} == {"bybit"}
    assert batches[0].at == MIDNIGHT + timedelta(minutes=10) and batches[-1].at == MIDNIGHT + timedelta(minutes=19)
    src2 = LeanBookSource(DAY, **P, symbols=["BTC/BUSD"], end=MIDNIGHT + timedelta(minutes=3))
    assert src2.symbols == {("binance", "BTC/BUSD")}
    assert [len(b.books) for b in src2.batches()] == [1, 1]
    with pytest.raises(BadInput, match=r"no market matches symbols=\['ETH/USDT'\].*binance:BTC/BUSD"):
        LeanBookSource(DAY, **P, symbols=["ETH/USDT"])


def test_ticker_mapping_longest_quote_suffix():
    assert ticker_to_symbol("btcbusd") == "BTC/BUSD"
    assert ticker_to_symbol("btcusdt") == "BTC/USDT"
    assert ticker_to_symbol("btcusd") == "BTC/USD"
    assert ticker_to_symbol("ethbtc") == "ETH/BTC"
    assert ticker_to_symbol("usdcusdt") == "USDC/USDT"
    assert ticker_to_symbol("xyzabc") is None
    assert ticker_to_symbol("usdt") is None  # no base left


def test_missing_or_wrong_folder_is_a_clear_error(tmp_path):
    with pytest.raises(BadInput, match=r"no such folder.*crypto/<venue>/minute") as e:
        LeanBookSource(tmp_path / "nope", **P)
    assert str(tmp_path / "nope") in str(e.value)
    with pytest.raises(BadInput, match="has no crypto/ subfolder"):
        LeanBookSource(tmp_path, **P)
    (tmp_path / "crypto" / "binance" / "minute").mkdir(parents=True)
    with pytest.raises(BadInput, match="no minute bar files"):
        LeanBookSource(tmp_path, **P)


def test_bad_parameters_name_the_setting():
    with pytest.raises(ConfigError) as e:
        LeanBookSource(DAY, levels=0, level_step_bps=D(1), depth_fraction=D(2), half_spread_bps=D(-1))
    names = [n for n, _ in e.value.problems]
    assert names == ["REPLAY_LEVELS", "REPLAY_HALF_SPREAD_BPS", "REPLAY_DEPTH_FRACTION"]


# ---- bad data in small hand-written folders


def write(root: Path, venue: str, ticker: str, kind: str, lines: list[str], day: str = "20221213") -> None:
    d = root / "crypto" / venue / "minute" / ticker
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{day}_{ticker}_minute_{kind}.csv").write_text("\n".join(lines) + "\n")


def test_bad_rows_are_counted_not_crashed(tmp_path):
    write(tmp_path, "testex", "btcusdt", "trade", [
        "0,100,101,99,100,10",          # 00:01 good
        "60000,100,101,99,NaN,10",      # 00:02 nan close
        "120000,100,101,99,0,10",       # 00:03 zero price
        "180000,100,101,99,-5,10",      # 00:04 negative price
        "240000,100,101,99,100,-1",     # 00:05 negative volume
        "300000,100,101,99,abc,10",     # unparsable text
        "360000,100,101,99",            # unparsable: 4 fields
        "86400000,1,1,1,1,1",           # unparsable: time out of the day
        "420000,100,101,99,100,10",     # 00:08 good
        "390000,100,101,99,100,10",     # out of order (after 420000)
        "420000,100,101,99,100,10",     # duplicate minute
        "600000,100,101,99,100,0",      # 00:11 no trades and no quote: empty sides
        "660000,100,101,99,100,0",      # 00:12 no trades, quote below: single real level
    ])
    write(tmp_path, "testex", "btcusdt", "quote", [
        "480000,1,1,1,101,2,1,1,1,100,3",   # 00:09 crossed quote, no trade bar
        "660000,1,1,1,99.5,2,1,1,1,100.5,3",
    ])
    write(tmp_path, "testex", "foobar", "trade", ["0,1,1,1,1,1"])  # ticker with no known quote currency
    write(tmp_path, "kraken", "btcusd", "trade", ["0,100,101,99,100,10"])  # a venue outside `known`

    src = LeanBookSource(tmp_path, **P)
    batches = list(src.batches())
    assert src.total_batches == len(batches)
    nan_book = next(bk for b in batches for bk in b.books if bk.timestamp == MIDNIGHT + timedelta(minutes=2))
    assert nan_book.bids[0].price.is_nan()

    state = MarketState(known={("testex", "BTC/USDT")})
    valid = [bk for b in batches for bk in state.apply(b, now=b.at, max_age_ms=5000)]
    assert state.quality.counts == {
        "crossed_book": 1,
        "duplicate": 1,
        "empty_side": 1,
        "nan": 1,
        "non_positive_amount": 1,
        "non_positive_price": 2,
        "out_of_order": 1,
        "unknown_symbol": 2,  # the foobar folder (once) + the kraken book
        "unparsable": 3,
    }
    assert [bk.timestamp - MIDNIGHT for bk in valid] == [timedelta(minutes=m) for m in (1, 8, 12)]
    single = valid[-1]
    assert single.bids == (single.bids[0],) and single.bids[0].price == D("99.5") and single.bids[0].amount == D(2)
    assert state.quality.by_market[("testex", "BTC/USDT")]["unparsable"] == 3
    samples = state.quality.snapshot()["samples"]
    assert any("20221213_btcusdt_minute_trade.csv:7" in s and "4 fields" in s for s in samples["unparsable"])
    assert any("foobar" in s for s in samples["unknown_symbol"])


def test_zero_step_merges_levels_and_multiple_days_stay_in_order(tmp_path):
    write(tmp_path, "x", "ethusdt", "trade", ["0,10,10,10,10,4"], day="20221214")
    write(tmp_path, "x", "ethusdt", "trade", ["0,20,20,20,20,8", "60000,21,21,21,21,8"], day="20221213")
    src = LeanBookSource(tmp_path, levels=4, level_step_bps=D(0), depth_fraction=D("0.5"), half_spread_bps=D(10))
    batches = list(src.batches())
    assert [b.at for b in batches] == [MIDNIGHT + timedelta(minutes=1), MIDNIGHT + timedelta(minutes=2),
                                       MIDNIGHT + timedelta(days=1, minutes=1)]
    first = batches[0].books[0]
    # step 0: the four levels share one price, so each side is one level carrying the whole f x V
    assert first.bids == (BookLevel(price=D("19.98"), amount=D(4)),)
    assert first.asks == (BookLevel(price=D("20.02"), amount=D(4)),)


def test_zero_half_spread_is_refused():
    with pytest.raises(ConfigError, match="REPLAY_HALF_SPREAD_BPS"):
        ReplayParams(5, D(1), D("0.1"), D(0))


def test_params_object_and_from_settings():
    from arb.settings import Settings

    p = ReplayParams.from_settings(Settings(_env_file=None))
    assert p == ReplayParams(5, D(1), D("0.10"), D("0.5"))
    src = LeanBookSource.from_params(DAY, p, end=MIDNIGHT + timedelta(minutes=2))
    assert src.total_batches == 1


# ---- property: the rule always gives a valid book with the documented depth

_pos = st.decimals(min_value=D("0.0001"), max_value=D("1000000"), places=4)


@given(close=_pos, volume=_pos, levels=st.integers(1, 10), step=st.decimals(D(0), D(50), places=2),
       half=st.decimals(D("0.01"), D(50), places=2), fraction=st.decimals(D("0.01"), D(1), places=2),
       quote=st.none() | st.tuples(_pos, _pos, _pos, _pos))
def test_derived_books_are_valid_and_carry_the_documented_depth(close, volume, levels, step, half, fraction, quote):
    p = ReplayParams(levels, step, fraction, half)
    q = None
    if quote is not None:
        bid, spread, bid_size, ask_size = quote
        q = QuoteBar(bid=bid, bid_size=bid_size, ask=bid + spread, ask_size=ask_size)
    bids, asks = derive_levels(TradeBar(close=close, volume=volume), q, p)
    book = OrderBook(venue="v", symbol="A/B", timestamp=MIDNIGHT, bids=bids, asks=asks)
    assert validate_book(book, now=MIDNIGHT, last_seen=None, known=None, max_age_ms=0) is None
    share = fraction * volume / levels
    n = 1 if step == 0 else levels
    assert len(bids) == len(asks) == n
    if q is None:
        assert bids[0].price == close * (1 - half / 10_000) and asks[0].price == close * (1 + half / 10_000)
    else:
        assert (bids[0].price, asks[0].price) == (q.bid, q.ask)
    if step:
        assert bids[0].amount == (max(q.bid_size, share) if q else share)
        assert asks[0].amount == (max(q.ask_size, share) if q else share)
        assert all(x.amount == share for x in bids[1:] + asks[1:])
