"""The retrain use-case: warehouse (or a history file) -> time split -> fit -> evaluate -> MLflow -> gate -> alias.

Idempotent: every registered version carries the watermark of the data it was trained on (tags
``watermark.source``, ``watermark.n_executions``, ``watermark.last_filled_at``). ``retrain`` skips when the newest
version already has the current watermark (``force=True`` overrides).

Gate: the new version gets the ``champion`` alias only if it beats the current champion on the SAME held-out window
(the champion is loaded back through MLflow and scored on it; see ``arb.ml.model.gate``); otherwise it gets
``challenger``. The comparison is logged to the run (metrics ``champion_*``, ``comparison.json``) and as version tags.
A champion built on another feature version cannot be scored on this window, so the new version replaces it if it
beats a constant; a champion whose training window reaches into this holdout is flagged
(``champion_saw_holdout``), not trusted silently.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arb.ml import model as M
from arb.ml.dataset import Dataset, Watermark, from_file, from_warehouse, refuse_pickle, time_split

DEFAULT_MIN_SAMPLES = 200
DEFAULT_HOLDOUT = 0.2


@dataclass(frozen=True)
class RetrainResult:
    status: str  # "trained" or "skipped"
    reason: str
    watermark: Watermark
    version: int | None = None
    alias: str | None = None  # "champion" or "challenger"
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # the new model on the held-out window
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # constant / heuristic on the same window
    champion_version: int | None = None  # the champion it was compared with
    champion_metrics: dict[str, float] | None = None
    model: Any = field(default=None, repr=False, compare=False)  # the fitted estimator (not serialised by as_dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("model")
        return d


def retrain(warehouse_path: str | Path, tracking_uri: str, *, min_samples: int = DEFAULT_MIN_SAMPLES,
            holdout: float | int = DEFAULT_HOLDOUT, seed: int = 0, force: bool = False,
            every: int | None = None) -> RetrainResult:
    """Retrain from every execution in the warehouse (read-only, safe while the engine writes).

    ``every``: train only when at least this many executions arrived since the newest version's watermark (the
    every-25-trades deployment passes 25): a duplicate trigger finds fewer and skips, a missed one is caught up by the
    next, which finds 50 and trains once."""
    if not Path(warehouse_path).exists():
        return RetrainResult("skipped", f"no warehouse at {warehouse_path} yet: nothing to train on", Watermark(0, ""))
    ds = from_warehouse(warehouse_path)
    return train_dataset(ds, tracking_uri, min_samples=min_samples, holdout=holdout, seed=seed, force=force,
                         every=every)


def train_from_file(path: str | Path, tracking_uri: str, *, min_samples: int = DEFAULT_MIN_SAMPLES,
                    holdout: float | int = DEFAULT_HOLDOUT, seed: int = 0, force: bool = False) -> RetrainResult:
    """Pre-train from an execution history (Parquet, CSV, DuckDB). Pickle files raise BadInput."""
    refuse_pickle(path)
    ds = from_file(path)
    return train_dataset(ds, tracking_uri, min_samples=min_samples, holdout=holdout, seed=seed, force=force)


def _same_watermark(tags: dict[str, str], ds: Dataset) -> bool:
    wm = ds.watermark.as_tags()
    return tags.get("watermark.source") == ds.source and all(tags.get(k) == v for k, v in wm.items())


def train_dataset(ds: Dataset, tracking_uri: str, *, min_samples: int = DEFAULT_MIN_SAMPLES,
                  holdout: float | int = DEFAULT_HOLDOUT, seed: int = 0, force: bool = False,
                  every: int | None = None) -> RetrainResult:
    from arb.ml import registry as R

    total = len(ds)
    if every is not None and total % every:
        # Train on whole blocks of ``every``: the version trained for the trigger at 100 executions sees exactly the
        # first 100 (by fill time) even if more arrived before the flow ran, so its watermark is 100 and the trigger at
        # 125 finds 25 new. A duplicate trigger finds the same block and skips; a missed one finds two blocks.
        ds = ds.subset(np.arange(total - total % every))
    wm = ds.watermark
    if len(ds) < min_samples:
        return RetrainResult("skipped", f"{len(ds)} executions < min_samples {min_samples}", wm)
    client, _ = R.configure(tracking_uri)
    latest = R.latest_version(client)
    if not force and latest is not None and _same_watermark(latest.tags, ds):
        return RetrainResult("skipped", f"version {latest.version} already trained on this data "
                                        f"({wm.n_executions} executions up to {wm.last_filled_at})", wm,
                             version=int(latest.version))
    if not force and every is not None and latest is not None and latest.tags.get("watermark.source") == ds.source:
        seen = int(latest.tags.get("watermark.n_executions", "0") or 0)
        if wm.n_executions - seen < every:
            return RetrainResult("skipped", f"{total} executions, {total - seen} since version {latest.version}'s "
                                            f"watermark ({seen}); the next retraining is at {seen + every}", wm,
                                 version=int(latest.version))

    split = time_split(ds, holdout)
    tr, te = ds.subset(split.train), ds.subset(split.test)
    try:
        model = M.fit(tr.X, tr.y, seed=seed)
    except ValueError as e:  # e.g. no failure yet in the calibration window: wait for more data, do not fail
        return RetrainResult("skipped", f"cannot train on {len(ds)} executions yet: {e}", wm)
    p = M.proba(model, te.X)
    metrics = M.evaluate(te.y, p)
    baselines = {"constant": M.evaluate(te.y, M.constant_baseline(tr.y, len(te)))}
    if len(te) and not np.isnan(te.heuristic).any():
        baselines["heuristic_confidence"] = M.evaluate(te.y, te.heuristic)
    outcome = M.OutcomeStats.from_training(tr.y, tr.profit)
    cut_iso = str(np.datetime_as_string(split.cut, unit="us")) + "Z"
    train_end = str(np.datetime_as_string(tr.t.max(), unit="us")) + "Z"

    champion_version = R.aliases(client).get(R.CHAMPION)
    champion_metrics: dict[str, float] | None = None
    comparison: dict[str, Any] = {"window_start": cut_iso, "n_test": len(te), "new": metrics}
    if champion_version is not None:
        info = R.version_info(client, champion_version)
        comparison["champion_version"] = champion_version
        if info.tags.get("feature_version") == ds.feature_version:
            champ = R.load_model(f"models:/{R.MODEL_NAME}/{champion_version}")
            champion_metrics = M.evaluate(te.y, M.proba(champ, te.X))
            comparison["champion"] = champion_metrics
            comparison["champion_saw_holdout"] = info.tags.get("train_end", "") >= cut_iso
        else:
            comparison["champion"] = f"feature version {info.tags.get('feature_version')!r} != {ds.feature_version!r}"
    decision = M.gate(metrics, champion_metrics, n_test=len(te))
    alias = R.CHAMPION if decision.promote else R.CHALLENGER
    comparison.update(promote=decision.promote, reason=decision.reason, alias=alias)

    import mlflow

    with mlflow.start_run(run_name=f"retrain-{wm.n_executions}") as run:
        mlflow.log_params({**{f"hgb.{k}": v for k, v in M.DEFAULT_PARAMS.items()}, "calibration": "sigmoid",
                           "calib_fraction": 0.2, "holdout": holdout, "seed": seed, "min_samples": min_samples,
                           "feature_version": ds.feature_version, "source": ds.source[:250],
                           "split_cut": cut_iso, "n_derived_features": ds.n_derived})
        mlflow.log_metrics({
            "n_samples": len(ds), "n_train": len(tr), "n_test": len(te),
            "train_success_rate": float(tr.y.mean()), "test_success_rate": float(te.y.mean()),
            **{f"test_{k}": v for k, v in metrics.items()},
            **{f"{b}_{k}": v for b, m in baselines.items() for k, v in m.items()},
            **({f"champion_{k}": v for k, v in champion_metrics.items()} if champion_metrics else {}),
            **{f"ev.{k}": v for k, v in outcome.as_dict().items()},
        })
        importances = R.log_plots(model, te.X, te.y, p, ds.feature_names, seed=seed)
        mlflow.log_dict(importances, "feature_importances.json")
        mlflow.log_dict(comparison, "comparison.json")
        mlflow.log_dict(outcome.as_dict(), "outcome_stats.json")
        mlflow.set_tags({"gate.promote": str(decision.promote), "gate.reason": decision.reason,
                         "watermark.source": ds.source[:250], **wm.as_tags()})
        mv = R.log_model(model, tr.X[:5], tags={
            "feature_version": ds.feature_version, "watermark.source": ds.source[:250], **wm.as_tags(),
            "train_end": train_end, "holdout_start": cut_iso, "test_auc": f"{metrics['auc']:.6f}",
            "test_brier": f"{metrics['brier']:.6f}", "gate.reason": decision.reason,
            "outcome_stats": json.dumps(outcome.as_dict()),
        })
    R.set_alias(client, alias, mv.version)
    return RetrainResult("trained", decision.reason, wm, version=int(mv.version), alias=alias, run_id=run.info.run_id,
                         metrics=metrics, baselines=baselines, champion_version=champion_version,
                         champion_metrics=champion_metrics, model=model)
