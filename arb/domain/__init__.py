"""Typed, frozen domain models and pure money math: no I/O, no clock, no randomness."""

from arb.domain.decision import Action, Decision
from arb.domain.execution import Execution, ExecutionRecord, ExecutionStatus, Fill
from arb.domain.market import BookLevel, OrderBook, Quote, split_symbol
from arb.domain.opportunity import Opportunity, OpportunityKind

__all__ = [
    "Action",
    "BookLevel",
    "Decision",
    "Execution",
    "ExecutionRecord",
    "ExecutionStatus",
    "Fill",
    "Opportunity",
    "OpportunityKind",
    "OrderBook",
    "Quote",
    "split_symbol",
]
