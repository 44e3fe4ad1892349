"""ChainSource: a :class:`~arb.market.source.BookSource` over chains arb did NOT start (a mainnet node, a fork).

Per chain, a :class:`~arb.market.dex.DexCollector` reads every configured pool once at start (:meth:`read_all`), then
every ``poll_interval`` seconds asks ``eth_blockNumber``; a chain whose head advanced is moved forward from the pools'
logs (``update(last + 1, head)``: one request). Each poll yields ``MarketBatch(at=<wall clock, UTC>, books=(),
chains=<snapshots of the chains that got new blocks>)``: a poll without new blocks still yields an empty batch, so the
engine's ``--duration`` (source time = wall clock here) and its stop signal are honoured on a quiet chain.
``total_batches`` is None (open-ended). The source never sends a transaction and never mines.

``clock`` (-> aware UTC datetime) and ``sleep`` are injectable for tests. A transient RPC failure of one chain is
reported as a reject of that batch and retried at the next poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

from arb.chain.manifest import ChainManifest
from arb.errors import TransientError
from arb.market.dex import DexCollector
from arb.market.source import ChainSnapshot, MarketBatch


class ChainSource:
    name = "chain"

    def __init__(self, chains: Mapping[str, tuple[str, ChainManifest]], *, poll_interval: float = 1.0,
                 duration: timedelta | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], None] = time.sleep, tick_radius: int | None = None) -> None:
        """``chains``: name -> (RPC URL, the chain's manifest)."""
        if not chains:
            raise ValueError("ChainSource needs at least one chain")
        if poll_interval < 0:
            raise ValueError("poll_interval must be >= 0")
        self.chains = dict(chains)
        self.poll_interval, self.duration, self.clock, self.sleep = poll_interval, duration, clock, sleep
        self.tick_radius = tick_radius
        self.collectors: dict[str, DexCollector] = {}
        self.snapshots: dict[str, ChainSnapshot] = {}
        self.polls = 0
        self._closed = False

    # ---- BookSource ----
    @property
    def symbols(self) -> frozenset[tuple[str, str]]:
        return frozenset()

    @property
    def total_batches(self) -> int | None:
        return None

    def open(self) -> ChainSource:
        if self.collectors:
            return self
        for name, (url, manifest) in self.chains.items():
            c = DexCollector(url, manifest, tick_radius=self.tick_radius)
            self.collectors[name] = c
            self.snapshots[name] = c.read_all()
        return self

    def head(self, name: str) -> int:
        # Through the collector: its errors name the chain, never the URL (provider keys live there).
        return int(self.collectors[name]._post([("eth_blockNumber", [])])[0], 16)

    def poll(self) -> tuple[list[ChainSnapshot], list[tuple[str, str]]]:
        """One round: the snapshots of the chains whose head advanced, and rejects for the chains that failed."""
        new: list[ChainSnapshot] = []
        rejects: list[tuple[str, str]] = []
        for name in self.collectors:
            try:
                head = self.head(name)
                last = self.snapshots[name].block_number
                if head > last:
                    self.snapshots[name] = self.collectors[name].update(last + 1, head)
                    new.append(self.snapshots[name])
            except (TransientError, OSError, ValueError) as e:
                rejects.append(("rpc_error", f"{name}: {type(e).__name__}: {e}"))
        self.polls += 1
        return new, rejects

    def batches(self) -> Iterator[MarketBatch]:
        self.open()
        start = self.clock()
        # The first batch carries every chain's initial snapshot (read at start).
        yield MarketBatch(at=start, books=(), chains=tuple(self.snapshots.values()))
        while not self._closed:
            self.sleep(self.poll_interval)
            at = self.clock()
            if self.duration is not None and at - start >= self.duration:
                # One last batch at the end time, so the engine sees the duration elapse and stops on it.
                yield MarketBatch(at=at, books=())
                return
            new, rejects = self.poll()
            yield MarketBatch(at=self.clock(), books=(), rejects=tuple(rejects), chains=tuple(new))

    def close(self) -> None:
        self._closed = True
        for c in self.collectors.values():
            http = getattr(c, "_http", None)
            if http is not None:
                http.close()
