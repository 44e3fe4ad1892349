"""MLScorer (fake loaders, no mlflow) and RetrainTrigger."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from arb.decide.scoring import HeuristicScorer, ScoreContext
from arb.domain import Opportunity
from arb.ml.scorer import ML_WEIGHT, MLScorer, OutcomeMeans
from arb.ml.trigger import RetrainTrigger

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CTX = ScoreContext(vol_bps=10.0, route=None, min_edge_bps=Decimal(5))


def opp(edge: float = 12.0) -> Opportunity:
    notional, fees = 1000.0, 1.0
    net = notional * edge / 1e4
    return Opportunity(
        id="o1", kind="cex_arb", route_id="r1", symbol="BTC/USDT", sell_symbol="BTC/USDT", buy_venue="a",
        sell_venue="b", size=Decimal("0.01"), buy_price=Decimal(100000), sell_price=Decimal(100000),
        notional_usd=Decimal(notional), gross_edge_bps=Decimal(str(edge + 10)), edge_bps=Decimal(str(edge)),
        gross_profit=Decimal(str(net + fees)), fees=Decimal(str(fees)), net_profit=Decimal(str(net)),
        liquidity_depth=Decimal(10000), observed_at=T0, data_age_ms=100,
    )


class FakeModel:
    def __init__(self, p: float, outcome: OutcomeMeans | None = None) -> None:
        self.p = p
        self.outcome_stats = outcome
        self.calls = 0

    def predict_proba(self, X):
        self.calls += 1
        assert len(X) == 1 and len(X[0]) == 16
        return [[1 - self.p, self.p]]


class FakeLoader:
    def __init__(self, cur=None, exc: Exception | None = None) -> None:
        self.cur = cur
        self.exc = exc
        self.calls = 0

    def current(self):
        self.calls += 1
        if self.exc is not None:
            raise self.exc
        return self.cur


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make(loader, **kw):
    alerts: list[tuple[str, str]] = []
    s = MLScorer(HeuristicScorer(), loader, reload_seconds=kw.pop("reload_seconds", 30.0),
                 clock=kw.pop("clock", Clock()), alert=lambda k, m: alerts.append((k, m)), **kw)
    return s, alerts


def test_no_model_is_exactly_the_heuristic():
    s, alerts = make(FakeLoader(None))
    assert s.score(opp(), CTX) == HeuristicScorer().score(opp(), CTX)
    assert s.score(opp(), CTX).model_version is None and not s.model_trained and alerts == []


def test_champion_adds_ml_success_and_sets_the_version():
    model = FakeModel(0.8, OutcomeMeans(mean_profit_if_success=10.0, mean_loss_if_failure=5.0))
    s, alerts = make(FakeLoader((3, model)))
    sc = s.score(opp(), CTX)
    h = HeuristicScorer().score(opp(), CTX)
    assert sc.model_version == "arb-success-predictor/v3" and s.model_trained and alerts == []
    assert sc.factors["ml_success"] == pytest.approx(0.8)
    assert {k: v for k, v in sc.factors.items() if not k.startswith("ml_")} == h.factors
    assert 0.0 <= sc.confidence <= 1.0
    assert sc.weights["ml_success"] == ML_WEIGHT and sum(sc.weights.values()) == pytest.approx(1.0)
    assert sc.confidence == pytest.approx((1 - ML_WEIGHT) * h.confidence + ML_WEIGHT * 0.8)
    assert sc.ev_usd == pytest.approx(0.8 * 10 - 0.2 * 5)
    assert sc.factors["ml_ev"] == pytest.approx(0.5 * (1 + math.tanh(7.0 / 50.0))) and sc.weights["ml_ev"] == 0.0
    assert sc.features == h.features and sc.feature_version == h.feature_version


@pytest.mark.parametrize("p", [float("nan"), float("inf"), 1.5])
def test_invalid_prediction_falls_back_with_one_alert(p):
    s, alerts = make(FakeLoader((1, FakeModel(p))))
    for _ in range(3):
        sc = s.score(opp(), CTX)
        assert sc == HeuristicScorer().score(opp(), CTX) and sc.model_version is None
    assert len(alerts) == 1 and alerts[0][0] == "ml_predict_invalid"


def test_predict_exception_falls_back_with_one_alert():
    class Boom(FakeModel):
        def predict_proba(self, X):
            raise RuntimeError("broken")

    s, alerts = make(FakeLoader((1, Boom(0.5))))
    assert s.score(opp(), CTX).model_version is None
    assert s.score(opp(), CTX).model_version is None
    assert [k for k, _ in alerts] == ["ml_predict_failed"]


def test_raising_loader_falls_back_with_one_alert():
    clock = Clock()
    loader = FakeLoader(exc=OSError("registry unreachable"))
    s, alerts = make(loader, clock=clock, reload_seconds=0)
    for _ in range(3):
        clock.t += 1
        assert s.score(opp(), CTX) == HeuristicScorer().score(opp(), CTX)
    assert loader.calls == 3 and [k for k, _ in alerts] == ["ml_model_load_failed"] and not s.model_trained
    loader.exc, loader.cur = None, (2, FakeModel(0.6))  # recovers at the next check
    clock.t += 1
    assert s.score(opp(), CTX).model_version == "arb-success-predictor/v2"


def test_hot_reload_when_the_champion_changes():
    clock = Clock()
    loader = FakeLoader((1, FakeModel(0.3)))
    s, _ = make(loader, clock=clock, reload_seconds=30)
    assert s.score(opp(), CTX).model_version == "arb-success-predictor/v1"
    loader.cur = (2, FakeModel(0.9))
    clock.t = 29.0
    assert s.score(opp(), CTX).model_version == "arb-success-predictor/v1"  # not re-checked yet
    assert loader.calls == 1
    clock.t = 30.0
    sc = s.score(opp(), CTX)
    assert sc.model_version == "arb-success-predictor/v2" and sc.factors["ml_success"] == pytest.approx(0.9)
    loader.cur = None  # champion alias removed: back to the heuristic
    clock.t = 60.0
    assert s.score(opp(), CTX).model_version is None and not s.model_trained


def test_ml_scorer_does_not_import_mlflow():
    import subprocess
    import sys

    code = ("import sys, arb.ml.scorer, arb.ml.trigger, arb.wiring; "
            "assert not [m for m in sys.modules if m.startswith(('mlflow', 'sklearn'))]")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mlflow_loader_without_a_registry_has_no_champion(tmp_path):
    from arb.ml.scorer import MlflowChampionLoader

    assert MlflowChampionLoader(f"sqlite:///{tmp_path}/none/mlflow.db").current() is None


# ---- RetrainTrigger ----
def test_trigger_fires_on_every_25th_execution_in_a_thread():
    threads: list[str] = []
    done = threading.Event()

    def run():
        threads.append(threading.current_thread().name)
        done.set()

    t = RetrainTrigger(run, every=25)
    for _ in range(24):
        t(None)
    assert t.started == 0 and threads == []
    t(None)  # 25
    assert t.started == 1
    done.wait(5)
    t.join(5)
    assert threads == ["retrain-25"] and threads[0] != threading.current_thread().name
    for _ in range(24):
        t(None)
    assert t.started == 1
    t(None)  # 50
    t.join(5)
    assert t.started == 2 and threads == ["retrain-25", "retrain-50"]


def test_trigger_never_blocks_nor_overlaps():
    release = threading.Event()
    active, peak = [0], [0]
    lock = threading.Lock()

    def run():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        release.wait(5)
        with lock:
            active[0] -= 1

    t = RetrainTrigger(run, every=2)
    for _ in range(10):  # 5 multiples while the first retrain is still running: returns at once, skips 4
        t(None)
    assert t.started == 1 and t.skipped == 4 and t.running
    release.set()
    t.join(5)
    t(None)
    t(None)
    t.join(5)
    assert t.started == 2 and peak[0] == 1


def test_trigger_failure_is_alerted_not_raised():
    alerts: list[tuple[str, str]] = []

    def run():
        raise ValueError("no data")

    t = RetrainTrigger(run, every=1, alert=lambda k, m: alerts.append((k, m)))
    t(None)
    t.join(5)
    assert isinstance(t.last_error, ValueError) and alerts and alerts[0][0] == "retrain_failed"


def test_trigger_rejects_bad_every():
    with pytest.raises(ValueError):
        RetrainTrigger(lambda: None, every=0)


class BatchModel:
    """p rises with the first feature (net edge bps); counts predict_proba calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.outcome_stats = None

    def predict_proba(self, X):
        self.calls += 1
        return [[1 - min(1.0, max(0.0, row[0] / 100)), min(1.0, max(0.0, row[0] / 100))] for row in X]


