"""Shared pytest fixtures for tests that run against a real anvil chain (one anvil per test session).

Use them from any test module by importing the fixture names (pytest finds fixtures by name in the module)::

    from tests.integration.chain_fixtures import chain, clean_chain  # noqa: F401  (pytest fixtures)

    def test_something(clean_chain):
        token = clean_chain.deploy("TestERC20", "USD Coin", "USDC", 6)
        clean_chain.sender.call(token.functions.mint(clean_chain.sender.address, 10**6))

- ``chain`` (session scope): a :class:`Chain` on ``Anvil(chain_id=31337, hardfork="cancun")``, with ``w3`` and a
  ``sender`` for ``DEV_KEYS[0]`` (the deployer/owner). The anvil is started once per session even when several modules
  import the fixture (pytest creates one fixture instance per importing module; they all share one process here), and
  stopped at the end of the session.
- ``clean_chain`` (function scope): the same ``Chain``, with ``evm_snapshot`` taken before the test and ``evm_revert``
  after it, so every test sees the chain as it was before. Snapshot ids are single-use; this fixture takes a new one
  per test. After a revert every :class:`Sender` handed out by ``chain`` re-reads its nonce from the chain.

Module-level setup that several tests share (deploy once, then isolate each test)::

    @pytest.fixture(scope="module")
    def venues(chain):
        with chain.isolated():          # reverted when the module is done
            yield deploy_my_venues(chain)

    def test_a(venues, clean_chain): ...   # pytest sets up the module fixture first, then snapshots per test

Adding ``pytest_plugins = ["tests.integration.chain_fixtures"]`` to the top-level tests/conftest.py would make the
fixtures available everywhere without imports; either way there is one anvil per session.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from arb.chain import artifacts
from arb.chain.anvil import DEV_KEYS, Anvil, rpc
from arb.chain.client import Sender, account, make_web3

CHAIN_ID = 31337


@dataclass
class Chain:
    """A running anvil with a web3 client and senders for the dev accounts (``DEV_KEYS[i]``)."""

    anvil: Anvil
    w3: Web3
    _senders: dict[int, Sender] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return self.anvil.url

    @property
    def sender(self) -> Sender:
        """The sender for DEV_KEYS[0]: deployer and owner of everything ``deploy`` creates."""
        return self.sender_for(0)

    def sender_for(self, index: int) -> Sender:
        """The (cached) sender for DEV_KEYS[index]."""
        if index not in self._senders:
            self._senders[index] = Sender(self.w3, account(DEV_KEYS[index]))
        return self._senders[index]

    def deploy(self, name: str, *args: Any, sender: Sender | None = None) -> Contract:
        """Deploy an artifact by name (ours from contracts/artifacts first, then Uniswap's) and return the contract."""
        return (sender or self.sender).deploy(artifacts.load(name), *args)

    def contract(self, name: str, address: str) -> Contract:
        """A contract object for an already deployed ``name`` at ``address``."""
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifacts.load(name).abi)

    def rpc(self, method: str, params: list | None = None) -> Any:
        return rpc(self.url, method, params)

    def snapshot(self) -> str:
        return self.anvil.snapshot()

    def revert(self, snapshot_id: str) -> None:
        """Revert to a snapshot (which is then used up) and make every sender re-read its nonce."""
        if not self.anvil.revert(snapshot_id):
            raise RuntimeError(f"evm_revert({snapshot_id}) failed: snapshot ids are single-use")
        self.resync_nonces()

    def resync_nonces(self) -> None:
        for s in self._senders.values():
            s.nonce = None

    @contextlib.contextmanager
    def isolated(self) -> Iterator[Chain]:
        """Everything done inside the block is reverted when it exits."""
        snap = self.snapshot()
        try:
            yield self
        finally:
            self.revert(snap)


_lock = threading.Lock()
_shared: Chain | None = None
_users = 0


def _acquire() -> Chain:
    global _shared, _users
    with _lock:
        if _shared is None or not _shared.anvil.healthy():
            node = Anvil(chain_id=CHAIN_ID, hardfork="cancun").start()
            _shared = Chain(anvil=node, w3=make_web3(node.url))
        _users += 1
        return _shared


def _release() -> None:
    global _shared, _users
    with _lock:
        _users -= 1
        if _users <= 0 and _shared is not None:
            _shared.anvil.stop()
            _shared, _users = None, 0


@pytest.fixture(scope="session")
def chain() -> Iterator[Chain]:
    """One anvil (chain id 31337, cancun) per test session, with web3 and a DEV_KEYS[0] sender."""
    c = _acquire()
    try:
        yield c
    finally:
        _release()


@pytest.fixture
def clean_chain(chain: Chain) -> Iterator[Chain]:
    """``chain``, reverted to its pre-test state after the test (evm_snapshot before, evm_revert after)."""
    with chain.isolated():
        yield chain
