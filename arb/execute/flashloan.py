"""Flash-loan executor: turns EXECUTE decisions on ``flash_loan`` opportunities into ArbExecutor transactions.

**Plans.** An Opportunity does not carry its route, so the executor gets a :class:`FlashPlan` (asset, amount, hops,
minProfit, predicted profit in wei) from a ``planner(opp)`` callback given at construction; :class:`PlanBook` is the
ready-made planner: the on-chain detector ``put``s the plan under the opportunity id, ``submit`` pops it. ``submit``
also takes an explicit ``plan=`` keyword (tests, manual runs), which wins over the planner. This keeps
``submit(decision, opp, now)`` identical to every other executor, so the engine stays generic.

**Flow.** ``submit`` validates synchronously (decision, kind, plan, chain, live-mode safety: errors raise at once) and
hands the job to a worker thread (``max_workers`` in flight; their nonces never collide thanks to the chain's
:class:`NonceManager`); ``poll`` returns the Executions completed since the last call without blocking, ``drain``
waits for all of them (shutdown). Each job: build ``execute(asset, amount, hops, minProfit)`` -> simulate it with
``eth_call`` from the owner at ``pending`` (a revert -> FAILED, gas_cost 0, reason in the note) -> ``estimate_gas`` ->

- dry-run (``live=False``): nothing is signed or sent, no nonce is used. The Execution is FILLED with the SIMULATED
  outcome: ``execute`` returns the profit, so realized_profit_wei is the decoded ``eth_call`` return value (exact: the
  same code as on-chain, against the pending block's state). gas_cost = the estimate x the price the fee policy would
  pay at the current base fee. The note starts with "dry-run: simulated only".
- live: EIP-1559 fees from :mod:`arb.execute.gas`, a nonce from the NonceManager, signed locally, sent raw. Without a
  receipt within ``receipt_timeout`` the tx is replaced (same nonce, fees bumped >= +10%) up to ``max_replacements``
  times, then cancelled (0-value self-transfer, same nonce, bumped again): MISSED with the cancel's gas. A mined
  execute: FILLED with the profit of its ``ArbExecuted`` event; a reverted one (status 0, e.g. a competitor moved the
  price and the on-chain minProfit check failed): FAILED with the gas it paid and the revert reason, recovered by
  replaying the call at the receipt's block - 1.

**Money.** predicted_profit / realized_profit are USD, NET of gas (like ``Opportunity.net_profit``):
``usd(asset, profit_wei) - usd(native, gas_wei)``, the predicted gas being ``opp.gas_wei`` (0 when absent); ``fees`` is
the flash-loan premium in USD, ``gas_cost`` the gas in USD. The exact integers fill Execution's on-chain fields
(tx_hash, block_number, gas_used, gas_cost_wei, predicted_profit_wei, realized_profit_wei = profit in ``asset`` base
units, profit_token) and are repeated in the note, parseable with :func:`parse_note`:
``"<headline> | predicted_wei=.. realized_wei=.. premium_wei=.. gas_cost_wei=.. gas_used=.. nonce=.. tx=.."``.
``latency_ms`` is submit -> receipt on the monotonic ``clock``; ``filled_at = submitted_at + latency``.

**Safety.** Live mode refuses (FatalError) a chain whose URL is not in :data:`arb.chain.anvil.STARTED` (a chain this
process did not start) unless its chain id is in ``confirm_chain_ids`` (LIVE_CONFIRM_CHAIN_IDS), and refuses the anvil
development keys on any chain not in STARTED, confirmed or not. The owner's LocalAccount is held only to sign; its key
is never logged, stored or put in a note, and URLs are shown without path or query (provider keys live there).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound
from web3.logs import DISCARD

from arb.chain import anvil
from arb.chain.artifacts import load
from arb.detect.cex import BPS, BPS_QUANTUM, MONEY_QUANTUM
from arb.domain import Decision, Execution, ExecutionStatus, Opportunity
from arb.errors import ArbError, BadInput, FatalError, Rejected
from arb.execute.base import BookLookup, Pending, ensure_executable
from arb.execute.gas import FeePolicy, Fees, gas_cost_wei
from arb.execute.nonce import NonceManager, classify_send_error, send_with_nonce

KIND_V2, KIND_V3 = 0, 1
CANCEL_GAS = 21_000
UsdConverter = Callable[[str, "str | None", int], Decimal]  # (chain, token address or None = native coin, units) -> USD
_DEV_ADDRESSES = frozenset(Account.from_key(k).address for k in anvil.DEV_KEYS)


@dataclass(frozen=True)
class Hop:
    """One swap of the route; mirrors ``ArbExecutor.Hop``. ``fee``: bps for V2 (30), unused for V3."""

    kind: int
    pool: str
    token_in: str
    token_out: str
    fee: int = 30

    def as_abi(self) -> tuple:
        c = Web3.to_checksum_address
        return (self.kind, c(self.pool), c(self.token_in), c(self.token_out), self.fee)


@dataclass(frozen=True)
class FlashPlan:
    """What to send for one opportunity. Amounts in base units of ``asset``; ``gas_estimate`` in gas units."""

    chain: str
    asset: str
    amount: int
    hops: tuple[Hop, ...]
    min_profit: int
    predicted_profit_wei: int
    gas_estimate: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hops", tuple(self.hops))
        if self.amount <= 0 or self.min_profit < 0 or not self.hops:
            raise BadInput("bad_flash_plan", f"amount must be > 0, min_profit >= 0 and hops non-empty: {self}")
        a = self.asset.lower()
        if self.hops[0].token_in.lower() != a or self.hops[-1].token_out.lower() != a or any(
                x.token_out.lower() != y.token_in.lower() for x, y in zip(self.hops, self.hops[1:], strict=False)):
            raise BadInput("bad_flash_plan", "the route must start and end in the loan asset, each hop buying "
                           "what the next one sells")


class PlanBook:
    """A thread-safe plan registry keyed by opportunity id, usable as the executor's ``planner``."""

    def __init__(self) -> None:
        self._plans: dict[str, FlashPlan] = {}
        self._lock = threading.Lock()

    def put(self, opportunity_id: str, plan: FlashPlan) -> None:
        with self._lock:
            self._plans[opportunity_id] = plan

    def __call__(self, opp: Opportunity) -> FlashPlan:
        with self._lock:
            plan = self._plans.pop(opp.id, None)
        if plan is None:
            raise Rejected(f"no flash-loan plan registered for opportunity {opp.id}")
        return plan

    def __len__(self) -> int:
        return len(self._plans)


