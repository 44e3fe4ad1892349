"""Risk limits as a small state machine (pure apart from the kill-switch file check).

Limits apply per UTC day and per scope (an account; a replay run is its own scope). The state is rebuilt from the
warehouse's ``daily_limits`` row on restart, so a crash does not reset the day's counters.

Hard blocks reject an opportunity; soft blocks (cooldown, concurrency) defer it: the condition clears by itself.
Executions are counted at submission, so concurrency and the daily count can never be exceeded, whatever the order
of events. Realized losses are only known on completion: once they reach the daily loss limit, no new execution is
submitted until the next UTC day (or an explicit reset).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class RiskLimits:
    max_daily_executions: int = 100
    max_daily_loss_usd: Decimal = Decimal(500)
    max_concurrent: int = 3
    cooldown_s: float = 5.0
    max_position_usd: Decimal = Decimal("1e30")


@dataclass(frozen=True)
class RiskState:
    scope: str
    day: date
    executions: int = 0
    profit_usd: Decimal = Decimal(0)  # sum of positive realized results today
    loss_usd: Decimal = Decimal(0)  # sum of |negative realized results| today
    in_flight: int = 0
    last_submit_at: datetime | None = None
    stopped_reason: str | None = None


@dataclass(frozen=True)
class Block:
    reason: str
    hard: bool


class KillSwitch:
    """A file whose presence stops new executions at once.

    ``arb kill`` creates it; ``arb kill --release`` removes it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def engaged(self) -> bool:
        return self.path.exists()

    def reason(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        return text or "no reason given"

    def engage(self, reason: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(reason + "\n", encoding="utf-8")

    def release(self) -> bool:
        try:
            self.path.unlink()
            return True
        except FileNotFoundError:
            return False


Restore = Callable[[str, date], "RiskState | None"]


class RiskManager:
    """``restore(scope, day)`` returns the persisted counters of a day (from the warehouse), or None: it is called
    whenever the UTC day changes, including the first time, so a restarted engine resumes that day's counters."""

    def __init__(self, limits: RiskLimits, state: RiskState, kill_switch: KillSwitch | None = None,
                 restore: Restore | None = None) -> None:
        self.limits = limits
        self.state = state
        self.kill_switch = kill_switch
        self.restore = restore

    # ---- queries ----
    def blocks(self, notional_usd: Decimal, now: datetime) -> list[Block]:
        self.roll_day(now)
        s, lim = self.state, self.limits
        out: list[Block] = []
        if self.kill_switch is not None and self.kill_switch.engaged():
            out.append(Block(f"kill switch engaged ({self.kill_switch.path}): {self.kill_switch.reason()}", True))
        if s.stopped_reason:
            out.append(Block(f"execution stopped for {s.day.isoformat()}: {s.stopped_reason}", True))
        if s.executions >= lim.max_daily_executions:
            out.append(Block(f"daily executions {s.executions} reached the limit {lim.max_daily_executions}", True))
        if s.loss_usd >= lim.max_daily_loss_usd:
            out.append(Block(f"daily losses ${s.loss_usd:.2f} reached the limit ${lim.max_daily_loss_usd}", True))
        if notional_usd > lim.max_position_usd:
            out.append(Block(f"position ${notional_usd:.2f} above the max position ${lim.max_position_usd:.2f}", True))
        if s.in_flight >= lim.max_concurrent:
            out.append(Block(f"{s.in_flight} executions in flight (max concurrent {lim.max_concurrent})", False))
        if s.last_submit_at is not None:
            ready = s.last_submit_at + timedelta(seconds=lim.cooldown_s)
            if now < ready:
                left = (ready - now).total_seconds()
                out.append(Block(f"cooldown: {left:.1f}s left of {lim.cooldown_s:g}s since the last execution", False))
        return out

    # ---- transitions ----
    def roll_day(self, now: datetime) -> bool:
        day = now.date()
        if day == self.state.day:
            return False
        s = self.state
        restored = self.restore(s.scope, day) if self.restore is not None else None
        base = restored if restored is not None else RiskState(scope=s.scope, day=day)
        self.state = replace(base, scope=s.scope, day=day, in_flight=s.in_flight, last_submit_at=s.last_submit_at)
        return True

    def on_submit(self, now: datetime) -> None:
        self.roll_day(now)
        s = self.state
        self.state = replace(s, executions=s.executions + 1, in_flight=s.in_flight + 1, last_submit_at=now)

    def on_complete(self, realized_usd: Decimal, now: datetime) -> None:
        s = self.state
        in_flight = max(0, s.in_flight - 1)
        self.state = s = replace(s, in_flight=in_flight)
        self.roll_day(now)
        s = self.state
        if realized_usd >= 0:
            s = replace(s, profit_usd=s.profit_usd + realized_usd)
        else:
            s = replace(s, loss_usd=s.loss_usd - realized_usd)
        if s.loss_usd >= self.limits.max_daily_loss_usd and not s.stopped_reason:
            s = replace(s, stopped_reason=f"daily loss limit ${self.limits.max_daily_loss_usd} hit "
                                          f"(losses ${s.loss_usd:.2f})")
        self.state = s

    def reset_day(self, now: datetime) -> None:
        """Explicit reset (the midnight flow): clears today's counters and re-arms after a daily-loss stop."""
        self.state = RiskState(scope=self.state.scope, day=now.date(), in_flight=self.state.in_flight,
                               last_submit_at=self.state.last_submit_at)
