"""Domain objects -> warehouse rows, validated and normalised at the moment they are accepted.

Everything that could make a flush fail (a NaN in a JSON factor, a Decimal too large for its column, a wei amount
beyond HUGEINT) is rejected here with :class:`~arb.errors.BadInput`, so a bad row never enters the writer's buffer and
can never poison a batch.

Money and amounts are ``DECIMAL(38,18)``: 20 integer digits and 18 fractional digits, the resolution of wei. A value
with more fractional digits (a VWAP such as ``1/3``) is rounded half-even at 1e-18: the only rounding done here.
Basis points are ``DECIMAL(20,6)``. Wei amounts are ``HUGEINT`` (|x| < 2**127); they travel as decimal strings because
Arrow has no 128-bit integer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, Protocol

import pyarrow as pa

from arb.domain import Decision, Execution, Opportunity
from arb.errors import BadInput

# --- column kinds: how a Python value becomes an Arrow value and then a SQL value -------------------------------------

MONEY = "money"  # DECIMAL(38,18)
BPS = "bps"  # DECIMAL(20,6)
WEI = "wei"  # HUGEINT, carried as VARCHAR
TS = "ts"  # TIMESTAMPTZ
DATE = "date"
STR = "str"
JSON_ = "json"  # JSON, carried as VARCHAR
BOOL = "bool"
I64 = "i64"
F64 = "f64"
STRS = "str[]"
F64S = "f64[]"

ARROW_TYPES: dict[str, pa.DataType] = {
    MONEY: pa.decimal128(38, 18),
    BPS: pa.decimal128(20, 6),
    WEI: pa.string(),
    TS: pa.timestamp("us", tz="UTC"),
    DATE: pa.date32(),
    STR: pa.string(),
    JSON_: pa.string(),
    BOOL: pa.bool_(),
    I64: pa.int64(),
    F64: pa.float64(),
    STRS: pa.list_(pa.string()),
    F64S: pa.list_(pa.float64()),
}

SQL_CASTS: dict[str, str] = {WEI: "HUGEINT", JSON_: "JSON"}

_MONEY_Q = Decimal("1e-18")
_BPS_Q = Decimal("1e-6")
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)
_HUGEINT_MAX = 2**127 - 1


@dataclass(frozen=True)
class TableSpec:
    """How buffered rows of one table are inserted: column order, kinds, and the conflict key."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, kind)
    key: tuple[str, ...]
    upsert: bool  # True: last value wins (ON CONFLICT DO UPDATE); False: first value wins (DO NOTHING)

    def arrow_table(self, rows: list[dict[str, Any]]) -> pa.Table:
        return pa.table({c: pa.array([r[c] for r in rows], ARROW_TYPES[k]) for c, k in self.columns})

    def insert_sql(self, source: str) -> str:
        q = [f'"{c}"' for c, _ in self.columns]  # quoted: some names ("at") are keywords
        exprs = ", ".join(f'CAST("{c}" AS {SQL_CASTS[k]})' if k in SQL_CASTS else f'"{c}"' for c, k in self.columns)
        keys = ", ".join(f'"{c}"' for c in self.key)
        sql = f"INSERT INTO {self.name} ({', '.join(q)}) SELECT {exprs} FROM {source} ON CONFLICT ({keys}) "
        if not self.upsert:
            return sql + "DO NOTHING"
        sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c, _ in self.columns if c not in self.key)
        return sql + f"DO UPDATE SET {sets}"

    def key_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row[c] for c in self.key)


# --- the small rows shared by writer and reader -----------------------------------------------------------------------


@dataclass(frozen=True)
class RouteStatsRow:
    """Learned per-route state. EMAs are scores (DOUBLE); profits are USD (exact)."""

    route_id: str
    success_ema: float
    capture_ratio_ema: float
    n_executions: int
    n_success: int
    realized_profit: Decimal
    predicted_profit: Decimal
    updated_at: datetime
    scope: str = "default"


@dataclass(frozen=True)
class DailyLimitsRow:
    """Risk counters of one scope (e.g. a profile or an account) for one UTC day."""

    scope: str
    day: date
    executions: int
    profit_usd: Decimal
    loss_usd: Decimal
    stopped_reason: str | None
    updated_at: datetime


class RouteStatsLike(Protocol):
    """Anything with RouteStatsRow's fields (e.g. ``arb.decide.history.RouteStats``)."""

    route_id: str
    success_ema: float
    capture_ratio_ema: float
    n_executions: int
    n_success: int
    realized_profit: Decimal
    predicted_profit: Decimal
    updated_at: datetime | None


