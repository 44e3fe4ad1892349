"""Long-lived sandbox chains (`python -m arb.chain.sandbox --state`, what `arb sandbox up` runs) and runs that attach
to them (SANDBOX_STATE_PATH): real anvils, real `arb run` processes, no mocks.

- Two `arb run --source sandbox` one after the other on the same chains: both trade (executions with tx hashes), the
  second continues the simulated time where the first stopped, the chains keep running after both.
- Sandbox.attach refuses what it cannot verify (missing file, dead supervisor, a pid that is not the supervisor's
  child, a wrong chain id), and the executor's live safety accepts a chain only while it is attached.
- SIGTERM stops the service: its state file is deleted and its anvils are gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from arb.chain.anvil import DEV_KEYS, STARTED, pid_alive, rpc
from arb.chain.client import make_web3
from arb.chain.sandbox import Sandbox
from arb.errors import FatalError
from arb.execute.flashloan import FlashLoanExecutor
from arb.execute.gas import FeePolicy
from arb.sandbox import SIM_START, DriverParams, ReferencePrices, SandboxSource
from tests.conftest import REPO, child_env

ARB = REPO / ".venv" / "bin" / "arb"
DAY_END = SIM_START + timedelta(days=1)


class Service:
    """`python -m arb.chain.sandbox --state ...` as a child process."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.state, self.manifest = tmp, tmp / "sandbox-state.json", tmp / "sandbox-manifest.json"
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arb.chain.sandbox", "--state", str(self.state), "--manifest", str(self.manifest),
             "--log-dir", str(tmp / "anvil-logs")], cwd=REPO, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=child_env(tmp))
        lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.append(line)
                if line.startswith("sandbox chains ready:"):
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60):
            self.stop()
            raise AssertionError("the sandbox service did not get ready:\n" + "".join(lines))
        self.seconds = time.perf_counter() - t0
        self.lines = lines
        self.doc = json.loads(self.state.read_text())

    @property
    def chains(self) -> dict[str, dict]:
        return self.doc["chains"]

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    s = Service(tmp_path_factory.mktemp("service"))
    yield s
    s.stop()


def block(url: str) -> tuple[int, int]:
    b = rpc(url, "eth_getBlockByNumber", ["latest", False])
    return int(b["number"], 16), int(b["timestamp"], 16)


