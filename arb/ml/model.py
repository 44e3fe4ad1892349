"""Fit, calibrate and evaluate the execution-success classifier; the risk-adjusted expected value.

- ``fit``: a HistGradientBoostingClassifier on the older part of the training window, then a sigmoid (Platt)
  calibration on its most recent part (``calib_fraction``), both in time order. The result is a
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
    """``X``/``y`` in time order (oldest first). Raises ValueError when a part lacks one of the two classes."""
    n = len(y)
    k = max(int(n * calib_fraction), 1)
    Xf, yf, Xc, yc = X[: n - k], y[: n - k], X[n - k:], y[n - k:]
    if len(set(yf.tolist())) < 2 or len(set(yc.tolist())) < 2:
        raise ValueError("both classes (success and failure) are needed in the fit and the calibration windows")
    hgb = HistGradientBoostingClassifier(random_state=seed, **{**DEFAULT_PARAMS, **(params or {})})
    hgb.fit(Xf, yf)
    return CalibratedClassifierCV(FrozenEstimator(hgb), method="sigmoid").fit(Xc, yc)


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


def gate(new: dict[str, float], champion: dict[str, float] | None, *, min_auc_gain: float = 0.0) -> GateDecision:
    """Promote only a model that beats the champion on the SAME held-out window: a higher AUC (by more than
    ``min_auc_gain``) and a Brier score no worse. Without a champion it must still beat a constant (AUC > 0.5)."""
    if champion is None:
        if new["auc"] > 0.5:
            return GateDecision(True, f"no champion; AUC {new['auc']:.4f} beats the constant baseline (0.5)")
        return GateDecision(False, f"no champion, but AUC {new['auc']:.4f} does not beat a constant (0.5)")
    if new["auc"] > champion["auc"] + min_auc_gain and new["brier"] <= champion["brier"]:
        return GateDecision(True, f"AUC {new['auc']:.4f} > champion {champion['auc']:.4f} and Brier "
                                  f"{new['brier']:.4f} <= {champion['brier']:.4f} on the same window")
    return GateDecision(False, f"AUC {new['auc']:.4f} vs champion {champion['auc']:.4f}, Brier {new['brier']:.4f} vs "
                               f"{champion['brier']:.4f} on the same window: not better")
