"""The continuous detect -> decide -> execute -> record loop: plain Python, no Prefect task per tick.

Time is source time: a replay's batches carry the recorded timestamps, a live source stamps batches with the wall
clock; every rule (staleness, cooldown, latency, daily limits, the stats interval) uses that time, so a replay behaves
exactly as the same data would live. Per batch:

1. validate the books (bad data is counted by reason and never stored or traded);
2. complete executions whose orders have reached their venues (fills use books at or after arrival);
3. find opportunities on fresh books, decide them in batches, submit the EXECUTE decisions;
4. buffer every decision and execution for the warehouse (flushed at least every second, in one transaction);
5. every stats interval of source time, log the stats JSON and store the run's counters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from arb.decide.decider import Decider
from arb.decide.history import RouteStats, update_route
from arb.decide.regime import VolatilityTracker
from arb.detect.cex import EdgeParams, Route, find_opportunities, routes_for
from arb.domain import Execution, Opportunity
from arb.errors import BadInput
from arb.execute.base import Executor
from arb.market.source import BookSource, MarketBatch
from arb.market.validate import MarketState

log = logging.getLogger("arb.engine")


class Detector(Protocol):
    """An extra opportunity finder (e.g. on-chain DEX cycles): sees the batch and the CEX market state."""

    def find(self, batch: MarketBatch, state: MarketState, now: datetime, next_id: Callable[[], str]
             ) -> list[Opportunity]: ...


class IdGen:
    """Deterministic ids: ``<run>-<kind><n>``; unique across runs because the run id is."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._n: dict[str, int] = {}

    def __call__(self, kind: str) -> str:
        n = self._n.get(kind, 0) + 1
        self._n[kind] = n
        return f"{self.run_id}-{kind}{n}"

    def maker(self, kind: str) -> Callable[[], str]:
        return lambda: self(kind)


@dataclass(frozen=True)
class EngineConfig:
    max_data_age_ms: int = 5000
    stats_interval_s: float = 60.0
    decision_batch_size: int = 50
    speed: float | None = None  # None: as fast as possible; 1.0: real time; 60: sixty times real time
    duration: timedelta | None = None  # in source time


@dataclass
class Counters:
    batches: int = 0
    books: int = 0
    opportunities_detected: int = 0
    opportunities_submitted: int = 0
    opportunities_queued: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: {"execute": 0, "reject": 0, "defer": 0})
    executions: int = 0
    wins: int = 0
    realized_profit: Decimal = Decimal(0)
    predicted_profit: Decimal = Decimal(0)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    started_at: datetime | None
    ended_at: datetime | None
    stopped_by: str
    stats: dict[str, Any]
    data_quality: dict[str, int]


