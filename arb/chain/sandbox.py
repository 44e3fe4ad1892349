"""The local sandbox: one anvil per chain (ethereum 31337, polygon 31338), the whole market deployed on each, and the
manifest written for everyone else to read.

    with Sandbox() as sb:                       # starts, deploys, writes warehouse/sandbox-manifest.json
        anvil, w3, chain = sb.chains["ethereum"]
        ...
    # both anvils are stopped here (also at interpreter exit; call sb.stop_on_signals() to stop on SIGTERM/SIGINT)

``python -m arb.chain.sandbox [manifest-path]`` runs one until SIGTERM/Ctrl-C.

The long-lived sandbox service (what ``arb sandbox up`` runs):

    python -m arb.chain.sandbox --state PATH [--manifest PATH] [--log-dir DIR]

starts the SIMULATION sandbox (:func:`sim_sandbox`: genesis one day before the simulated 2022-12-13 start), writes the
manifest and then the state file (atomically: a temporary file, then rename)::

    {"version": 1, "pid": <this supervisor's pid>, "started_at": "<UTC ISO time>", "manifest_path": "<abs path>",
     "chains": {"ethereum": {"url": "http://127.0.0.1:<port>", "chain_id": 31337, "anvil_pid": <pid>}, ...}}

prints one line ``sandbox chains ready: ...`` and blocks until SIGTERM/SIGINT; then it deletes the state file and stops
the anvils (exit status 128 + signal). Its anvils die with it even on SIGKILL (PR_SET_PDEATHSIG).
Other processes use the chains with :meth:`Sandbox.attach` (``SANDBOX_STATE_PATH``): verified, never owned. A run
that drives them (``SandboxSource``) first takes :meth:`Sandbox.claim`, an exclusive lock on ``<state>.lock``: one run
at a time.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from web3 import Web3

from arb.chain.anvil import DEV_KEYS, REPO_ROOT, Anvil, mark_started_by_arb, pid_alive, proc_stat, rpc
from arb.chain.client import Sender, account, make_web3
from arb.chain.deploy import Deployed, deploy_market
from arb.chain.manifest import ChainManifest, Manifest
from arb.chain.pools import CHAINS, ChainSpec
from arb.errors import ArbError, FatalError, TransientError

DEFAULT_MANIFEST = REPO_ROOT / "warehouse" / "sandbox-manifest.json"
STATE_VERSION = 1


def _how_to_start(state_path: Path) -> str:
    return (f"start the sandbox chains with `arb sandbox up`, or `python -m arb.chain.sandbox --state {state_path}` "
            f"(it writes that file and keeps the chains running until stopped)")


class SandboxChain(NamedTuple):
    anvil: Anvil
    w3: Web3
    manifest: ChainManifest


class Sandbox:
    """Start, deploy, describe and stop the sandbox chains. Not thread-safe; one owner.

    ``parallel=True`` deploys the chains from threads; on 2 cores it is no faster (the GIL and both anvils share the
    CPUs): measured ~1.4 s sequential vs ~1.5 s parallel for both chains, start to manifest written."""

    def __init__(self, manifest_path: str | Path | None = DEFAULT_MANIFEST, chains: Iterable[str] = tuple(CHAINS),
                 *, specs: dict[str, ChainSpec] | None = None, deployer_key: str = DEV_KEYS[0],
                 log_dir: str | Path | None = None, parallel: bool = False,
                 anvil_args: tuple[str, ...] = ()) -> None:
        self.specs = specs or CHAINS
        self.names = tuple(chains)
        unknown = [n for n in self.names if n not in self.specs]
        if unknown:
            raise FatalError(f"unknown sandbox chain(s) {unknown}: known are {', '.join(self.specs)}")
        self.manifest_path = Path(manifest_path) if manifest_path is not None else None
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.parallel = parallel
        self.anvil_args = tuple(anvil_args)  # extra anvil flags, e.g. ("--timestamp", "...") for an early genesis
        self._key = deployer_key
        self.chains: dict[str, SandboxChain] = {}
        self.deployments: dict[str, Deployed] = {}
        self.manifest: Manifest | None = None
        self.seconds: float = 0.0
        self.attached = False  # True: chains of another process (see attach); stop() never kills them
        self.state_path: Path | None = None
        self._claim: Any = None  # the open lock file while this process drives attached chains (see claim)
        self._anvils: list[Anvil] = []
        self._lock = threading.Lock()

    # ---- lifecycle ----
    def start(self) -> Sandbox:
        if self.chains:
            return self
        t0 = time.perf_counter()
        atexit.register(self.stop)
        try:
            if self.parallel and len(self.names) > 1:
                with ThreadPoolExecutor(len(self.names), thread_name_prefix="sandbox") as pool:
                    results = list(pool.map(self._start_chain, self.names))
            else:
                results = [self._start_chain(n) for n in self.names]
            for name, (chain, deployed) in zip(self.names, results, strict=True):
                self.chains[name] = chain
                self.deployments[name] = deployed
            self.manifest = Manifest(chains={n: c.manifest for n, c in self.chains.items()})
            if self.manifest_path is not None:
                self.manifest.write(self.manifest_path)
        except BaseException:
            self.stop()
            raise
        self.seconds = time.perf_counter() - t0
        return self

    def _start_chain(self, name: str) -> tuple[SandboxChain, Deployed]:
        spec = self.specs[name]
        log = self.log_dir / f"anvil-{name}.log" if self.log_dir else None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        anvil = Anvil(chain_id=spec.chain_id, log_path=log, extra_args=self.anvil_args)
        with self._lock:
            self._anvils.append(anvil)
        anvil.start()
        w3 = make_web3(anvil.url)
        deployed = deploy_market(Sender(w3, account(self._key)), spec)
        return SandboxChain(anvil, w3, deployed.chain), deployed

    def stop(self) -> None:
        """Stop the chains this sandbox started. An attached sandbox only detaches: its chains keep running (and are
        forgotten by :data:`arb.chain.anvil.STARTED`)."""
        self.release()
        with self._lock:
            anvils, self._anvils = self._anvils, []
        for a in anvils:
            a.stop()
        self.chains = {}
        atexit.unregister(self.stop)

    def claim(self) -> None:
        """Take the right to drive an attached sandbox's chains (mine blocks, send the market's transactions): an
        exclusive lock on ``<state file>.lock``, held until :meth:`release`. One run at a time: a second run on the
        same chains would interleave blocks and nonces. Nothing to do for a sandbox this process started."""
        if not self.attached or self._claim is not None or self.state_path is None:
            return
        import fcntl

        path = self.state_path.with_name(self.state_path.name + ".lock")
        f = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open while claimed
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise FatalError(f"another run (pid {holder}) is driving the sandbox chains of {self.state_path}: one run "
                             "at a time; wait for it to finish, or stop it") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._claim = f

    def release(self) -> None:
        """Give up :meth:`claim` (safe to call when not claimed)."""
        f, self._claim = self._claim, None
        if f is not None:
            f.close()  # closing drops the flock

    # ---- the long-lived service: a state file, and attaching to it from another process ----
    def state(self) -> dict[str, Any]:
        """The state-file document of this (started, owned) sandbox: see the module docstring."""
        if not self.chains or self.attached:
            raise FatalError("only a started sandbox that owns its chains has a state to publish")
        if self.manifest_path is None:
            raise FatalError("a published sandbox needs a manifest path (other processes read the manifest)")
        return {"version": STATE_VERSION, "pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(),
                "manifest_path": str(self.manifest_path.resolve()),
                "chains": {n: {"url": c.anvil.url, "chain_id": c.anvil.chain_id, "anvil_pid": c.anvil.pid}
                           for n, c in self.chains.items()}}

    def write_state(self, path: str | Path) -> Path:
        """Write :meth:`state` to ``path`` atomically (temporary file in the same folder, then rename)."""
        from arb.files import write_atomic

        path = write_atomic(path, json.dumps(self.state(), indent=2) + "\n")
        self.state_path = path
        return path

    def remove_state(self) -> None:
        """Delete the state file this process wrote (left alone if another supervisor has replaced it since)."""
        path, self.state_path = self.state_path, None
        if path is None:
            return
        try:
            if json.loads(path.read_text()).get("pid") != os.getpid():
                return
        except (OSError, ValueError, AttributeError):
            return
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".lock").unlink(missing_ok=True)  # the runs' claim file (see claim)

    @classmethod
    def attach(cls, state_path: str | Path) -> Sandbox:
        """The running sandbox described by ``state_path`` (written by ``arb sandbox up`` / ``python -m
        arb.chain.sandbox --state``), for use from another process. The result does NOT own the chains: its
        :meth:`stop` leaves them running.

        Verified first, each failure a FatalError that says what to do: the file exists and parses; the supervisor
        pid is alive; each anvil pid is alive and the supervisor's child (/proc/<pid>/stat); the manifest describes
        the same chains; each URL answers ``eth_chainId`` with the recorded id; the executor contract has code.
        Chains verified this way were started by arb (by that supervisor), so they are registered with
        :func:`arb.chain.anvil.mark_started_by_arb`: the executor then accepts them for live sends with the sandbox's
        development key, and still refuses every other chain."""
        path = Path(state_path)
        if not path.exists():
            raise FatalError(f"no sandbox state file at {path}: {_how_to_start(path)}")
        try:
            doc = json.loads(path.read_text())
            version, pid, chains = doc["version"], int(doc["pid"]), doc["chains"]
            manifest_path = Path(doc["manifest_path"])
            entries = {str(n): (str(c["url"]), int(c["chain_id"]), int(c["anvil_pid"])) for n, c in chains.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise FatalError(f"{path} is not a sandbox state file ({type(e).__name__}: {e}): delete it and "
                             f"{_how_to_start(path)}") from None
        if version != STATE_VERSION:
            raise FatalError(f"{path}: state file version {version!r}, this arb reads version {STATE_VERSION}: "
                             f"restart the sandbox chains with this arb (`arb sandbox up`)")
        if not entries:
            raise FatalError(f"{path}: the state file lists no chains: {_how_to_start(path)}")
        restart = (f"the state file {path} is stale: stop what is left of that sandbox (SIGTERM to its supervisor, "
                   f"pid {pid}, if it still runs), delete the file, and {_how_to_start(path)}")
        if not pid_alive(pid):
            raise FatalError(f"the sandbox supervisor (pid {pid}) recorded in {path} is not running: {restart}")
        for name, (url, _, anvil_pid) in entries.items():
            if not pid_alive(anvil_pid):
                raise FatalError(f"{name}: its anvil (pid {anvil_pid}, {url}) is not running: {restart}")
            try:
                parent = proc_stat(anvil_pid)[1]
            except (OSError, ValueError, IndexError) as e:
                raise FatalError(f"{name}: cannot read /proc/{anvil_pid}/stat ({e}): {restart}") from None
            if parent != pid:
                raise FatalError(f"{name}: process {anvil_pid} is not a chain of the sandbox supervisor {pid} (its "
                                 f"parent is {parent}): {restart}")
        try:
            manifest = Manifest.read(manifest_path)
        except (ArbError, OSError, ValueError) as e:
            raise FatalError(f"cannot read the sandbox manifest {manifest_path} named by {path}: {e}: {restart}"
                             ) from None
        sb = cls(manifest_path, chains=())
        sb.names, sb.attached, sb.state_path = tuple(entries), True, path
        built: dict[str, SandboxChain] = {}
        for name, (url, chain_id, anvil_pid) in entries.items():
            try:
                got = int(rpc(url, "eth_chainId", timeout=5), 16)
            except (OSError, TransientError, ValueError) as e:
                raise FatalError(f"{name}: the chain at {url} does not answer JSON-RPC ({type(e).__name__}): "
                                 f"{restart}") from None
            if got != chain_id:
                raise FatalError(f"{name}: the chain at {url} reports chain id {got}, the state file says {chain_id}: "
                                 f"{restart}")
            m = manifest.chains.get(name)
            if m is None or m.chain_id != chain_id or (m.rpc_url is not None and m.rpc_url != url):
                raise FatalError(f"{name}: the manifest {manifest_path} does not describe the chain at {url} (chain id "
                                 f"{chain_id}); it belongs to another sandbox: {restart}")
            executor = m.contracts.executor
            if executor is None or rpc(url, "eth_getCode", [executor, "latest"]) in ("0x", "0x0", None):
                raise FatalError(f"{name}: the executor contract {executor} has no code on {url} (was the chain "
                                 f"reset?): {restart}")
            built[name] = SandboxChain(Anvil.attached(url, chain_id, anvil_pid), make_web3(url), m)
        for name, c in built.items():  # every chain verified: only now register them
            mark_started_by_arb(c.anvil.url, c.anvil.chain_id)
            sb._anvils.append(c.anvil)
            sb.chains[name] = c
        sb.manifest = manifest
        atexit.register(sb.stop)
        return sb

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop_on_signals(self, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        """Stop both chains on SIGTERM/SIGINT, then exit (128 + signal). Call from the main thread."""
        def handler(signum, frame):  # noqa: ARG001
            self.stop()
            raise SystemExit(128 + signum)

        for s in signals:
            signal.signal(s, handler)

    # ---- use ----
    def sender(self, name: str) -> Sender:
        """A Sender for the deployer (a public anvil dev key: sandbox only) on chain ``name``."""
        return Sender(self.chains[name].w3, account(self._key))

    def health(self) -> dict[str, str | None]:
        """Per chain: None if healthy, else what is wrong."""
        out: dict[str, str | None] = {}
        for name in self.names:
            c = self.chains.get(name)
            if c is None:
                out[name] = "not started"
            elif not c.anvil.healthy():
                out[name] = f"anvil at {c.anvil.url} is not answering with chain id {c.anvil.chain_id}"
            elif c.manifest.contracts.executor and len(c.w3.eth.get_code(c.manifest.contracts.executor)) == 0:
                out[name] = "the deployed contracts are gone (was the chain reset?)"
            else:
                out[name] = None
        return out

    def healthy(self) -> bool:
        return bool(self.chains) and all(v is None for v in self.health().values())


def sim_sandbox(manifest_path: str | Path | None = None, *, genesis: datetime | None = None,
                **kwargs: Any) -> Sandbox:
    """An unstarted sandbox for the simulation: its anvils start at ``genesis`` (``anvil --timestamp``; default one
    day before the simulated start, 2022-12-13T00:00Z), so that blocks can later carry the simulated 2022 timestamps.
    (Here rather than in :mod:`arb.sandbox.source`, which re-exports it, so that the service can use it.)"""
    if genesis is None:
        from arb.sandbox.driver import SIM_START  # lazy: arb.sandbox imports this module

        genesis = SIM_START - timedelta(days=1)
    return Sandbox(manifest_path, anvil_args=("--timestamp", str(int(genesis.timestamp()))), **kwargs)


def _serve(state: Path, manifest: Path, log_dir: Path | None) -> int:
    if state.exists():
        try:
            other = int(json.loads(state.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            other = 0
        if other and other != os.getpid() and pid_alive(other):
            print(f"error: a sandbox is already running (pid {other}, state file {state}): attach to it with "
                  f"SANDBOX_STATE_PATH={state}, or stop it first", file=sys.stderr, flush=True)
            return 1
    sb = sim_sandbox(manifest, log_dir=log_dir)

    def handler(signum, frame):  # noqa: ARG001 - the state file goes first: nobody attaches to dying chains
        sb.remove_state()
        sb.stop()
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    try:
        with sb:
            sb.write_state(state)
            chains = ", ".join(f"{n} {c.anvil.url} (chain id {c.anvil.chain_id}, anvil pid {c.anvil.pid})"
                               for n, c in sb.chains.items())
            print(f"sandbox chains ready: {chains}; state {state}; manifest {sb.manifest_path}; pid {os.getpid()}; "
                  f"started in {sb.seconds:.2f}s; SIGTERM or Ctrl-C stops", flush=True)
            while True:
                time.sleep(3600)
    finally:
        sb.remove_state()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m arb.chain.sandbox", description=(
        "Run the sandbox chains until SIGTERM/Ctrl-C. With --state: the SIMULATION sandbox as a long-lived service "
        "(genesis before 2022-12-13, a state file other processes attach to with SANDBOX_STATE_PATH)."))
    ap.add_argument("manifest_pos", nargs="?", metavar="MANIFEST", help="manifest path (same as --manifest)")
    ap.add_argument("--manifest", type=Path, default=None, help=f"manifest path (default {DEFAULT_MANIFEST})")
    ap.add_argument("--state", type=Path, default=None, help="write the state file here (the service mode)")
    ap.add_argument("--log-dir", type=Path, default=None, help="write each anvil's output to DIR/anvil-<chain>.log")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    manifest = args.manifest or (Path(args.manifest_pos) if args.manifest_pos else DEFAULT_MANIFEST)
    if args.state is not None:
        return _serve(args.state, manifest, args.log_dir)
    sb = Sandbox(manifest, log_dir=args.log_dir)
    sb.stop_on_signals()
    with sb:
        for name, (anvil, _, chain) in sb.chains.items():
            d = sb.deployments[name]
            print(f"{name}: {anvil.url} chain id {chain.chain_id}, {len(chain.pools)} pools, "
                  f"{d.transactions} transactions in {d.seconds:.2f}s", flush=True)
        print(f"manifest: {sb.manifest_path} (ready in {sb.seconds:.2f}s); Ctrl-C or SIGTERM stops", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
