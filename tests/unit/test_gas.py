from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.errors import Rejected
from arb.execute.gas import (
    FeePolicy,
    Fees,
    bump,
    fees_for,
    gas_cost_wei,
    max_base_fee_after,
    satisfies_replacement_rule,
)

GWEI = 10**9
wei = st.integers(min_value=0, max_value=10**6 * GWEI)


def test_two_blocks_of_headroom_is_base_times_81_over_64_rounded_up_plus_tip():
    f = fees_for(base_fee=10 * GWEI, priority_fee=2 * GWEI, cap_wei=500 * GWEI)
    assert f.max_fee_per_gas == 10 * GWEI * 81 // 64 + 2 * GWEI  # exact: 10 gwei is divisible by 64
    assert f.max_priority_fee_per_gas == 2 * GWEI
    assert f.tx_fields() == {"maxFeePerGas": f.max_fee_per_gas, "maxPriorityFeePerGas": 2 * GWEI}


def test_rounding_up_happens_at_each_block():
    assert max_base_fee_after(7, 1) == 8  # 7 x 9/8 = 7.875 -> 8
    assert max_base_fee_after(7, 2) == 9  # 8 x 9/8 = 9
    assert max_base_fee_after(1, 0) == 1
    assert fees_for(7, 0, 100, headroom_blocks=2).max_fee_per_gas == 9


def test_base_fee_above_cap_is_rejected():
    with pytest.raises(Rejected, match="gas price above cap"):
        fees_for(base_fee=101, priority_fee=1, cap_wei=100)


def test_headroom_and_tip_are_cut_to_the_cap():
    f = fees_for(base_fee=90, priority_fee=50, cap_wei=100)
    assert f == Fees(100, 50)
    f = fees_for(base_fee=100, priority_fee=500, cap_wei=100)
    assert f == Fees(100, 100)


def test_bump_default_is_12_5_pct_rounded_up():
    assert bump(Fees(800, 80)) == Fees(900, 90)
    assert bump(Fees(1, 0)) == Fees(2, 1)  # always strictly higher, even from tiny or zero fees
    assert bump(Fees(100, 10), pct=10) == Fees(110, 11)


def test_bump_below_the_node_rule_or_past_the_cap_is_refused():
    with pytest.raises(ValueError, match="at least 10%"):
        bump(Fees(100, 10), pct=5)
    with pytest.raises(Rejected, match="gas price above cap"):
        bump(Fees(100, 10), cap_wei=110)
    assert FeePolicy(priority_fee_wei=1, cap_wei=113).bump(Fees(100, 10)) == Fees(113, 12)


def test_fees_validate_their_fields():
    with pytest.raises(ValueError):
        Fees(10, 11)
    with pytest.raises(ValueError):
        Fees(-1, 0)
    assert Fees(100, 5).effective_price(90) == 95
    assert Fees(100, 20).effective_price(90) == 100


def test_gas_cost():
    assert gas_cost_wei(21_000, 3 * GWEI) == 63_000 * GWEI
    with pytest.raises(ValueError):
        gas_cost_wei(-1, 1)


@given(base=wei, tip=wei, cap=wei, headroom=st.integers(min_value=0, max_value=12))
def test_fees_never_exceed_the_cap(base, tip, cap, headroom):
    if base > cap:
        with pytest.raises(Rejected):
            fees_for(base, tip, cap, headroom)
        return
    f = fees_for(base, tip, cap, headroom)
    assert f.max_fee_per_gas <= cap
    assert f.max_priority_fee_per_gas <= f.max_fee_per_gas
    assert f.max_fee_per_gas >= base  # always includable at the current base fee
    # Uncapped, the max fee covers `headroom` blocks of maximal base-fee growth plus the full tip.
    if f.max_fee_per_gas < cap:
        assert f.max_fee_per_gas >= base * Fraction(9, 8) ** headroom + tip
        assert f.max_priority_fee_per_gas == tip


@given(old_max=wei, old_tip=wei, pct=st.sampled_from(["10", "12.5", "15", "20", "33.3", "100"]))
def test_a_bump_always_satisfies_the_node_replacement_rule(old_max, old_tip, pct):
    old = Fees(max(old_max, old_tip), min(old_max, old_tip))
    new = bump(old, pct)
    assert satisfies_replacement_rule(old, new)
    # Stricter than the node's floor-division check: a true +10% on both fields, and strictly higher.
    assert new.max_fee_per_gas * 100 >= old.max_fee_per_gas * 110
    assert new.max_priority_fee_per_gas * 100 >= old.max_priority_fee_per_gas * 110
    assert new.max_fee_per_gas > old.max_fee_per_gas and new.max_priority_fee_per_gas > old.max_priority_fee_per_gas
    assert new.max_priority_fee_per_gas <= new.max_fee_per_gas


@given(base=st.integers(min_value=1, max_value=10**4 * GWEI), tip=st.integers(min_value=0, max_value=100 * GWEI),
       cap=st.integers(min_value=1, max_value=10**5 * GWEI), rounds=st.integers(min_value=1, max_value=8))
def test_repeated_bumps_under_a_policy_never_pass_its_cap(base, tip, cap, rounds):
    policy = FeePolicy(priority_fee_wei=tip, cap_wei=cap)
    try:
        f = policy.fees(base)
    except Rejected:
        assert base > cap
        return
    for _ in range(rounds):
        try:
            nxt = policy.bump(f)
        except Rejected:
            break
        assert satisfies_replacement_rule(f, nxt) and nxt.max_fee_per_gas <= cap
        f = nxt
