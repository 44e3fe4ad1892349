"""The running engine's side of a daily-limit reset requested by another process (the midnight flow, the CLI).

``ResetWatcher.poll(now)`` runs on the engine's loop; at most every ``every_s`` seconds of wall time it asks
``latest()`` for the newest reset that applies to the engine's scope. A reset newer than the one seen at start-up
clears the in-memory day (``RiskManager.reset_day``: counters to zero, a daily-loss stop re-armed; in-flight
executions and the cooldown are kept) and returns True so the engine persists the new state. A failing query is
logged and retried at the next poll: it never reaches the loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from arb.risk.limits import RiskManager

log = logging.getLogger("arb.risk")

Latest = Callable[[], "tuple[datetime, str] | None"]


class ResetWatcher:
    def __init__(self, latest: Latest, risk: RiskManager, *, every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.latest = latest
        self.risk = risk
        self.every_s = every_s
        self.clock = clock
        self.applied = 0
        self._last = clock()
        self._seen: Any = self._read()  # resets from before this engine started are already in its restored state

    def _read(self) -> Any:
        try:
            return self.latest()
        except Exception as e:  # noqa: BLE001 - the engine must keep running; the next poll retries
            log.warning("reading daily-limit resets failed", extra={"error": f"{type(e).__name__}: {e}"})
            return self._seen if hasattr(self, "_seen") else None

    def poll(self, now: datetime) -> bool:
        t = self.clock()
        if t - self._last < self.every_s:
            return False
        self._last = t
        cur = self._read()
        if cur is None or cur == self._seen:
            return False
        self._seen = cur
        before = self.risk.state
        self.risk.reset_day(now)
        self.applied += 1
        log.warning("daily limits reset", extra={
            "reset_id": cur[1], "requested_at": str(cur[0]), "scope": before.scope,
            "previous": {"executions": before.executions, "profit_usd": str(before.profit_usd),
                         "loss_usd": str(before.loss_usd), "stopped_reason": before.stopped_reason}})
        return True