def q(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def arb_run(tmp: Path, state: Path, lean_day: Path) -> tuple[dict, float]:
    env = child_env(tmp, SANDBOX_STATE_PATH=str(state), MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlruns.db'}",
                    SANDBOX_MANIFEST_PATH=str(tmp / "unused-manifest.json"))
    t0 = time.perf_counter()
    p = subprocess.run([str(ARB), "run", "--source", "sandbox", "--no-prefect", "--no-progress", "--duration", "1m",
                        "--data", str(lean_day)], cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout[p.stdout.index("{"):]), wall


def weth_inventory_ok(sb: Sandbox, reference: ReferencePrices) -> None:
    """After a (repeated) driver setup, the competitor holds exactly its wrapped-native inventory."""
    competitor = Account.from_key(DriverParams().competitor_key).address
    for c in sb.chains.values():
        m = c.manifest
        want = int(DriverParams().competitor_inventory_usd / reference.usd(m.native, reference.day)
                   * 10**m.tokens[m.native].decimals)
        data = "0x" + (keccak(text="balanceOf(address)")[:4] + abi_encode(["address"], [competitor])).hex()
        held = int(rpc(c.anvil.url, "eth_call", [{"to": m.tokens[m.native].address, "data": data}, "latest"]), 16)
        assert held == want, (m.name, held, want)


# ---------------------------------------------------------------- two runs, one set of chains
def test_two_runs_continue_on_the_same_long_lived_chains(tmp_path, lean_day):
    svc = Service(tmp_path / "svc")
    try:
        assert svc.doc["version"] == 1 and svc.doc["pid"] == svc.proc.pid
        assert {n: c["chain_id"] for n, c in svc.chains.items()} == {"ethereum": 31337, "polygon": 31338}
        assert svc.doc["manifest_path"] == str(svc.manifest.resolve())
        urls = {n: c["url"] for n, c in svc.chains.items()}
        before = {n: block(u) for n, u in urls.items()}

        db = tmp_path / "arb.duckdb"
        first, wall1 = arb_run(tmp_path, svc.state, lean_day)
        after1 = {n: block(u) for n, u in urls.items()}
        second, wall2 = arb_run(tmp_path, svc.state, lean_day)
        after2 = {n: block(u) for n, u in urls.items()}
        print(f"\nservice ready in {svc.seconds:.2f}s; 1m-sim runs took {wall1:.1f}s and {wall2:.1f}s (wall)")

        for s in (first, second):
            assert s["stopped_by"] in ("duration", "end_of_stream") and s["stats"]["batches"] == 30
        runs = [r for (r,) in q(db, "select run_id from runs order by started_at")]
        assert runs == [first["run_id"], second["run_id"]]
        spans = {r: (lo, hi) for r, lo, hi in q(db, "select run_id, min(decided_at), max(decided_at) from decisions "
                                                    "group by run_id")}
        assert spans[first["run_id"]][0] == SIM_START  # the first run on fresh chains starts at the recorded day
        assert spans[second["run_id"]][0] > spans[first["run_id"]][1]  # the second continues after the first
        assert spans[second["run_id"]][1] <= SIM_START + timedelta(minutes=2)  # 1 min from 00:01:02 at the latest
        for run in runs:
            sent = q(db, f"select count(*) from executions where run_id = '{run}' and chain is not null "
                         "and tx_hash like '0x%' and block_number is not null")
            assert sent[0][0] >= 1, f"run {run} sent no flash loan that was mined"
        for n in urls:  # block numbers and times only go forward, run after run
            assert before[n][0] < after1[n][0] < after2[n][0], (n, before[n], after1[n], after2[n])
            assert before[n][1] < after1[n][1] < after2[n][1]
        assert after1["polygon"][1] < int(spans[second["run_id"]][0].timestamp()) < after2["polygon"][1]

        # The chains outlived both runs; each run left automine on.
        for n, c in svc.chains.items():
            assert pid_alive(c["anvil_pid"]) and int(rpc(urls[n], "eth_chainId"), 16) == c["chain_id"]
            assert rpc(urls[n], "anvil_getAutomine") is True

        # A third open, in this process: setup again (idempotent balances), then past the end of the recorded day,
        # where batches carry no CEX books.
        sb = Sandbox.attach(svc.state)
        reference = ReferencePrices.from_lean(lean_day)
        src = SandboxSource(lean_day, sandbox=sb, duration=timedelta(seconds=8))
        try:
            src.open()
            assert src.resumed_from == SIM_START and src.start > spans[second["run_id"]][1]
            weth_inventory_ok(sb, reference)
            for c in sb.chains.values():  # jump the chains past the recorded day (times only go forward)
                rpc(c.anvil.url, "evm_mine", [int((DAY_END + timedelta(minutes=5)).timestamp())])
        finally:
            src.close()
        src = SandboxSource(lean_day, sandbox=sb, duration=timedelta(seconds=8))
        try:
            got = list(src.batches())
            weth_inventory_ok(sb, reference)
        finally:
            src.close()
            sb.stop()
        assert src.start == DAY_END + timedelta(minutes=5, seconds=2)
        assert [b.at for b in got] == [src.start + timedelta(seconds=2 * i) for i in range(4)]
        assert all(b.books == () for b in got) and all(b.chains for b in got)
        for n, c in svc.chains.items():  # detaching left them running
            assert pid_alive(c["anvil_pid"]) and rpc(urls[n], "anvil_getAutomine") is True

        # SIGTERM: the state file goes, and so do the anvils.
        assert svc.stop() == 128 + signal.SIGTERM
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(pid_alive(c["anvil_pid"]) for c in svc.chains.values()):
            time.sleep(0.05)
        assert not svc.state.exists() and not svc.state.with_name(svc.state.name + ".lock").exists()
        assert not any(pid_alive(c["anvil_pid"]) for c in svc.chains.values())
        for u in urls.values():
            with pytest.raises(OSError):
                rpc(u, "eth_chainId", timeout=1)
    finally:
        svc.stop()


def test_a_run_with_a_missing_state_file_says_how_to_start_the_chains(tmp_path, lean_day):
    env = child_env(tmp_path, SANDBOX_STATE_PATH=str(tmp_path / "nope.json"),
                    MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlruns.db'}")
    p = subprocess.run([str(ARB), "run", "--source", "sandbox", "--no-prefect", "--no-progress", "--duration", "1m",
                        "--data", str(lean_day)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "SANDBOX_STATE_PATH" in out and "arb sandbox up" in out and "nope.json" in out


# ---------------------------------------------------------------- attach: accepted, refused
def test_attach_uses_the_chains_without_owning_them(service):
    sb = Sandbox.attach(service.state)
    try:
        assert sb.attached and set(sb.chains) == {"ethereum", "polygon"} and sb.healthy()
        for n, c in sb.chains.items():
            assert c.anvil.url == service.chains[n]["url"] and c.anvil.pid == service.chains[n]["anvil_pid"]
            assert STARTED[c.anvil.url] == c.anvil.chain_id and not c.anvil.owned
            assert c.manifest.contracts.executor and c.w3.eth.chain_id == c.anvil.chain_id
        assert sb.start() is sb  # never starts anything
    finally:
        sb.stop()
    assert not sb.chains
    for c in service.chains.values():  # detached: forgotten, still running
        assert c["url"] not in STARTED and pid_alive(c["anvil_pid"])
        assert int(rpc(c["url"], "eth_chainId"), 16) == c["chain_id"]


def test_one_run_at_a_time_drives_the_attached_chains(service, lean_day):
    first, second = Sandbox.attach(service.state), Sandbox.attach(service.state)
    try:
        first.claim()
        with pytest.raises(FatalError, match=rf"another run \(pid {os.getpid()}\) is driving the sandbox chains"):
            SandboxSource(lean_day, sandbox=second).open()
        first.stop()  # detaching releases the claim
        second.claim()
    finally:
        first.stop()
        second.stop()


def _write_state(tmp: Path, doc: dict) -> Path:
    p = tmp / "state.json"
    p.write_text(json.dumps(doc))
    return p


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_attach_refuses_a_missing_state_file(tmp_path):
    with pytest.raises(FatalError, match=r"no sandbox state file.*arb sandbox up.*python -m arb.chain.sandbox --state"):
        Sandbox.attach(tmp_path / "missing.json")


def test_attach_refuses_a_dead_supervisor(service, tmp_path):
    path = _write_state(tmp_path, {**service.doc, "pid": _dead_pid()})
    with pytest.raises(FatalError, match=r"supervisor \(pid \d+\).*is not running.*stale"):
        Sandbox.attach(path)
    assert not any(c["url"] in STARTED for c in service.chains.values())


def test_attach_refuses_a_process_that_is_not_the_supervisors_chain(service, tmp_path):
    chains = json.loads(json.dumps(service.chains))
    chains["polygon"]["anvil_pid"] = os.getpid()  # alive, but not a child of the supervisor
    path = _write_state(tmp_path, {**service.doc, "chains": chains})
    with pytest.raises(FatalError, match=rf"polygon: process {os.getpid()} is not a chain of the sandbox supervisor"):
        Sandbox.attach(path)
    assert not any(c["url"] in STARTED for c in service.chains.values())  # nothing registered on failure


def test_attach_refuses_a_wrong_chain_id(service, tmp_path):
    chains = json.loads(json.dumps(service.chains))
    chains["polygon"]["chain_id"] = 137
    path = _write_state(tmp_path, {**service.doc, "chains": chains})
    with pytest.raises(FatalError, match="polygon: the chain at .* reports chain id 31338, the state file says 137"):
        Sandbox.attach(path)
    assert not any(c["url"] in STARTED for c in service.chains.values())


def test_attach_refuses_a_corrupt_or_foreign_state_file(service, tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(FatalError, match="is not a sandbox state file"):
        Sandbox.attach(p)
    with pytest.raises(FatalError, match="version 2"):
        Sandbox.attach(_write_state(tmp_path, {**service.doc, "version": 2}))


# ---------------------------------------------------------------- the executor's live safety
def _live_executor(url: str, executor: str) -> FlashLoanExecutor:
    ex = FlashLoanExecutor(w3s={"polygon": make_web3(url)}, contracts={"polygon": executor},
                           owner=Account.from_key(DEV_KEYS[0]), fees=FeePolicy(priority_fee_wei=10**9,
                                                                                 cap_wei=100 * 10**9),
                           live=True, receipt_timeout=5.0, next_id=lambda: "x", to_usd=lambda *a: Decimal(0))
    ex.close()
    return ex


def test_the_executor_accepts_a_supervisor_chain_only_while_attached(service):
    url = service.chains["polygon"]["url"]
    executor = json.loads(service.manifest.read_text())["chains"]["polygon"]["contracts"]["executor"]
    with pytest.raises(FatalError, match="development key"):  # this process neither started nor verified it
        _live_executor(url, executor)
    sb = Sandbox.attach(service.state)
    try:
        _live_executor(url, executor)  # verified by attach: arb's own chain
        other = url.replace("127.0.0.1", "localhost")  # the same node by another name was not verified
        with pytest.raises(FatalError, match="development key"):
            _live_executor(other, executor)
    finally:
        sb.stop()
    with pytest.raises(FatalError, match="development key"):  # detached: refused again
        _live_executor(url, executor)


def test_the_service_refuses_to_start_twice_on_one_state_file(service):
    p = subprocess.run([sys.executable, "-m", "arb.chain.sandbox", "--state", str(service.state), "--manifest",
                        str(service.tmp / "second-manifest.json")], cwd=REPO, text=True, capture_output=True,
                       timeout=60, env=child_env(service.tmp))
    assert p.returncode == 1 and f"already running (pid {service.proc.pid}" in p.stderr
    assert json.loads(service.state.read_text())["pid"] == service.proc.pid
    assert not (service.tmp / "second-manifest.json").exists()

