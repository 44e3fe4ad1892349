"""The one place that builds clients (ccxt exchanges, the warehouse writer, sources) from Settings.

Everything else receives its collaborators through constructors, so tests can pass fakes.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from arb.decide.decider import Decider, Thresholds
from arb.decide.history import RouteStats
from arb.decide.scoring import HeuristicScorer
from arb.detect.cex import EdgeParams
from arb.engine import Engine, EngineConfig, IdGen
from arb.errors import BadInput, FatalError
from arb.execute.paper import PaperCexExecutor
from arb.execute.router import ExecutorRouter
from arb.market.fees import FeeSchedule
from arb.market.source import BookSource
from arb.market.validate import MarketState
from arb.risk.limits import KillSwitch, RiskLimits, RiskManager, RiskState
from arb.settings import Settings

PROFILES_DIR = Path(__file__).parent / "profiles"


def resolve_profile(profile: str | None) -> Path | None:
    """A profile is an env file: a path, or the name of one shipped in arb/profiles/ (without .env)."""
    if not profile:
        return None
    p = Path(profile)
    if p.is_file():
        return p
    shipped = PROFILES_DIR / f"{profile}.env"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(x.stem for x in PROFILES_DIR.glob("*.env")))
    raise BadInput("unknown_profile", f"profile {profile!r} is neither a file nor a shipped profile ({names})")


def env_files(profile: str | None, env_file: str | None = ".env") -> tuple[Path, ...]:
    """``.env`` first, then the profile (later files win; real environment variables win over both)."""
    files: list[Path] = []
    if env_file and Path(env_file).is_file():
        files.append(Path(env_file))
    prof = resolve_profile(profile)
    if prof is not None:
        files.append(prof)
    return tuple(files)


def parse_speed(speed: str) -> float | None:
    s = speed.strip().lower()
    if s in ("max", "fast", ""):
        return None
    if s in ("realtime", "real-time", "1x"):
        return 1.0
    try:
        v = float(s.removesuffix("x"))
    except ValueError:
        raise BadInput("bad_speed", f"--speed must be max, realtime or a factor such as 60x; got {speed!r}") from None
    if v <= 0:
        raise BadInput("bad_speed", f"--speed factor must be positive; got {speed!r}")
    return v


def parse_duration(text: str | None) -> timedelta | None:
    """``90s``, ``15m``, ``2h``, ``1d`` or plain seconds."""
    if not text:
        return None
    t = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if t[-1] in units:
            return timedelta(seconds=float(t[:-1]) * units[t[-1]])
        return timedelta(seconds=float(t))
    except (ValueError, IndexError):
        raise BadInput("bad_duration", f"--duration must look like 90s, 15m, 2h or 1d; got {text!r}") from None


def fee_schedule(settings: Settings, market_fees: dict | None = None) -> FeeSchedule:
    return FeeSchedule(settings.fee_overrides, market_fees)


def build_replay_source(settings: Settings, data: str | Path) -> BookSource:
    path = Path(data)
    if not path.exists():
        raise BadInput("missing_data", f"replay data {path} does not exist; pass --data PATH to a Lean minute-bar "
                                       "folder (e.g. ../shared/data/cex-minute-bars-20221213) or a recording file")
    if path.is_file():
        from arb.market.recording import RecordingSource

        return RecordingSource(path)
    from arb.market.lean import LeanMinuteSource

    return LeanMinuteSource(
        path,
        levels=settings.replay_levels,
        level_step_bps=settings.replay_level_step_bps,
        depth_fraction=settings.replay_depth_fraction,
        half_spread_bps=settings.replay_half_spread_bps,
    )


def build_ccxt_source(settings: Settings) -> tuple[BookSource, dict]:
    import time

    from arb.market.ccxt_source import CcxtBookSource, build_exchange, fetch_taker_fees

    exchanges = {ex: build_exchange(ex, {"enableRateLimit": True}) for ex in settings.exchanges}
    source = CcxtBookSource(
        exchanges, settings.symbols, depth=20, poll_interval=settings.poll_interval,
        clock=lambda: datetime.now(UTC), sleep=time.sleep,
    )
    fees: dict = {}
    for ex in exchanges.values():
        try:
            fees.update(fetch_taker_fees(ex, settings.symbols))
        except Exception:  # noqa: BLE001 - market info is optional; FeeSchedule falls back to ccxt defaults
            pass
    return source, fees


def thresholds(settings: Settings) -> Thresholds:
    m = settings.mode
    return Thresholds(
        ai_mode=m.name,
        min_confidence=m.min_confidence,
        min_edge_bps=m.min_edge_bps,
        cex_min_profit_usd=settings.cex_min_profit_usd,
        flash_loan_min_profit_eth=settings.flash_loan_min_profit_eth,
        eth_usd_price=settings.eth_usd_price,
        enable_cex=settings.enable_cex_execution,
        enable_flash_loans=settings.enable_flash_loans,
    )


def risk_limits(settings: Settings) -> RiskLimits:
    return RiskLimits(
        max_daily_executions=settings.max_daily_executions,
        max_daily_loss_usd=settings.max_daily_loss_usd,
        max_concurrent=settings.max_concurrent_executions,
        cooldown_s=settings.execution_cooldown_seconds,
        max_position_usd=settings.capital_usd * settings.mode.max_position_pct,
    )


def restore_risk_state(settings: Settings, scope: str, day: date) -> RiskState | None:
    """A day's counters for ``scope`` from the warehouse, so limits survive a restart (None: nothing stored)."""
    from arb.warehouse.reader import load_daily_limits

    if not Path(settings.warehouse_path).exists():
        return None
    row = load_daily_limits(settings.warehouse_path, scope, day)
    if row is None:
        return None
    return RiskState(scope=scope, day=day, executions=row.executions, profit_usd=row.profit_usd,
                     loss_usd=row.loss_usd, stopped_reason=row.stopped_reason)


