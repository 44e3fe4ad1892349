"""arb.ml without MLflow: dataset building, the time split, fitting, calibration metrics, the gate and the EV.

The data is SYNTHETIC (``synthetic_history``): there is no recorded execution history with known ground truth, and a
test of "the model learns what is learnable" needs one. The documented rule, with noise:

    logit = -2.0 + 0.15 * net_edge_bps - 1.5 * data_age_s - 0.03 * vol_bps + 0.8 * (depth_ratio > 5)
    success ~ Bernoulli(sigmoid(logit))

over net edge U(0, 40) bps, data age U(0, 3) s, volatility U(0, 60) bps, depth ratio U(0.5, 20). Stale books and a
moving market make fills fail even on a wide edge: that is the regime the heuristic score cannot see (its edge quality
saturates above ~3x the min edge and it ignores data age). Features come from the real ``arb.decide.features``, and the
heuristic baseline is ``HeuristicScorer().score(opp, ctx).confidence`` for the very same opportunities.
"""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from arb.decide.features import FEATURE_NAMES, FEATURE_VERSION, features
from arb.decide.scoring import HeuristicScorer, ScoreContext
from arb.domain import Opportunity
from arb.errors import BadInput
from arb.ml import model as M
from arb.ml.dataset import build, from_file, time_split

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic_history(n: int = 2000, seed: int = 7) -> pd.DataFrame:
    """ExecutionRecord fields + ``features`` + ``feature_version`` + ``confidence`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    scorer = HeuristicScorer()
    rows = []
    for i in range(n):
        edge = rng.uniform(0, 40)
        age_s = rng.uniform(0, 3)
        vol = rng.uniform(0, 60)
        depth_ratio = rng.uniform(0.5, 20)
        notional = 1000.0
        net = notional * edge / 1e4
        fees = notional * 10 / 1e4
        opp = Opportunity(
            id=f"o{i}", kind="cex_arb", route_id=f"r{i % 7}", symbol="BTC/USDT", sell_symbol="BTC/USDT",
            buy_venue="a", sell_venue="b", size=Decimal("0.01"), buy_price=Decimal(100000), sell_price=Decimal(100000),
            notional_usd=Decimal(notional), gross_edge_bps=Decimal(str(edge + 10)), edge_bps=Decimal(str(edge)),
            gross_profit=Decimal(str(net + fees)), fees=Decimal(str(fees)), net_profit=Decimal(str(net)),
            liquidity_depth=Decimal(str(depth_ratio * notional)), observed_at=T0, data_age_ms=int(age_s * 1000),
        )
        ctx = ScoreContext(vol_bps=vol, route=None, min_edge_bps=Decimal(5))
        logit = -2.0 + 0.15 * edge - 1.5 * age_s - 0.03 * vol + 0.8 * (depth_ratio > 5)
        success = bool(rng.random() < 1 / (1 + math.exp(-logit)))
        actual = net * rng.uniform(0.5, 1.0) if success else -notional * rng.uniform(5, 20) / 1e4
        rows.append({
            "timestamp": T0 + timedelta(minutes=i), "symbol": "BTC/USDT", "edge_bps": edge, "predicted_profit": net,
            "actual_profit": actual, "success": success, "gas_cost": 0.0, "slippage_bps": 0.0,
            "route_id": opp.route_id, "chain": None, "features": list(features(opp, ctx)),
            "feature_version": FEATURE_VERSION, "confidence": scorer.score(opp, ctx).confidence,
        })
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return synthetic_history()


def test_model_beats_heuristic_and_constant_on_held_out_window(history):
    ds = build(history, "synthetic")
    split = time_split(ds, 0.25)
    tr, te = ds.subset(split.train), ds.subset(split.test)
    model = M.fit(tr.X, tr.y)
    m = M.evaluate(te.y, M.proba(model, te.X))
    heur = M.evaluate(te.y, te.heuristic)
    const = M.evaluate(te.y, M.constant_baseline(tr.y, len(te)))
    print(f"\nheld-out n={len(te)} success rate={te.y.mean():.3f}\n"
          f"  model     AUC {m['auc']:.4f} Brier {m['brier']:.4f} logloss {m['log_loss']:.4f}\n"
          f"  heuristic AUC {heur['auc']:.4f} Brier {heur['brier']:.4f}\n"
          f"  constant  AUC {const['auc']:.4f} Brier {const['brier']:.4f}")
    assert m["auc"] > heur["auc"] + 0.03
    assert m["auc"] > const["auc"] + 0.2
    assert m["brier"] < const["brier"] and m["brier"] < heur["brier"]
    assert M.gate(m, heur).promote and not M.gate(const, m).promote


def test_time_split_never_trains_on_a_later_sample(history):
    # shuffle the rows and duplicate timestamps around the cut: the split must still be by time
    df = history.sample(frac=1.0, random_state=1).reset_index(drop=True)
    df.loc[df.index[:50], "timestamp"] = df["timestamp"].iloc[0]
    ds = build(df, "shuffled")
    assert (np.diff(ds.t.astype("int64")) >= 0).all()
    for holdout in (0.1, 0.2, 0.5, 300):
        s = time_split(ds, holdout)
        assert ds.t[s.train].max() < ds.t[s.test].min()
        assert len(s.train) + len(s.test) == len(ds)
        assert set(s.train.tolist()).isdisjoint(s.test.tolist())


def test_derived_features_use_only_earlier_executions():
    t = [T0 + timedelta(seconds=s) for s in (3, 1, 2)]
    df = pd.DataFrame({"timestamp": t, "symbol": "X", "edge_bps": [5.0, 7.0, 9.0], "predicted_profit": [1.0, 2.0, 3.0],
                       "actual_profit": [1.0, -1.0, 2.0], "success": [True, False, True], "gas_cost": 0.0,
                       "slippage_bps": 0.0, "route_id": "r", "chain": [None, "polygon", None]})
    ds = build(df, "derived")
    assert ds.n_derived == 3 and ds.X.shape == (3, len(FEATURE_NAMES))
    i = {n: k for k, n in enumerate(FEATURE_NAMES)}
    assert ds.X[:, i["net_edge_bps"]].tolist() == [7.0, 9.0, 5.0]  # time order
    assert ds.X[0, i["route_log_executions"]] == 0.0  # nothing earlier
    assert ds.X[1, i["route_success_ema"]] == pytest.approx(0.45)  # after one failure: 0.5 * 0.9
    assert ds.X[2, i["route_log_executions"]] == pytest.approx(math.log1p(2))
    assert ds.X[0, i["on_chain"]] == 1.0 and ds.X[0, i["kind_flash_loan"]] == 1.0
    assert np.isfinite(ds.X).all()


def test_history_files_parquet_and_csv(tmp_path, history):
    small = history.head(50)
    small.to_parquet(tmp_path / "h.parquet")
    small.drop(columns=["features"]).to_csv(tmp_path / "h.csv", index=False)
    a, b = from_file(tmp_path / "h.parquet"), from_file(tmp_path / "h.csv")
    assert len(a) == len(b) == 50 and a.n_derived == 0 and b.n_derived == 50
    assert (a.y == b.y).all()


@pytest.mark.parametrize("name", ["x.pkl", "x.pickle", "x.joblib"])
def test_pickle_history_refused_without_reading(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"\x80\x04K\x01.")  # a valid pickle of 1: must not even be opened
    with pytest.raises(BadInput, match="runs arbitrary code"):
        from_file(p)


def test_cli_train_refuses_pickle(tmp_path):
    p = tmp_path / "history.pkl"
    p.write_bytes(b"\x80\x04K\x01.")
    r = subprocess.run([sys.executable, "-m", "arb.cli", "train", "--from", str(p),
                        "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "pickle" in r.stderr and "arbitrary code" in r.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_risk_adjusted_ev_and_outcome_stats():
    y = np.array([1, 1, 0, 0])
    profit = np.array([4.0, 2.0, -1.0, -3.0])
    o = M.OutcomeStats.from_training(y, profit)
    assert (o.mean_profit_if_success, o.mean_loss_if_failure) == (3.0, 2.0)
    assert M.risk_adjusted_ev(0.6, 3.0, 2.0) == pytest.approx(0.6 * 3 - 0.4 * 2)
    assert np.allclose(M.risk_adjusted_ev(np.array([0.0, 1.0]), 3.0, 2.0), [-2.0, 3.0])


def test_gate_rules():
    assert M.gate({"auc": 0.7, "brier": 0.2}, None).promote
    assert not M.gate({"auc": 0.5, "brier": 0.25}, None).promote
    assert not M.gate({"auc": 0.7, "brier": 0.2}, {"auc": 0.7, "brier": 0.2}).promote  # a tie keeps the champion
    assert not M.gate({"auc": 0.75, "brier": 0.3}, {"auc": 0.7, "brier": 0.2}).promote  # worse calibration


@pytest.mark.parametrize("failures_at", [(2, 9, 15, 21), (3, 5, 8, 11), (18, 19, 22, 23)])
def test_small_windows_still_fit_a_calibrated_model(failures_at):
    """20 training executions with 4 failures anywhere (the sandbox's first retrain): calibrated probabilities."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, len(FEATURE_NAMES)))
    y = np.ones(20, dtype=int)
    y[[i for i in failures_at if i < 20]] = 0
    model = M.fit(X, y)
    p = M.proba(model, X)
    assert p.shape == (20,) and np.all((p > 0) & (p < 1))


def test_one_failure_is_not_enough_to_fit():
    y = np.ones(20, dtype=int)
    y[7] = 0
    with pytest.raises(ValueError, match="at least 2 of each"):
        M.fit(np.zeros((20, len(FEATURE_NAMES))), y)


def test_promotion_needs_ten_held_out_executions():
    good = {"auc": 0.9, "brier": 0.1, "log_loss": 0.3}
    assert not M.gate(good, None, n_test=9).promote and "at least 10" in M.gate(good, None, n_test=9).reason
    assert M.gate(good, None, n_test=10).promote
