"""The dashboard API over real DuckDB warehouse files: exact numbers, parameter checks, errors, auth, a writer process
at the same time, and `arb api` serving over real HTTP."""

from __future__ import annotations

import json
import selectors
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient

from arb.api.app import check_bind, create_app, is_loopback, serve
from arb.domain import Action
from arb.errors import ConfigError, FatalError
from arb.ops.alerts import AlertMonitor, AlertThresholds, evaluate, warehouse_recorder
from arb.ops.metrics import snapshot, snapshot_from_settings
from arb.settings import Settings
from arb.warehouse import DailyLimitsRow, WarehouseWriter, migrate
from arb.warehouse.schema import create_compatible
from tests.conftest import REPO, child_env
from tests.integration.warehouse_proc import hold_lock, make_decision, make_execution, make_opportunity

NOW = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
ARB = str(REPO / ".venv" / "bin" / "arb")
PROC = Path(__file__).with_name("warehouse_proc.py")
D = Decimal
TOKEN = "dash-token-0123456789abcdef"

# (decision id, action, minutes before NOW, model_version, execution: (realized, gas, predicted) or None)
DECISIONS = [
    ("d1", Action.EXECUTE, 120, "m1", (D("10"), D("1"), D("12"))),
    ("d2", Action.EXECUTE, 119, "m1", (D("-4"), D("0.5"), D("3"))),
    ("d3", Action.EXECUTE, 30, "m2", (D("6"), D("0.5"), D("5"))),
    ("d4", Action.EXECUTE, 20, "m2", (D("-8"), D("1"), D("2"))),
    ("d5", Action.EXECUTE, 10, "m2", (D("3.5"), D("0.25"), D("4"))),
    ("d6", Action.REJECT, 60, "m2", None),  # exactly at the edge of a 60-minute window: inside
    ("d7", Action.REJECT, 61, "m1", None),  # just outside it
    ("d8", Action.DEFER, 5, "m3", None),  # the newest decision with a model version
    ("d9", Action.REJECT, 1, None, None),  # the newest decision, without one
]


def settings_for(db: Path, **over) -> Settings:
    base = dict(warehouse_path=db, current_capital_eth=D(1), eth_usd_price=D(1000), max_daily_loss_usd=D(15),
                ai_mode="conservative", enable_ml_scoring=False)  # fmt: skip
    return Settings(_env_file=None, **{**base, **over})


def fill_warehouse(db: Path) -> dict[str, object]:
    """The rows every exact-number test below checks against. Returns the opportunities by decision id."""
    migrate(db)
    w = WarehouseWriter(db)
    w.start_run("r-old", started_at=NOW - timedelta(days=1), source="sandbox", ai_mode="aggressive", profile="x",
                dry_run=False, settings_json="{}", risk_scope="other", ml_enabled=False, status="finished")
    w.start_run("r-new", started_at=NOW - timedelta(hours=3), source="replay", ai_mode="balanced", profile="p",
                dry_run=True, settings_json="{}", risk_scope="acct", ml_enabled=True, model_version="m2")
    opps = {}
    for i, (did, action, minutes, model, ex) in enumerate(DECISIONS):
        at = NOW - timedelta(minutes=minutes)
        o = make_opportunity(f"o-{did}", seq=i, observed_at=at - timedelta(milliseconds=5))
        d = make_decision(did, o, seq=i, action=action, decided_at=at, model_version=model,
                          reasons=("ok",) if action is Action.EXECUTE else ("edge_below_min", f"r{i}"))
        w.add_decision(d, o, "r-new")
        if ex is not None:
            realized, gas, predicted = ex
            w.add_execution(make_execution(f"x-{did}", d, o, realized=realized, gas_cost=gas,
                                           predicted_profit=predicted, filled_at=at + timedelta(seconds=1)), "r-new")
        opps[did] = o
    today = NOW.date()
    for scope, day, loss in (("acct", today, D(12)), ("acct", today - timedelta(days=1), D(100)),
                             ("other", today, D(14))):
        w.upsert_daily_limits(DailyLimitsRow(scope, day, 5, D(0), loss, None, NOW))
    w.add_alert(at=NOW - timedelta(minutes=50), level="warning", kind="win_rate_low", message="old one")
    w.add_alert(at=NOW - timedelta(minutes=5), level="critical", kind="daily_loss_near_limit", message="new one",
                run_id="r-new")
    w.close()
    # x-d2 lost money but "landed": a success that is not a win (the writer derives success from the profit today;
    # the metrics must count the column, not re-derive it).
    con = duckdb.connect(str(db))
    try:
        con.execute("UPDATE executions SET success = true WHERE execution_id = 'x-d2'")
    finally:
        con.close()
    return opps


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "wh.duckdb"


