"""Routes EXECUTE decisions to the executor for their opportunity's kind (CEX paper/live, flash loan, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from arb.domain import Decision, Execution, Opportunity
from arb.errors import Rejected
from arb.execute.base import BookLookup, Executor, Pending


class ExecutorRouter:
    def __init__(self, by_kind: Mapping[str, Executor]) -> None:
        self.by_kind = dict(by_kind)

    def _for(self, opp: Opportunity) -> Executor:
        ex = self.by_kind.get(opp.kind)
        if ex is None:
            raise Rejected(f"no executor configured for {opp.kind} opportunities")
        return ex

    def submit(self, decision: Decision, opp: Opportunity, now: datetime) -> Pending:
        return self._for(opp).submit(decision, opp, now)

    def poll(self, now: datetime, books: BookLookup) -> list[Execution]:
        return [x for ex in self._unique() for x in ex.poll(now, books)]

    def drain(self, now: datetime, books: BookLookup) -> list[Execution]:
        return [x for ex in self._unique() for x in ex.drain(now, books)]

    @property
    def in_flight(self) -> int:
        return sum(ex.in_flight for ex in self._unique())

    def _unique(self) -> list[Executor]:
        seen: dict[int, Executor] = {}
        for ex in self.by_kind.values():
            seen.setdefault(id(ex), ex)
        return list(seen.values())
