"""Migrations on real DuckDB files: fresh, idempotent, versioned, upgradeable, race-safe; no float money columns."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from arb.errors import FatalError
from arb.warehouse import LATEST_VERSION, MIGRATIONS, Migration, migrate, read_query, schema_version

EXPECTED_TABLES = {"schema_migrations", "runs", "decisions", "executions", "route_stats", "daily_limits", "alerts"}

# columns that hold money, amounts, prices or bps: never DOUBLE/FLOAT
MONEY_COLUMNS = {
    "decisions": [
        "size", "opportunity_size", "buy_price", "sell_price", "notional_usd", "gross_edge_bps", "edge_bps",
        "gross_profit", "fees", "gas", "net_profit", "liquidity_depth", "fee_rate_buy", "fee_rate_sell",
        "gas_wei", "gross_profit_wei", "net_profit_wei",
    ],
    "executions": ["predicted_profit", "realized_profit", "fees", "gas_cost", "slippage_bps", "edge_bps"],
    "route_stats": ["realized_profit", "predicted_profit"],
    "daily_limits": ["profit_usd", "loss_usd"],
}  # fmt: skip
ALLOWED_DOUBLE = {("decisions", "confidence"), ("route_stats", "success_ema"), ("route_stats", "capture_ratio_ema")}


def _tables(path) -> set[str]:
    return {r[0] for r in read_query(path, "SELECT table_name FROM information_schema.tables")}


def test_fresh_migrate_creates_every_table_and_records_versions(tmp_path):
    db = tmp_path / "sub" / "wh.duckdb"  # the parent folder is created
    assert migrate(db) == [m.version for m in MIGRATIONS]
    assert EXPECTED_TABLES <= _tables(db)
    rows = read_query(db, "SELECT version, description, applied_at FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    assert all(r[1] and r[2] is not None for r in rows)
    assert schema_version(db) == LATEST_VERSION


def test_migrate_is_idempotent(tmp_path):
    db = tmp_path / "wh.duckdb"
    assert schema_version(db) == 0  # no file yet
    migrate(db)
    before = read_query(db, "SELECT * FROM schema_migrations ORDER BY version")
    assert migrate(db) == []
    assert migrate(db) == []
    assert read_query(db, "SELECT * FROM schema_migrations ORDER BY version") == before


def test_a_later_migration_is_applied_on_top_and_keeps_data(tmp_path):
    db = tmp_path / "wh.duckdb"
    migrate(db)
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO route_stats (scope, route_id, n_executions) VALUES ('default', 'r', 3)")
    con.close()
    v2 = Migration(
        LATEST_VERSION + 1,
        "model registry",
        (
            "CREATE TABLE model_versions (name VARCHAR, version VARCHAR, trained_at TIMESTAMPTZ, "
            "PRIMARY KEY (name, version))",
            "ALTER TABLE decisions ADD COLUMN model_score DOUBLE",
        ),
    )
    assert migrate(db, migrations=(*MIGRATIONS, v2)) == [v2.version]
    assert "model_versions" in _tables(db)
    assert read_query(db, "SELECT n_executions FROM route_stats WHERE route_id = 'r'") == [(3,)]
    assert schema_version(db) == v2.version
    # the older code now refuses the newer file instead of writing into a schema it does not know
    with pytest.raises(FatalError, match="upgrade arb"):
        migrate(db)


def test_a_failing_migration_leaves_nothing_of_itself(tmp_path):
    db = tmp_path / "wh.duckdb"
    migrate(db)
    bad = Migration(LATEST_VERSION + 1, "half", ("CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"))
    with pytest.raises(FatalError):
        migrate(db, migrations=(*MIGRATIONS, bad))
    assert "half_done" not in _tables(db)
    assert schema_version(db) == LATEST_VERSION


def test_two_processes_migrating_at_once_both_succeed(tmp_path):
    db = tmp_path / "wh.duckdb"
    code = "import sys; from arb.warehouse import migrate; print(migrate(sys.argv[1]))"
    cmd = [sys.executable, "-c", code, str(db)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    # exactly one of them applied the versions, the other found them applied
    assert sorted(outs) == sorted([str([m.version for m in MIGRATIONS]), "[]"])
    assert read_query(db, "SELECT count(*) FROM schema_migrations") == [(len(MIGRATIONS),)]


def test_no_money_column_is_floating_point(tmp_path):
    db = tmp_path / "wh.duckdb"
    migrate(db)
    types = {
        (t, c): dt
        for t, c, dt in read_query(db, "SELECT table_name, column_name, data_type FROM information_schema.columns")
    }
    for table, cols in MONEY_COLUMNS.items():
        for col in cols:
            dt = types[(table, col)]
            assert dt.startswith("DECIMAL") or dt == "HUGEINT", f"{table}.{col} is {dt}"
    doubles = {k for k, dt in types.items() if dt in ("DOUBLE", "FLOAT", "REAL")}
    assert doubles == ALLOWED_DOUBLE
    assert types[("decisions", "net_profit")] == "DECIMAL(38,18)"
    assert types[("decisions", "edge_bps")] == "DECIMAL(20,6)"
    assert types[("decisions", "gas_wei")] == "HUGEINT"