@pytest.fixture
def client(db):
    fill_warehouse(db)
    with TestClient(create_app(settings_for(db), clock=lambda: NOW)) as c:
        yield c


def test_status_reports_the_latest_run_and_the_portfolio_value(client):
    r = client.get("/api/ai/status")
    assert r.status_code == 200
    s = r.json()
    assert s["as_of"] == NOW.isoformat()
    # the engine's configuration (the latest run), not this process's settings (conservative, ML off)
    assert (s["enabled"], s["mode"], s["dry_run"], s["execution_enabled"]) == (True, "balanced", True, False)
    assert s["config_from"] == "latest_run"
    assert s["capital_usd"] == "1000"
    assert s["realized_profit_usd"] == "7.5"  # 10 - 4 + 6 - 8 + 3.5
    assert s["portfolio_value_usd"] == "1007.5"
    assert s["model_version"] == "m3"  # the newest decision that has a model version
    run = s["latest_run"]
    assert run["run_id"] == "r-new" and run["source"] == "replay" and run["risk_scope"] == "acct"
    assert run["started_at"] == (NOW - timedelta(hours=3)).isoformat()
    assert run["status"] == "running" and run["ml_enabled"] is True and run["dry_run"] is True


def test_metrics_overall_are_exact(client):
    m = client.get("/api/ai/metrics").json()
    assert m["decisions"] == {"total": 9, "execute": 5, "reject": 3, "defer": 1, "other": 0}
    assert m["executions"] == {"total": 5, "successes": 4, "wins": 3, "success_rate": 0.8, "win_rate": 0.6}
    p = m["profitability"]
    assert p["realized_profit_usd"] == "7.5"
    assert p["predicted_profit_usd"] == "26"
    assert p["gas_cost_usd"] == "3.25"
    assert p["gross_profit_before_gas_usd"] == "10.75"
    assert p["gas_share"] == float(D("3.25") / D("10.75"))
    assert p["capture_ratio"] == float(D("7.5") / D("26"))


def test_metrics_recent_window_is_relative_to_the_clock(client):
    r = client.get("/api/ai/metrics/recent", params={"window_minutes": 60})
    assert r.status_code == 200
    m = r.json()
    assert m["window_minutes"] == 60 and m["since"] == (NOW - timedelta(minutes=60)).isoformat()
    assert m["decisions"] == {"total": 6, "execute": 3, "reject": 2, "defer": 1, "other": 0}  # d3..d6, d8, d9
    assert m["executions"]["total"] == 3 and m["executions"]["wins"] == 2
    assert m["profitability"]["realized_profit_usd"] == "1.5"  # 6 - 8 + 3.5
    assert m["profitability"]["gas_cost_usd"] == "1.75"
    assert m["profitability"]["predicted_profit_usd"] == "11"
    wide = client.get("/api/ai/metrics/recent", params={"window_minutes": 10080}).json()
    assert wide["decisions"]["total"] == 9 and wide["profitability"]["realized_profit_usd"] == "7.5"
    default = client.get("/api/ai/metrics/recent").json()
    assert default["window_minutes"] == 60 and default["decisions"] == m["decisions"]


