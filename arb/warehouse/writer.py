"""The one frequent writer: buffer rows in memory, flush them in one transaction through a short-lived connection.

DuckDB lets one process hold a file read-write, and then nobody else can open it at all, so the writer never keeps the
file open: ``flush()`` is open -> BEGIN -> one bulk INSERT per table from an Arrow table -> COMMIT -> close (about
30 ms), and readers get the file between flushes. The open retries for ``lock_timeout`` seconds while a reader holds it.

Failure rules:
- Nothing half-written: the batch is one transaction; any failure rolls it back and puts the rows back in the buffer
  (newer upserts still win), then raises TransientError (lock held too long, I/O) or FatalError (anything else).
- Idempotent: appends use ``ON CONFLICT DO NOTHING`` on their primary key and upserts are last-value-wins, so a batch
  retried after an ambiguous failure (COMMIT done, then an error before we learned it) cannot duplicate anything.
- Rows are validated when added (:mod:`arb.warehouse.rows`), so a bad value raises BadInput to the caller at once and
  never poisons the buffer.

Not re-entrant: do not call ``flush``/``close`` from a signal handler that may interrupt a flush; raise from the
handler instead and close in a ``finally`` (see tests/integration/warehouse_proc.py).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from arb.domain import Decision, Execution, Opportunity
from arb.errors import FatalError, TransientError
from arb.warehouse import rows as R
from arb.warehouse.rows import DailyLimitsRow, RouteStatsRow
from arb.warehouse.schema import apply_migrations, connect

log = logging.getLogger("arb.warehouse")


@dataclass
class _Buffer:
    decisions: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # first value wins
    executions: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # first value wins
    alerts: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # first value wins
    route_stats: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # last value wins
    daily_limits: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # last value wins
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id -> columns, last value wins per column

    def __len__(self) -> int:
        return (
            len(self.decisions)
            + len(self.executions)
            + len(self.alerts)
            + len(self.route_stats)
            + len(self.daily_limits)
            + len(self.runs)
        )

    def tables(self) -> list[tuple[R.TableSpec, list[dict[str, Any]]]]:
        return [
            (R.DECISIONS, list(self.decisions.values())),
            (R.EXECUTIONS, list(self.executions.values())),
            (R.ROUTE_STATS, list(self.route_stats.values())),
            (R.DAILY_LIMITS, list(self.daily_limits.values())),
            (R.ALERTS, list(self.alerts.values())),
        ]

    @staticmethod
    def merge(older: _Buffer, newer: _Buffer) -> _Buffer:
        """Put a failed batch (older) back under what arrived meanwhile (newer), keeping each table's rule."""
        out = _Buffer()
        for name in ("decisions", "executions", "alerts"):
            merged = dict(getattr(older, name))
            for k, v in getattr(newer, name).items():
                merged.setdefault(k, v)
            setattr(out, name, merged)
        for name in ("route_stats", "daily_limits"):
            setattr(out, name, {**getattr(older, name), **getattr(newer, name)})
        runs = {k: dict(v) for k, v in older.runs.items()}
        for run_id, fields in newer.runs.items():
            runs.setdefault(run_id, {}).update(fields)
        out.runs = runs
        return out


