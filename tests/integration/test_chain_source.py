"""`arb run --source chain` against a chain arb did not start: a real anvil with the sandbox market deployed, then
forgotten by :data:`arb.chain.anvil.STARTED` and described by a manifest with ``sandbox: false`` and no rpc_url, as
a mainnet manifest would be. A price gap on one V2 pair; the engine finds the flash-loan arbitrage and

- in dry-run simulates it (eth_call) without a key and without sending anything;
- live with a non-dev key refuses the unconfirmed chain, naming LIVE_CONFIRM_CHAIN_IDS;
- live with LIVE_CONFIRM_CHAIN_IDS=31337 sends it, and realized == predicted to the wei.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pytest
from eth_account import Account

from arb import runner
from arb.chain import artifacts
from arb.chain.anvil import DEV_KEYS, STARTED, rpc
from arb.chain.client import account
from arb.chain.manifest import Manifest
from arb.chain.sandbox import Sandbox
from arb.errors import FatalError
from arb.settings import load_settings
from arb.wiring import PROFILES_DIR

DEPLOYER = account(DEV_KEYS[0]).address
TRADER = account(DEV_KEYS[1]).address


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chain")
    with Sandbox(tmp / "sandbox-manifest.json", chains=("ethereum",)) as sb:
        eth = sb.chains["ethereum"]
        url = eth.anvil.url
        STARTED.pop(url, None)  # from now on this process treats the chain as someone else's
        m = eth.manifest.model_copy(update={"sandbox": False, "rpc_url": None, "deployer": None,
                                            "deployed_block": None})
        path = Manifest(chains={"ethereum": m}).write(tmp / "chains.json")
        assert '"rpc_url"' not in path.read_text() and '"sandbox": false' in path.read_text()
        _gap(eth.w3, m)
        yield tmp, url, eth.w3, m


def _c(w3, name, address):
    return w3.eth.contract(address=address, abi=artifacts.load(name).abi)


def _gap(w3, m) -> None:
    """TRADER sells 4% of the uniswap-v2 WETH/USDC pair's WETH into it: WETH gets cheaper there than on sushiswap."""
    pool = m.pool("uniswap-v2", "WETH", "USDC")
    pair = _c(w3, "UniswapV2Pair", pool.address)
    weth = _c(w3, "WETH9", m.tokens["WETH"].address)
    r0, r1, _ = pair.functions.getReserves().call()
    weth_is_0 = pool.token0 == "WETH"
    r_in, r_out = (r0, r1) if weth_is_0 else (r1, r0)
    amount = r_in * 4 // 100
    out = amount * 997 * r_out // (r_in * 1000 + amount * 997)
    weth.functions.deposit().transact({"from": TRADER, "value": amount})
    weth.functions.transfer(pool.address, amount).transact({"from": TRADER})
    outs = (0, out) if weth_is_0 else (out, 0)
    pair.functions.swap(*outs, TRADER, b"").transact({"from": TRADER})


@contextmanager
def mining(url: str, every: float = 0.5) -> Iterator[None]:
    """Empty blocks in the background, as a live chain would produce (automine stays on for transactions)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                rpc(url, "evm_mine")
            except OSError:
                return

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(5)


def _settings(tmp, url, name, **extra):
    return load_settings(env_files=(PROFILES_DIR / "sandbox.env",), eth_rpc_url=url,
                         chain_manifest_path=str(tmp / "chains.json"), warehouse_path=str(tmp / f"{name}.duckdb"),
                         log_path=str(tmp / "logs" / f"{name}.log"), kill_switch_file=str(tmp / "KILL"),
                         poll_interval=0.25, **extra)


def _flash_executions(db) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select status, note, predicted_profit_wei, realized_profit_wei, tx_hash from executions "
                           "where chain = 'ethereum' order by submitted_at").fetchall()
    finally:
        con.close()


def test_dry_run_simulates_without_sending(remote):
    tmp, url, w3, m = remote
    nonce = w3.eth.get_transaction_count(DEPLOYER)
    s = _settings(tmp, url, "dry")
    assert not s.enable_execution and s.private_key is None
    with mining(url):
        summary = runner.run(s, source="chain", duration="6s", progress=False)
    assert summary.stopped_by == "duration"
    rows = _flash_executions(tmp / "dry.duckdb")
    dry = [r for r in rows if r[1].startswith("dry-run")]
    assert dry, rows
    print(f"\ndry-run: {len(dry)} simulated flash loans of {len(rows)} executions; first: {dry[0][1][:60]}")
    for status, _note, predicted, realized, tx in dry:
        assert status == "filled" and realized == predicted > 0 and tx is None
    assert w3.eth.get_transaction_count(DEPLOYER) == nonce  # nothing was sent


def test_live_is_refused_on_an_unconfirmed_chain_then_sends_when_confirmed(remote):
    tmp, url, w3, m = remote
    fresh = Account.create()
    key = fresh.key.hex()
    rpc(url, "anvil_setBalance", [fresh.address, hex(10 * 10**18)])
    executor = _c(w3, "ArbExecutor", m.contracts.executor)
    executor.functions.transferOwnership(fresh.address).transact({"from": DEPLOYER})
    assert executor.functions.owner().call() == fresh.address
    live = {"enable_execution": True, "enable_cex_execution": False, "private_key": key,
            "arb_contract_address": m.contracts.executor}

    with pytest.raises(FatalError, match="LIVE_CONFIRM_CHAIN_IDS=31337") as e:
        runner.run(_settings(tmp, url, "refused", **live), source="chain", duration="2s", progress=False)
    assert key.removeprefix("0x") not in str(e.value)
    assert w3.eth.get_transaction_count(fresh.address) == 0

    with mining(url):
        summary = runner.run(_settings(tmp, url, "live", live_confirm_chain_ids="31337", **live), source="chain",
                             duration="6s", progress=False)
    assert summary.stopped_by == "duration"
    rows = _flash_executions(tmp / "live.duckdb")
    mined = [r for r in rows if r[1].startswith("mined")]
    assert mined, rows
    print(f"\nlive: {len(mined)} mined of {len(rows)} executions: {[(r[0], r[2], r[3]) for r in rows]}")
    assert any(realized == predicted > 0 and tx for _, _, predicted, realized, tx in mined), mined
    assert w3.eth.get_transaction_count(fresh.address) >= 1
    con = duckdb.connect(str(tmp / "live.duckdb"), read_only=True)
    try:
        stored = json.dumps(con.execute("select * from runs").fetchall(), default=str)
    finally:
        con.close()
    assert key.removeprefix("0x").lower() not in stored.lower()
    for log in (tmp / "logs").glob("*.log"):
        assert key.removeprefix("0x").lower() not in log.read_text().lower()
