"""What the report says, as data: one read-only snapshot of the warehouse for a period, plus the MLflow registry.

Money stays exact: every sum is computed by DuckDB in DECIMAL(38,18) and arrives as ``Decimal`` (through Arrow); it is
rounded only when rendered (:mod:`arb.report.render`). Rates and scores are floats.

Periods end at ``now`` (passed in, never read from a clock here): ``hourly`` is (now - 60 min, now], ``daily`` is
(now - 24 h, now], ``all`` is everything up to now. Executions fall in a period by ``filled_at``, decisions by
``decided_at``. A win is ``realized_profit > 0``; the success rate uses the executor's recorded ``success`` flag (today
the executors set it to the same rule, so the two rates agree until an executor defines success differently).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from arb.errors import BadInput
from arb.ml.scorer import model_version_label
from arb.settings import redact_url
from arb.warehouse.reader import DEFAULT_TIMEOUT, WarehouseNotFound, with_reader

PERIODS: dict[str, timedelta | None] = {"hourly": timedelta(minutes=60), "daily": timedelta(hours=24), "all": None}
ROLLING_WINDOW = 20  # executions in the rolling win rate
CALIBRATION_BINS = 10
NO_MODEL = "heuristic (no model)"
ZERO = Decimal(0)

# Numbers (with sign, thousands separators, decimals, exponents) and hex strings, but not digits inside identifiers
# such as ENV_NAME2 or f16.v1.
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)")


def normalise_reason(reason: str) -> str:
    """The reason with its numbers replaced by ``#`` so that reasons differing only in values group together:
    ``"net profit $0.76 < min profit $50.0"`` -> ``"net profit $# < min profit $#"``."""
    return " ".join(_NUMBER.sub("#", _HEX.sub("#", reason)).split())


def period_window(period: str, now: datetime) -> tuple[datetime | None, datetime]:
    """(start, end) of ``period`` ending at ``now`` (start excluded, end included; start None = no lower bound)."""
    if period not in PERIODS:
        raise BadInput("bad_period", f"unknown report period {period!r}; use one of: {', '.join(PERIODS)}")
    if now.tzinfo is None:
        raise BadInput("naive_now", "the report's `now` must be timezone-aware (UTC)")
    span = PERIODS[period]
    return (now - span if span is not None else None), now


# --- the registry ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryVersion:
    version: int
    label: str  # as decisions record it: arb-success-predictor/v3
    aliases: tuple[str, ...]
    test_auc: float | None
    test_brier: float | None
    created_at: datetime | None
    feature_version: str | None = None


@dataclass(frozen=True)
class Registry:
    tracking_uri: str  # for display (credentials redacted)
    versions: tuple[RegistryVersion, ...] = ()
    note: str | None = None  # why there is nothing to show (no store, no model, unreachable)


def _float_tag(tags: dict[str, str], name: str) -> float | None:
    try:
        return float(tags[name])
    except (KeyError, TypeError, ValueError):
        return None


def registry_versions(tracking_uri: str) -> Registry:
    """Every registered version of the success model with its held-out metrics and aliases. A missing sqlite store is
    reported in ``note`` (and not created); so is a store that cannot be read."""
    shown = tracking_uri if tracking_uri.startswith("sqlite:") else redact_url(tracking_uri)
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        if not db.is_file():
            return Registry(shown, note=f"no MLflow store at {db}: no model has been trained yet (`arb train`)")
    from arb.ml import registry as R  # mlflow stays inside arb.ml; imported only when there is a store to read

    try:
        client = R.MlflowClient(tracking_uri=tracking_uri)
        found = client.search_model_versions(f"name = '{R.MODEL_NAME}'")
        by_alias = R.aliases(client)
    except (R.MlflowException, OSError) as e:
        return Registry(shown, note=f"the MLflow store at {shown} could not be read: {type(e).__name__}: {e}")
    if not found:
        return Registry(shown, note=f"the MLflow store at {shown} has no version of {R.MODEL_NAME} yet")
    versions = []
    for v in sorted(found, key=lambda mv: int(mv.version), reverse=True):
        n = int(v.version)
        ts = getattr(v, "creation_timestamp", None)
        versions.append(RegistryVersion(
            version=n,
            label=model_version_label(n),
            aliases=tuple(sorted(a for a, num in by_alias.items() if num == n)),
            test_auc=_float_tag(v.tags, "test_auc"),
            test_brier=_float_tag(v.tags, "test_brier"),
            created_at=pd.Timestamp(ts, unit="ms", tz="UTC").to_pydatetime() if ts else None,
            feature_version=v.tags.get("feature_version"),
        ))
    return Registry(shown, tuple(versions))


# --- the warehouse ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    decisions: int = 0
    executed: int = 0  # decisions with action execute
    rejected: int = 0
    deferred: int = 0
    executions: int = 0
    wins: int = 0  # realized_profit > 0
    successes: int = 0  # the recorded success flag
    realized: Decimal = ZERO
    predicted: Decimal = ZERO
    gas: Decimal = ZERO
    fees: Decimal = ZERO
    statuses: dict[str, int] = field(default_factory=dict)
    first_fill: datetime | None = None
    last_fill: datetime | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.executions if self.executions else None

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.executions if self.executions else None

    @property
    def capture_ratio(self) -> Decimal | None:
        """Realized / predicted profit (None when nothing was predicted)."""
        return self.realized / self.predicted if self.predicted else None


@dataclass(frozen=True)
class ReportData:
    period: str
    now: datetime
    start: datetime | None
    warehouse: Path
    summary: Summary
    by_route: pd.DataFrame  # route_id + AGG_COLUMNS
    by_venue: pd.DataFrame  # buy_venue, sell_venue, kind, chain + AGG_COLUMNS
    by_chain: pd.DataFrame  # chain ("cex" for off-chain) + AGG_COLUMNS
    reasons: pd.DataFrame  # reason (normalised), count, share (of the decisions not executed)
    models: pd.DataFrame  # model_version, decisions, executed, executions, wins, realized
    executions: pd.DataFrame  # one row per execution in fill order, with cum_realized and rolling_win_rate
    calibration: pd.DataFrame  # predictor, bin_low, bin_high, n, mean_predicted, observed_rate
    registry: Registry
    warehouse_note: str | None = None  # set when there is no warehouse file yet

    @property
    def empty(self) -> bool:
        return self.summary.executions == 0


AGG_COLUMNS = ("executions", "wins", "successes", "realized", "predicted", "gas", "fees", "win_rate", "success_rate")
MONEY_COLUMNS = ("realized", "predicted", "gas", "fees")

_AGG_SQL = """
    count(*) AS executions,
    count(*) FILTER (WHERE realized_profit > 0) AS wins,
    count(*) FILTER (WHERE success) AS successes,
    COALESCE(sum(realized_profit), 0::DECIMAL(38,18)) AS realized,
    COALESCE(sum(predicted_profit), 0::DECIMAL(38,18)) AS predicted,
    COALESCE(sum(gas_cost), 0::DECIMAL(38,18)) AS gas,
    COALESCE(sum(fees), 0::DECIMAL(38,18)) AS fees
