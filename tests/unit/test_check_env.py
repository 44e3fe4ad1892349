"""``arb check-env``: one pass over every problem, or the effective config and warnings; never a secret value."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rich.console import Console

from arb.check_env import GROUPS, check_env
from arb.settings import PRESET_VARIABLES, Settings
from tests.unit.settings_isolation import FIELDS, clear_settings_env, isolated  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
ARB = REPO / ".venv" / "bin" / "arb"
VALID_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KRAKEN_KEY = "kraken-KEY-aaaaaaaaaaaaaaaaaaaa"
KRAKEN_SECRET = "kraken-SECRET-bbbbbbbbbbbbbbbbbbbb"
PROVIDER_KEY = "PROVIDERKEYcccccccccc"
LIVE = {
    "ENABLE_EXECUTION": "true", "PRIVATE_KEY": VALID_KEY, "ARB_CONTRACT_ADDRESS":
    "0x8d2DF8b754154A3c16338353Ad9f7875B210D9B0", "ETH_RPC_URL": f"https://eth-mainnet.example.com/v2/{PROVIDER_KEY}",
    "KRAKEN_API_KEY": KRAKEN_KEY, "KRAKEN_API_SECRET": KRAKEN_SECRET,
}


def run(env_files: tuple[Path, ...] | None = ()) -> tuple[int, str]:
    buf = io.StringIO()
    rc = check_env(env_files, Console(file=buf, width=400, color_system=None))
    return rc, buf.getvalue()


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)


def assert_absent(secret: str, output: str) -> None:
    assert secret not in output
    assert secret not in re.sub(r"\s+", "", output)  # not even split across a wrapped line


def row(output: str, variable: str) -> list[str]:
    """The cells of a table row from the variable on, e.g. ['AI_MODE', 'balanced', '.env']."""
    for line in output.splitlines():
        cells = line.split()
        if variable in cells:
            return cells[cells.index(variable):]
    raise AssertionError(f"no row for {variable}")


def test_unknown_mode_fails_and_names_the_variable(monkeypatch):
    monkeypatch.setenv("AI_MODE", "wild")
    rc, out = run()
    assert rc == 1
    assert "AI_MODE: unknown mode 'wild'; use one of: conservative, balanced, aggressive" in out
    assert "configuration OK" not in out


def test_every_problem_is_listed_in_one_pass(monkeypatch):
    set_env(monkeypatch, {"AI_MODE": "wild", "PRIVATE_KEY": "abc-not-a-key-SENSITIVE", "TARGET_CAPITAL_ETH": "50",
                          "CEX_EXCHANGES": "binanse,bybit", "QUOTE_USD_RATES": "{oops"})
    rc, out = run()
    assert rc == 1
    assert "5 problems found" in out
    for name in ("AI_MODE", "PRIVATE_KEY", "TARGET_CAPITAL_ETH", "QUOTE_USD_RATES"):
        assert re.search(rf"^{name}: ", out, re.M), name
    assert "CEX_EXCHANGES: 'binanse' is not a ccxt exchange id; did you mean 'binance'?" in out
    assert_absent("abc-not-a-key-SENSITIVE", out)


def test_unparsable_number_and_bool_name_their_variables(monkeypatch):
    set_env(monkeypatch, {"CURRENT_CAPITAL_ETH": "lots", "ENABLE_EXECUTION": "perhaps"})
    rc, out = run()
    assert rc == 1
    assert re.search(r"^CURRENT_CAPITAL_ETH: .*decimal", out, re.M)
    assert re.search(r"^ENABLE_EXECUTION: .*boolean", out, re.M)


def test_valid_config_prints_every_setting_grouped_and_returns_0(monkeypatch):
    set_env(monkeypatch, {"AI_MODE": "balanced", "MIN_EDGE_BPS": "5"})
    rc, out = run()
    assert rc == 0, out
    assert "configuration OK" in out
    for title, _ in GROUPS:
        assert title in out
    for name in FIELDS:
        assert re.search(rf"(^|\s){name}\s", out, re.M), f"{name} not shown"
    assert row(out, "AI_MODE")[1:] == ["balanced", "env"]
    assert row(out, "CURRENT_CAPITAL_ETH")[1:] == ["100.0", "default"]
    assert row(out, "MIN_EDGE_BPS")[1:] == ["35", "5", "override", "(env)"]  # preset, effective, source
    assert row(out, "KELLY_FRACTION")[1:] == ["0.3", "0.3", "preset"]
    assert "overridden: MIN_EDGE_BPS" in out
    assert "Warnings (" in out and "dry-run" in out


def test_known_secret_values_never_appear_in_the_output(monkeypatch):
    set_env(monkeypatch, LIVE)
    rc, out = run()
    assert rc == 0, out
    for secret in (VALID_KEY, VALID_KEY[2:], KRAKEN_KEY, KRAKEN_SECRET, PROVIDER_KEY):
        assert_absent(secret, out)
    assert row(out, "PRIVATE_KEY")[1:] == ["<set,", "redacted>", "env"]
    assert row(out, "ETH_RPC_URL")[1] == "https://eth-mainnet.example.com/<redacted>"


def test_live_remote_rpc_and_aggressive_mode_warn(monkeypatch):
    set_env(monkeypatch, {**LIVE, "AI_MODE": "aggressive"})
    rc, out = run()
    assert rc == 0
    assert "LIVE execution is ON" in out
    assert "ETH_RPC_URL points at a remote node (https://eth-mainnet.example.com/<redacted>)" in out
    assert "AI_MODE=aggressive with LIVE execution" in out


def test_execution_without_a_key_fails(monkeypatch):
    set_env(monkeypatch, {**LIVE, "PRIVATE_KEY": ""})
    rc, out = run()
    assert rc == 1 and re.search(r"^PRIVATE_KEY: is required when ENABLE_EXECUTION=true", out, re.M)


def test_env_file_values_sources_and_edge_warnings(tmp_path, monkeypatch):
    env = tmp_path / "prod.env"
    env.write_text(f"AI_MODE=balanced\nKRAKEN_API_KEY={KRAKEN_KEY}\nMAX_DAILY_LOS_USD=100\nPREFECT_API_URL=x\n"
                   'FEE_OVERRIDES={"binance:BTC/USDT": "0.001", "bybit:BTC/USDT": "0.001"}\nMIN_EDGE_BPS=5\n')
    env.chmod(0o644)
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse" / "KILL").write_text("stop")
    rc, out = run((env,))
    assert rc == 0, out
    assert row(out, "AI_MODE")[1:] == ["balanced", "prod.env"]
    assert f"{env} holds secrets and is readable by other users" in out and "chmod 600" in out
    assert "sets MAX_DAILY_LOS_USD, which arb does not read: did you mean MAX_DAILY_LOSS_USD?" in out
    assert "arb does not read (fine if another tool uses them): PREFECT_API_URL" in out
    assert "KILL_SWITCH_FILE warehouse/KILL exists" in out
    assert "below the round-trip fees for BTC in FEE_OVERRIDES (20 bps)" in out
    assert_absent(KRAKEN_KEY, out)


def test_default_env_file_is_dot_env_in_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text("AI_MODE=aggressive\n")
    rc, out = run(None)
    assert rc == 0 and row(out, "AI_MODE")[1:] == ["aggressive", ".env"]


def test_missing_env_file_and_bad_line_are_problems(tmp_path):
    bad = tmp_path / "bad.env"
    bad.write_text(f"AI_MODE=balanced\nPRIVATE KEY {VALID_KEY}\n")
    rc, out = run((bad, tmp_path / "nope.env"))
    assert rc == 1
    assert f"ENV_FILE: {bad} line 2 is not a valid NAME=value line" in out
    assert f"ENV_FILE: {tmp_path / 'nope.env'} does not exist" in out
    assert_absent(VALID_KEY[2:], out)


def test_groups_cover_every_setting_exactly_once():
    grouped = [f for _, fields in GROUPS for f in fields]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) | set(PRESET_VARIABLES.values()) == set(Settings.model_fields)
    assert not set(grouped) & set(PRESET_VARIABLES.values())


_token = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=4, max_size=30
).filter(lambda t: not any(c.isspace() for c in t))


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(api=_token.map(lambda t: "SECRET~" + t), bad_key=_token.map(lambda t: "SECRET~" + t), valid=st.booleans())
def test_any_secret_never_appears_in_check_env_output(api, bad_key, valid):
    with pytest.MonkeyPatch.context() as mp:
        clear_settings_env(mp)
        mp.setenv("KRAKEN_API_KEY", api)
        mp.setenv("ALPACA_API_SECRET", api + "2")
        mp.setenv("PRIVATE_KEY", VALID_KEY if valid else bad_key)
        rc, out = run()
    assert rc == (0 if valid else 1), out
    assert_absent(api, out)
    assert_absent(bad_key, out)
    assert_absent(VALID_KEY[2:], out)


def _cli_has_check_env() -> str | None:
    if not ARB.exists():
        return f"{ARB} does not exist (run `make setup`)"
    try:
        probe = subprocess.run([str(ARB), "check-env", "--help"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{ARB} could not run: {e}"
    if probe.returncode != 0:
        return "the `arb` CLI has no check-env command yet (it is wired into arb/cli.py separately)"
    return None


def test_console_script_check_env(tmp_path):
    reason = _cli_has_check_env()
    if reason:
        pytest.skip(reason)
    base = {k: v for k, v in os.environ.items() if k.upper() not in FIELDS}
    env_file = tmp_path / "live.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in LIVE.items()))
    env_file.chmod(0o600)
    ok = subprocess.run([str(ARB), "check-env", "--env-file", str(env_file)], capture_output=True, text=True,
                        cwd=tmp_path, env={**base, "COLUMNS": "300"}, timeout=300)
    output = ok.stdout + ok.stderr
    assert ok.returncode == 0, output
    assert "configuration OK" in output and "LIVE execution is ON" in output
    for secret in (VALID_KEY[2:], KRAKEN_KEY, KRAKEN_SECRET, PROVIDER_KEY):
        assert_absent(secret, output)
    bad = subprocess.run([str(ARB), "check-env"], capture_output=True, text=True, cwd=tmp_path,
                         env={**base, "COLUMNS": "300", "AI_MODE": "wild", "PRIVATE_KEY": "SENSITIVE-not-a-key"},
                         timeout=300)
    assert bad.returncode == 1
    assert "AI_MODE: unknown mode 'wild'" in bad.stdout + bad.stderr
    assert_absent("SENSITIVE-not-a-key", bad.stdout + bad.stderr)

