from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from arb.risk.limits import KillSwitch, RiskLimits, RiskManager, RiskState
from tests.factories import T0, D, later

LIMITS = RiskLimits(max_daily_executions=3, max_daily_loss_usd=D(10), max_concurrent=2, cooldown_s=5,
                    max_position_usd=D(1000))


def mgr(**kw) -> RiskManager:
    return RiskManager(LIMITS, RiskState(scope="t", day=T0.date(), **kw))


def reasons(m, notional="100", at=T0):
    return [b.reason for b in m.blocks(D(notional), at)]


def test_daily_executions_limit():
    m = mgr(executions=3)
    assert any("daily executions 3 reached the limit 3" in r for r in reasons(m))
    assert all(b.hard for b in m.blocks(D(1), T0))


def test_daily_loss_stops_execution():
    m = mgr()
    m.on_submit(T0)
    m.on_complete(D("-10.5"), later(1))
    bl = m.blocks(D(1), later(60))
    assert any("daily losses $10.50 reached the limit $10" in b.reason for b in bl)
    assert m.state.stopped_reason and "daily loss limit" in m.state.stopped_reason


def test_concurrency_and_cooldown_defer():
    m = mgr()
    m.on_submit(T0)
    bl = m.blocks(D(1), later(1))
    assert [b.hard for b in bl] == [False] and "cooldown" in bl[0].reason
    assert m.blocks(D(1), later(5)) == []
    m.on_submit(later(5))
    bl = m.blocks(D(1), later(11))
    assert any("2 executions in flight (max concurrent 2)" in b.reason for b in bl)
    m.on_complete(D(1), later(12))
    assert m.blocks(D(1), later(12)) == []


def test_position_cap():
    assert any("above the max position $1000" in r for r in reasons(mgr(), notional="1000.01"))
    assert reasons(mgr(), notional="1000") == []


def test_kill_switch_file(tmp_path):
    ks = KillSwitch(tmp_path / "KILL")
    m = RiskManager(LIMITS, RiskState(scope="t", day=T0.date()), ks)
    assert m.blocks(D(1), T0) == []
    ks.engage("fat finger")
    bl = m.blocks(D(1), T0)
    assert bl[0].hard and "fat finger" in bl[0].reason
    assert ks.release() and m.blocks(D(1), T0) == []


def test_new_utc_day_resets_counters_but_not_in_flight():
    m = mgr(executions=3, loss_usd=D(50), stopped_reason="x", in_flight=1)
    m.roll_day(T0 + timedelta(days=1))
    s = m.state
    assert (s.executions, s.loss_usd, s.stopped_reason, s.in_flight) == (0, 0, None, 1)


events = st.lists(
    st.tuples(st.sampled_from(["try", "complete"]), st.integers(0, 20), st.integers(-8, 8)), max_size=80
)


@settings(max_examples=300)
@given(events)
def test_no_sequence_of_events_exceeds_a_limit(seq):
    """Submit only when nothing blocks; then no counter ever passes its limit, and nothing is submitted after a stop."""
    m = mgr()
    now = T0
    submitted = 0
    for kind, dt, pnl in seq:
        now = now + timedelta(seconds=dt)
        if kind == "try":
            if not m.blocks(D(100), now):
                assert m.state.loss_usd < LIMITS.max_daily_loss_usd and m.state.stopped_reason is None
                m.on_submit(now)
                submitted += 1
        elif m.state.in_flight > 0:
            m.on_complete(Decimal(pnl), now)
        s = m.state
        assert s.in_flight <= LIMITS.max_concurrent
        assert s.executions <= LIMITS.max_daily_executions
        assert s.in_flight >= 0
    assert submitted <= LIMITS.max_daily_executions * (1 + (now - T0).days)
