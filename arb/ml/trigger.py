"""Retrain after every N executions, in the background (used by ``arb run`` when no Prefect server is configured).

``RetrainTrigger(every, run)`` is an ``Engine(on_execution=...)`` hook. It counts executions; on every ``every``-th
it starts ``run()`` in a daemon thread and returns at once, so the detection loop never waits for training. At most
one retrain runs at a time: a multiple of ``every`` reached while one is still running is skipped (logged), and the
next multiple retrains from all the data then in the warehouse (the writer flushes at least every
WAREHOUSE_FLUSH_SECONDS, 1 s by default, so a retrain sees the executions before it). A failing ``run`` is logged
and reported through ``alert(kind, message)``; it never reaches the engine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class RetrainTrigger:
    def __init__(self, run: Callable[[], Any], *, every: int = 25,
                 alert: Callable[[str, str], None] | None = None) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1; got {every}")
        self.run = run
        self.every = every
        self.alert = alert
        self.executions = 0
        self.started = 0  # retrains started
        self.skipped = 0  # multiples of ``every`` reached while a retrain was running
        self.last_result: Any = None
        self.last_error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def __call__(self, execution: Any = None) -> None:
        with self._lock:
            self.executions += 1
            if self.executions % self.every:
                return
            if self.running:
                self.skipped += 1
                log.info("retrain still running; skipping this trigger", extra={"executions": self.executions})
                return
            self.started += 1
            self._thread = threading.Thread(target=self._work, args=(self.executions,),
                                            name=f"retrain-{self.executions}", daemon=True)
            self._thread.start()

    def _work(self, n: int) -> None:
        log.info("retrain started", extra={"executions": n})
        try:
            self.last_result = self.run()
            log.info("retrain finished", extra={"executions": n, "result": repr(self.last_result)[:500]})
        except Exception as e:  # noqa: BLE001 - a failed retrain must never reach the engine
            self.last_error = e
            msg = f"retrain after {n} executions failed: {type(e).__name__}: {e}"
            log.exception(msg)
            if self.alert is not None:
                try:
                    self.alert("retrain_failed", msg)
                except Exception:  # noqa: BLE001
                    log.exception("alert failed")

    def join(self, timeout: float | None = None) -> None:
        """Wait for a running retrain (tests, shutdown)."""
        t = self._thread
        if t is not None:
            t.join(timeout)
