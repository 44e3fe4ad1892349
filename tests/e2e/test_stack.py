"""The whole stack, as a user runs it: `arb sandbox up` (real sandbox chains, Prefect server + process worker, MLflow
server, dashboard API; every deployment of prefect.yaml), then `prefect deployment run ...` from "a second terminal",
then Ctrl+C. Runtime files go to a temporary folder (hidden option --home); ports are free ones.

The tests of this module share one stack and run in file order.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from arb.stack import procs
from tests.conftest import REPO, child_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

BIN = Path(sys.executable).parent
DEPLOYMENTS = {"detect-and-execute/continuous", "retrain/every-25-trades", "reset-daily-limits/midnight-utc",
               "report/hourly", "report/daily"}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = {"prefect": free_port(), "mlflow": free_port(), "api": free_port()}
        self.env = child_env(
            tmp,
            STACK_PREFECT_PORT=str(self.ports["prefect"]), STACK_MLFLOW_PORT=str(self.ports["mlflow"]),
            API_PORT=str(self.ports["api"]), MLFLOW_TRACKING_URI=f"sqlite:///{tmp}/mlruns/mlflow.db",
            SANDBOX_MANIFEST_PATH=str(tmp / "sandbox-manifest.json"), REPORTS_DIR=str(tmp / "reports"),
            PREFECT_HOME=str(tmp / ".prefect"),
        )
        self.env.pop("PREFECT_API_URL", None)
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def prefect_api(self) -> str:
        return f"http://127.0.0.1:{self.ports['prefect']}/api"

    def user_env(self) -> dict[str, str]:
        """The second terminal: `eval "$(arb sandbox env)"`."""
        return {**self.env, "PREFECT_API_URL": self.prefect_api, "COLUMNS": "250"}

    def up(self) -> None:
        self.proc = subprocess.Popen([str(BIN / "arb"), "sandbox", "up", "--no-run", "--home", str(self.tmp)],
                                     cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip())
                if line.startswith("stack up in") or line.startswith("error:"):
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        ready.wait(300)
        assert any(x.startswith("stack up in") for x in self.lines), "\n".join(self.lines)

    def stack_id(self) -> str:
        return json.loads((self.tmp / "warehouse" / "stack" / "state.json").read_text())["stack_id"]

    def prefect(self, *args: str, timeout: float = 120) -> str:
        r = subprocess.run([str(BIN / "prefect"), *args], cwd=self.tmp, env=self.user_env(), capture_output=True,
                           text=True, timeout=timeout)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def client(self):
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.prefect_api)

    def flow_runs(self, flow: str) -> list:
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName
        from prefect.client.schemas.sorting import FlowRunSort

        with self.client() as c:
            return c.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                                    sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200)

    def wait_state(self, flow_run_id: str, states: set[str], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        state = "?"
        while time.monotonic() < deadline:
            with self.client() as c:
                fr = c.read_flow_run(flow_run_id)
            state = fr.state.type.value if fr.state else "?"
            if state in states:
                return state
            time.sleep(2)
        raise AssertionError(f"flow run {flow_run_id} still {state} after {timeout} s\n" + "\n".join(self.lines[-30:]))

    def warehouse(self, sql: str, params=None) -> list:
        from arb.warehouse.reader import read_query

        return read_query(self.tmp / "arb.duckdb", sql, params, timeout=30)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.api + path, timeout=10) as r:  # noqa: S310 - loopback
            return json.loads(r.read())


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("stack"))
    try:
        s.up()
        s.stack_id_value = s.stack_id()
        yield s
    finally:
        if s.proc is not None and s.proc.poll() is None:
            s.proc.send_signal(signal.SIGINT)  # Ctrl+C
            try:
                s.proc.wait(120)
            except subprocess.TimeoutExpired:
                s.proc.kill()
        print("\n".join(s.lines[-15:]))


def test_prefect_deployment_ls_lists_all_five(stack):
    out = stack.prefect("deployment", "ls")
    assert all(name in out for name in DEPLOYMENTS), out
    assert "ARB_HOME" not in out


def test_deployment_run_from_a_second_terminal_completes_and_its_decisions_land(stack):
    out = stack.prefect("deployment", "run", "detect-and-execute/continuous", "-p", "duration=30m")
    flow_run_id = next(w for w in out.split() if len(w) == 36 and w.count("-") == 4)
    assert stack.wait_state(flow_run_id, {"COMPLETED", "FAILED", "CRASHED"}, 900) == "COMPLETED"
    with stack.client() as c:
        result = c.read_flow_run(flow_run_id)
    run_ids = stack.warehouse("SELECT run_id FROM runs WHERE status = 'completed'")
    assert run_ids, "no completed run in the warehouse"
    n_dec, n_ex = stack.warehouse("SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM executions)")[0]
    print(f"\nflow run {result.name}: {n_dec} decisions, {n_ex} executions")
    assert n_dec > 0 and n_ex >= 25
    # every decision names the model version it used, or none
    assert stack.warehouse("SELECT count(*) FROM decisions WHERE model_version IS NULL OR model_version = ''") == [(0,)]


def test_after_25_executions_a_retrain_run_registers_a_model_version(stack):
    from mlflow import MlflowClient

    (n_ex,) = stack.warehouse("SELECT count(*) FROM executions")[0]
    expected = n_ex // 25
    deadline = time.monotonic() + 300
    runs = []
    while time.monotonic() < deadline:
        runs = stack.flow_runs("retrain")
        done = [r for r in runs if r.state and r.state.is_final()]
        if len(done) >= expected:
            break
        time.sleep(3)
    time.sleep(8)  # a late duplicate would show up now
    runs = stack.flow_runs("retrain")
    states = [r.state.type.value for r in runs]
    print(f"\n{n_ex} executions -> {len(runs)} retrain runs: {states}")
    assert len(runs) == expected, f"{n_ex} executions: expected exactly {expected} retrain runs, got {states}"
    assert all(s == "COMPLETED" for s in states), states
    assert all(r.parameters.get("trigger_event_id") for r in runs)
    client = MlflowClient(tracking_uri=stack.env["MLFLOW_TRACKING_URI"])
    versions = client.search_model_versions("name = 'arb-success-predictor'")
    aliases = client.get_registered_model("arb-success-predictor").aliases
    print(f"model versions {[v.version for v in versions]}, aliases {aliases}")
    assert len(versions) >= 2
    # Each version is gated on its own held-out window: whether one beats the constant baseline in a 100-execution
    # sandbox run depends on the data (10-20 held-out executions). At most one version is champion (an alias names
    # one version), and every version says why it was or was not promoted.
    champions = [v for a, v in aliases.items() if a == "champion"]
    assert len(champions) <= 1
    for v in versions:
        run = client.get_run(v.run_id)
        assert "test_auc" in run.data.metrics and "test_brier" in run.data.metrics and v.tags.get("gate.reason")
        assert "plots/calibration_curve.png" in {a.path for a in client.list_artifacts(v.run_id, "plots")}
        if not champions:
            assert any(w in v.tags["gate.reason"] for w in ("does not beat", "not better", "held-out")), v.tags
    stack.champion = champions[0] if champions else None
    # the MLflow server (the UI's backend) sees the same registry
    mlflow_url = f"http://127.0.0.1:{stack.ports['mlflow']}"
    req = urllib.request.Request(f"{mlflow_url}/api/2.0/mlflow/registered-models/get?name=arb-success-predictor")
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
        body = json.loads(r.read())
    assert body["registered_model"]["name"] == "arb-success-predictor"


def test_the_prefect_ui_lists_the_runs_and_the_mlflow_ui_the_model_versions(stack):
    """In headless Chromium (Debian's), as a user sees them; the screenshots go to logs/test-artifacts/."""
    from tests.browser import ARTIFACTS, MLFLOW_WAIT_MS, PREFECT_WAIT_MS, dump_dom, screenshot

    runs_url = f"http://127.0.0.1:{stack.ports['prefect']}/runs"
    dom = dump_dom(runs_url, wait_ms=PREFECT_WAIT_MS)
    assert "detect-and-execute" in dom and "retrain" in dom, dom[-2000:]
    shot = screenshot(runs_url, "stack-prefect-runs.png", wait_ms=PREFECT_WAIT_MS)
    models_url = f"http://127.0.0.1:{stack.ports['mlflow']}/#/models/arb-success-predictor"
    dom = dump_dom(models_url, wait_ms=MLFLOW_WAIT_MS)
    assert "Version 1" in dom and "Version 2" in dom, dom[-2000:]
    if getattr(stack, "champion", None) is not None:  # (the page says "champion" elsewhere too: no negative check)
        assert "@\xa0champion" in dom or "@&nbsp;champion" in dom or "champion" in dom, dom[-2000:]
    shot2 = screenshot(models_url, "stack-mlflow-model-versions.png", wait_ms=MLFLOW_WAIT_MS)
    assert shot.parent == shot2.parent == ARTIFACTS


def test_the_api_answers_with_data(stack):
    health = stack.get("/api/ai/health")
    assert health["executions"] >= 25 and health["win_rate"] is not None
    latest = stack.get("/api/ai/decisions/latest?limit=5")
    assert len(latest["decisions"]) == 5


def test_retrain_trigger_counts_events_exactly_once_per_25(stack):
    """50 new distinct events plus 10 re-sent ones (same event ids): exactly two more trigger firings. (The server
    refuses a re-sent event id; the sender's events worker logs "failed to process item" for each of the 10.)"""
    before = len(stack.flow_runs("retrain"))
    (n_ex,) = stack.warehouse("SELECT count(*) FROM executions")[0]
    assert before == n_ex // 25
    script = (
        "import uuid\n"
        "from prefect.events import emit_event\n"
        "from prefect.events.worker import EventsWorker\n"
        "ids = [uuid.uuid4() for _ in range(50)]\n"
        "for i in ids + ids[:10]:\n"
        "    emit_event(event='arb.execution.recorded', id=i,\n"
        "               resource={'prefect.resource.id': f'arb.execution.t-{i}'})\n"
        "EventsWorker.drain_all()\n"
    )
    subprocess.run([sys.executable, "-c", script], env=stack.user_env(), check=True, timeout=120)
    expected = (n_ex + 50) // 25
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(stack.flow_runs("retrain")) < expected:
        time.sleep(2)
    time.sleep(10)
    runs = stack.flow_runs("retrain")
    assert len(runs) == expected, f"expected {expected} retrain runs after 50 new events, got {len(runs)}"
    # the synthetic runs find no new executions in the warehouse: idempotent, nothing trained twice
    for r in runs[before:]:
        stack.wait_state(str(r.id), {"COMPLETED", "FAILED", "CRASHED"}, 180)
        with stack.client() as c:
            assert c.read_flow_run(r.id).state.type.value == "COMPLETED"


def test_reset_deployment_records_a_reset(stack):
    out = stack.prefect("deployment", "run", "reset-daily-limits/midnight-utc")
    flow_run_id = next(w for w in out.split() if len(w) == 36 and w.count("-") == 4)
    assert stack.wait_state(flow_run_id, {"COMPLETED", "FAILED", "CRASHED"}, 180) == "COMPLETED"
    rows = stack.warehouse("SELECT requested_by FROM limit_resets")
    assert rows and all(r[0] == f"prefect flow run {flow_run_id}" for r in rows)
    assert stack.warehouse("SELECT count(*) FROM daily_limits WHERE executions > 0 OR stopped_reason IS NOT NULL"
                           ) == [(0,)]


def test_a_crashed_continuous_run_comes_back(stack):
    out = stack.prefect("deployment", "run", "detect-and-execute/continuous", "-p", "duration=null")
    first = next(w for w in out.split() if len(w) == 36 and w.count("-") == 4)
    stack.wait_state(first, {"RUNNING"}, 120)
    pids: list[int] = []
    deadline = time.monotonic() + 60
    while not pids and time.monotonic() < deadline:
        pids = [p for p in procs.marked(stack.stack_id_value, also="PREFECT__FLOW_RUN_ID")
                if f"PREFECT__FLOW_RUN_ID={first}".encode() in Path(f"/proc/{p}/environ").read_bytes().split(b"\0")]
        time.sleep(1)
    assert pids, "the flow run's process was not found"
    for p in pids:
        os.kill(p, signal.SIGKILL)  # the machine "crashes" under the flow run
    assert stack.wait_state(first, {"CRASHED", "FAILED", "COMPLETED"}, 180) == "CRASHED"
    deadline = time.monotonic() + 120
    newer = []
    while time.monotonic() < deadline and not newer:
        newer = [r for r in stack.flow_runs("detect-and-execute") if str(r.id) != first
                 and r.created > next(x for x in stack.flow_runs("detect-and-execute") if str(x.id) == first).created]
        time.sleep(2)
    assert newer, "no new continuous run after the crash"
    stack.wait_state(str(newer[0].id), {"RUNNING", "COMPLETED"}, 180)


def test_ctrl_c_leaves_no_process_behind(stack):
    stack_id = stack.stack_id_value
    assert procs.marked(stack_id), "the stack's processes should be running before Ctrl+C"
    stack.proc.send_signal(signal.SIGINT)
    stack.proc.wait(180)
    time.sleep(1)
    assert stack.proc.returncode == 0, "\n".join(stack.lines[-20:])
    assert "  left running: nothing" in stack.lines, "\n".join(stack.lines[-20:])
    assert procs.marked(stack_id) == []
    for port in stack.ports.values():
        assert procs.port_problem(port) is None
