"""NonceManager against a real anvil: concurrent senders, a refused send, an external transaction."""

from __future__ import annotations

import threading

import pytest
from web3.exceptions import Web3RPCError

from arb.chain.anvil import DEV_KEYS, Anvil
from arb.chain.client import account, make_web3
from arb.errors import Rejected
from arb.execute.nonce import NonceManager, classify_send_error, send_with_nonce

GWEI = 10**9


@pytest.fixture(scope="module")
def chain():
    with Anvil(chain_id=31337) as a:
        yield a


@pytest.fixture
def w3(chain):
    snap = chain.snapshot()
    yield make_web3(chain.url)
    chain.revert(snap)


def _transfer(w3, acct, to, value=1):
    def send(nonce: int):
        tx = {"to": to, "value": value, "gas": 21_000, "maxFeePerGas": 20 * GWEI, "maxPriorityFeePerGas": GWEI,
              "nonce": nonce, "chainId": 31337}
        return w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    return send


def test_eight_threads_times_ten_sends_get_80_distinct_consecutive_nonces_all_mined(w3):
    acct, to = account(DEV_KEYS[3]), account(DEV_KEYS[4]).address
    start = w3.eth.get_transaction_count(acct.address, "pending")
    nm = NonceManager(w3, acct.address)
    used: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)
    node_errors: list[BaseException] = []  # anything the node said, even if send_with_nonce recovered from it
    transfer = _transfer(w3, acct, to)

    def send(nonce: int):
        try:
            return transfer(nonce)
        except BaseException as e:
            node_errors.append(e)
            raise

    def worker():
        barrier.wait()
        for _ in range(10):
            try:
                n, h = send_with_nonce(nm, send)
            except BaseException as e:  # noqa: BLE001 - collected and asserted below
                with lock:
                    errors.append(e)
                continue
            with lock:
                used.append((n, h))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not node_errors, (errors[:3], node_errors[:3])  # no "nonce too low", no retry
    nonces = sorted(n for n, _ in used)
    assert nonces == list(range(start, start + 80))  # distinct and no gap
    for _, h in used:
        r = w3.eth.wait_for_transaction_receipt(h, timeout=10)
        assert r["status"] == 1
    assert w3.eth.get_transaction_count(acct.address, "latest") == start + 80
    assert nm.in_flight == 0 and nm.peek() == start + 80


def test_a_refused_send_releases_its_nonce_and_the_next_send_reuses_it(w3):
    acct, to = account(DEV_KEYS[5]), account(DEV_KEYS[6]).address
    nm = NonceManager(w3, acct.address)
    n0, _ = send_with_nonce(nm, _transfer(w3, acct, to))
    held = nm.reserve()  # another sender holds n0 + 1 while n0 + 2 is refused: a hole below the top must be re-used
    assert held == n0 + 1
    with pytest.raises(Rejected, match="(?i)insufficient funds"):
        send_with_nonce(nm, _transfer(w3, acct, to, value=10**30))
    assert nm.peek() == n0 + 2
    _transfer(w3, acct, to)(held)
    nm.confirm(held)
    n2, h2 = send_with_nonce(nm, _transfer(w3, acct, to))
    assert n2 == n0 + 2
    assert w3.eth.wait_for_transaction_receipt(h2, timeout=10)["status"] == 1

    # The same with the raw protocol, the refused nonce being the one in the middle of two outstanding ones.
    a, b, c = nm.reserve(), nm.reserve(), nm.reserve()
    with pytest.raises(Web3RPCError) as ei:
        _transfer(w3, acct, to, value=10**30)(b)
    assert classify_send_error(ei.value) == "refused"
    nm.release(b)
    for n in (a, c):
        _transfer(w3, acct, to)(n)
        nm.confirm(n)
    assert nm.reserve() == b  # the hole is filled first: otherwise c would wait forever
    h = _transfer(w3, acct, to)(b)
    nm.confirm(b)
    w3.eth.wait_for_transaction_receipt(h, timeout=10)
    assert w3.eth.get_transaction_count(acct.address, "latest") == c + 1


def test_resync_recovers_after_an_external_transaction(w3):
    acct, to = account(DEV_KEYS[7]), account(DEV_KEYS[8]).address
    nm = NonceManager(w3, acct.address)
    n0, _ = send_with_nonce(nm, _transfer(w3, acct, to))
    # Behind the manager's back: the node signs with the next nonce (anvil's dev accounts are unlocked).
    ext = w3.eth.send_transaction({"from": acct.address, "to": to, "value": 1})
    w3.eth.wait_for_transaction_receipt(ext, timeout=10)
    stale = nm.reserve()
    assert stale == n0 + 1
    with pytest.raises(Web3RPCError) as ei:
        _transfer(w3, acct, to)(stale)
    assert classify_send_error(ei.value) == "nonce_taken"
    nm.release(stale)
    assert nm.resync() == n0 + 2
    assert nm.reserve() == n0 + 2
    nm.release(n0 + 2)

    # send_with_nonce does the same on its own.
    ext = w3.eth.send_transaction({"from": acct.address, "to": to, "value": 1})
    w3.eth.wait_for_transaction_receipt(ext, timeout=10)
    n, h = send_with_nonce(nm, _transfer(w3, acct, to))
    assert n == n0 + 3
    assert w3.eth.wait_for_transaction_receipt(h, timeout=10)["status"] == 1
    assert w3.eth.get_transaction_count(acct.address, "latest") == n0 + 4


def test_error_classification():
    import requests

    assert classify_send_error(requests.ConnectionError("reset")) == "unknown"
    assert classify_send_error(TimeoutError()) == "unknown"
    assert classify_send_error(Web3RPCError("{'code': -32003, 'message': 'nonce too low'}")) == "nonce_taken"
    assert classify_send_error(Web3RPCError("replacement transaction underpriced")) == "nonce_taken"
    assert classify_send_error(Web3RPCError("Insufficient funds for gas * price + value")) == "refused"
    assert classify_send_error(ValueError("bad field")) == "refused"  # failed locally, before the node


def test_resync_with_senders_in_flight_keeps_their_nonces_and_frees_the_rest(w3):
    acct = account(DEV_KEYS[9])
    nm = NonceManager(w3, acct.address)
    p = w3.eth.get_transaction_count(acct.address, "pending")
    a, b, c = nm.reserve(), nm.reserve(), nm.reserve()
    assert (a, b, c) == (p, p + 1, p + 2)
    nm.release(a)  # failed with an unknown outcome: it did not reach the node
    assert nm.resync() == p
    assert nm.reserve() == a  # re-used; b and c stay with their senders
    assert nm.reserve() == c + 1
