"""End-to-end: replay the real recorded day through the whole pipeline into a DuckDB file, then check it."""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pytest

from arb.logs import setup_logging
from arb.runner import run
from arb.settings import load_settings
from arb.warehouse.reader import stats
from tests.conftest import PROFILE


def settings_for(tmp_path, *files, **overrides):
    return load_settings(
        env_files=files,
        warehouse_path=tmp_path / "arb.duckdb",
        log_path=tmp_path / "logs" / "arbitrage.log",
        kill_switch_file=tmp_path / "KILL",
        **overrides,
    )


@pytest.fixture(scope="module")
def profile_run(tmp_path_factory, lean_day):
    tmp = tmp_path_factory.mktemp("profile")
    s = settings_for(tmp, PROFILE)
    setup_logging(s.log_path, "INFO")
    summary = run(s, source="replay", data=lean_day, profile="replay-20221213", progress=False)
    return tmp, s, summary


def q(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_profile_replay_executes_and_rejects(profile_run):
    tmp, s, summary = profile_run
    db = tmp / "arb.duckdb"
    actions = dict(q(db, "select action, count(*) from decisions group by 1"))
    assert actions.get("execute", 0) > 0 and actions.get("reject", 0) > 0
    assert summary.stopped_by == "end_of_stream"
    # Every executed decision passed every threshold in force, and has exactly one execution.
    rows = q(db, """select d.edge_bps, d.net_profit, d.confidence, d.thresholds, count(e.execution_id)
                    from decisions d left join executions e using (decision_id)
                    where d.action = 'execute' group by all""")
    for edge, net, conf, th, n in rows:
        th = json.loads(th)
        assert edge >= Decimal(th["min_edge_bps"]) and net >= Decimal(th["cex_min_profit_usd"])
        assert conf >= float(th["min_confidence"]) and n == 1
    # Rejected and deferred decisions never execute, and always say why.
    assert q(db, """select count(*) from decisions d join executions e using (decision_id)
                    where d.action <> 'execute'""") == [(0,)]
    assert q(db, "select count(*) from decisions where len(reasons) = 0") == [(0,)]
    # Realized next to predicted, exact decimals.
    [(pred, real)] = q(db, "select sum(predicted_profit), sum(realized_profit) from executions")
    assert isinstance(pred, Decimal) and isinstance(real, Decimal)
    # The real day: every batch is a minute, stamped at the bar close.
    [(first, last)] = q(db, "select min(observed_at), max(observed_at) from decisions")
    assert first.date().isoformat() == "2022-12-13"


def test_stats_json_from_the_warehouse(profile_run):
    tmp, s, summary = profile_run
    st = stats(tmp / "arb.duckdb")
    assert st["opportunities_detected"] > 0 and st["opportunities_submitted"] > 0
    orch = st["orchestrator"]
    assert orch["daily_executions"] > 0
    ai = orch["ai_stats"] if "ai_stats" in orch else st["ai_stats"]
    assert ai["total_predictions"] == st["opportunities_submitted"]
    assert ai["total_executions"] > 0 and 0.0 <= ai["win_rate"] <= 1.0


def test_stats_logged_every_replay_minute(profile_run):
    tmp, s, summary = profile_run
    lines = [json.loads(x) for x in (tmp / "logs" / "arbitrage.log").read_text().splitlines()]
    stats_lines = [x for x in lines if x.get("event") == "stats"]
    assert len(stats_lines) >= 1400  # one per replayed minute (1440 minutes)
    assert all("opportunities_detected" in x["stats"] for x in stats_lines[:5])


def test_default_conservative_mode_executes_nothing_and_says_why(tmp_path, lean_day):
    s = settings_for(tmp_path)
    assert s.ai_mode == "conservative"
    run(s, source="replay", data=lean_day, progress=False)
    db = tmp_path / "arb.duckdb"
    actions = dict(q(db, "select action, count(*) from decisions group by 1"))
    assert actions.get("execute", 0) == 0 and actions.get("reject", 0) > 0
    assert q(db, "select count(*) from executions") == [(0,)]
    missing = q(db, """select count(*) from decisions
                       where not list_contains(
                           list_transform(reasons, lambda r: r like '%min edge 40 bps (conservative)%'), true)""")
    assert missing == [(0,)], "every rejection must name the conservative min edge it failed"
