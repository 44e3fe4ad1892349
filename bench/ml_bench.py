"""ML benchmarks, measured side by side in one run; prints tables (never a timed assertion).

1. scoring latency: ``MLScorer.score`` on single opportunities with a real fitted champion (loaded back through
   MLflow), against the heuristic alone; ``predict_proba`` on a 50- and a 200-row matrix against naive per-row calls;
2. retrain + register time at 1k and 10k executions (synthetic history, MLflow sqlite under a temp dir): dataset
   build, fit, evaluate, log+register, plots, and the whole ``train_dataset`` end to end;
3. detection-loop latency idle against while a 10k retrain runs in a background thread (and, for the ML scorer, in a
   child process, as `arb run` does): ``engine.step`` (bench/run.py ``decision_latency(200, full=True)``, heuristic
   and ML scorer) and an ``MLScorer.score`` loop.

The history is ``tests.unit.test_ml_model.synthetic_history`` (real features, a documented success rule).

    .venv/bin/python bench/ml_bench.py
"""

from __future__ import annotations

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")

import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from arb.decide.features import features  # noqa: E402
from arb.decide.scoring import HeuristicScorer, ScoreContext  # noqa: E402
from arb.domain import Opportunity  # noqa: E402
from arb.ml import model as M  # noqa: E402
from arb.ml.dataset import build, time_split  # noqa: E402
from arb.ml.scorer import MlflowChampionLoader, MLScorer  # noqa: E402
from tests.unit.test_ml_model import T0, synthetic_history  # noqa: E402

try:
    from bench import run as run_bench
except ImportError:  # run as a script from bench/
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run as run_bench


