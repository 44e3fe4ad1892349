"""FlashLoanExecutor against a real anvil: two real UniswapV2 venues, our FlashLoanPool and ArbExecutor.

The expected profit is computed in Python with exact integer V2 math and must match the chain to the wei.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from eth_account import Account

from arb.chain.anvil import DEV_KEYS, STARTED, Anvil, rpc
from arb.chain.artifacts import load
from arb.chain.client import Sender, account, make_web3
from arb.domain import Action, Decision, ExecutionStatus, Opportunity
from arb.errors import BadInput, FatalError, Rejected
from arb.execute.flashloan import KIND_V2, FlashLoanExecutor, FlashPlan, Hop, PlanBook, parse_note
from arb.execute.gas import FeePolicy
from tests.factories import Counter

GWEI = 10**9
E18 = 10**18
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CHAIN = "ethereum"
PRICE_USD = Decimal(2000)  # both the loan asset (a WETH-like token) and the native coin


def v2_out(amount_in: int, r_in: int, r_out: int) -> int:
    return amount_in * 997 * r_out // (r_in * 1000 + amount_in * 997)


def premium(amount: int) -> int:
    return (amount * 5 + 5000) // 10000


def to_usd(chain: str, token: str | None, units: int) -> Decimal:
    return Decimal(units) / E18 * PRICE_USD


@pytest.fixture(scope="module")
def env():
    with Anvil(chain_id=31337) as a:
        w3 = make_web3(a.url)
        owner = account(DEV_KEYS[0])
        s = Sender(w3, owner)
        erc20 = load("TestERC20")
        weth = s.deploy(erc20, "Wrapped Ether", "WETH", 18)
        usdc = s.deploy(erc20, "USD Coin", "USDC", 18)
        for t in (weth, usdc):
            s.call(t.functions.mint(owner.address, 10**9 * E18))
        pairs = []
        for usdc_per_weth in (2000, 2050):  # venue A: WETH cheap; venue B: WETH dear
            factory = s.deploy(load("UniswapV2Factory"), owner.address)
            s.call(factory.functions.createPair(weth.address, usdc.address))
            pair = w3.eth.contract(address=factory.functions.getPair(weth.address, usdc.address).call(),
                                   abi=load("UniswapV2Pair").abi)
            s.call(weth.functions.transfer(pair.address, 1000 * E18))
            s.call(usdc.functions.transfer(pair.address, 1000 * usdc_per_weth * E18))
            s.call(pair.functions.mint(owner.address))
            pairs.append(pair)
        pool = s.deploy(load("FlashLoanPool"))
        s.call(weth.functions.approve(pool.address, 10_000 * E18))
        s.call(pool.functions.deposit(weth.address, 10_000 * E18))
        arb = s.deploy(load("ArbExecutor"), pool.address)
        yield {"anvil": a, "w3": w3, "owner": owner, "weth": weth, "usdc": usdc, "cheap": pairs[0],
               "dear": pairs[1], "pool": pool, "arb": arb}


_EXECUTORS: list[FlashLoanExecutor] = []


@pytest.fixture
def chain(env):
    snap = env["anvil"].snapshot()
    yield env
    url = env["anvil"].url
    rpc(url, "anvil_dropAllTransactions")  # a failed test may leave a stuck transaction behind
    rpc(url, "evm_setAutomine", [True])
    env["anvil"].revert(snap)
    while _EXECUTORS:
        _EXECUTORS.pop().close()


def reserves(pair, token_in: str) -> tuple[int, int]:
    r0, r1, _ = pair.functions.getReserves().call()
    return (r0, r1) if pair.functions.token0().call() == token_in else (r1, r0)


def plan_for(env, amount: int, min_profit: int | None = None, gas_estimate: int | None = None) -> FlashPlan:
    """Borrow WETH, sell it where it is dear, buy it back where it is cheap; predicted with exact V2 math."""
    weth, usdc = env["weth"].address, env["usdc"].address
    usdc_out = v2_out(amount, *reserves(env["dear"], weth))
    weth_out = v2_out(usdc_out, *reserves(env["cheap"], usdc))
    profit = weth_out - amount - premium(amount)
    hops = (Hop(KIND_V2, env["dear"].address, weth, usdc, 30), Hop(KIND_V2, env["cheap"].address, usdc, weth, 30))
    return FlashPlan(chain=CHAIN, asset=weth, amount=amount, hops=hops,
                     min_profit=profit if min_profit is None else min_profit, predicted_profit_wei=profit,
                     gas_estimate=gas_estimate)


def opportunity(oid: str, plan: FlashPlan) -> Opportunity:
    usd = to_usd(CHAIN, plan.asset, plan.predicted_profit_wei)
    notional = to_usd(CHAIN, plan.asset, plan.amount)
    return Opportunity(
        id=oid, kind="flash_loan", route_id="ethereum:WETH>USDC@dear>WETH@cheap", symbol="WETH/USDC",
        sell_symbol="WETH/USDC", buy_venue="cheap", sell_venue="dear", chain=CHAIN, size=Decimal(plan.amount) / E18,
        buy_price=Decimal(2000), sell_price=Decimal(2050), notional_usd=notional, gross_edge_bps=Decimal(0),
        edge_bps=(usd / notional * 10_000).quantize(Decimal("0.000001")), gross_profit=usd, fees=Decimal(0),
        net_profit=usd, liquidity_depth=Decimal(4_000_000), observed_at=T0, data_age_ms=0,
        gross_profit_wei=plan.predicted_profit_wei, net_profit_wei=plan.predicted_profit_wei, gas_wei=0,
    )


def decision(opp: Opportunity) -> Decision:
    return Decision(id=f"d-{opp.id}", opportunity_id=opp.id, route_id=opp.route_id, action=Action.EXECUTE,
                    confidence=0.9, factors={}, weights={}, reasons=("selected",), thresholds={}, ai_mode="test",
                    decided_at=T0, size=opp.size)


def executor(env, *, live: bool, **kw) -> FlashLoanExecutor:
    args = {"w3s": {CHAIN: env["w3"]}, "contracts": {CHAIN: env["arb"].address}, "owner": env["owner"],
            "fees": FeePolicy(priority_fee_wei=GWEI, cap_wei=100 * GWEI), "live": live, "receipt_timeout": 10.0,
            "next_id": Counter("x"), "to_usd": to_usd}
    args.update(kw)
    ex = FlashLoanExecutor(**args)
    _EXECUTORS.append(ex)
    return ex


def run_one(ex: FlashLoanExecutor, plan: FlashPlan, oid: str = "o1"):
    opp = opportunity(oid, plan)
    ex.submit(decision(opp), opp, T0, plan=plan)
    [x] = ex.drain(T0)
    assert ex.in_flight == 0
    return x


def weth_of(env, who: str) -> int:
    return env["weth"].functions.balanceOf(who).call()


def test_the_route_is_profitable_and_predicted_exactly_by_python(chain):
    plan = plan_for(chain, 5 * E18)
    assert plan.predicted_profit_wei > 0
    sim = chain["arb"].functions.execute(plan.asset, plan.amount, [h.as_abi() for h in plan.hops], 0).call(
        {"from": chain["owner"].address})
    assert sim == plan.predicted_profit_wei


def test_dry_run_simulates_only_and_changes_nothing_on_chain(chain):
    w3, owner = chain["w3"], chain["owner"].address
    nonce, block, bal = w3.eth.get_transaction_count(owner, "pending"), w3.eth.block_number, weth_of(chain, owner)
    plan = plan_for(chain, 5 * E18)
    x = run_one(executor(chain, live=False), plan)
    assert x.status is ExecutionStatus.FILLED and x.note.startswith("dry-run: simulated only")
    kv = parse_note(x.note)
    assert int(kv["realized_wei"]) == int(kv["predicted_wei"]) == plan.predicted_profit_wei
    assert int(kv["gas_estimate"]) > 100_000 and x.gas_cost > 0  # estimate x the fee the policy would pay
    assert x.realized_profit_wei == x.predicted_profit_wei == plan.predicted_profit_wei and x.tx_hash is None
    assert x.realized_profit == to_usd(CHAIN, None, plan.predicted_profit_wei) - x.gas_cost
    assert (w3.eth.get_transaction_count(owner, "pending"), w3.eth.block_number, weth_of(chain, owner)) == \
        (nonce, block, bal)


def test_live_detect_simulate_send_receipt_realizes_the_prediction_to_the_wei(chain):
    w3, owner = chain["w3"], chain["owner"].address
    nonce0, bal0 = w3.eth.get_transaction_count(owner), weth_of(chain, owner)
    plan = plan_for(chain, 5 * E18)
    plans = PlanBook()
    ex = executor(chain, live=True, planner=plans)
    opp = opportunity("o-live", plan)
    plans.put(opp.id, plan)
    ex.submit(decision(opp), opp, T0)  # the plan comes from the planner
    [x] = ex.drain(T0)
    assert x.status is ExecutionStatus.FILLED, x.note
    kv = parse_note(x.note)
    delta = weth_of(chain, owner) - bal0
    assert int(kv["realized_wei"]) == plan.predicted_profit_wei == delta  # event profit == prediction == balance
    r = w3.eth.get_transaction_receipt(kv["tx"])
    assert r["status"] == 1 and int(kv["nonce"]) == nonce0 and w3.eth.get_transaction_count(owner) == nonce0 + 1
    assert int(kv["gas_cost_wei"]) == r["gasUsed"] * r["effectiveGasPrice"] > 0
    assert int(kv["premium_wei"]) == premium(plan.amount)
    assert (x.tx_hash, x.block_number, x.gas_used, x.gas_cost_wei, x.realized_profit_wei, x.predicted_profit_wei,
            x.profit_token) == (kv["tx"], r["blockNumber"], r["gasUsed"], r["gasUsed"] * r["effectiveGasPrice"], delta,
                                plan.predicted_profit_wei, chain["weth"].address)
    assert x.gas_cost == to_usd(CHAIN, None, int(kv["gas_cost_wei"])).quantize(Decimal("1e-18"))
    assert x.realized_profit == to_usd(CHAIN, None, delta) - x.gas_cost
    assert x.predicted_profit == to_usd(CHAIN, None, plan.predicted_profit_wei)  # opp.gas_wei = 0
    assert x.latency_ms >= 0 and x.filled_at >= x.submitted_at and ex.get_pending_transactions() == []
    assert len(plans) == 0


def test_min_profit_above_achievable_is_caught_by_the_simulation_without_gas(chain):
    w3, owner = chain["w3"], chain["owner"].address
    nonce = w3.eth.get_transaction_count(owner, "pending")
    plan = plan_for(chain, 5 * E18)
    plan = plan_for(chain, 5 * E18, min_profit=plan.predicted_profit_wei + 1)
    x = run_one(executor(chain, live=True), plan)
    assert x.status is ExecutionStatus.FAILED
    assert x.note.startswith("simulation reverted: ArbExecutor: profit below minProfit")
    assert x.gas_cost == 0 and x.gas_cost_wei == 0 and int(parse_note(x.note)["gas_cost_wei"]) == 0
    assert x.tx_hash is None and x.realized_profit_wei == 0 and x.realized_profit == 0
    assert w3.eth.get_transaction_count(owner, "pending") == nonce


def test_min_profit_above_achievable_sent_anyway_reverts_on_chain_and_pays_gas(chain):
    w3, owner = chain["w3"], chain["owner"].address
    nonce, bal = w3.eth.get_transaction_count(owner), weth_of(chain, owner)
    plan = plan_for(chain, 5 * E18)
    plan = plan_for(chain, 5 * E18, min_profit=plan.predicted_profit_wei + 1, gas_estimate=600_000)
    x = run_one(executor(chain, live=True, simulate_first=False), plan)  # forced send: tests only
    assert x.status is ExecutionStatus.FAILED
    assert x.note.startswith("reverted: ArbExecutor: profit below minProfit"), x.note
    kv = parse_note(x.note)
    r = w3.eth.get_transaction_receipt(kv["tx"])
    assert r["status"] == 0 and int(kv["gas_cost_wei"]) == r["gasUsed"] * r["effectiveGasPrice"] > 0
    assert x.gas_cost > 0 and x.realized_profit == -x.gas_cost and int(kv["realized_wei"]) == 0
    assert x.tx_hash == kv["tx"] and x.gas_cost_wei == int(kv["gas_cost_wei"]) and x.realized_profit_wei == 0
    assert w3.eth.get_transaction_count(owner) == nonce + 1 and weth_of(chain, owner) == bal


def _wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_a_stuck_transaction_is_replaced_with_bumped_fees_and_the_replacement_is_mined(chain):
    url, w3, owner = chain["anvil"].url, chain["w3"], chain["owner"].address
    bal = weth_of(chain, owner)
    plan = plan_for(chain, 5 * E18)
    ex = executor(chain, live=True, receipt_timeout=1.0, max_replacements=2)
    rpc(url, "evm_setAutomine", [False])
    opp = opportunity("o-stuck", plan)
    ex.submit(decision(opp), opp, T0, plan=plan)
    [sent] = _wait_for(ex.get_pending_transactions)
    assert sent["status"] == "sent" and sent["replacements"] == 0 and sent["opportunity_id"] == "o-stuck"
    first = w3.eth.get_transaction(sent["hash"])
    assert first["maxFeePerGas"] == sent["fees"]["max_fee_per_gas"]
    [p] = _wait_for(lambda: [t for t in ex.get_pending_transactions() if t["replacements"] >= 1])
    assert p["status"] == "replaced x1" and p["hashes"][0] == sent["hash"] and len(p["hashes"]) == 2
    assert p["nonce"] == sent["nonce"] == first["nonce"]
    assert p["fees"]["max_fee_per_gas"] * 100 >= first["maxFeePerGas"] * 110
    assert p["fees"]["max_priority_fee_per_gas"] * 100 >= first["maxPriorityFeePerGas"] * 110
    assert ex.poll(T0) == [] and ex.in_flight == 1
    rpc(url, "evm_mine")
    [x] = ex.drain(T0)
    assert x.status is ExecutionStatus.FILLED, x.note
    kv = parse_note(x.note)
    assert kv["tx"] == p["hashes"][1] and int(kv["replacements"]) == 1
    mined = w3.eth.get_transaction(kv["tx"])
    assert mined["nonce"] == first["nonce"] and mined["maxPriorityFeePerGas"] > first["maxPriorityFeePerGas"]
    assert int(kv["realized_wei"]) == plan.predicted_profit_wei == weth_of(chain, owner) - bal
    assert x.latency_ms >= 1000


def test_a_stuck_transaction_past_its_replacements_is_cancelled(chain):
    url, w3, owner = chain["anvil"].url, chain["w3"], chain["owner"].address
    nonce, bal = w3.eth.get_transaction_count(owner), weth_of(chain, owner)
    ex = executor(chain, live=True, receipt_timeout=0.5, max_replacements=0)
    rpc(url, "evm_setAutomine", [False])
    plan = plan_for(chain, 5 * E18)
    opp = opportunity("o-cancel", plan)
    ex.submit(decision(opp), opp, T0, plan=plan)
    _wait_for(lambda: [t for t in ex.get_pending_transactions() if t["status"] == "cancelling"])
    rpc(url, "evm_mine")
    [x] = ex.drain(T0)
    assert x.status is ExecutionStatus.MISSED and x.note.startswith("cancelled"), x.note
    kv = parse_note(x.note)
    cancel = w3.eth.get_transaction(kv["tx"])
    assert cancel["to"] == owner and cancel["value"] == 0 and cancel["nonce"] == nonce
    assert int(kv["gas_used"]) == 21_000 and x.gas_cost > 0 and x.realized_profit == -x.gas_cost
    assert w3.eth.get_transaction_count(owner) == nonce + 1 and weth_of(chain, owner) == bal


def test_several_executions_in_flight_never_collide(chain):
    w3, owner = chain["w3"], chain["owner"].address
    nonce0, bal0 = w3.eth.get_transaction_count(owner), weth_of(chain, owner)
    ex = executor(chain, live=True, max_workers=4)
    for i in range(6):
        plan = plan_for(chain, E18 // 2, min_profit=0)  # each arb narrows the gap; all stay profitable
        opp = opportunity(f"o{i}", plan)
        ex.submit(decision(opp), opp, T0, plan=plan)
    xs = ex.drain(T0)
    assert len(xs) == 6 and all(x.status is ExecutionStatus.FILLED for x in xs), [x.note for x in xs]
    kvs = [parse_note(x.note) for x in xs]
    assert sorted(int(k["nonce"]) for k in kvs) == list(range(nonce0, nonce0 + 6))
    assert sum(int(k["realized_wei"]) for k in kvs) == weth_of(chain, owner) - bal0 > 0
    assert len({x.id for x in xs}) == 6


def test_submit_refuses_non_flash_or_non_execute_and_missing_plans(chain):
    plan = plan_for(chain, E18)
    ex = executor(chain, live=False)
    opp = opportunity("o-x", plan)
    with pytest.raises(Rejected, match="not execute"):
        ex.submit(decision(opp).model_copy(update={"action": Action.REJECT}), opp, T0, plan=plan)
    with pytest.raises(Rejected, match="not flash_loan"):
        ex.submit(decision(opp), opp.model_copy(update={"kind": "cex_arb"}), T0, plan=plan)
    with pytest.raises(Rejected, match="no plan"):
        ex.submit(decision(opp), opp, T0)
    with pytest.raises(Rejected, match="no flash-loan plan registered"):
        executor(chain, live=False, planner=PlanBook()).submit(decision(opp), opp, T0)
    assert ex.in_flight == 0


def test_a_plan_must_be_a_closed_route_in_the_loan_asset():
    a, b, c = ("0x" + ch * 40 for ch in "abc")
    FlashPlan(CHAIN, a, 1, (Hop(KIND_V2, c, a, b), Hop(KIND_V2, c, b, a)), 0, 0)
    for hops, amount in [((Hop(KIND_V2, c, b, a),), 1), ((Hop(KIND_V2, c, a, b),), 1),
                         ((Hop(KIND_V2, c, a, b), Hop(KIND_V2, c, c, a)), 1), ((Hop(KIND_V2, c, a, a),), 0), ((), 1)]:
        with pytest.raises(BadInput):
            FlashPlan(CHAIN, a, amount, hops, 0, 0)


def test_live_is_refused_on_a_chain_this_process_did_not_start(chain):
    with Anvil(chain_id=31339) as other:
        w3 = make_web3(other.url)
        common = {"w3s": {"other": w3}, "contracts": {"other": chain["arb"].address}}
        executor(chain, live=True, **common)  # started by this process: allowed, even with a dev key
        executor(chain, live=False, **common)
        cid = STARTED.pop(other.url)  # now it looks like someone else's chain
        try:
            with pytest.raises(FatalError, match="development key"):
                executor(chain, live=True, **common)
            with pytest.raises(FatalError, match="development key"):  # confirming does not allow the public keys
                executor(chain, live=True, confirm_chain_ids={31339}, **common)
            stranger = Account.create()
            with pytest.raises(FatalError, match="LIVE_CONFIRM_CHAIN_IDS=31339"):
                executor(chain, live=True, owner=stranger, **common)
            executor(chain, live=True, owner=stranger, confirm_chain_ids={31339}, **common)
            executor(chain, live=False, **common)  # dry-run signs nothing: allowed
        finally:
            STARTED[other.url] = cid

    # STARTED is checked again at each live submit, not only at construction.
    url = chain["anvil"].url
    ex = executor(chain, live=True)
    plan = plan_for(chain, E18)
    opp = opportunity("o-gone", plan)
    cid = STARTED.pop(url)
    try:
        with pytest.raises(FatalError, match="did not start|development key"):
            ex.submit(decision(opp), opp, T0, plan=plan)
    finally:
        STARTED[url] = cid
    assert ex.in_flight == 0