class DailyLimitsLike(Protocol):
    """Anything with DailyLimitsRow's counters (e.g. ``arb.risk.limits.RiskState``); ``updated_at`` is optional."""

    scope: str
    day: date
    executions: int
    profit_usd: Decimal
    loss_usd: Decimal
    stopped_reason: str | None


# --- normalisers ---------------------------------------------------------------------------------------------------


def money(value: Decimal | int | None, field: str) -> Decimal | None:
    return _fixed(value, field, _MONEY_Q, 20)


def bps(value: Decimal | int | None, field: str) -> Decimal | None:
    return _fixed(value, field, _BPS_Q, 14)


def _fixed(value: Decimal | int | None, field: str, quantum: Decimal, int_digits: int) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float) or isinstance(value, bool):
        raise BadInput(
            "warehouse_float_money", f"{field}: {value!r} is a {type(value).__name__}; money must be Decimal"
        )
    d = Decimal(value)
    if not d.is_finite():
        raise BadInput("warehouse_non_finite", f"{field}: {d} is not a finite number")
    try:
        q = d.quantize(quantum, context=_CTX)
    except InvalidOperation as e:  # pragma: no cover - prec=60 covers every DECIMAL(38,x) value
        raise BadInput("warehouse_out_of_range", f"{field}: {d} does not fit") from e
    if q.adjusted() >= int_digits:
        raise BadInput("warehouse_out_of_range", f"{field}: {d} has more than {int_digits} integer digits")
    return q


