"""MLflow: experiment setup, logging a trained version, registration, aliases and loading.

- The tracking URI is always explicit (``sqlite:///mlruns/mlflow.db`` by default); artifacts go to an ``artifacts``
  folder beside the sqlite file, never to the process's working directory.
- Models are stored with skops, never pickle. ``TRUSTED_TYPES`` is the fixed list of non-default types our model
  needs; logging refuses a model needing anything else, and loading checks the MLmodel's list against it before
  deserialising.
- Aliases, not stages: ``champion`` (the engine's model) and ``challenger`` (registered, not promoted).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
import mlflow.sklearn  # noqa: E402
import numpy as np  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from arb.errors import FatalError  # noqa: E402

MODEL_NAME = "arb-success-predictor"
EXPERIMENT = "arb-success-predictor"
CHAMPION, CHALLENGER = "champion", "challenger"
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


def _pip_requirements() -> list[str]:
    import sklearn
    import skops

    return [f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}", f"numpy=={np.__version__}"]


def artifact_root(tracking_uri: str) -> str:
    """``artifacts`` beside the sqlite file of ``sqlite:///path/mlflow.db`` (as a file URI)."""
    if not tracking_uri.startswith("sqlite:///"):
        raise FatalError(f"unsupported tracking URI {tracking_uri!r}: use sqlite:///PATH/mlflow.db")
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    return (db.resolve().parent / "artifacts").as_uri()


def configure(tracking_uri: str) -> tuple[MlflowClient, str]:
    """Point mlflow at ``tracking_uri``; return a client and the experiment id (created with our artifact root)."""
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        try:
            exp_id = client.create_experiment(EXPERIMENT, artifact_location=artifact_root(tracking_uri))
        except MlflowException:  # created concurrently
            exp_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return client, exp_id


def aliases(client: MlflowClient) -> dict[str, int]:
    """alias -> version (from get_registered_model: with sqlite, search_model_versions reports no aliases)."""
    try:
        rm = client.get_registered_model(MODEL_NAME)
    except MlflowException:
        return {}
    return {a: int(v) for a, v in rm.aliases.items()}


def latest_version(client: MlflowClient):
    """The highest-numbered registered version (with its tags), or None."""
    versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    return max(versions, key=lambda v: int(v.version)) if versions else None


def version_info(client: MlflowClient, version: int | str):
    return client.get_model_version(MODEL_NAME, str(version))


def check_trusted(model_uri: str) -> None:
    """Refuse to deserialise a model whose skops file needs types outside TRUSTED_TYPES, or that is not skops."""
    from mlflow.models import get_model_info

    flavor = get_model_info(model_uri).flavors.get("sklearn", {})
    if flavor.get("serialization_format") != "skops":
        raise FatalError(f"{model_uri}: serialization {flavor.get('serialization_format')!r} refused (skops only)")
    extra = set(flavor.get("skops_trusted_types") or []) - set(TRUSTED_TYPES)
    if extra:
        raise FatalError(f"{model_uri}: refuses to load types outside the trusted list: {sorted(extra)}")


def load_model(model_uri: str = f"models:/{MODEL_NAME}@{CHAMPION}"):
    """The sklearn model behind ``model_uri`` (default: the champion), loaded through MLflow with skops."""
    check_trusted(model_uri)
    return mlflow.sklearn.load_model(model_uri)


def log_model(model: Any, X_example: np.ndarray, *, tags: dict[str, str]) -> Any:
    """Log ``model`` (skops, signature inferred from ``X_example`` -> P(classes)) in the active run and register it
    as a new version of MODEL_NAME. Returns the ModelVersion."""
    import skops.io as sio
    from mlflow.models import infer_signature

    needed = set(sio.get_untrusted_types(data=sio.dumps(model)))
    if not needed <= set(TRUSTED_TYPES):
        raise FatalError(f"the model needs untrusted types {sorted(needed - set(TRUSTED_TYPES))}; not logging it")
    sig = infer_signature(X_example, model.predict_proba(X_example))
    info = mlflow.sklearn.log_model(
        model, name="model", signature=sig, input_example=None, pip_requirements=_pip_requirements(),
        serialization_format="skops", skops_trusted_types=sorted(needed), pyfunc_predict_fn="predict_proba",
        registered_model_name=MODEL_NAME,
    )
    client = MlflowClient()
    version = str(info.registered_model_version)
    for k, v in tags.items():
        client.set_model_version_tag(MODEL_NAME, version, k, v)
    return client.get_model_version(MODEL_NAME, version)


def set_alias(client: MlflowClient, alias: str, version: int | str) -> None:
    client.set_registered_model_alias(MODEL_NAME, alias, str(version))


def log_plots(model: Any, X: np.ndarray, y: np.ndarray, p: np.ndarray, feature_names: tuple[str, ...],
              *, seed: int = 0) -> dict[str, float]:
    """Calibration curve and permutation importances (held-out window, AUC drop) as run figures. Returns the
    importances by feature name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.inspection import permutation_importance

    frac, mean_p = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.plot(mean_p, frac, "o-", label="model (held-out window)")
    ax.set_xlabel("predicted P(success)")
    ax.set_ylabel("observed success rate")
    ax.legend()
    mlflow.log_figure(fig, "plots/calibration_curve.png")
    plt.close(fig)

    imp = permutation_importance(model, X, y, scoring="roc_auc", n_repeats=3, random_state=seed)
    order = np.argsort(imp.importances_mean)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.barh([feature_names[i] for i in order], imp.importances_mean[order], xerr=imp.importances_std[order])
    ax.set_xlabel("permutation importance (AUC drop, held-out window)")
    fig.tight_layout()
    mlflow.log_figure(fig, "plots/feature_importances.png")
    plt.close(fig)
    return {feature_names[i]: float(imp.importances_mean[i]) for i in range(len(feature_names))}
