"""FlashLoanPool reproduces Aave V3's flashLoanSimple: premium rounding, executeOperation contract, repayment, event."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from arb.errors import FatalError
from tests.integration.chain_fixtures import Chain, chain, clean_chain  # noqa: F401  (pytest fixtures)

UNIT = 10**18


def aave_premium(amount: int, premium_bps: int = 5) -> int:
    """Aave V3 PercentageMath.percentMul(amount, premium_bps): half-up rounding."""
    return (amount * premium_bps + 5000) // 10000


@pytest.fixture(scope="module")
def setup(chain: Chain):  # noqa: F811
    """A funded pool (10**24 DAI-like units) and a receiver holding 10**21 units to pay premiums."""
    with chain.isolated():
        s = chain.sender
        token = chain.deploy("TestERC20", "Dai Stablecoin", "DAI", 18)
        pool = chain.deploy("FlashLoanPool")
        receiver = chain.deploy("TestFlashReceiver", pool.address)
        s.call(token.functions.mint(s.address, 10**24 + 10**21))
        s.call(token.functions.approve(pool.address, 2**256 - 1))
        s.call(pool.functions.deposit(token.address, 10**24))
        s.call(token.functions.transfer(receiver.address, 10**21))
        yield token, pool, receiver


@pytest.mark.parametrize("amount", [1, 1000, 1999, 2000, 3000, 10**18 + 1, 123_456_789_012_345_678_901, 10**24])
def test_premium_charged_is_aave_percent_mul(setup, clean_chain: Chain, amount: int):  # noqa: F811
    token, pool, receiver = setup
    s = clean_chain.sender
    before_r = token.functions.balanceOf(receiver.address).call()
    before_p = token.functions.balanceOf(pool.address).call()
    s.call(pool.functions.flashLoanSimple(receiver.address, token.address, amount, b"hi", 7))
    charged = before_r - token.functions.balanceOf(receiver.address).call()
    assert charged == aave_premium(amount) == receiver.functions.lastPremium().call()
    assert token.functions.balanceOf(pool.address).call() - before_p == charged
    assert receiver.functions.lastAmount().call() == amount
    assert receiver.functions.lastBalanceSeen().call() == before_r + amount  # the loan really arrived
    assert receiver.functions.lastInitiator().call() == s.address  # initiator = msg.sender of flashLoanSimple
    assert receiver.functions.lastParams().call() == b"hi"


def test_rounding_is_half_up_not_floor():
    assert [aave_premium(a) for a in (999, 1000, 1999, 2000, 3000, 1)] == [0, 1, 1, 1, 2, 0]


def test_flash_loan_event_has_aave_fields(setup, clean_chain: Chain):  # noqa: F811
    token, pool, receiver = setup
    s = clean_chain.sender
    amount = 10**18 + 1
    r = s.call(pool.functions.flashLoanSimple(receiver.address, token.address, amount, b"", 42))
    (ev,) = pool.events.FlashLoan().process_receipt(r, errors=DISCARD)
    assert dict(ev.args) == {"target": receiver.address, "initiator": s.address, "asset": token.address,
                             "amount": amount, "interestRateMode": 0, "premium": aave_premium(amount),
                             "referralCode": 42}
    # Aave V3's topic: FlashLoan(address,address,address,uint256,uint8,uint256,uint16)
    topic = clean_chain.w3.keccak(text="FlashLoan(address,address,address,uint256,uint8,uint256,uint16)")
    assert r["logs"][-1]["topics"][0] == topic


@pytest.mark.parametrize(("mode", "reason"), [
    (1, "TokenUtils: transferFrom failed"),  # returns true but never approved the repayment
    (2, "FlashLoanPool: INVALID_FLASHLOAN_EXECUTOR_RETURN"),  # returns false
    (3, "TokenUtils: transferFrom failed"),  # gives the loan away: cannot repay
])
def test_receiver_that_does_not_repay_reverts_the_whole_loan(setup, clean_chain: Chain, mode: int, reason: str):  # noqa: F811
    token, pool, receiver = setup
    s = clean_chain.sender
    sink = clean_chain.sender_for(5).address
    s.call(receiver.functions.setMode(mode, sink))
    amount = 5 * 10**21  # more than the receiver holds, so giving it away (mode 3) leaves it unable to repay
    fn = pool.functions.flashLoanSimple(receiver.address, token.address, amount, b"", 0)
    with pytest.raises(ContractLogicError, match=reason):
        fn.call({"from": s.address})
    before = token.functions.balanceOf(pool.address).call()
    with pytest.raises(FatalError, match="reverted"):
        s.call(fn, gas=300_000)
    assert token.functions.balanceOf(pool.address).call() == before
    assert token.functions.balanceOf(sink).call() == 0


def test_premium_is_read_at_run_time_and_settable_by_owner_only(setup, clean_chain: Chain):  # noqa: F811
    token, pool, receiver = setup
    s = clean_chain.sender
    assert pool.functions.FLASHLOAN_PREMIUM_TOTAL().call() == 5
    assert pool.functions.FLASHLOAN_PREMIUM_TO_PROTOCOL().call() == 0
    r = s.call(pool.functions.updateFlashloanPremiumTotal(9))
    (ev,) = pool.events.FlashloanPremiumTotalUpdated().process_receipt(r, errors=DISCARD)
    assert (ev.args.oldFlashloanPremiumTotal, ev.args.newFlashloanPremiumTotal) == (5, 9)
    assert pool.functions.FLASHLOAN_PREMIUM_TOTAL().call() == 9
    s.call(pool.functions.updateFlashloanPremiumToProtocol(10000))
    assert pool.functions.FLASHLOAN_PREMIUM_TO_PROTOCOL().call() == 10000

    amount = 1_234_567
    before = token.functions.balanceOf(receiver.address).call()
    s.call(pool.functions.flashLoanSimple(receiver.address, token.address, amount, b"", 0))
    assert before - token.functions.balanceOf(receiver.address).call() == aave_premium(amount, 9) == 1111

    other = clean_chain.sender_for(1).address
    for fn in (pool.functions.updateFlashloanPremiumTotal(1), pool.functions.updateFlashloanPremiumToProtocol(1),
               pool.functions.withdraw(token.address, 1), pool.functions.deposit(token.address, 1),
               pool.functions.transferOwnership(other)):
        with pytest.raises(ContractLogicError, match="FlashLoanPool: caller is not the owner"):
            fn.call({"from": other})
    with pytest.raises(ContractLogicError, match="FLASHLOAN_PREMIUM_INVALID"):
        pool.functions.updateFlashloanPremiumTotal(10001).call({"from": s.address})


def test_owner_deposit_withdraw_and_liquidity_limit(setup, clean_chain: Chain):  # noqa: F811
    token, pool, receiver = setup
    s = clean_chain.sender
    liquidity = pool.functions.availableLiquidity(token.address).call()
    assert liquidity == 10**24
    with pytest.raises(ContractLogicError, match="FlashLoanPool: insufficient liquidity"):
        pool.functions.flashLoanSimple(receiver.address, token.address, liquidity + 1, b"", 0).call()
    before = token.functions.balanceOf(s.address).call()
    r = s.call(pool.functions.withdraw(token.address, 5 * UNIT))
    (ev,) = pool.events.Withdrawn().process_receipt(r, errors=DISCARD)
    assert (ev.args.asset, ev.args.to, ev.args.amount) == (token.address, s.address, 5 * UNIT)
    assert token.functions.balanceOf(s.address).call() == before + 5 * UNIT
    assert pool.functions.availableLiquidity(token.address).call() == liquidity - 5 * UNIT


def test_state_is_isolated_between_tests(setup, clean_chain: Chain):  # noqa: F811
    """The previous tests' withdrawals and premium changes were reverted by clean_chain."""
    token, pool, _ = setup
    assert pool.functions.availableLiquidity(token.address).call() == 10**24
    assert pool.functions.FLASHLOAN_PREMIUM_TOTAL().call() == 5