def test_latest_decisions_newest_first_with_their_fields(client, db):
    r = client.get("/api/ai/decisions/latest", params={"limit": 3})
    assert r.status_code == 200
    rows = r.json()["decisions"]
    assert [x["decision_id"] for x in rows] == ["d9", "d8", "d5"]
    d9, d8, d5 = rows
    assert d9["model_version"] == "none" and d8["model_version"] == "m3"  # the heuristic's decisions say "none"
    assert (d8["action"], d8["kind"], d8["route_id"]) == ("defer", "cex_arb", "BTC/USDT:binance->kraken")
    assert d8["decided_at"] == (NOW - timedelta(minutes=5)).isoformat()
    assert d8["reasons"] == ["edge_below_min", "r7"]
    assert d5["reasons"] == ["ok"] and d5["confidence"] == 0.5 + 4 / 100
    opp = make_opportunity("o-d5", seq=4)
    assert D(d5["net_profit"]) == opp.net_profit.quantize(D("1e-18")) and d5["profit_currency"] == "USD"
    assert len(client.get("/api/ai/decisions/latest").json()["decisions"]) == 9  # default limit 10, 9 rows


def test_health_rates_drawdown_daily_loss_and_alerts(client):
    h = client.get("/api/ai/health").json()
    assert h["executions"] == 5 and h["win_rate"] == 0.6 and h["success_rate"] == 0.8
    # cumulative PnL 10, 6, 12, 4, 7.5 against capital 1000: peak 12, now 7.5; worst point 4 under the peak 12
    assert h["drawdown"] == {"current": float(D("4.5") / D(1012)), "max": float(D(8) / D(1012)),
                             "peak_pnl_usd": "12", "pnl_usd": "7.5"}  # fmt: skip
    # today's row of the latest run's scope, not yesterday's nor another scope's
    assert h["daily_loss"] == {"day": NOW.date().isoformat(), "scope": "acct", "loss_usd": "12", "limit_usd": "15",
                               "used": 0.8, "executions": 5, "stopped_reason": None}  # fmt: skip
    # 5 executions < ALERT_MIN_EXECUTIONS (10): only the daily-loss alert (12/15 = 80% >= 80%)
    assert [a["kind"] for a in h["alerts"]] == ["daily_loss_near_limit"]
    assert h["alerts"][0]["level"] == "warning" and "80%" in h["alerts"][0]["message"]
    assert h["status"] == "warning"
    assert [(a["kind"], a["message"], a["run_id"]) for a in h["recent_alerts"]] == [
        ("daily_loss_near_limit", "new one", "r-new"), ("win_rate_low", "old one", None)]
    assert h["recent_alerts"][0]["at"] == (NOW - timedelta(minutes=5)).isoformat()
    assert h["thresholds"]["min_executions"] == 10


def test_health_rate_alerts_once_there_are_enough_executions(db):
    fill_warehouse(db)
    app = create_app(settings_for(db, alert_min_executions=5), clock=lambda: NOW)
    with TestClient(app) as c:
        h = c.get("/api/ai/health").json()
    # gas 3.25 of gross 10.75 = 30.2% > 30%; win rate 60% and success rate 80% are fine
    assert [a["kind"] for a in h["alerts"]] == ["gas_share_high", "daily_loss_near_limit"]
    assert h["alerts"][0]["value"] == float(D("3.25") / D("10.75")) and h["alerts"][0]["threshold"] == 0.3


@pytest.mark.parametrize(
    ("url", "param", "reason"),
    [
        ("/api/ai/metrics/recent?window_minutes=0", "window_minutes", "greater than or equal to 1"),
        ("/api/ai/metrics/recent?window_minutes=10081", "window_minutes", "less than or equal to 10080"),
        ("/api/ai/metrics/recent?window_minutes=abc", "window_minutes", "valid integer"),
        ("/api/ai/decisions/latest?limit=100000", "limit", "less than or equal to 500"),
        ("/api/ai/decisions/latest?limit=0", "limit", "greater than or equal to 1"),
    ],
)
def test_bad_parameters_are_422_naming_the_reason(client, url, param, reason):
    r = client.get(url)
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["query", param] and reason in err["msg"]


def test_no_warehouse_is_503_telling_to_run_first(db):
    with TestClient(create_app(settings_for(db), clock=lambda: NOW)) as c:
        for url in ("/api/ai/status", "/api/ai/metrics", "/api/ai/metrics/recent", "/api/ai/decisions/latest",
                    "/api/ai/health"):  # fmt: skip
            r = c.get(url)
            assert r.status_code == 503, url
            assert "arb run" in r.json()["detail"]


