"""Fit, calibrate and evaluate the execution-success classifier; the risk-adjusted expected value.

- ``fit``: a HistGradientBoostingClassifier on the older part of the training window, then a sigmoid (Platt)
  calibration on its most recent part (``calib_fraction``), both in time order (small windows lacking a class in
  either part: cross-validated calibration, see ``fit``). The result is a
  ``CalibratedClassifierCV(FrozenEstimator(hgb))``: ``predict_proba(X)[:, 1]`` is the calibrated P(success).
- ``OutcomeStats``: E[profit | success] and E[loss | failure] (USD, loss >= 0), means over the training window.
- ``risk_adjusted_ev(p, profit_if_success, loss_if_failure) = p * profit - (1 - p) * loss``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

DEFAULT_PARAMS: dict[str, float | int] = {
    "max_iter": 200,
    "learning_rate": 0.05,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
}


@dataclass(frozen=True)
class OutcomeStats:
    mean_profit_if_success: float
    mean_loss_if_failure: float  # >= 0

    @classmethod
    def from_training(cls, y: np.ndarray, profit: np.ndarray) -> OutcomeStats:
        win = profit[y == 1]
        lose = profit[y == 0]
        return cls(float(win.mean()) if len(win) else 0.0, float(max(-lose.mean(), 0.0)) if len(lose) else 0.0)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def risk_adjusted_ev(p, profit_if_success, loss_if_failure):
    """p * E[profit | success] - (1 - p) * E[loss | failure]; works on floats or numpy arrays."""
    return p * profit_if_success - (1 - p) * loss_if_failure


def fit(X: np.ndarray, y: np.ndarray, *, calib_fraction: float = 0.2, seed: int = 0,
        params: dict | None = None) -> CalibratedClassifierCV:
    """``X``/``y`` in time order (oldest first). Raises ValueError when a class has fewer than 2 samples.

    Small windows: when the fit or the calibration window lacks a class (e.g. 25 executions with 4 failures), the
    sigmoid calibration is cross-validated instead (``cv`` = min(3, minority count) stratified folds, within the
    training window only: the held-out test window stays strictly later)."""
    n = len(y)
    k = max(int(n * calib_fraction), 1)
    Xf, yf, Xc, yc = X[: n - k], y[: n - k], X[n - k:], y[n - k:]
    hgb = HistGradientBoostingClassifier(random_state=seed, **{**DEFAULT_PARAMS, **(params or {})})
    calib_minority = int(np.bincount(np.asarray(yc, dtype=int), minlength=2).min())
    if len(set(yf.tolist())) == 2 and calib_minority >= 2:
        hgb.fit(Xf, yf)
        # the sigmoid is fitted per stratified fold of the calibration window: at most 5, and at most as many as the
        # rarer class has samples there (a small window)
        return CalibratedClassifierCV(FrozenEstimator(hgb), method="sigmoid",
                                      cv=min(5, calib_minority)).fit(Xc, yc)
    minority = int(np.bincount(np.asarray(y, dtype=int), minlength=2).min())
    if minority < 2:
        raise ValueError(f"both classes (success and failure) are needed, at least 2 of each; the training window "
                         f"has {minority} of the rarer one")
    return CalibratedClassifierCV(hgb, method="sigmoid", cv=min(3, minority)).fit(X, y)


def proba(model, X: np.ndarray) -> np.ndarray:
    return model.predict_proba(X)[:, 1]


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC (0.5 when the window has one class only), Brier score and log loss on a window."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    auc = float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else 0.5
    return {"auc": auc, "brier": float(brier_score_loss(y, p)), "log_loss": float(log_loss(y, p, labels=[0, 1]))}


def constant_baseline(y_train: np.ndarray, n: int) -> np.ndarray:
    """The base rate of the training window, predicted for every held-out sample."""
    return np.full(n, float(y_train.mean()))


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


MIN_TEST_FOR_PROMOTION = 10


def gate(new: dict[str, float], champion: dict[str, float] | None, *, min_auc_gain: float = 0.0,
         n_test: int | None = None) -> GateDecision:
    """Promote only a model that beats the champion on the SAME held-out window: a higher AUC (by more than
    ``min_auc_gain``) and a Brier score no worse. Without a champion it must still beat a constant (AUC > 0.5). A
    held-out window of fewer than MIN_TEST_FOR_PROMOTION (10) executions is not evidence enough: challenger."""
    if n_test is not None and n_test < MIN_TEST_FOR_PROMOTION:
        return GateDecision(False, f"only {n_test} held-out executions; promotion needs at least "
                                   f"{MIN_TEST_FOR_PROMOTION} (AUC {new['auc']:.4f}, Brier {new['brier']:.4f})")
    if champion is None:
        if new["auc"] > 0.5:
            return GateDecision(True, f"no champion; AUC {new['auc']:.4f} beats the constant baseline (0.5)")
        return GateDecision(False, f"no champion, but AUC {new['auc']:.4f} does not beat a constant (0.5)")
    if new["auc"] > champion["auc"] + min_auc_gain and new["brier"] <= champion["brier"]:
        return GateDecision(True, f"AUC {new['auc']:.4f} > champion {champion['auc']:.4f} and Brier "
                                  f"{new['brier']:.4f} <= {champion['brier']:.4f} on the same window")
    return GateDecision(False, f"AUC {new['auc']:.4f} vs champion {champion['auc']:.4f}, Brier {new['brier']:.4f} vs "
                               f"{champion['brier']:.4f} on the same window: not better")
