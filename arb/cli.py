"""``arb``: the command line. Heavy imports stay inside commands so ``arb --help`` is instant."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="ML-driven crypto arbitrage engine (dry-run by default)."
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EnvFile = Annotated[str, typer.Option("--env-file", help="Env file read first (real environment variables win).")]
Profile = Annotated[str | None, typer.Option("--profile", help="A profile env file, or the name of a shipped one "
                                              "(arb/profiles/NAME.env); it overrides --env-file.")]


def _load(env_file: str, profile: str | None):
    from arb import wiring
    from arb.errors import BadInput, ConfigError
    from arb.settings import load_settings

    try:
        return load_settings(env_files=wiring.env_files(profile, env_file))
    except ConfigError as e:
        for name, msg in e.problems:
            typer.echo(f"{name}: {msg}", err=True)
        typer.echo("configuration invalid: run `arb check-env` for the full report", err=True)
        raise typer.Exit(1) from None
    except BadInput as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


def _prefect_env() -> None:
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "true")


@app.command()
def run(
    source: Annotated[
        str, typer.Option(help="replay (a recorded day or recording file), sandbox (local chains + recorded CEX day), "
                               "chain (the chains of CHAIN_MANIFEST_PATH at ETH_RPC_URL / POLYGON_RPC_URL; "
                               "dry-run unless ENABLE_EXECUTION=true) or ccxt (live public books)")
    ] = "replay",
    data: Annotated[str | None, typer.Option(help="Replay data: a Lean minute-bar folder or a recording file.")] = None,
    speed: Annotated[str, typer.Option(help="Replay pace: max, realtime, or a factor such as 60x.")] = "max",
    duration: Annotated[str | None, typer.Option(help="Stop after this much source time: 90s, 15m, 2h, 1d.")] = None,
    env_file: EnvFile = ".env",
    profile: Profile = None,
    prefect: Annotated[bool, typer.Option("--prefect/--no-prefect", help="Run as a Prefect flow run (default) "
                                          "or as plain Python.")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Run the continuous detect -> decide -> execute -> record loop in the foreground."""
    if source == "sandbox" and profile is None:
        profile = "sandbox"  # the sandbox's documented thresholds (arb/profiles/sandbox.env)
    settings = _load(env_file, profile)
    from arb.logs import setup_logging

    setup_logging(settings.log_path, settings.log_level)
    from arb.errors import ArbError

    try:
        if prefect:
            _prefect_env()
            flow = _load_flow("detect_and_execute.py", "detect_and_execute")
            result = flow(source=source, data=data, speed=speed, duration=duration, profile=profile,
                          env_file=env_file, progress=progress)
        else:
            from arb.runner import run as run_engine

            summary = run_engine(settings, source=source, data=data, speed=speed, duration=duration,
                                 profile=profile, progress=progress)
            result = _summary_dict(summary)
    except ArbError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, indent=2, default=str))


def _summary_dict(summary) -> dict:
    return {"run_id": summary.run_id, "stopped_by": summary.stopped_by, "stats": summary.stats,
            "data_quality": summary.data_quality}


