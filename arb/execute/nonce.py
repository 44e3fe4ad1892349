"""Concurrent nonce management for one account on one chain.

One skipped nonce stalls every later transaction of the account (the node queues them behind the hole, and
``wait_for_transaction_receipt`` hangs), and two senders using the same nonce means one of them is dropped or replaces
the other. :class:`NonceManager` hands out nonces under a lock:

- ``reserve()`` -> the lowest free nonce: a released one first (a hole must be filled before anything else), else the
  next after the highest handed out. The first call reads ``eth_getTransactionCount(address, "pending")``.
- ``confirm(n)``: the node accepted the transaction (or the nonce is consumed in any other way).
- ``release(n)``: the send failed BEFORE the transaction reached the node (signing error, the node refused it, e.g.
  "insufficient funds"): the nonce is free again and the next ``reserve()`` re-uses it.
- ``resync()``: after "nonce too low", "replacement transaction underpriced", "already known" or an unknown outcome (a
  timeout while sending), re-read the pending count and rebuild the free set from it. Call ``release(n)`` for the
  failed nonce first: a released nonce the chain has already consumed is dropped by the resync.

:func:`send_with_nonce` wraps the protocol for one send, classifying the node's answer once.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from typing import TypeVar

from web3 import Web3
from web3.exceptions import ProviderConnectionError, RequestTimedOut, Web3RPCError

from arb.errors import Rejected, TransientError

T = TypeVar("T")

# Substrings of node errors (geth, anvil, reth, erigon), lower-cased.
NONCE_TAKEN = ("nonce too low", "already known", "replacement transaction underpriced", "replacement underpriced",
               "known transaction", "nonce has already been used", "transaction already imported")
REFUSED = ("insufficient funds", "intrinsic gas too low", "exceeds block gas limit", "fee cap less than block base fee",
           "max fee per gas less than block base fee", "gas too low", "tip higher than fee cap", "invalid sender",
           "max priority fee per gas higher than max fee per gas", "transaction underpriced",
           "exceeds the configured cap", "nonce too high", "oversized data", "invalid chain id")


def classify_send_error(exc: BaseException) -> str:
    """``"nonce_taken"`` (the nonce is used or occupied: resync, retry with another), ``"refused"`` (the node answered
    with an error, or the transaction failed locally before sending: it never entered the pool, the nonce is free) or
    ``"unknown"`` (a connection error or timeout: it may have arrived)."""
    msg = str(exc).lower()
    if any(s in msg for s in NONCE_TAKEN):
        return "nonce_taken"
    if any(s in msg for s in REFUSED) or isinstance(exc, Web3RPCError):
        return "refused"
    if isinstance(exc, OSError | TimeoutError | RequestTimedOut | ProviderConnectionError):
        return "unknown"
    return "refused"


class NonceManager:
    """Thread-safe nonces for ``address`` on the chain behind ``w3``. See the module docstring for the protocol."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self._lock = threading.Lock()
        self._next: int | None = None  # next never-handed-out nonce
        self._free: list[int] = []  # heap of released nonces below _next
        self._outstanding: set[int] = set()  # reserved, neither confirmed nor released yet
        self._confirmed: set[int] = set()  # accepted by the node, not yet counted by its pending count

    def _pending_count(self) -> int:
        return self.w3.eth.get_transaction_count(self.address, "pending")

    def reserve(self) -> int:
        with self._lock:
            if self._next is None:
                self._next = self._pending_count()
            if self._free:
                n = heapq.heappop(self._free)
            else:
                n = self._next
                self._next += 1
            self._outstanding.add(n)
            return n

    def confirm(self, n: int) -> None:
        with self._lock:
            self._outstanding.discard(n)
            self._confirmed.add(n)

    def release(self, n: int) -> None:
        with self._lock:
            if n not in self._outstanding:
                raise ValueError(f"nonce {n} of {self.address} is not reserved: cannot release it")
            self._outstanding.discard(n)
            if n not in self._free:
                heapq.heappush(self._free, n)
            self._collapse()

    def _collapse(self) -> None:
        # A free nonce just below _next is not a hole: shrink instead, so the free heap only holds real holes.
        assert self._next is not None
        free = set(self._free)
        while self._next - 1 in free:
            self._next -= 1
            free.discard(self._next)
        self._free = sorted(free)

    def resync(self) -> int:
        """Re-read the chain's pending count ``p`` and rebuild the free set: every nonce in ``[p, next)`` that is
        neither still being sent by another thread nor accepted by the node is free again (with nothing in flight
        this is simply ``next = p``). Nonces below ``p`` are consumed. Returns ``p``."""
        with self._lock:
            p = self._pending_count()
            if not self._outstanding:
                self._next, self._free, self._confirmed = p, [], set()
                return p
            self._confirmed = {n for n in self._confirmed if n >= p}
            top = max(p, self._next or p, max(self._outstanding) + 1)
            self._free = [n for n in range(p, top) if n not in self._outstanding and n not in self._confirmed]
            heapq.heapify(self._free)
            self._next = top
            self._collapse()
            return p

    @property
    def in_flight(self) -> int:
        """Nonces reserved and not yet confirmed or released."""
        with self._lock:
            return len(self._outstanding)

    def peek(self) -> int | None:
        """The nonce the next ``reserve()`` would return (None before the first sync). For tests and dashboards."""
        with self._lock:
            if self._free:
                return self._free[0]
            return self._next


def send_with_nonce(nonces: NonceManager, send: Callable[[int], T], *, attempts: int = 3) -> tuple[int, T]:
    """Reserve a nonce, call ``send(nonce)`` (sign + ``send_raw_transaction``), and keep the manager consistent.

    - accepted: the nonce is confirmed; returns ``(nonce, send's result)``.
    - "nonce too low" / "already known" / "replacement underpriced": someone else used the nonce (an external
      transaction): release, resync, retry with a fresh nonce (up to ``attempts`` times), then TransientError.
    - refused by the node (insufficient funds, intrinsic gas, fee below base fee...): the nonce is released and
      re-used by the next send; raises :class:`Rejected`.
    - any other error (connection reset, timeout: the transaction may or may not have arrived): release + resync
      (the pending count tells which), then :class:`TransientError`.
    """
    last: BaseException | None = None
    for _ in range(max(attempts, 1)):
        n = nonces.reserve()
        try:
            out = send(n)
        except Exception as e:  # noqa: BLE001 - classified right here, where the library error enters
            kind = classify_send_error(e)
            nonces.release(n)
            if kind == "refused":
                raise Rejected(f"node refused the transaction with nonce {n}: {e}") from e
            try:
                nonces.resync()
            except Exception as e2:  # noqa: BLE001
                raise TransientError(f"send failed ({e}) and the nonce resync failed too: {e2}") from e
            if kind == "unknown":
                raise TransientError(f"send with nonce {n} had an unknown outcome: {e}") from e
            last = e
            continue
        nonces.confirm(n)
        return n, out
    raise TransientError(f"nonce kept colliding after {attempts} attempts (another sender on this account?): {last}")
