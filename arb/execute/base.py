from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from arb.domain import Decision, Execution, Opportunity, OrderBook
from arb.errors import Rejected

BookLookup = Callable[[str, str], OrderBook | None]


@dataclass(frozen=True)
class Pending:
    """An execution in flight: orders sent at ``submitted_at``, reaching the venues at ``arrives_at``."""

    decision: Decision
    opportunity: Opportunity
    submitted_at: datetime
    arrives_at: datetime


class Executor(Protocol):
    """Accepts EXECUTE decisions and completes them later, when market time has moved past their arrival.

    ``submit`` refuses anything but an EXECUTE decision. ``poll(now, books)`` returns the executions completed by
    ``now``. ``drain(now, books)`` completes or abandons everything still in flight (shutdown).
    """

    def submit(self, decision: Decision, opp: Opportunity, now: datetime) -> Pending: ...

    def poll(self, now: datetime, books: BookLookup) -> list[Execution]: ...

    def drain(self, now: datetime, books: BookLookup) -> list[Execution]: ...

    @property
    def in_flight(self) -> int: ...


def ensure_executable(decision: Decision, opp: Opportunity) -> None:
    if not decision.executes:
        raise Rejected(f"decision {decision.id} is {decision.action.value}, not execute: refusing to execute it")
    if decision.opportunity_id != opp.id:
        raise Rejected(f"decision {decision.id} is for {decision.opportunity_id}, not {opp.id}")
