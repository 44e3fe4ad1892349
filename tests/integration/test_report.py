"""The report against real files: a DuckDB warehouse written by WarehouseWriter, a sqlite MLflow registry built with
MlflowClient, the HTML written to disk, and the flow run once on a temporary Prefect server (artifacts read back).

The rows are chosen so that every table's expected value is a hand-checkable exact Decimal sum, and so that the
period boundaries are hit exactly: a fill at ``now - 60 min`` is outside the hourly window, one at ``now`` inside.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from arb.domain import Action, ExecutionStatus
from arb.report import make_report
from arb.report.data import NO_MODEL, build_report_data, registry_versions
from arb.report.render import render_html, tables, write_report
from arb.warehouse import WarehouseWriter, migrate
from tests.integration.warehouse_proc import make_decision, make_execution, make_opportunity

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
D = Decimal
V1 = "arb-success-predictor/v1"

# route_id -> (kind, buy_venue, sell_venue, chain)
ROUTES = {
    "BTC/USDT:binance->kraken": ("cex_arb", "binance", "kraken", None),
    "ETH/USDT:bybit->binance": ("cex_arb", "bybit", "binance", None),
    "polygon:WETH/USDC:uniswap_v2->sushiswap": ("flash_loan", "uniswap_v2", "sushiswap", "polygon"),
}
A, B, C = ROUTES


@dataclass(frozen=True)
class X:
    """One executed decision: its execution's money, when it filled and what the decision knew."""

    eid: str
    route: str
    minutes_ago: float  # filled_at = now - minutes_ago
    realized: Decimal
    predicted: Decimal
    gas: Decimal = D(0)
    fees: Decimal = D("0.1")
    status: ExecutionStatus = ExecutionStatus.FILLED
    latency_ms: int = 200
    confidence: float = 0.8
    model_version: str | None = None
    p: float | None = None  # the model's P(success), stored as factors["ml_success"]


EXECUTIONS = [
    X("e1", A, 0, D("1.100000000000000001"), D("1.5"), latency_ms=150, model_version=V1, p=0.9),  # at now: in
    X("e2", A, 10, D("-0.25"), D("0.75"), fees=D("0.333333333333333333"), status=ExecutionStatus.PARTIAL,
      confidence=0.71, model_version=V1, p=0.35),
    X("e3", B, 30, D("2.5"), D("2.25"), latency_ms=90, confidence=0.95),
    X("e4", C, 59.5, D("0.333333333333333333"), D("0.4"), gas=D("0.05"), latency_ms=4000, model_version=V1, p=0.62),
    X("e5", C, 45, D("0"), D("0.2"), gas=D("0.07"), status=ExecutionStatus.MISSED, model_version=V1, p=0.2),
    X("e6", A, 60, D("10"), D("9"), confidence=0.76),  # exactly now - 60 min: daily, not hourly
    X("e7", B, 180, D("-3.000000000000000007"), D("1")),  # daily only
    X("e8", A, 60 * 48, D("100"), D("90")),  # all only
    X("e9", A, -1, D("1000"), D("1000")),  # after now: in no period
]
# Not executed: (id, minutes_ago, action, reasons, model_version)
OTHERS = [
    ("r1", 5, Action.REJECT, ("net profit $0.76 < min profit $50.0 (CEX_MIN_PROFIT_USD)",), None),
    ("r2", 6, Action.REJECT, ("net profit $0.81 < min profit $50.0 (CEX_MIN_PROFIT_USD)",
                              "confidence 0.512 < min confidence 0.75 (conservative)"), V1),
    ("r3", 7, Action.DEFER, ("max concurrent executions 3 reached",), V1),
    ("r4", 120, Action.REJECT, ("net profit $12.40 < min profit $50.0 (CEX_MIN_PROFIT_USD)",), None),  # daily only
]


def _opp(oid: str, route: str, at: datetime):
    kind, buy, sell, chain = ROUTES[route]
    return make_opportunity(oid, route_id=route, kind=kind, buy_venue=buy, sell_venue=sell, chain=chain,
                            observed_at=at - timedelta(milliseconds=5))