def test_an_unmigrated_file_is_503_not_500(db):
    assert create_compatible(db)  # an empty DuckDB file: no tables
    with TestClient(create_app(settings_for(db), clock=lambda: NOW)) as c:
        r = c.get("/api/ai/metrics")
    assert r.status_code == 503 and "arb run" in r.json()["detail"]


def test_an_empty_warehouse_reads_as_zeros(db):
    migrate(db)
    with TestClient(create_app(settings_for(db, enable_ml_scoring=True), clock=lambda: NOW)) as c:
        s = c.get("/api/ai/status").json()
        m = c.get("/api/ai/metrics").json()
        h = c.get("/api/ai/health").json()
    assert s["latest_run"] is None and s["config_from"] == "settings"
    assert (s["enabled"], s["mode"], s["dry_run"]) == (True, "conservative", True)
    assert s["portfolio_value_usd"] == "1000" and s["model_version"] is None
    assert m["decisions"]["total"] == 0 and m["executions"]["win_rate"] is None
    assert m["profitability"]["realized_profit_usd"] == "0" and m["profitability"]["gas_share"] is None
    assert h["status"] == "ok" and h["alerts"] == [] and h["drawdown"]["current"] == 0.0
    assert h["daily_loss"]["scope"] is None and h["daily_loss"]["used"] == 0.0


def test_a_writer_holding_the_lock_past_the_timeout_is_503_with_retry_after(db):
    migrate(db)
    holder = hold_lock(db, 1.5, read_only=False)
    try:
        with TestClient(create_app(settings_for(db), clock=lambda: NOW, read_timeout=0.3)) as c:
            r = c.get("/api/ai/metrics")
    finally:
        holder.wait(timeout=30)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2" and "retry" in r.json()["detail"]


