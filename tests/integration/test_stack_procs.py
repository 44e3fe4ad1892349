"""The stack's process handling without the whole stack: port checks, marked descendants, stop with escalation,
`arb sandbox down` on a stack whose supervisor died."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from arb.errors import FatalError
from arb.stack import procs
from arb.stack.supervisor import REPO, Stack, StackConfig, StackPaths, down


def test_a_taken_port_is_reported_with_the_setting_to_change(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    taken = s.getsockname()[1]
    try:
        stack = Stack(StackConfig(prefect_port=taken, mlflow_port=taken + 1 if taken < 65535 else 1, api_port=0),
                      paths=StackPaths(REPO, tmp_path))
        with pytest.raises(FatalError) as e:
            stack.preflight()
        assert f"127.0.0.1:{taken} is already in use" in str(e.value) and "STACK_PREFECT_PORT" in str(e.value)
        assert procs.port_problem(taken) is not None
    finally:
        s.close()
    assert procs.port_problem(taken) is None


def test_the_same_port_twice_is_refused(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    stack = Stack(StackConfig(prefect_port=port, mlflow_port=port, api_port=port), paths=StackPaths(REPO, tmp_path))
    with pytest.raises(FatalError, match="three different ports"):
        stack.preflight()


def _spawn_tree(stack_id: str, tmp: Path) -> procs.Child:
    """A child in its own session that starts a grandchild in ANOTHER session (as Prefect starts flow runs)."""
    script = ("import os, subprocess, sys, time\n"
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
              "time.sleep(600)\n")
    env = {**os.environ, procs.MARKER: stack_id}
    return procs.spawn("tree", [sys.executable, "-c", script], env=env, cwd=tmp, log_path=tmp / "tree.log")


def test_marked_descendants_are_found_and_swept_even_outside_the_process_group(tmp_path):
    sid = uuid.uuid4().hex
    child = _spawn_tree(sid, tmp_path)
    deadline = time.monotonic() + 10
    while len(procs.marked(sid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    found = procs.marked(sid)
    assert child.pid in found and len(found) == 2
    assert procs.stop(child, timeout=5) == "stopped"
    left = procs.marked(sid)
    assert len(left) == 1, "the grandchild in its own session survives a group kill..."
    assert procs.sweep(sid) == left
    assert procs.marked(sid) == []  # ... and the sweep finds it by its marker


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path):
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n" \
             "time.sleep(600)\n"
    child = procs.spawn("stubborn", [sys.executable, "-c", script], env=dict(os.environ), cwd=tmp_path,
                        log_path=tmp_path / "stubborn.log")
    deadline = time.monotonic() + 10
    while "ready" not in (tmp_path / "stubborn.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    how = procs.stop(child, timeout=1)
    assert how.startswith("killed") and child.popen.returncode == -signal.SIGKILL


def test_down_cleans_up_after_a_dead_supervisor(tmp_path):
    sid = uuid.uuid4().hex
    child = _spawn_tree(sid, tmp_path)
    paths = StackPaths(REPO, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    paths.state.parent.mkdir(parents=True)
    paths.state.write_text(json.dumps({"version": 1, "pid": dead.pid, "stack_id": sid, "children": {}}))
    deadline = time.monotonic() + 10
    while len(procs.marked(sid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    msg = down(paths)
    assert "swept 2 leftover processes" in msg and "nothing left running" in msg
    assert procs.marked(sid) == [] and not paths.state.exists() and child.popen.poll() is not None
    assert down(paths).startswith("no stack is running")