"""


def _window_sql(column: str, start: datetime | None) -> str:
    return f"{column} <= $now" + (f" AND {column} > $start" if start is not None else "")


def _exec_cte(start: datetime | None) -> str:
    """The executions of the period joined to their decisions (venues, kind, confidence, model p)."""
    return f"""
    WITH x AS (
        SELECT e.execution_id, e.route_id, e.filled_at, e.status, e.success, e.latency_ms,
               e.realized_profit, e.predicted_profit, e.gas_cost, e.fees,
               COALESCE(e.chain, d.chain, 'cex') AS chain,
               COALESCE(d.kind, 'unknown') AS kind,
               COALESCE(d.buy_venue, 'unknown') AS buy_venue,
               COALESCE(d.sell_venue, 'unknown') AS sell_venue,
               d.confidence, d.model_version,
               TRY_CAST(json_extract_string(d.factors, '$.ml_success') AS DOUBLE) AS model_p
        FROM executions e LEFT JOIN decisions d ON d.decision_id = e.decision_id
        WHERE {_window_sql("e.filled_at", start)}
    )
    """


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    return con.sql(sql, params=used).to_arrow_table().to_pandas()


def _with_rates(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    n = df["executions"].astype(float)
    df["win_rate"] = (df["wins"] / n).where(n > 0)
    df["success_rate"] = (df["successes"] / n).where(n > 0)
    return df


def calibration_bins(predicted: pd.Series, actual: pd.Series, *, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Equal-width bins over [0, 1]: how many, their mean prediction and their observed success rate (empty bins
    are left out)."""
    cols = ["bin_low", "bin_high", "n", "mean_predicted", "observed_rate"]
    ok = predicted.notna() & actual.notna()
    p = predicted[ok].astype(float).clip(0.0, 1.0).to_numpy()
    y = actual[ok].astype(float).to_numpy()
    if len(p) == 0:
        return pd.DataFrame(columns=cols)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        if m.any():
            rows.append((b / bins, (b + 1) / bins, int(m.sum()), float(p[m].mean()), float(y[m].mean())))
    return pd.DataFrame(rows, columns=cols)


