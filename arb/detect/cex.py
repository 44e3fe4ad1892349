"""CEX <-> CEX edge calculation (pure).

For every ordered pair of venues that list the same base asset, buy on one at its asks and sell on the other at its
bids. Both books are walked to the trade size (VWAP), quote currencies are converted to USD with the *configured*
rates (USDT, BUSD and USD are distinct currencies; a missing rate is an error, never an implicit 1.0), taker fees are
charged on each leg's notional, and the mode's min edge is later applied to the NET edge after fees.

Size = min(trade size in USD, max position, depth available on the thinner side), in base units rounded down to
``SIZE_QUANTUM``. Fees are charged in quote value on both legs (a buy's fee taken in base units is valued at the fill
price, which is the same value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from arb.domain import BookLevel, Opportunity, OrderBook, split_symbol
from arb.errors import BadInput

SIZE_QUANTUM = Decimal("0.00000001")  # 1e-8 base units (1 satoshi for BTC)
MONEY_QUANTUM = Decimal("0.000000000000000001")  # 1e-18, the warehouse's DECIMAL(38,18) scale
BPS_QUANTUM = Decimal("0.000001")
BPS = Decimal(10_000)

FeeLookup = Callable[[str, str], Decimal]  # (venue, symbol) -> taker fee rate


@dataclass(frozen=True)
class Route:
    buy_venue: str
    buy_symbol: str
    sell_venue: str
    sell_symbol: str

    @property
    def route_id(self) -> str:
        sym = self.buy_symbol if self.buy_symbol == self.sell_symbol else f"{self.buy_symbol}~{self.sell_symbol}"
        return f"{sym}:{self.buy_venue}->{self.sell_venue}"


def routes_for(markets: Iterable[tuple[str, str]]) -> list[Route]:
    """All ordered (buy, sell) pairs of distinct venues whose symbols share a base asset. Deterministic order."""
    keys = sorted(set(markets))
    out = []
    for bv, bs in keys:
        for sv, ss in keys:
            if bv != sv and split_symbol(bs)[0] == split_symbol(ss)[0]:
                out.append(Route(bv, bs, sv, ss))
    return out


@dataclass(frozen=True)
class EdgeParams:
    trade_size_usd: Decimal
    max_position_usd: Decimal
    quote_usd: Mapping[str, Decimal]
    fee: FeeLookup

    def usd_rate(self, symbol: str) -> Decimal:
        quote = split_symbol(symbol)[1]
        try:
            return self.quote_usd[quote]
        except KeyError:
            raise BadInput(
                "no_quote_rate",
                f"no USD conversion configured for quote currency {quote}; add it to QUOTE_USD_RATES, "
                f'e.g. QUOTE_USD_RATES={{"{quote}": "1.0"}}',
            ) from None


def walk(levels: Sequence[BookLevel], amount: Decimal, limit: Decimal | None = None, side: str = "buy"
         ) -> tuple[Decimal, Decimal]:
    """Walk ``levels`` (best first) for up to ``amount`` base units. Returns (filled, cost in quote).

    With ``limit``, stop at the first level worse than it (above for a buy, below for a sell): an IOC limit order.
    """
    filled = Decimal(0)
    cost = Decimal(0)
    for lvl in levels:
        if filled >= amount:
            break
        if limit is not None and ((side == "buy" and lvl.price > limit) or (side == "sell" and lvl.price < limit)):
            break
        take = min(lvl.amount, amount - filled)
        filled += take
        cost += take * lvl.price
    return filled, cost


def depth(levels: Sequence[BookLevel]) -> tuple[Decimal, Decimal]:
    """(base amount, quote value) of a whole side."""
    amt = sum((lvl.amount for lvl in levels), Decimal(0))
    val = sum((lvl.amount * lvl.price for lvl in levels), Decimal(0))
    return amt, val


def _q(x: Decimal, quantum: Decimal = MONEY_QUANTUM) -> Decimal:
    return x.quantize(quantum, rounding=ROUND_HALF_EVEN)


def price_route(
    route: Route,
    buy_book: OrderBook,
    sell_book: OrderBook,
    params: EdgeParams,
    *,
    observed_at: datetime,
    opportunity_id: str,
) -> Opportunity | None:
    """Price one route at the configured size. Returns None when there is no gross edge (sell VWAP <= buy VWAP)."""
    if not buy_book.asks or not sell_book.bids:
        return None
    buy_rate = params.usd_rate(route.buy_symbol)
    sell_rate = params.usd_rate(route.sell_symbol)

    best_ask_usd = buy_book.asks[0].price * buy_rate
    ask_amt, ask_val = depth(buy_book.asks)
    bid_amt, bid_val = depth(sell_book.bids)
    want = params.trade_size_usd / best_ask_usd
    cap = params.max_position_usd / best_ask_usd
    size = min(want, cap, ask_amt, bid_amt)
    capped_by = None
    if size < want:
        capped_by = "position_cap" if size == cap and cap < min(ask_amt, bid_amt) else "depth"
    size = size.quantize(SIZE_QUANTUM, rounding=ROUND_DOWN)
    if size <= 0:
        return None

    filled_b, cost_q = walk(buy_book.asks, size)
    filled_s, proceeds_q = walk(sell_book.bids, size)
    buy_usd = _q(cost_q * buy_rate)
    sell_usd = _q(proceeds_q * sell_rate)
    gross = sell_usd - buy_usd
    if gross <= 0:
        return None
    fee_b = params.fee(route.buy_venue, route.buy_symbol)
    fee_s = params.fee(route.sell_venue, route.sell_symbol)
    fees = _q(buy_usd * fee_b) + _q(sell_usd * fee_s)
    gas = Decimal(0)
    net = gross - fees - gas
    oldest = min(buy_book.timestamp, sell_book.timestamp)
    age_ms = max(0, int((observed_at - oldest).total_seconds() * 1000))
    return Opportunity(
        id=opportunity_id,
        kind="cex_arb",
        route_id=route.route_id,
        symbol=route.buy_symbol,
        sell_symbol=route.sell_symbol,
        buy_venue=route.buy_venue,
        sell_venue=route.sell_venue,
        chain=None,
        size=size,
        buy_price=cost_q / filled_b,
        sell_price=proceeds_q / filled_s,
        notional_usd=buy_usd,
        gross_edge_bps=_q(gross / buy_usd * BPS, BPS_QUANTUM),
        edge_bps=_q(net / buy_usd * BPS, BPS_QUANTUM),
        gross_profit=gross,
        fees=fees,
        gas=gas,
        net_profit=net,
        profit_currency="USD",
        liquidity_depth=_q(min(ask_val * buy_rate, bid_val * sell_rate)),
        observed_at=observed_at,
        data_age_ms=age_ms,
        size_capped_by=capped_by,
        fee_rates=(fee_b, fee_s),
    )


def find_opportunities(
    books: Mapping[tuple[str, str], OrderBook],
    routes: Sequence[Route],
    params: EdgeParams,
    *,
    observed_at: datetime,
    next_id: Callable[[], str],
) -> list[Opportunity]:
    """Every route whose two books are present, priced; only positive gross edges are opportunities."""
    out = []
    for r in routes:
        b = books.get((r.buy_venue, r.buy_symbol))
        s = books.get((r.sell_venue, r.sell_symbol))
        if b is None or s is None:
            continue
        opp = price_route(r, b, s, params, observed_at=observed_at, opportunity_id="pending")
        if opp is not None:
            out.append(opp.model_copy(update={"id": next_id()}))
    return out