def test_token_is_required_on_every_api_endpoint_when_set(db):
    fill_warehouse(db)
    with TestClient(create_app(settings_for(db, api_token=TOKEN), clock=lambda: NOW)) as c:
        for url in ("/api/ai/status", "/api/ai/metrics", "/api/ai/metrics/recent", "/api/ai/decisions/latest",
                    "/api/ai/health"):  # fmt: skip
            missing = c.get(url)
            wrong = c.get(url, headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"})
            basic = c.get(url, headers={"Authorization": "Basic " + TOKEN})
            ok = c.get(url, headers={"Authorization": "Bearer " + TOKEN})
            assert [missing.status_code, wrong.status_code, basic.status_code, ok.status_code] == [401, 401, 401, 200]
            assert missing.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in wrong.text and TOKEN[:-1] not in wrong.text
        # an invalid request is refused for want of the token before its parameters are looked at
        assert c.get("/api/ai/decisions/latest?limit=0").status_code == 401
        # the page and the schema carry no data
        assert c.get("/").status_code == 200
        assert c.get("/openapi.json").status_code == 200


def test_without_a_token_the_api_is_open_on_loopback(client):
    assert client.get("/api/ai/metrics").status_code == 200


def test_the_page_is_self_contained_and_the_schema_lists_the_endpoints(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    body = r.text
    assert "<script>" in body and "/api/ai/health" in body
    assert "http://" not in body and "https://" not in body and "src=" not in body  # nothing from elsewhere
    assert "connect-src 'self'" in r.headers["content-security-policy"]
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {"/api/ai/status", "/api/ai/metrics", "/api/ai/metrics/recent", "/api/ai/decisions/latest",
                          "/api/ai/health"}  # fmt: skip


def test_non_loopback_host_without_a_token_refuses_to_start(db):
    for host in ("0.0.0.0", "::", "192.168.1.20", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(ConfigError) as e:
            serve(settings_for(db, api_host=host))  # refused before binding or serving
        assert "API_HOST" in str(e.value) and "API_TOKEN" in str(e.value)
    for host in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
        check_bind(host, settings_for(db))
    check_bind("0.0.0.0", settings_for(db, api_token=TOKEN))  # allowed once a token protects it


def test_the_alert_monitor_records_into_the_table_the_health_endpoint_shows(db):
    """The lead's wiring in miniature: snapshot -> monitor -> writer -> /api/ai/health."""
    fill_warehouse(db)
    s = settings_for(db, alert_min_executions=5)
    w = WarehouseWriter(db)
    monitor = AlertMonitor(lambda: snapshot_from_settings(s, now=NOW), AlertThresholds.from_settings(s),
                           record=warehouse_recorder(w, "r-new"))
    raised = monitor.check()
    assert [a.kind for a in raised] == ["gas_share_high", "daily_loss_near_limit"]
    assert monitor.check() == []  # still raised: not reported again
    w.close()
    with TestClient(create_app(s, clock=lambda: NOW)) as c:
        rows = c.get("/api/ai/health").json()["recent_alerts"]
    mine = [r for r in rows if r["message"] not in ("old one", "new one")]
    assert sorted(r["kind"] for r in mine) == ["daily_loss_near_limit", "gas_share_high"]
    assert all(r["at"] == NOW.isoformat() and r["run_id"] == "r-new" for r in mine)


# --- processes ----------------------------------------------------------------------------------------------------


def test_reads_succeed_while_another_process_writes(db):
    migrate(db)
    writer = subprocess.Popen(
        [sys.executable, str(PROC), "--db", str(db), "--run-id", "mp", "--mode", "steady", "--seconds", "3",
         "--rate", "400", "--tick", "0.05", "--flush-seconds", "0.2"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert writer.stdout.readline().strip() == "ready"
        seen: list[tuple[int, int]] = []
        with TestClient(create_app(settings_for(db), clock=lambda: NOW)) as c:
            while writer.poll() is None:
                r = c.get("/api/ai/metrics")
                assert r.status_code == 200, r.text
                m = r.json()
                seen.append((m["decisions"]["total"], m["executions"]["total"]))
                time.sleep(0.02)
            out, _ = writer.communicate(timeout=30)
            final = c.get("/api/ai/metrics").json()
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == 0
    summary = json.loads(out.strip().splitlines()[-1].removeprefix("SUMMARY "))
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(seen, seen[1:], strict=False)), "counts went backwards"
    assert len({n for n, _ in seen}) >= 3, f"too few distinct snapshots while writing: {seen[:5]}..."
    n = summary["generated"]
    assert final["decisions"]["total"] == n
    assert final["executions"]["total"] == (n + 19) // 20  # the synthetic rows execute every 20th decision


def _read_line(stream, deadline: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            if sel.select(timeout=0.2):
                return stream.readline()
        raise AssertionError("no output from `arb api` in time")
    finally:
        sel.unregister(stream)


def test_arb_api_serves_health_over_real_http(tmp_path, db):
    fill_warehouse(db)
    env = child_env(tmp_path, WAREHOUSE_PATH=str(db), MAX_DAILY_LOSS_USD="15")
    proc = subprocess.Popen([ARB, "api", "--port", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = _read_line(proc.stderr, time.monotonic() + 60)
        assert line.startswith("dashboard API on http://127.0.0.1:"), line
        url = line.split()[3]
        for _ in range(100):  # the socket is bound before the line is printed; uvicorn listens a moment later
            try:
                r = httpx.get(url + "/api/ai/health", timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert r.status_code == 200
        h = r.json()
        assert h["executions"] == 5 and h["win_rate"] == 0.6 and h["recent_alerts"][0]["message"] == "new one"
        assert httpx.get(url + "/openapi.json", timeout=5).json()["info"]["title"] == "arb dashboard API"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal so the parent sees how it ended
    assert proc.returncode == -15, proc.stderr.read()[-2000:]
    events = [json.loads(ln)["event"] for ln in (tmp_path / "logs" / "arbitrage.log").read_text().splitlines()]
    assert "dashboard API starting" in events and any(e.startswith("Finished server process") for e in events)


def test_a_taken_port_is_a_clear_error(tmp_path, db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(FatalError) as e:
            serve(settings_for(db), port=port)
        assert f"port {port}" in str(e.value) and "API_PORT" in str(e.value) and "already in use" in str(e.value)
        p = subprocess.run([ARB, "api", "--port", str(port)], cwd=tmp_path, env=child_env(tmp_path),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 1
    assert f"port {port}" in p.stderr and "API_PORT" in p.stderr and "Traceback" not in p.stderr


def test_the_cli_refuses_a_public_host_without_a_token(tmp_path):
    p = subprocess.run([ARB, "api", "--host", "0.0.0.0", "--port", "0"], cwd=tmp_path, env=child_env(tmp_path),
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 1 and "API_HOST" in p.stderr and "API_TOKEN" in p.stderr


def test_money_is_exact_beyond_cents(db):
    migrate(db)
    w = WarehouseWriter(db)
    o = make_opportunity("o1")
    d = make_decision("d1", o, action=Action.EXECUTE, decided_at=NOW)
    w.add_decision(d, o, "r")
    w.add_execution(make_execution("x1", d, o, realized=D("0.000000000000000001"), gas_cost=D("0.000123"),
                                   filled_at=NOW), "r")  # fmt: skip
    w.close()
    with TestClient(create_app(settings_for(db), clock=lambda: NOW)) as c:
        p = c.get("/api/ai/metrics").json()["profitability"]
    assert p["realized_profit_usd"] == "0.000000000000000001" and p["gas_cost_usd"] == "0.000123"


def test_snapshot_drawdown_counts_losses_from_the_first_trade(db):
    """The curve starts at 0: losing first is a drawdown from the starting capital."""
    migrate(db)
    w = WarehouseWriter(db)
    for i, realized in enumerate((D(-50), D(20), D(-10))):
        o = make_opportunity(f"o{i}", seq=i)
        d = make_decision(f"d{i}", o, action=Action.EXECUTE, decided_at=NOW - timedelta(minutes=30 - i))
        w.add_decision(d, o, "r")
        w.add_execution(make_execution(f"x{i}", d, o, realized=realized, filled_at=d.decided_at), "r")
    w.close()
    s = snapshot(db, now=NOW, capital_usd=D(200), max_daily_loss_usd=D(100), window_minutes=29)
    # PnL -50, -30, -40 under a peak of 0 (the start): worst 50/200, now 40/200
    assert (s.drawdown.current, s.drawdown.max) == (0.2, 0.25)
    assert (s.drawdown.peak_pnl, s.drawdown.pnl) == (D(0), D(-40))
    assert s.portfolio_value_usd == D(160) and s.overall.executions == 3
    assert s.recent.executions == 2  # filled at NOW-29 and NOW-28 minutes, not NOW-30
    assert s.latest_run is None and s.daily_loss.scope is None and s.daily_loss.used == 0.0
    assert [a.kind for a in evaluate(s, AlertThresholds(max_drawdown=0.19))] == ["drawdown_high"]
    assert evaluate(s, AlertThresholds()) == []  # 20% is not above 20%


def test_daily_loss_is_read_for_the_runs_own_day_when_it_trades_simulated_time(db):
    """A sandbox or replay run lives on its simulated day (2022-12-13 here), not on the wall clock's: the daily-loss
    figure and alert follow the day of the run's newest decision."""
    sim = datetime(2022, 12, 13, 0, 30, tzinfo=UTC)
    migrate(db)
    w = WarehouseWriter(db)
    w.start_run("r-sim", started_at=NOW, source="sandbox", ai_mode="aggressive", profile="sandbox", dry_run=True,
                settings_json="{}", risk_scope="sandbox:r-sim", ml_enabled=True)
    o = make_opportunity("o-1", seq=0, observed_at=sim)
    w.add_decision(make_decision("d-1", o, seq=0, action=Action.REJECT, decided_at=sim), o, "r-sim")
    w.upsert_daily_limits(DailyLimitsRow("sandbox:r-sim", sim.date(), 7, D(0), D(13), None, NOW))
    w.close()
    s = snapshot(db, now=NOW, capital_usd=D(1000), max_daily_loss_usd=D(15))
    assert s.daily_loss.day == sim.date() and s.daily_loss.loss_usd == D(13) and s.daily_loss.executions == 7
    h = TestClient(create_app(settings_for(db))).get("/api/ai/health").json()
    assert h["daily_loss"]["day"] == "2022-12-13" and [a["kind"] for a in h["alerts"]] == ["daily_loss_near_limit"]
