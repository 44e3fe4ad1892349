"""ArbExecutor on a real anvil, against the real compiled Uniswap V2 (two venues) and V3 contracts.

The profit the contract realizes equals, to the wei, the profit predicted in Python with exact integer V2 math and
Aave's premium rounding (and, for a V3 hop, the real QuoterV2's quote).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from arb.errors import FatalError
from tests.integration.chain_fixtures import Chain, chain, clean_chain  # noqa: F401  (pytest fixtures)

V2, V3 = 0, 1
WETH_UNIT, USDC_UNIT = 10**18, 10**6
MAX_UINT = 2**256 - 1
# An explicit gas limit for execute: eth_estimateGas under-estimates a V2 route whenever the transaction lands in a
# later second than the estimate (each pair then also writes its two price accumulators, +~44k gas on a fresh pair),
# and the 63/64 rule turns that into an out-of-gas revert inside the pair. Live code must add a margin too.
EXEC_GAS = 500_000


# ---------------------------------------------------------------- exact integer math (what the Python side predicts)

def v2_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    with_fee = amount_in * (10000 - fee_bps)
    return with_fee * reserve_out // (reserve_in * 10000 + with_fee)


def aave_premium(amount: int, premium_bps: int) -> int:
    return (amount * premium_bps + 5000) // 10000


def best_amount(profit, lo: int, hi: int) -> int:
    """Integer ternary search for the most profitable input (profit is unimodal in the input)."""
    while hi - lo > 2:
        m1, m2 = lo + (hi - lo) // 3, hi - (hi - lo) // 3
        if profit(m1) < profit(m2):
            lo = m1
        else:
            hi = m2
    return max(range(lo, hi + 1), key=profit)


# ---------------------------------------------------------------- the market

@dataclass
class Market:
    weth: Contract
    usdc: Contract
    flash: Contract
    exe: Contract
    pair_a: Contract  # WETH at 3,000 USDC (cheap)
    pair_b: Contract  # WETH at 3,300 USDC (dear)

    def reserves(self, pair: Contract, token_in: Contract) -> tuple[int, int]:
        r0, r1, _ = pair.functions.getReserves().call()
        return (r0, r1) if pair.functions.token0().call() == token_in.address else (r1, r0)

    def hop(self, pair: Contract, token_in: Contract, token_out: Contract) -> tuple:
        return (V2, pair.address, token_in.address, token_out.address, 30)


def add_v2_liquidity(c: Chain, pair: Contract, a: Contract, amount_a: int, b: Contract, amount_b: int) -> None:
    s = c.sender
    s.call(a.functions.transfer(pair.address, amount_a))
    s.call(b.functions.transfer(pair.address, amount_b))
    s.call(pair.functions.mint(s.address))


def v2_pair(c: Chain, factory: Contract, a: Contract, b: Contract) -> Contract:
    c.sender.call(factory.functions.createPair(a.address, b.address))
    return c.contract("UniswapV2Pair", factory.functions.getPair(a.address, b.address).call())


@pytest.fixture(scope="module")
def market(chain: Chain):  # noqa: F811
    with chain.isolated():
        s = chain.sender
        weth = chain.deploy("TestERC20", "Wrapped Ether", "WETH", 18)
        usdc = chain.deploy("TestERC20", "USD Coin", "USDC", 6)
        s.call(weth.functions.mint(s.address, 100_000 * WETH_UNIT))
        s.call(usdc.functions.mint(s.address, 50_000_000 * USDC_UNIT))
        flash = chain.deploy("FlashLoanPool")
        for t, amount in ((weth, 1_000 * WETH_UNIT), (usdc, 10_000_000 * USDC_UNIT)):
            s.call(t.functions.approve(flash.address, MAX_UINT))
            s.call(flash.functions.deposit(t.address, amount))
        exe = chain.deploy("ArbExecutor", flash.address)
        venue_a = chain.deploy("UniswapV2Factory", s.address)
        venue_b = chain.deploy("UniswapV2Factory", s.address)
        pair_a = v2_pair(chain, venue_a, weth, usdc)
        pair_b = v2_pair(chain, venue_b, weth, usdc)
        add_v2_liquidity(chain, pair_a, weth, 1_000 * WETH_UNIT, usdc, 3_000_000 * USDC_UNIT)
        add_v2_liquidity(chain, pair_b, weth, 1_000 * WETH_UNIT, usdc, 3_300_000 * USDC_UNIT)
        yield Market(weth, usdc, flash, exe, pair_a, pair_b)


def v2_cycle_predictor(m: Market):
    """profit(amount) -> (premium, amountOut, profit) of USDC -> WETH on A -> USDC on B, from the chain's state now."""
    premium_bps = m.flash.functions.FLASHLOAN_PREMIUM_TOTAL().call()  # a governance parameter: read it at run time
    a_in, a_out = m.reserves(m.pair_a, m.usdc)
    b_in, b_out = m.reserves(m.pair_b, m.weth)

    def predict(amount: int) -> tuple[int, int, int]:
        out = v2_out(v2_out(amount, a_in, a_out), b_in, b_out)
        premium = aave_premium(amount, premium_bps)
        return premium, out, out - amount - premium

    return predict


