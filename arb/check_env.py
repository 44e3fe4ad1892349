"""``arb check-env``: validate the whole configuration in one pass, then show what would run.

On failure: every problem, each as ``VARIABLE: what is wrong and how to fix it``; exit code 1.
On success: the effective configuration by group (secrets redacted, RPC URLs reduced to their host), where each
value came from, then the safety warnings; exit code 0.

This is edge code (a CLI command): it reads env files and the *names* of environment variables to say where each
value came from. It never prints a value of a secret: everything shown goes through ``Settings.redacted()`` or is a
message built without the input.
"""

from __future__ import annotations

import difflib
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from arb.errors import ConfigError
from arb.settings import PRESET_VARIABLES, SECRET_FIELDS, Settings, load_settings

DEFAULT_ENV_FILE = Path(".env")

# Display groups. Every Settings field appears in exactly one group (a unit test holds this); the six preset
# parameters are shown in the AI mode table with their preset and effective values.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AI mode", ("ai_mode", "enable_profit_maximization", "enable_ml_scoring")),
    ("Capital", ("current_capital_eth", "target_capital_eth", "eth_usd_price")),
    ("Thresholds", ("flash_loan_min_profit_eth", "cex_min_profit_usd", "slippage_tolerance_bps", "max_data_age_ms")),
    ("Risk limits", ("max_daily_executions", "max_daily_loss_usd", "max_concurrent_executions",
                     "execution_cooldown_seconds", "kill_switch_file", "risk_scope")),
    ("Execution", ("enable_execution", "enable_flash_loans", "enable_cex_execution", "arb_contract_address",
                   "private_key", "kraken_api_key", "kraken_api_secret", "alpaca_api_key", "alpaca_api_secret",
                   "execution_latency_ms")),
    ("Network", ("eth_rpc_url", "polygon_rpc_url")),
    ("On-chain and sandbox", ("priority_fee_gwei", "max_fee_gwei", "live_confirm_chain_ids", "sandbox_manifest_path",
                              "sandbox_state_path", "chain_manifest_path", "sandbox_seed",
                              "sandbox_compete_probability")),
    ("Market data and detection", ("cex_exchanges", "cex_symbols", "cex_trade_size_usd", "fee_overrides",
                                   "quote_usd_rates", "poll_interval", "decision_batch_size")),
    ("Replay", ("replay_levels", "replay_level_step_bps", "replay_depth_fraction", "replay_half_spread_bps")),
    ("Storage and logs", ("warehouse_path", "warehouse_flush_seconds", "warehouse_flush_rows", "log_path",
                          "log_level", "stats_interval_seconds")),
    ("ML model and retraining", ("mlflow_tracking_uri", "retrain_every_executions", "model_reload_seconds",
                                "retrain_min_samples")),
    ("Operations and alerts", (
        "api_host", "api_port", "api_token", "stack_prefect_port", "stack_mlflow_port", "reports_dir",
        "alert_min_win_rate", "alert_max_gas_share", "alert_min_success_rate", "alert_max_drawdown",
        "alert_daily_loss_used", "alert_min_executions")),
)
PRESET_LABELS = {
    "min_confidence": "min confidence",
    "kelly_fraction": "Kelly fraction",
    "max_leverage": "max leverage (x)",
    "min_edge_bps": "min edge (bps)",
    "ruin_tolerance": "ruin tolerance",
    "max_position_pct": "max position (fraction of capital)",
}


