"""Read-only access: retries on the writer's lock, clear errors, exact money, and the CLI's queries."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest

from arb.errors import FatalError, TransientError
from arb.warehouse import (
    DailyLimitsRow,
    RouteStatsRow,
    WarehouseNotFound,
    WarehouseWriter,
    decision_ids,
    load_daily_limits,
    load_route_stats,
    migrate,
    read_df,
    read_query,
    stats,
)
from tests.integration.warehouse_proc import T0, hold_lock, make_decision, make_execution, make_opportunity, synthetic


@pytest.fixture
def db(tmp_path):
    p = tmp_path / "wh.duckdb"
    migrate(p)
    return p


def test_missing_file_tells_the_user_to_run_first(tmp_path):
    with pytest.raises(WarehouseNotFound, match="arb run"):
        read_query(tmp_path / "nope.duckdb", "SELECT 1")
    with pytest.raises(WarehouseNotFound, match="arb run"):
        stats(tmp_path / "nope.duckdb")
    assert not (tmp_path / "nope.duckdb").exists()  # reading never creates the file


def test_an_unmigrated_file_is_a_clear_error(tmp_path):
    p = tmp_path / "empty.duckdb"
    import duckdb

    duckdb.connect(str(p)).close()
    with pytest.raises(FatalError, match="migrate"):
        stats(p)


def test_reader_retries_while_a_writer_holds_the_file(db):
    retries = []
    holder = hold_lock(db, 0.7, read_only=False)
    t0 = time.monotonic()
    try:
        assert read_query(db, "SELECT count(*) FROM decisions", on_retry=lambda n, e: retries.append(n)) == [(0,)]
    finally:
        holder.wait(10)
    assert retries, "the reader must have met the lock at least once"
    assert time.monotonic() - t0 >= 0.3  # it really waited for the holder


def test_reader_gives_up_with_transient_error(db):
    holder = hold_lock(db, 2.0, read_only=False)
    try:
        t0 = time.monotonic()
        with pytest.raises(TransientError, match="stayed locked"):
            read_query(db, "SELECT 1", timeout=0.3)
        assert time.monotonic() - t0 < 1.5
    finally:
        holder.wait(10)


def test_several_readers_at_once_do_not_block_each_other(db):
    holder = hold_lock(db, 1.0, read_only=True)
    try:
        t0 = time.monotonic()
        assert read_query(db, "SELECT 42", timeout=0.5) == [(42,)]
        assert time.monotonic() - t0 < 0.5
    finally:
        holder.wait(10)


def test_read_df_keeps_money_exact(db):
    o = make_opportunity("o1", net_profit=Decimal("0.000000000000000001"), gas_wei=2**100)
    with WarehouseWriter(db) as w:
        w.add_decision(make_decision("d1", o), o, "r")
    df = read_df(db, "SELECT decision_id, net_profit, gas_wei, confidence FROM decisions WHERE run_id = ?", ["r"])
    assert list(df["decision_id"]) == ["d1"]
    assert df["net_profit"].iloc[0] == Decimal("0.000000000000000001")
    assert isinstance(df["net_profit"].iloc[0], Decimal)
    assert df["gas_wei"].iloc[0] == Decimal(2**100)
    assert df["confidence"].dtype.kind == "f"


def _dataset(db) -> None:
    """Two runs; the later one has 4 decisions, 3 executions (2 profitable) and daily limits on its last day."""
    with WarehouseWriter(db) as w:
        w.start_run("old", started_at=T0 - timedelta(days=1), source="replay", ai_mode="conservative", profile="p",
                    dry_run=True, settings_json="{}", risk_scope="acct", opportunities_detected=999)  # fmt: skip
        w.start_run("new", started_at=T0, source="ccxt", ai_mode="balanced", profile="p", dry_run=True,
                    settings_json="{}", risk_scope="acct", ml_enabled=True, model_version="arb-scorer/3")  # fmt: skip
        w.update_run("new", opportunities_detected=120, opportunities_submitted=40, opportunities_queued=3,
                     pending_executions=1)  # fmt: skip
        for i in range(4):
            d, o = synthetic("new", i)
            # the last decision falls on the next UTC day: the daily figures must come from that day
            d = d.model_copy(update={"decided_at": T0 + timedelta(hours=6 * i)})
            w.add_decision(d, o, "new")
            if i < 3:
                w.add_execution(make_execution(f"x{i}", d, o, realized=Decimal("2.5") if i else Decimal("-1")), "new")
        d, o = synthetic("old", 0)
        w.add_decision(d, o, "old")
        last_day = (T0 + timedelta(hours=18)).date()
        assert last_day != T0.date()
        w.upsert_daily_limits(DailyLimitsRow("acct", last_day, 3, Decimal("5.004"), Decimal("1.006"), None, T0))
        w.upsert_daily_limits(DailyLimitsRow("acct", T0.date(), 50, Decimal("99"), Decimal("99"), None, T0))
        w.upsert_daily_limits(DailyLimitsRow("other", last_day, 70, Decimal("77"), Decimal("77"), None, T0))


def test_stats_of_the_latest_run(db):
    _dataset(db)
    assert stats(db) == {
        "run_id": "new",
        "opportunities_detected": 120,
        "opportunities_submitted": 40,
        "orchestrator": {
            "opportunities_queued": 3,
            "pending_executions": 1,
            "daily_executions": 3,
            "daily_profit_usd": 5.0,
            "daily_losses_usd": 1.01,
            "ai_stats": {
                "total_predictions": 4,
                "total_executions": 3,
                "win_rate": 0.6667,
                "ml_enabled": True,
                "model_trained": True,
            },
        },
    }


def test_stats_of_a_given_run_and_of_an_unknown_one(db):
    _dataset(db)
    s = stats(db, "old")
    assert s["opportunities_detected"] == 999
    assert s["orchestrator"]["ai_stats"] == {
        "total_predictions": 1,
        "total_executions": 0,
        "win_rate": 0.0,
        "ml_enabled": False,
        "model_trained": False,
    }
    assert s["orchestrator"]["daily_executions"] == 50  # its last decision was on T0's day
    with pytest.raises(WarehouseNotFound, match="nope"):
        stats(db, "nope")


def test_stats_of_an_empty_warehouse(db):
    with pytest.raises(WarehouseNotFound, match="any run"):
        stats(db)


def test_load_route_stats_daily_limits_and_decision_ids(db):
    _dataset(db)
    with WarehouseWriter(db) as w:
        w.upsert_route_stats(RouteStatsRow("a", 0.6, 0.9, 10, 6, Decimal("0.000000000000000001"), Decimal("2"), T0))
        w.upsert_route_stats(RouteStatsRow("b", 0.4, 1.1, 5, 2, Decimal("-3"), Decimal("1"), T0))
    routes = load_route_stats(db)
    assert routes == {
        "a": RouteStatsRow("a", 0.6, 0.9, 10, 6, Decimal("0.000000000000000001"), Decimal("2"), T0),
        "b": RouteStatsRow("b", 0.4, 1.1, 5, 2, Decimal("-3"), Decimal("1"), T0),
    }
    row = load_daily_limits(db, "acct", (T0 + timedelta(hours=18)).date())
    assert row == DailyLimitsRow("acct", (T0 + timedelta(hours=18)).date(), 3, Decimal("5.004"), Decimal("1.006"),
                                 None, T0)  # fmt: skip
    assert load_daily_limits(db, "acct", date(1999, 1, 1)) is None
    assert decision_ids(db, "new") == [f"new-d{i:09d}" for i in range(4)]
    assert decision_ids(db, "none") == []
