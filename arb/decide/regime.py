"""Market regime: volatility estimated online from the stream of mid prices (EWMA of squared log returns)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class VolatilityTracker:
    """Per-key EWMA variance of log returns, normalised to one minute: ``vol_bps`` is bps per sqrt(minute).

    ``half_life_s`` is in source time, so a replay and a live feed estimate the same thing.
    """

    half_life_s: float = 600.0
    _last: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    _var: dict[str, float] = field(default_factory=dict)  # per-minute variance of log returns

    def update(self, key: str, at: datetime, mid: float) -> None:
        if not (mid > 0 and math.isfinite(mid)):
            return
        prev = self._last.get(key)
        self._last[key] = (at, mid)
        if prev is None:
            return
        dt = (at - prev[0]).total_seconds()
        if dt <= 0:
            return
        r = math.log(mid / prev[1])
        per_min = r * r * 60.0 / dt
        w = 1.0 - 0.5 ** (dt / self.half_life_s)
        old = self._var.get(key)
        self._var[key] = per_min if old is None else old * (1 - w) + per_min * w

    def vol_bps(self, key: str) -> float | None:
        v = self._var.get(key)
        return None if v is None else math.sqrt(v) * 1e4
