"""The warehouse schema as numbered migrations, and the lock-aware connection every warehouse access goes through.

A migration is frozen once released: never edit one, append the next. ``migrate(path)`` applies the missing versions in
order, each in its own transaction together with its ``schema_migrations`` row, so a crash leaves either the whole
version or none of it. Two processes that race simply serialise on DuckDB's file lock: the loser retries the open and
then finds the versions applied.

Money is never DOUBLE here: USD and asset amounts are DECIMAL(38,18), basis points DECIMAL(20,6), wei HUGEINT.
Scores (confidence, EMAs) and model features are DOUBLE.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from arb.errors import FatalError, TransientError

LOCK_MESSAGES = (
    "Could not set lock on file",  # another process holds the file
    "different configuration than existing connections",  # this process holds it with the other read_only flag
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "runs, decisions, executions, route_stats, daily_limits, alerts",
        (
            """
            CREATE TABLE runs (
                run_id VARCHAR PRIMARY KEY,
                started_at TIMESTAMPTZ,
                finished_at TIMESTAMPTZ,
                source VARCHAR,
                ai_mode VARCHAR,
                profile VARCHAR,
                dry_run BOOLEAN,
                settings_json JSON,
                status VARCHAR,
                risk_scope VARCHAR,
                ml_enabled BOOLEAN,
                model_version VARCHAR,
                opportunities_detected BIGINT,
                opportunities_submitted BIGINT,
                opportunities_queued INTEGER,
                pending_executions INTEGER,
                data_quality_json JSON
            )
            """,
            """
            CREATE TABLE decisions (
                decision_id VARCHAR PRIMARY KEY,
                run_id VARCHAR NOT NULL,
                opportunity_id VARCHAR NOT NULL,
                decided_at TIMESTAMPTZ NOT NULL,
                observed_at TIMESTAMPTZ NOT NULL,
                route_id VARCHAR NOT NULL,
                kind VARCHAR NOT NULL,
                symbol VARCHAR NOT NULL,
                sell_symbol VARCHAR NOT NULL,
                buy_venue VARCHAR NOT NULL,
                sell_venue VARCHAR NOT NULL,
                chain VARCHAR,
                action VARCHAR NOT NULL,
                confidence DOUBLE,
                factors JSON,
                weights JSON,
                reasons VARCHAR[],
                thresholds JSON,
                ai_mode VARCHAR,
                model_version VARCHAR,
                size DECIMAL(38,18),
                opportunity_size DECIMAL(38,18),
                buy_price DECIMAL(38,18),
                sell_price DECIMAL(38,18),
                notional_usd DECIMAL(38,18),
                gross_edge_bps DECIMAL(20,6),
                edge_bps DECIMAL(20,6),
                gross_profit DECIMAL(38,18),
                fees DECIMAL(38,18),
                gas DECIMAL(38,18),
                net_profit DECIMAL(38,18),
                profit_currency VARCHAR,
                liquidity_depth DECIMAL(38,18),
                data_age_ms BIGINT,
                size_capped_by VARCHAR,
                fee_rate_buy DECIMAL(38,18),
                fee_rate_sell DECIMAL(38,18),
                features DOUBLE[],
                feature_version VARCHAR,
                gas_wei HUGEINT,
                gross_profit_wei HUGEINT,
                net_profit_wei HUGEINT
            )
            """,
            """
            CREATE TABLE executions (
                execution_id VARCHAR PRIMARY KEY,
                decision_id VARCHAR NOT NULL,
                opportunity_id VARCHAR NOT NULL,
                run_id VARCHAR NOT NULL,
                route_id VARCHAR NOT NULL,
                symbol VARCHAR NOT NULL,
                chain VARCHAR,
                status VARCHAR NOT NULL,
                success BOOLEAN NOT NULL,
                submitted_at TIMESTAMPTZ,
                filled_at TIMESTAMPTZ,
                latency_ms BIGINT,
                predicted_profit DECIMAL(38,18),
                realized_profit DECIMAL(38,18),
                fees DECIMAL(38,18),
                gas_cost DECIMAL(38,18),
                slippage_bps DECIMAL(20,6),
                edge_bps DECIMAL(20,6),
                fills JSON,
                note VARCHAR,
                tx_hash VARCHAR,
                block_number BIGINT,
                gas_used BIGINT,
                gas_cost_wei HUGEINT,
                predicted_profit_wei HUGEINT,
                realized_profit_wei HUGEINT,
                profit_token VARCHAR
            )
            """,
            """
            CREATE TABLE route_stats (
                scope VARCHAR NOT NULL,
                route_id VARCHAR NOT NULL,
                success_ema DOUBLE,
                capture_ratio_ema DOUBLE,
                n_executions BIGINT,
                n_success BIGINT,
                realized_profit DECIMAL(38,18),
                predicted_profit DECIMAL(38,18),
                updated_at TIMESTAMPTZ,
                PRIMARY KEY (scope, route_id)
            )
            """,
            """
            CREATE TABLE daily_limits (
                scope VARCHAR NOT NULL,
                day DATE NOT NULL,
                executions INTEGER,
                profit_usd DECIMAL(38,18),
                loss_usd DECIMAL(38,18),
                stopped_reason VARCHAR,
                updated_at TIMESTAMPTZ,
                PRIMARY KEY (scope, day)
            )
            """,
            """
            CREATE TABLE alerts (
                alert_id VARCHAR PRIMARY KEY,
                "at" TIMESTAMPTZ NOT NULL,  -- a keyword in DuckDB 2.0: write "at" in queries
                level VARCHAR NOT NULL,
                kind VARCHAR NOT NULL,
                message VARCHAR,
                run_id VARCHAR
            )
            """,
        ),
    ),
    Migration(
        2,
        "limit_resets: the audited record of every daily-limit reset (the midnight flow, or by hand)",
        (
            """
            CREATE TABLE limit_resets (
                reset_id VARCHAR PRIMARY KEY,
                requested_at TIMESTAMPTZ NOT NULL,
                scope VARCHAR NOT NULL,  -- the risk scope reset, or '*' (every scope, including running engines)
                day DATE,  -- the daily_limits day that was reset (NULL: the scope had no row yet)
                reason VARCHAR,
                requested_by VARCHAR,  -- e.g. prefect flow run <id>, or cli
                prev_executions INTEGER,
                prev_profit_usd DECIMAL(38,18),
                prev_loss_usd DECIMAL(38,18),
                prev_stopped_reason VARCHAR
            )
            """,
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and any(m in str(exc) for m in LOCK_MESSAGES)


# Files are created in a storage format that the DuckDB 1.4/1.5 CLI reads (pip `duckdb-cli`, shipped in the venv):
# DuckDB 2.0's own default format (version 69) is unreadable by it. The format is fixed when the file is created.
STORAGE_VERSION = "v1.4.0"


def create_compatible(path: str | Path) -> bool:
    """Create an empty database file at ``path`` in STORAGE_VERSION format if there is none; True if created."""
    p = Path(path)
    if p.exists():
        return False
    p.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        escaped = str(p).replace("'", "''")
        con.execute(f"ATTACH '{escaped}' AS w (STORAGE_VERSION '{STORAGE_VERSION}')")
        con.execute("DETACH w")
        return True
    except duckdb.Error:
        return False  # another process created it first: the normal open path takes over
    finally:
        con.close()


def connect(
    path: str | Path,
    *,
    read_only: bool,
    timeout: float,
    on_retry: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> duckdb.DuckDBPyConnection:
    """Open ``path``, retrying with jittered exponential backoff (10 ms .. 200 ms) while another connection holds the
    lock, for at most ``timeout`` seconds. Raises TransientError when the lock stays held; other I/O errors are
    TransientError too (disk full, permissions are reported with their cause)."""
    deadline = clock() + timeout
    delay = 0.01
    attempt = 0
    if not read_only:
        create_compatible(path)
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as e:
            if not is_lock_error(e):
                raise TransientError(f"cannot open warehouse {path}: {e}") from e
            attempt += 1
            remaining = deadline - clock()
            if remaining <= 0:
                who = "a writer" if read_only else "another process (reader or writer)"
                raise TransientError(
                    f"warehouse {path} stayed locked by {who} for {timeout:.1f} s after {attempt} attempts; "
                    f"retry later ({e})"
                ) from e
            if on_retry is not None:
                on_retry(attempt, e)
            sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, 0.2)
            continue
        try:
            con.execute("SET TimeZone = 'UTC'")
        except BaseException:
            con.close()
            raise
        return con


def applied_versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' "
        "AND table_schema = 'main'"
    ).fetchall()
    if rows[0][0] == 0:
        return []
    return [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]


def apply_migrations(con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the missing migrations on an open read-write connection. Returns the versions applied now."""
    known = [m.version for m in migrations]
    if known != sorted(set(known)):
        raise FatalError(f"migration versions must be unique and increasing, got {known}")
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    have = set(applied_versions(con))
    newest_known = known[-1] if known else 0
    if have and max(have) > newest_known:
        raise FatalError(
            f"the warehouse is at schema version {max(have)} but this code knows only up to {newest_known}; "
            "upgrade arb (or point WAREHOUSE_PATH at another file)"
        )
    done: list[int] = []
    for m in migrations:
        if m.version in have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for stmt in m.statements:
                con.execute(stmt)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now())",
                [m.version, m.description],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        done.append(m.version)
    return done


def migrate(
    path: str | Path,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
    timeout: float = 10.0,
) -> list[int]:
    """Create or upgrade the warehouse at ``path`` (the parent folder is created). Idempotent; returns the versions
    applied by this call ([] when already current). Uses the short write path: open, apply, close."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    con = connect(p, read_only=False, timeout=timeout)
    try:
        return apply_migrations(con, migrations)
    except duckdb.Error as e:
        raise FatalError(f"migrating warehouse {p} failed: {e}") from e
    finally:
        con.close()


def schema_version(path: str | Path, *, timeout: float = 10.0) -> int:
    """The highest applied version (0 for a file without migrations, or no file). Read-only."""
    if not Path(path).exists():
        return 0
    con = connect(path, read_only=True, timeout=timeout)
    try:
        versions = applied_versions(con)
    finally:
        con.close()
    return max(versions, default=0)
