"""Training data: executions (+ the feature vector stored with their decision) -> X, y, time, no look-ahead.

Two sources give the same :class:`Dataset`:

- the warehouse (``from_warehouse``): every execution LEFT JOINed to its decision. The decision's stored
  ``features`` vector (``FEATURE_VERSION``) is used as-is, so training sees exactly what the scorer saw. Rows whose
  decision has no vector (or another feature version) get derived features (below). Read-only, with the reader's
  lock retries, so it runs safely while the engine writes.
- a history file (``from_file``): Parquet, CSV or DuckDB holding the ExecutionRecord fields (``timestamp, symbol,
  edge_bps, predicted_profit, actual_profit, success, gas_cost, slippage_bps, route_id, chain``) and optionally
  ``features`` (a list column, or the 16 columns named as in ``FEATURE_NAMES``). Pickle files are refused:
  unpickling an untrusted file runs arbitrary code.

Derived features (when no stored vector exists), using only what was known *before* each execution:

- ``net_edge_bps`` = ``edge_bps``; ``log_net_profit_usd`` = slog(``predicted_profit``) (the predicted net profit);
- ``on_chain`` = 1 when ``chain`` is set; kind one-hot: ``flash_loan`` when on-chain, else ``cex_arb`` (an assumption:
  aqua is not distinguishable from an ExecutionRecord);
- ``route_success_ema``, ``route_capture_ema``, ``route_log_executions``: the route-history EMAs
  (``arb.decide.history.update_route``) over the *earlier* executions of the same route, in time order;
- everything else takes the feature table's documented default (data age 0, vol -1, ratios 10/0, depth 0, ...).
  Realized values (``actual_profit``, ``slippage_bps``, ``gas_cost``) are never features: they are outcomes.

Time: ``t`` is the execution's fill time (when the outcome became known). ``time_split`` trains on everything strictly
before the cut and evaluates on the most recent window, so no training sample is later than any held-out sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from arb.decide.features import FEATURE_NAMES, FEATURE_VERSION, RATIO_CLIP, VOL_MISSING
from arb.decide.history import PRIOR_CAPTURE, PRIOR_SUCCESS, RouteStats, update_route
from arb.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill")
RECORD_FIELDS = ("timestamp", "symbol", "edge_bps", "predicted_profit", "actual_profit", "success", "gas_cost",
                 "slippage_bps", "route_id", "chain")

WAREHOUSE_SQL = """
SELECT e.filled_at AS timestamp, e.symbol, e.edge_bps, e.predicted_profit, e.realized_profit AS actual_profit,
       e.success, e.gas_cost, e.slippage_bps, e.route_id, e.chain, d.features, d.feature_version, d.confidence
