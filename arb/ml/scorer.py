"""The learned scorer: the champion's calibrated P(success) and risk-adjusted EV behind the ``Scorer`` interface.

``MLScorer(heuristic, loader, ...)`` wraps the heuristic scorer:

- **No champion** (``loader.current()`` is None): the heuristic ``Score`` unchanged (``model_version`` None, shown
  as ``none``).
- **Champion** ``(version, model)``: the heuristic's factors plus

  ==========  ==============================================================================  ======================
  factor      meaning                                                                         weight in confidence
  ==========  ==============================================================================  ======================
  ml_success  calibrated p = ``model.predict_proba([features(opp, ctx)])[0, 1]``               ``ML_WEIGHT`` (0.35)
  ml_ev       0.5 * (1 + tanh(EV / ``ev_scale_usd``)): the EV bounded to (0, 1); 0.5 = zero EV  0 (recorded only)
  ==========  ==============================================================================  ======================

  where EV = p * E[profit | success] - (1 - p) * E[loss | failure] (USD; ``arb.ml.model.risk_adjusted_ev``) with the
  means of the champion's training window (``model.outcome_stats``, an ``arb.ml.model.OutcomeStats``; without them
  there is no EV and no ``ml_ev`` factor). The heuristic weights are rescaled to sum to ``1 - ML_WEIGHT``, so the
  confidence is still a weighted mean of [0, 1] factors and stays in [0, 1]. The returned ``MLScore`` (a ``Score``)
  also carries ``p`` and the unbounded ``ev_usd``; ``model_version`` is ``"arb-success-predictor/v<N>"``.
- **Failure** (the loader raises, predict raises, or p is NaN/inf/outside [0, 1]): the heuristic ``Score``
  (``model_version`` None) and ``alert(kind, message)`` once per distinct failure; never an exception.

The loader is asked at most every ``reload_seconds`` (``clock`` is injectable: source or wall time), so a new
champion is picked up by the running engine without a restart. ``MlflowChampionLoader`` resolves the ``champion``
alias and loads a version only when the alias moves. Importing this module imports neither mlflow nor sklearn: the
MLflow loader reads the alias straight from the sqlite registry and imports mlflow only once a champion exists.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from arb.decide.features import FEATURE_VERSION, features
from arb.decide.scoring import Score, ScoreContext, Scorer
from arb.domain import Opportunity

log = logging.getLogger(__name__)

MODEL_NAME = "arb-success-predictor"  # == arb.ml.registry.MODEL_NAME (not imported: it imports mlflow)
CHAMPION = "champion"
ML_WEIGHT = 0.35
DEFAULT_EV_SCALE_USD = 50.0

Alert = Callable[[str, str], None]


class ModelLoader(Protocol):
    def current(self) -> tuple[int, Any] | None:
        """The champion as ``(version, model)`` (``model.predict_proba``), or None when there is none yet."""
        ...


@dataclass(frozen=True)
class MLScore(Score):
    p: float | None = None  # the calibrated P(success)
    ev_usd: float | None = None  # risk-adjusted EV in USD (None without outcome stats)


def model_version_label(version: int | str) -> str:
    return f"{MODEL_NAME}/v{version}"


class MLScorer:
    """See the module docstring. Not thread-safe: one detection loop calls ``score``."""

    def __init__(self, heuristic: Scorer, loader: ModelLoader, *, reload_seconds: float = 30.0,
                 clock: Callable[[], float], alert: Alert | None = None, ml_weight: float = ML_WEIGHT,
                 ev_scale_usd: float = DEFAULT_EV_SCALE_USD, background: bool = False) -> None:
        if not 0.0 <= ml_weight <= 1.0:
            raise ValueError(f"ml_weight must be in [0, 1]; got {ml_weight}")
        self.heuristic = heuristic
        self.loader = loader
        self.reload_seconds = reload_seconds
        self.clock = clock
        self.alert = alert
        self.ml_weight = ml_weight
        self.ev_scale_usd = ev_scale_usd
        self.ml_enabled = True
        self._current: tuple[int, Any] | None = None
        self._checked_at: float | None = None
        self._alerted: set[tuple[str, str]] = set()
        # background=True (the engine): the champion is checked and loaded in a helper thread and swapped in at the
        # next call, so loading a new version (seconds: MLflow + skops) never stalls the detection loop; until the
        # first load completes the heuristic decides (model_version none).
        self.background = background
        self._loading: threading.Thread | None = None
        self._pending: tuple[str, Any] | None = None

    # ---- the champion ----
    @property
    def model_trained(self) -> bool:
        """A champion is loaded (as of the last check)."""
        return self._current is not None

    @property
    def version(self) -> int | None:
        return self._current[0] if self._current is not None else None

    def refresh(self, *, force: bool = False) -> None:
        if self.background:
            self._swap_in()
        now = self.clock()
        if not force and self._checked_at is not None and now - self._checked_at < self.reload_seconds:
            return
        self._checked_at = now
        if self.background:
            if self._loading is None or not self._loading.is_alive():
                self._loading = threading.Thread(target=self._load_in_background, name="ml-champion-loader",
                                                 daemon=True)
                self._loading.start()
            return
        try:
            cur = self.loader.current()
        except Exception as e:  # noqa: BLE001 - a broken registry must never stop the engine
            self._apply(("error", e))
            return
        self._apply(("ok", cur))

    def _load_in_background(self) -> None:
        try:
            self._pending = ("ok", self.loader.current())
        except Exception as e:  # noqa: BLE001 - reported by the loop thread at its next call
            self._pending = ("error", e)

    def _swap_in(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self._apply(pending)

    def wait_loaded(self, timeout: float | None = None) -> None:
        """Wait for a background load in progress and swap its result in (tests, start-up)."""
        t = self._loading
        if t is not None:
            t.join(timeout)
        self._swap_in()

    def _apply(self, result: tuple[str, Any]) -> None:
        kind, value = result
        if kind == "error":
            self._current = None
            self._fail("ml_model_load_failed", f"loading the champion failed ({type(value).__name__}: {value}); "
                                               "scoring with the heuristic")
            return
        if value is not None and (self._current is None or value[0] != self._current[0]):
            log.info("ml champion loaded", extra={"model_version": model_version_label(value[0])})
        self._current = value

    def _fail(self, kind: str, message: str) -> None:
        key = (kind, message)
        if key in self._alerted:
            return
        self._alerted.add(key)
        log.warning(message, extra={"alert_kind": kind})
        if self.alert is not None:
            try:
                self.alert(kind, message)
            except Exception:  # noqa: BLE001 - alerting is best effort
                log.exception("alert failed")

    # ---- scoring ----
    def score(self, opp: Opportunity, ctx: ScoreContext) -> Score:
        return self.score_many([(opp, ctx)])[0]

    def score_many(self, items: Sequence[tuple[Opportunity, ScoreContext]]) -> list[Score]:
        """Score a batch with ONE ``predict_proba`` call: sklearn's fixed cost per call (~1.8 ms) dominates a single
        row, so a batch of 200 costs about as much as 2 single calls (bench/ml_bench.py)."""
        self.refresh()
        bases = [self.heuristic.score(opp, ctx) for opp, ctx in items]
        if self._current is None or not items:
            return bases
        version, model = self._current
        label = model_version_label(version)
        vecs = [b.features if b.feature_version == FEATURE_VERSION and b.features else features(o, c)
                for b, (o, c) in zip(bases, items, strict=True)]
        try:
            probs = [float(row[1]) for row in model.predict_proba([list(v) for v in vecs])]
        except Exception as e:  # noqa: BLE001
            self._fail("ml_predict_failed", f"{label}: predict failed ({type(e).__name__}: {e}); "
                                            "scoring with the heuristic")
            return bases
        out: list[Score] = []
        for base, vec, p in zip(bases, vecs, probs, strict=True):
            if not math.isfinite(p) or not 0.0 <= p <= 1.0:
                self._fail("ml_predict_invalid", f"{label}: predicted P(success) {p!r} is not a probability; "
                                                 "scoring with the heuristic")
                out.append(base)
            else:
                out.append(self._combine(base, vec, p, label, model))
        return out

    def _combine(self, base: Score, vec: Sequence[float], p: float, label: str, model: Any) -> Score:
        factors = dict(base.factors)
        total = sum(base.weights.get(k, 0.0) for k in base.factors)
        scale = (1.0 - self.ml_weight) / total if total > 0 else 0.0
        weights = {k: base.weights.get(k, 0.0) * scale for k in base.factors}
        factors["ml_success"] = p
        weights["ml_success"] = self.ml_weight if total > 0 else 1.0
        ev = self._ev(model, p)
        if ev is not None:
            factors["ml_ev"] = 0.5 * (1.0 + math.tanh(ev / self.ev_scale_usd))
            weights["ml_ev"] = 0.0
        wsum = sum(weights.values())
        conf = sum(factors[k] * weights[k] for k in factors) / wsum if wsum > 0 else 0.0
        return MLScore(
            confidence=min(max(conf, 0.0), 1.0),
            factors=factors,
            weights=weights,
            model_version=label,
            features=tuple(vec),
            feature_version=FEATURE_VERSION,
            p=p,
            ev_usd=ev,
        )

    @staticmethod
    def _ev(model: Any, p: float) -> float | None:
        stats = getattr(model, "outcome_stats", None)
        if stats is None:
            return None
        try:
            win = float(stats.mean_profit_if_success)
            loss = float(stats.mean_loss_if_failure)
        except (AttributeError, TypeError, ValueError):
            return None
        ev = p * win - (1 - p) * loss  # arb.ml.model.risk_adjusted_ev
        return ev if math.isfinite(ev) else None


# ---- the MLflow champion loader ----
@dataclass(frozen=True)
class OutcomeMeans:
    """The two means of ``arb.ml.model.OutcomeStats`` (that module imports sklearn)."""

    mean_profit_if_success: float
    mean_loss_if_failure: float


class ChampionModel:
    """A loaded champion: its sklearn estimator plus the outcome means stored with the version."""

    def __init__(self, estimator: Any, outcome_stats: OutcomeMeans | None) -> None:
        self.estimator = estimator
        self.outcome_stats = outcome_stats

    def predict_proba(self, X: Any) -> Any:
        return self.estimator.predict_proba(X)


def _sqlite_path(tracking_uri: str) -> Path | None:
    return Path(tracking_uri.removeprefix("sqlite:///")) if tracking_uri.startswith("sqlite:///") else None


class MlflowChampionLoader:
    """``models:/arb-success-predictor@champion`` from the MLflow registry at ``tracking_uri``.

    ``current()`` resolves the alias (for sqlite: one query on the registry file, no mlflow import; no file or no
    registry tables means no champion) and loads the version through ``arb.ml.registry.load_model`` (skops, trusted
    types checked) only when the alias points at a new version. A champion trained on another feature version is
    refused (an error, so the scorer alerts and falls back).
    """

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._loaded: tuple[int, ChampionModel] | None = None

    def champion_version(self) -> int | None:
        db = _sqlite_path(self.tracking_uri)
        if db is not None:
            if not db.is_file():
                return None
            con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
            try:
                rows = con.execute("select version from registered_model_aliases where name = ? and alias = ?",
                                   (MODEL_NAME, CHAMPION)).fetchall()
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    return None
                raise
            finally:
                con.close()
            if len(rows) <= 1:
                return int(rows[0][0]) if rows else None
        from arb.ml import registry as R  # several workspaces or another store: ask MLflow

        client, _ = R.configure(self.tracking_uri)
        return R.aliases(client).get(R.CHAMPION)

    def current(self) -> tuple[int, ChampionModel] | None:
        version = self.champion_version()
        if version is None:
            self._loaded = None
            return None
        if self._loaded is None or self._loaded[0] != version:
            self._loaded = (version, self._load(version))
        return self._loaded

    def _load(self, version: int) -> ChampionModel:
        import mlflow

        from arb.ml import registry as R

        mlflow.set_tracking_uri(self.tracking_uri)
        info = R.version_info(R.MlflowClient(tracking_uri=self.tracking_uri), version)
        fv = info.tags.get("feature_version")
        if fv != FEATURE_VERSION:
            raise ValueError(f"champion v{version} was trained on feature version {fv!r}, the engine computes "
                             f"{FEATURE_VERSION!r}")
        outcome = None
        if info.tags.get("outcome_stats"):
            d = json.loads(info.tags["outcome_stats"])
            outcome = OutcomeMeans(float(d["mean_profit_if_success"]), float(d["mean_loss_if_failure"]))
        estimator = R.load_model(f"models:/{R.MODEL_NAME}/{version}")
        return ChampionModel(estimator, outcome)