def write_warehouse(db: Path, now: datetime = NOW) -> None:
    with WarehouseWriter(db) as w:
        for x in EXECUTIONS:
            filled = now - timedelta(minutes=x.minutes_ago)
            decided = filled - timedelta(seconds=1)
            o = _opp("o-" + x.eid, x.route, decided)
            factors = {"edge_quality": 0.6} | ({"ml_success": x.p} if x.p is not None else {})
            d = make_decision("d-" + x.eid, o, action=Action.EXECUTE, reasons=("selected: rank 1/3",),
                              confidence=x.confidence, factors=factors, model_version=x.model_version,
                              decided_at=decided, size=o.size)
            w.add_decision(d, o, "run1")
            w.add_execution(make_execution(x.eid, d, o, realized=x.realized, predicted_profit=x.predicted,
                                           gas_cost=x.gas, fees=x.fees, status=x.status, latency_ms=x.latency_ms,
                                           chain=ROUTES[x.route][3], submitted_at=decided, filled_at=filled), "run1")
        for did, ago, action, reasons, mv in OTHERS:
            at = now - timedelta(minutes=ago)
            o = _opp("o-" + did, A, at)
            w.add_decision(make_decision(did, o, action=action, reasons=reasons, model_version=mv, decided_at=at,
                                         size=D(0)), o, "run1")


def in_period(x: X, minutes: float | None) -> bool:
    return x.minutes_ago >= 0 and (minutes is None or x.minutes_ago < minutes)


def total(xs, attr: str) -> Decimal:
    return sum((getattr(x, attr) for x in xs), D(0))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("report") / "wh.duckdb"
    write_warehouse(db)
    return db


@pytest.fixture(scope="module")
def registry_uri(tmp_path_factory) -> str:
    """A real sqlite MLflow registry with two versions of the model (metrics as tags) and both aliases."""
    from mlflow import MlflowClient

    from arb.ml.registry import MODEL_NAME

    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    client.create_registered_model(MODEL_NAME)
    client.create_model_version(MODEL_NAME, source=str(tmp / "artifacts" / "v1"),
                                tags={"test_auc": "0.712345", "test_brier": "0.201000", "feature_version": "f16.v1"})
    client.create_model_version(MODEL_NAME, source=str(tmp / "artifacts" / "v2"),
                                tags={"test_auc": "0.690000", "test_brier": "0.230000"})
    client.set_registered_model_alias(MODEL_NAME, "champion", "1")
    client.set_registered_model_alias(MODEL_NAME, "challenger", "2")
    return uri


@pytest.mark.parametrize(("period", "minutes"), [("hourly", 60), ("daily", 24 * 60), ("all", None)])
def test_pnl_tables_equal_the_inserted_rows_exactly(warehouse, period, minutes):
    data = build_report_data(warehouse, period, NOW, tracking_uri=None)
    xs = [x for x in EXECUTIONS if in_period(x, minutes)]
    s = data.summary
    assert s.executions == len(xs)
    assert s.realized == total(xs, "realized") and isinstance(s.realized, Decimal)
    assert (s.predicted, s.gas, s.fees) == (total(xs, "predicted"), total(xs, "gas"), total(xs, "fees"))
    assert s.wins == sum(x.realized > 0 for x in xs)
    for route in {x.route for x in xs}:
        mine = [x for x in xs if x.route == route]
        row = data.by_route.set_index("route_id").loc[route]
        assert row["executions"] == len(mine)
        assert row["realized"] == total(mine, "realized")
        assert row["predicted"] == total(mine, "predicted")
        assert row["gas"] == total(mine, "gas")
        assert row["win_rate"] == sum(x.realized > 0 for x in mine) / len(mine)
    assert set(data.by_route["route_id"]) == {x.route for x in xs}


def test_hourly_numbers_by_hand(warehouse):
    """The hourly window is (11:00, 12:00]: e1..e5; e6 filled at exactly 11:00 is out, e9 (after now) is out."""
    data = build_report_data(warehouse, "hourly", NOW, tracking_uri=None)
    s = data.summary
    assert sorted(data.executions["execution_id"]) == ["e1", "e2", "e3", "e4", "e5"]
    assert s.realized == D("3.683333333333333334")
    assert s.fees == D("0.733333333333333333")
    assert (s.wins, s.successes, s.win_rate) == (3, 3, 0.6)
    assert s.statuses == {"filled": 3, "missed": 1, "partial": 1}
    assert (s.decisions, s.executed, s.rejected, s.deferred) == (8, 5, 2, 1)
    assert s.latency_p50_ms == 200.0

    venues = {(r.buy_venue, r.sell_venue, r.kind, r.chain): r for r in data.by_venue.itertuples()}
    assert set(venues) == {("binance", "kraken", "cex_arb", "cex"), ("bybit", "binance", "cex_arb", "cex"),
                           ("uniswap_v2", "sushiswap", "flash_loan", "polygon")}
    assert venues[("uniswap_v2", "sushiswap", "flash_loan", "polygon")].gas == D("0.12")
    chains = data.by_chain.set_index("chain")
    assert chains.loc["cex", "realized"] == D("3.350000000000000001")
    assert chains.loc["polygon", "realized"] == D("0.333333333333333333")
    assert chains.loc["polygon", "executions"] == 2

    # cumulative PnL follows fill order and ends at the total
    assert data.executions["cum_realized"].iloc[-1] == s.realized
    assert data.executions["execution_id"].tolist() == ["e4", "e5", "e3", "e2", "e1"]


