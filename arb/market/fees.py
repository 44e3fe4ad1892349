"""Taker fee rates per (venue, symbol), with where each rate came from.

Precedence, first match wins:

1. ``"override"``: FEE_OVERRIDES, keys ``"venue:BASE/QUOTE"`` (e.g. ``{"bybit:BTC/USDT": "0.001"}``);
2. ``"ccxt-market"``: the venue's loaded market info (``exchange.markets[symbol]['taker']``, see
   :func:`arb.market.ccxt_source.fetch_taker_fees`);
3. ``"ccxt-default"``: ccxt's static schedule for the venue, ``getattr(ccxt, venue)().fees['trading']['taker']``.
   Constructing a ccxt exchange class does no network I/O (a test checks this); the value is cached per venue.

Otherwise :meth:`FeeSchedule.taker` raises :class:`~arb.errors.BadInput` telling the user to set FEE_OVERRIDES.
Rates are ``Decimal`` built from text (``Decimal(str(x))``), e.g. ``Decimal('0.001')`` for 0.10%.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from arb.errors import BadInput


def _rate(x: object, what: str) -> Decimal:
    try:
        d = Decimal(str(x))
    except InvalidOperation:
        raise BadInput("bad_fee", f"{what}: fee rate {x!r} is not a number") from None
    if not d.is_finite():
        raise BadInput("bad_fee", f"{what}: fee rate {x!r} is not finite")
    return d


def ccxt_default_taker(venue: str) -> Decimal | None:
    """ccxt's static taker rate for ``venue`` (a ccxt exchange id), or ``None`` if ccxt has none."""
    import ccxt  # imported here: only this fallback needs it

    if venue not in ccxt.exchanges:
        return None
    taker = (getattr(ccxt, venue)().fees or {}).get("trading", {}).get("taker")
    return None if taker is None else _rate(taker, f"ccxt {venue} default")


class FeeSchedule:
    """Resolve taker fees by the precedence in the module docstring. ``default_lookup`` replaces the ccxt fallback."""

    def __init__(
        self,
        overrides: Mapping[str, Decimal] | None = None,
        market_fees: Mapping[tuple[str, str], Decimal] | None = None,
        *,
        default_lookup: Callable[[str], Decimal | None] = ccxt_default_taker,
    ) -> None:
        self._overrides: dict[tuple[str, str], Decimal] = {}
        for key, rate in (overrides or {}).items():
            venue, sep, symbol = key.partition(":")
            if not sep or not venue.strip() or "/" not in symbol:
                raise BadInput("bad_fee",
                               f"FEE_OVERRIDES key {key!r} must be 'venue:BASE/QUOTE', e.g. 'bybit:BTC/USDT'")
            self._overrides[(venue.strip().lower(), symbol.strip().upper())] = _rate(rate, f"FEE_OVERRIDES[{key!r}]")
        self._market = {(v.lower(), s.upper()): _rate(r, f"{v} {s} market fee")
                        for (v, s), r in (market_fees or {}).items()}
        self._default_lookup = default_lookup
        self._defaults: dict[str, Decimal | None] = {}

    def _default(self, venue: str) -> Decimal | None:
        if venue not in self._defaults:
            self._defaults[venue] = self._default_lookup(venue)
        return self._defaults[venue]

    def taker(self, venue: str, symbol: str) -> tuple[Decimal, str]:
        """``(rate, source)`` with source ``"override"``, ``"ccxt-market"`` or ``"ccxt-default"``."""
        key = (venue.lower(), symbol.upper())
        if key in self._overrides:
            return self._overrides[key], "override"
        if key in self._market:
            return self._market[key], "ccxt-market"
        default = self._default(key[0])
        if default is not None:
            return default, "ccxt-default"
        raise BadInput(
            "unknown_fee",
            f"no taker fee known for {venue} {symbol}: {venue!r} is not a ccxt exchange with a default fee and no "
            f"market info was loaded. Set FEE_OVERRIDES, e.g. FEE_OVERRIDES='{{\"{venue}:{symbol}\": \"0.001\"}}'.",
        )