def _chain(*fns: Any) -> Any:
    def hook(ex: Any) -> None:
        for f in fns:
            f(ex)

    return hook


ALERT_CHECK_SECONDS = 10.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def alert_sink(writer: Any, run_id: str, level: str = "warning") -> Any:
    """``alert(kind, message)`` -> a warehouse alert row (wall-clock time) for this run."""

    def alert(kind: str, message: str) -> None:
        writer.add_alert(at=datetime.now(UTC), level=level, kind=kind, message=message, run_id=run_id)

    return alert


def build_scorer(settings: Settings, *, writer: Any, run_id: str) -> tuple[Any, Any]:
    """The decider's scorer and the retrain ``on_execution`` hook (or None).

    ENABLE_ML_SCORING=false: ``HeuristicScorer()``, no hook. True: ``MLScorer`` over the heuristic with the MLflow
    champion loader (no champion yet: the heuristic path, ``model_version`` none; the alias is re-checked every
    MODEL_RELOAD_SECONDS of wall time), and, when no Prefect server is configured (PREFECT_API_URL unset: the
    Prefect deployment schedules retraining then), a ``RetrainTrigger`` retraining after every
    RETRAIN_EVERY_EXECUTIONS executions in a background thread. Neither imports mlflow or sklearn until a champion
    exists or a retrain starts.
    """
    import os
    import time

    heuristic = HeuristicScorer()
    if not settings.enable_ml_scoring:
        return heuristic, None
    from arb.ml.scorer import MlflowChampionLoader, MLScorer
    from arb.ml.trigger import RetrainTrigger

    uri = settings.mlflow_tracking_uri
    alert = alert_sink(writer, run_id)
    scorer = MLScorer(heuristic, MlflowChampionLoader(uri), reload_seconds=settings.model_reload_seconds,
                      clock=time.monotonic, alert=alert, background=True)
    if os.environ.get("PREFECT_API_URL"):
        return scorer, None
    warehouse = settings.warehouse_path

    def retrain() -> Any:
        # In a child process: training holds the GIL for seconds, which a thread would take from the detection loop
        # (bench/ml_bench.py: engine.step p99 41 ms idle -> 160 ms with an in-thread retrain).
        import json
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "arb.cli", "train", "--warehouse", str(warehouse), "--tracking-uri", uri,
               "--min-samples", str(settings.retrain_min_samples), "--every", str(settings.retrain_every_executions)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, preexec_fn=_die_with_parent)
        if r.returncode != 0:
            raise RuntimeError(f"`arb train` exited {r.returncode}: {(r.stderr or r.stdout)[-800:]}")
        return json.loads(r.stdout)

    return scorer, RetrainTrigger(retrain, every=settings.retrain_every_executions, alert=alert)