def _stage(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _pct(xs: list[float]) -> tuple[float, float]:
    s = sorted(xs)
    return statistics.median(s), s[max(int(len(s) * 0.99) - 1, 0)]


def _us(ns: float) -> float:
    return ns / 1e3


def opportunities(n: int, seed: int = 11) -> list[tuple[Opportunity, ScoreContext]]:
    """Opportunities drawn like synthetic_history's (same ranges), with their score contexts."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        edge, age_s, vol, depth_ratio = rng.uniform(0, 40), rng.uniform(0, 3), rng.uniform(0, 60), rng.uniform(0.5, 20)
        notional = 1000.0
        net, fees = notional * edge / 1e4, notional * 10 / 1e4
        opp = Opportunity(
            id=f"b{i}", kind="cex_arb", route_id=f"r{i % 7}", symbol="BTC/USDT", sell_symbol="BTC/USDT",
            buy_venue="a", sell_venue="b", size=Decimal("0.01"), buy_price=Decimal(100000), sell_price=Decimal(100000),
            notional_usd=Decimal(notional), gross_edge_bps=Decimal(str(edge + 10)), edge_bps=Decimal(str(edge)),
            gross_profit=Decimal(str(net + fees)), fees=Decimal(str(fees)), net_profit=Decimal(str(net)),
            liquidity_depth=Decimal(str(depth_ratio * notional)), observed_at=T0, data_age_ms=int(age_s * 1000),
        )
        out.append((opp, ScoreContext(vol_bps=vol, route=None, min_edge_bps=Decimal(5))))
    return out


def ml_scorer(tracking_uri: str) -> MLScorer:
    """The engine's MLScorer: the real MLflow champion loader (alias from sqlite, skops load), 30 s reload, new
    champions loaded in a helper thread."""
    s = MLScorer(HeuristicScorer(), MlflowChampionLoader(tracking_uri), reload_seconds=30.0, clock=time.monotonic,
                 background=True)
    s.refresh(force=True)
    s.wait_loaded(120)
    if not s.model_trained:
        raise RuntimeError(f"no champion at {tracking_uri}")
    return s


# ---- 1. scoring latency ----
def scoring_latency(scorer: MLScorer, n_calls: int = 500) -> dict:
    opps = opportunities(n_calls)
    heur = scorer.heuristic
    for o, c in opps[:20]:  # warm-up
        scorer.score(o, c)
    rows = []
    for name, fn in (("HeuristicScorer.score", heur.score), ("MLScorer.score (champion)", scorer.score)):
        lat = []
        for o, c in opps:
            t = time.perf_counter_ns()
            fn(o, c)
            lat.append(time.perf_counter_ns() - t)
        p50, p99 = _pct(lat)
        rows.append({"what": name, "calls": n_calls, "p50_us": _us(p50), "p99_us": _us(p99)})

    est = scorer._current[1].estimator  # the CalibratedClassifierCV loaded through MLflow
    X_all = np.array([features(o, c) for o, c in opps], dtype=float)
    batch = []
    for n in (50, 200):
        X = X_all[:n]
        est.predict_proba(X)
        one = []
        for _ in range(30):
            t = time.perf_counter_ns()
            est.predict_proba(X)
            one.append(time.perf_counter_ns() - t)
        naive_calls, naive_tot = [], []
        for _ in range(3):
            t0 = time.perf_counter_ns()
            for r in range(n):
                t = time.perf_counter_ns()
                est.predict_proba(X[r:r + 1])
                naive_calls.append(time.perf_counter_ns() - t)
            naive_tot.append(time.perf_counter_ns() - t0)
        b50, b99 = _pct(one)
        c50, c99 = _pct(naive_calls)
        nt = statistics.median(naive_tot)
        batch.append({"rows": n, "batch_p50_ms": b50 / 1e6, "batch_p99_ms": b99 / 1e6, "batch_per_row_us": _us(b50 / n),
                      "naive_call_p50_us": _us(c50), "naive_call_p99_us": _us(c99), "naive_total_ms": nt / 1e6,
                      "speedup": nt / b50})
    return {"single": rows, "batch": batch}


# ---- 2. retrain + register ----
def retrain_timing(n: int, workdir: Path, history=None) -> dict:
    """Components (build, fit, evaluate, log+register, plots) timed one by one under one tracking URI, then the whole
    ``train_dataset`` (gate against the champion included) end to end under a fresh one."""
    import mlflow

    from arb.ml import registry as R
    from arb.ml.train import train_dataset

    t = time.perf_counter()
    df = history if history is not None else synthetic_history(n, seed=7)
    t_hist = time.perf_counter() - t
    t = time.perf_counter()
    ds = build(df, f"synthetic:{n}")
    t_build = time.perf_counter() - t

    uri_parts = f"sqlite:///{workdir}/parts-{n}/mlflow.db"
    R.configure(uri_parts)
    split = time_split(ds, 0.2)
    tr, te = ds.subset(split.train), ds.subset(split.test)
    t = time.perf_counter()
    model = M.fit(tr.X, tr.y)
    t_fit = time.perf_counter() - t
    t = time.perf_counter()
    p = M.proba(model, te.X)
    metrics = M.evaluate(te.y, p)
    t_eval = time.perf_counter() - t
    with mlflow.start_run(run_name=f"bench-{n}"):
        t = time.perf_counter()
        R.log_plots(model, te.X, te.y, p, ds.feature_names)
        t_plots = time.perf_counter() - t
        t = time.perf_counter()
        mv = R.log_model(model, tr.X[:5], tags={"feature_version": ds.feature_version})
        t_log = time.perf_counter() - t

    uri_full = f"sqlite:///{workdir}/full-{n}/mlflow.db"
    t = time.perf_counter()
    res = train_dataset(ds, uri_full, force=True)
    t_full = time.perf_counter() - t
    return {"n": n, "history_s": t_hist, "build_s": t_build, "fit_s": t_fit, "evaluate_s": t_eval, "plots_s": t_plots,
            "log_register_s": t_log, "train_dataset_s": t_full, "auc": metrics["auc"], "version": int(mv.version),
            "alias": res.alias, "uri": uri_full, "ds": ds}


# ---- 3. detection loop idle vs during a retrain ----
def _engine_ml(tracking_uri: str):
    """decision_latency with its HeuristicScorer swapped for the engine's MLScorer over that heuristic."""
    orig = run_bench.HeuristicScorer

    def factory():
        return ml_scorer(tracking_uri)

    run_bench.HeuristicScorer = factory
    try:
        return run_bench.decision_latency(200, updates=200, full=True)
    finally:
        run_bench.HeuristicScorer = orig


def _score_loop(scorer: MLScorer, opps, stop: threading.Event | None, n_min: int) -> list[int]:
    lat: list[int] = []
    i = 0
    while i < n_min or (stop is not None and not stop.is_set()):
        o, c = opps[i % len(opps)]
        t = time.perf_counter_ns()
        scorer.score(o, c)
        lat.append(time.perf_counter_ns() - t)
        i += 1
        if stop is None and i >= n_min:
            break
    return lat


def loop_under_retrain(champion_uri: str, ds10k, workdir: Path) -> list[dict]:
    from arb.ml.train import train_dataset

    scorer = ml_scorer(champion_uri)
    opps = opportunities(500, seed=23)

    import subprocess

    from tests.integration.test_ml_registry import write_warehouse

    wh = workdir / "loop-wh.duckdb"
    write_warehouse(wh, synthetic_history(len(ds10k), seed=7))
    child_cmd = [sys.executable, "-m", "arb.cli", "train", "--warehouse", str(wh), "--tracking-uri", champion_uri,
                 "--force", "--min-samples", "200"]

    def background(stop: threading.Event, box: dict, k: int, again: threading.Event | None = None,
                   child: bool = False):
        """Retrain (10k) once; while ``again`` is set, retrain again, so a long measurement overlaps retraining
        from start to end. ``box['s']``: seconds per retrain; ``box['n']``: retrains done. ``child``: in a child
        process (``arb train``, what ``arb run`` does without a Prefect server) instead of this process's thread."""
        box["s"], box["n"] = [], 0
        try:
            while True:
                t = time.perf_counter()
                # the same registry as the engine's champion: mlflow's tracking URI is process-global, and the
                # champion loader sets it too, so a retrain into another registry in this process would race with it
                if child:
                    subprocess.run(child_cmd, check=True, capture_output=True, timeout=900)
                else:
                    box["res"] = train_dataset(ds10k, champion_uri, force=True)
                box["s"].append(time.perf_counter() - t)
                box["n"] += 1
                if again is None or not again.is_set():
                    break
        finally:
            stop.set()

    rows = []
    k = 0
    for name, fn, child in (("engine.step, 200 routes, all books (heuristic)",
                             lambda: run_bench.decision_latency(200, updates=200, full=True), False),
                            ("engine.step, 200 routes, all books (MLScorer)", lambda: _engine_ml(champion_uri), False),
                            ("engine.step, 200 routes (MLScorer), retrain in a child process",
                             lambda: _engine_ml(champion_uri), True)):
        _stage(f"{name}: idle")
        idle = fn()
        k += 1
        _stage(f"{name}: during retrain")
        stop, box, again = threading.Event(), {}, threading.Event()
        again.set()
        th = threading.Thread(target=background, args=(stop, box, k, again, child), daemon=True)
        th.start()
        time.sleep(3.0 if child else 0.2)  # let the retrain get going (a child imports sklearn/mlflow first)
        t = time.perf_counter()
        busy = fn()
        t_meas = time.perf_counter() - t
        again.clear()
        overlapped = not stop.is_set()
        th.join()
        rows.append({"what": name, "samples": f"{idle['updates']} / {busy['updates']}", "idle_p50_ms": idle["p50_ms"],
                     "idle_p99_ms": idle["p99_ms"], "busy_p50_ms": busy["p50_ms"], "busy_p99_ms": busy["p99_ms"],
                     "retrain_s": statistics.mean(box["s"]),
                     "note": f"{t_meas:.1f}s, {box['n']} retrains back to back" + ("" if overlapped else
                                                                                    ", retraining ended first")})

    # MLScorer.score loop: sample for the WHOLE retrain
    _stage("MLScorer.score loop: idle, then during retrain")
    idle = _score_loop(scorer, opps, None, 2000)
    k += 1
    stop, box = threading.Event(), {}
    th = threading.Thread(target=background, args=(stop, box, k), daemon=True)
    th.start()
    busy = _score_loop(scorer, opps, stop, 1)
    th.join()
    i50, i99 = _pct(idle)
    b50, b99 = _pct(busy)
    rows.append({"what": "MLScorer.score loop (whole retrain)", "samples": f"{len(idle)} / {len(busy)}",
                 "idle_p50_ms": i50 / 1e6, "idle_p99_ms": i99 / 1e6, "busy_p50_ms": b50 / 1e6,
                 "busy_p99_ms": b99 / 1e6, "retrain_s": box["s"][0], "note": f"max {max(busy) / 1e6:.1f} ms busy"})
    return rows


def run(sizes: tuple[int, ...] = (1_000, 10_000)) -> dict:
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(prefix="arb-ml-bench-") as tmp:
        work = Path(tmp)
        _stage("warm-up (imports, first MLflow db, matplotlib): a 300-row retrain, not reported")
        from arb.ml.train import train_dataset

        train_dataset(build(synthetic_history(300, seed=1), "warmup"), f"sqlite:///{work}/warmup/mlflow.db")
        retrains = []
        for n in sizes:
            _stage(f"retrain timing n={n}")
            retrains.append(retrain_timing(n, work))
        _stage("scoring latency")
        big = retrains[-1]
        scoring = scoring_latency(ml_scorer(big["uri"]))
        _stage("detection loop idle vs during retrain")
        loop = loop_under_retrain(big["uri"], big["ds"], work)
    for r in retrains:
        r.pop("ds")
    return {"retrain": retrains, "scoring": scoring, "loop": loop}


def main() -> None:
    t_all = time.perf_counter()
    res = run()
    con = Console(width=150)

    t = Table(title="1a. Scoring latency, one opportunity per call (champion fitted on 10k, loaded through MLflow)")
    for c in ("scorer", "calls", "p50 us", "p99 us"):
        t.add_column(c, justify="right")
    for r in res["scoring"]["single"]:
        t.add_row(r["what"], str(r["calls"]), f"{r['p50_us']:.0f}", f"{r['p99_us']:.0f}")
    con.print(t)

    t = Table(title="1b. predict_proba: one call on the whole matrix vs naive per-row calls")
    for c in ("rows", "batch p50 ms", "batch p99 ms", "batch us/row", "per-row call p50 us", "per-row call p99 us",
              "naive total ms", "batch speedup"):
        t.add_column(c, justify="right")
    for r in res["scoring"]["batch"]:
        t.add_row(str(r["rows"]), f"{r['batch_p50_ms']:.2f}", f"{r['batch_p99_ms']:.2f}",
                  f"{r['batch_per_row_us']:.1f}", f"{r['naive_call_p50_us']:.0f}", f"{r['naive_call_p99_us']:.0f}",
                  f"{r['naive_total_ms']:.1f}", f"{r['speedup']:.0f}x")
    con.print(t)

    t = Table(title="2. Retrain + register (synthetic history, MLflow sqlite in a temp dir), seconds")
    for c in ("executions", "build dataset", "fit", "evaluate", "plots+perm.imp.", "log+register",
              "train_dataset (end to end)", "holdout AUC"):
        t.add_column(c, justify="right")
    for r in res["retrain"]:
        t.add_row(str(r["n"]), f"{r['build_s']:.2f}", f"{r['fit_s']:.2f}", f"{r['evaluate_s']:.3f}",
                  f"{r['plots_s']:.2f}", f"{r['log_register_s']:.2f}", f"{r['train_dataset_s']:.2f}", f"{r['auc']:.3f}")
    con.print(t)

    t = Table(title="3. Detection-loop latency: idle vs while a 10k retrain runs in a background thread or a child "
                    "process")
    for c in ("loop", "samples idle/busy", "idle p50 ms", "idle p99 ms", "busy p50 ms", "busy p99 ms", "retrain s",
              "note"):
        t.add_column(c, justify="right")
    for r in res["loop"]:
        t.add_row(r["what"], r["samples"], f"{r['idle_p50_ms']:.3f}", f"{r['idle_p99_ms']:.3f}",
                  f"{r['busy_p50_ms']:.3f}", f"{r['busy_p99_ms']:.3f}", f"{r['retrain_s']:.1f}", r["note"])
    con.print(t)
    con.print(f"total {time.perf_counter() - t_all:.0f}s, {os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
