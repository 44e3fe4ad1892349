"""SandboxSource: a :class:`~arb.market.source.BookSource` that runs the sandbox market step by step.

It owns (or is given) a running :class:`~arb.chain.sandbox.Sandbox` and controls block production: anvil's AUTOMINE
is OFF (``evm_setAutomine false``) and a block is mined only by :meth:`SandboxSource.batches`. Simulated time starts
at 2022-12-13T00:00Z (aligned with the recorded CEX day) and advances ``step_seconds`` (2 s) per step; every chain
gets a block every step except ethereum, which gets one every ``eth_every`` (6) steps, i.e. every 12 s. Each block's
timestamp is set when it is mined (``evm_mine [timestamp]``), so chain time = simulated time.

Per step, in this order:

a. competitors (maybe) send their transactions, HIGH priority fee (:meth:`MarketDriver.compete`);
b. noise traders send theirs, LOW priority fee (:meth:`MarketDriver.noise`);
   (a and b only on the chains whose block is due this step, against the last snapshot of that chain)
   then ``before_mine()`` if given: wiring passes a function that waits until the executor's in-flight jobs have
   SENT their transactions, so that what the engine decided in the previous step makes this block;
c. mine the block(s) due this step. A block orders: competitor, then our arbitrage transactions (sent by the
   engine's executor after the previous batch), then noise (anvil orders by maxFeePerGas; see the driver);
d. refresh the snapshots from the new blocks' logs (:meth:`DexCollector.update`: one request per chain);
e. yield ``MarketBatch(at=sim_time, books=<the Lean replay's books stamped at sim_time: the CEX books of the minute
   that just ended, so only on the step where the minute changes>, chains=(ethereum snapshot if a new ethereum block,
   polygon snapshot))``.

The engine then decides, and its executor SENDS its transactions to the mempool; they are mined at step c of the
next step (polygon) or of the next ethereum step.

Chains started by anvil at wall-clock time cannot go back to 2022: :func:`sim_sandbox` builds a Sandbox whose anvils
start with a genesis timestamp one day before the simulated start (``anvil --timestamp``), and the source does this
itself when it starts the sandbox. A given sandbox whose chains are already past the simulated start is refused.

An ATTACHED sandbox (:meth:`Sandbox.attach`: the long-lived chains of ``arb sandbox up``, used by one run after
another) resumes instead. :meth:`SandboxSource.open` switches automine off, runs the driver's (idempotent) setup in
one block stamped just after the newest block of the chains, and, if the chains are at or past ``start``, moves
``start`` to the first step boundary (``start + k x step_seconds``) strictly after the newest block, and rebuilds the
Lean replay from there: the CEX books continue from that time too (past the end of the recorded day, batches simply
carry no CEX books). ``duration`` counts from the new start. :meth:`close` turns automine back on and leaves the
chains running.
``total_batches`` is None (open-ended): ``duration`` (source time), or the engine's own duration, bounds the run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from arb.chain.anvil import rpc
from arb.chain.sandbox import Sandbox, sim_sandbox  # sim_sandbox: re-exported
from arb.errors import FatalError
from arb.market.dex import DexCollector
from arb.market.lean import LeanBookSource, ReplayParams
from arb.market.source import ChainSnapshot, MarketBatch
from arb.sandbox.driver import SIM_START, DriverParams, MarketDriver, ReferencePrices

log = logging.getLogger("arb.sandbox")

DEFAULT_REPLAY = ReplayParams(levels=5, level_step_bps=Decimal("1"), depth_fraction=Decimal("0.10"),
                              half_spread_bps=Decimal("0.5"))  # the settings' defaults (REPLAY_*)


class SandboxSource:
    """The sandbox market as a BookSource (see the module docstring).

    ``data_folder``: the Lean CEX recording (books, and the driver's BTC reference). ``sandbox``: a running Sandbox,
    a factory returning an unstarted or started one, or None (the source builds :func:`sim_sandbox` itself); the
    source stops it at :meth:`close` only if it started it. ``params``: the driver's :class:`DriverParams`.
    ``eth_every``: steps per ethereum block. ``step_seconds``: simulated seconds per step. ``start``: simulated start
    (midnight of the recording). ``duration``: simulated time after which :meth:`batches` ends (None: never).
    ``replay``: the Lean book derivation (defaults: the settings' REPLAY_* defaults). ``tick_radius``: see
    :class:`DexCollector`. ``before_mine``: called before each mining (see the module docstring).
    """

    name = "sandbox"

    def __init__(self, data_folder: str | Path, sandbox: Sandbox | Callable[[], Sandbox] | None = None,
                 params: DriverParams | None = None, *, eth_every: int = 6, step_seconds: int = 2,
                 start: datetime = SIM_START, duration: timedelta | None = None, replay: ReplayParams | None = None,
                 tick_radius: int | None = None, before_mine: Callable[[], Any] | None = None,
                 eth_chain: str = "ethereum") -> None:
        if eth_every < 1 or step_seconds < 1:
            raise ValueError("eth_every and step_seconds must be >= 1")
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        self.data_folder = Path(data_folder)
        params = params or DriverParams()
        self.params = dataclasses.replace(params, step_seconds=float(step_seconds))  # the lag counts source steps
        self.eth_every, self.step_seconds, self.start, self.duration = eth_every, step_seconds, start, duration
        self.eth_chain = eth_chain
        self.tick_radius, self.before_mine = tick_radius, before_mine
        self.replay = replay or DEFAULT_REPLAY
        self.lean = LeanBookSource(self.data_folder, **vars(self.replay), start=start)
        self.resumed_from: datetime | None = None  # the start asked for, when an attached sandbox moved it on
        self.reference = ReferencePrices.from_lean(self.data_folder, day=start.date())
        self._given = sandbox if isinstance(sandbox, Sandbox) else None
        self._factory = sandbox if callable(sandbox) and not isinstance(sandbox, Sandbox) else None
        self._owned = False
        self.sandbox: Sandbox | None = self._given
        self.driver: MarketDriver | None = None
        self.collectors: dict[str, DexCollector] = {}
        self.snapshots: dict[str, ChainSnapshot] = {}
        self.step = 0
        self.last_mined_perf = 0.0

    # ---- BookSource ----
    @property
    def symbols(self) -> frozenset[tuple[str, str]]:
        return self.lean.symbols

    @property
    def total_batches(self) -> int | None:
        return None

    def every(self, chain: str) -> int:
        return self.eth_every if chain == self.eth_chain else 1

    def sim_time(self, step: int) -> datetime:
        return self.start + timedelta(seconds=step * self.step_seconds)

    def open(self) -> SandboxSource:
        """Start (or adopt) the sandbox, fund and approve the traders, switch automine off, read every pool."""
        if self.driver is not None:
            return self
        if self.sandbox is None:
            made = self._factory() if self._factory is not None else sim_sandbox()
            self._owned = not made.chains
            self.sandbox = made.start()
        sb = self.sandbox
        if not sb.chains:
            raise FatalError("the sandbox has no running chains: start it first")
        attached = bool(getattr(sb, "attached", False))
        start_ts = int(self.start.timestamp())
        if attached:  # one run at a time; setup's block gets a chosen timestamp, not anvil's clock (it ran on)
            sb.claim()
            for c in sb.chains.values():
                rpc(c.anvil.url, "evm_setAutomine", [False])
        latest = self._latest(sb)
        for name, t in latest.items():
            if t >= start_ts and not attached:
                raise FatalError(f"{name}: chain time {t} is already at or past the simulated start "
                                 f"{self.start:%Y-%m-%dT%H:%M:%SZ}, and block times cannot go back: start the sandbox "
                                 f"with arb.sandbox.source.sim_sandbox() (genesis before the start)")
        self.driver = MarketDriver.for_sandbox(sb, self.reference, self.params)
        if attached:
            self.driver.setup(mine_at=max(latest.values()) + 1)
            newest = max(self._latest(sb).values())
            if newest >= start_ts:
                self._resume_after(newest)
        else:
            self.driver.setup()
        for name, c in sb.chains.items():
            rpc(c.anvil.url, "evm_setAutomine", [False])
            self.collectors[name] = DexCollector(c.anvil.url, c.manifest, tick_radius=self.tick_radius)
            self.snapshots[name] = self.collectors[name].read_all()
        return self

    @staticmethod
    def _latest(sb: Sandbox) -> dict[str, int]:
        return {name: int(rpc(c.anvil.url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
                for name, c in sb.chains.items()}

    def _resume_after(self, newest: int) -> None:
        """Continue the simulation on chains that already carry simulated time up to ``newest`` (unix seconds): the
        new start is the first step boundary strictly after it; the Lean replay restarts from there."""
        k = (newest - int(self.start.timestamp())) // self.step_seconds + 1
        start = self.start + timedelta(seconds=k * self.step_seconds)
        self.resumed_from = self.resumed_from or self.start
        self.start = start
        self.lean = LeanBookSource(self.data_folder, **vars(self.replay), start=start)
        log.info("sandbox resumed", extra={"start": start.isoformat(), "asked": self.resumed_from.isoformat(),
                                           "newest_block_time": newest})

    def batches(self) -> Iterator[MarketBatch]:
        self.open()
        assert self.sandbox is not None and self.driver is not None
        chains = sorted(self.sandbox.chains, key=lambda n: (n != self.eth_chain, n))  # ethereum first
        lean = iter(self.lean.batches())
        pending = next(lean, None)
        while True:
            at = self.sim_time(self.step)
            if self.duration is not None and at - self.start >= self.duration:
                return
            due = [n for n in chains if self.step % self.every(n) == 0]
            for n in due:  # a. competitors, high tip
                self.driver.compete(n, self.snapshots[n], at)
            for n in due:  # b. noise traders, low tip
                self.driver.noise(n, self.snapshots[n], at)
            if self.before_mine is not None:
                self.before_mine()
            ts = int(at.timestamp())
            for n in due:  # c. mine, with chain time = simulated time
                rpc(self.sandbox.chains[n].anvil.url, "evm_mine", [ts])
            self.last_mined_perf = time.perf_counter()  # for block -> decision latency measurements
            for n in due:  # d. refresh from logs
                self.snapshots[n] = self.collectors[n].update(self.snapshots[n].block_number + 1, "latest")
            books: list = []
            rejects: list = []
            while pending is not None and pending.at <= at:  # e. the CEX books of the minute that just ended
                books.extend(pending.books)
                rejects.extend(pending.rejects)
                pending = next(lean, None)
            self.step += 1
            yield MarketBatch(at=at, books=tuple(books), rejects=tuple(rejects),
                              chains=tuple(self.snapshots[n] for n in due))

    def settle(self) -> None:
        """Mine one more block on every chain so transactions sent after the last step get their receipts
        (called by the engine before it drains its executors at the end of a run)."""
        if self.sandbox is None or self.driver is None:
            return
        if self.before_mine is not None:
            self.before_mine()
        ts = int(self.sim_time(self.step).timestamp())
        for c in self.sandbox.chains.values():
            rpc(c.anvil.url, "evm_mine", [ts])

    def close(self) -> None:
        """Stop the chains if this source started them; otherwise turn automine back on. Safe to call twice."""
        sb, self.sandbox = self.sandbox, (None if self._owned else self.sandbox)
        if sb is None:
            return
        if self._owned:
            sb.stop()
            self._owned = False
            return
        for c in sb.chains.values():
            try:
                rpc(c.anvil.url, "evm_setAutomine", [True])
            except OSError:
                pass
        if getattr(sb, "attached", False):
            sb.release()
