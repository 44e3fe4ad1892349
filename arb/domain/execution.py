from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from arb.domain.base import Frozen


class ExecutionStatus(StrEnum):
    FILLED = "filled"  # both legs fully filled
    PARTIAL = "partial"  # at least one leg partly filled; residual marked to market
    MISSED = "missed"  # nothing filled (prices moved past the limits)
    FAILED = "failed"  # an error prevented the execution


class Fill(Frozen):
    venue: str
    symbol: str
    side: Literal["buy", "sell"]
    price: Decimal  # VWAP of this leg's fill, in the symbol's quote currency
    requested: Decimal  # base units
    amount: Decimal  # base units filled
    fee: Decimal  # in the symbol's quote currency
    fee_currency: str
    limit_price: Decimal


class Execution(Frozen):
    id: str
    decision_id: str
    opportunity_id: str
    route_id: str
    symbol: str
    chain: str | None = None
    status: ExecutionStatus
    fills: tuple[Fill, ...]
    submitted_at: datetime
    filled_at: datetime
    latency_ms: int
    predicted_profit: Decimal  # USD
    realized_profit: Decimal  # USD, after fees, residual marked to market
    fees: Decimal  # USD
    gas_cost: Decimal = Decimal(0)
    slippage_bps: Decimal
    edge_bps: Decimal
    note: str = ""
    # On-chain executions: the transaction and exact wei amounts (profit in the borrowed token's base units).
    tx_hash: str | None = None
    block_number: int | None = None
    gas_used: int | None = None
    gas_cost_wei: int | None = None
    predicted_profit_wei: int | None = None
    realized_profit_wei: int | None = None
    profit_token: str | None = None

    @property
    def success(self) -> bool:
        return self.realized_profit > 0

    def record(self) -> ExecutionRecord:
        return ExecutionRecord(
            timestamp=self.filled_at,
            symbol=self.symbol,
            edge_bps=self.edge_bps,
            predicted_profit=self.predicted_profit,
            actual_profit=self.realized_profit,
            success=self.success,
            gas_cost=self.gas_cost,
            slippage_bps=self.slippage_bps,
            route_id=self.route_id,
            chain=self.chain,
        )


class ExecutionRecord(Frozen):
    """The design's ExecutionHistory: what learning consumes."""

    timestamp: datetime
    symbol: str
    edge_bps: Decimal
    predicted_profit: Decimal
    actual_profit: Decimal
    success: bool
    gas_cost: Decimal
    slippage_bps: Decimal
    route_id: str
    chain: str | None = None
