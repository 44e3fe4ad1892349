"""The monitoring alerts: each threshold, the minimum-executions gate, and the monitor's transitions."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from arb.logs import JsonFormatter
from arb.ops import alerts as A
from arb.ops.alerts import Alert, AlertInputs, AlertMonitor, AlertThresholds, evaluate
from arb.ops.metrics import DailyLoss, DecisionCounts, Drawdown, Snapshot, Totals
from arb.settings import Settings

AT = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
T = AlertThresholds()  # the design's numbers: 45%, 30%, 70%, 20%, 80%, 10 executions


def healthy(**over) -> AlertInputs:
    base = dict(at=AT, executions=50, win_rate=0.8, success_rate=0.9, gas_share=0.1, drawdown=0.0,
                daily_loss_used=0.0)  # fmt: skip
    return AlertInputs(**{**base, **over})


def kinds(inputs: AlertInputs, t: AlertThresholds = T) -> list[str]:
    return [a.kind for a in evaluate(inputs, t)]


def test_defaults_are_the_designs_thresholds_and_settings_override_them():
    assert (T.min_win_rate, T.max_gas_share, T.min_success_rate, T.max_drawdown, T.daily_loss_used,
            T.min_executions) == (0.45, 0.30, 0.70, 0.20, 0.80, 10)  # fmt: skip
    assert AlertThresholds.from_settings(Settings(_env_file=None)) == T
    s = Settings(_env_file=None, alert_min_win_rate=0.5, alert_max_gas_share=0.25, alert_min_success_rate=0.6,
                 alert_max_drawdown=0.1, alert_daily_loss_used=0.9, alert_min_executions=3)  # fmt: skip
    assert AlertThresholds.from_settings(s) == AlertThresholds(0.5, 0.25, 0.6, 0.1, 0.9, 3)


def test_a_healthy_book_raises_nothing():
    assert evaluate(healthy(), T) == []


@pytest.mark.parametrize(
    ("field", "fires", "quiet", "kind"),
    [
        # "below 45%": 44.99% fires; exactly 45% does not
        ("win_rate", [0.4499, 0.2, 0.0], [0.45, 0.46, 1.0], A.WIN_RATE),
        # "exceed 30% of profit": just over fires; exactly 30% does not
        ("gas_share", [0.3001, 0.5, 3.0], [0.30, 0.29, 0.0], A.GAS_SHARE),
        # "below 70%"
        ("success_rate", [0.6999, 0.1], [0.70, 0.95], A.SUCCESS_RATE),
        # "exceeds 20%"
        ("drawdown", [0.2001, 0.9], [0.20, 0.05], A.DRAWDOWN),
        # "approaching the daily loss limit": at 80% of MAX_DAILY_LOSS_USD it fires
        ("daily_loss_used", [0.80, 0.95, 1.0, 1.7], [0.7999, 0.0], A.DAILY_LOSS),
    ],
)
def test_each_alert_fires_past_its_threshold_and_not_before(field, fires, quiet, kind):
    for v in fires:
        assert kinds(healthy(**{field: v})) == [kind], f"{field}={v} should raise {kind}"
    for v in quiet:
        assert kinds(healthy(**{field: v})) == [], f"{field}={v} should raise nothing"


def test_an_undefined_figure_raises_nothing():
    assert kinds(healthy(win_rate=None, success_rate=None, gas_share=None, drawdown=None, daily_loss_used=None)) == []


def test_rate_alerts_need_the_minimum_number_of_executions():
    bad = dict(win_rate=0.0, success_rate=0.0, gas_share=0.9)
    assert kinds(healthy(executions=9, **bad)) == []
    assert kinds(healthy(executions=10, **bad)) == [A.WIN_RATE, A.GAS_SHARE, A.SUCCESS_RATE]
    assert kinds(healthy(executions=2, **bad), AlertThresholds(min_executions=2)) == [
        A.WIN_RATE, A.GAS_SHARE, A.SUCCESS_RATE]
    # money alerts are not gated: one big loss is enough
    assert kinds(healthy(executions=1, drawdown=0.5, daily_loss_used=1.0)) == [A.DRAWDOWN, A.DAILY_LOSS]


def test_messages_name_the_value_and_the_threshold():
    [a] = evaluate(healthy(win_rate=0.4), T)
    assert a == Alert(A.WIN_RATE, "warning", a.message, 0.4, 0.45, AT)
    assert "40%" in a.message and "45%" in a.message and "ALERT_MIN_WIN_RATE" in a.message
    assert "50 executions" in a.message
    [g] = evaluate(healthy(gas_share=0.3125), T)
    assert "31.25%" in g.message and "30%" in g.message
    [d] = evaluate(healthy(daily_loss_used=0.84, daily_loss_usd=Decimal("420"), daily_loss_limit_usd=Decimal(500)), T)
    assert d.level == "warning" and "84%" in d.message and "$420.00 of $500.00" in d.message
    assert "MAX_DAILY_LOSS_USD" in d.message and "80%" in d.message
    [c] = evaluate(healthy(daily_loss_used=1.0), T)
    assert c.level == "critical"
    assert json.loads(json.dumps(c.as_dict()))["at"] == AT.isoformat()


def _snapshot(*, executions: int, wins: int, successes: int, gas: str, realized: str, drawdown: float,
              loss: str) -> Snapshot:  # fmt: skip
    totals = Totals(DecisionCounts(execute=executions), executions, successes, wins, Decimal(realized), Decimal(0),
                    Decimal(gas))  # fmt: skip
    return Snapshot(
        now=AT, window_minutes=60, capital_usd=Decimal(1000), overall=totals, recent=totals, latest_run=None,
        model_version=None, drawdown=Drawdown(drawdown, drawdown, Decimal(0), Decimal(0)),
        daily_loss=DailyLoss("s", date(2026, 11, 2), Decimal(loss), Decimal(500), 0, None),
    )  # fmt: skip


def test_evaluate_reads_a_metrics_snapshot():
    # 4 wins of 10 (40%), 6 successes (60%), gas 4 of a gross 4 + 6 = 10 (40%), drawdown 25%, loss 400/500 (80%)
    s = _snapshot(executions=10, wins=4, successes=6, gas="4", realized="6", drawdown=0.25, loss="400")
    got = evaluate(s, T)
    assert [a.kind for a in got] == [A.WIN_RATE, A.GAS_SHARE, A.SUCCESS_RATE, A.DRAWDOWN, A.DAILY_LOSS]
    assert [a.value for a in got] == [0.4, 0.4, 0.6, 0.25, 0.8]
    assert all(a.at == AT for a in got)
    fine = _snapshot(executions=10, wins=9, successes=9, gas="1", realized="9", drawdown=0.0, loss="0")
    assert evaluate(fine, T) == []
    # a losing book has no defined gas share: it is the win-rate and drawdown alerts' business
    losing = _snapshot(executions=10, wins=9, successes=9, gas="5", realized="-5", drawdown=0.0, loss="0")
    assert losing.overall.gas_share is None and evaluate(losing, T) == []


# --- the monitor -------------------------------------------------------------------------------------------------


class Inputs:
    """A fake source of snapshots: returns (or raises) ``values`` in order, then keeps repeating the last one."""

    def __init__(self, *values: AlertInputs | Exception) -> None:
        self.values = list(values)

    def __call__(self) -> AlertInputs:
        v = self.values.pop(0) if len(self.values) > 1 else self.values[0]
        if isinstance(v, Exception):
            raise v
        return v


def test_monitor_reports_once_per_raise_and_again_after_a_clear(caplog):
    caplog.set_level(logging.INFO, logger="arb.ops.alerts")
    recorded: list[Alert] = []
    emitted: list[Alert] = []
    src = Inputs(healthy())
    m = AlertMonitor(src, T, record=recorded.append, emit=emitted.append)

    assert m.check() == [] and recorded == [] and m.active == {}
    src.values = [healthy(win_rate=0.3)]
    assert [a.kind for a in m.check()] == [A.WIN_RATE]
    src.values = [healthy(win_rate=0.2, drawdown=0.3)]
    assert [a.kind for a in m.check()] == [A.DRAWDOWN]  # win rate still raised: only the new kind is reported
    assert m.check() == []  # both still raised
    assert [a.kind for a in recorded] == [A.WIN_RATE, A.DRAWDOWN] and emitted == recorded
    assert set(m.active) == {A.WIN_RATE, A.DRAWDOWN}

    src.values = [healthy(drawdown=0.3)]  # the win rate recovers
    assert m.check() == [] and set(m.active) == {A.DRAWDOWN}
    src.values = [healthy(win_rate=0.3, drawdown=0.3)]  # and drops again: a new raise
    assert [a.kind for a in m.check()] == [A.WIN_RATE]
    assert [a.kind for a in recorded] == [A.WIN_RATE, A.DRAWDOWN, A.WIN_RATE]

    raised = [r for r in caplog.records if r.getMessage() == "alert"]
    cleared = [r for r in caplog.records if r.getMessage() == "alert cleared"]
    assert [r.levelno for r in raised] == [logging.WARNING] * 3 and [r.kind for r in raised] == [
        A.WIN_RATE, A.DRAWDOWN, A.WIN_RATE]
    assert [(r.levelno, r.kind) for r in cleared] == [(logging.INFO, A.WIN_RATE)]
    line = json.loads(JsonFormatter().format(raised[0]))  # one JSON object per line in the log file
    assert line["event"] == "alert" and line["level"] == "WARNING" and line["kind"] == A.WIN_RATE
    assert line["value"] == 0.3 and line["threshold"] == 0.45 and "ALERT_MIN_WIN_RATE" in line["detail"]


def test_monitor_survives_a_failing_snapshot_and_keeps_its_state(caplog):
    caplog.set_level(logging.INFO, logger="arb.ops.alerts")
    recorded: list[Alert] = []
    src = Inputs(healthy(drawdown=0.5))
    m = AlertMonitor(src, T, record=recorded.append)
    assert [a.kind for a in m.check()] == [A.DRAWDOWN]
    src.values = [RuntimeError("warehouse locked")]
    assert m.check() == [] and m.failures == 1
    assert set(m.active) == {A.DRAWDOWN}, "a failed check neither clears nor re-raises"
    src.values = [healthy(drawdown=0.5)]
    assert m.check() == [] and len(recorded) == 1  # still the same raise
    assert not [r for r in caplog.records if r.getMessage() == "alert cleared"]
    [fail] = [r for r in caplog.records if r.getMessage() == "alert check failed"]
    assert fail.levelno == logging.WARNING and "warehouse locked" in fail.error


def test_monitor_survives_failing_callbacks(caplog):
    caplog.set_level(logging.INFO, logger="arb.ops.alerts")
    emitted: list[Alert] = []

    def broken_record(a: Alert) -> None:
        raise OSError("disk full")

    m = AlertMonitor(Inputs(healthy(win_rate=0.1, drawdown=0.5)), T, record=broken_record, emit=emitted.append)
    assert [a.kind for a in m.check()] == [A.WIN_RATE, A.DRAWDOWN]
    assert [a.kind for a in emitted] == [A.WIN_RATE, A.DRAWDOWN], "a failing record does not stop the emit"
    assert m.check() == [], "not retried on every check"
    errors = [r for r in caplog.records if r.getMessage() == "alert record failed"]
    assert len(errors) == 2 and all("disk full" in r.error for r in errors)


def test_prefect_emitter_sends_one_event_per_alert(tmp_path):
    """Through Prefect's own test client (no server): the event name, resource and payload the automations see."""
    script = """
import json, sys
from prefect.events.clients import AssertingEventsClient
from prefect.events.worker import EventsWorker
from arb.ops.alerts import Alert, prefect_emitter
from datetime import UTC, datetime
EventsWorker.set_client_override(AssertingEventsClient)
try:
    emit = prefect_emitter()
    emit(Alert("win_rate_low", "warning", "win rate 40% ...", 0.4, 0.45, datetime(2026, 11, 2, 12, tzinfo=UTC)))
    EventsWorker.instance().drain()
    print(json.dumps([[e.event, e.resource.id, e.payload] for e in AssertingEventsClient.last.events]))
finally:
    EventsWorker.drain_all()
"""
    env = {"PATH": "/usr/bin:/bin", "PREFECT_HOME": str(tmp_path / ".prefect"), "DO_NOT_TRACK": "true",
           "PREFECT_API_URL": "http://127.0.0.1:9/api",  # never contacted: the asserting client replaces it
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    [[event, resource, payload]] = json.loads(p.stdout.strip().splitlines()[-1])
    assert event == "arb.alert.win_rate_low" and resource == "arb.alert.win_rate_low"
    assert payload == {"kind": "win_rate_low", "level": "warning", "message": "win rate 40% ...", "value": 0.4,
                       "threshold": 0.45, "at": "2026-11-02T12:00:00+00:00"}  # fmt: skip