def cycle(m: Market) -> list[tuple]:
    return [m.hop(m.pair_a, m.usdc, m.weth), m.hop(m.pair_b, m.weth, m.usdc)]


# ---------------------------------------------------------------- tests

def test_two_hop_v2_arbitrage_profit_equals_prediction_to_the_wei(market: Market, clean_chain: Chain):  # noqa: F811
    m, s = market, clean_chain.sender
    predict = v2_cycle_predictor(m)
    amount = best_amount(lambda x: predict(x)[2], 1, 500_000 * USDC_UNIT)
    assert predict(amount)[2] > 1_000 * USDC_UNIT  # a real opportunity: a 10% price gap between the venues
    # An odd amount near the optimum, so the premium's half-up rounding is exercised too.
    odd = amount - amount % 10_000 + 1999
    premium, amount_out, profit = predict(odd)

    fn = m.exe.functions.execute(m.usdc.address, odd, cycle(m), profit)
    assert fn.call({"from": s.address}) == profit  # eth_call simulation returns the exact profit
    owner_before = m.usdc.functions.balanceOf(s.address).call()
    pool_before = m.flash.functions.availableLiquidity(m.usdc.address).call()
    r = s.call(fn, gas=EXEC_GAS)

    (ev,) = m.exe.events.ArbExecuted().process_receipt(r, errors=DISCARD)
    assert dict(ev.args) == {"asset": m.usdc.address, "amount": odd, "premium": premium, "profit": profit,
                             "amountOut": amount_out}
    assert m.usdc.functions.balanceOf(s.address).call() - owner_before == profit
    assert m.flash.functions.availableLiquidity(m.usdc.address).call() - pool_before == premium
    assert m.usdc.functions.balanceOf(m.exe.address).call() == 0
    assert m.weth.functions.balanceOf(m.exe.address).call() == 0
    (loan,) = m.flash.events.FlashLoan().process_receipt(r, errors=DISCARD)
    assert (loan.args.target, loan.args.initiator, loan.args.premium) == (m.exe.address, m.exe.address, premium)
    print(f"\n2-hop V2 arbitrage execute: gas used {r['gasUsed']}")
    assert 100_000 < r["gasUsed"] < 400_000