def wei(value: int | None, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput("warehouse_bad_wei", f"{field}: {value!r} must be an int (wei)")
    if abs(value) > _HUGEINT_MAX:
        raise BadInput("warehouse_out_of_range", f"{field}: {value} does not fit HUGEINT (|x| < 2**127)")
    return str(value)


def utc(value: datetime | None, field: str) -> datetime | None:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already (the project's clock convention)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise BadInput("warehouse_bad_timestamp", f"{field}: {value!r} is not a datetime")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_text(value: Any, field: str) -> str | None:
    """Canonical JSON (sorted keys). NaN/Infinity are not JSON and are rejected."""
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise BadInput("warehouse_bad_json", f"{field}: {e}") from e


def json_given(text: str | None, field: str) -> str | None:
    """Text the caller already serialised (e.g. redacted settings): checked, stored as given."""
    if text is None:
        return None
    try:
        json.loads(text)
    except (TypeError, ValueError) as e:
        raise BadInput("warehouse_bad_json", f"{field}: not valid JSON ({e})") from e
    return text


# --- tables -------------------------------------------------------------------------------------------------------

DECISIONS = TableSpec(
    "decisions",
    (
        ("decision_id", STR),
        ("run_id", STR),
        ("opportunity_id", STR),
        ("decided_at", TS),
        ("observed_at", TS),
        ("route_id", STR),
        ("kind", STR),
        ("symbol", STR),
        ("sell_symbol", STR),
        ("buy_venue", STR),
        ("sell_venue", STR),
        ("chain", STR),
        ("action", STR),
        ("confidence", F64),
        ("factors", JSON_),
        ("weights", JSON_),
        ("reasons", STRS),
        ("thresholds", JSON_),
        ("ai_mode", STR),
        ("model_version", STR),
        ("size", MONEY),
        ("opportunity_size", MONEY),
        ("buy_price", MONEY),
        ("sell_price", MONEY),
        ("notional_usd", MONEY),
        ("gross_edge_bps", BPS),
        ("edge_bps", BPS),
        ("gross_profit", MONEY),
        ("fees", MONEY),
        ("gas", MONEY),
        ("net_profit", MONEY),
        ("profit_currency", STR),
        ("liquidity_depth", MONEY),
        ("data_age_ms", I64),
        ("size_capped_by", STR),
        ("fee_rate_buy", MONEY),
        ("fee_rate_sell", MONEY),
        ("features", F64S),
        ("feature_version", STR),
        ("gas_wei", WEI),
        ("gross_profit_wei", WEI),
        ("net_profit_wei", WEI),
    ),
    key=("decision_id",),
    upsert=False,
)

EXECUTIONS = TableSpec(
    "executions",
    (
        ("execution_id", STR),
        ("decision_id", STR),
        ("opportunity_id", STR),
        ("run_id", STR),
        ("route_id", STR),
        ("symbol", STR),
        ("chain", STR),
        ("status", STR),
        ("success", BOOL),
        ("submitted_at", TS),
        ("filled_at", TS),
        ("latency_ms", I64),
        ("predicted_profit", MONEY),
        ("realized_profit", MONEY),
        ("fees", MONEY),
        ("gas_cost", MONEY),
        ("slippage_bps", BPS),
        ("edge_bps", BPS),
        ("fills", JSON_),
        ("note", STR),
        ("tx_hash", STR),
        ("block_number", I64),
        ("gas_used", I64),
        ("gas_cost_wei", WEI),
        ("predicted_profit_wei", WEI),
        ("realized_profit_wei", WEI),
        ("profit_token", STR),
    ),
    key=("execution_id",),
    upsert=False,
)

ROUTE_STATS = TableSpec(
    "route_stats",
    (
        ("scope", STR),
        ("route_id", STR),
        ("success_ema", F64),
        ("capture_ratio_ema", F64),
        ("n_executions", I64),
        ("n_success", I64),
        ("realized_profit", MONEY),
        ("predicted_profit", MONEY),
        ("updated_at", TS),
    ),
    key=("scope", "route_id"),
    upsert=True,
)

DAILY_LIMITS = TableSpec(
    "daily_limits",
    (
        ("scope", STR),
        ("day", DATE),
        ("executions", I64),
        ("profit_usd", MONEY),
        ("loss_usd", MONEY),
        ("stopped_reason", STR),
        ("updated_at", TS),
    ),
    key=("scope", "day"),
    upsert=True,
)

ALERTS = TableSpec(
    "alerts",
    (("alert_id", STR), ("at", TS), ("level", STR), ("kind", STR), ("message", STR), ("run_id", STR)),
    key=("alert_id",),
    upsert=False,
)

# runs: updated column by column (last value wins), so it has no fixed insert spec; these are the settable columns.
RUN_COLUMNS: dict[str, str] = {
    "started_at": TS,
    "finished_at": TS,
    "source": STR,
    "ai_mode": STR,
    "profile": STR,
    "dry_run": BOOL,
    "settings_json": JSON_,
    "status": STR,
    "risk_scope": STR,
    "ml_enabled": BOOL,
    "model_version": STR,
    "opportunities_detected": I64,
    "opportunities_submitted": I64,
    "opportunities_queued": I64,
    "pending_executions": I64,
    "data_quality_json": JSON_,
}


# --- conversions ------------------------------------------------------------------------------------------------------


def decision_row(decision: Decision, opportunity: Opportunity, run_id: str) -> dict[str, Any]:
    if decision.opportunity_id != opportunity.id:
        raise BadInput(
            "warehouse_decision_mismatch",
            f"decision {decision.id} is about opportunity {decision.opportunity_id}, not {opportunity.id}",
        )
    o = opportunity
    return {
        "decision_id": decision.id,
        "run_id": run_id,
        "opportunity_id": o.id,
        "decided_at": utc(decision.decided_at, "decided_at"),
        "observed_at": utc(o.observed_at, "observed_at"),
        "route_id": decision.route_id,
        "kind": o.kind,
        "symbol": o.symbol,
        "sell_symbol": o.sell_symbol,
        "buy_venue": o.buy_venue,
        "sell_venue": o.sell_venue,
        "chain": o.chain,
        "action": str(decision.action),
        "confidence": float(decision.confidence),
        "factors": json_text(decision.factors, "factors"),
        "weights": json_text(decision.weights, "weights"),
        "reasons": list(decision.reasons),
        "thresholds": json_text(decision.thresholds, "thresholds"),
        "ai_mode": decision.ai_mode,
        "model_version": decision.model_version or "none",  # the heuristic scorer: recorded as "none", never NULL
        "size": money(decision.size, "size"),
        "opportunity_size": money(o.size, "opportunity.size"),
        "buy_price": money(o.buy_price, "buy_price"),
        "sell_price": money(o.sell_price, "sell_price"),
        "notional_usd": money(o.notional_usd, "notional_usd"),
        "gross_edge_bps": bps(o.gross_edge_bps, "gross_edge_bps"),
        "edge_bps": bps(o.edge_bps, "edge_bps"),
        "gross_profit": money(o.gross_profit, "gross_profit"),
        "fees": money(o.fees, "fees"),
        "gas": money(o.gas, "gas"),
        "net_profit": money(o.net_profit, "net_profit"),
        "profit_currency": o.profit_currency,
        "liquidity_depth": money(o.liquidity_depth, "liquidity_depth"),
        "data_age_ms": int(o.data_age_ms),
        "size_capped_by": o.size_capped_by,
        "fee_rate_buy": money(o.fee_rates[0], "fee_rates[0]"),
        "fee_rate_sell": money(o.fee_rates[1], "fee_rates[1]"),
        "features": [float(x) for x in decision.features],
        "feature_version": decision.feature_version,
        "gas_wei": wei(o.gas_wei, "gas_wei"),
        "gross_profit_wei": wei(o.gross_profit_wei, "gross_profit_wei"),
        "net_profit_wei": wei(o.net_profit_wei, "net_profit_wei"),
    }


def fills_json(execution: Execution) -> str:
    """Each fill as an object; Decimals as strings so they stay exact."""
    out = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in f.model_dump().items()} for f in execution.fills]
    return json_text(out, "fills") or "[]"


