"""Daily-limit resets: the warehouse record, a running engine re-armed after a daily-loss stop, and the Prefect flow."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from arb import wiring
from arb.market.recording import RecordingSource
from arb.risk.limits import RiskLimits, RiskManager, RiskState
from arb.risk.reset import ResetWatcher
from arb.runner import new_run_id
from arb.warehouse.resets import latest_reset, reset_daily_limits
from arb.warehouse.rows import DailyLimitsRow
from arb.warehouse.schema import migrate
from arb.warehouse.writer import WarehouseWriter
from tests.integration.test_engine_risk import record, rows, settings

NOW = datetime(2026, 11, 26, 0, 0, 5, tzinfo=UTC)


def seed_limits(db, *limits: tuple[str, date, int, str, str | None]):
    migrate(db)
    with WarehouseWriter(db) as w:
        for scope, day, n, loss, stopped in limits:
            w.upsert_daily_limits(DailyLimitsRow(scope, day, n, Decimal(0), Decimal(loss), stopped, NOW))


def test_reset_zeroes_each_scopes_latest_day_and_records_what_it_replaced(tmp_path):
    db = tmp_path / "arb.duckdb"
    seed_limits(db, ("acct", date(2026, 11, 24), 7, "12.5", None),
                ("acct", date(2026, 11, 25), 42, "501.25", "daily loss limit $500 hit (losses $501.25)"),
                ("other", date(2026, 11, 25), 3, "0", None))
    recs = reset_daily_limits(db, now=NOW, requested_by="test")
    assert {(r.scope, r.day) for r in recs} == {("acct", date(2026, 11, 25)), ("other", date(2026, 11, 25)),
                                                ("*", None)}
    got = rows(db, "select scope, day, executions, loss_usd, stopped_reason from daily_limits order by scope, day")
    assert got == [
        ("acct", date(2026, 11, 24), 7, Decimal("12.5"), None),  # an earlier day is history: untouched
        ("acct", date(2026, 11, 25), 0, Decimal(0), None),
        ("other", date(2026, 11, 25), 0, Decimal(0), None),
    ]
    audit = rows(db, "select scope, prev_executions, prev_loss_usd, prev_stopped_reason, requested_by "
                     "from limit_resets where scope = 'acct'")
    assert audit == [("acct", 42, Decimal("501.25"), "daily loss limit $500 hit (losses $501.25)", "test")]
    assert latest_reset(db, "acct") is not None and latest_reset(db, "never-seen")[1].endswith("-all")


def test_reset_of_one_scope_leaves_the_others(tmp_path):
    db = tmp_path / "arb.duckdb"
    seed_limits(db, ("a", date(2026, 11, 25), 5, "1", None), ("b", date(2026, 11, 25), 6, "2", None))
    reset_daily_limits(db, now=NOW, scope="a")
    assert rows(db, "select scope, executions from daily_limits order by scope") == [("a", 0), ("b", 6)]
    assert latest_reset(db, "b") is None


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_watcher_applies_only_new_resets_at_its_pace_and_survives_a_failing_query():
    risk = RiskManager(RiskLimits(max_daily_loss_usd=Decimal(1)), RiskState(scope="s", day=date(2022, 12, 13)))
    now = datetime(2022, 12, 13, 10, tzinfo=UTC)
    risk.on_submit(now)
    risk.on_complete(Decimal(-2), now)
    assert risk.state.stopped_reason
    answers: list = [(NOW, "old")]

    def latest():
        a = answers[-1]
        if isinstance(a, Exception):
            raise a
        return a

    clock = Clock()
    w = ResetWatcher(latest, risk, every_s=5, clock=clock)
    clock.t = 5
    assert w.poll(now) is False and risk.state.stopped_reason  # the reset from before start-up is not re-applied
    answers.append(RuntimeError("database is locked"))
    clock.t = 10
    assert w.poll(now) is False
    answers.append((NOW + timedelta(hours=1), "new"))
    clock.t = 12
    assert w.poll(now) is False  # not yet: at most one query per every_s
    clock.t = 15
    assert w.poll(now) is True
    assert risk.state.stopped_reason is None and risk.state.loss_usd == 0 and risk.state.executions == 0
    clock.t = 20
    assert w.poll(now) is False and w.applied == 1


def test_a_running_engine_is_re_armed_after_a_daily_loss_stop(tmp_path):
    data = record(tmp_path / "lose.csv", 40, losing=True)
    s = settings(tmp_path, max_daily_loss_usd="0.5")
    migrate(s.warehouse_path)
    writer = WarehouseWriter(s.warehouse_path, flush_seconds=0)
    run_id = new_run_id()
    state: dict = {}

    def on_batch(i, batch):
        engine = state["engine"]
        if engine.decider.risk.state.stopped_reason and "reset_at" not in state:
            writer.flush()
            state["reset_at"] = batch.at
            state["records"] = reset_daily_limits(s.warehouse_path, now=datetime.now(UTC), scope="acct",
                                                  reason="test re-arm")

    engine = wiring.build_engine(s, source=RecordingSource(data), run_id=run_id, risk_scope="acct", writer=writer,
                                 on_batch=on_batch)
    engine.reset_watcher.every_s = 0  # poll on every batch: the replay runs far faster than wall time
    state["engine"] = engine
    engine.run(threading.Event())
    writer.close()
    db = s.warehouse_path
    assert "reset_at" in state, "the daily loss limit never stopped execution"
    assert state["records"][0].prev_stopped_reason and "daily loss limit" in state["records"][0].prev_stopped_reason
    assert engine.reset_watcher.applied == 1
    after = rows(db, "select count(*) from decisions where action = 'execute' and decided_at > ?", [state["reset_at"]])
    assert after[0][0] > 0, "execution was not re-armed by the reset"
    # ... and the limit stops it again once the new day's losses reach it.
    [(stopped,)] = rows(db, "select stopped_reason from daily_limits where scope = 'acct'")
    assert stopped and "daily loss limit" in stopped


@pytest.mark.timeout(180)
def test_the_reset_flow_resets_the_limits(tmp_path, monkeypatch):
    db = tmp_path / "arb.duckdb"
    seed_limits(db, ("acct", date(2026, 11, 25), 9, "600", "daily loss limit $500 hit (losses $600.00)"))
    monkeypatch.setenv("WAREHOUSE_PATH", str(db))
    monkeypatch.setenv("LOG_PATH", str(tmp_path / "arb.log"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / ".prefect"))
    from arb.cli import _load_flow

    flow = _load_flow("reset_daily_limits.py", "reset_daily_limits")
    out = flow(env_file=str(tmp_path / "none.env"))
    assert out["scope"] == "*" and out["flow_run_id"]
    assert [r["prev_executions"] for r in out["reset"] if r["scope"] == "acct"] == [9]
    assert rows(db, "select executions, loss_usd, stopped_reason from daily_limits") == [(0, Decimal(0), None)]
    assert rows(db, "select requested_by from limit_resets where scope = 'acct'")[0][0].startswith("prefect flow run ")