def test_min_profit_above_achievable_reverts_with_a_clear_reason(market: Market, clean_chain: Chain):  # noqa: F811
    m, s, w3 = market, clean_chain.sender, clean_chain.w3
    amount = 20_000 * USDC_UNIT
    _, _, profit = v2_cycle_predictor(m)(amount)
    assert profit > 0
    fn = m.exe.functions.execute(m.usdc.address, amount, cycle(m), profit + 1)
    with pytest.raises(ContractLogicError, match="ArbExecutor: profit below minProfit"):
        fn.call({"from": s.address})
    with pytest.raises(ContractLogicError, match="ArbExecutor: profit below minProfit"):
        fn.estimate_gas({"from": s.address})
    owner_before = m.usdc.functions.balanceOf(s.address).call()
    h = s.call(fn, gas=EXEC_GAS, wait=False)  # explicit gas: no estimate, so the revert happens on chain
    receipt = w3.eth.wait_for_transaction_receipt(h)
    assert receipt["status"] == 0 and 0 < receipt["gasUsed"] < EXEC_GAS  # a clean revert, not out of gas
    assert m.usdc.functions.balanceOf(s.address).call() == owner_before
    with pytest.raises(ContractLogicError, match="ArbExecutor: profit below minProfit"):  # replayed on its parent state
        fn.call({"from": s.address}, block_identifier=receipt["blockNumber"] - 1)
    # exactly the achievable profit still passes
    assert m.exe.functions.execute(m.usdc.address, amount, cycle(m), profit).call({"from": s.address}) == profit


def test_losing_route_cannot_repay_the_loan(market: Market, clean_chain: Chain):  # noqa: F811
    m = market
    wrong_way = [m.hop(m.pair_b, m.usdc, m.weth), m.hop(m.pair_a, m.weth, m.usdc)]
    with pytest.raises(ContractLogicError, match="ArbExecutor: cannot repay loan"):
        m.exe.functions.execute(m.usdc.address, 10_000 * USDC_UNIT, wrong_way, 0).call(
            {"from": clean_chain.sender.address})


@pytest.mark.parametrize(("hops", "reason"), [
    ("empty", "ArbExecutor: empty route"),
    ("bad_start", "ArbExecutor: route must start with the loan asset"),
    ("bad_end", "ArbExecutor: route must end in the loan asset"),
    ("broken", "ArbExecutor: broken route"),
    ("bad_kind", "ArbExecutor: unknown hop kind"),
])
def test_route_validation(market: Market, clean_chain: Chain, hops: str, reason: str):  # noqa: F811
    m = market
    a, b = cycle(m)
    route = {"empty": [], "bad_start": [b, a], "bad_end": [a], "broken": [a, a],
             "bad_kind": [(7, *a[1:]), b]}[hops]
    with pytest.raises(ContractLogicError, match=reason):
        m.exe.functions.execute(m.usdc.address, 1_000 * USDC_UNIT, route, 0).call({"from": clean_chain.sender.address})


def test_tokens_already_held_are_not_counted_as_profit(market: Market, clean_chain: Chain):  # noqa: F811
    m, s = market, clean_chain.sender
    stuck = 12_345 * USDC_UNIT
    s.call(m.usdc.functions.transfer(m.exe.address, stuck))
    amount = 15_000 * USDC_UNIT
    _, _, profit = v2_cycle_predictor(m)(amount)
    before = m.usdc.functions.balanceOf(s.address).call()
    r = s.call(m.exe.functions.execute(m.usdc.address, amount, cycle(m), 0), gas=EXEC_GAS)
    (ev,) = m.exe.events.ArbExecuted().process_receipt(r, errors=DISCARD)
    assert ev.args.profit == profit
    assert m.usdc.functions.balanceOf(s.address).call() - before == profit
    assert m.usdc.functions.balanceOf(m.exe.address).call() == stuck