def _load_flow(filename: str, name: str):
    import importlib.util

    path = REPO_ROOT / "flows" / filename
    spec = importlib.util.spec_from_file_location(f"arb_flows_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise typer.BadParameter(f"cannot load flow file {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)


@app.command("check-env")
def check_env(env_file: EnvFile = ".env", profile: Profile = None) -> None:
    """Validate every setting in one pass; print the effective config (secrets redacted) and safety warnings."""
    from rich.console import Console

    from arb import wiring
    from arb.check_env import check_env as do_check
    from arb.errors import BadInput

    try:
        files = wiring.env_files(profile, env_file)
    except BadInput as e:
        typer.echo(f"--profile: {e}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(do_check(files, Console()))


@app.command()
def stats(
    run_id: Annotated[str | None, typer.Option("--run", help="A run id (default: the latest run).")] = None,
    warehouse: Annotated[Path | None, typer.Option(help="Warehouse file (default: WAREHOUSE_PATH).")] = None,
    env_file: EnvFile = ".env",
    profile: Profile = None,
) -> None:
    """Print the design's stats JSON, read from the warehouse (read-only, safe while a run writes)."""
    from arb.errors import ArbError
    from arb.warehouse.reader import stats as read_stats

    path = warehouse or _load(env_file, profile).warehouse_path
    try:
        typer.echo(json.dumps(read_stats(path, run_id), indent=2, default=str))
    except ArbError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


@app.command()
def kill(
    reason: Annotated[str, typer.Option(help="Why; shown in every decision it blocks.")] = "manual kill switch",
    release: Annotated[
        bool, typer.Option("--release", help="Remove the kill switch and allow executions again.")
    ] = False,
    env_file: EnvFile = ".env",
    profile: Profile = None,
) -> None:
    """Engage the kill switch: running engines stop submitting new executions at their next batch."""
    from arb.risk.limits import KillSwitch

    ks = KillSwitch(_load(env_file, profile).kill_switch_file)
    if release:
        typer.echo(f"kill switch released ({ks.path})" if ks.release() else f"kill switch was not engaged ({ks.path})")
    else:
        ks.engage(reason)
        typer.echo(f"kill switch ENGAGED at {ks.path}: {reason}. Release with `arb kill --release`.")


@app.command()
def pending(
    manifest: Annotated[Path | None, typer.Option(help="Deployment manifest (default: SANDBOX_MANIFEST_PATH).")] = None,
    address: Annotated[str | None, typer.Option(help="Account to inspect (default: each chain's deployer, the "
                                                "executor owner on the sandbox).")] = None,
    env_file: EnvFile = ".env",
    profile: Profile = None,
) -> None:
    """Transactions of the executor owner still pending on each chain of the manifest (read from the nodes)."""
    from arb.chain.manifest import Manifest
    from arb.errors import ArbError
    from arb.execute.pending import pending_transactions

    s = _load(env_file, profile)
    path = manifest or s.sandbox_manifest_path
    try:
        m = Manifest.read(path)
    except (ArbError, OSError) as e:
        typer.echo(f"error: cannot read the manifest {path}: {e}. Start the sandbox with `arb run --source sandbox`, "
                   "or pass --manifest", err=True)
        raise typer.Exit(1) from None
    out = {}
    for name, c in m.chains.items():
        who = address or c.deployer
        if c.rpc_url is None or who is None:
            out[name] = {"error": "no rpc_url or address in the manifest for this chain"}
            continue
        try:
            out[name] = pending_transactions(c.rpc_url, who)
        except (ArbError, OSError) as e:
            out[name] = {"error": f"node not reachable ({type(e).__name__}); is the sandbox running?"}
    typer.echo(json.dumps(out, indent=2))


@app.command("export-recording")
def export_recording(
    data: Annotated[Path, typer.Option(help="A Lean minute-bar folder.")],
    out: Annotated[Path, typer.Option(help="Output recording: .csv or .parquet")],
    env_file: EnvFile = ".env",
    profile: Profile = None,
) -> None:
    """Convert a Lean minute-bar folder to the general recording format (books derived as documented)."""
    from arb.market.lean import lean_to_recording

    s = _load(env_file, profile)
    n = lean_to_recording(data, out, levels=s.replay_levels, level_step_bps=s.replay_level_step_bps,
                          depth_fraction=s.replay_depth_fraction, half_spread_bps=s.replay_half_spread_bps)
    typer.echo(f"wrote {n.books} books in {n.batches} batches to {out}")


@app.command()
def train(
    from_path: Annotated[Path | None, typer.Option("--from", help="Pre-train from an execution history file "
                                                   "(.parquet, .csv or .duckdb; pickle is refused). Default: "
                                                   "retrain from every execution in the warehouse.")] = None,
    warehouse: Annotated[Path | None, typer.Option(help="Warehouse file (default: WAREHOUSE_PATH).")] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, "
                                                     "else sqlite:///mlruns/mlflow.db).")] = None,
    min_samples: Annotated[int, typer.Option(help="Skip training below this many executions.")] = 200,
    holdout: Annotated[float, typer.Option(help="The most recent fraction (or count, if >= 1) held out.")] = 0.2,
    force: Annotated[bool, typer.Option("--force", help="Train even if this data was already trained on.")] = False,
    every: Annotated[int | None, typer.Option(min=1, help="Train on whole blocks of this many executions, and only "
                                              "when a new block completed since the newest version (the "
                                              "every-25-trades rule).")] = None,
    env_file: EnvFile = ".env",
    profile: Profile = None,
) -> None:
    """Train the execution-success model, log it to MLflow, and promote it to `champion` only if it beats the champion
    on the same held-out window (otherwise it becomes `challenger`)."""
    from arb.errors import ArbError
    from arb.ml.dataset import refuse_pickle

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlruns/mlflow.db"
    hold = int(holdout) if holdout >= 1 else holdout
    try:
        if from_path is not None:
            refuse_pickle(from_path)
            from arb.ml.train import train_from_file

            result = train_from_file(from_path, uri, min_samples=min_samples, holdout=hold, force=force)
        else:
            from arb.ml.train import retrain

            path = warehouse or _load(env_file, profile).warehouse_path
            result = retrain(path, uri, min_samples=min_samples, holdout=hold, force=force, every=every)
    except (ArbError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result.as_dict(), indent=2, default=str))


