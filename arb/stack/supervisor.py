"""`arb sandbox up`: the whole local stack from one command, in the foreground; Ctrl+C stops all of it.

Starts, in this order (each waits until healthy; a child that dies prints the end of its log):

1. the sandbox chains (``python -m arb.chain.sandbox --state ...``: two anvils with the real Uniswap contracts);
2. a Prefect server (SQLite under PREFECT_HOME=<repo>/.prefect), an MLflow server (``sqlite:///mlruns/mlflow.db``,
   one worker, job execution and telemetry off) and the dashboard API — these three start in parallel;
3. the work pool ``arb-process``, every deployment of prefect.yaml (``prefect deploy --all``) and a process worker;
4. a run of ``detect-and-execute/continuous`` (unless ``run=False``).

Then it prints the URLs and one live stats line. On SIGINT/SIGTERM it stops the flow runs first (they finish their
batch and flush the warehouse), then the worker, the API, MLflow, Prefect and the chains, each with SIGTERM and then
SIGKILL after a timeout, and finally sweeps every process still carrying this stack's ``ARB_STACK_ID`` (see
:mod:`arb.stack.procs`), so nothing is left behind. ``arb sandbox down`` does the same for a stack started elsewhere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arb.errors import FatalError
from arb.stack import procs
from arb.stack.procs import Child

REPO = Path(__file__).resolve().parents[2]
POOL = "arb-process"
CONTINUOUS = "detect-and-execute/continuous"


@dataclass(frozen=True)
class StackPaths:
    """``root``: the checkout (prefect.yaml, flows/); ``home``: where the stack keeps its runtime files (PREFECT_HOME,
    state, service logs) — the checkout itself unless told otherwise (tests use a temporary folder)."""

    root: Path
    home: Path | None = None

    @property
    def base(self) -> Path:
        return self.home or self.root

    @property
    def state(self) -> Path:
        return self.base / "warehouse" / "stack" / "state.json"

    @property
    def chains_state(self) -> Path:
        return self.base / "warehouse" / "stack" / "chains.json"

    @property
    def logs(self) -> Path:
        return self.base / "logs" / "stack"

    @property
    def prefect_home(self) -> Path:
        return self.base / ".prefect"


@dataclass
class StackConfig:
    prefect_port: int = 4200
    mlflow_port: int = 5000
    api_port: int = 8080
    api_host: str = "127.0.0.1"
    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    warehouse_path: Path = Path("warehouse/arb.duckdb")
    run_continuous: bool = True
    run_parameters: dict[str, Any] = field(default_factory=dict)
    start_timeout: float = 120.0
    stop_timeout: float = 15.0
    env_file: str = ".env"

    @classmethod
    def from_settings(cls, settings: Any, **kw: Any) -> StackConfig:
        return cls(prefect_port=settings.stack_prefect_port, mlflow_port=settings.stack_mlflow_port,
                   api_port=settings.api_port, api_host=settings.api_host,
                   tracking_uri=settings.mlflow_tracking_uri, warehouse_path=Path(settings.warehouse_path), **kw)

    @property
    def prefect_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - our own loopback services
            return 200 <= r.status < 300
    except OSError:
        return False


def _tail(path: Path, n: int = 20) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


class Stack:
    def __init__(self, config: StackConfig, *, paths: StackPaths | None = None,
                 out: Callable[[str], None] = print) -> None:
        self.cfg = config
        self.paths = paths or StackPaths(REPO)
        self.out = out
        self.stack_id = uuid.uuid4().hex
        self.children: dict[str, Child] = {}
        self.flow_run_id: str | None = None
        self._stopping = threading.Event()

    # ---- environment ----
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            procs.MARKER: self.stack_id,
            "ARB_HOME": str(self.paths.root),
            "PREFECT_HOME": str(self.paths.prefect_home),
            "PREFECT_API_URL": f"{self.cfg.prefect_url}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "DO_NOT_TRACK": "true",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_TRACKING_URI": self.cfg.tracking_uri,
            "SANDBOX_STATE_PATH": str(self.paths.chains_state),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    # ---- checks ----
    def preflight(self) -> None:
        st = read_state(self.paths)
        if st is not None and procs.pid_alive(int(st.get("pid", 0))):
            raise FatalError(f"a stack is already running (supervisor pid {st['pid']}, started "
                             f"{st.get('started_at')}): use it, or stop it with `arb sandbox down`")
        problems = []
        for setting, port in (("STACK_PREFECT_PORT", self.cfg.prefect_port),
                              ("STACK_MLFLOW_PORT", self.cfg.mlflow_port), ("API_PORT", self.cfg.api_port)):
            why = procs.port_problem(port)
            if why:
                problems.append(f"{why}: stop what uses it, or set {setting} to a free port")
        if len({self.cfg.prefect_port, self.cfg.mlflow_port, self.cfg.api_port}) < 3:
            problems.append("STACK_PREFECT_PORT, STACK_MLFLOW_PORT and API_PORT must be three different ports")
        if problems:
            raise FatalError("cannot start the stack:\n  " + "\n  ".join(problems))

    # ---- start ----
    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        c = procs.spawn(name, argv, env=env or self.env(), cwd=self.paths.root,
                        log_path=self.paths.logs / f"{name}.log")
        self.children[name] = c
        self._write_state()
        return c

    def _wait(self, name: str, ready: Callable[[], bool], what: str) -> float:
        c = self.children[name]
        t0 = time.monotonic()
        deadline = t0 + self.cfg.start_timeout
        while not ready():
            if not c.alive():
                raise FatalError(f"{name} exited with code {c.popen.returncode} while starting; the end of "
                                 f"{c.log_path}:\n{_tail(c.log_path)}")
            if self._stopping.is_set():
                raise FatalError(f"interrupted while waiting for {name}")
            if time.monotonic() > deadline:
                raise FatalError(f"{name} was not {what} after {self.cfg.start_timeout:g} s; see {c.log_path}")
            time.sleep(0.2)
        return time.monotonic() - t0

    def start(self) -> None:
        self.preflight()
        t0 = time.monotonic()
        self.paths.chains_state.parent.mkdir(parents=True, exist_ok=True)
        self.paths.chains_state.unlink(missing_ok=True)
        py = sys.executable
        self._spawn("chains", [py, "-m", "arb.chain.sandbox", "--state", str(self.paths.chains_state),
                               "--log-dir", str(self.paths.logs)])
        self._spawn("prefect-server", [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                       str(self.cfg.prefect_port)])
        db = Path(self.cfg.tracking_uri.removeprefix("sqlite:///"))
        db = db if db.is_absolute() else (self.paths.root / db)
        db.parent.mkdir(parents=True, exist_ok=True)
        self._spawn("mlflow-server", [_bin("mlflow"), "server", "--host", "127.0.0.1", "--port",
                                      str(self.cfg.mlflow_port), "--workers", "1",
                                      "--backend-store-uri", f"sqlite:///{db.resolve()}",
                                      "--default-artifact-root", (db.resolve().parent / "artifacts").as_uri()])
        self._spawn("api", [_bin("arb"), "api", "--host", self.cfg.api_host, "--port", str(self.cfg.api_port),
                            "--env-file", self.cfg.env_file])
        self.out("starting: sandbox chains, Prefect server, MLflow server, dashboard API ...")
        took = self._wait("chains", self.paths.chains_state.exists, "ready")
        self.out(f"  sandbox chains ready in {took:.1f} s")
        took = self._wait("prefect-server", lambda: _http_ok(f"{self.cfg.prefect_url}/api/health"), "healthy")
        self.out(f"  Prefect server healthy at {self.cfg.prefect_url} ({took:.1f} s)")
        took = self._wait("mlflow-server", lambda: _http_ok(f"{self.cfg.mlflow_url}/health"), "healthy")
        self.out(f"  MLflow server healthy at {self.cfg.mlflow_url} ({took:.1f} s)")
        took = self._wait("api", lambda: _http_ok(f"http://127.0.0.1:{self.cfg.api_port}/openapi.json"), "answering")
        self.out(f"  dashboard API answering at {self.cfg.api_url} ({took:.1f} s)")

        self._prefect_cli(["work-pool", "create", POOL, "--type", "process", "--overwrite"], "create the work pool")
        t1 = time.monotonic()
        self._prefect_cli(["--no-prompt", "deploy", "--all"], "deploy prefect.yaml")
        self.out(f"  deployed every flow of prefect.yaml ({time.monotonic() - t1:.1f} s)")
        self._spawn("worker", [_bin("prefect"), "worker", "start", "--pool", POOL, "--type", "process",
                               "--install-policy", "never", "--name", f"arb-{self.stack_id[:8]}"])
        self._wait("worker", lambda: self._worker_online(), "polling the work pool")
        self.out(f"  worker polling work pool {POOL}")
        if self.cfg.run_continuous:
            self.flow_run_id = self.run_deployment(CONTINUOUS, self.cfg.run_parameters)
            self.out(f"  started {CONTINUOUS}: flow run {self.flow_run_id}")
        self.out(f"stack up in {time.monotonic() - t0:.1f} s")

    def _prefect_cli(self, args: list[str], what: str, timeout: float = 300) -> str:
        r = subprocess.run([_bin("prefect"), *args], cwd=self.paths.root, env=self.env(), capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise FatalError(f"could not {what} (`prefect {' '.join(args)}` exited {r.returncode}):\n"
                             f"{(r.stdout + r.stderr)[-3000:]}")
        return r.stdout

    def _client(self) -> Any:
        os.environ.setdefault("PREFECT_HOME", str(self.paths.prefect_home))
        from prefect.client.orchestration import SyncPrefectClient
        return SyncPrefectClient(f"{self.cfg.prefect_url}/api")

    def _worker_online(self) -> bool:
        try:
            with self._client() as client:
                return any(w.status is not None and str(getattr(w.status, "value", w.status)) == "ONLINE"
                           for w in client.read_workers_for_work_pool(POOL))
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def run_deployment(self, name: str, parameters: dict[str, Any] | None = None) -> str:
        with self._client() as client:
            dep = client.read_deployment_by_name(name)
            fr = client.create_flow_run_from_deployment(dep.id, parameters=parameters or {})
        return str(fr.id)

    # ---- state file (for `arb sandbox down`) ----
    def _write_state(self) -> None:
        st = {"version": 1, "pid": os.getpid(), "stack_id": self.stack_id,
              "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "urls": self.urls(), "children": {n: c.pid for n, c in self.children.items()}}
        from arb.files import write_atomic

        write_atomic(self.paths.state, json.dumps(st, indent=2) + "\n")

    def urls(self) -> dict[str, str]:
        return {"prefect_ui": self.cfg.prefect_url, "mlflow_ui": self.cfg.mlflow_url, "api": self.cfg.api_url,
                "api_health": f"{self.cfg.api_url}/api/ai/health"}

    # ---- stop ----
    def flow_run_pids(self) -> list[int]:
        """The flow-run processes the worker started (they carry PREFECT__FLOW_RUN_ID), outermost first."""
        return procs.marked(self.stack_id, also="PREFECT__FLOW_RUN_ID")

    def stop(self) -> dict[str, str]:
        self._stopping.set()
        report: dict[str, str] = {}
        runs = self.flow_run_pids()
        if runs:  # the engine stops on SIGTERM after its current batch and flushes the warehouse
            for pid in runs:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            left = procs._wait_gone(runs, self.cfg.stop_timeout)
            report["flow runs"] = f"{len(runs)} stopped" + (f", {len(left)} killed" if left else "")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for name in ("worker", "api", "mlflow-server", "prefect-server", "chains"):
            c = self.children.get(name)
            if c is not None:
                report[name] = procs.stop(c, timeout=self.cfg.stop_timeout)
        swept = procs.sweep(self.stack_id)
        if swept:
            report["swept"] = f"{len(swept)} leftover processes: {swept}"
        left = procs.marked(self.stack_id)
        report["left running"] = str(len(left)) if left else "nothing"
        self.paths.state.unlink(missing_ok=True)
        return report


def read_state(paths: StackPaths) -> dict[str, Any] | None:
    try:
        return json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return None


def down(paths: StackPaths | None = None, *, timeout: float = 90.0) -> str:
    """Stop a stack running elsewhere: SIGTERM its supervisor (which stops everything), then sweep leftovers."""
    paths = paths or StackPaths(REPO)
    st = read_state(paths)
    if st is None:
        return f"no stack is running (no {paths.state})"
    pid, stack_id = int(st["pid"]), st["stack_id"]
    if procs.pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while procs.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if procs.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    swept = procs.sweep(stack_id)
    paths.state.unlink(missing_ok=True)
    paths.chains_state.unlink(missing_ok=True)
    left = procs.marked(stack_id)
    msg = f"stack {stack_id[:8]} (supervisor pid {pid}) stopped"
    if swept:
        msg += f"; swept {len(swept)} leftover processes"
    return msg + ("; nothing left running" if not left else f"; STILL RUNNING: {left}")


# ---- the live stats line ----
def stats_line(cfg: StackConfig, root: Path, client_factory: Callable[[], Any] | None = None) -> str:
    parts = []
    wh = cfg.warehouse_path if cfg.warehouse_path.is_absolute() else root / cfg.warehouse_path
    try:
        from arb.warehouse.reader import with_reader

        def q(con: Any) -> tuple:
            d = con.execute("SELECT count(*), count(*) FILTER (action = 'execute') FROM decisions").fetchall()[0]
            e = con.execute("SELECT count(*), count(*) FILTER (realized_profit > 0), coalesce(sum(realized_profit), 0) "
                            "FROM executions").fetchall()[0]
            m = con.execute("SELECT model_version FROM decisions ORDER BY decided_at DESC LIMIT 1").fetchall()
            return d, e, (m[0][0] if m else None)

        (nd, nx), (ne, nw, pnl), model = with_reader(wh, q, timeout=2.0)
        parts.append(f"decisions {nd:,} ({nx:,} execute)")
        parts.append(f"executions {ne:,} (wins {nw:,})")
        parts.append(f"PnL ${pnl:,.2f}")
        parts.append(f"model {model or 'none'}")
    except Exception as e:  # noqa: BLE001 - a stats line never stops the stack
        parts.append(f"warehouse: {type(e).__name__}" if wh.exists() else "warehouse: not created yet")
    try:
        import sqlite3

        db = Path(cfg.tracking_uri.removeprefix("sqlite:///"))
        db = db if db.is_absolute() else root / db
        if db.exists():
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            try:
                (n,) = con.execute("SELECT count(*) FROM model_versions WHERE name = 'arb-success-predictor'"
                                   ).fetchone()
                champ = con.execute("SELECT version FROM registered_model_aliases WHERE name = "
                                    "'arb-success-predictor' AND alias = 'champion'").fetchone()
            finally:
                con.close()
            parts.append(f"model versions {n}" + (f" (champion v{champ[0]})" if champ else ""))
    except Exception:  # noqa: BLE001, S110
        pass
    if client_factory is not None:
        try:
            with client_factory() as client:
                from prefect.client.schemas.filters import FlowFilter, FlowFilterName

                runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["retrain"])), limit=200)
                parts.append(f"retrain runs {len(runs)}")
        except Exception:  # noqa: BLE001, S110
            pass
    return " | ".join(parts)


def up(cfg: StackConfig, *, out: Callable[[str], None] = print, interval: float = 2.0,
       paths: StackPaths | None = None) -> int:
    """Run the stack in the foreground until SIGINT/SIGTERM. Returns the exit code."""
    stack = Stack(cfg, out=out, paths=paths)
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()
        stack._stopping.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    tty = sys.stdout.isatty()
    code = 0
    try:
        try:
            stack.start()
        except FatalError as e:
            out(f"error: {e}")
            code = 1
            return code
        u = stack.urls()
        out("")
        out(f"  Prefect UI   {u['prefect_ui']}")
        out(f"  MLflow UI    {u['mlflow_ui']}")
        out(f"  API          {u['api']}   (health: {u['api_health']}, docs: {u['api']}/docs)")
        out(f"  logs         {stack.paths.logs}/   warehouse {cfg.warehouse_path}")
        out(f"  from another terminal: export PREFECT_API_URL={cfg.prefect_url}/api  (or: eval \"$(.venv/bin/arb "
            "sandbox env)\")")
        out(f"                         .venv/bin/prefect deployment run {CONTINUOUS}")
        out("  Ctrl+C stops everything.")
        out("")
        last_print = 0.0
        while not stop.wait(interval):
            line = stats_line(cfg, stack.paths.root, stack._client)
            if tty:
                sys.stdout.write("\r\x1b[2K" + line[: 200])
                sys.stdout.flush()
            elif time.monotonic() - last_print >= 10:
                out(f"stats: {line}")
                last_print = time.monotonic()
        if tty:
            sys.stdout.write("\n")
        return code
    finally:
        out("stopping the stack ...")
        report = stack.stop()
        for k, v in report.items():
            out(f"  {k}: {v}")
        for s, h in old.items():
            signal.signal(s, h)
