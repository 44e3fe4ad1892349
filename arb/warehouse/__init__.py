"""The DuckDB warehouse: versioned schema, the one buffered writer, read-only queries.

Concurrency (see ARCHITECTURE.md): the continuous flow's :class:`WarehouseWriter` is the only frequent writer and holds
the file only while it flushes; every other process reads through :mod:`arb.warehouse.reader`, which opens the file
read-only per call and retries while a flush holds the lock.
"""

from arb.warehouse.reader import (
    WarehouseNotFound,
    decision_ids,
    load_daily_limits,
    load_route_stats,
    read_df,
    read_query,
    stats,
    with_reader,
)
from arb.warehouse.rows import DailyLimitsRow, RouteStatsRow
from arb.warehouse.schema import LATEST_VERSION, MIGRATIONS, Migration, migrate, schema_version
from arb.warehouse.writer import WarehouseWriter

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "DailyLimitsRow",
    "Migration",
    "RouteStatsRow",
    "WarehouseNotFound",
    "WarehouseWriter",
    "decision_ids",
    "load_daily_limits",
    "load_route_stats",
    "migrate",
    "read_df",
    "read_query",
    "schema_version",
    "stats",
    "with_reader",
]
