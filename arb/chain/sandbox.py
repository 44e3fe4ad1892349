"""The local sandbox: one anvil per chain (ethereum 31337, polygon 31338), the whole market deployed on each, and the
manifest written for everyone else to read.

    with Sandbox() as sb:                       # starts, deploys, writes warehouse/sandbox-manifest.json
        anvil, w3, chain = sb.chains["ethereum"]
        ...
    # both anvils are stopped here (also at interpreter exit; call sb.stop_on_signals() to stop on SIGTERM/SIGINT)

``python -m arb.chain.sandbox [manifest-path]`` runs one until SIGTERM/Ctrl-C.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from web3 import Web3

from arb.chain.anvil import DEV_KEYS, REPO_ROOT, Anvil
from arb.chain.client import Sender, account, make_web3
from arb.chain.deploy import Deployed, deploy_market
from arb.chain.manifest import ChainManifest, Manifest
from arb.chain.pools import CHAINS, ChainSpec
from arb.errors import FatalError

DEFAULT_MANIFEST = REPO_ROOT / "warehouse" / "sandbox-manifest.json"


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
        with self._lock:
            anvils, self._anvils = self._anvils, []
        for a in anvils:
            a.stop()
        self.chains = {}
        atexit.unregister(self.stop)

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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    sb = Sandbox(args[0] if args else DEFAULT_MANIFEST)
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