@app.command()
def report(
    period: Annotated[str, typer.Option(help="hourly (last 60 min), daily (last 24 h) or all.")] = "hourly",
    prefect: Annotated[bool, typer.Option("--prefect/--no-prefect", help="Run as a Prefect flow run and publish "
                                          "the summary and tables as artifacts, or as plain Python.")] = False,
    env_file: EnvFile = ".env",
    profile: Profile = None,
) -> None:
    """Write the HTML report (PnL, win rate, rejection reasons, model versions, plots) under REPORTS_DIR and print its
    markdown summary. Read-only on the warehouse: safe while a run writes."""
    from datetime import UTC, datetime

    from arb.errors import ArbError

    settings = _load(env_file, profile)
    try:
        if prefect:
            _prefect_env()
            flow = _load_flow("report.py", "report")
            typer.echo(json.dumps(flow(period=period, profile=profile, env_file=env_file), indent=2, default=str))
        else:
            from arb.report import make_report

            typer.echo(make_report(settings, period, datetime.now(UTC)).markdown)
    except ArbError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default: API_HOST, 127.0.0.1). A non-loopback "
                                             "address needs API_TOKEN.")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default: API_PORT, 8080; 0: any free "
                                             "port, printed).")] = None,
    env_file: EnvFile = ".env",
    profile: Profile = None,
) -> None:
    """Serve the dashboard API (/api/ai/..., read-only over the warehouse) and a status page at /."""
    settings = _load(env_file, profile)
    from arb.logs import setup_logging

    setup_logging(settings.log_path, settings.log_level)
    from arb.api.app import serve
    from arb.errors import ArbError

    try:
        serve(settings, host=host, port=port,
              announce=lambda url: typer.echo(f"dashboard API on {url} (status page at /, schema at /openapi.json); "
                                              "Ctrl+C to stop", err=True))
    except ArbError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


sandbox_app = typer.Typer(no_args_is_help=True, help="The whole local stack: sandbox chains, Prefect server and "
                          "worker, MLflow server, dashboard API.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("up")
def sandbox_up(
    duration: Annotated[str | None, typer.Option(
        help="Simulated time for the continuous run it starts (e.g. 30m); default: the deployment's (60m). "
             "'none' runs until stopped.")] = None,
    run: Annotated[bool, typer.Option("--run/--no-run", help="Start a detect-and-execute/continuous run once the "
                                      "stack is up.")] = True,
    env_file: EnvFile = ".env",
    profile: Profile = None,
    home: Annotated[Path | None, typer.Option(hidden=True, help="Runtime folder (PREFECT_HOME, state, service "
                                              "logs); default: the checkout. For tests.")] = None,
) -> None:
    """Bring up the whole stack in the foreground, print its URLs and a live stats line; Ctrl+C stops all of it.

    Ports: STACK_PREFECT_PORT (4200), STACK_MLFLOW_PORT (5000), API_PORT (8080)."""
    settings = _load(env_file, profile)
    from arb.logs import setup_logging
    from arb.stack.supervisor import REPO, StackConfig, StackPaths, up

    setup_logging(settings.log_path, settings.log_level)
    params = {} if duration is None else {"duration": None if duration.lower() == "none" else duration}
    cfg = StackConfig.from_settings(settings, run_continuous=run, run_parameters=params, env_file=env_file)
    os.chdir(REPO_ROOT)
    raise typer.Exit(up(cfg, paths=StackPaths(REPO, home.resolve() if home else None)))


@sandbox_app.command("down")
def sandbox_down(home: Annotated[Path | None, typer.Option(hidden=True)] = None) -> None:
    """Stop a stack started by `arb sandbox up` elsewhere (e.g. in the background), and everything it started."""
    from arb.stack.supervisor import REPO, StackPaths, down

    typer.echo(down(StackPaths(REPO, home.resolve() if home else None)))


@sandbox_app.command("env")
def sandbox_env(env_file: EnvFile = ".env", profile: Profile = None) -> None:
    """Print the exports that point `prefect` and `mlflow` at the running stack: eval "$(arb sandbox env)"."""
    settings = _load(env_file, profile)
    typer.echo(f"export PREFECT_API_URL=http://127.0.0.1:{settings.stack_prefect_port}/api")
    typer.echo(f"export PREFECT_HOME={REPO_ROOT / '.prefect'}")
    typer.echo(f"# MLflow UI: http://127.0.0.1:{settings.stack_mlflow_port}   dashboard API: http://{settings.api_host}:{settings.api_port}")
    typer.echo(f"export PATH={REPO_ROOT / '.venv' / 'bin'}:$PATH")


def main() -> None:  # pragma: no cover
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
