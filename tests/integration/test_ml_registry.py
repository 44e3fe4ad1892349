"""arb.ml against a real MLflow (sqlite tracking store + artifacts under tmp_path, no server) and a real warehouse.

Data: ``synthetic_history`` from tests/unit/test_ml_model.py (a documented synthetic rule with noise; see there).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from arb.ml.dataset import from_warehouse, time_split
from arb.warehouse.schema import connect, migrate
from tests.unit.test_ml_model import synthetic_history

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def write_warehouse(path: Path, df, offset: int = 0) -> None:
    """Decisions (with the stored feature vector) and their executions, as the engine would record them."""
    migrate(path)
    ids = range(offset, offset + len(df))
    dec = df.assign(
        decision_id=[f"d{i}" for i in ids], run_id="run1", opportunity_id=[f"o{i}" for i in ids],
        decided_at=df["timestamp"], observed_at=df["timestamp"], kind="cex_arb", sell_symbol=df["symbol"],
        buy_venue="a", sell_venue="b", action="execute",
    )[["decision_id", "run_id", "opportunity_id", "decided_at", "observed_at", "route_id", "kind", "symbol",
       "sell_symbol", "buy_venue", "sell_venue", "action", "confidence", "features", "feature_version", "edge_bps"]]
    ex = df.assign(
        execution_id=[f"e{i}" for i in ids], decision_id=[f"d{i}" for i in ids],
        opportunity_id=[f"o{i}" for i in ids], run_id="run1", status="filled",
        filled_at=df["timestamp"], submitted_at=df["timestamp"], realized_profit=df["actual_profit"],
    )[["execution_id", "decision_id", "opportunity_id", "run_id", "route_id", "symbol", "chain", "status", "success",
       "submitted_at", "filled_at", "predicted_profit", "realized_profit", "gas_cost", "slippage_bps", "edge_bps"]]
    con = connect(path, read_only=False, timeout=10)
    try:
        con.register("dec_df", dec)
        con.register("ex_df", ex)
        con.execute("INSERT INTO decisions BY NAME SELECT * FROM dec_df")
        con.execute("INSERT INTO executions BY NAME SELECT * FROM ex_df")
    finally:
        con.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ml")
    db = tmp / "wh.duckdb"
    write_warehouse(db, synthetic_history(2000))
    return db, f"sqlite:///{tmp}/mlruns/mlflow.db", tmp


def test_retrain_registers_champion_gates_a_worse_model_and_loads_back(setup):
    from mlflow import MlflowClient
    from mlflow.models import get_model_info

    from arb.ml import registry as R
    from arb.ml.train import retrain, train_dataset

    db, uri, tmp = setup
    first = retrain(db, uri, min_samples=200, holdout=0.2)
    print(f"\nv{first.version}: {first.metrics} baselines {first.baselines}")
    assert first.status == "trained" and first.alias == "champion" and first.version == 1
    assert first.metrics["auc"] > first.baselines["heuristic_confidence"]["auc"]
    assert first.metrics["auc"] > first.baselines["constant"]["auc"]

    # idempotent: same data, same watermark -> nothing new
    again = retrain(db, uri, min_samples=200, holdout=0.2)
    assert again.status == "skipped" and again.version == 1

    # a worse model (training labels shuffled; held-out labels untouched) is refused on the SAME window
    ds = from_warehouse(db)
    split = time_split(ds, 0.2)
    y = ds.y.copy()
    y[split.train] = np.random.default_rng(0).permutation(y[split.train])
    worse = train_dataset(replace(ds, y=y), uri, min_samples=200, holdout=0.2, force=True)
    print(f"shuffled v{worse.version}: {worse.metrics} vs champion {worse.champion_metrics}")
    assert worse.alias == "challenger" and worse.champion_version == 1
    assert worse.champion_metrics == pytest.approx(first.metrics)  # the same window, the same champion
    client, _ = R.configure(uri)
    assert R.aliases(client) == {"champion": 1, "challenger": 2}
    run = client.get_run(worse.run_id)
    assert run.data.tags["gate.promote"] == "False" and "champion_auc" in run.data.metrics
    arts = {a.path for a in client.list_artifacts(worse.run_id)} | {
        a.path for a in client.list_artifacts(worse.run_id, "plots")}
    assert {"comparison.json", "plots/calibration_curve.png", "plots/feature_importances.png"} <= arts

    # loads back through MLflow with skops, predicts identically; no pickle anywhere
    uri_champ = "models:/arb-success-predictor@champion"
    loaded = R.load_model(uri_champ)
    assert np.array_equal(loaded.predict_proba(ds.X), first.model.predict_proba(ds.X))
    import mlflow.pyfunc

    assert np.array_equal(mlflow.pyfunc.load_model(uri_champ).predict(ds.X), first.model.predict_proba(ds.X))
    info = get_model_info(uri_champ)
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    assert info.signature is not None
    files = [p.name for p in (tmp / "mlruns").rglob("*") if p.is_file()]
    assert any(f.endswith(".skops") for f in files)
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))]
    assert str(MlflowClient(uri).get_model_version_by_alias("arb-success-predictor", "champion").version) == "1"


def test_train_from_history_file(setup, tmp_path):
    from arb.ml.train import train_from_file

    p = tmp_path / "history.parquet"
    synthetic_history(600, seed=3).to_parquet(p)
    _, uri, _ = setup  # the same registry: the file-trained version is gated against the warehouse champion
    r = train_from_file(p, uri, min_samples=200)
    assert r.status == "trained" and r.metrics["auc"] > 0.6 and r.champion_version is not None
    assert train_from_file(p, uri, min_samples=200).status == "skipped"


def test_every_n_counts_executions_since_the_newest_watermark(tmp_path):
    """A duplicate trigger (too few new executions) skips; a missed one is caught up by the next, which trains once."""
    from arb.ml.train import retrain

    db, uri = tmp_path / "wh.duckdb", f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    df = synthetic_history(400).reset_index(drop=True)
    write_warehouse(db, df.iloc[:300])
    first = retrain(db, uri, min_samples=200, every=25)
    assert first.status == "trained" and first.version == 1
    write_warehouse(db, df.iloc[300:310], offset=300)
    dup = retrain(db, uri, min_samples=200, every=25)
    # 310 executions: the block of 300 is the one version 1 was trained on
    assert dup.status == "skipped" and "version 1 already trained on this data (300" in dup.reason and dup.version == 1
    write_warehouse(db, df.iloc[310:360], offset=310)  # 60 new: the trigger at 325 was missed
    caught_up = retrain(db, uri, min_samples=200, every=25)
    # trained on whole blocks of 25: the first 350 executions by fill time, whatever arrived since
    assert caught_up.status == "trained" and caught_up.version == 2 and caught_up.watermark.n_executions == 350
    again = retrain(db, uri, min_samples=200, every=25)
    assert again.status == "skipped" and again.version == 2
