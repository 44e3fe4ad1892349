"""Settings: the design's presets, override precedence, one-pass error reporting, secrets never echoed."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from arb import logs
from arb.errors import ConfigError
from arb.settings import PRESETS, SECRET_FIELDS, Settings, load_settings
from tests.unit.settings_isolation import FIELDS, clear_settings_env, isolated  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = REPO / ".env.example"
DESIGN_ORDER = [
    "AI_MODE", "ENABLE_EXECUTION", "ENABLE_PROFIT_MAXIMIZATION", "CURRENT_CAPITAL_ETH", "TARGET_CAPITAL_ETH",
    "AI_MIN_CONFIDENCE", "FLASH_LOAN_MIN_PROFIT_ETH", "CEX_MIN_PROFIT_USD", "ENABLE_FLASH_LOANS",
    "ENABLE_CEX_EXECUTION", "ENABLE_ML_SCORING", "ETH_RPC_URL", "POLYGON_RPC_URL", "ARB_CONTRACT_ADDRESS",
    "PRIVATE_KEY", "KRAKEN_API_KEY", "KRAKEN_API_SECRET", "ALPACA_API_KEY", "ALPACA_API_SECRET",
]
VALID_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
CHECKSUMMED = "0x8d2DF8b754154A3c16338353Ad9f7875B210D9B0"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
LIVE_FLASH = {
    "ENABLE_EXECUTION": "true", "ENABLE_CEX_EXECUTION": "false", "PRIVATE_KEY": VALID_KEY,
    "ARB_CONTRACT_ADDRESS": CHECKSUMMED, "ETH_RPC_URL": "http://127.0.0.1:8545",
}


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)


def problems_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, **overrides) -> list[tuple[str, str]]:
    set_env(monkeypatch, env)
    with pytest.raises(ConfigError) as info:
        load_settings(env_files=(), **overrides)
    return info.value.problems


# ---- the design's preset table ----
@pytest.mark.parametrize(
    ("mode", "confidence", "kelly", "leverage", "edge", "ruin", "position"),
    [
        ("conservative", 0.75, 0.25, 2.0, Decimal(40), 0.15, Decimal("0.15")),
        ("balanced", 0.70, 0.30, 3.0, Decimal(35), 0.20, Decimal("0.20")),
        ("aggressive", 0.60, 0.35, 5.0, Decimal(30), 0.30, Decimal("0.25")),
    ],
)
def test_presets_match_the_design_table(monkeypatch, mode, confidence, kelly, leverage, edge, ruin, position):
    monkeypatch.setenv("AI_MODE", mode.upper())  # case-insensitive
    m = load_settings(env_files=()).mode
    assert (m.name, m.min_confidence, m.kelly_fraction, m.max_leverage) == (mode, confidence, kelly, leverage)
    assert (m.min_edge_bps, m.ruin_tolerance, m.max_position_pct) == (edge, ruin, position)
    assert m.overridden == ()


def test_default_mode_is_conservative_and_dry_run():
    s = load_settings(env_files=())
    assert s.mode.name == "conservative"
    assert s.enable_execution is False


def test_explicit_variable_overrides_the_preset(monkeypatch):
    set_env(monkeypatch, {"AI_MODE": "balanced", "AI_MIN_CONFIDENCE": "0.9", "MIN_EDGE_BPS": "5"})
    m = load_settings(env_files=()).mode
    assert m.min_confidence == 0.9
    assert m.min_edge_bps == Decimal(5)
    assert m.kelly_fraction == PRESETS["balanced"].kelly_fraction  # not overridden: still the preset
    assert m.max_position_pct == PRESETS["balanced"].max_position_pct
    assert set(m.overridden) == {"AI_MIN_CONFIDENCE", "MIN_EDGE_BPS"}


def test_empty_override_means_the_preset(tmp_path):
    (tmp_path / "a.env").write_text("AI_MODE=aggressive\nMIN_EDGE_BPS=\nKELLY_FRACTION=\n")
    m = load_settings(env_files=(tmp_path / "a.env",)).mode
    assert m.min_edge_bps == Decimal(30)
    assert m.kelly_fraction == 0.35
    assert m.overridden == ()


def test_environment_beats_env_files(tmp_path, monkeypatch):
    (tmp_path / "a.env").write_text("AI_MODE=balanced\nCURRENT_CAPITAL_ETH=7\n")
    monkeypatch.setenv("AI_MODE", "aggressive")
    s = load_settings(env_files=(tmp_path / "a.env",))
    assert s.ai_mode == "aggressive"
    assert s.current_capital_eth == Decimal(7)  # the file still supplies what the environment does not


def test_later_env_file_beats_earlier(tmp_path):
    (tmp_path / "base.env").write_text("AI_MODE=balanced\nMIN_EDGE_BPS=7\n")
    (tmp_path / "profile.env").write_text("AI_MODE=aggressive\n")
    s = load_settings(env_files=(tmp_path / "base.env", tmp_path / "profile.env"))
    assert s.ai_mode == "aggressive"
    assert s.mode.min_edge_bps == Decimal(7)
    assert s.mode.overridden == ("MIN_EDGE_BPS",)


def test_keyword_overrides_beat_the_environment(monkeypatch):
    monkeypatch.setenv("AI_MODE", "aggressive")
    assert load_settings(env_files=(), ai_mode="balanced").ai_mode == "balanced"


def test_no_env_files_given_reads_dot_env_in_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text("AI_MODE=balanced\n")
    assert load_settings().ai_mode == "balanced"
    assert load_settings(env_files=()).ai_mode == "conservative"


# ---- every error class names its variable ----
BAD_CHECKSUM = CHECKSUMMED[:-2] + CHECKSUMMED[-2].swapcase() + CHECKSUMMED[-1]  # ...B0 -> ...b0


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({"AI_MODE": "wild"}, "AI_MODE", "use one of: conservative, balanced, aggressive"),
        ({"CURRENT_CAPITAL_ETH": "-5"}, "CURRENT_CAPITAL_ETH", "positive"),
        ({"CURRENT_CAPITAL_ETH": "abc"}, "CURRENT_CAPITAL_ETH", "decimal"),
        ({"TARGET_CAPITAL_ETH": "100"}, "TARGET_CAPITAL_ETH", "must be above CURRENT_CAPITAL_ETH"),
        ({"TARGET_CAPITAL_ETH": "50"}, "TARGET_CAPITAL_ETH", "must be above CURRENT_CAPITAL_ETH"),
        ({"PRIVATE_KEY": "abc"}, "PRIVATE_KEY", "64 hex digits"),
        ({"PRIVATE_KEY": "0" * 64}, "PRIVATE_KEY", "out of range"),
        ({"PRIVATE_KEY": f"{SECP256K1_N:064x}"}, "PRIVATE_KEY", "out of range"),
        ({"ARB_CONTRACT_ADDRESS": "0x1234"}, "ARB_CONTRACT_ADDRESS", "40 hex digits"),
        ({"ARB_CONTRACT_ADDRESS": BAD_CHECKSUM}, "ARB_CONTRACT_ADDRESS", "checksum"),
        ({**LIVE_FLASH, "PRIVATE_KEY": ""}, "PRIVATE_KEY", "required when ENABLE_EXECUTION=true"),
        ({**LIVE_FLASH, "ARB_CONTRACT_ADDRESS": ""}, "ARB_CONTRACT_ADDRESS", "required"),
        ({**LIVE_FLASH, "ETH_RPC_URL": ""}, "ETH_RPC_URL", "required"),
        ({"ENABLE_EXECUTION": "true", "ENABLE_FLASH_LOANS": "false"}, "KRAKEN_API_KEY", "needs exchange API keys"),
        ({"ENABLE_EXECUTION": "true", "ENABLE_FLASH_LOANS": "false", "KRAKEN_API_KEY": "k1"},
         "KRAKEN_API_SECRET", "set together"),
        ({"KRAKEN_API_KEY": "has space"}, "KRAKEN_API_KEY", "whitespace"),
        ({"ETH_RPC_URL": "not a url"}, "ETH_RPC_URL", "URL"),
        ({"ETH_RPC_URL": "ftp://example.org"}, "ETH_RPC_URL", "URL"),
        ({"ETH_RPC_URL": "http://"}, "ETH_RPC_URL", "URL"),
        ({"POLYGON_RPC_URL": "http://host:99999"}, "POLYGON_RPC_URL", "port"),
        ({"ENABLE_EXECUTION": "maybe"}, "ENABLE_EXECUTION", "boolean"),
        ({"MAX_DAILY_EXECUTIONS": "1.5"}, "MAX_DAILY_EXECUTIONS", "integer"),
        ({"POLL_INTERVAL": "fast"}, "POLL_INTERVAL", "number"),
        ({"MAX_LEVERAGE": "inf"}, "MAX_LEVERAGE", "finite"),
        ({"AI_MIN_CONFIDENCE": "1.5"}, "AI_MIN_CONFIDENCE", "between 0 and 1"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "DEBUG, INFO"),
        ({"FEE_OVERRIDES": "{bad"}, "FEE_OVERRIDES", "JSON object"),
        ({"FEE_OVERRIDES": "[1]"}, "FEE_OVERRIDES", "JSON object"),
        ({"FEE_OVERRIDES": '{"binance": "0.001"}'}, "FEE_OVERRIDES", "venue:BASE/QUOTE"),
        ({"FEE_OVERRIDES": '{"binance:BTC/USDT": "2"}'}, "FEE_OVERRIDES", "[0, 1)"),
        ({"FEE_OVERRIDES": '{"binance:BTC/USDT": "x"}'}, "FEE_OVERRIDES", "binance:BTC/USDT"),
        ({"QUOTE_USD_RATES": "{bad"}, "QUOTE_USD_RATES", "JSON object"),
        ({"QUOTE_USD_RATES": '{"EUR": "-1"}'}, "QUOTE_USD_RATES", "positive"),
        ({"CEX_SYMBOLS": "BTCUSDT"}, "CEX_SYMBOLS", "BASE/QUOTE"),
        ({"CEX_EXCHANGES": " , "}, "CEX_EXCHANGES", "at least one"),
    ],
)
def test_every_error_names_its_variable(monkeypatch, env, variable, fragment):
    problems = problems_of(env, monkeypatch)
    assert [name for name, _ in problems] == [variable], problems
    assert fragment in problems[0][1]


def test_all_problems_are_reported_in_one_pass(monkeypatch):
    problems = problems_of({"AI_MODE": "wild", "PRIVATE_KEY": "abc", "TARGET_CAPITAL_ETH": "50"}, monkeypatch)
    assert sorted(name for name, _ in problems) == ["AI_MODE", "PRIVATE_KEY", "TARGET_CAPITAL_ETH"]


def test_a_cross_check_on_an_invalid_variable_is_not_reported(monkeypatch):
    # The capital is invalid, so "target must be above capital" would compare against a default nobody chose.
    problems = problems_of({"CURRENT_CAPITAL_ETH": "-1", "TARGET_CAPITAL_ETH": "50"}, monkeypatch)
    assert [name for name, _ in problems] == ["CURRENT_CAPITAL_ETH"]


def test_an_invalid_keyword_override_is_reported_not_crashed_on():
    with pytest.raises(ConfigError) as info:
        load_settings(env_files=(), ai_mode="wild", current_capital_eth="-1")
    assert sorted(n for n, _ in info.value.problems) == ["AI_MODE", "CURRENT_CAPITAL_ETH"]


def test_config_error_carries_no_pydantic_error():
    with pytest.raises(ConfigError) as info:
        load_settings(env_files=(), private_key="not-a-key-SENSITIVE")
    assert info.value.__cause__ is None and info.value.__context__ is None


# ---- secrets ----
def test_malformed_private_key_is_not_echoed(monkeypatch):
    bad = "0xZZ" + "ab" * 31  # wrong: 'Z' is not hex
    problems = problems_of({"PRIVATE_KEY": bad}, monkeypatch)
    text = str(ConfigError(problems))
    assert "PRIVATE_KEY" in text and bad not in text and "ab" * 31 not in text


def test_non_string_secret_type_error_is_not_echoed():
    with pytest.raises(ConfigError) as info:
        load_settings(env_files=(), private_key=98765432109876543210)
    assert info.value.problems[0][0] == "PRIVATE_KEY"
    assert "98765432109876543210" not in str(info.value)


def test_key_pasted_into_a_number_variable_is_not_echoed(monkeypatch):
    problems = problems_of({"CURRENT_CAPITAL_ETH": VALID_KEY}, monkeypatch)
    assert problems[0][0] == "CURRENT_CAPITAL_ETH"
    assert VALID_KEY[2:20] not in str(problems)


def test_rpc_url_with_provider_key_is_not_echoed(monkeypatch):
    url = "https://eth-mainnet.example.com/v2/PROVIDERKEY123 "  # trailing space: invalid
    problems = problems_of({"ETH_RPC_URL": url}, monkeypatch)
    assert problems[0][0] == "ETH_RPC_URL" and "PROVIDERKEY123" not in str(problems)


def test_redacted_hides_secrets_and_rpc_url_paths(monkeypatch):
    env = {"PRIVATE_KEY": VALID_KEY, "KRAKEN_API_KEY": "kraken-key-123", "KRAKEN_API_SECRET": "kraken-secret-456",
           "ETH_RPC_URL": "https://eth-mainnet.example.com/v2/PROVIDERKEY123"}
    set_env(monkeypatch, env)
    s = load_settings(env_files=())
    shown = s.redacted()
    assert shown["PRIVATE_KEY"] == "<set, redacted>" and shown["ALPACA_API_KEY"] == "<unset>"
    assert shown["ETH_RPC_URL"] == "https://eth-mainnet.example.com/<redacted>"
    blob = repr(shown) + repr(s) + str(s)
    for value in (VALID_KEY[2:], "kraken-key-123", "kraken-secret-456", "PROVIDERKEY123"):
        assert value not in blob
    assert set(shown) >= FIELDS


def test_load_registers_secrets_for_log_redaction(monkeypatch):
    set_env(monkeypatch, {"KRAKEN_API_KEY": "kraken-key-123", "PRIVATE_KEY": VALID_KEY})
    load_settings(env_files=())
    assert logs.scrub("kraken-key-123") == logs.REDACTED
    assert VALID_KEY not in logs.scrub(f"key is {VALID_KEY}")


_token = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=4, max_size=40
).filter(lambda t: not any(c.isspace() for c in t))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(api_secret=_token.map(lambda t: "SECRET~" + t),
       key=st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda n: f"{n:064x}"))
def test_any_secret_never_appears_in_redacted_output(api_secret, key):
    with pytest.MonkeyPatch.context() as mp:
        clear_settings_env(mp)
        mp.setenv("KRAKEN_API_KEY", api_secret)
        mp.setenv("KRAKEN_API_SECRET", api_secret + "s")
        s = load_settings(env_files=(), private_key=key)
        blob = repr(s.redacted()) + repr(s) + str(s) + repr(s.model_dump()) + " ".join(s.warnings())
        assert api_secret not in blob and key not in blob


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_token.map(lambda t: "SECRET~" + t))
def test_any_malformed_private_key_is_never_echoed(raw):
    with pytest.raises(ConfigError) as info:
        load_settings(env_files=(), private_key=raw)
    assert [n for n, _ in info.value.problems] == ["PRIVATE_KEY"]
    assert raw not in str(info.value) and raw not in repr(info.value.problems)


# ---- warnings ----
def test_warnings_cover_live_remote_rpc_aggressive_and_fees(monkeypatch):
    env = {**LIVE_FLASH, "ETH_RPC_URL": "https://eth-mainnet.example.com/v2/PROVIDERKEY123", "AI_MODE": "aggressive",
           "MIN_EDGE_BPS": "5", "FEE_OVERRIDES": '{"binance:BTC/USDT": "0.001", "bybit:BTC/USDT": "0.0005"}'}
    set_env(monkeypatch, env)
    w = "\n".join(load_settings(env_files=()).warnings())
    assert "LIVE execution is ON" in w
    assert "ETH_RPC_URL points at a remote node" in w and "PROVIDERKEY123" not in w
    assert "AI_MODE=aggressive with LIVE execution" in w
    assert "below the round-trip fees for BTC in FEE_OVERRIDES (15 bps)" in w
    assert "overridden by: MIN_EDGE_BPS" in w


def test_round_trip_fees_group_venues_by_base_asset():
    # A route may buy BTC/BUSD on one venue and sell BTC/USDT on another: the worst pair of venues counts.
    fees = '{"binance:BTC/BUSD": "0", "binance:BTC/USDT": "0.001", "bybit:BTC/USDT": "0.0006", "okx:ETH/USDT": "0.002"}'
    s = load_settings(env_files=(), fee_overrides=fees)
    assert s.round_trip_fee_bps() == {"BTC": Decimal(16), "ETH": Decimal(20)}


def test_dry_run_defaults_warn_only_about_dry_run_and_par_stablecoins():
    w = load_settings(env_files=()).warnings()
    assert w[0].startswith("ENABLE_EXECUTION=false: dry-run")
    assert all(x.startswith(("ENABLE_EXECUTION=false", "QUOTE_USD_RATES treats")) for x in w), w


def test_local_rpc_in_live_mode_is_not_called_remote(monkeypatch):
    set_env(monkeypatch, LIVE_FLASH)
    w = "\n".join(load_settings(env_files=()).warnings())
    assert "remote node" not in w and "LIVE execution is ON" in w


def test_key_present_in_dry_run_is_flagged(monkeypatch):
    monkeypatch.setenv("PRIVATE_KEY", VALID_KEY)
    assert any(x.startswith("PRIVATE_KEY is set although ENABLE_EXECUTION=false") for x in
               load_settings(env_files=()).warnings())


# ---- .env.example ----
def _example_lines() -> list[str]:
    return ENV_EXAMPLE.read_text().splitlines()


def _example_keys() -> list[str]:
    return [m.group(1) for line in _example_lines() if (m := re.match(r"^([A-Z][A-Z0-9_]*)=", line))]


def test_env_example_lists_every_setting_and_nothing_else():
    keys = _example_keys()
    assert len(keys) == len(set(keys)), "a variable appears twice"
    assert set(keys) == FIELDS


def test_env_example_starts_with_the_design_names_in_order():
    assert _example_keys()[: len(DESIGN_ORDER)] == DESIGN_ORDER


def test_env_example_documents_every_variable_with_its_default():
    lines = _example_lines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            comment = []
            j = i - 1
            while j >= 0 and lines[j].startswith("# ") and not lines[j].startswith("# ==="):
                comment.insert(0, lines[j])
                j -= 1
            assert comment, f"{line.split('=')[0]} has no comment above it"
            assert "Default" in " ".join(comment), f"{line.split('=')[0]}: the comment does not state the default"


def test_env_example_loads_and_matches_the_defaults():
    s = load_settings(env_files=(ENV_EXAMPLE,))
    defaults = Settings(_env_file=None)
    differ = {f for f in Settings.model_fields if getattr(s, f) != getattr(defaults, f)}
    assert differ == {"eth_rpc_url"}  # the one placeholder: a local node
    assert s.eth_rpc_url == "http://127.0.0.1:8545"
    assert s.enable_execution is False
    assert all(getattr(s, f) is None for f in SECRET_FIELDS)
    assert s.mode.overridden == ()