def test_only_the_owner_moves_funds_and_owner_can_withdraw_stuck_tokens(market: Market, clean_chain: Chain):  # noqa: F811
    m, s, w3 = market, clean_chain.sender, clean_chain.w3
    other = clean_chain.sender_for(1)
    s.call(m.usdc.functions.transfer(m.exe.address, 777))
    s.send({"to": m.exe.address, "value": 10**15})  # receive() accepts ETH
    assert w3.eth.get_balance(m.exe.address) == 10**15
    for fn in (m.exe.functions.execute(m.usdc.address, 1_000 * USDC_UNIT, cycle(m), 0),
               m.exe.functions.withdraw(m.usdc.address, 777), m.exe.functions.withdrawETH(1),
               m.exe.functions.transferOwnership(other.address)):
        with pytest.raises(ContractLogicError, match="ArbExecutor: caller is not the owner"):
            fn.call({"from": other.address})
    with pytest.raises(FatalError, match="reverted"):
        other.call(m.exe.functions.withdraw(m.usdc.address, 777), gas=100_000)

    before = m.usdc.functions.balanceOf(s.address).call()
    r = s.call(m.exe.functions.withdraw(m.usdc.address, 777))
    (ev,) = m.exe.events.Withdrawn().process_receipt(r, errors=DISCARD)
    assert (ev.args.token, ev.args.to, ev.args.amount) == (m.usdc.address, s.address, 777)
    assert m.usdc.functions.balanceOf(s.address).call() == before + 777
    assert m.usdc.functions.balanceOf(m.exe.address).call() == 0
    s.call(m.exe.functions.withdrawETH(10**15))
    assert w3.eth.get_balance(m.exe.address) == 0


def test_callbacks_reject_strangers(market: Market, clean_chain: Chain):  # noqa: F811
    m, s = market, clean_chain.sender
    attacker = clean_chain.sender_for(2).address
    params = b"\x00" * 64
    with pytest.raises(ContractLogicError, match="ArbExecutor: caller is not the pool"):
        m.exe.functions.executeOperation(m.usdc.address, 1, 0, m.exe.address, params).call({"from": attacker})
    # Someone else asks the real pool to flash-lend to the executor: the executor refuses (initiator check).
    with pytest.raises(ContractLogicError, match="ArbExecutor: loan not initiated by this contract"):
        m.flash.functions.flashLoanSimple(m.exe.address, m.usdc.address, 10**6, params, 0).call({"from": attacker})
    with pytest.raises(ContractLogicError, match="ArbExecutor: unexpected V3 callback"):
        m.exe.functions.uniswapV3SwapCallback(1, 0, b"").call({"from": s.address})


# ---------------------------------------------------------------- V3