def _query(con: duckdb.DuckDBPyConnection, start: datetime | None, now: datetime) -> dict[str, Any]:
    params = {"now": now, "start": start}
    cte = _exec_cte(start)
    out: dict[str, Any] = {}
    out["total"] = _df(con, cte + f"SELECT {_AGG_SQL}, min(filled_at) AS first_fill, max(filled_at) AS last_fill, "
                       "quantile_cont(latency_ms, 0.5) AS p50, quantile_cont(latency_ms, 0.95) AS p95 FROM x", params)
    out["statuses"] = _df(con, cte + "SELECT status, count(*) AS n FROM x GROUP BY status ORDER BY status", params)
    out["by_route"] = _df(con, cte + f"SELECT route_id, {_AGG_SQL} FROM x GROUP BY route_id "
                          "ORDER BY realized DESC, route_id", params)
    out["by_venue"] = _df(con, cte + f"SELECT buy_venue, sell_venue, kind, chain, {_AGG_SQL} FROM x "
                          "GROUP BY ALL ORDER BY realized DESC, buy_venue, sell_venue, kind, chain", params)
    out["by_chain"] = _df(con, cte + f"SELECT chain, {_AGG_SQL} FROM x GROUP BY chain "
                          "ORDER BY realized DESC, chain", params)
    out["executions"] = _df(con, cte + "SELECT execution_id, route_id, filled_at, status, success, latency_ms, "
                            "realized_profit, predicted_profit, chain, confidence, model_p, model_version FROM x "
                            "ORDER BY filled_at, execution_id", params)
    dwin = _window_sql("decided_at", start)
    out["decisions"] = _df(con, "SELECT count(*) AS decisions, count(*) FILTER (WHERE action = 'execute') AS executed, "
                           "count(*) FILTER (WHERE action = 'reject') AS rejected, "
                           f"count(*) FILTER (WHERE action = 'defer') AS deferred FROM decisions WHERE {dwin}", params)
    out["reasons"] = _df(con, "SELECT reason, count(*) AS n FROM (SELECT unnest(reasons) AS reason FROM decisions "
                         f"WHERE action <> 'execute' AND {dwin}) GROUP BY reason", params)
    out["models"] = _df(con, "SELECT d.model_version, count(DISTINCT d.decision_id) AS decisions, "
                        "count(DISTINCT d.decision_id) FILTER (WHERE d.action = 'execute') AS executed, "
                        "count(e.execution_id) AS executions, "
                        "count(e.execution_id) FILTER (WHERE e.realized_profit > 0) AS wins, "
                        "COALESCE(sum(e.realized_profit), 0::DECIMAL(38,18)) AS realized "
                        "FROM decisions d LEFT JOIN executions e ON e.decision_id = d.decision_id "
                        f"WHERE {_window_sql('d.decided_at', start)} GROUP BY d.model_version "
                        "ORDER BY decisions DESC, d.model_version NULLS LAST", params)
    return out


def _reasons(raw: pd.DataFrame, not_executed: int) -> pd.DataFrame:
    counts: Counter[str] = Counter()
    for reason, n in zip(raw["reason"], raw["n"], strict=True):
        counts[normalise_reason(str(reason))] += int(n)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    df = pd.DataFrame(rows, columns=["reason", "count"])
    df["share"] = df["count"] / not_executed if not_executed else np.nan
    return df