def test_rejection_reasons_group_after_normalising_numbers(warehouse):
    hourly = build_report_data(warehouse, "hourly", NOW, tracking_uri=None).reasons.set_index("reason")
    assert hourly.loc["net profit $# < min profit $# (CEX_MIN_PROFIT_USD)", "count"] == 2  # $0.76 and $0.81
    assert hourly.loc["confidence # < min confidence # (conservative)", "count"] == 1
    assert hourly.loc["max concurrent executions # reached", "count"] == 1
    assert len(hourly) == 3  # "selected: ..." reasons of executed decisions are not rejection reasons
    assert hourly.loc["net profit $# < min profit $# (CEX_MIN_PROFIT_USD)", "share"] == 2 / 3
    daily = build_report_data(warehouse, "daily", NOW, tracking_uri=None).reasons.set_index("reason")
    assert daily.loc["net profit $# < min profit $# (CEX_MIN_PROFIT_USD)", "count"] == 3


def test_model_versions_used_and_calibration_from_model_p(warehouse):
    data = build_report_data(warehouse, "hourly", NOW, tracking_uri=None)
    models = data.models.set_index("model_version")
    assert models.loc[V1, "decisions"] == 6 and models.loc[V1, "executed"] == 4  # e1 e2 e4 e5 + r2 r3
    assert models.loc[NO_MODEL, "decisions"] == 2 and models.loc[NO_MODEL, "executed"] == 1  # e3 + r1
    assert models.loc[V1, "realized"] == D("1.183333333333333334")
    cal = data.calibration
    model_p = cal[cal["predictor"] == "model p"]
    assert model_p["n"].sum() == 4  # only executions whose decision stored a model p
    assert cal[cal["predictor"] == "confidence"]["n"].sum() == 5
    assert model_p.set_index("bin_low").loc[0.9, "observed_rate"] == 1.0  # e1: p=0.9, won


def test_registry_versions_with_metrics_and_aliases_join_the_usage(warehouse, registry_uri):
    data = build_report_data(warehouse, "hourly", NOW, tracking_uri=registry_uri)
    assert data.registry.note is None
    v2, v1 = data.registry.versions
    assert (v1.version, v1.aliases, v1.test_auc, v1.test_brier) == (1, ("champion",), 0.712345, 0.201)
    assert (v2.version, v2.aliases, v2.test_auc) == (2, ("challenger",), 0.69)
    rows = {r["model"]: r for r in tables(data)["models"]}
    assert rows[V1]["alias"] == "champion" and rows[V1]["test AUC"] == "0.7123" and rows[V1]["decisions"] == "6"
    assert rows["arb-success-predictor/v2"]["decisions"] == "0"
    assert rows[NO_MODEL]["decisions"] == "2"