class Engine:
    def __init__(
        self,
        *,
        run_id: str,
        source: BookSource,
        state: MarketState,
        edge: EdgeParams,
        decider: Decider,
        executor: Executor,
        writer: Any,
        ids: IdGen,
        config: EngineConfig,
        route_stats: dict[str, RouteStats] | None = None,
        vol: VolatilityTracker | None = None,
        routes: list[Route] | None = None,
        ml_enabled: bool = False,
        detectors: list[Detector] | None = None,
        on_batch: Callable[[int, MarketBatch], None] | None = None,
        on_stats: Callable[[dict[str, Any]], None] | None = None,
        on_execution: Callable[[Execution], None] | None = None,
        reset_watcher: Any = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.source = source
        self.state = state
        self.edge = edge
        self.decider = decider
        self.executor = executor
        self.writer = writer
        self.ids = ids
        self.config = config
        self.route_stats = route_stats if route_stats is not None else {}
        self.vol = vol or VolatilityTracker()
        self._fixed_routes = routes
        self._routes: list[Route] = []
        self._by_market: dict[tuple[str, str], list[Route]] = {}
        self._markets: set[tuple[str, str]] = set()
        if routes is not None:
            self._set_routes(list(routes))
        self.ml_enabled = ml_enabled
        self.detectors = list(detectors or [])
        self.on_batch = on_batch
        self.on_stats = on_stats
        self.on_execution = on_execution
        self.reset_watcher = reset_watcher  # arb.risk.reset.ResetWatcher: daily-limit resets from other processes
        self.sleep = sleep
        self.c = Counters()
        self.queue: list[Opportunity] = []
        self._next_opp = ids.maker("o")

    # ---- the loop ----
    def run(self, stop: threading.Event | None = None) -> RunSummary:
        stop = stop or threading.Event()
        first: datetime | None = None
        now: datetime | None = None
        last_stats: datetime | None = None
        prev_at: datetime | None = None
        prev_wall = time.monotonic()
        stopped_by = "end_of_stream"
        try:
            for batch in self.source.batches():
                if stop.is_set():
                    stopped_by = "signal"
                    break
                now = batch.at
                first = first or now
                if self.config.duration is not None and now - first >= self.config.duration:
                    stopped_by = "duration"
                    break
                if self.config.speed is not None and prev_at is not None:
                    wait = (now - prev_at).total_seconds() / self.config.speed - (time.monotonic() - prev_wall)
                    if wait > 0 and (stop.wait(wait) if self.sleep is None else self.sleep(wait)):
                        stopped_by = "signal"
                        break
                prev_at, prev_wall = now, time.monotonic()
                self.step(batch)
                if self.on_batch is not None:
                    self.on_batch(self.c.batches, batch)
                if last_stats is None:
                    last_stats = now
                elif (now - last_stats).total_seconds() >= self.config.stats_interval_s:
                    self.emit_stats(now)
                    last_stats = now
                self.writer.maybe_flush()
        finally:
            end = now or first
            settle = getattr(self.source, "settle", None)
            if settle is not None:
                settle()  # e.g. the sandbox mines a last block so in-flight transactions get receipts
            if end is not None:
                for ex in self.executor.drain(end, self.state.get):
                    self._record_execution(ex, end)
                self.emit_stats(end)
            self.writer.flush()
        return RunSummary(self.run_id, first, now, stopped_by, self.stats(now), dict(self.state.quality.counts))

    def step(self, batch: MarketBatch) -> list[Opportunity]:
        now = batch.at
        c = self.c
        c.batches += 1
        c.books += len(batch.books)
        self.decider.risk.roll_day(now)
        if self.reset_watcher is not None and self.reset_watcher.poll(now):
            self._persist_limits(now)
        valid = self.state.apply(batch, now, self.config.max_data_age_ms)
        touched: set[tuple[str, str]] = set()
        for b in valid:
            mid = b.mid
            if mid is not None:
                self.vol.update(f"{b.venue}:{b.symbol}", b.timestamp, float(mid))
            key = (b.venue, b.symbol)
            touched.add(key)
            if self._fixed_routes is None and key not in self._markets:
                self._markets.add(key)
                self._set_routes(routes_for(self._markets))
        for ex in self.executor.poll(now, self.state.get):
            self._record_execution(ex, now)

        # Only routes with a book updated in this batch are priced again: one decision per market update, not one
        # per route per tick (an unchanged pair of books was already decided).
        routes = list(dict.fromkeys(r for k in sorted(touched) for r in self._by_market.get(k, ())))
        fresh = {(b.venue, b.symbol): b for b in self.state.fresh(now, self.config.max_data_age_ms)}
        opps: list[Opportunity] = []
        try:
            opps = find_opportunities(fresh, routes, self.edge, observed_at=now, next_id=self._next_opp)
        except BadInput as e:
            self.state.quality.record(e.reason, detail=str(e))
        for det in self.detectors:
            try:
                opps.extend(det.find(batch, self.state, now, self._next_opp))
            except BadInput as e:
                self.state.quality.record(e.reason, detail=str(e))
        c.opportunities_detected += len(opps)
        self.queue.extend(opps)
        self._drain_queue(now)
        return opps

    def _set_routes(self, routes: list[Route]) -> None:
        self._routes = routes
        self._by_market = {}
        for r in routes:
            for key in ((r.buy_venue, r.buy_symbol), (r.sell_venue, r.sell_symbol)):
                self._by_market.setdefault(key, []).append(r)

    def _drain_queue(self, now: datetime) -> None:
        size = self.config.decision_batch_size
        while self.queue:
            chunk, self.queue = self.queue[:size], self.queue[size:]
            self.c.opportunities_submitted += len(chunk)
            decisions = self.decider.decide(chunk, now=now, vol_bps=self._vol_for, routes=self.route_stats)
            by_id = {o.id: o for o in chunk}
            for d in decisions:
                opp = by_id[d.opportunity_id]
                self.c.decisions[d.action.value] += 1
                self.writer.add_decision(d, opp, self.run_id)
                if d.executes:
                    self.executor.submit(d, opp, now)
                    self._persist_limits(now)
                    log.info("execute", extra={"run_id": self.run_id, "decision_id": d.id, "route_id": d.route_id,
                                               "confidence": round(d.confidence, 4), "edge_bps": str(opp.edge_bps),
                                               "net_profit_usd": str(opp.net_profit), "size": str(d.size)})
                else:
                    log.debug(d.action.value, extra={"decision_id": d.id, "route_id": d.route_id,
                                                     "reasons": list(d.reasons)})

    def _vol_for(self, opp: Opportunity) -> float | None:
        a = self.vol.vol_bps(f"{opp.buy_venue}:{opp.symbol}")
        b = self.vol.vol_bps(f"{opp.sell_venue}:{opp.sell_symbol}")
        vals = [v for v in (a, b) if v is not None]
        return max(vals) if vals else None

    def _record_execution(self, ex: Execution, now: datetime) -> None:
        c = self.c
        c.executions += 1
        c.wins += int(ex.success)
        c.realized_profit += ex.realized_profit
        c.predicted_profit += ex.predicted_profit
        self.writer.add_execution(ex, self.run_id)
        self.decider.risk.on_complete(ex.realized_profit, now)
        prev = self.route_stats.get(ex.route_id) or RouteStats(route_id=ex.route_id,
                                                                scope=self.decider.risk.state.scope)
        new = update_route(prev, ex.record())
        self.route_stats[ex.route_id] = new
        self.writer.upsert_route_stats(new)
        self._persist_limits(now)
        log.info("execution", extra={"run_id": self.run_id, "execution_id": ex.id, "decision_id": ex.decision_id,
                                     "route_id": ex.route_id, "status": ex.status.value,
                                     "predicted_profit_usd": str(ex.predicted_profit),
                                     "realized_profit_usd": str(ex.realized_profit),
                                     "slippage_bps": str(ex.slippage_bps), "latency_ms": ex.latency_ms})
        if self.on_execution is not None:
            self.on_execution(ex)

    def _persist_limits(self, now: datetime) -> None:
        self.writer.upsert_daily_limits(self.decider.risk.state, now)

    # ---- stats ----
    def stats(self, now: datetime | None) -> dict[str, Any]:
        c = self.c
        rs = self.decider.risk.state
        return {
            "opportunities_detected": c.opportunities_detected,
            "opportunities_submitted": c.opportunities_submitted,
            "orchestrator": {
                "opportunities_queued": len(self.queue),
                "pending_executions": self.executor.in_flight,
                "daily_executions": rs.executions,
                "daily_profit_usd": float(round(rs.profit_usd, 2)),
                "daily_losses_usd": float(round(rs.loss_usd, 2)),
                "ai_stats": {
                    "total_predictions": sum(c.decisions.values()),
                    "total_executions": c.executions,
                    "win_rate": round(c.wins / c.executions, 4) if c.executions else 0.0,
                    "ml_enabled": bool(getattr(self.decider.scorer, "ml_enabled", self.ml_enabled)),
                    "model_trained": bool(getattr(self.decider.scorer, "model_trained", False)),
                },
            },
            "decisions": dict(c.decisions),
            "batches": c.batches,
            "books": c.books,
            "realized_profit_usd": str(c.realized_profit),
            "predicted_profit_usd": str(c.predicted_profit),
            "data_quality": dict(self.state.quality.counts),
            "source_time": now.isoformat() if now else None,
        }

    def emit_stats(self, now: datetime) -> None:
        s = self.stats(now)
        log.info("stats", extra={"run_id": self.run_id, "stats": s})
        self.writer.update_run(
            self.run_id,
            opportunities_detected=self.c.opportunities_detected,
            opportunities_submitted=self.c.opportunities_submitted,
            opportunities_queued=len(self.queue),
            pending_executions=self.executor.in_flight,
            data_quality=dict(self.state.quality.counts),
        )
        if self.on_stats is not None:
            self.on_stats(s)
