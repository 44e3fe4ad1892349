"""Child processes of the local stack: start them marked, find every descendant, stop them with escalation.

Every process the stack starts gets ``ARB_STACK_ID=<id>`` in its environment, and so does everything those processes
start in turn (Prefect's worker starts each flow run in a new process group; MLflow and the Prefect server start
server workers). :func:`marked` finds them all through ``/proc/<pid>/environ``, so a shutdown can prove that nothing
is left behind, even a process that escaped its parent's process group. Linux only (like the sandbox chains).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from arb.errors import FatalError

MARKER = "ARB_STACK_ID"


def _pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    import ctypes

    os.setsid()  # its own process group: stopping it stops what it started
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: dies with the supervisor


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


def spawn(name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log_path: Path) -> Child:
    """Start ``argv`` in its own session, output to ``log_path``, SIGTERM'd if this process dies."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child; closed in our copy right after the fork
    try:
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             preexec_fn=_pdeathsig)  # noqa: PLW1509 - only setsid + prctl, async-signal-safe enough
    except FileNotFoundError as e:
        raise FatalError(f"cannot start {name}: {argv[0]} not found ({e}); run `make setup` first") from e
    finally:
        log.close()
    return Child(name, p, log_path)


def marked(stack_id: str, *, also: str | None = None) -> list[int]:
    """Pids of every live process whose environment carries ``ARB_STACK_ID=stack_id`` (not this process); with
    ``also``, only those whose environment also has that variable set (e.g. ``PREFECT__FLOW_RUN_ID``)."""
    needle = f"{MARKER}={stack_id}".encode()
    extra = f"{also}=".encode() if also else None
    me = os.getpid()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            env = (d / "environ").read_bytes()
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        items = env.split(b"\0")
        if state != "Z" and needle in items and (extra is None or any(i.startswith(extra) for i in items)):
            out.append(int(d.name))
    return sorted(out)


def _signal(pids: Iterable[int], sig: int, *, group: bool) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)


def _wait_gone(pids: list[int], timeout: float, poll: float = 0.1) -> list[int]:
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left and time.monotonic() < deadline:
        time.sleep(poll)
        left = [p for p in left if _alive(p)]
    return left


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)  # reap our own zombie children
        return False
    return True


def stop(child: Child, *, timeout: float = 10.0, sig: int = signal.SIGTERM) -> str:
    """Signal the child's process group, wait ``timeout`` s, then SIGKILL the group. Returns how it ended."""
    if not child.alive():
        return "already exited"
    _signal([child.pid], sig, group=True)
    try:
        child.popen.wait(timeout)
        how = "stopped"
    except subprocess.TimeoutExpired:
        _signal([child.pid], signal.SIGKILL, group=True)
        child.popen.wait(5)
        how = f"killed (did not stop within {timeout:g} s)"
    # what it left in its group (e.g. server workers) goes too
    _signal([child.pid], signal.SIGKILL, group=True)
    return how


def sweep(stack_id: str, *, timeout: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process still marked with ``stack_id``. Returns the pids that had to be swept."""
    pids = marked(stack_id)
    if not pids:
        return []
    _signal(pids, signal.SIGTERM, group=False)
    left = _wait_gone(pids, timeout)
    _signal(left, signal.SIGKILL, group=False)
    _wait_gone(left, 2.0)
    return pids


def port_problem(port: int, host: str = "127.0.0.1") -> str | None:
    """None if ``host:port`` can be bound now, else why not."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: a port in TIME_WAIT is free
    try:
        s.bind((host, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return f"{host}:{port} is already in use by another process"
        return f"{host}:{port} cannot be bound: {e.strerror}"
    finally:
        s.close()
    return None


def pid_alive(pid: int) -> bool:
    return _alive(pid)
