"""Pending transactions of an account, read from a node: what ``arb pending`` prints.

A running engine knows its own in-flight transactions (``FlashLoanExecutor.get_pending_transactions()``); another
process (you, at a terminal) asks the node: the account's nonce gap (pending - latest) and, where the node exposes it
(anvil, geth), the transactions themselves from ``txpool_content``.
"""

from __future__ import annotations

from typing import Any

from arb.chain.anvil import rpc
from arb.errors import TransientError


def pending_transactions(url: str, address: str) -> dict[str, Any]:
    latest = int(rpc(url, "eth_getTransactionCount", [address, "latest"]), 16)
    pending = int(rpc(url, "eth_getTransactionCount", [address, "pending"]), 16)
    txs: list[dict[str, Any]] = []
    try:
        pool = rpc(url, "txpool_content")
    except (TransientError, OSError):
        pool = None
    if pool:
        for bucket in ("pending", "queued"):
            for sender, by_nonce in (pool.get(bucket) or {}).items():
                if sender.lower() != address.lower():
                    continue
                for nonce, tx in sorted(by_nonce.items(), key=lambda kv: int(kv[0])):
                    txs.append({
                        "status": bucket, "nonce": int(nonce), "hash": tx.get("hash"), "to": tx.get("to"),
                        "max_fee_per_gas": int(tx.get("maxFeePerGas") or tx.get("gasPrice") or "0x0", 16),
                        "max_priority_fee_per_gas": int(tx.get("maxPriorityFeePerGas") or "0x0", 16),
                        "gas": int(tx.get("gas") or "0x0", 16),
                    })
    return {"address": address, "latest_nonce": latest, "pending_nonce": pending, "in_mempool": pending - latest,
            "transactions": txs, "txpool_available": pool is not None}
