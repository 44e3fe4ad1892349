"""The design's monitoring alerts: pure evaluation over a metrics snapshot, and a monitor that reports transitions.

The alerts, each with its setting:

- ``win_rate_low``: win rate below ALERT_MIN_WIN_RATE (0.45);
- ``gas_share_high``: gas costs above ALERT_MAX_GAS_SHARE (0.30) of the gross profit before gas;
- ``success_rate_low``: success rate below ALERT_MIN_SUCCESS_RATE (0.70);
- ``drawdown_high``: drawdown above ALERT_MAX_DRAWDOWN (0.20);
- ``daily_loss_near_limit``: today's loss at or above ALERT_DAILY_LOSS_USED (0.80) of MAX_DAILY_LOSS_USD (level
  ``critical`` once the whole limit is used, ``warning`` before).

The three ratio alerts need at least ALERT_MIN_EXECUTIONS (10) executions: two losing trades out of three say nothing.
They are evaluated on the snapshot's overall figures (see :mod:`arb.ops.metrics` for what they cover).

:class:`AlertMonitor` calls ``record``/``emit`` only when an alert kind goes from not raised to raised, and logs
``alert cleared`` when it goes back; it never raises into its caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from arb.ops.metrics import Snapshot

if TYPE_CHECKING:
    from arb.settings import Settings
    from arb.warehouse.writer import WarehouseWriter

log = logging.getLogger("arb.ops.alerts")

WIN_RATE = "win_rate_low"
GAS_SHARE = "gas_share_high"
SUCCESS_RATE = "success_rate_low"
DRAWDOWN = "drawdown_high"
DAILY_LOSS = "daily_loss_near_limit"
KINDS = (WIN_RATE, GAS_SHARE, SUCCESS_RATE, DRAWDOWN, DAILY_LOSS)


@dataclass(frozen=True)
class AlertThresholds:
    min_win_rate: float = 0.45
    max_gas_share: float = 0.30
    min_success_rate: float = 0.70
    max_drawdown: float = 0.20
    daily_loss_used: float = 0.80
    min_executions: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertThresholds:
        return cls(
            min_win_rate=settings.alert_min_win_rate,
            max_gas_share=settings.alert_max_gas_share,
            min_success_rate=settings.alert_min_success_rate,
            max_drawdown=settings.alert_max_drawdown,
            daily_loss_used=settings.alert_daily_loss_used,
            min_executions=settings.alert_min_executions,
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "min_win_rate": self.min_win_rate,
            "max_gas_share": self.max_gas_share,
            "min_success_rate": self.min_success_rate,
            "max_drawdown": self.max_drawdown,
            "daily_loss_used": self.daily_loss_used,
            "min_executions": self.min_executions,
        }


@dataclass(frozen=True)
class AlertInputs:
    """The figures the alerts look at. None means "not defined" (no executions, no positive gross profit...)."""

    at: datetime | None
    executions: int
    win_rate: float | None = None
    success_rate: float | None = None
    gas_share: float | None = None
    drawdown: float | None = None
    daily_loss_used: float | None = None
    daily_loss_usd: Decimal | None = None
    daily_loss_limit_usd: Decimal | None = None

    @classmethod
    def from_snapshot(cls, s: Snapshot) -> AlertInputs:
        return cls(
            at=s.now,
            executions=s.overall.executions,
            win_rate=s.overall.win_rate,
            success_rate=s.overall.success_rate,
            gas_share=s.overall.gas_share,
            drawdown=s.drawdown.current,
            daily_loss_used=s.daily_loss.used,
            daily_loss_usd=s.daily_loss.loss_usd,
            daily_loss_limit_usd=s.daily_loss.limit_usd,
        )


@dataclass(frozen=True)
class Alert:
    kind: str
    level: str  # "warning" or "critical"
    message: str  # names the value and the threshold
    value: float
    threshold: float
    at: datetime | None = None  # the time of the snapshot it was evaluated on

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {
            "kind": self.kind,
            "level": self.level,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "at": self.at.isoformat() if self.at is not None else None,
        }


def _pct(x: float) -> str:
    return f"{x * 100:.2f}".rstrip("0").rstrip(".") + "%"


def evaluate(snapshot: Snapshot | AlertInputs, thresholds: AlertThresholds) -> list[Alert]:
    """The alerts raised by ``snapshot`` (pure). Order: the order of :data:`KINDS`."""
    s = AlertInputs.from_snapshot(snapshot) if isinstance(snapshot, Snapshot) else snapshot
    t = thresholds
    out: list[Alert] = []
    n = s.executions
    enough = n >= t.min_executions
    over = f"over {n} executions"
    if enough and s.win_rate is not None and s.win_rate < t.min_win_rate:
        out.append(Alert(
            WIN_RATE, "warning",
            f"win rate {_pct(s.win_rate)} is below the {_pct(t.min_win_rate)} threshold (ALERT_MIN_WIN_RATE), {over}",
            s.win_rate, t.min_win_rate, s.at,
        ))  # fmt: skip
    if enough and s.gas_share is not None and s.gas_share > t.max_gas_share:
        out.append(Alert(
            GAS_SHARE, "warning",
            f"gas costs are {_pct(s.gas_share)} of the gross profit before gas, above the {_pct(t.max_gas_share)} "
            f"threshold (ALERT_MAX_GAS_SHARE), {over}",
            s.gas_share, t.max_gas_share, s.at,
        ))  # fmt: skip
    if enough and s.success_rate is not None and s.success_rate < t.min_success_rate:
        out.append(Alert(
            SUCCESS_RATE, "warning",
            f"success rate {_pct(s.success_rate)} is below the {_pct(t.min_success_rate)} threshold "
            f"(ALERT_MIN_SUCCESS_RATE), {over}",
            s.success_rate, t.min_success_rate, s.at,
        ))  # fmt: skip
    if s.drawdown is not None and s.drawdown > t.max_drawdown:
        out.append(Alert(
            DRAWDOWN, "warning",
            f"drawdown {_pct(s.drawdown)} exceeds the {_pct(t.max_drawdown)} threshold (ALERT_MAX_DRAWDOWN)",
            s.drawdown, t.max_drawdown, s.at,
        ))  # fmt: skip
    if s.daily_loss_used is not None and s.daily_loss_used >= t.daily_loss_used:
        money = (
            f" (${s.daily_loss_usd:.2f} of ${s.daily_loss_limit_usd:.2f})"
            if s.daily_loss_usd is not None and s.daily_loss_limit_usd is not None
            else ""
        )
        out.append(Alert(
            DAILY_LOSS, "critical" if s.daily_loss_used >= 1 else "warning",
            f"today's loss is {_pct(s.daily_loss_used)} of MAX_DAILY_LOSS_USD{money}, at or above the "
            f"{_pct(t.daily_loss_used)} threshold (ALERT_DAILY_LOSS_USED)",
            s.daily_loss_used, t.daily_loss_used, s.at,
        ))  # fmt: skip
    return out


class AlertMonitor:
    """Evaluates the alerts on demand and reports each kind once per raise.

    ``evaluate_inputs`` returns a :class:`Snapshot` (e.g. ``lambda: snapshot_from_settings(s, now=clock())``) or an
    :class:`AlertInputs`. ``check()`` calls ``record`` and then ``emit`` (if given) for every kind that was not raised
    at the previous check and is now, logs ``alert`` at WARNING for it, and logs ``alert cleared`` at INFO for every
    kind that was raised and no longer is. A kind that stays raised is not reported again.

    ``check()`` never raises (except BaseException such as KeyboardInterrupt): a failing ``evaluate_inputs`` (a locked
    or missing warehouse) is logged and the previous state kept; a failing ``record``/``emit`` is logged and the alert
    still counts as raised, so it is not retried on every check.
    """

    def __init__(
        self,
        evaluate_inputs: Callable[[], Snapshot | AlertInputs],
        thresholds: AlertThresholds,
        *,
        record: Callable[[Alert], None],
        emit: Callable[[Alert], None] | None = None,
    ) -> None:
        self._inputs = evaluate_inputs
        self.thresholds = thresholds
        self._record = record
        self._emit = emit
        self._raised: dict[str, Alert] = {}
        self.failures = 0  # checks that could not evaluate

    @property
    def active(self) -> dict[str, Alert]:
        """The kinds raised at the last successful check, with the alert that raised them."""
        return dict(self._raised)

    def check(self) -> list[Alert]:
        """Evaluate now; returns the alerts newly raised by this check."""
        try:
            alerts = evaluate(self._inputs(), self.thresholds)
        except Exception as e:  # noqa: BLE001 - the monitor must never break the loop that calls it
            self.failures += 1
            log.warning("alert check failed", extra={"error": f"{type(e).__name__}: {e}"})
            return []
        now = {a.kind: a for a in alerts}
        raised = [a for k, a in now.items() if k not in self._raised]
        cleared = [a for k, a in self._raised.items() if k not in now]
        self._raised = now
        for a in raised:
            log.warning(
                "alert",
                extra={"kind": a.kind, "alert_level": a.level, "detail": a.message, "value": a.value,
                       "threshold": a.threshold},
            )  # fmt: skip
            self._call("record", self._record, a)
            if self._emit is not None:
                self._call("emit", self._emit, a)
        for a in cleared:
            log.info("alert cleared", extra={"kind": a.kind, "threshold": a.threshold})
        return raised

    @staticmethod
    def _call(what: str, fn: Callable[[Alert], None], a: Alert) -> None:
        try:
            fn(a)
        except Exception as e:  # noqa: BLE001 - see check()
            log.error(f"alert {what} failed", extra={"kind": a.kind, "error": f"{type(e).__name__}: {e}"})


def warehouse_recorder(writer: WarehouseWriter, run_id: str | None = None) -> Callable[[Alert], None]:
    """A ``record`` callback appending each raised alert to the warehouse ``alerts`` table through ``writer``
    (buffered: it is written at the writer's next flush). Alerts evaluated without a time are not recordable."""

    def record(a: Alert) -> None:
        if a.at is None:
            raise ValueError(f"alert {a.kind} has no time; evaluate it on a Snapshot or AlertInputs with `at`")
        writer.add_alert(at=a.at, level=a.level, kind=a.kind, message=a.message, run_id=run_id)

    return record


def prefect_emitter() -> Callable[[Alert], None]:
    """An ``emit`` callback sending each raised alert as the Prefect event ``arb.alert.<kind>`` (resource
    ``arb.alert.<kind>``, payload = :meth:`Alert.as_dict`), for automations in prefect.yaml. Imports prefect now,
    so a missing install fails at wiring time, not at the first alert."""
    from prefect.events import emit_event

    def emit(a: Alert) -> None:
        emit_event(
            event=f"arb.alert.{a.kind}",
            resource={"prefect.resource.id": f"arb.alert.{a.kind}"},
            payload=a.as_dict(),
        )

    return emit
