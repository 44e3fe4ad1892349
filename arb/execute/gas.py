"""EIP-1559 fee policy: pure integer math, no I/O.

- :func:`fees_for` prices a new transaction: ``max_fee = base_fee x 1.125^headroom + priority`` (the base fee can rise
  by at most 12.5% per block, so two blocks of headroom keep the tx includable for two full blocks), capped at the
  configured ceiling. A base fee already above the ceiling is refused with :class:`~arb.errors.Rejected`.
- :func:`bump` prices a replacement for a stuck transaction (same nonce). Nodes (geth's txpool, anvil, reth) accept a
  replacement only if BOTH fee fields rise by at least 10% (``new >= old * 110 // 100``); the default bump is 12.5%.
- :func:`gas_cost_wei` is what a mined transaction paid: ``gas_used x effective_gas_price``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from arb.errors import Rejected

MIN_REPLACEMENT_BUMP_PCT = 10  # the node's price-bump rule (geth txpool.pricebump default, anvil, reth)
BASE_FEE_STEP = Fraction(9, 8)  # max base-fee change per block under EIP-1559 (12.5%)


@dataclass(frozen=True)
class Fees:
    """EIP-1559 fee fields of one transaction, in wei per gas."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def __post_init__(self) -> None:
        if self.max_fee_per_gas < 0 or self.max_priority_fee_per_gas < 0:
            raise ValueError(f"negative fee: {self}")
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise ValueError(f"priority fee above max fee: {self}")

    def tx_fields(self) -> dict[str, int]:
        """The fields to merge into a web3 transaction dict."""
        return {"maxFeePerGas": self.max_fee_per_gas, "maxPriorityFeePerGas": self.max_priority_fee_per_gas}

    def effective_price(self, base_fee: int) -> int:
        """What one gas will cost in a block with ``base_fee`` (if the tx is includable there at all)."""
        return min(self.max_fee_per_gas, base_fee + self.max_priority_fee_per_gas)


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def max_base_fee_after(base_fee: int, blocks: int) -> int:
    """The highest base fee reachable ``blocks`` blocks from now: x9/8 per block, rounded up at each step."""
    if base_fee < 0 or blocks < 0:
        raise ValueError("base_fee and blocks must be >= 0")
    b = base_fee
    for _ in range(blocks):
        b = _ceil(b * BASE_FEE_STEP)
    return b


def fees_for(base_fee: int, priority_fee: int, cap_wei: int, headroom_blocks: int = 2) -> Fees:
    """Fees for a new transaction. ``cap_wei`` bounds ``max_fee_per_gas`` (and so the price ever paid per gas).

    Raises :class:`Rejected` ("gas price above cap") when the current base fee alone exceeds the cap: the transaction
    could not be included at a price we accept. When the headroom or the tip would pass the cap, they are cut to it.
    """
    if base_fee < 0 or priority_fee < 0 or cap_wei < 0:
        raise ValueError("base_fee, priority_fee and cap_wei must be >= 0")
    if base_fee > cap_wei:
        raise Rejected(f"gas price above cap: base fee {base_fee} wei/gas > cap {cap_wei} wei/gas")
    max_fee = min(max_base_fee_after(base_fee, headroom_blocks) + priority_fee, cap_wei)
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=min(priority_fee, max_fee))


def _bumped(old: int, pct: Fraction) -> int:
    return max(_ceil(old * (1 + pct / 100)), old + 1)


def bump(fees: Fees, pct: float | int | str = "12.5", cap_wei: int | None = None) -> Fees:
    """Fees for a replacement of a pending transaction: both fields up by ``pct`` percent (rounded up, at least +1 wei).

    ``pct`` must be >= 10 (the node's replacement rule). With ``cap_wei``, a bump whose max fee would pass the cap is
    refused with :class:`Rejected` ("gas price above cap"): cutting it to the cap would break the +10% rule and the node
    would answer "replacement transaction underpriced" anyway.
    """
    p = Fraction(str(pct))
    if p < MIN_REPLACEMENT_BUMP_PCT:
        raise ValueError(f"a replacement needs a bump of at least {MIN_REPLACEMENT_BUMP_PCT}%, got {pct}%")
    new = Fees(max_fee_per_gas=_bumped(fees.max_fee_per_gas, p),
               max_priority_fee_per_gas=_bumped(fees.max_priority_fee_per_gas, p))
    if cap_wei is not None and new.max_fee_per_gas > cap_wei:
        raise Rejected(f"gas price above cap: replacement max fee {new.max_fee_per_gas} wei/gas > cap {cap_wei}")
    return new


def satisfies_replacement_rule(old: Fees, new: Fees, bump_pct: int = MIN_REPLACEMENT_BUMP_PCT) -> bool:
    """The node's test (geth ``txpool/legacypool``): each new field >= old x (100 + bump) // 100."""
    return (new.max_fee_per_gas >= old.max_fee_per_gas * (100 + bump_pct) // 100
            and new.max_priority_fee_per_gas >= old.max_priority_fee_per_gas * (100 + bump_pct) // 100)


def gas_cost_wei(gas_used: int, effective_gas_price: int) -> int:
    """What a mined transaction paid for gas, in wei of the chain's native coin."""
    if gas_used < 0 or effective_gas_price < 0:
        raise ValueError("gas_used and effective_gas_price must be >= 0")
    return gas_used * effective_gas_price


@dataclass(frozen=True)
class FeePolicy:
    """The configured fee policy of one chain: tip, ceiling, headroom and replacement bump."""

    priority_fee_wei: int
    cap_wei: int
    headroom_blocks: int = 2
    bump_pct: str = "12.5"

    def fees(self, base_fee: int) -> Fees:
        return fees_for(base_fee, self.priority_fee_wei, self.cap_wei, self.headroom_blocks)

    def bump(self, fees: Fees) -> Fees:
        return bump(fees, self.bump_pct, self.cap_wei)