def test_a_batch_is_scored_with_one_predict_call_and_equals_single_scores():
    model = BatchModel()
    s, alerts = make(FakeLoader((4, model)))
    items = [(opp(edge=e), CTX) for e in (5.0, 12.0, 40.0)]
    batch = s.score_many(items)
    assert model.calls == 1 and len(batch) == 3 and alerts == []
    singles = [s.score(o, c) for o, c in items]
    assert model.calls == 4
    assert [b.confidence for b in batch] == [x.confidence for x in singles]
    assert [b.factors["ml_success"] for b in batch] == pytest.approx([0.05, 0.12, 0.40])
    assert all(b.model_version == "arb-success-predictor/v4" for b in batch)


def test_background_loading_never_blocks_a_score_call():
    """The engine's mode: a slow load (seconds, in MLflow) runs in a helper thread; score() keeps answering with the
    heuristic meanwhile, and the champion is swapped in at the first call after the load finished."""
    import threading
    import time

    release = threading.Event()

    class SlowLoader:
        calls = 0

        def current(self):
            SlowLoader.calls += 1
            release.wait(10)
            return (7, FakeModel(0.9))

    s = MLScorer(HeuristicScorer(), SlowLoader(), reload_seconds=1000, clock=time.monotonic, background=True)
    t0 = time.perf_counter()
    first = s.score(opp(), CTX)
    assert time.perf_counter() - t0 < 1.0 and first.model_version is None  # did not wait for the loader
    assert s.score(opp(), CTX).model_version is None and SlowLoader.calls == 1  # one load at a time
    release.set()
    s.wait_loaded(10)
    assert s.score(opp(), CTX).model_version == "arb-success-predictor/v7"