def sqrt_price_x96(token0: Contract, token1: Contract, weth: Contract, usdc_per_weth: int) -> int:
    """sqrt(token1 raw units per token0 raw unit) * 2**96 for WETH priced at usdc_per_weth."""
    if token0.address == weth.address:  # price = usdc_per_weth * 1e6 / 1e18
        num, den = usdc_per_weth * USDC_UNIT, WETH_UNIT
    else:
        num, den = WETH_UNIT, usdc_per_weth * USDC_UNIT
    return math.isqrt(num * 2**192 // den)


def v3_pool(c: Chain, m: Market, usdc_per_weth: int = 3_300, liquidity: int = 5 * 10**15) -> tuple[Contract, Contract]:
    """(factory, pool): a real UniswapV3Factory and its initialized WETH/USDC 0.3% pool with full-range liquidity."""
    s = c.sender
    factory = c.deploy("UniswapV3Factory")
    s.call(factory.functions.createPool(m.weth.address, m.usdc.address, 3000))
    pool = c.contract("UniswapV3Pool", factory.functions.getPool(m.weth.address, m.usdc.address, 3000).call())
    t0 = m.weth if pool.functions.token0().call() == m.weth.address else m.usdc
    t1 = m.usdc if t0 is m.weth else m.weth
    s.call(pool.functions.initialize(sqrt_price_x96(t0, t1, m.weth, usdc_per_weth)))
    minter = c.deploy("TestV3Minter")
    for t in (m.weth, m.usdc):
        s.call(t.functions.approve(minter.address, MAX_UINT))
    s.call(minter.functions.mint(pool.address, -887220, 887220, liquidity))
    assert pool.functions.liquidity().call() == liquidity
    return factory, pool


def test_v2_to_v3_cycle_profit_equals_quoter_prediction(market: Market, clean_chain: Chain):  # noqa: F811
    m, c, s = market, clean_chain, clean_chain.sender
    factory, pool = v3_pool(c, m)
    quoter = c.deploy("QuoterV2", factory.address, c.deploy("WETH9").address)

    premium_bps = m.flash.functions.FLASHLOAN_PREMIUM_TOTAL().call()
    a_in, a_out = m.reserves(m.pair_a, m.usdc)

    def predict(amount: int) -> tuple[int, int, int]:
        weth_out = v2_out(amount, a_in, a_out)
        usdc_out = quoter.functions.quoteExactInputSingle(
            (m.weth.address, m.usdc.address, weth_out, 3000, 0)).call()[0]
        premium = aave_premium(amount, premium_bps)
        return premium, usdc_out, usdc_out - amount - premium

    amount = 20_000 * USDC_UNIT + 1
    premium, amount_out, profit = predict(amount)
    assert profit > 0
    hops = [m.hop(m.pair_a, m.usdc, m.weth), (V3, pool.address, m.weth.address, m.usdc.address, 0)]
    before = m.usdc.functions.balanceOf(s.address).call()
    r = s.call(m.exe.functions.execute(m.usdc.address, amount, hops, profit), gas=EXEC_GAS)
    (ev,) = m.exe.events.ArbExecuted().process_receipt(r, errors=DISCARD)
    assert (ev.args.premium, ev.args.amountOut, ev.args.profit) == (premium, amount_out, profit)
    assert m.usdc.functions.balanceOf(s.address).call() - before == profit
    assert m.weth.functions.balanceOf(m.exe.address).call() == 0

    # and the reverse V3 -> V2 direction loses money: cannot repay
    back = [(V3, pool.address, m.usdc.address, m.weth.address, 0), m.hop(m.pair_a, m.weth, m.usdc)]
    with pytest.raises(ContractLogicError, match="ArbExecutor: cannot repay loan"):
        m.exe.functions.execute(m.usdc.address, amount, back, 0).call({"from": s.address})


# ---------------------------------------------------------------- BatchReader

def test_batch_reader_reads_many_pools_in_one_call_and_tolerates_bad_ones(market: Market, clean_chain: Chain):  # noqa: F811
    m, c = market, clean_chain
    _, pool = v3_pool(c, m)
    reader = c.deploy("BatchReader")
    eoa = c.sender_for(3).address  # no code
    not_a_pair = m.usdc.address  # has code, no getReserves/slot0

    pairs = [m.pair_a.address, eoa, m.pair_b.address, not_a_pair] * 50  # 200 entries, one eth_call
    r0, r1, ts = reader.functions.getV2Reserves(pairs).call()
    assert len(r0) == len(r1) == len(ts) == 200
    want_a, want_b = m.pair_a.functions.getReserves().call(), m.pair_b.functions.getReserves().call()
    for i in range(0, 200, 4):
        assert [r0[i], r1[i], ts[i]] == want_a and [r0[i + 2], r1[i + 2], ts[i + 2]] == want_b
        assert r0[i + 1] == r1[i + 1] == ts[i + 1] == r0[i + 3] == r1[i + 3] == ts[i + 3] == 0

    pools = [pool.address, eoa, m.pair_a.address]
    sqrt_p, tick, liq, ok = reader.functions.getV3States(pools).call()
    slot0 = pool.functions.slot0().call()
    assert (sqrt_p[0], tick[0], liq[0], ok[0]) == (slot0[0], slot0[1], pool.functions.liquidity().call(), True)
    assert ok[1:] == [False, False] and sqrt_p[1:] == [0, 0] and tick[1:] == [0, 0] and liq[1:] == [0, 0]
    assert reader.functions.getV2Reserves([]).call() == [[], [], []]
