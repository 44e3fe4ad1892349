"""The decider scoring with the MLflow champion (real sqlite registry under tmp_path): versions and hot reload."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from arb.decide.decider import Decider, Thresholds
from arb.decide.scoring import HeuristicScorer
from arb.risk.limits import RiskLimits, RiskManager, RiskState
from tests.unit.test_ml_model import synthetic_history
from tests.unit.test_ml_scorer import T0, opp


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    from arb.ml.train import train_from_file

    tmp = tmp_path_factory.mktemp("mlengine")
    uri = f"sqlite:///{tmp}/mlruns/mlflow.db"
    p = tmp / "history.parquet"
    synthetic_history(600, seed=3).to_parquet(p)
    r = train_from_file(p, uri, min_samples=200)
    assert r.status == "trained" and r.alias == "champion" and r.version == 1
    return tmp, uri


def make_decider(scorer):
    t = Thresholds(ai_mode="aggressive", min_confidence=0.0, min_edge_bps=Decimal(1), cex_min_profit_usd=Decimal(0),
                   flash_loan_min_profit_eth=Decimal("0.15"), eth_usd_price=Decimal(1300))
    ids = itertools.count(1)
    return Decider(scorer, t, RiskManager(RiskLimits(), RiskState(scope="t", day=T0.date())), lambda: f"d{next(ids)}")


def decide(d):
    return d.decide([opp()], now=T0, vol_bps=lambda o: 10.0, routes={})[0]


def test_decisions_record_the_champion_and_pick_up_a_new_one_without_a_rebuild(registry):
    from arb.ml import registry as R
    from arb.ml.scorer import MlflowChampionLoader, MLScorer
    from arb.ml.train import train_from_file

    tmp, uri = registry
    alerts = []
    scorer = MLScorer(HeuristicScorer(), MlflowChampionLoader(uri), reload_seconds=0, clock=lambda: 0.0,
                      alert=lambda k, m: alerts.append((k, m)))
    d = make_decider(scorer)
    first = decide(d)
    assert first.model_version == "arb-success-predictor/v1" and scorer.model_trained
    assert 0.0 <= first.factors["ml_success"] <= 1.0 and 0.0 <= first.confidence <= 1.0
    assert "ml_ev" in first.factors

    p = tmp / "history2.parquet"
    synthetic_history(700, seed=11).to_parquet(p)
    r = train_from_file(p, uri, min_samples=200)
    assert r.version == 2
    client, _ = R.configure(uri)
    R.set_alias(client, R.CHAMPION, 2)  # promoted (whatever the gate said)
    second = decide(d)
    assert second.model_version == "arb-success-predictor/v2" and alerts == []


def test_no_champion_runs_the_heuristic_and_records_none(tmp_path):
    from arb.ml.scorer import MlflowChampionLoader, MLScorer

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    scorer = MLScorer(HeuristicScorer(), MlflowChampionLoader(uri), reload_seconds=0, clock=lambda: 0.0)
    dec = decide(make_decider(scorer))
    ref = decide(make_decider(HeuristicScorer()))
    assert dec.model_version is None and dec.confidence == ref.confidence and dec.factors == ref.factors
    assert not scorer.model_trained


def test_wiring_chooses_the_scorer(registry, tmp_path, monkeypatch):
    from arb import wiring
    from arb.ml.scorer import MLScorer
    from arb.ml.trigger import RetrainTrigger
    from arb.settings import load_settings

    _, uri = registry
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    s = load_settings(env_files=(), enable_ml_scoring=True, mlflow_tracking_uri=uri,
                      warehouse_path=tmp_path / "arb.duckdb")
    scorer, hook = wiring.build_scorer(s, writer=None, run_id="r")
    assert isinstance(scorer, MLScorer) and isinstance(hook, RetrainTrigger) and hook.every == 25
    # the engine's scorer loads the champion in the background: the first call decides with the heuristic and starts
    # the load; once it is in, the champion scores
    assert scorer.background and scorer.score(opp(), _ctx()).model_version is None
    scorer.wait_loaded(60)
    assert scorer.score(opp(), _ctx()).model_version is not None and scorer.model_trained
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert wiring.build_scorer(s, writer=None, run_id="r")[1] is None
    off = load_settings(env_files=(), enable_ml_scoring=False)
    scorer, hook = wiring.build_scorer(off, writer=None, run_id="r")
    assert isinstance(scorer, HeuristicScorer) and hook is None


def _ctx():
    from tests.unit.test_ml_scorer import CTX

    return CTX