def _executions(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["win"] = pd.Series([p is not None and p > 0 for p in df["realized_profit"]], index=df.index, dtype=bool)
    running, cum = ZERO, []
    for p in df["realized_profit"]:
        running += p if p is not None else ZERO
        cum.append(running)
    df["cum_realized"] = pd.Series(cum, index=df.index, dtype=object)
    df["rolling_win_rate"] = df["win"].astype(float).rolling(ROLLING_WINDOW, min_periods=1).mean()
    df["cumulative_win_rate"] = df["win"].astype(float).expanding().mean()
    return df


def _summary(q: dict[str, Any]) -> Summary:
    t = q["total"].iloc[0]
    d = q["decisions"].iloc[0]

    def ts(v: Any) -> datetime | None:
        return None if v is None or pd.isna(v) else pd.Timestamp(v).to_pydatetime()

    def ms(v: Any) -> float | None:
        return None if v is None or pd.isna(v) else float(v)

    return Summary(
        decisions=int(d["decisions"]), executed=int(d["executed"]), rejected=int(d["rejected"]),
        deferred=int(d["deferred"]), executions=int(t["executions"]), wins=int(t["wins"]),
        successes=int(t["successes"]), realized=t["realized"], predicted=t["predicted"], gas=t["gas"], fees=t["fees"],
        statuses={str(s): int(n) for s, n in zip(q["statuses"]["status"], q["statuses"]["n"], strict=True)},
        first_fill=ts(t["first_fill"]), last_fill=ts(t["last_fill"]),
        latency_p50_ms=ms(t["p50"]), latency_p95_ms=ms(t["p95"]),
    )


def _calibration(ex: pd.DataFrame) -> pd.DataFrame:
    cols = ["predictor", "bin_low", "bin_high", "n", "mean_predicted", "observed_rate"]
    parts = [calibration_bins(ex[col], ex["win"]).assign(predictor=name)
             for name, col in (("confidence", "confidence"), ("model p", "model_p"))]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def _empty_frames() -> dict[str, pd.DataFrame]:
    agg = list(AGG_COLUMNS)
    return {
        "by_route": pd.DataFrame(columns=["route_id", *agg]),
        "by_venue": pd.DataFrame(columns=["buy_venue", "sell_venue", "kind", "chain", *agg]),
        "by_chain": pd.DataFrame(columns=["chain", *agg]),
        "reasons": pd.DataFrame(columns=["reason", "count", "share"]),
        "models": pd.DataFrame(columns=["model_version", "decisions", "executed", "executions", "wins", "realized"]),
        "executions": pd.DataFrame(columns=["execution_id", "route_id", "filled_at", "status", "success", "latency_ms",
                                            "realized_profit", "predicted_profit", "chain", "confidence", "model_p",
                                            "model_version", "win", "cum_realized", "rolling_win_rate",
                                            "cumulative_win_rate"]),
        "calibration": pd.DataFrame(columns=["predictor", "bin_low", "bin_high", "n", "mean_predicted",
                                             "observed_rate"]),
    }


def build_report_data(
    warehouse: str | Path,
    period: str,
    now: datetime,
    *,
    tracking_uri: str | None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ReportData:
    """Everything the report shows for ``period`` ending at ``now``, from one read-only warehouse snapshot (safe
    while the engine writes) and the registry at ``tracking_uri`` (None: leave the registry out). A missing
    warehouse file gives an empty report with ``warehouse_note`` set, not an error."""
    start, end = period_window(period, now)
    path = Path(warehouse)
    registry = (registry_versions(tracking_uri) if tracking_uri is not None
                else Registry("", note="the model registry was not queried"))
    try:
        q = with_reader(path, lambda con: _query(con, start, end), timeout=timeout)
    except WarehouseNotFound as e:
        return ReportData(period=period, now=end, start=start, warehouse=path, summary=Summary(), registry=registry,
                          warehouse_note=str(e), **_empty_frames())
    ex = _executions(q["executions"])
    models = q["models"].copy()
    models["model_version"] = models["model_version"].fillna(NO_MODEL).replace("none", NO_MODEL)
    summary = _summary(q)
    return ReportData(
        period=period, now=end, start=start, warehouse=path, summary=summary,
        by_route=_with_rates(q["by_route"]), by_venue=_with_rates(q["by_venue"]), by_chain=_with_rates(q["by_chain"]),
        reasons=_reasons(q["reasons"], summary.rejected + summary.deferred), models=models,
        executions=ex, calibration=_calibration(ex), registry=registry,
    )
