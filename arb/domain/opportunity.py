from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from arb.domain.base import Frozen

OpportunityKind = Literal["cex_arb", "flash_loan", "aqua"]


class Opportunity(Frozen):
    """A priced arbitrage candidate at a given size. Money is ``Decimal`` in the profit currency (USD off-chain).

    ``edge_bps`` is the *net* edge after fees and gas, relative to the buy-side notional; ``gross_edge_bps`` is before
    costs. On-chain opportunities also carry exact ``*_wei`` integers.
    """

    id: str
    kind: OpportunityKind
    route_id: str
    symbol: str  # buy-side unified symbol (e.g. BTC/BUSD)
    sell_symbol: str  # sell-side unified symbol (e.g. BTC/USDT)
    buy_venue: str
    sell_venue: str
    chain: str | None = None
    size: Decimal  # base units traded on each leg
    buy_price: Decimal  # VWAP in the buy symbol's quote currency
    sell_price: Decimal  # VWAP in the sell symbol's quote currency
    notional_usd: Decimal  # buy-leg cost in USD
    gross_edge_bps: Decimal
    edge_bps: Decimal
    gross_profit: Decimal
    fees: Decimal
    gas: Decimal = Decimal(0)
    net_profit: Decimal
    profit_currency: str = "USD"
    liquidity_depth: Decimal  # USD available on the thinner side of the two books within the walk
    observed_at: datetime
    data_age_ms: int  # age of the oldest book used, at observed_at
    size_capped_by: str | None = None  # "depth", "position_cap" or None
    fee_rates: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0))  # taker fee rates applied (buy, sell)
    gas_wei: int | None = None
    gross_profit_wei: int | None = None
    net_profit_wei: int | None = None
