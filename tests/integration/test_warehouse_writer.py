"""WarehouseWriter on real DuckDB files: exactness, batching, idempotence, atomic batches, lock retries."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pytest

from arb.errors import BadInput, FatalError, TransientError
from arb.warehouse import DailyLimitsRow, RouteStatsRow, WarehouseWriter, migrate, read_query
from tests.integration.warehouse_proc import T0, hold_lock, make_decision, make_execution, make_opportunity, synthetic

RUN = "run-1"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def count(db, table="decisions") -> int:
    return read_query(db, f"SELECT count(*) FROM {table}")[0][0]


@pytest.fixture
def db(tmp_path):
    p = tmp_path / "wh.duckdb"
    migrate(p)
    return p


def test_decimal_and_wei_survive_exactly(db):
    tiny = Decimal("0.000000000000000001")
    big_wei = 2**127 - 1  # the largest HUGEINT
    opp = make_opportunity(
        "o1",
        net_profit=tiny,
        gross_profit=Decimal("12345678901234567890.123456789012345678"),  # 20 + 18 digits: the full DECIMAL(38,18)
        fees=Decimal("-0.5"),
        edge_bps=Decimal("-12.345678"),
        gas_wei=big_wei,
        gross_profit_wei=-(2**100),
        net_profit_wei=1,
    )
    w = WarehouseWriter(db)
    w.add_decision(make_decision("d1", opp, size=Decimal("1.000000000000000001")), opp, RUN)
    w.flush()
    row = read_query(
        db, "SELECT net_profit, gross_profit, fees, edge_bps, gas_wei, gross_profit_wei, net_profit_wei, size "
        "FROM decisions WHERE decision_id = 'd1'",
    )[0]  # fmt: skip
    assert row[0] == tiny and isinstance(row[0], Decimal)
    assert row[1] == Decimal("12345678901234567890.123456789012345678")
    assert row[2] == Decimal("-0.5")
    assert row[3] == Decimal("-12.345678")
    assert row[4] == big_wei and isinstance(row[4], int)
    assert row[5] == -(2**100)
    assert row[6] == 1
    assert row[7] == Decimal("1.000000000000000001")


def test_values_beyond_the_columns_are_rejected_when_added_not_at_flush(db):
    w = WarehouseWriter(db)
    o = make_opportunity("o1")
    with pytest.raises(BadInput) as e:
        w.add_decision(make_decision("d1", o), o.model_copy(update={"gas_wei": 2**127}), RUN)
    assert e.value.reason == "warehouse_out_of_range"
    with pytest.raises(BadInput) as e:
        w.add_decision(make_decision("d2", o), o.model_copy(update={"net_profit": Decimal("NaN")}), RUN)
    assert e.value.reason == "warehouse_non_finite"
    with pytest.raises(BadInput) as e:
        w.add_decision(make_decision("d3", o, factors={"edge": float("nan")}), o, RUN)
    assert e.value.reason == "warehouse_bad_json"
    with pytest.raises(BadInput) as e:
        w.add_decision(make_decision("d4", o, opportunity_id="other"), o, RUN)
    assert e.value.reason == "warehouse_decision_mismatch"
    assert w.buffered_rows == 0


def test_more_than_18_decimals_round_half_even_at_1e_18(db):
    o = make_opportunity("o1", buy_price=Decimal(1) / Decimal(3), sell_price=Decimal("0.0000000000000000025"))
    w = WarehouseWriter(db)
    w.add_decision(make_decision("d1", o), o, RUN)
    w.flush()
    assert read_query(db, "SELECT buy_price, sell_price FROM decisions") == [
        (Decimal("0.333333333333333333"), Decimal("0.000000000000000002"))
    ]


def test_timestamps_are_stored_in_utc(db):
    plus2 = timezone(timedelta(hours=2))
    o = make_opportunity("o1", observed_at=datetime(2026, 1, 1, 14, 0, tzinfo=plus2))
    w = WarehouseWriter(db)
    w.add_decision(make_decision("d1", o, decided_at=datetime(2026, 1, 1, 12, 0, 1)), o, RUN)  # naive = UTC
    w.flush()
    observed, decided = read_query(db, "SELECT observed_at, decided_at FROM decisions")[0]
    assert observed == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert decided == datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)


def test_the_full_decision_trace_is_one_row(db):
    d, o = synthetic(RUN, 0)  # seq 0 executes
    w = WarehouseWriter(db)
    w.add_decision(d, o, RUN)
    w.flush()
    r = read_query(
        db,
        "SELECT action, confidence, factors->>'$.edge', weights->>'$.liquidity', reasons,"
        " thresholds->>'$.min_edge_bps', model_version, features, fee_rate_buy, route_id, buy_venue, data_age_ms"
        " FROM decisions",
    )[0]
    assert r[0] == "execute"
    assert r[1] == d.confidence
    assert r[2] == "0.62" and r[3] == "0.2"
    assert tuple(r[4]) == d.reasons
    assert r[5] == "40"
    assert r[6] == "none"  # decided by the heuristic scorer: model_version names "none", never NULL
    assert tuple(r[7]) == d.features
    assert r[8] == Decimal("0.001")
    assert (r[9], r[10], r[11]) == (o.route_id, "binance", o.data_age_ms)


def test_flushes_by_time_with_an_injected_clock(db):
    clock = Clock()
    w = WarehouseWriter(db, flush_seconds=1.0, flush_rows=1000, monotonic=clock)
    for i in range(5):
        w.add_decision(*synthetic(RUN, i), RUN)
    clock.t += 0.99
    assert w.maybe_flush() is False
    assert count(db) == 0 and w.buffered_rows == 5
    clock.t += 0.02
    assert w.maybe_flush() is True
    assert count(db) == 5 and w.buffered_rows == 0
    assert (w.flushes, w.rows_written) == (1, 5)
    assert w.last_flush_ms > 0
    # the timer restarts at the flush; an empty buffer never opens the file
    clock.t += 5
    assert w.maybe_flush() is False
    assert w.flushes == 1


def test_flushes_by_rows(db):
    clock = Clock()
    w = WarehouseWriter(db, flush_seconds=3600, flush_rows=10, monotonic=clock)
    for i in range(9):
        w.add_decision(*synthetic(RUN, i), RUN)
        assert w.maybe_flush() is False
    w.add_decision(*synthetic(RUN, 9), RUN)
    assert w.maybe_flush() is True
    assert count(db) == 10
    assert w.flushes == 1


def test_the_same_decision_twice_is_stored_once(db):
    w = WarehouseWriter(db)
    d, o = synthetic(RUN, 1)
    w.add_decision(d, o, RUN)
    w.add_decision(d.model_copy(update={"confidence": 0.99}), o, RUN)  # same id in the same batch: first wins
    w.flush()
    w.add_decision(d.model_copy(update={"confidence": 0.01}), o, RUN)  # again in a later batch: already stored
    w.flush()
    assert read_query(db, "SELECT decision_id, confidence FROM decisions") == [(d.id, d.confidence)]
    assert w.duplicates_ignored == 1


class AmbiguousWriter(WarehouseWriter):
    """The commit succeeds, then the flush fails before the writer learns it (e.g. an error on close)."""

    fail_after_commit = 1

    def _write(self, batch):
        ignored = super()._write(batch)
        if self.fail_after_commit:
            self.fail_after_commit -= 1
            raise duckdb.IOException("connection lost after COMMIT")
        return ignored


def test_a_batch_retried_after_an_ambiguous_failure_does_not_duplicate(db):
    w = AmbiguousWriter(db)
    w.start_run(RUN, started_at=T0, source="t", ai_mode="conservative", profile="p", dry_run=True,
                settings_json="{}", risk_scope="s")  # fmt: skip
    d, o = synthetic(RUN, 0)
    w.add_decision(d, o, RUN)
    w.add_execution(make_execution("x1", d, o), RUN)
    aid = w.add_alert(at=T0, level="warning", kind="test", message="hello", run_id=RUN)
    with pytest.raises(TransientError):
        w.flush()
    assert w.buffered_rows == 4  # kept: the writer cannot know the commit happened
    assert w.flush() == 4
    assert [count(db, t) for t in ("decisions", "executions", "alerts", "runs")] == [1, 1, 1, 1]
    assert read_query(db, 'SELECT alert_id, "at", level FROM alerts') == [(aid, T0, "warning")]
    assert w.duplicates_ignored == 3


def test_a_failure_mid_batch_writes_nothing_and_keeps_the_rows(db):
    # Make the executions insert (after decisions and runs in the same transaction) fail with a CHECK constraint.
    con = duckdb.connect(str(db))
    ddl = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'executions'").fetchall()[0][0]
    con.execute("DROP TABLE executions")
    con.execute(ddl.rstrip(";").rstrip().rstrip(")") + ", CHECK (latency_ms < 1000))")
    con.close()

    w = WarehouseWriter(db)
    w.update_run(RUN, opportunities_detected=7)
    pairs = [synthetic(RUN, i) for i in range(50)]
    for d, o in pairs:
        w.add_decision(d, o, RUN)
    d, o = pairs[0]
    w.add_execution(make_execution("x-slow", d, o, latency_ms=5000), RUN)
    with pytest.raises(FatalError, match="kept buffered"):
        w.flush()
    assert [count(db, t) for t in ("decisions", "executions", "runs")] == [0, 0, 0]
    assert w.buffered_rows == 52 and w.failed_flushes == 1

    con = duckdb.connect(str(db))  # fix the table; the same rows then go through
    con.execute("DROP TABLE executions")
    con.execute(ddl)
    con.close()
    w.update_run(RUN, opportunities_detected=9)  # arrived meanwhile: newer value wins over the kept one
    assert w.flush() == 52
    assert [count(db, t) for t in ("decisions", "executions", "runs")] == [50, 1, 1]
    assert read_query(db, "SELECT opportunities_detected FROM runs") == [(9,)]


def test_runs_counters_last_value_wins_and_start_finish(db):
    w = WarehouseWriter(db)
    w.start_run(RUN, started_at=T0, source="replay:x", ai_mode="balanced", profile="dev", dry_run=True,
                settings_json='{"ai_mode": "balanced"}', risk_scope="replay:run-1", ml_enabled=True)  # fmt: skip
    w.update_run(RUN, opportunities_detected=10, opportunities_submitted=4)
    w.update_run(RUN, opportunities_detected=12, data_quality={"stale": 2})
    w.flush()
    w.update_run(RUN, opportunities_detected=20, pending_executions=1, opportunities_queued=3)
    w.finish_run(RUN, finished_at=T0 + timedelta(minutes=5), status="completed")
    w.flush()
    row = read_query(
        db,
        "SELECT source, ai_mode, dry_run, settings_json->>'$.ai_mode', risk_scope, ml_enabled, opportunities_detected,"
        " opportunities_submitted, opportunities_queued, pending_executions, data_quality_json->>'$.stale', status,"
        " finished_at, started_at FROM runs",
    )
    assert row == [("replay:x", "balanced", True, "balanced", "replay:run-1", True, 20, 4, 3, 1, "2", "completed",
                    T0 + timedelta(minutes=5), T0)]  # fmt: skip
    with pytest.raises(TypeError, match="no settable column"):
        w.update_run(RUN, opportunities_detectd=1)
    with pytest.raises(BadInput):
        w.start_run("r2", started_at=T0, source="s", ai_mode="a", profile="p", dry_run=True, settings_json="{nope",
                    risk_scope="s")  # fmt: skip


def test_route_stats_and_daily_limits_upsert(db):
    w = WarehouseWriter(db)
    rs = RouteStatsRow("r1", 0.55, 1.02, 1, 1, Decimal("1.000000000000000001"), Decimal("0.9"), T0)
    w.upsert_route_stats(rs)
    w.upsert_daily_limits(DailyLimitsRow("acct", date(2026, 11, 2), 1, Decimal("1.5"), Decimal(0), None, T0))
    w.flush()
    w.upsert_route_stats(RouteStatsRow("r1", 0.6, 1.0, 2, 2, Decimal("2.5"), Decimal("2"), T0 + timedelta(1)))
    w.upsert_route_stats(RouteStatsRow("r1", 0.65, 1.0, 3, 3, Decimal("3.5"), Decimal("3"), T0 + timedelta(2)))
    w.upsert_daily_limits(DailyLimitsRow("acct", date(2026, 11, 2), 2, Decimal("1.5"), Decimal("0.25"), "max_loss", T0))
    w.upsert_daily_limits(DailyLimitsRow("acct", date(2026, 11, 3), 0, Decimal(0), Decimal(0), None, T0))
    w.flush()
    assert read_query(db, "SELECT route_id, success_ema, n_executions, realized_profit FROM route_stats") == [
        ("r1", 0.65, 3, Decimal("3.5"))
    ]
    assert read_query(db, "SELECT day, executions, loss_usd, stopped_reason FROM daily_limits ORDER BY day") == [
        (date(2026, 11, 2), 2, Decimal("0.25"), "max_loss"),
        (date(2026, 11, 3), 0, Decimal(0), None),
    ]


def test_daily_limits_accepts_a_risk_state_like_object_with_updated_at(db):
    class State:  # the shape of arb.risk.limits.RiskState: no updated_at of its own
        scope, day, executions = "acct", date(2026, 11, 2), 4
        profit_usd, loss_usd, stopped_reason, in_flight = Decimal("3"), Decimal("1"), None, 2

    w = WarehouseWriter(db)
    w.upsert_daily_limits(State(), T0)
    w.flush()
    assert read_query(db, "SELECT executions, profit_usd, updated_at FROM daily_limits") == [(4, Decimal(3), T0)]


def test_flush_waits_for_a_reader_then_writes(db):
    w = WarehouseWriter(db, lock_timeout=10.0)
    w.add_decision(*synthetic(RUN, 0), RUN)
    holder = hold_lock(db, 0.8, read_only=True)
    try:
        assert w.flush() == 1
    finally:
        holder.wait(10)
    assert w.lock_retries > 0
    assert count(db) == 1


def test_flush_gives_up_after_the_lock_timeout_and_keeps_rows(db):
    clock = Clock()
    w = WarehouseWriter(db, lock_timeout=0.3, flush_seconds=1.0, monotonic=clock, max_buffered_rows=2)
    w.add_decision(*synthetic(RUN, 0), RUN)
    holder = hold_lock(db, 2.5, read_only=True)  # e.g. someone keeps the file open in the duckdb CLI
    try:
        with pytest.raises(TransientError, match="stayed locked"):
            w.flush()  # an explicit flush raises
        assert w.buffered_rows == 1 and "stayed locked" in w.last_error
        clock.t += 10
        assert w.maybe_flush() is False  # the loop's flush absorbs it (logged), rows stay buffered
        assert w.failed_flushes == 2 and w.buffered_rows == 1
        w.add_decision(*synthetic(RUN, 1), RUN)
        assert w.maybe_flush() is False  # backs off for flush_seconds: no attempt, no 0.3 s stall
        assert w.failed_flushes == 2
        w.add_decision(*synthetic(RUN, 2), RUN)
        clock.t += 1.0
        with pytest.raises(TransientError):
            w.maybe_flush()  # more than max_buffered_rows waiting: now the caller must know
    finally:
        holder.wait(10)
    clock.t += 1.0
    assert w.maybe_flush() is True
    assert count(db) == 3


def test_rows_added_from_another_thread_during_flushes_are_all_written_once(db):
    w = WarehouseWriter(db)
    pairs = [synthetic(RUN, i) for i in range(3000)]
    done, flushed = threading.Event(), threading.Event()

    def produce() -> None:
        for i, (d, o) in enumerate(pairs):
            w.add_decision(d, o, RUN)
            if i == 1500:
                flushed.wait(30)  # make sure flushes and adds really interleave
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    flushes = 0
    while not done.is_set():
        if w.flush():
            flushes += 1
            flushed.set()
    t.join()
    w.close()
    assert flushes >= 1 and w.flushes >= 2
    assert read_query(db, "SELECT count(*), count(DISTINCT decision_id) FROM decisions") == [(3000, 3000)]
    assert w.rows_written == 3000


def test_close_flushes_and_refuses_more(db):
    w = WarehouseWriter(db, flush_seconds=3600)
    w.add_decision(*synthetic(RUN, 0), RUN)
    w.close()
    assert count(db) == 1
    with pytest.raises(RuntimeError, match="closed"):
        w.add_decision(*synthetic(RUN, 1), RUN)


def test_the_first_flush_creates_and_migrates_a_new_file(tmp_path):
    db = tmp_path / "new" / "wh.duckdb"
    with WarehouseWriter(db) as w:
        w.add_decision(*synthetic(RUN, 0), RUN)
    assert count(db) == 1
    assert read_query(db, "SELECT count(*) FROM schema_migrations")[0][0] >= 1