class WarehouseWriter:
    """Buffered, batched, idempotent appends to the DuckDB warehouse at ``path``.

    ``maybe_flush()`` flushes when ``flush_seconds`` have passed since the last flush or ``flush_rows`` rows are
    buffered; call it once per loop tick. ``flush()`` writes everything now; ``close()`` flushes. Thread-safe: rows may
    be added while another thread flushes. The schema is migrated on the first flush.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        flush_seconds: float = 1.0,
        flush_rows: int = 2000,
        monotonic: Callable[[], float] = time.monotonic,
        lock_timeout: float = 5.0,
        max_buffered_rows: int = 1_000_000,
    ) -> None:
        self.path = Path(path)
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self.lock_timeout = lock_timeout
        self.max_buffered_rows = max_buffered_rows
        self.last_error: str | None = None
        self._monotonic = monotonic
        self._buf = _Buffer()
        self._buf_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flushing_thread: int | None = None
        self._last_flush = monotonic()
        self._retry_after = float("-inf")
        self._migrated = False
        self._closed = False
        self._alert_seq = 0
        self._writer_id = uuid.uuid4().hex[:16]  # alert ids: unique per writer, stable across retries of a batch
        # counters
        self.rows_written = 0  # rows in committed batches
        self.duplicates_ignored = 0  # rows whose key was already in the warehouse (first value kept)
        self.flushes = 0  # committed flushes
        self.failed_flushes = 0
        self.lock_retries = 0  # failed attempts to open the file because someone else held it
        self.last_flush_ms = 0.0

    # --- accepting rows ----------------------------------------------------------------------------------------------

    def add_decision(self, decision: Decision, opportunity: Opportunity, run_id: str) -> None:
        row = R.decision_row(decision, opportunity, run_id)
        self._put("decisions", R.DECISIONS.key_of(row), row, first_wins=True)

    def add_execution(self, execution: Execution, run_id: str) -> None:
        row = R.execution_row(execution, run_id)
        self._put("executions", R.EXECUTIONS.key_of(row), row, first_wins=True)

    def upsert_route_stats(self, stats: RouteStatsRow | R.RouteStatsLike) -> None:
        row = R.route_stats_row(stats)
        self._put("route_stats", R.ROUTE_STATS.key_of(row), row, first_wins=False)

    def upsert_daily_limits(
        self, limits: DailyLimitsRow | R.DailyLimitsLike, updated_at: datetime | None = None
    ) -> None:
        """Last value wins per (scope, day). ``updated_at`` is needed when ``limits`` has no such attribute."""
        row = R.daily_limits_row(limits, updated_at)
        self._put("daily_limits", R.DAILY_LIMITS.key_of(row), row, first_wins=False)

    def add_alert(
        self,
        *,
        at: datetime,
        level: str,
        kind: str,
        message: str,
        run_id: str | None = None,
        alert_id: str | None = None,
    ) -> str:
        """Append an alert. Returns its id (generated unless given) which makes a retried flush idempotent."""
        with self._buf_lock:
            self._alert_seq += 1
            seq = self._alert_seq
        aid = alert_id or f"{self._writer_id}-{seq}"
        row = {
            "alert_id": aid,
            "at": R.utc(at, "at"),
            "level": level,
            "kind": kind,
            "message": message,
            "run_id": run_id,
        }
        self._put("alerts", (aid,), row, first_wins=True)
        return aid

    def start_run(
        self,
        run_id: str,
        *,
        started_at: datetime,
        source: str,
        ai_mode: str,
        profile: str,
        dry_run: bool,
        settings_json: str,
        risk_scope: str,
        ml_enabled: bool = False,
        model_version: str | None = None,
        status: str = "running",
        **counters: Any,
    ) -> None:
        self.update_run(
            run_id,
            started_at=started_at,
            source=source,
            ai_mode=ai_mode,
            profile=profile,
            dry_run=dry_run,
            settings_json=settings_json,
            risk_scope=risk_scope,
            ml_enabled=ml_enabled,
            model_version=model_version,
            status=status,
            **counters,
        )

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set any runs columns (counters, status, model_version, data_quality_json...). Last value wins."""
        checked = R.run_fields(fields)
        with self._buf_lock:
            self._check_open()
            self._buf.runs.setdefault(run_id, {}).update(checked)

    def finish_run(self, run_id: str, *, finished_at: datetime, status: str = "finished", **fields: Any) -> None:
        self.update_run(run_id, finished_at=finished_at, status=status, **fields)

    @property
    def buffered_rows(self) -> int:
        with self._buf_lock:
            return len(self._buf)

    # --- flushing ----------------------------------------------------------------------------------------------------

    def maybe_flush(self) -> bool:
        """Flush if due; call once per loop tick. Returns True when a flush committed.

        A TransientError (the file stayed locked for ``lock_timeout``, e.g. someone keeps it open in the duckdb CLI)
        is logged and absorbed: the rows stay buffered, ``failed_flushes``/``last_error`` record it, and the next try
        waits ``flush_seconds`` so a locked file does not stall every tick. Once more than ``max_buffered_rows`` are
        waiting it is raised instead, so the caller stops before memory does. FatalError always propagates.
        """
        now = self._monotonic()
        n = self.buffered_rows
        if n == 0 or now < self._retry_after:
            return False
        if n >= self.flush_rows or now - self._last_flush >= self.flush_seconds:
            try:
                self.flush()
            except TransientError as e:
                if self.buffered_rows > self.max_buffered_rows:
                    raise
                log.warning(
                    "warehouse flush deferred",
                    extra={"path": str(self.path), "buffered_rows": self.buffered_rows, "error": str(e)},
                )
                return False
            return True
        return False

    def flush(self) -> int:
        """Write everything buffered in one transaction. Returns the number of rows in the committed batch."""
        if not self._flush_lock.acquire(blocking=False):
            if self._flushing_thread == threading.get_ident():  # a signal handler interrupted our own flush
                raise RuntimeError("WarehouseWriter.flush re-entered (from a signal handler?); close in a finally")
            self._flush_lock.acquire()  # another thread is flushing: wait for it
        self._flushing_thread = threading.get_ident()
        try:
            return self._flush_locked()
        finally:
            self._flushing_thread = None
            self._flush_lock.release()

    def _flush_locked(self) -> int:
        with self._buf_lock:
            batch, self._buf = self._buf, _Buffer()
        n = len(batch)
        if n == 0:
            self._last_flush = self._monotonic()
            return 0
        t0 = time.perf_counter()
        try:
            ignored = self._write(batch)
        except BaseException as e:
            with self._buf_lock:
                self._buf = _Buffer.merge(batch, self._buf)
            self.failed_flushes += 1
            self.last_error = f"{type(e).__name__}: {e}"
            self._retry_after = self._monotonic() + self.flush_seconds
            if isinstance(e, duckdb.Error):
                if isinstance(e, duckdb.IOException):
                    raise TransientError(f"warehouse flush of {n} rows failed (kept buffered): {e}") from e
                raise FatalError(f"warehouse flush of {n} rows failed (kept buffered): {e}") from e
            raise
        self.last_flush_ms = (time.perf_counter() - t0) * 1000
        self.rows_written += n
        self.duplicates_ignored += ignored
        self.flushes += 1
        self._last_flush = self._monotonic()
        self._retry_after = float("-inf")
        return n

    def _write(self, batch: _Buffer) -> int:
        # Build the Arrow tables before taking the file lock (the first conversion in a process imports pandas: ~1 s).
        tables = [(spec, rows, spec.arrow_table(rows)) for spec, rows in batch.tables() if rows]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = connect(self.path, read_only=False, timeout=self.lock_timeout, on_retry=self._on_lock_retry)
        try:
            if not self._migrated:
                apply_migrations(con)
                self._migrated = True
            ignored = 0
            con.execute("BEGIN TRANSACTION")
            try:
                for run_id, fields in batch.runs.items():
                    _upsert_run(con, run_id, fields)
                for spec, rows, table in tables:
                    name = f"__batch_{spec.name}"
                    con.register(name, table)
                    try:
                        inserted = con.execute(spec.insert_sql(name)).fetchall()[0][0]
                    finally:
                        con.unregister(name)
                    if not spec.upsert:
                        ignored += len(rows) - inserted
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # the transaction is already gone (e.g. aborted by the failure)
                raise
            return ignored
        finally:
            con.close()

    def _on_lock_retry(self, attempt: int, exc: BaseException) -> None:
        self.lock_retries += 1

    def close(self) -> None:
        """Flush what is buffered; then refuse new rows. If the flush fails the rows stay buffered and it raises."""
        self.flush()
        with self._buf_lock:
            self._closed = True

    def __enter__(self) -> WarehouseWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("WarehouseWriter is closed")

    def _put(self, table: str, key: tuple[Any, ...], row: dict[str, Any], *, first_wins: bool) -> None:
        with self._buf_lock:
            self._check_open()
            d: dict[tuple[Any, ...], dict[str, Any]] = getattr(self._buf, table)
            if first_wins:
                d.setdefault(key, row)
            else:
                d[key] = row


def _upsert_run(con: duckdb.DuckDBPyConnection, run_id: str, fields: dict[str, Any]) -> None:
    cols = list(fields)
    placeholders = ", ".join("?" for _ in range(len(cols) + 1))
    sql = f"INSERT INTO runs (run_id{''.join(', ' + c for c in cols)}) VALUES ({placeholders}) ON CONFLICT (run_id) "
    if cols:
        sql += "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in cols)
    else:
        sql += "DO NOTHING"
    con.execute(sql, [run_id, *fields.values()]).fetchall()