def check_env(env_files: tuple[Path, ...] | None, console: Console) -> int:
    """Validate the configuration read from ``env_files`` (``None``: ``./.env``) and the environment.

    Prints every problem and returns 1, or prints the effective configuration and the warnings and returns 0.
    """
    files = tuple(Path(p) for p in env_files) if env_files is not None else None
    problems = _env_file_problems(files or ())
    settings: Settings | None = None
    with _quiet("dotenv.main"):  # dotenv logs unparsable lines to stderr; they are reported as problems below
        try:
            settings = load_settings(env_files=files)
        except ConfigError as e:
            problems += e.problems
        except SettingsError as e:  # the message names the field and the source, never the value
            problems.append(("ENV_FILE", f"{e}; fix that variable's value"))
        except (OSError, UnicodeDecodeError) as e:
            problems.append(("ENV_FILE", f"could not be read ({type(e).__name__}); save it as UTF-8 text"))
        # The slow ccxt check still runs when other variables are invalid: on the valid rest of the configuration.
        partial = settings or _partial(files, problems)
    if partial is not None:
        problems += _exchange_problems(partial)
    if problems:
        _print_problems(problems, console)
        return 1
    assert settings is not None
    _print_config(settings, files, console)
    warnings = settings.warnings() + edge_warnings(settings, files)
    _print_warnings(warnings, console)
    return 0


# ---- checks that need I/O (the pure ones live in Settings) ----
@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


def _partial(files: tuple[Path, ...] | None, problems: list[tuple[str, str]]) -> Settings | None:
    """The configuration with every invalid variable at its default (no cross checks), or None."""
    bad = {name.lower() for name, _ in problems if name.lower() in Settings.model_fields}
    kwargs: dict[str, Any] = {f: Settings.model_fields[f].get_default(call_default_factory=True) for f in bad}
    if files is not None:
        kwargs["_env_file"] = tuple(str(p) for p in files)
    try:
        return Settings(**kwargs)
    except (ValidationError, SettingsError, OSError, UnicodeDecodeError):
        return None


def _read_files(files: tuple[Path, ...] | None) -> tuple[Path, ...]:
    return (DEFAULT_ENV_FILE,) if files is None else files


