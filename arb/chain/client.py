"""web3 8 clients and the few transaction helpers everything on-chain shares.

web3 8 traps (see ../shared/TOOLCHAIN.md): the validation middleware sends an extra ``eth_chainId`` per call unless it
is cached; addresses must be checksummed; parse receipts with ``errors=DISCARD``; revert reasons surface as
``ContractLogicError``. Signing is local (eth-account, with coincurve installed for speed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from arb.chain.artifacts import Artifact
from arb.errors import FatalError


def make_web3(url: str, timeout: float = 30.0) -> Web3:
    provider = Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, cache_allowed_requests=True,
                                 cacheable_requests={"eth_chainId"})
    return Web3(provider)


def account(key: str) -> LocalAccount:
    return Account.from_key(key)


@dataclass
class Sender:
    """Sends transactions from one local account with a locally tracked nonce (single-threaded deploy/setup use;
    the flash-loan executor has its own concurrent nonce manager)."""

    w3: Web3
    acct: LocalAccount
    nonce: int | None = None
    # Deploy/setup only (unused gas is refunded). 1.2 once left a Uniswap V3 mint out of gas in CI: it used 329,304 of
    # 334,080 (estimate x 1.2) and reverted; estimates at "latest" can undercount first-touch storage (EIP-2929).
    gas_margin: float = 1.5

    @property
    def address(self) -> str:
        return self.acct.address

    def _next_nonce(self) -> int:
        if self.nonce is None:
            self.nonce = self.w3.eth.get_transaction_count(self.acct.address, "pending")
        n = self.nonce
        self.nonce += 1
        return n

    def send(self, tx: dict[str, Any], *, wait: bool = True, timeout: float = 30.0) -> Any:
        tx = dict(tx)
        tx.setdefault("from", self.acct.address)
        tx.setdefault("chainId", self.w3.eth.chain_id)
        if "gas" not in tx:
            tx["gas"] = int(self.w3.eth.estimate_gas(tx) * self.gas_margin)
        if "maxFeePerGas" not in tx and "gasPrice" not in tx:
            base = self.w3.eth.get_block("latest")["baseFeePerGas"]
            tx["maxPriorityFeePerGas"] = 1_000_000_000
            tx["maxFeePerGas"] = base * 2 + tx["maxPriorityFeePerGas"]
        tx["nonce"] = self._next_nonce()
        signed = self.acct.sign_transaction(tx)
        try:
            h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception:
            self.nonce = None  # re-sync from the chain on the next send
            raise
        if not wait:
            return h
        r = self.w3.eth.wait_for_transaction_receipt(h, timeout=timeout)
        if r["status"] != 1:
            raise FatalError(f"transaction {h.hex()} reverted (gas used {r['gasUsed']})")
        return r

    def call(self, fn, *, value: int = 0, wait: bool = True, gas: int | None = None) -> Any:
        """Send a contract function call (``contract.functions.f(args)``)."""
        params: dict[str, Any] = {"from": self.acct.address, "value": value}
        if gas is not None:
            params["gas"] = gas
        return self.send(fn.build_transaction(params), wait=wait)

    def deploy(self, artifact: Artifact, *args: Any, gas: int | None = None) -> Contract:
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        params: dict[str, Any] = {"from": self.acct.address}
        if gas is not None:
            params["gas"] = gas
        r = self.send(factory.constructor(*args).build_transaction(params))
        return self.w3.eth.contract(address=r["contractAddress"], abi=artifact.abi)