def execution_row(execution: Execution, run_id: str) -> dict[str, Any]:
    e = execution
    return {
        "execution_id": e.id,
        "decision_id": e.decision_id,
        "opportunity_id": e.opportunity_id,
        "run_id": run_id,
        "route_id": e.route_id,
        "symbol": e.symbol,
        "chain": e.chain,
        "status": str(e.status),
        "success": e.success,
        "submitted_at": utc(e.submitted_at, "submitted_at"),
        "filled_at": utc(e.filled_at, "filled_at"),
        "latency_ms": int(e.latency_ms),
        "predicted_profit": money(e.predicted_profit, "predicted_profit"),
        "realized_profit": money(e.realized_profit, "realized_profit"),
        "fees": money(e.fees, "fees"),
        "gas_cost": money(e.gas_cost, "gas_cost"),
        "slippage_bps": bps(e.slippage_bps, "slippage_bps"),
        "edge_bps": bps(e.edge_bps, "edge_bps"),
        "fills": fills_json(e),
        "note": e.note,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        "gas_used": e.gas_used,
        "gas_cost_wei": wei(e.gas_cost_wei, "gas_cost_wei"),
        "predicted_profit_wei": wei(e.predicted_profit_wei, "predicted_profit_wei"),
        "realized_profit_wei": wei(e.realized_profit_wei, "realized_profit_wei"),
        "profit_token": e.profit_token,
    }


def route_stats_row(r: RouteStatsLike) -> dict[str, Any]:
    return {
        "scope": getattr(r, "scope", "default"),
        "route_id": r.route_id,
        "success_ema": float(r.success_ema),
        "capture_ratio_ema": float(r.capture_ratio_ema),
        "n_executions": int(r.n_executions),
        "n_success": int(r.n_success),
        "realized_profit": money(r.realized_profit, "realized_profit"),
        "predicted_profit": money(r.predicted_profit, "predicted_profit"),
        "updated_at": utc(r.updated_at, "updated_at"),
    }


def daily_limits_row(r: DailyLimitsLike, updated_at: datetime | None = None) -> dict[str, Any]:
    """``updated_at`` (when given) overrides the object's own ``updated_at`` attribute, if it has one."""
    if updated_at is None:
        updated_at = getattr(r, "updated_at", None)
    if isinstance(r.day, datetime) or not isinstance(r.day, date):
        raise BadInput("warehouse_bad_date", f"day: {r.day!r} must be a date")
    return {
        "scope": r.scope,
        "day": r.day,
        "executions": int(r.executions),
        "profit_usd": money(r.profit_usd, "profit_usd"),
        "loss_usd": money(r.loss_usd, "loss_usd"),
        "stopped_reason": r.stopped_reason,
        "updated_at": utc(updated_at, "updated_at"),
    }


RUN_ALIASES = {"data_quality": "data_quality_json"}  # a dict of counts is accepted under the shorter name


def run_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a partial runs row (column -> value). Unknown columns are a programming error (TypeError)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        name = RUN_ALIASES.get(name, name)
        kind = RUN_COLUMNS.get(name)
        if kind is None:
            raise TypeError(f"runs has no settable column {name!r}; known: {', '.join(sorted(RUN_COLUMNS))}")
        if value is None:
            out[name] = None
        elif kind == TS:
            out[name] = utc(value, name)
        elif kind == JSON_:
            out[name] = json_given(value, name) if isinstance(value, str) else json_text(value, name)
        elif kind == BOOL:
            out[name] = bool(value)
        elif kind == I64:
            if isinstance(value, bool) or not isinstance(value, int):
                raise BadInput("warehouse_bad_counter", f"{name}: {value!r} must be an int")
            out[name] = value
        else:
            out[name] = str(value)
    return out
