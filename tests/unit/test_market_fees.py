"""arb.market.fees: precedence override > ccxt-market > ccxt-default, exact Decimal rates, clear errors."""

from __future__ import annotations

import socket
from decimal import Decimal as D

import ccxt
import pytest

from arb.errors import BadInput
from arb.market.fees import FeeSchedule, ccxt_default_taker


def test_precedence():
    fees = FeeSchedule(
        overrides={"binance:BTC/USDT": D("0.0002")},
        market_fees={("binance", "BTC/USDT"): D("0.0009"), ("binance", "ETH/USDT"): D("0.0008")},
        default_lookup=lambda venue: D("0.003") if venue == "binance" else None,
    )
    assert fees.taker("binance", "BTC/USDT") == (D("0.0002"), "override")
    assert fees.taker("binance", "ETH/USDT") == (D("0.0008"), "ccxt-market")
    assert fees.taker("binance", "SOL/USDT") == (D("0.003"), "ccxt-default")
    with pytest.raises(BadInput) as e:
        fees.taker("mybroker", "SOL/USDT")
    assert "mybroker" in str(e.value) and "SOL/USDT" in str(e.value) and "FEE_OVERRIDES" in str(e.value)
    assert e.value.reason == "unknown_fee"


def test_rates_are_exact_decimals_from_text():
    fees = FeeSchedule(overrides={"Bybit:btc/usdt": 0.001},  # a float sneaking in is read by its text
                       market_fees={("kraken", "BTC/USD"): 0.0026}, default_lookup=lambda v: None)
    rate, source = fees.taker("bybit", "BTC/USDT")
    assert (rate, source) == (D("0.001"), "override") and str(rate) == "0.001"
    assert str(fees.taker("kraken", "BTC/USD")[0]) == "0.0026"


def test_default_lookup_is_cached_per_venue():
    calls: list[str] = []

    def lookup(venue: str) -> D | None:
        calls.append(venue)
        return D("0.001")

    fees = FeeSchedule(default_lookup=lookup)
    for symbol in ("BTC/USDT", "ETH/USDT", "SOL/USDT"):
        assert fees.taker("binance", symbol) == (D("0.001"), "ccxt-default")
    fees.taker("bybit", "BTC/USDT")
    assert calls == ["binance", "bybit"]


def test_bad_override_key_is_named():
    with pytest.raises(BadInput, match="'binanceBTC/USDT' must be 'venue:BASE/QUOTE'"):
        FeeSchedule(overrides={"binanceBTC/USDT": D("0.001")})
    with pytest.raises(BadInput, match="not a number"):
        FeeSchedule(overrides={"binance:BTC/USDT": "ten"})


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket or resolve a name fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network I/O attempted: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_ccxt_default_needs_no_network(no_network):
    for venue in ("binance", "bybit", "kraken"):
        expected = D(str(getattr(ccxt, venue)().fees["trading"]["taker"]))
        assert ccxt_default_taker(venue) == expected
        assert FeeSchedule().taker(venue, "BTC/USDT") == (expected, "ccxt-default")
    assert ccxt_default_taker("binance") == D("0.001")
    assert ccxt_default_taker("no-such-exchange") is None