FROM executions e LEFT JOIN decisions d ON d.decision_id = e.decision_id
WHERE e.filled_at IS NOT NULL
ORDER BY e.filled_at, e.execution_id
"""


@dataclass(frozen=True)
class Watermark:
    """What a trained version has seen: the number of executions and the newest fill time."""

    n_executions: int
    last_filled_at: str  # ISO 8601, "" when empty

    def as_tags(self) -> dict[str, str]:
        return {"watermark.n_executions": str(self.n_executions), "watermark.last_filled_at": self.last_filled_at}


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray  # (n, 16) float64, FEATURE_NAMES order
    y: np.ndarray  # (n,) int 0/1: the execution was profitable
    t: np.ndarray  # (n,) datetime64[us] UTC fill times, non-decreasing
    profit: np.ndarray  # (n,) realized profit USD (float; for the EV's conditional means only, never a feature)
    heuristic: np.ndarray  # (n,) the decision's heuristic confidence, NaN when unknown
    n_derived: int  # rows whose features were derived rather than stored
    source: str
    feature_names: tuple[str, ...] = FEATURE_NAMES
    feature_version: str = FEATURE_VERSION

    def __len__(self) -> int:
        return len(self.y)

    @property
    def watermark(self) -> Watermark:
        last = "" if len(self.t) == 0 else str(np.datetime_as_string(self.t.max(), unit="us")) + "Z"
        return Watermark(len(self.y), last)

    def subset(self, idx: np.ndarray) -> Dataset:
        return replace(self, X=self.X[idx], y=self.y[idx], t=self.t[idx], profit=self.profit[idx],
                       heuristic=self.heuristic[idx])


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # indices
    test: np.ndarray
    cut: np.datetime64  # train: t < cut; test: t >= cut


def time_split(ds: Dataset, holdout: float | int) -> Split:
    """Train on the past, test on the most recent window; never shuffled. ``holdout`` is a fraction (0 < h < 1) or a
    count. Samples sharing the cut timestamp all go to the test side, so max(train t) < min(test t)."""
    n = len(ds)
    k = int(round(n * holdout)) if isinstance(holdout, float) and holdout < 1 else int(holdout)
    if n < 2 or not 0 < k < n:
        raise BadInput(f"cannot hold out {holdout!r} of {n} samples")
    order = np.argsort(ds.t, kind="stable")
    cut = ds.t[order[n - k]]
    train = order[ds.t[order] < cut]
    test = order[ds.t[order] >= cut]
    if len(train) == 0:
        raise BadInput("every sample shares the cut timestamp: no past to train on")
    return Split(train=train, test=test, cut=cut)


def _f(x: Any, default: float = 0.0) -> float:
    if x is None:
        return default
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(v) or math.isinf(v) else v


def _slog(x: float) -> float:
    return math.copysign(math.log1p(abs(x)), x)


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _derived(row: dict[str, Any], route: RouteStats | None) -> list[float]:
    on_chain = not _is_missing(row.get("chain")) and row.get("chain") != ""
    vec = {
        "net_edge_bps": _f(row.get("edge_bps")),
        "gross_edge_bps": 0.0,
        "log_net_profit_usd": _slog(_f(row.get("predicted_profit"))),
        "fee_ratio": RATIO_CLIP,
        "gas_ratio": 0.0,
        "log_notional_usd": 0.0,
        "log_depth_ratio": 0.0,
        "data_age_s": 0.0,
        "vol_bps": VOL_MISSING,
        "kind_cex_arb": 0.0 if on_chain else 1.0,
        "kind_flash_loan": 1.0 if on_chain else 0.0,
        "kind_aqua": 0.0,
        "route_success_ema": route.success_ema if route else PRIOR_SUCCESS,
        "route_capture_ema": route.capture_ratio_ema if route else PRIOR_CAPTURE,
        "route_log_executions": math.log1p(route.n_executions) if route else 0.0,
        "on_chain": 1.0 if on_chain else 0.0,
    }
    return [vec[name] for name in FEATURE_NAMES]


def _stored(v: Any) -> list[float] | None:
    if v is None or isinstance(v, float | str):
        return None
    try:
        vals = [float(x) for x in v]
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == len(FEATURE_NAMES) else None


def build(df: pd.DataFrame, source: str) -> Dataset:
    """``df`` has the ExecutionRecord fields (+ optional ``features`` / ``feature_version`` / ``confidence``)."""
    import pandas as pd

    from arb.domain import ExecutionRecord

    missing = [c for c in ("timestamp", "success", "edge_bps", "predicted_profit", "actual_profit", "route_id")
               if c not in df.columns]
    if missing:
        raise BadInput(f"{source}: missing columns {missing} (need the ExecutionRecord fields {list(RECORD_FIELDS)})")
    if "features" not in df.columns and all(n in df.columns for n in FEATURE_NAMES):
        df = df.assign(features=df[list(FEATURE_NAMES)].to_numpy(dtype=float).tolist())
    ts = pd.to_datetime(df["timestamp"], utc=True)
    df = df.assign(_t=ts).sort_values("_t", kind="stable").reset_index(drop=True)
    routes: dict[str, RouteStats] = {}
    X, y, profit, conf = [], [], [], []
    n_derived = 0
    for row in df.to_dict("records"):
        stored = _stored(row.get("features"))
        fv = row.get("feature_version")
        if stored is not None and (_is_missing(fv) or fv == FEATURE_VERSION):
            X.append(stored)
        else:
            X.append(_derived(row, routes.get(row["route_id"])))
            n_derived += 1
        success = bool(row["success"])
        y.append(int(success))
        profit.append(_f(row.get("actual_profit")))
        conf.append(_f(row.get("confidence"), math.nan))
        # route state AFTER this execution: used only by later rows
        rec = ExecutionRecord(
            timestamp=row["_t"].to_pydatetime(), symbol=str(row.get("symbol") or ""),
            edge_bps=Decimal(str(_f(row.get("edge_bps")))), predicted_profit=Decimal(str(_f(row["predicted_profit"]))),
            actual_profit=Decimal(str(_f(row["actual_profit"]))), success=success,
            gas_cost=Decimal(str(_f(row.get("gas_cost")))), slippage_bps=Decimal(str(_f(row.get("slippage_bps")))),
            route_id=str(row["route_id"]), chain=None,
        )
        prev = routes.get(rec.route_id) or RouteStats(route_id=rec.route_id)
        routes[rec.route_id] = update_route(prev, rec)
    t = df["_t"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    Xa = np.nan_to_num(np.asarray(X, dtype=float).reshape(-1, len(FEATURE_NAMES)), nan=0.0, posinf=1e12,
                       neginf=-1e12)
    return Dataset(X=Xa, y=np.asarray(y, dtype=int), t=t, profit=np.asarray(profit, dtype=float),
                   heuristic=np.asarray(conf, dtype=float), n_derived=n_derived, source=source)


def from_warehouse(path: str | Path, *, timeout: float = 30.0) -> Dataset:
    """All executions in the warehouse (read-only; safe while the engine writes)."""
    from arb.warehouse.reader import read_df

    return build(read_df(path, WAREHOUSE_SQL, timeout=timeout), f"warehouse:{path}")


def refuse_pickle(path: str | Path) -> None:
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        raise BadInput(
            f"refusing {path}: pickle files are not accepted, because unpickling an untrusted file runs arbitrary "
            "code on this machine. Export the history as Parquet, CSV or DuckDB instead."
        )


def read_history(path: str | Path) -> pd.DataFrame:
    """An execution history file as a DataFrame (Parquet, CSV, or a DuckDB file with a warehouse or a table named
    ``executions``/``execution_history``)."""
    import pandas as pd

    p = Path(path)
    refuse_pickle(p)
    if not p.is_file():
        raise BadInput(f"no such file: {p}")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(p)
    if suffix == ".csv":
        df = pd.read_csv(p)
        if "features" in df.columns:  # a JSON/Python list rendered as text
            import json

            df["features"] = [json.loads(v) if isinstance(v, str) else None for v in df["features"]]
        return df
    if suffix in (".duckdb", ".db"):
        from arb.warehouse.reader import read_df, read_query

        tables = {r[0] for r in read_query(p, "SELECT table_name FROM information_schema.tables")}
        if {"executions", "decisions"} <= tables:
            return read_df(p, WAREHOUSE_SQL)
        for name in ("execution_history", "executions"):
            if name in tables:
                return read_df(p, f"SELECT * FROM {name}")
        raise BadInput(f"{p}: no executions/execution_history table (found {sorted(tables)})")
    raise BadInput(f"{p}: unsupported format {suffix!r}; use .parquet, .csv or .duckdb")


def from_file(path: str | Path) -> Dataset:
    return build(read_history(path), f"file:{path}")


def as_of(ds: Dataset, when: datetime) -> Dataset:
    """Only the samples filled before ``when`` (what a retrain at that moment could have seen)."""
    return ds.subset(np.flatnonzero(ds.t < np.datetime64(when.replace(tzinfo=None), "us")))
