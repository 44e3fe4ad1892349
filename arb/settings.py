"""The one settings root: read from the environment and ``.env`` once, at the edge (CLI or flow), then passed down.

Every variable of the design's ``.env`` keeps its name. Preset parameters of the AI mode can each be overridden by an
explicitly set variable (``MIN_EDGE_BPS=5`` beats the mode's 40); an empty value (``MIN_EDGE_BPS=``) means "use the
preset". Secrets are ``SecretStr``: never printed or logged, and never echoed in an error message.
The library never reads ``os.environ``; only :func:`load_settings` does (through pydantic-settings).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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

# EffectiveMode attribute -> the variable that overrides it.
PRESET_VARIABLES: dict[str, str] = {
    "min_confidence": "ai_min_confidence",
    "kelly_fraction": "kelly_fraction",
    "max_leverage": "max_leverage",
    "min_edge_bps": "min_edge_bps",
    "ruin_tolerance": "ruin_tolerance",
    "max_position_pct": "max_position_pct",
}

SECRET_FIELDS = (
    "private_key",
    "kraken_api_key",
    "kraken_api_secret",
    "alpaca_api_key",
    "alpaca_api_secret",
    "api_token",
)
# RPC URLs usually carry a provider API key in their path (.../v2/<key>): shown only as scheme://host/<redacted>.
URL_FIELDS = ("eth_rpc_url", "polygon_rpc_url")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_JSON_EXAMPLES = {
    "fee_overrides": '{"bybit:BTC/USDT": "0.001"}',
    "quote_usd_rates": '{"USDT": "1", "EUR": "1.08"}',
}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_KEY_LIKE = re.compile(r"^(0x)?[0-9A-Za-z+/=_-]{32,}$")  # long token-like input: possibly a pasted key, never echoed
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_OPTIONAL_FIELDS = (
    "ai_min_confidence", "kelly_fraction", "max_leverage", "min_edge_bps", "ruin_tolerance", "max_position_pct",
    "eth_rpc_url", "polygon_rpc_url", "arb_contract_address", "sandbox_state_path", *SECRET_FIELDS,
)


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
    overridden: tuple[str, ...]  # the VARIABLE names that override the preset, e.g. ("MIN_EDGE_BPS",)

    @property
    def preset(self) -> ModePreset:
        return PRESETS[self.name]


def redact_url(url: str | None) -> str:
    """``scheme://host[:port]`` plus a marker when the URL has a path, query or credentials (often an API key)."""
    if not url:
        return "<unset>"
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<set, redacted>"
    if ":" in host:
        host = f"[{host}]"
    hidden = parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment
    return f"{parts.scheme}://{host}{port}" + ("/<redacted>" if hidden else "")