def build_engine(
    settings: Settings,
    *,
    source: BookSource,
    run_id: str,
    risk_scope: str,
    writer: Any,
    speed: float | None = None,
    duration: timedelta | None = None,
    market_fees: dict | None = None,
    ids: IdGen | None = None,
    detectors: list | None = None,
    executors: dict[str, Any] | None = None,
    **hooks: Any,
) -> Engine:
    if settings.enable_execution and settings.enable_cex_execution:
        # Live flash loans are wired by arb.wiring_chain (and refused on unconfirmed chains by their executor); live
        # CEX orders are not: with ENABLE_CEX_EXECUTION=false the decider rejects CEX opportunities instead.
        raise FatalError(
            "ENABLE_EXECUTION=true with ENABLE_CEX_EXECUTION=true: live CEX order routing is not available yet in "
            "this version; set ENABLE_CEX_EXECUTION=false (live flash loans only) or ENABLE_EXECUTION=false to run "
            "in dry-run (paper) mode"
        )
    from arb.warehouse.reader import load_route_stats

    ids = ids or IdGen(run_id)
    fees = fee_schedule(settings, market_fees)

    def fee(venue: str, symbol: str):
        return fees.taker(venue, symbol)[0]

    m = settings.mode
    edge = EdgeParams(
        trade_size_usd=settings.cex_trade_size_usd,
        max_position_usd=settings.capital_usd * m.max_position_pct,
        quote_usd=settings.quote_usd_rates,
        fee=fee,
    )
    # The day starts unset: the first batch's (source-time) day restores that day's counters from the warehouse.
    risk = RiskManager(risk_limits(settings), RiskState(scope=risk_scope, day=date.min),
                       KillSwitch(settings.kill_switch_file),
                       restore=lambda scope, day: restore_risk_state(settings, scope, day))
    scorer, retrain_hook = build_scorer(settings, writer=writer, run_id=run_id)
    # With a Prefect server, every recorded execution is an event (the retrain deployment's trigger counts them);
    # without one, the RetrainTrigger hook retrains in the background instead.
    events_hook = None
    if os.environ.get("PREFECT_API_URL"):
        from arb.ops.events import ExecutionEvents

        events_hook = ExecutionEvents(writer, run_id=run_id)
    # Alerts (win rate, gas share, success rate, drawdown, daily loss used) are evaluated on the warehouse at every
    # stats interval: logged, recorded in the alerts table, and emitted as Prefect events when a server is configured.
    from arb.ops.alerts import AlertMonitor, AlertThresholds, prefect_emitter, warehouse_recorder
    from arb.ops.metrics import snapshot_from_settings

    monitor = AlertMonitor(lambda: snapshot_from_settings(settings, now=datetime.now(UTC)),
                           AlertThresholds.from_settings(settings), record=warehouse_recorder(writer, run_id),
                           emit=prefect_emitter() if os.environ.get("PREFECT_API_URL") else None)
    last_check = [float("-inf")]

    def check_alerts(_stats: Any) -> None:
        # at most every ALERT_CHECK_SECONDS of wall time: a replay emits stats every few milliseconds, and each check
        # reads the warehouse (a 1,440-minute replay went from 4 s to 53 s when it checked on every stats line)
        t = time.monotonic()
        if t - last_check[0] >= ALERT_CHECK_SECONDS:
            last_check[0] = t
            monitor.check()

    user_stats = hooks.pop("on_stats", None)
    hooks["on_stats"] = check_alerts if user_stats is None else _chain(user_stats, check_alerts)
    extra_hooks = [h for h in (hooks.pop("on_execution", None), events_hook, retrain_hook) if h is not None]
    if extra_hooks:
        hooks["on_execution"] = extra_hooks[0] if len(extra_hooks) == 1 else _chain(*extra_hooks)
    from arb.risk.reset import ResetWatcher
    from arb.warehouse.resets import latest_reset

    hooks.setdefault("reset_watcher", ResetWatcher(lambda: latest_reset(settings.warehouse_path, risk_scope), risk))
    decider = Decider(scorer=scorer, thresholds=thresholds(settings), risk=risk, next_id=ids.maker("d"))
    paper = PaperCexExecutor(
        latency_ms=settings.execution_latency_ms,
        slippage_tolerance_bps=settings.slippage_tolerance_bps,
        fee=fee,
        quote_usd=settings.quote_usd_rates,
        next_id=ids.maker("x"),
    )
    executor = ExecutorRouter({"cex_arb": paper, **(executors or {})})
    route_stats: dict[str, RouteStats] = {}
    if Path(settings.warehouse_path).exists():
        for rid, row in load_route_stats(settings.warehouse_path, risk_scope).items():
            route_stats[rid] = RouteStats(**{f: getattr(row, f) for f in RouteStats.__dataclass_fields__})
    engine = Engine(
        run_id=run_id,
        source=source,
        state=MarketState(),
        edge=edge,
        decider=decider,
        executor=executor,
        writer=writer,
        ids=ids,
        config=EngineConfig(
            max_data_age_ms=settings.max_data_age_ms,
            stats_interval_s=settings.stats_interval_seconds,
            decision_batch_size=settings.decision_batch_size,
            speed=speed,
            duration=duration,
        ),
        route_stats=route_stats,
        ml_enabled=settings.enable_ml_scoring,
        detectors=detectors,
        **hooks,
    )
    engine.retrain_trigger = retrain_hook  # the runner waits for a retrain in progress before it exits
    return engine
