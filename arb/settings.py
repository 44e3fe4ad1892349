"""The one settings root: read from the environment and ``.env`` once, at the edge (CLI or flow), then passed down.

Every variable of the design's ``.env`` keeps its name. Preset parameters of the AI mode can each be overridden by an
explicitly set variable (``MIN_EDGE_BPS=5`` beats the mode's 40). Secrets are ``SecretStr``: never printed or logged.
The library never reads ``os.environ``; only :func:`load_settings` does (through pydantic-settings).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from arb.errors import ConfigError


@dataclass(frozen=True)
class ModePreset:
    min_confidence: float
    kelly_fraction: float
    max_leverage: float
    min_edge_bps: Decimal
    ruin_tolerance: float
    max_position_pct: Decimal  # fraction of capital, e.g. 0.15


PRESETS: dict[str, ModePreset] = {
    "conservative": ModePreset(0.75, 0.25, 2.0, Decimal(40), 0.15, Decimal("0.15")),
    "balanced": ModePreset(0.70, 0.30, 3.0, Decimal(35), 0.20, Decimal("0.20")),
    "aggressive": ModePreset(0.60, 0.35, 5.0, Decimal(30), 0.30, Decimal("0.25")),
}

SECRET_FIELDS = (
    "private_key",
    "kraken_api_key",
    "kraken_api_secret",
    "alpaca_api_key",
    "alpaca_api_secret",
)

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class EffectiveMode:
    """The AI mode's parameters after explicit overrides, with where each came from."""

    name: str
    min_confidence: float
    kelly_fraction: float
    max_leverage: float
    min_edge_bps: Decimal
    ruin_tolerance: float
    max_position_pct: Decimal
    overridden: tuple[str, ...]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    # === AI/ML configuration (the design's names) ===
    ai_mode: str = "conservative"
    enable_execution: bool = False
    enable_profit_maximization: bool = True
    current_capital_eth: Decimal = Decimal("100.0")
    target_capital_eth: Decimal = Decimal("1000.0")
    ai_min_confidence: float | None = None
    flash_loan_min_profit_eth: Decimal = Decimal("0.15")
    cex_min_profit_usd: Decimal = Decimal("50.0")
    enable_flash_loans: bool = True
    enable_cex_execution: bool = True
    enable_ml_scoring: bool = True
    eth_rpc_url: str | None = None
    polygon_rpc_url: str | None = None
    arb_contract_address: str | None = None
    private_key: SecretStr | None = None
    kraken_api_key: SecretStr | None = None
    kraken_api_secret: SecretStr | None = None
    alpaca_api_key: SecretStr | None = None
    alpaca_api_secret: SecretStr | None = None
    poll_interval: float = 1.0

    # === Mode preset overrides (unset = the AI_MODE preset) ===
    kelly_fraction: float | None = None
    max_leverage: float | None = None
    min_edge_bps: Decimal | None = None
    ruin_tolerance: float | None = None
    max_position_pct: Decimal | None = None

    # === Risk controls ===
    max_daily_executions: int = 100
    max_daily_loss_usd: Decimal = Decimal("500")
    max_concurrent_executions: int = 3
    execution_cooldown_seconds: float = 5.0
    kill_switch_file: Path = Path("warehouse/KILL")

    # === CEX detection and paper execution ===
    cex_exchanges: str = "binance,bybit"
    cex_symbols: str = "BTC/USDT"
    cex_trade_size_usd: Decimal = Decimal("5000")
    fee_overrides: dict[str, Decimal] = Field(default_factory=dict)
    quote_usd_rates: dict[str, Decimal] = Field(
        default_factory=lambda: {"USD": Decimal(1), "USDT": Decimal(1), "BUSD": Decimal(1), "USDC": Decimal(1)}
    )
    eth_usd_price: Decimal = Decimal("1300")
    max_data_age_ms: int = 5000
    execution_latency_ms: int = 250
    slippage_tolerance_bps: Decimal = Decimal("5")
    decision_batch_size: int = 50

    # === Replay: how a book is derived from minute bars (see arb/market/lean.py) ===
    replay_levels: int = 5
    replay_level_step_bps: Decimal = Decimal("1")
    replay_depth_fraction: Decimal = Decimal("0.10")
    replay_half_spread_bps: Decimal = Decimal("0.5")

    # === Storage and logs ===
    warehouse_path: Path = Path("warehouse/arb.duckdb")
    warehouse_flush_seconds: float = 1.0
    warehouse_flush_rows: int = 2000
    log_path: Path = Path("logs/arbitrage.log")
    log_level: str = "INFO"
    stats_interval_seconds: float = 60.0
    risk_scope: str = "default"

    # ---- field checks: each message names what to do ----
    @field_validator("ai_mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        v = v.strip().lower()
        if v not in PRESETS:
            raise ValueError(f"unknown mode {v!r}; use one of: {', '.join(PRESETS)}")
        return v

    @field_validator("current_capital_eth", "target_capital_eth", "eth_usd_price", "cex_trade_size_usd")
    @classmethod
    def _positive(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v <= 0:
            raise ValueError(f"must be a positive number, got {v}")
        return v

    @field_validator(
        "flash_loan_min_profit_eth", "cex_min_profit_usd", "max_daily_loss_usd", "slippage_tolerance_bps",
        "replay_level_step_bps", "replay_half_spread_bps",
    )
    @classmethod
    def _non_negative(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v < 0:
            raise ValueError(f"must be zero or more, got {v}")
        return v

    @field_validator("min_edge_bps")
    @classmethod
    def _edge(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and (not v.is_finite() or v < 0):
            raise ValueError(f"must be zero or more basis points, got {v}")
        return v

    @field_validator("ai_min_confidence", "ruin_tolerance", "kelly_fraction")
    @classmethod
    def _unit(cls, v: float | None) -> float | None:
        if v is not None and not (0.0 <= v <= 1.0):
            raise ValueError(f"must be between 0 and 1, got {v}")
        return v

    @field_validator("max_position_pct", "replay_depth_fraction")
    @classmethod
    def _fraction(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and (not v.is_finite() or not (0 < v <= 1)):
            raise ValueError(f"must be a fraction in (0, 1], e.g. 0.15 for 15%, got {v}")
        return v

    @field_validator("max_leverage")
    @classmethod
    def _leverage(cls, v: float | None) -> float | None:
        if v is not None and v < 1:
            raise ValueError(f"must be 1.0 or more, got {v}")
        return v

    @field_validator(
        "max_daily_executions", "max_concurrent_executions", "decision_batch_size", "warehouse_flush_rows",
        "replay_levels",
    )
    @classmethod
    def _positive_int(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be 1 or more, got {v}")
        return v

    @field_validator("max_data_age_ms", "execution_latency_ms")
    @classmethod
    def _non_negative_int(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"must be 0 or more milliseconds, got {v}")
        return v

    @field_validator("poll_interval", "execution_cooldown_seconds", "warehouse_flush_seconds", "stats_interval_seconds")
    @classmethod
    def _seconds(cls, v: float) -> float:
        if not (v >= 0):
            raise ValueError(f"must be 0 or more seconds, got {v}")
        return v

    @field_validator("eth_rpc_url", "polygon_rpc_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not re.match(r"^(https?|wss?)://[^\s/]+", v):
            raise ValueError("must be an http(s):// or ws(s):// URL, e.g. http://127.0.0.1:8545")
        return v

    @field_validator("arb_contract_address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not _HEX_ADDRESS.match(v):
            raise ValueError("must be 0x followed by 40 hex digits")
        if v != v.lower() and v != "0x" + v[2:].upper():
            from eth_utils import to_checksum_address  # mixed case: must be a valid EIP-55 checksum

            if to_checksum_address(v) != v:
                raise ValueError("mixed-case address fails its EIP-55 checksum; copy the address again")
        return v

    @field_validator("private_key")
    @classmethod
    def _key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or v.get_secret_value() == "":
            return None
        raw = v.get_secret_value()
        if not _HEX_KEY.match(raw):
            raise ValueError("must be 64 hex digits (optionally 0x-prefixed); the value is not shown")
        n = int(raw[2:] if raw.startswith("0x") else raw, 16)
        if not (0 < n < _SECP256K1_N):
            raise ValueError("is not a valid secp256k1 private key (out of range); the value is not shown")
        return v

    @field_validator("kraken_api_key", "kraken_api_secret", "alpaca_api_key", "alpaca_api_secret")
    @classmethod
    def _api(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or v.get_secret_value() == "":
            return None
        if any(c.isspace() for c in v.get_secret_value()):
            raise ValueError("contains whitespace; paste the key without spaces or quotes (the value is not shown)")
        return v

    @field_validator("fee_overrides", "quote_usd_rates", mode="before")
    @classmethod
    def _json_map(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                v = json.loads(v) if v.strip() else {}
            except json.JSONDecodeError as e:
                raise ValueError(f'must be a JSON object, e.g. {{"binance:BTC/USDT": "0.001"}} ({e.msg})') from e
        if not isinstance(v, dict):
            raise ValueError("must be a JSON object")
        return {str(k): (str(x) if isinstance(x, int | float) else x) for k, x in v.items()}

    @field_validator("fee_overrides")
    @classmethod
    def _fees(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        for k, rate in v.items():
            venue, sep, symbol = k.partition(":")
            if not sep or not venue or "/" not in symbol:
                raise ValueError(f"key {k!r} must be 'venue:BASE/QUOTE', e.g. 'bybit:BTC/USDT'")
            if not rate.is_finite() or not (0 <= rate < 1):
                raise ValueError(f"fee for {k!r} must be a rate in [0, 1), e.g. 0.001 for 0.10%, got {rate}")
        return v

    @field_validator("quote_usd_rates")
    @classmethod
    def _rates(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        for k, rate in v.items():
            if not rate.is_finite() or rate <= 0:
                raise ValueError(f"rate for {k!r} must be positive, got {rate}")
        return {k.upper(): r for k, r in v.items()}

    # ---- derived views ----
    @property
    def mode(self) -> EffectiveMode:
        p = PRESETS[self.ai_mode]
        explicit = self.model_fields_set
        pairs = {
            "min_confidence": ("ai_min_confidence", p.min_confidence),
            "kelly_fraction": ("kelly_fraction", p.kelly_fraction),
            "max_leverage": ("max_leverage", p.max_leverage),
            "min_edge_bps": ("min_edge_bps", p.min_edge_bps),
            "ruin_tolerance": ("ruin_tolerance", p.ruin_tolerance),
            "max_position_pct": ("max_position_pct", p.max_position_pct),
        }
        values: dict[str, Any] = {}
        overridden = []
        for name, (field, preset_value) in pairs.items():
            value = getattr(self, field)
            if value is not None and field in explicit:
                values[name] = value
                overridden.append(field.upper())
            else:
                values[name] = preset_value
        return EffectiveMode(name=self.ai_mode, overridden=tuple(overridden), **values)

    @property
    def capital_usd(self) -> Decimal:
        return self.current_capital_eth * self.eth_usd_price

    @property
    def exchanges(self) -> list[str]:
        return [x.strip() for x in self.cex_exchanges.split(",") if x.strip()]

    @property
    def symbols(self) -> list[str]:
        return [x.strip() for x in self.cex_symbols.split(",") if x.strip()]

    def cross_problems(self) -> list[tuple[str, str]]:
        """Checks that involve more than one variable. Returns (VARIABLE, what to do) pairs."""
        problems: list[tuple[str, str]] = []
        if self.target_capital_eth <= self.current_capital_eth:
            problems.append(
                ("TARGET_CAPITAL_ETH", f"must be above CURRENT_CAPITAL_ETH ({self.current_capital_eth}); "
                 f"got {self.target_capital_eth}. Raise the target or lower the capital.")
            )
        if self.enable_execution and self.enable_flash_loans and self.private_key is None:
            problems.append(
                ("PRIVATE_KEY", "is required when ENABLE_EXECUTION=true and ENABLE_FLASH_LOANS=true; "
                 "set it, or set ENABLE_FLASH_LOANS=false, or keep ENABLE_EXECUTION=false (dry-run)")
            )
        if self.enable_execution and self.enable_flash_loans and self.arb_contract_address is None:
            problems.append(
                ("ARB_CONTRACT_ADDRESS", "is required when ENABLE_EXECUTION=true and ENABLE_FLASH_LOANS=true; "
                 "deploy the executor contract and set its address")
            )
        if self.enable_execution and self.enable_cex_execution:
            if bool(self.kraken_api_key) != bool(self.kraken_api_secret):
                problems.append(("KRAKEN_API_SECRET", "KRAKEN_API_KEY and KRAKEN_API_SECRET must be set together"))
            if bool(self.alpaca_api_key) != bool(self.alpaca_api_secret):
                problems.append(("ALPACA_API_SECRET", "ALPACA_API_KEY and ALPACA_API_SECRET must be set together"))
            if not (self.kraken_api_key or self.alpaca_api_key):
                problems.append(
                    ("KRAKEN_API_KEY", "live CEX execution (ENABLE_EXECUTION=true, ENABLE_CEX_EXECUTION=true) "
                     "needs exchange API keys; set KRAKEN_API_KEY/SECRET or ALPACA_API_KEY/SECRET, "
                     "or set ENABLE_CEX_EXECUTION=false")
                )
        for venue_symbol in self.fee_overrides:
            pass
        for s in self.symbols:
            if "/" not in s:
                problems.append(("CEX_SYMBOLS", f"{s!r} is not a ccxt unified symbol; write BASE/QUOTE, e.g. BTC/USDT"))
        if not self.exchanges:
            problems.append(("CEX_EXCHANGES", "list at least one ccxt exchange id, e.g. binance,bybit"))
        return problems

    def warnings(self) -> list[str]:
        w: list[str] = []
        if self.enable_execution:
            w.append("ENABLE_EXECUTION=true: LIVE execution is ON. Real orders and transactions will be sent.")
        else:
            w.append("ENABLE_EXECUTION=false: dry-run. Executions are simulated (paper) and nothing is sent.")
        m = self.mode
        if m.overridden:
            w.append(f"AI_MODE={m.name} preset overridden by: {', '.join(m.overridden)}")
        if self.enable_execution and self.ai_mode == "aggressive":
            w.append("AI_MODE=aggressive with live execution: ruin tolerance 30%, positions up to 25% of capital.")
        if m.min_edge_bps < 10:
            w.append(f"min edge is {m.min_edge_bps} bps: make sure it stays above your round-trip fees.")
        for q, r in sorted(self.quote_usd_rates.items()):
            if q != "USD" and r == 1:
                w.append(f"QUOTE_USD_RATES treats {q} at par with USD (1.0): an explicit assumption; set a rate if not.")
        return w

    def redacted(self) -> dict[str, str]:
        """Every effective setting as display strings; secrets show only whether they are set."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                out[name.upper()] = "<set, redacted>" if value is not None else "<unset>"
            elif isinstance(value, dict):
                out[name.upper()] = json.dumps({k: str(x) for k, x in value.items()})
            else:
                out[name.upper()] = "<unset>" if value is None else str(value)
        m = self.mode
        for k in ("min_confidence", "kelly_fraction", "max_leverage", "min_edge_bps", "ruin_tolerance",
                  "max_position_pct"):
            out[f"effective.{k}"] = str(getattr(m, k))
        return out


def _problems_from(e: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or "settings"
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        if err.get("type") not in ("value_error",) and "input" in err and loc.split(".")[0] not in SECRET_FIELDS:
            msg = f"{msg} (got {err['input']!r})"
        out.append((loc.split(".")[0].upper(), msg))
    return out


def load_settings(env_files: tuple[Path | str, ...] | None = None, **overrides: Any) -> Settings:
    """Read settings once. Later env files win over earlier ones; real environment variables win over all files.

    Raises :class:`ConfigError` listing *every* problem found, each with its variable's name.
    """
    kwargs: dict[str, Any] = dict(overrides)
    if env_files is not None:
        kwargs["_env_file"] = tuple(str(p) for p in env_files)
    try:
        s = Settings(**kwargs)
    except ValidationError as e:
        problems = _problems_from(e)
        bad = {name.lower() for name, _ in problems}
        # Run the cross-variable checks too, with the bad fields at their defaults, so one pass reports everything.
        try:
            fallback = Settings(**kwargs, **{f: Settings.model_fields[f].get_default(call_default_factory=True)
                                             for f in bad if f in Settings.model_fields})
            problems += [p for p in fallback.cross_problems() if p[0].lower() not in bad]
        except ValidationError:
            pass
        raise ConfigError(problems) from None
    problems = s.cross_problems()
    if problems:
        raise ConfigError(problems)
    return s