def is_local_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host in LOCAL_HOSTS or host.startswith("127.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    # === AI/ML configuration (the design's names, in its order) ===
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
    # NoDecode: the raw string reaches _json_map, so malformed JSON is a named ConfigError, not a SettingsError.
    fee_overrides: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)
    quote_usd_rates: Annotated[dict[str, Decimal], NoDecode] = Field(
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

    # === ML model (MLflow registry) and retraining; used when ENABLE_ML_SCORING=true ===
    mlflow_tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    retrain_every_executions: int = Field(default=25, ge=1)
    model_reload_seconds: float = Field(default=30.0, ge=0)
    retrain_min_samples: int = Field(default=200, ge=20)

    # === On-chain execution (flash loans) and the sandbox chains ===
    priority_fee_gwei: Decimal = Decimal("1.5")
    max_fee_gwei: Decimal = Decimal("200")
    live_confirm_chain_ids: str = ""
    sandbox_manifest_path: Path = Path("warehouse/sandbox-manifest.json")
    sandbox_state_path: Path | None = None  # set: attach to the chains of `arb sandbox up` instead of starting own
    chain_manifest_path: Path = Path("chains.json")
    sandbox_seed: int = 7
    sandbox_compete_probability: float = 0.15

    # === Operations: the local stack (`arb sandbox up`), the dashboard API, reports and alerts ===
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_token: SecretStr | None = None
    stack_prefect_port: int = Field(default=4200, ge=1, le=65535)
    stack_mlflow_port: int = Field(default=5000, ge=1, le=65535)
    reports_dir: Path = Path("reports")
    alert_min_win_rate: float = Field(default=0.45, ge=0, le=1)
    alert_max_gas_share: float = Field(default=0.30, ge=0)
    alert_min_success_rate: float = Field(default=0.70, ge=0, le=1)
    alert_max_drawdown: float = Field(default=0.20, ge=0, le=1)
    alert_daily_loss_used: float = Field(default=0.80, ge=0, le=1)
    alert_min_executions: int = Field(default=10, ge=1)

    # ---- field checks: each message names what to do. Messages of secret fields never interpolate the value. ----
    @field_validator(*_OPTIONAL_FIELDS, mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip() == "":
            return None
        return v

    @field_validator("priority_fee_gwei", "max_fee_gwei")
    @classmethod
    def _gwei(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v < 0:
            raise ValueError(f"must be zero or more gwei, got {v}")
        return v

    @field_validator("live_confirm_chain_ids")
    @classmethod
    def _chain_ids(cls, v: str) -> str:
        for part in (x.strip() for x in v.split(",")):
            if part and (not part.isdigit() or int(part) <= 0):
                raise ValueError(f"must be comma-separated positive chain ids, e.g. 1,137; got {part!r}")
        return v

    @field_validator("sandbox_compete_probability")
    @classmethod
    def _probability(cls, v: float) -> float:
        if not (0.0 <= v <= 1.0):
            raise ValueError(f"must be a probability between 0 and 1, got {v}")
        return v

    @property
    def confirmed_chain_ids(self) -> frozenset[int]:
        return frozenset(int(x) for x in self.live_confirm_chain_ids.split(",") if x.strip())

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
        if v is not None and not (math.isfinite(v) and v >= 1):
            raise ValueError(f"must be a finite number, 1.0 or more, got {v}")
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
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"must be a finite number of seconds, 0 or more, got {v}")
        return v

    @field_validator("eth_rpc_url", "polygon_rpc_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        # The message never echoes the URL: it usually contains a provider API key.
        if v is None:
            return None
        hint = "must be an http(s):// or ws(s):// URL, e.g. http://127.0.0.1:8545"
        if any(c.isspace() for c in v):
            raise ValueError(f"{hint}; it contains whitespace (the value is not shown)")
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError(f"{hint}; it has an invalid host or port (the value is not shown)") from None
        if parts.scheme.lower() not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ValueError(f"{hint} (the value is not shown)")
        return v

    @field_validator("arb_contract_address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is None:
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

    @field_validator("kraken_api_key", "kraken_api_secret", "alpaca_api_key", "alpaca_api_secret", "api_token")
    @classmethod
    def _api(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or v.get_secret_value() == "":
            return None
        if any(c.isspace() for c in v.get_secret_value()):
            raise ValueError("contains whitespace; paste the key without spaces or quotes (the value is not shown)")
        return v

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        level = v.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level {v!r}; use one of: {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("fee_overrides", "quote_usd_rates", mode="before")
    @classmethod
    def _json_map(cls, v: Any, info: ValidationInfo) -> Any:
        example = _JSON_EXAMPLES.get(info.field_name or "", "{}")
        if isinstance(v, str):
            try:
                v = json.loads(v) if v.strip() else {}
            except json.JSONDecodeError as e:
                raise ValueError(f"must be a JSON object, e.g. {example} ({e.msg})") from None
        if not isinstance(v, dict):
            raise ValueError(f"must be a JSON object, e.g. {example}")
        return {str(k): (str(x) if isinstance(x, int | float) and not isinstance(x, bool) else x) for k, x in v.items()}

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

    def __repr_args__(self) -> Any:
        # SecretStr fields already repr as '**********'; RPC URLs are plain strings that often embed a provider key.
        for name, value in super().__repr_args__():
            yield name, (redact_url(value) if name in URL_FIELDS and value else value)

    # ---- derived views ----
    @property
    def mode(self) -> EffectiveMode:
        p = PRESETS[self.ai_mode]
        explicit = self.model_fields_set
        values: dict[str, Any] = {}
        overridden = []
        for name, field in PRESET_VARIABLES.items():
            value = getattr(self, field)
            if value is not None and field in explicit:
                values[name] = value
                overridden.append(field.upper())
            else:
                values[name] = getattr(p, name)
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

    def secret_values(self) -> list[str]:
        """The raw secret strings (for the log redaction registry). Never print these."""
        out = [v.get_secret_value() for f in SECRET_FIELDS if (v := getattr(self, f)) is not None]
        # An RPC URL with a path or credentials usually embeds a provider key: treat the whole URL as a secret too.
        out += [u for f in URL_FIELDS if (u := getattr(self, f)) and redact_url(u).endswith("/<redacted>")]
        return out

    def _cross_checks(self) -> Iterator[tuple[str, frozenset[str], str]]:
        """(VARIABLE reported, fields the check reads, what to do)."""
        live_flash = self.enable_execution and self.enable_flash_loans
        live_cex = self.enable_execution and self.enable_cex_execution
        flash_fields = frozenset({"enable_execution", "enable_flash_loans"})
        cex_fields = frozenset({"enable_execution", "enable_cex_execution"})
        if self.target_capital_eth <= self.current_capital_eth:
            yield ("TARGET_CAPITAL_ETH", frozenset({"target_capital_eth", "current_capital_eth"}),
                   f"must be above CURRENT_CAPITAL_ETH ({self.current_capital_eth}); got {self.target_capital_eth}. "
                   "Raise the target or lower the capital.")
        if live_flash and self.private_key is None:
            yield ("PRIVATE_KEY", flash_fields | {"private_key"},
                   "is required when ENABLE_EXECUTION=true and ENABLE_FLASH_LOANS=true; "
                   "set it, or set ENABLE_FLASH_LOANS=false, or keep ENABLE_EXECUTION=false (dry-run)")
        if live_flash and self.arb_contract_address is None:
            yield ("ARB_CONTRACT_ADDRESS", flash_fields | {"arb_contract_address"},
                   "is required when ENABLE_EXECUTION=true and ENABLE_FLASH_LOANS=true; "
                   "deploy the executor contract and set its address")
        if live_flash and self.eth_rpc_url is None and self.polygon_rpc_url is None:
            yield ("ETH_RPC_URL", flash_fields | {"eth_rpc_url", "polygon_rpc_url"},
                   "an RPC URL (ETH_RPC_URL or POLYGON_RPC_URL) is required when ENABLE_EXECUTION=true and "
                   "ENABLE_FLASH_LOANS=true, e.g. http://127.0.0.1:8545 for a local node")
        if live_cex:
            kraken = frozenset({"kraken_api_key", "kraken_api_secret"})
            alpaca = frozenset({"alpaca_api_key", "alpaca_api_secret"})
            if bool(self.kraken_api_key) != bool(self.kraken_api_secret):
                yield ("KRAKEN_API_SECRET", cex_fields | kraken,
                       "KRAKEN_API_KEY and KRAKEN_API_SECRET must be set together")
            if bool(self.alpaca_api_key) != bool(self.alpaca_api_secret):
                yield ("ALPACA_API_SECRET", cex_fields | alpaca,
                       "ALPACA_API_KEY and ALPACA_API_SECRET must be set together")
            if not (self.kraken_api_key or self.alpaca_api_key):
                yield ("KRAKEN_API_KEY", cex_fields | kraken | alpaca,
                       "live CEX execution (ENABLE_EXECUTION=true, ENABLE_CEX_EXECUTION=true) "
                       "needs exchange API keys; set KRAKEN_API_KEY/SECRET or ALPACA_API_KEY/SECRET, "
                       "or set ENABLE_CEX_EXECUTION=false")
        for s in self.symbols:
            if "/" not in s:
                yield ("CEX_SYMBOLS", frozenset({"cex_symbols"}),
                       f"{s!r} is not a ccxt unified symbol; write BASE/QUOTE, e.g. BTC/USDT")
        if not self.exchanges:
            yield ("CEX_EXCHANGES", frozenset({"cex_exchanges"}),
                   "list at least one ccxt exchange id, e.g. binance,bybit")

    def cross_problems(self) -> list[tuple[str, str]]:
        """Checks that involve more than one variable. Returns (VARIABLE, what to do) pairs."""
        return [(name, msg) for name, _, msg in self._cross_checks()]

    def round_trip_fee_bps(self) -> dict[str, Decimal]:
        """Per base asset, the worst buy-here/sell-there taker fees configured in FEE_OVERRIDES, in bps.

        Routes may cross quote currencies (BTC/BUSD on one venue, BTC/USDT on another), so fees are grouped by base
        asset: the sum of the two highest per-venue fees (one venue configured: its fee alone, a lower bound).
        """
        by_base: dict[str, dict[str, Decimal]] = {}
        for key, rate in self.fee_overrides.items():
            venue, _, symbol = key.partition(":")
            venues = by_base.setdefault(symbol.partition("/")[0].upper(), {})
            venues[venue] = max(rate, venues.get(venue, rate))
        return {base: sum(sorted(v.values(), reverse=True)[:2], Decimal(0)) * 10000 for base, v in by_base.items()}

    def warnings(self) -> list[str]:
        """Safety notes about a configuration that is valid but deserves a second look. Pure: no I/O."""
        w: list[str] = []
        m = self.mode
        if self.enable_execution:
            w.append("ENABLE_EXECUTION=true: LIVE execution is ON. Real orders and transactions will be sent.")
        else:
            w.append("ENABLE_EXECUTION=false: dry-run. Executions on real venues and chains are simulated (paper "
                     "fills, eth_call) and nothing is sent; only `--source sandbox` sends, to the local chains arb "
                     "starts.")
        if m.overridden:
            w.append(f"AI_MODE={m.name} preset overridden by: {', '.join(m.overridden)}")
        if self.ai_mode == "aggressive":
            live = " with LIVE execution" if self.enable_execution else ""
            w.append(f"AI_MODE=aggressive{live}: ruin tolerance {m.ruin_tolerance:.0%}, positions up to "
                     f"{m.max_position_pct:.0%} of capital, leverage up to {m.max_leverage}x. "
                     "The design recommends conservative for the first 48 hours.")
        if self.enable_execution:
            for field in URL_FIELDS:
                url = getattr(self, field)
                if url and not is_local_url(url):
                    w.append(f"{field.upper()} points at a remote node ({redact_url(url)}) while "
                             "ENABLE_EXECUTION=true: transactions go to a real network. Double-check the chain.")
            if not (self.enable_flash_loans or self.enable_cex_execution):
                w.append("ENABLE_EXECUTION=true but ENABLE_FLASH_LOANS=false and ENABLE_CEX_EXECUTION=false: "
                         "nothing can execute.")
            if self.execution_cooldown_seconds == 0:
                w.append("EXECUTION_COOLDOWN_SECONDS=0 with live execution: no pause between trades.")
            if not self.enable_ml_scoring:
                w.append("ENABLE_ML_SCORING=false with live execution: trades are decided without the model.")
        elif self.private_key is not None:
            w.append("PRIVATE_KEY is set although ENABLE_EXECUTION=false: keep keys out of environments that "
                     "do not need them.")
        for field in URL_FIELDS:
            url = getattr(self, field)
            if url and not is_local_url(url) and urlsplit(url).scheme.lower() in ("http", "ws"):
                w.append(f"{field.upper()} uses unencrypted {urlsplit(url).scheme}:// to a remote host: "
                         "use https:// or wss://.")
        # The min edge is net of fees. A net margin thinner than the fees themselves means a wrong fee tier or a
        # few bps of slippage erases it.
        fees = self.round_trip_fee_bps()
        for base, rt in sorted(fees.items()):
            if m.min_edge_bps < rt:
                w.append(f"min edge {m.min_edge_bps} bps (net of fees) is below the round-trip fees for {base} in "
                         f"FEE_OVERRIDES ({rt.normalize():f} bps): a fee-tier or slippage misestimate of a few bps "
                         "turns such trades into losses. Check the fees match your account's tier.")
        if not fees and m.min_edge_bps < 10:
            w.append(f"min edge is {m.min_edge_bps} bps (net of fees): a thin margin; a fee-tier or slippage "
                     "misestimate of a few bps turns such trades into losses.")
        if m.kelly_fraction > 0.5:
            w.append(f"KELLY_FRACTION={m.kelly_fraction} is above half-Kelly: expect deep drawdowns.")
        if m.max_leverage > PRESETS["aggressive"].max_leverage:
            w.append(f"MAX_LEVERAGE={m.max_leverage} is above the aggressive preset's "
                     f"{PRESETS['aggressive'].max_leverage}x.")
        if m.min_confidence < PRESETS["aggressive"].min_confidence:
            w.append(f"AI_MIN_CONFIDENCE={m.min_confidence} is below the aggressive preset's "
                     f"{PRESETS['aggressive'].min_confidence}.")
        if self.flash_loan_min_profit_eth == 0 and self.enable_flash_loans:
            w.append("FLASH_LOAN_MIN_PROFIT_ETH=0: any positive estimate executes; a gas spike turns it into a loss.")
        if self.max_data_age_ms > 10_000:
            w.append(f"MAX_DATA_AGE_MS={self.max_data_age_ms}: quotes older than 10 s are usually gone.")
        for q, r in sorted(self.quote_usd_rates.items()):
            if q != "USD" and r == 1:
                w.append(f"QUOTE_USD_RATES treats {q} at par with USD (1.0): an explicit assumption; "
                         "set a rate if not.")
        for s in self.symbols:
            quote = s.partition("/")[2].split(":")[0].upper()
            if quote and quote not in self.quote_usd_rates:
                w.append(f"CEX_SYMBOLS has {s} but QUOTE_USD_RATES has no rate for {quote}: "
                         f'add e.g. "{quote}": "1.0" so its profits can be valued in USD.')
        return w

    def redacted(self) -> dict[str, str]:
        """Every effective setting as display strings; secrets show only whether they are set, URLs only their host."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                out[name.upper()] = "<set, redacted>" if value is not None else "<unset>"
            elif name in URL_FIELDS:
                out[name.upper()] = redact_url(value)
            elif isinstance(value, dict):
                out[name.upper()] = json.dumps({k: str(x) for k, x in value.items()})
            else:
                out[name.upper()] = "<unset>" if value is None else str(value)
        m = self.mode
        for k in PRESET_VARIABLES:
            out[f"effective.{k}"] = str(getattr(m, k))
        return out


def _shown(value: Any) -> str | None:
    """How an invalid input may be echoed in an error message; None when it must not be."""
    if not isinstance(value, str | int | float | Decimal):
        return None
    text = str(value)
    if _KEY_LIKE.match(text.strip()):
        return None  # looks like a pasted key or token: never echoed, whatever variable it landed in
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _problems_from(e: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in e.errors(include_url=False, include_context=False):
        loc = tuple(str(x) for x in err.get("loc", ()))
        field = loc[0] if loc else "settings"
        sensitive = field in SECRET_FIELDS or field in URL_FIELDS
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        raw = err.get("input")
        if sensitive:
            # The input is never appended. Our validators' messages for these fields never interpolate the value
            # (value_error; tests hold this for any input). Should one of pydantic's own messages quote the input,
            # the whole message is replaced.
            text = raw.get_secret_value() if isinstance(raw, SecretStr) else "" if raw is None else str(raw)
            if err.get("type") != "value_error" and text and text in msg:
                msg = f"is invalid ({err.get('type')}); the value is not shown"
        elif err.get("type") != "value_error" and "input" in err and (shown := _shown(raw)) is not None:
            msg = f"{msg} (got {shown})"
        if len(loc) > 1:
            msg = f"at {'.'.join(loc[1:])!r}: {msg}"
        out.append((field.upper(), msg))
    return out


def _register_secrets(s: Settings) -> None:
    from arb.logs import register_secret  # logs imports nothing from here: no cycle

    for value in s.secret_values():
        register_secret(value)


def load_settings(env_files: tuple[Path | str, ...] | None = None, **overrides: Any) -> Settings:
    """Read settings once. Later env files win over earlier ones; real environment variables win over all files;
    keyword overrides win over everything. ``env_files=None`` reads ``./.env``.

    Raises :class:`ConfigError` listing *every* problem found, each with its variable's name. The error carries no
    chained pydantic exception (whose text would echo inputs, secrets included). The secrets of a loaded
    configuration are registered with :mod:`arb.logs` so they are redacted from every log line.
    """
    kwargs: dict[str, Any] = dict(overrides)
    if env_files is not None:
        kwargs["_env_file"] = tuple(str(p) for p in env_files)
    problems: list[tuple[str, str]] | None = None
    try:
        s = Settings(**kwargs)
    except ValidationError as e:
        problems = _problems_from(e)
        bad = {name.lower() for name, _ in problems}
        # Run the cross-variable checks too, with the bad fields at their defaults, so one pass reports everything;
        # a check that reads a bad field is skipped (its message would be about a value nobody chose).
        defaults = {f: Settings.model_fields[f].get_default(call_default_factory=True)
                    for f in bad if f in Settings.model_fields}
        try:
            fallback = Settings(**{**kwargs, **defaults})
        except ValidationError:
            fallback = None
        if fallback is not None:
            problems += [(n, m) for n, fields, m in fallback._cross_checks() if not (fields & bad)]
    if problems is not None:
        raise ConfigError(problems)  # outside the except block: no __context__ holding the ValidationError
    problems = s.cross_problems()
    if problems:
        raise ConfigError(problems)
    _register_secrets(s)
    return s