def test_a_missing_mlflow_store_is_reported_not_created(warehouse, tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    reg = registry_versions(f"sqlite:///{db}")
    assert reg.versions == () and "no MLflow store" in reg.note
    assert not db.exists() and not db.parent.exists()
    data = build_report_data(warehouse, "hourly", NOW, tracking_uri=f"sqlite:///{db}")
    html = render_html(data)
    assert "no MLflow store" in html


def test_html_report_is_self_contained_with_four_plots(warehouse, tmp_path):
    data = build_report_data(warehouse, "daily", NOW, tracking_uri=None)
    files = write_report(data, tmp_path / "reports")
    assert files.html == tmp_path / "reports" / "report-daily-20261102T120000Z.html"
    text = files.html.read_text(encoding="utf-8")
    assert files.latest.read_text(encoding="utf-8") == text
    imgs = re.findall(r'<img [^>]*src="([^"]*)"', text)
    assert len(imgs) == 4 and all(src.startswith("data:image/png;base64,") for src in imgs)
    assert not re.search(r"(https?:)?//[\w.-]+\.\w", text.replace("data:image/png;base64,", ""))  # no external URL
    assert not re.search(r"<(script|link)\b", text)
    assert "net profit $# &lt; min profit $# (CEX_MIN_PROFIT_USD)" in text  # escaped
    assert "Realized PnL: $10.68;" in text  # daily: e1..e7 = 3.683333333333333334 + 10 - 3.000000000000000007
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [files.latest.name, files.html.name]


def test_empty_warehouse_and_missing_warehouse_give_a_report_that_says_so(tmp_path):
    db = tmp_path / "empty.duckdb"
    migrate(db)
    data = build_report_data(db, "hourly", NOW, tracking_uri=None)
    assert data.empty and data.summary.realized == D(0) and data.by_route.empty
    files = write_report(data, tmp_path / "r")
    text = files.html.read_text(encoding="utf-8")
    assert "No executions in this period" in text and "<img" not in text

    missing = build_report_data(tmp_path / "nope.duckdb", "all", NOW, tracking_uri=None)
    assert missing.empty and "arb run" in missing.warehouse_note
    assert not (tmp_path / "nope.duckdb").exists()
    assert "No warehouse yet" in write_report(missing, tmp_path / "r").latest.read_text(encoding="utf-8")


def test_make_report_from_settings(warehouse, tmp_path):
    from arb.settings import load_settings

    s = load_settings(env_files=(), warehouse_path=warehouse, reports_dir=tmp_path / "rep",
                      mlflow_tracking_uri=f"sqlite:///{tmp_path}/none/mlflow.db")
    rep = make_report(s, "hourly", NOW)
    assert rep.files.html.parent == tmp_path / "rep" and rep.files.html.is_file()
    assert rep.counts["executions"] == 5 and rep.counts["routes"] == 3
    assert "Realized PnL: $3.68" in rep.markdown and str(rep.files.html) in rep.markdown
    assert [r["route"] for r in rep.tables["routes"]][0] == B  # best realized first


@pytest.mark.slow
def test_flow_publishes_artifacts_on_a_prefect_server(tmp_path, monkeypatch, registry_uri):
    db = tmp_path / "wh.duckdb"
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / ".prefect"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("WAREHOUSE_PATH", str(db))
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("LOG_PATH", str(tmp_path / "logs" / "arbitrage.log"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_uri)
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.testing.utilities import prefect_test_harness

    from arb.errors import BadInput
    from flows.report import report

    with pytest.raises(BadInput, match="hourly, daily, all"):
        report.fn(period="weekly", env_file=str(tmp_path / "no.env"))

    keys = [f"arb-report-hourly{suffix}" for suffix in ("", "-routes", "-venues", "-chains", "-reasons", "-models",
                                                        "-html")]
    with prefect_test_harness():
        write_warehouse(db, datetime.now(UTC))  # after the server is up: e4 (59.5 min ago) stays in the hour
        result = report(period="hourly", env_file=str(tmp_path / "no.env"))
        with get_client(sync_client=True) as client:
            arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    assert Path(result["html"]).is_file() and Path(result["html"]).parent == tmp_path / "reports"
    assert result["counts"]["executions"] == 5
    by_key = {a.key: a for a in arts}
    assert sorted(by_key) == sorted(keys)
    assert all(re.fullmatch(r"[a-z0-9-]+", k) for k in by_key)
    assert {k: a.type for k, a in by_key.items()} == {
        k: "markdown" if k in keys[:1] + keys[-1:] else "table" for k in keys}  # a link artifact is markdown
    assert "Realized PnL: $3.68" in by_key["arb-report-hourly"].data
    assert by_key["arb-report-hourly-html"].data == f"[{Path(result['html']).name}]({Path(result['html']).as_uri()})"
    assert all(str(a.flow_run_id) == result["flow_run_id"] for a in arts)
    routes = json.loads(by_key["arb-report-hourly-routes"].data)
    assert {r["route"]: r["realized (USD)"] for r in routes} == {A: "0.85", B: "2.50", C: "0.33"}
    models = json.loads(by_key["arb-report-hourly-models"].data)
    assert [m["alias"] for m in models[:2]] == ["challenger", "champion"]


def test_cli_report_writes_the_html_and_prints_the_summary(tmp_path, warehouse):
    import subprocess

    from tests.conftest import REPO, child_env

    env = child_env(tmp_path, WAREHOUSE_PATH=str(warehouse), REPORTS_DIR=str(tmp_path / "reports"),
                    MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    arb = str(REPO / ".venv" / "bin" / "arb")
    bad = subprocess.run([arb, "report", "--period", "weekly"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1 and "use one of: hourly, daily, all" in bad.stderr
    ok = subprocess.run([arb, "report", "--period", "all"], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert ok.stdout.startswith("# arb report: all") and "no MLflow store" in ok.stdout
    assert (tmp_path / "reports" / "latest-all.html").is_file()
    assert not (tmp_path / "mlruns").exists()
