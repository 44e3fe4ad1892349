"""Start, health-check and stop our own anvil instances on 127.0.0.1, on free ports.

anvil comes from npm (``@foundry-rs/anvil``, pinned in package.json/package-lock.json; ``make setup`` runs ``npm ci``).
It logs every call, so its output is drained continuously (to a file, or discarded) by a daemon thread.

Chains this process started are remembered in :data:`STARTED` (url -> chain id): live execution refuses any chain that
is not in it unless the user confirms explicitly. A chain another arb process started (the long-lived sandbox
supervisor, ``python -m arb.chain.sandbox --state``) enters it only through :func:`mark_started_by_arb`, which
``Sandbox.attach`` calls after verifying that the chain is that supervisor's child; :meth:`Anvil.attached` describes
such a chain without owning its process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from arb.errors import FatalError, TransientError

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTED: dict[str, int] = {}
_LISTENING = re.compile(r"Listening on (?P<host>[0-9.]+):(?P<port>\d+)")

# anvil's well-known development accounts (mnemonic "test test ... junk"). Public knowledge: never use them anywhere
# but a sandbox chain this process started.
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)


def find_anvil() -> str:
    """The anvil binary: $ANVIL_BIN, then the native binary npm installed (node_modules/@foundry-rs/anvil-<os>-<arch>,
    run directly so that stopping or losing its parent stops it too), then node_modules/.bin/anvil, then PATH."""
    env = os.environ.get("ANVIL_BIN")
    candidates = [env] if env else []
    candidates += sorted(str(p) for p in (REPO_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    candidates += [str(REPO_ROOT / "node_modules" / ".bin" / "anvil"), shutil.which("anvil") or ""]
    for c in candidates:
        if c and Path(c).exists():
            return c
    raise FatalError("anvil not found: run `make setup` (it runs `npm ci`, which installs @foundry-rs/anvil), "
                     "or set ANVIL_BIN to an anvil binary")


def mark_started_by_arb(url: str, chain_id: int) -> None:
    """Register ``url`` as a chain arb started although THIS process did not: a sandbox chain of the long-lived
    sandbox supervisor (``arb sandbox up`` / ``python -m arb.chain.sandbox --state``) that a flow run attaches to.

    Why: the flash-loan executor sends live transactions, signed with anvil's public development keys, only on chains
    in :data:`STARTED`. A run attached to the supervisor's chains must be able to trade on them, and nothing else may.
    So the ONLY caller is :meth:`arb.chain.sandbox.Sandbox.attach`, after it has verified, from the state file the
    supervisor wrote, that the supervisor is alive, that the anvil behind ``url`` is alive and its child (its parent
    pid in /proc), and that ``url`` answers with ``chain_id`` and has the deployed executor. Do not call it for any
    other chain: a chain arb did not start must go through LIVE_CONFIRM_CHAIN_IDS (and never with a dev key)."""
    STARTED[url] = int(chain_id)


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie (Linux /proc; elsewhere: signal 0)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        return proc_stat(pid)[0] not in ("Z", "X")
    except OSError:
        return not Path("/proc").is_dir()


def proc_stat(pid: int) -> tuple[str, int]:
    """(state, parent pid) of ``pid`` from /proc/<pid>/stat (the command name may hold spaces and parentheses, so
    the fields are read after its last ')'). Raises OSError when the process does not exist."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the chain gets SIGTERM if the process that started it dies, even by SIGKILL (no orphaned anvils)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the chain's whole process group (it runs in its own session): the npm wrapper and anvil alike."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def rpc(url: str, method: str, params: list | None = None, timeout: float = 5.0):
    """One raw JSON-RPC call (stdlib only; used for health checks and test helpers)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out = json.loads(r.read())
    if "error" in out:
        raise TransientError(f"{method} failed on {url}: {out['error']}")
    return out["result"]


@dataclass
class Anvil:
    """One anvil process. ``with Anvil(chain_id=31337) as a: a.url``."""

    chain_id: int
    hardfork: str = "cancun"
    block_time: float | None = None  # None: mine a block per transaction (automine)
    accounts: int = 10
    balance_eth: int = 10_000
    gas_limit: int | None = None
    base_fee: int | None = None
    log_path: Path | None = None
    binary: str | None = None
    extra_args: tuple[str, ...] = ()
    url: str = field(default="", init=False)
    port: int = field(default=0, init=False)
    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)
    _drain: threading.Thread | None = field(default=None, init=False, repr=False)
    _attached_pid: int | None = field(default=None, init=False, repr=False)

    @classmethod
    def attached(cls, url: str, chain_id: int, pid: int) -> Anvil:
        """An anvil another process started and owns (see :meth:`arb.chain.sandbox.Sandbox.attach`): usable (``url``,
        ``chain_id``, :meth:`healthy`, ``pid``) but never stopped by us: :meth:`stop` only forgets it. It is not
        put into :data:`STARTED` here: that takes the caller's verification and :func:`mark_started_by_arb`."""
        a = cls(chain_id=chain_id)
        a.url, a.port, a._attached_pid = url, int(url.rsplit(":", 1)[1].split("/")[0]), int(pid)
        return a

    @property
    def pid(self) -> int | None:
        """The anvil process id (ours while running, or the attached one), None when not running."""
        if self._proc is not None:
            return self._proc.pid
        return self._attached_pid

    @property
    def owned(self) -> bool:
        """True if this object started the process (and stops it); False for an attached anvil."""
        return self._proc is not None

    def start(self, timeout: float = 15.0) -> Anvil:
        if self._proc is not None or self._attached_pid is not None:
            return self
        cmd = [self.binary or find_anvil(), "--host", "127.0.0.1", "--port", "0", "--hardfork", self.hardfork,
               "--chain-id", str(self.chain_id), "--accounts", str(self.accounts), "--balance", str(self.balance_eth)]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        if self.gas_limit is not None:
            cmd += ["--gas-limit", str(self.gas_limit)]
        if self.base_fee is not None:
            cmd += ["--block-base-fee-per-gas", str(self.base_fee)]
        cmd += list(self.extra_args)
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      text=True, bufsize=1, start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        assert self._proc.stdout is not None
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                if self._proc.poll() is not None:
                    break
                continue
            seen.append(line.rstrip())
            m = _LISTENING.search(line)
            if m:
                self.port = int(m.group("port"))
                self.url = f"http://127.0.0.1:{self.port}"
                break
        if not self.url:
            self.stop()
            raise FatalError(f"anvil did not start within {timeout:.0f}s: {' | '.join(seen[-5:])}")
        self._drain = threading.Thread(target=self._drain_output, name=f"anvil-{self.port}-drain", daemon=True)
        self._drain.start()
        self.wait_healthy(deadline - time.monotonic())
        STARTED[self.url] = self.chain_id
        return self

    def _drain_output(self) -> None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        sink = open(self.log_path, "a", encoding="utf-8") if self.log_path else None  # noqa: SIM115
        try:
            for line in proc.stdout:
                if sink is not None:
                    sink.write(line)
        except (OSError, ValueError):
            pass
        finally:
            if sink is not None:
                sink.close()

    def wait_healthy(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + max(timeout, 0.5)
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                got = int(rpc(self.url, "eth_chainId"), 16)
                if got != self.chain_id:
                    raise FatalError(f"anvil at {self.url} reports chain id {got}, expected {self.chain_id}")
                return
            except (OSError, TransientError) as e:
                last = e
                time.sleep(0.05)
        raise FatalError(f"anvil at {self.url} is not answering JSON-RPC: {last}")

    def healthy(self) -> bool:
        try:
            if self._proc is not None:
                alive = self._proc.poll() is None
            else:
                alive = self._attached_pid is not None and pid_alive(self._attached_pid)
            return alive and int(rpc(self.url, "eth_chainId", timeout=2), 16) == self.chain_id
        except (OSError, TransientError):
            return False

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process if we started it. An attached anvil is only forgotten (removed from STARTED)."""
        proc, self._proc = self._proc, None
        self._attached_pid = None
        STARTED.pop(self.url, None)
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=timeout)
        else:
            _signal_group(proc, signal.SIGKILL)  # a wrapper that exited may have left its child behind
        if proc.stdout is not None:
            try:
                proc.stdout.close()
            except OSError:
                pass

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test helpers ----
    def snapshot(self) -> str:
        return rpc(self.url, "evm_snapshot")

    def revert(self, snap: str) -> bool:
        return bool(rpc(self.url, "evm_revert", [snap]))

    def mine(self, blocks: int = 1) -> None:
        rpc(self.url, "anvil_mine", [hex(blocks)])
