"""The sandbox on real anvil chains: both chains up with their own ids, the market deployed from the real Uniswap
bytecode, the manifest written and read back, every pool readable (BatchReader vs direct calls), and nothing left
running after stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from arb.chain import artifacts
from arb.chain.anvil import DEV_KEYS, STARTED, rpc
from arb.chain.client import account
from arb.chain.deploy import DEADLINE, MAX_UINT, Pipeline
from arb.chain.manifest import Manifest
from arb.chain.pools import CHAINS, pool_price
from arb.chain.sandbox import Sandbox
from arb.errors import ConfigError

DEPLOYER = account(DEV_KEYS[0]).address
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    path = tmp_path_factory.mktemp("sandbox") / "sandbox-manifest.json"
    with Sandbox(path) as sb:
        for name, d in sb.deployments.items():
            print(f"\n{name}: {d.transactions} txs, {d.gas_used:,} gas, deployed in {d.seconds:.2f}s")
        print(f"sandbox ready in {sb.seconds:.2f}s")
        yield sb


def _c(w3, name, address):
    return w3.eth.contract(address=address, abi=artifacts.load(name).abi)


def test_both_chains_run_with_their_own_chain_ids(sandbox):
    assert set(sandbox.chains) == {"ethereum", "polygon"}
    eth, pol = sandbox.chains["ethereum"], sandbox.chains["polygon"]
    assert eth.w3.eth.chain_id == eth.manifest.chain_id == 31337
    assert pol.w3.eth.chain_id == pol.manifest.chain_id == 31338
    assert eth.anvil.url != pol.anvil.url and STARTED[eth.anvil.url] == 31337 and STARTED[pol.anvil.url] == 31338
    assert sandbox.health() == {"ethereum": None, "polygon": None} and sandbox.healthy()


def test_manifest_is_written_and_reads_back_equal(sandbox):
    text = sandbox.manifest_path.read_text()
    assert Manifest.read(sandbox.manifest_path) == sandbox.manifest
    assert Manifest.parse(sandbox.manifest.to_json()) == sandbox.manifest
    for key in DEV_KEYS:  # addresses only, never a key
        assert key[2:].lower() not in text.lower()
    assert not list(sandbox.manifest_path.parent.glob(".*.tmp"))  # the temporary file was renamed
    for name, (anvil, _, chain) in sandbox.chains.items():
        assert chain.sandbox and chain.rpc_url == anvil.url and chain.deployer == DEPLOYER
        assert chain.deployed_block > 0
        spec = CHAINS[name]
        assert set(chain.tokens) == {t.symbol for t in spec.tokens} and chain.native == spec.native
        assert len(chain.pools) == sum(len(v.pools) for v in spec.v2_venues + spec.v3_venues)
        for venue in spec.v2_venues:
            assert len(chain.pools_of(venue.name)) >= 3
    assert set(sandbox.chains["ethereum"].manifest.venues) == {"uniswap-v2", "sushiswap", "uniswap-v3"}
    assert set(sandbox.chains["polygon"].manifest.venues) == {"quickswap", "sushiswap"}


def test_manifest_validation_says_what_is_wrong(sandbox):
    good = json.loads(sandbox.manifest.to_json())
    eth = good["chains"]["ethereum"]

    bad = json.loads(json.dumps(good))
    bad["chains"]["ethereum"]["tokens"]["USDC"]["address"] = eth["tokens"]["USDC"]["address"].lower()
    with pytest.raises(ConfigError, match=r"tokens\.USDC\.address.*not checksummed.*write 0x"):
        Manifest.parse(json.dumps(bad))

    bad = json.loads(json.dumps(good))
    bad["chains"]["ethereum"]["pools"][0]["token1"] = "USDT"
    with pytest.raises(ConfigError, match=r"unknown token symbol 'USDT' \(known: DAI, USDC, WBTC, WETH\)"):
        Manifest.parse(json.dumps(bad))

    bad = json.loads(json.dumps(good))
    p = bad["chains"]["ethereum"]["pools"][0]
    p["token0"], p["token1"] = p["token1"], p["token0"]
    with pytest.raises(ConfigError, match="token0 must have the lower address"):
        Manifest.parse(json.dumps(bad))

    bad = json.loads(json.dumps(good))
    bad["chains"]["ethereum"]["sandbox"] = False
    bad["chains"]["ethereum"]["rpc_url"] = "https://eth-mainnet.example.com/v2/SECRETKEY"
    with pytest.raises(ConfigError, match="only a local sandbox URL") as e:
        Manifest.parse(json.dumps(bad))
    assert "SECRETKEY" not in str(e.value)

    bad = json.loads(json.dumps(good))
    bad["chains"]["polygon"]["chain_id"] = 31337
    with pytest.raises(ConfigError, match="chain id 31337 is also ethereum's"):
        Manifest.parse(json.dumps(bad))

    # a real-network entry: no rpc_url, deployer or block; contracts may be partly unknown
    real = dict(eth, sandbox=False, contracts={"flash_pool": eth["contracts"]["flash_pool"]})
    for k in ("rpc_url", "deployer", "deployed_block"):
        real.pop(k)
    m = Manifest.parse(json.dumps({"version": 1, "chains": {"ethereum": real}}))
    assert m.chain("ethereum").contracts.executor is None and m.chain("ethereum").rpc_url is None


def test_every_pool_has_liquidity_batch_reader_agrees_with_direct_calls(sandbox):
    for _name, (_, w3, chain) in sandbox.chains.items():
        reader = _c(w3, "BatchReader", chain.contracts.batch_reader)
        v2 = chain.pools_of(kind="v2")
        r0, r1, ts = reader.functions.getV2Reserves([p.address for p in v2]).call()  # one eth_call for all pairs
        for i, p in enumerate(v2):
            direct = _c(w3, "UniswapV2Pair", p.address).functions.getReserves().call()
            assert (r0[i], r1[i], ts[i]) == tuple(direct)
            assert r0[i] > 0 and r1[i] > 0
        v3 = chain.pools_of(kind="v3")
        if not v3:
            continue
        sqrt_p, tick, liq, ok = reader.functions.getV3States([p.address for p in v3]).call()  # one eth_call
        for i, p in enumerate(v3):
            pool = _c(w3, "UniswapV3Pool", p.address)
            slot0 = pool.functions.slot0().call()
            assert ok[i] and (sqrt_p[i], tick[i]) == (slot0[0], slot0[1])
            assert liq[i] == pool.functions.liquidity().call() > 0


def test_pool_prices_are_the_reference_prices_and_venues_disagree(sandbox):
    for name, (_, w3, chain) in sandbox.chains.items():
        spec = CHAINS[name]
        wanted = {(v.name, p.base, p.quote): pool_price(p.base, p.quote, p.offset_bps)
                  for v in spec.v2_venues for p in v.pools}
        wanted_v3 = {(v.name, p.base, p.quote, p.fee): pool_price(p.base, p.quote, p.offset_bps)
                     for v in spec.v3_venues for p in v.pools}
        for p in chain.pools:
            d0, d1 = chain.tokens[p.token0].decimals, chain.tokens[p.token1].decimals
            if p.kind == "v2":
                r0, r1, _ = _c(w3, "UniswapV2Pair", p.address).functions.getReserves().call()
                price_0_in_1 = Decimal(r1) / 10**d1 / (Decimal(r0) / 10**d0)
                usd = Decimal(r1) / 10**d1 * spec.token(p.token1).usd * 2
                assert 2_000_000 * Decimal("0.99") <= usd <= 10_000_000 * Decimal("1.01"), (p, usd)
            else:
                sqrt_p = _c(w3, "UniswapV3Pool", p.address).functions.slot0().call()[0]
                price_0_in_1 = (Decimal(sqrt_p) / 2**96) ** 2 * 10**d0 / 10**d1
            key = (p.venue, p.token0, p.token1)
            if p.kind == "v2" and key in wanted:
                expect = wanted[key]
            elif p.kind == "v2":
                expect = 1 / wanted[(p.venue, p.token1, p.token0)]
            elif key + (p.fee,) in wanted_v3:
                expect = wanted_v3[key + (p.fee,)]
            else:
                expect = 1 / wanted_v3[(p.venue, p.token1, p.token0, p.fee)]
            assert abs(price_0_in_1 / expect - 1) < Decimal("1e-6"), (name, p, price_0_in_1, expect)

    eth = sandbox.chains["ethereum"]
    uni = eth.manifest.pool("uniswap-v2", "WETH", "USDC")
    sushi = eth.manifest.pool("sushiswap", "WETH", "USDC")
    reader = _c(eth.w3, "BatchReader", eth.manifest.contracts.batch_reader)
    r0, r1, _ = reader.functions.getV2Reserves([uni.address, sushi.address]).call()
    weth_is_0 = uni.token0 == "WETH"
    p_uni, p_sushi = [(r1[i] / r0[i]) if weth_is_0 else (r0[i] / r1[i]) for i in range(2)]
    assert 0.0080 < p_sushi / p_uni - 1 < 0.0090  # 85 bps apart: more than two 0.3% fees + 5 bps


def test_tokens_have_their_real_decimals(sandbox):
    expected = {"WETH": 18, "WMATIC": 18, "USDC": 6, "WBTC": 8, "DAI": 18}
    for _, w3, chain in sandbox.chains.values():
        for sym, t in chain.tokens.items():
            assert t.decimals == expected[sym] == _c(w3, "TestERC20", t.address).functions.decimals().call()
            assert t.address == to_checksum_address(t.address)
        native = _c(w3, "WETH9", chain.tokens[chain.native].address)
        assert native.functions.totalSupply().call() == w3.eth.get_balance(native.address) > 0  # real WETH9


def test_flash_pool_is_funded_and_the_executor_belongs_to_the_deployer(sandbox):
    for name, (_, w3, chain) in sandbox.chains.items():
        flash = _c(w3, "FlashLoanPool", chain.contracts.flash_pool)
        assert flash.functions.FLASHLOAN_PREMIUM_TOTAL().call() == 5
        assert flash.functions.owner().call() == DEPLOYER
        for t in CHAINS[name].tokens:
            held = flash.functions.availableLiquidity(chain.tokens[t.symbol].address).call()
            assert held / 10**t.decimals * float(t.usd) >= 0.99 * CHAINS[name].flash_funding_usd
        executor = _c(w3, "ArbExecutor", chain.contracts.executor)
        assert executor.functions.owner().call() == DEPLOYER == chain.deployer
        assert executor.functions.POOL().call() == chain.contracts.flash_pool


def test_v3_periphery_finds_the_pools_quoter_and_router_agree(sandbox):
    """The npm build's POOL_INIT_CODE_HASH matches its UniswapV3Pool bytecode: the periphery reaches the pools."""
    _, w3, chain = sandbox.chains["ethereum"]
    v3 = chain.venues["uniswap-v3"]
    pool = chain.pool("uniswap-v3", "WETH", "USDC", 500)
    factory = _c(w3, "UniswapV3Factory", v3.factory)
    weth, usdc = chain.tokens["WETH"].address, chain.tokens["USDC"].address
    assert factory.functions.getPool(weth, usdc, 500).call() == pool.address
    quoter, router = _c(w3, "QuoterV2", v3.quoter), _c(w3, "SwapRouter", v3.router)
    amount = 10 * 10**18
    quoted = quoter.functions.quoteExactInputSingle((weth, usdc, amount, 500, 0)).call()[0]
    assert 13_000 * 10**6 < quoted < 13_200 * 10**6  # ~1,318.7 USDC per WETH, less 0.05%
    snap = sandbox.chains["ethereum"].anvil.snapshot()
    sender = sandbox.sender("ethereum")
    try:
        usdc_c = _c(w3, "TestERC20", usdc)
        before = usdc_c.functions.balanceOf(DEPLOYER).call()
        px = Pipeline(sender)
        px.call("approve", _c(w3, "WETH9", weth), "approve", router.address, MAX_UINT, gas=100_000)
        px.call("swap", router, "exactInputSingle", (weth, usdc, 500, DEPLOYER, DEADLINE, amount, quoted, 0),
                gas=1_000_000)
        px.flush()
        assert usdc_c.functions.balanceOf(DEPLOYER).call() - before == quoted
    finally:
        sandbox.chains["ethereum"].anvil.revert(snap)


def test_stop_leaves_no_anvil_behind(tmp_path):
    sb = Sandbox(tmp_path / "m.json", chains=("polygon", "ethereum"))
    sb.start()
    pids = [c.anvil._proc.pid for c in sb.chains.values()]
    urls = [c.anvil.url for c in sb.chains.values()]
    assert Manifest.read(tmp_path / "m.json").chain("polygon").chain_id == 31338
    sb.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for url in urls:
        assert url not in STARTED
        with pytest.raises(OSError):
            rpc(url, "eth_chainId", timeout=1)
    assert not sb.healthy()


def test_sigterm_stops_a_running_sandbox_process(tmp_path):
    path = tmp_path / "m.json"
    proc = subprocess.Popen([sys.executable, "-m", "arb.chain.sandbox", str(path)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("manifest:"):
                break
        assert path.exists(), "".join(lines)
        urls = [c.rpc_url for c in Manifest.read(path).chains.values()]
        assert [int(rpc(u, "eth_chainId"), 16) for u in urls] == [31337, 31338]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for url in urls:
        with pytest.raises(OSError):
            rpc(url, "eth_chainId", timeout=1)