def _env_file_problems(files: Iterable[Path]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for path in files:
        if not path.is_file():
            problems.append(("ENV_FILE", f"{path} does not exist or is not a file; check the path given to "
                                         "--env-file/--profile"))
            continue
        try:
            from dotenv.parser import parse_stream
        except ImportError:  # pragma: no cover - python-dotenv comes with pydantic-settings
            continue
        try:
            with path.open(encoding="utf-8") as fh:
                bad_lines = [b.original.line for b in parse_stream(fh) if b.error]
        except (OSError, UnicodeDecodeError):
            continue  # load_settings reports it
        for line in bad_lines:  # the line's text is not shown: it may hold a secret
            problems.append(("ENV_FILE", f"{path} line {line} is not a valid NAME=value line and would be "
                                         "ignored; fix its syntax (quote values with spaces or '#')"))
    return problems


def _exchange_problems(s: Settings) -> list[tuple[str, str]]:
    try:
        import ccxt  # slow to import (~2 s): only here, at the edge
    except ImportError:  # pragma: no cover
        return []
    known = set(ccxt.exchanges)
    out = []
    for ex in s.exchanges:
        if ex not in known:
            close = difflib.get_close_matches(ex.lower(), sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see ccxt.exchanges for the ids"
            out.append(("CEX_EXCHANGES", f"{ex!r} is not a ccxt exchange id; {hint}"))
    return out


def _env_keys(path: Path) -> dict[str, str | None]:
    try:
        from dotenv import dotenv_values

        return {k.upper(): v for k, v in dotenv_values(path).items()}
    except (OSError, UnicodeDecodeError, ImportError):
        return {}


def edge_warnings(s: Settings, env_files: tuple[Path, ...] | None) -> list[str]:
    """Warnings that need the filesystem: kill switch present, readable secrets files, unknown variables."""
    w: list[str] = []
    if s.kill_switch_file.exists():
        w.append(f"KILL_SWITCH_FILE {s.kill_switch_file} exists: the engine will not execute until you delete it.")
    names = {f.upper() for f in Settings.model_fields}
    secret_names = {f.upper() for f in SECRET_FIELDS}
    for path in _read_files(env_files):
        if not path.is_file():
            continue
        keys = _env_keys(path)
        if any(keys.get(k) for k in secret_names):
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                w.append(f"{path} holds secrets and is readable by other users (mode {stat.filemode(mode)}): "
                         f"run chmod 600 {path}")
        unknown = sorted(k for k in keys if k not in names)
        for k in unknown:
            close = difflib.get_close_matches(k, sorted(names), n=1, cutoff=0.8)
            if close:
                w.append(f"{path} sets {k}, which arb does not read: did you mean {close[0]}? "
                         f"(until fixed, {close[0]} is not taken from this line)")
        others = [k for k in unknown if not difflib.get_close_matches(k, sorted(names), n=1, cutoff=0.8)]
        if others:
            w.append(f"{path} sets variables arb does not read (fine if another tool uses them): {', '.join(others)}")
    return w


# ---- output ----
def _print_problems(problems: list[tuple[str, str]], console: Console) -> None:
    n = len(problems)
    console.print(Text(f"arb check-env: {n} problem{'s' if n != 1 else ''} found", style="bold red"))
    for name, msg in problems:
        console.print(Text.assemble((name, "bold"), f": {msg}"), soft_wrap=True)
    console.print(Text("Fix these variables (in the environment or the env file) and run arb check-env again."),
                  soft_wrap=True)


def _sources(s: Settings, files: tuple[Path, ...] | None) -> dict[str, str]:
    """Where each variable's value came from: "env", an env file's name, or "default"."""
    out = {name.upper(): "default" for name in Settings.model_fields}
    for path in _read_files(files):  # later files win, as in load_settings
        if path.is_file():
            for k in _env_keys(path):
                if k in out:
                    out[k] = path.name
    environ = {k.upper() for k in os.environ}  # names only
    for k in out:
        if k in environ:
            out[k] = "env"
        elif k.lower() not in s.model_fields_set:
            out[k] = "default"
    return out


def _table(title: str) -> Table:
    t = Table(title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    t.add_column("variable", no_wrap=True)
    t.add_column("value", overflow="fold")
    t.add_column("source", style="dim", no_wrap=True)
    return t


def _print_config(s: Settings, files: tuple[Path, ...] | None, console: Console) -> None:
    shown = s.redacted()
    source = _sources(s, files)
    read = [f"{p} ({'read' if p.is_file() else 'not found'})" for p in _read_files(files)]
    console.print(Text("arb check-env: configuration OK", style="bold green"))
    console.print(Text(f"env files: {', '.join(read) or 'none'}; environment variables win over files"),
                  soft_wrap=True)

    m = s.mode
    for title, fields in GROUPS:
        t = _table(title)
        for f in fields:
            t.add_row(f.upper(), Text(shown[f.upper()]), source[f.upper()])
        if title == "Capital":
            t.add_row("capital in USD", Text(f"{s.capital_usd.normalize():f}"), "derived")
            t.add_row("target multiple", Text(f"{(s.target_capital_eth / s.current_capital_eth):.2f}x"), "derived")
        console.print(t)
        if title == "AI mode":
            p = m.preset
            pt = Table(title=Text(f"AI mode preset: {m.name}", style="bold"), title_justify="left",
                       box=box.SIMPLE_HEAD, show_edge=False)
            for col in ("parameter", "variable", "preset", "effective", "source"):
                pt.add_column(col, no_wrap=col in ("variable", "source"))
            for attr, var in PRESET_VARIABLES.items():
                overridden = var.upper() in m.overridden
                pt.add_row(PRESET_LABELS[attr], var.upper(), str(getattr(p, attr)),
                           Text(str(getattr(m, attr)), style="bold yellow" if overridden else ""),
                           f"override ({source[var.upper()]})" if overridden else "preset")
            console.print(pt)
            if m.overridden:
                console.print(Text(f"overridden: {', '.join(m.overridden)}", style="yellow"), soft_wrap=True)


def _print_warnings(warnings: list[str], console: Console) -> None:
    console.print(Text(f"Warnings ({len(warnings)})", style="bold yellow"))
    for line in warnings:
        console.print(Text(f"  ! {line}"), soft_wrap=True)