def parse_note(note: str) -> dict[str, str]:
    """The ``key=value`` part of a flash-loan Execution note (after the last ``" | "``)."""
    _, sep, kv = note.rpartition(" | ")
    return dict(tok.split("=", 1) for tok in kv.split() if "=" in tok) if sep else {}


def redact_url(url: str | None) -> str:
    if not url:
        return "<unknown url>"
    u = urlparse(url)
    return f"{u.scheme}://{u.hostname}" + (f":{u.port}" if u.port else "")


@dataclass
class _Chain:
    name: str
    w3: Web3
    chain_id: int
    url: str | None
    contract: Any
    nonces: NonceManager
    fees: FeePolicy


@dataclass
class _Job:
    pending: Pending
    plan: FlashPlan
    t0: float
    status: str = "queued"
    nonce: int | None = None
    hashes: list[str] = field(default_factory=list)
    fees: Fees | None = None
    sent_at: datetime | None = None
    replacements: int = 0


class FlashLoanExecutor:
    """Executor protocol (:class:`arb.execute.base.Executor`) for ``flash_loan`` opportunities. See the module doc."""

    def __init__(
        self, *, w3s: Mapping[str, Web3], contracts: Mapping[str, str], owner: LocalAccount | None,
        fees: FeePolicy | Mapping[str, FeePolicy], live: bool, receipt_timeout: float,
        next_id: Callable[[], str], to_usd: UsdConverter, planner: Callable[[Opportunity], FlashPlan] | None = None,
        nonces: Mapping[str, NonceManager] | None = None, clock: Callable[[], float] = time.monotonic,
        confirm_chain_ids: frozenset[int] | set[int] = frozenset(), max_replacements: int = 2,
        cancel_when_stuck: bool = True, max_workers: int = 4, gas_margin: float = 1.2, gas_per_hop: int = 50_000,
        default_gas_limit: int = 1_500_000, simulate_first: bool = True, sim_block: str = "pending",
        owner_address: str | None = None,
    ) -> None:
        """``sim_block``: the block the simulation and the gas estimate run against. "pending" (default) is the block
        the transaction will land in: its timestamp matters (a UniswapV2 pair's first swap in a new block writes its
        price accumulators, ~45k gas more than an estimate at "latest" says), and our own pending transactions count.
        Gas limit = estimate x ``gas_margin`` + ``gas_per_hop`` x hops: the estimate is made against the current
        second, while the tx lands in a later block (unused gas is not paid; an out-of-gas revert is).
        ``simulate_first=False`` skips the eth_call + estimate_gas step (FOR TESTS ONLY: it sends transactions that
        a simulation would have stopped; the gas limit is then the plan's ``gas_estimate`` or ``default_gas_limit``).
        ``owner=None`` (dry-run only: nothing is signed) needs ``owner_address``, the address the simulations run
        from (the ArbExecutor's ``owner()``); live mode requires the owner's LocalAccount."""
        self.live = live
        self.receipt_timeout = receipt_timeout
        self.next_id, self.to_usd, self.planner, self.clock = next_id, to_usd, planner, clock
        self.confirm_chain_ids = frozenset(confirm_chain_ids)
        self.max_replacements, self.cancel_when_stuck = max_replacements, cancel_when_stuck
        self.gas_margin, self.default_gas_limit, self.simulate_first = gas_margin, default_gas_limit, simulate_first
        self.sim_block, self.gas_per_hop = sim_block, gas_per_hop
        if owner is None and (live or owner_address is None):
            raise FatalError("live flash-loan execution needs the owner's key (PRIVATE_KEY)" if live else
                             "FlashLoanExecutor needs owner or owner_address")
        if owner is not None and owner_address is not None and owner.address != Web3.to_checksum_address(
                owner_address):
            raise FatalError(f"the key given signs for {owner.address}, not for the owner {owner_address}")
        self._owner = owner  # signs; never logged, stored or printed
        self.owner_address = owner.address if owner is not None else Web3.to_checksum_address(owner_address)
        abi = load("ArbExecutor").abi
        self._chains: dict[str, _Chain] = {}
        for name, w3 in w3s.items():
            if name not in contracts:
                raise FatalError(f"no ArbExecutor address configured for chain {name}")
            policy = fees if isinstance(fees, FeePolicy) else fees[name]
            nm = (nonces or {}).get(name) or NonceManager(w3, self.owner_address)
            self._chains[name] = _Chain(name, w3, w3.eth.chain_id, getattr(w3.provider, "endpoint_uri", None),
                                        w3.eth.contract(address=Web3.to_checksum_address(contracts[name]), abi=abi),
                                        nm, policy)
        if live:
            for c in self._chains.values():
                self._check_live(c)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="flashloan")
        self._lock = threading.Lock()
        self._jobs: dict[int, _Job] = {}
        self._futures: list[Future] = []
        self._done: list[Execution] = []
        self._fatal: FatalError | None = None

    # ---- Executor protocol ----
    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._jobs) + len(self._done)

    def submit(self, decision: Decision, opp: Opportunity, now: datetime, *, plan: FlashPlan | None = None) -> Pending:
        ensure_executable(decision, opp)
        if opp.kind != "flash_loan":
            raise Rejected(f"opportunity {opp.id} is {opp.kind}, not flash_loan")
        if plan is None:
            if self.planner is None:
                raise Rejected(f"no plan for opportunity {opp.id}: pass plan= or construct with a planner")
            plan = self.planner(opp)
        if opp.chain is not None and plan.chain != opp.chain:
            raise BadInput("bad_flash_plan", f"plan is for chain {plan.chain}, opportunity {opp.id} for {opp.chain}")
        chain = self._chains.get(plan.chain)
        if chain is None:
            raise Rejected(f"chain {plan.chain} is not configured for flash-loan execution")
        if self.live:
            self._check_live(chain)
        pending = Pending(decision=decision, opportunity=opp, submitted_at=now, arrives_at=now)
        job = _Job(pending=pending, plan=plan, t0=self.clock())
        with self._lock:
            self._jobs[id(job)] = job
            self._futures.append(self._pool.submit(self._run, job, chain))
        return pending

    def poll(self, now: datetime, books: BookLookup | None = None) -> list[Execution]:
        with self._lock:
            if self._fatal is not None:
                fatal, self._fatal = self._fatal, None
                raise fatal
            done, self._done = self._done, []
            self._futures = [f for f in self._futures if not f.done()]
        return done

    def drain(self, now: datetime, books: BookLookup | None = None, timeout: float | None = None) -> list[Execution]:
        with self._lock:
            futures = list(self._futures)
        wait(futures, timeout=timeout if timeout is not None else
             self.receipt_timeout * (self.max_replacements + 3) + 30)
        return self.poll(now, books)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def wait_until_sent(self, timeout: float = 10.0) -> bool:
        """Block until every submitted job has been broadcast (or resolved without sending). A source that controls
        block production (the sandbox) calls this before mining, so our transactions land in the next block, as they
        would on a live chain where they reach the mempool within milliseconds. Returns False on timeout."""
        deadline = self.clock() + timeout
        while True:
            with self._lock:
                unsent = [j for j in self._jobs.values() if j.status in ("queued", "simulating")]
            if not unsent:
                return True
            if self.clock() >= deadline:
                return False
            time.sleep(0.001)

    def get_pending_transactions(self) -> list[dict]:
        """Sent and not yet resolved: chain, nonce, hash (latest), hashes, sent_at, fees, ids, status, replacements."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.hashes]
            return [{"chain": j.plan.chain, "nonce": j.nonce, "hash": j.hashes[-1], "hashes": list(j.hashes),
                     "sent_at": j.sent_at, "fees": {"max_fee_per_gas": j.fees.max_fee_per_gas,
                                                    "max_priority_fee_per_gas": j.fees.max_priority_fee_per_gas}
                     if j.fees else None, "opportunity_id": j.pending.opportunity.id,
                     "decision_id": j.pending.decision.id, "status": j.status, "replacements": j.replacements}
                    for j in jobs]

    # ---- safety ----
    def _check_live(self, c: _Chain) -> None:
        started = c.url is not None and anvil.STARTED.get(c.url) == c.chain_id
        where = f"chain {c.name} (chain id {c.chain_id}, {redact_url(c.url)})"
        if self.owner_address in _DEV_ADDRESSES and not started:
            raise FatalError(f"refusing live execution with an anvil development key on {where}: those keys are "
                             "public; they may only sign on a sandbox chain this process started")
        if not started and c.chain_id not in self.confirm_chain_ids:
            raise FatalError(f"refusing live execution on {where}: this process did not start that chain. To send real "
                             f"transactions there, set LIVE_CONFIRM_CHAIN_IDS={c.chain_id}")

    # ---- worker ----
    def _run(self, job: _Job, c: _Chain) -> None:
        try:
            ex = self._execute(job, c)
        except FatalError as e:
            with self._lock:
                self._fatal = e
            ex = self._execution(job, c, ExecutionStatus.FAILED, f"fatal: {e}")
        except (ArbError, ContractLogicError) as e:
            ex = self._execution(job, c, ExecutionStatus.FAILED, f"error: {type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - a worker must always produce an Execution
            ex = self._execution(job, c, ExecutionStatus.FAILED, f"error: unexpected {type(e).__name__}: {e}")
        with self._lock:
            self._jobs.pop(id(job), None)
            self._done.append(ex)

    def _execute(self, job: _Job, c: _Chain) -> Execution:
        p = job.plan
        fn = c.contract.functions.execute(Web3.to_checksum_address(p.asset), p.amount, [h.as_abi() for h in p.hops],
                                          p.min_profit)
        job.status = "simulating"
        sim_profit: int | None = None
        gas = p.gas_estimate or self.default_gas_limit
        if self.simulate_first:
            try:
                sim_profit = fn.call({"from": self.owner_address}, block_identifier=self.sim_block)
                gas = fn.estimate_gas({"from": self.owner_address}, block_identifier=self.sim_block)
            except ContractLogicError as e:
                return self._execution(job, c, ExecutionStatus.FAILED, f"simulation reverted: {_reason(e)}")
        base_fee = c.w3.eth.get_block("latest")["baseFeePerGas"]
        try:
            fees = c.fees.fees(base_fee)
        except Rejected as e:
            return self._execution(job, c, ExecutionStatus.MISSED, f"not sent: {e}")
        if not self.live:
            realized = sim_profit if sim_profit is not None else p.predicted_profit_wei
            how = f"eth_call at {self.sim_block}" if sim_profit is not None else "NOT simulated: realized = predicted"
            return self._execution(job, c, ExecutionStatus.FILLED, f"dry-run: simulated only ({how})",
                                   realized_wei=realized, gas_wei=gas * fees.effective_price(base_fee),
                                   extra={"gas_estimate": gas})
        gas_limit = int(gas * self.gas_margin) + self.gas_per_hop * len(p.hops) if self.simulate_first else gas
        tx = fn.build_transaction({"from": self.owner_address, "chainId": c.chain_id, "nonce": 0, "gas": gas_limit,
                                   "value": 0, **fees.tx_fields()})
        return self._send_and_wait(job, c, tx, fees)

    def _sign_send(self, c: _Chain, tx: dict) -> str:
        if self._owner is None:
            raise FatalError("no signing key: this executor was built for dry-run")
        signed = self._owner.sign_transaction(tx)
        return _hex(c.w3.eth.send_raw_transaction(signed.raw_transaction))

    def _send_and_wait(self, job: _Job, c: _Chain, tx: dict, fees: Fees) -> Execution:
        def send(nonce: int) -> str:
            tx["nonce"] = nonce
            return self._sign_send(c, tx)

        try:
            nonce, h = send_with_nonce(c.nonces, send)
        except Rejected as e:
            return self._execution(job, c, ExecutionStatus.FAILED, f"not sent: {e}")
        with self._lock:
            job.nonce, job.fees, job.status = nonce, fees, "sent"
            job.hashes.append(h)
            job.sent_at = job.pending.submitted_at + timedelta(seconds=self.clock() - job.t0)
        steps = ["replace"] * self.max_replacements + (["cancel"] if self.cancel_when_stuck else [])
        cancel_hash: str | None = None
        deadline = self.clock() + self.receipt_timeout
        while (r := self._first_receipt(c, job.hashes)) is None:
            if self.clock() < deadline:
                time.sleep(0.002)
                continue
            if not steps:
                c.nonces.resync()
                return self._execution(job, c, ExecutionStatus.FAILED, "unknown outcome: still pending after "
                                       f"{job.replacements} replacement(s)" + (" and a cancel" if cancel_hash else ""),
                                       extra={"nonce": nonce, "tx": job.hashes[-1]})
            h2 = self._escalate(job, c, tx, steps.pop(0))
            if h2 is not None and job.status == "cancelling":
                cancel_hash = h2
            deadline = self.clock() + self.receipt_timeout
        cancelled = cancel_hash is not None and _hex(r["transactionHash"]) == cancel_hash
        return self._settle(job, c, tx, r, cancelled=cancelled)

    def _escalate(self, job: _Job, c: _Chain, tx: dict, step: str) -> str | None:
        """Re-send the stuck nonce with bumped fees: the same call ("replace") or a 0-value self-transfer ("cancel").
        Returns the new hash, or None when nothing was sent (the cap stops the bump, or the node said the nonce is
        already used: the original was mined meanwhile, and the next receipt check finds it)."""
        assert job.fees is not None and job.nonce is not None
        try:
            new = c.fees.bump(job.fees)
        except Rejected:
            return None  # the fee cap stops the escalation: keep waiting for what is in the pool
        if step == "cancel":
            rtx: dict = {"from": self.owner_address, "to": self.owner_address, "value": 0, "gas": CANCEL_GAS,
                         "chainId": c.chain_id, "nonce": job.nonce}
        else:
            rtx = dict(tx)
        rtx.update(new.tx_fields())
        try:
            h = self._sign_send(c, rtx)
        except Exception as e:  # noqa: BLE001 - the node's answer decides; the original may still be mined
            with self._lock:
                job.status = f"{step} not accepted ({classify_send_error(e)})"
            return None
        with self._lock:
            job.hashes.append(h)
            job.fees = new
            if step == "cancel":
                job.status = "cancelling"
            else:
                job.replacements += 1
                job.status = f"replaced x{job.replacements}"
        return h

    def _first_receipt(self, c: _Chain, hashes: Sequence[str]) -> Any:
        for h in list(hashes):
            try:
                return c.w3.eth.get_transaction_receipt(h)
            except TransactionNotFound:
                continue
        return None

    def _settle(self, job: _Job, c: _Chain, tx: dict, r: Any, *, cancelled: bool) -> Execution:
        gas_wei = gas_cost_wei(r["gasUsed"], r["effectiveGasPrice"])
        extra = {"gas_used": r["gasUsed"], "effective_gas_price": r["effectiveGasPrice"], "nonce": job.nonce,
                 "tx": _hex(r["transactionHash"]), "block": r["blockNumber"],
                 "replacements": job.replacements}
        if cancelled:
            return self._execution(job, c, ExecutionStatus.MISSED, "cancelled: not mined in time, replaced by a "
                                   "0-value self-transfer", gas_wei=gas_wei, extra=extra)
        if r["status"] != 1:
            return self._execution(job, c, ExecutionStatus.FAILED, f"reverted: {self._revert_reason(c, tx, r)}",
                                   gas_wei=gas_wei, extra=extra)
        events = [e for e in c.contract.events.ArbExecuted().process_receipt(r, errors=DISCARD)
                  if e["address"] == c.contract.address]
        if not events:
            return self._execution(job, c, ExecutionStatus.FAILED, "mined without an ArbExecuted event",
                                   gas_wei=gas_wei, extra=extra)
        a = events[-1]["args"]
        extra["amount_out_wei"] = a["amountOut"]
        return self._execution(job, c, ExecutionStatus.FILLED, "mined", realized_wei=a["profit"],
                               premium_wei=a["premium"], gas_wei=gas_wei, extra=extra)

    def _revert_reason(self, c: _Chain, tx: dict, r: Any) -> str:
        if r["gasUsed"] >= tx["gas"]:
            return f"out of gas (gas limit {tx['gas']})"
        call = {k: tx[k] for k in ("from", "to", "data", "value", "gas")}
        try:
            c.w3.eth.call(call, block_identifier=max(r["blockNumber"] - 1, 0))
        except ContractLogicError as e:
            return _reason(e)
        except Exception as e:  # noqa: BLE001 - best effort
            return f"unknown (replay failed: {type(e).__name__})"
        return (f"unknown (the replay at block - 1 succeeds; gas used {r['gasUsed']} of {tx['gas']}: out of gas in "
                "a sub-call, or the state changed earlier in the same block)")

    # ---- results ----
    def _execution(self, job: _Job, c: _Chain, status: ExecutionStatus, headline: str, *, realized_wei: int = 0,
                   premium_wei: int = 0, gas_wei: int = 0, extra: Mapping[str, Any] | None = None) -> Execution:
        p, o = job.plan, job.pending.opportunity
        latency = max(self.clock() - job.t0, 0.0)
        predicted_gas_wei = o.gas_wei if o.gas_wei is not None else 0
        predicted = _m(self.to_usd(c.name, p.asset, p.predicted_profit_wei) - self.to_usd(c.name, None,
                                                                                         predicted_gas_wei))
        gas_usd = _m(self.to_usd(c.name, None, gas_wei))
        realized = _m(self.to_usd(c.name, p.asset, realized_wei)) - gas_usd
        kv = {"predicted_wei": p.predicted_profit_wei, "realized_wei": realized_wei, "premium_wei": premium_wei,
              "gas_cost_wei": gas_wei, "predicted_gas_wei": predicted_gas_wei, "min_profit_wei": p.min_profit,
              **(extra or {})}
        note = headline + " | " + " ".join(f"{k}={v}" for k, v in kv.items())
        notional = o.notional_usd
        return Execution(
            id=self.next_id(), decision_id=job.pending.decision.id, opportunity_id=o.id, route_id=o.route_id,
            symbol=o.symbol, chain=c.name, status=status, fills=(), submitted_at=job.pending.submitted_at,
            filled_at=job.pending.submitted_at + timedelta(seconds=latency), latency_ms=int(latency * 1000),
            predicted_profit=predicted, realized_profit=realized, fees=_m(self.to_usd(c.name, p.asset, premium_wei)),
            gas_cost=gas_usd, edge_bps=o.edge_bps, note=note, tx_hash=kv.get("tx"), block_number=kv.get("block"),
            gas_used=kv.get("gas_used"), gas_cost_wei=gas_wei, predicted_profit_wei=p.predicted_profit_wei,
            realized_profit_wei=realized_wei, profit_token=Web3.to_checksum_address(p.asset),
            slippage_bps=((predicted - realized) / notional * BPS).quantize(BPS_QUANTUM) if notional > 0
            else Decimal(0),
        )


def _reason(e: ContractLogicError) -> str:
    msg = e.message or str(e)
    return msg.removeprefix("execution reverted: ").strip() or "execution reverted (no reason)"


def _hex(b: bytes | str) -> str:
    return (b if isinstance(b, str) else Web3.to_hex(b)).lower()


def _m(x: Decimal) -> Decimal:
    return Decimal(x).quantize(MONEY_QUANTUM)
