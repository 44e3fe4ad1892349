"""Run the continuous loop once: settings in, a small summary out. The Prefect flow and ``arb run`` both call this."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arb import wiring
from arb.engine import IdGen, RunSummary
from arb.settings import Settings

log = logging.getLogger("arb.run")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cex-minute-bars-20221213"


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"r{now:%Y%m%d%H%M%S}{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop``: the loop finishes its batch, drains, flushes the warehouse and returns."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, _frame):
        log.warning("signal received: stopping after this batch", extra={"signal": signal.Signals(signum).name})
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


RETRAIN_WAIT_S = 300.0


def run(
    settings: Settings,
    *,
    source: str = "replay",
    data: str | Path | None = None,
    speed: str = "max",
    duration: str | None = None,
    profile: str | None = None,
    progress: bool = True,
    stop: threading.Event | None = None,
    run_id: str | None = None,
) -> RunSummary:
    from arb.warehouse.schema import migrate
    from arb.warehouse.writer import WarehouseWriter

    run_id = run_id or new_run_id()
    spd = wiring.parse_speed(speed)
    dur = wiring.parse_duration(duration)
    market_fees = None
    extra: dict[str, Any] = {}
    closers: list = []
    if source == "replay":
        if data is None:
            raise wiring.BadInput("missing_data", "--source replay needs --data PATH")
        src = wiring.build_replay_source(settings, data)
        # A replay is its own simulated account (its limits are its own) unless RISK_SCOPE names another one.
        scope = settings.risk_scope if settings.risk_scope != "default" else f"replay:{run_id}"
    elif source == "ccxt":
        src, market_fees = wiring.build_ccxt_source(settings)
        scope = settings.risk_scope
    elif source == "sandbox":
        from arb.wiring_chain import build_sandbox_stack

        data = data or DEFAULT_DATA
        if not Path(data).exists():
            raise wiring.BadInput("missing_data", f"the sandbox needs the recorded CEX day at {data}: pass --data PATH")
        ids = IdGen(run_id)
        stack = build_sandbox_stack(settings, data, duration=dur, next_id=ids.maker("x"))
        src = stack.source
        extra = {"ids": ids, "detectors": [stack.detector], "executors": {"flash_loan": stack.executor}}
        closers.append(stack.close)
        scope = settings.risk_scope if settings.risk_scope != "default" else f"sandbox:{run_id}"
    elif source == "chain":
        from arb.wiring_chain import build_chain_stack

        ids = IdGen(run_id)
        stack = build_chain_stack(settings, duration=dur, next_id=ids.maker("x"))
        src = stack.source
        extra = {"ids": ids, "detectors": [stack.detector], "executors": {"flash_loan": stack.executor}}
        closers.append(stack.close)
        scope = settings.risk_scope
    else:
        raise wiring.BadInput("bad_source", "--source must be replay, sandbox or ccxt, or chain "
                                            f"(CHAIN_MANIFEST_PATH); got {source!r}")

    try:
        Path(settings.warehouse_path).parent.mkdir(parents=True, exist_ok=True)
        migrate(settings.warehouse_path)
    except BaseException:
        _close_all(src, closers)
        raise
    writer = WarehouseWriter(settings.warehouse_path, flush_seconds=settings.warehouse_flush_seconds,
                             flush_rows=settings.warehouse_flush_rows)
    stop = stop or threading.Event()
    status = "failed"
    try:
        writer.start_run(
            run_id=run_id, started_at=datetime.now(UTC), source=f"{source}:{data}" if data else source,
            ai_mode=settings.ai_mode, profile=profile, dry_run=not settings.enable_execution, risk_scope=scope,
            settings_json=json.dumps(settings.redacted(), sort_keys=True), ml_enabled=settings.enable_ml_scoring,
        )
        bar = _progress(src.total_batches, source) if progress else None
        hooks: dict[str, Any] = {}
        if bar is not None:
            prog, task = bar
            hooks["on_batch"] = lambda i, b: prog.update(task, completed=i,
                                                         description=f"{source} {b.at:%Y-%m-%d %H:%M:%S}")
        engine = wiring.build_engine(settings, source=src, run_id=run_id, risk_scope=scope, writer=writer,
                                     speed=spd, duration=dur, market_fees=market_fees, **extra, **hooks)
        log.info("run started", extra={"run_id": run_id, "source": source, "data": str(data),
                                       "ai_mode": settings.ai_mode, "profile": profile,
                                       "dry_run": not settings.enable_execution})
        with stop_on_signals(stop):
            if bar is not None:
                with bar[0]:
                    summary = engine.run(stop)
            else:
                summary = engine.run(stop)
        status = "completed" if summary.stopped_by in ("end_of_stream", "duration") else "stopped"
        trigger = getattr(engine, "retrain_trigger", None)
        if trigger is not None and trigger.running:  # nothing lost: let the retrain in progress register its version
            log.info("waiting for the retrain in progress", extra={"run_id": run_id})
            trigger.join(RETRAIN_WAIT_S)
        return summary
    finally:
        try:
            writer.finish_run(run_id, finished_at=datetime.now(UTC), status=status)
        finally:
            writer.close()
            _close_all(src, closers)
        log.info("run finished", extra={"run_id": run_id, "status": status})


def _close_all(src, closers: list) -> None:
    try:
        src.close()
    finally:
        for close in reversed(closers):
            close()


def _progress(total: int | None, label: str = "replay"):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=False)
    task = prog.add_task(label, total=total)
    return prog, task
