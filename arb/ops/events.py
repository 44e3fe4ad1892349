"""Prefect events for every recorded execution: what the `retrain/every-25-trades` deployment trigger counts.

``ExecutionEvents(writer, emit)`` is an ``Engine(on_execution=...)`` hook. For each execution it first flushes the
warehouse writer (so a retrain started by the 25th event finds all 25 executions in the warehouse), then emits
``arb.execution.recorded`` for resource ``arb.execution.<execution id>``. The event id is derived from the execution
id (uuid5), so a re-emitted execution is the same event. Emission goes through Prefect's background events worker and
never blocks or raises into the engine; a failure is logged and counted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("arb.events")

EVENT = "arb.execution.recorded"
_NS = uuid.UUID("5d1c3a8e-7d0f-4c52-9a57-2f1f6c1b0e11")


def event_id(execution_id: str) -> uuid.UUID:
    return uuid.uuid5(_NS, execution_id)


def prefect_emit(**kwargs: Any) -> Any:
    from prefect.events import emit_event

    return emit_event(**kwargs)


class ExecutionEvents:
    def __init__(self, writer: Any, emit: Callable[..., Any] = prefect_emit, *, run_id: str | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.writer = writer
        self.emit = emit
        self.run_id = run_id
        self.clock = clock
        self.emitted = 0
        self.failed = 0

    def __call__(self, ex: Any) -> None:
        try:
            self.writer.flush()
        except Exception as e:  # noqa: BLE001 - the retrain flow waits for the rows instead; never stop the engine
            log.warning("flush before the execution event failed", extra={"error": f"{type(e).__name__}: {e}"})
        payload = {"execution_id": ex.id, "decision_id": ex.decision_id, "route_id": ex.route_id,
                   "status": ex.status.value, "success": bool(ex.success), "run_id": self.run_id,
                   "realized_profit_usd": str(ex.realized_profit), "chain": getattr(ex, "chain", None)}
        try:
            self.emit(event=EVENT, resource={"prefect.resource.id": f"arb.execution.{ex.id}",
                                             "prefect.resource.name": ex.route_id},
                      payload=payload, id=event_id(ex.id), occurred=self.clock())
            self.emitted += 1
        except Exception as e:  # noqa: BLE001
            self.failed += 1
            log.warning("emitting the execution event failed", extra={"execution_id": ex.id,
                                                                     "error": f"{type(e).__name__}: {e}"})
