"""Risk controls end to end: real recordings replayed through the runner into a real DuckDB warehouse.

The recordings here are small hand-made scenarios (not market data), built to trigger one control each.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import duckdb

from arb import wiring
from arb.market.recording import RecordingSource, RecordingWriter
from arb.risk.limits import KillSwitch
from arb.runner import new_run_id, run
from arb.settings import load_settings
from arb.warehouse.schema import migrate
from arb.warehouse.writer import WarehouseWriter
from tests.factories import T0, book

BASE = dict(
    ai_mode="aggressive", min_edge_bps=2, ai_min_confidence=0.3, cex_min_profit_usd="0.01", cex_trade_size_usd=100,
    fee_overrides={"a:BTC/USDT": "0", "b:BTC/USDT": "0"}, execution_cooldown_seconds=5,
    cex_exchanges="a,b", cex_symbols="BTC/USDT",
)


def settings(tmp, **kw):
    values = dict(BASE, warehouse_path=tmp / "arb.duckdb", log_path=tmp / "arb.log", kill_switch_file=tmp / "KILL")
    values.update(kw)
    return load_settings(env_files=(), **values)


def record(path, minutes: int, losing: bool = False):
    """Every even minute venue b bids 20 bps over a's ask. With ``losing``, b's bid collapses the next minute, so the
    sell leg misses its IOC limit and the bought BTC is unwound at a's bid, at a loss."""
    with RecordingWriter(path) as w:
        for m in range(minutes):
            at = T0 + timedelta(minutes=m)
            if m % 2 == 0 or not losing:
                a = book("a", "BTC/USDT", [("99.99", "10")], [("100", "10")], at=at)
                b = book("b", "BTC/USDT", [("100.2", "10")], [("100.21", "10")], at=at)
            else:
                a = book("a", "BTC/USDT", [("99.5", "10")], [("100", "10")], at=at)
                b = book("b", "BTC/USDT", [("99", "10")], [("99.01", "10")], at=at)
            w.write([a, b])
    return path


def rows(db, sql, params=None):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_profitable_scenario_executes_every_other_cooldown(tmp_path):
    data = record(tmp_path / "gap.csv", 10)
    s = settings(tmp_path)
    summary = run(s, source="replay", data=data, progress=False)
    db = tmp_path / "arb.duckdb"
    [(n, total)] = rows(db, "select count(*), sum(realized_profit) from executions")
    assert n == summary.stats["orchestrator"]["daily_executions"] > 0
    assert total > 0


def test_daily_execution_limit_survives_a_restart(tmp_path):
    data = record(tmp_path / "gap.csv", 10)
    s = settings(tmp_path, max_daily_executions=3, risk_scope="acct")
    first = run(s, source="replay", data=data, progress=False)
    assert first.stats["orchestrator"]["daily_executions"] == 3
    second = run(s, source="replay", data=data, progress=False)  # a restart on the same day, same account
    db = tmp_path / "arb.duckdb"
    assert rows(db, "select count(*) from decisions where run_id = ? and action = 'execute'",
                [second.run_id]) == [(0,)]
    blocked = rows(db, "select count(*) from decisions where run_id = ? and "
                       "list_contains(list_transform(reasons, lambda r: r like 'daily executions 3 reached%'), true)",
                   [second.run_id])
    assert blocked[0][0] > 0
    assert rows(db, "select executions from daily_limits where scope = 'acct'") == [(3,)]


def test_each_replay_is_its_own_account_by_default(tmp_path):
    data = record(tmp_path / "gap.csv", 10)
    s = settings(tmp_path, max_daily_executions=2)
    a = run(s, source="replay", data=data, progress=False)
    b = run(s, source="replay", data=data, progress=False)
    assert a.stats["orchestrator"]["daily_executions"] == b.stats["orchestrator"]["daily_executions"] == 2


def test_daily_loss_limit_stops_execution(tmp_path):
    data = record(tmp_path / "lose.csv", 20, losing=True)
    s = settings(tmp_path, max_daily_loss_usd="0.5")
    summary = run(s, source="replay", data=data, progress=False)
    db = tmp_path / "arb.duckdb"
    losses = rows(db, "select realized_profit from executions order by filled_at")
    assert losses and all(x < 0 for (x,) in losses)
    # Trading stopped once the losses reached the limit: at most one execution was already in flight then.
    assert summary.stats["orchestrator"]["daily_losses_usd"] >= 0.5
    [(stopped,)] = rows(db, "select stopped_reason from daily_limits")
    assert stopped and "daily loss limit" in stopped
    late = rows(db, "select count(*) from decisions where action = 'execute' and decided_at > "
                    "(select min(filled_at) from executions e where (select sum(realized_profit) from executions "
                    "x where x.filled_at <= e.filled_at) <= -0.5)")
    assert late == [(0,)]
    assert rows(db, "select count(*) from decisions where list_contains(list_transform(reasons, "
                    "lambda r: r like 'daily losses%reached the limit%'), true)")[0][0] > 0


def test_kill_switch_stops_new_executions_at_once(tmp_path):
    data = record(tmp_path / "gap.csv", 30)
    s = settings(tmp_path)
    migrate(s.warehouse_path)
    writer = WarehouseWriter(s.warehouse_path)
    ks = KillSwitch(s.kill_switch_file)
    run_id = new_run_id()

    def on_batch(i, batch):
        if i == 10:
            ks.engage("test: stop now")

    engine = wiring.build_engine(s, source=RecordingSource(data), run_id=run_id, risk_scope="t", writer=writer,
                                 on_batch=on_batch)
    engine.run(threading.Event())
    writer.close()
    db = s.warehouse_path
    kill_at = T0 + timedelta(minutes=9)
    assert rows(db, "select count(*) from decisions where action = 'execute' and decided_at > ?", [kill_at]) == [(0,)]
    assert rows(db, "select count(*) from decisions where action = 'execute'")[0][0] > 0
    reasons = rows(db, "select reasons from decisions where decided_at > ?", [kill_at])
    assert reasons and all(any("kill switch engaged" in r and "test: stop now" in r for r in rs) for (rs,) in reasons)
