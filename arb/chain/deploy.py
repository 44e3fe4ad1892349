"""Deploy a whole sandbox market on a running anvil chain from one funded account.

Real bytecode wherever it exists: WETH9 (also as WMATIC), UniswapV2Factory/Pair (+ Router02) once per V2 venue, and on
chains with a V3 venue the real UniswapV3Factory, NonfungiblePositionManager, SwapRouter and QuoterV2. Ours:
TestERC20 tokens, BatchReader, FlashLoanPool (funded with every token) and ArbExecutor(pool).

Speed: every transaction is signed locally with the next local nonce and a fixed gas limit and sent without waiting
for its receipt (contract and pool addresses are computed in advance: CREATE from the nonce, CREATE2 from the init code
hash). anvil executes them in nonce order. At the end we wait for the last receipt, fetch all receipts in one JSON-RPC
batch and fail loudly, naming the step, if any reverted. Then the addresses are verified against the factories and
every V3 pool is quoted through QuoterV2 (which proves the periphery's POOL_INIT_CODE_HASH matches the pool bytecode).
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import rlp
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

from arb.chain import artifacts
from arb.chain.client import Sender
from arb.chain.manifest import ChainManifest, ContractsInfo, PoolInfo, TokenInfo, VenueInfo
from arb.chain.pools import ChainSpec, TokenSpec, split_depth
from arb.errors import FatalError

V2_FEE_PIPS = 3000
MAX_UINT = 2**256 - 1
DEADLINE = 2**40
ZERO = "0x0000000000000000000000000000000000000000"
MIN_TICK, MAX_TICK = -887272, 887272
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}

# Fixed gas limits (anvil charges only the gas used; a limit too low shows up as a reverted step, by name).
GAS = {
    "deploy": 9_000_000, "createPair": 4_000_000, "createPool": 7_000_000, "npm.mint": 1_200_000,
    "pair.mint": 300_000, "transfer": 120_000, "approve": 100_000, "deposit": 300_000, "mint": 150_000,
}


def init_code_hash(name: str) -> bytes:
    return keccak(hexstr=artifacts.load(name).bytecode)


def create_address(sender: str, nonce: int) -> str:
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def create2_address(deployer: str, salt: bytes, code_hash: bytes) -> str:
    return to_checksum_address(keccak(b"\xff" + bytes.fromhex(deployer[2:]) + salt + code_hash)[12:])


def v2_pair_address(factory: str, token0: str, token1: str) -> str:
    salt = keccak(bytes.fromhex(token0[2:]) + bytes.fromhex(token1[2:]))
    return create2_address(factory, salt, init_code_hash("UniswapV2Pair"))


def v3_pool_address(factory: str, token0: str, token1: str, fee: int) -> str:
    salt = keccak(abi_encode(["address", "address", "uint24"], [token0, token1, fee]))
    return create2_address(factory, salt, init_code_hash("UniswapV3Pool"))


def sorted_pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


def sqrt_price_x96(price_1_per_0: Fraction) -> int:
    """sqrt(price of token0 in token1, base units) in Q64.96, exactly rounded down."""
    return math.isqrt(price_1_per_0.numerator * 2**192 // price_1_per_0.denominator)


def tick_at(price_1_per_0: Fraction) -> int:
    return math.floor(math.log(float(price_1_per_0)) / math.log(1.0001))


def rpc_batch(url: str, calls: list[tuple[str, list]], timeout: float = 30.0) -> list[Any]:
    """Raw JSON-RPC batch (one HTTP request); results in call order."""
    body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)])
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out = {o["id"]: o for o in json.loads(r.read())}
    results = []
    for i, (m, _) in enumerate(calls):
        if "error" in out[i]:
            raise FatalError(f"{m} failed on {url}: {out[i]['error']}")
        results.append(out[i]["result"])
    return results


@dataclass
class Pipeline:
    """Back-to-back transactions from one Sender with local nonces; receipts are checked once, at ``flush``."""

    sender: Sender
    sent: list[tuple[str, str]] = field(default_factory=list)  # (label, tx hash)
    _fees: dict[str, int] | None = None

    @property
    def w3(self) -> Web3:
        return self.sender.w3

    def _fee_fields(self) -> dict[str, int]:
        if self._fees is None:
            base = self.w3.eth.get_block("latest")["baseFeePerGas"]
            self._fees = {"maxPriorityFeePerGas": 1_000_000_000, "maxFeePerGas": base * 2 + 1_000_000_000,
                          "chainId": self.w3.eth.chain_id}
        return self._fees

    def next_nonce(self) -> int:
        if self.sender.nonce is None:
            self.sender.nonce = self.w3.eth.get_transaction_count(self.sender.address, "pending")
        return self.sender.nonce

    def send(self, label: str, *, to: str | None, data: str = "0x", value: int = 0, gas: int) -> str:
        tx: dict[str, Any] = {"data": data, "value": value, "gas": gas, **self._fee_fields()}
        if to is not None:
            tx["to"] = to
        h = self.sender.send(tx, wait=False)
        h = h.to_0x_hex() if hasattr(h, "to_0x_hex") else "0x" + bytes(h).hex()
        self.sent.append((label, h))
        return h

    def deploy(self, label: str, name: str, *args: Any, gas: int = GAS["deploy"]) -> Contract:
        art = artifacts.load(name)
        data = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).data_in_transaction
        address = create_address(self.sender.address, self.next_nonce())
        self.send(f"deploy {label}", to=None, data=data, gas=gas)
        return self.w3.eth.contract(address=address, abi=art.abi)

    def call(self, label: str, contract: Contract, fn: str, *args: Any, gas: int, value: int = 0) -> str:
        return self.send(label, to=contract.address, data=contract.encode_abi(fn, args=list(args)), value=value,
                         gas=gas)

    def flush(self, timeout: float = 60.0) -> int:
        """Wait for the last transaction, then check every receipt (one batch). Returns the total gas used."""
        if not self.sent:
            return 0
        self.w3.eth.wait_for_transaction_receipt(self.sent[-1][1], timeout=timeout)
        url = self.w3.provider.endpoint_uri
        gas_used = 0
        for start in range(0, len(self.sent), 500):
            chunk = self.sent[start:start + 500]
            receipts = rpc_batch(url, [("eth_getTransactionReceipt", [h]) for _, h in chunk])
            for (label, h), r in zip(chunk, receipts, strict=True):
                if r is None:
                    raise FatalError(f"step {label!r}: no receipt for {h} (a skipped nonce?)")
                if int(r["status"], 16) != 1:
                    raise FatalError(f"step {label!r} reverted (tx {h}, gas used {int(r['gasUsed'], 16)})")
                gas_used += int(r["gasUsed"], 16)
        return gas_used


@dataclass(frozen=True)
class Deployed:
    chain: ChainManifest
    seconds: float
    transactions: int
    gas_used: int


def _require_anvil(w3: Web3) -> None:
    version = str(w3.client_version)
    if "anvil" not in version.lower():
        raise FatalError(f"refusing to deploy a sandbox market on {version!r}: deploy.py only targets anvil chains "
                         f"(it mints test tokens and sets balances)")


def _need(spec: ChainSpec) -> dict[str, int]:
    """Base units of each token the deployment uses: pools, flash-pool funding and the deployer's float."""
    need = {t.symbol: 0 for t in spec.tokens}
    for venue in spec.v2_venues:
        for p in venue.pools:
            a, b = split_depth(spec.token(p.base), spec.token(p.quote), p.depth_usd, p.offset_bps)
            need[p.base] += a
            need[p.quote] += b
    for v3 in spec.v3_venues:
        for p in v3.pools:
            usd = p.full_range_usd + p.concentrated_usd
            a, b = split_depth(spec.token(p.base), spec.token(p.quote), usd, p.offset_bps)
            need[p.base] += a
            need[p.quote] += b
    for t in spec.tokens:
        need[t.symbol] += _usd_to_units(t, spec.flash_funding_usd + spec.deployer_float_usd)
    return need


def _usd_to_units(t: TokenSpec, usd: int) -> int:
    return int(Fraction(usd) / Fraction(t.usd) * 10**t.decimals)


def deploy_market(sender: Sender, spec: ChainSpec, *, with_ours: bool = True) -> Deployed:
    """Deploy ``spec``'s market on the chain behind ``sender.w3`` (an anvil chain) and describe it."""
    t0 = time.perf_counter()
    w3 = sender.w3
    _require_anvil(w3)
    if w3.eth.chain_id != spec.chain_id:
        raise FatalError(f"{spec.name}: the chain reports id {w3.eth.chain_id}, the spec expects {spec.chain_id}")
    me = sender.address
    need = _need(spec)
    native_wei = need[spec.native] + 10_000 * 10**18
    if w3.eth.get_balance(me) < native_wei:
        w3.provider.make_request("anvil_setBalance", [me, hex(native_wei)])
    px = Pipeline(sender)

    # ---- tokens ----
    tokens: dict[str, Contract] = {}
    for t in spec.tokens:
        if t.kind == "weth9":
            tokens[t.symbol] = px.deploy(t.symbol, "WETH9")
        else:
            tokens[t.symbol] = px.deploy(t.symbol, "TestERC20", t.name or t.symbol, t.symbol, t.decimals)
    for t in spec.tokens:
        if t.kind == "weth9":
            px.call(f"wrap {t.symbol}", tokens[t.symbol], "deposit", gas=GAS["deposit"], value=need[t.symbol])
        else:
            px.call(f"mint {t.symbol}", tokens[t.symbol], "mint", me, need[t.symbol], gas=GAS["mint"])
    addr = {s: c.address for s, c in tokens.items()}

    venues: dict[str, VenueInfo] = {}
    pools: list[PoolInfo] = []

    # ---- V2 venues: factory + router + pairs with liquidity ----
    pair_abi = artifacts.load("UniswapV2Pair").abi
    for venue in spec.v2_venues:
        factory = px.deploy(f"{venue.name} factory", "UniswapV2Factory", me)
        router = px.deploy(f"{venue.name} router", "UniswapV2Router02", factory.address, addr[spec.native])
        venues[venue.name] = VenueInfo(kind="v2", factory=factory.address, router=router.address,
                                       fee_bps=venue.fee_bps)
        for p in venue.pools:
            label = f"{venue.name} {p.base}/{p.quote}"
            t0a, t1a = sorted_pair(addr[p.base], addr[p.quote])
            pair = v2_pair_address(factory.address, t0a, t1a)
            px.call(f"createPair {label}", factory, "createPair", addr[p.base], addr[p.quote], gas=GAS["createPair"])
            amt_base, amt_quote = split_depth(spec.token(p.base), spec.token(p.quote), p.depth_usd, p.offset_bps)
            px.call(f"fund {label}", tokens[p.base], "transfer", pair, amt_base, gas=GAS["transfer"])
            px.call(f"fund {label}", tokens[p.quote], "transfer", pair, amt_quote, gas=GAS["transfer"])
            px.call(f"mint {label}", w3.eth.contract(address=pair, abi=pair_abi), "mint", me, gas=GAS["pair.mint"])
            pools.append(PoolInfo(venue=venue.name, kind="v2", address=pair, token0=_sym(addr, t0a),
                                  token1=_sym(addr, t1a), fee=venue.fee_bps * 100))

    # ---- V3 venues: the real factory and periphery; pools created, initialised and funded through the NPM ----
    for v3 in spec.v3_venues:
        factory = px.deploy(f"{v3.name} factory", "UniswapV3Factory")
        npm = px.deploy(f"{v3.name} position manager", "NonfungiblePositionManager", factory.address,
                        addr[spec.native], ZERO)
        router = px.deploy(f"{v3.name} swap router", "SwapRouter", factory.address, addr[spec.native])
        quoter = px.deploy(f"{v3.name} quoter", "QuoterV2", factory.address, addr[spec.native])
        venues[v3.name] = VenueInfo(kind="v3", factory=factory.address, router=router.address, quoter=quoter.address,
                                    position_manager=npm.address, fee_tiers=v3.fee_tiers)
        for extra in sorted(set(v3.fee_tiers) - {500, 3000, 10000}):
            px.call(f"enable fee {extra}", factory, "enableFeeAmount", extra, TICK_SPACING[extra], gas=GAS["approve"])
        for sym in {s for p in v3.pools for s in (p.base, p.quote)}:
            px.call(f"approve {sym} to npm", tokens[sym], "approve", npm.address, MAX_UINT, gas=GAS["approve"])
        for p in v3.pools:
            pools.append(_v3_pool(px, spec, v3.name, factory, npm, tokens, p))

    # ---- ours: batch reader, flash-loan pool (funded), executor ----
    contracts = ContractsInfo()
    if with_ours:
        reader = px.deploy("BatchReader", "BatchReader")
        flash = px.deploy("FlashLoanPool", "FlashLoanPool")
        for t in spec.tokens:
            amount = _usd_to_units(t, spec.flash_funding_usd)
            px.call(f"approve {t.symbol} to flash pool", tokens[t.symbol], "approve", flash.address, MAX_UINT,
                    gas=GAS["approve"])
            px.call(f"deposit {t.symbol} in flash pool", flash, "deposit", addr[t.symbol], amount,
                    gas=GAS["deposit"])
        executor = px.deploy("ArbExecutor", "ArbExecutor", flash.address)
        contracts = ContractsInfo(flash_pool=flash.address, executor=executor.address, batch_reader=reader.address)

    gas_used = px.flush()
    _verify(w3, venues, pools, addr, spec)
    chain = ChainManifest(
        name=spec.name, chain_id=spec.chain_id, sandbox=True, rpc_url=w3.provider.endpoint_uri, deployer=me,
        deployed_block=w3.eth.block_number, native=spec.native,
        tokens={t.symbol: TokenInfo(address=addr[t.symbol], decimals=t.decimals) for t in spec.tokens},
        venues=venues, pools=tuple(pools), contracts=contracts)
    return Deployed(chain=chain, seconds=time.perf_counter() - t0, transactions=len(px.sent), gas_used=gas_used)


def _sym(addr: dict[str, str], a: str) -> str:
    return next(s for s, x in addr.items() if x == a)


def _v3_pool(px: Pipeline, spec: ChainSpec, venue: str, factory: Contract, npm: Contract,
             tokens: dict[str, Contract], p) -> PoolInfo:
    base, quote = spec.token(p.base), spec.token(p.quote)
    a0, a1 = sorted_pair(tokens[p.base].address, tokens[p.quote].address)
    base_is_0 = a0 == tokens[p.base].address
    # price of one base unit in quote units, then token1-per-token0 in base units
    human = Fraction(base.usd) / Fraction(quote.usd) * Fraction(10_000 + p.offset_bps, 10_000)
    raw_base_in_quote = human * 10**quote.decimals / 10**base.decimals
    raw = raw_base_in_quote if base_is_0 else 1 / raw_base_in_quote
    label = f"{venue} {p.base}/{p.quote} {p.fee}"
    px.call(f"create+initialize {label}", npm, "createAndInitializePoolIfNecessary", a0, a1, p.fee,
            sqrt_price_x96(raw), gas=GAS["createPool"])
    spacing = TICK_SPACING[p.fee]
    positions = [(-(MAX_TICK // spacing) * spacing, (MAX_TICK // spacing) * spacing, p.full_range_usd)]
    if p.concentrated_usd:
        lo = tick_at(raw * Fraction(100 - p.range_pct, 100)) // spacing * spacing
        hi = -(-tick_at(raw * Fraction(100 + p.range_pct, 100)) // spacing) * spacing
        positions.append((lo, hi, p.concentrated_usd))
    me = px.sender.address
    for lo, hi, usd in positions:
        amt_base, amt_quote = split_depth(base, quote, usd, p.offset_bps)
        amt0, amt1 = (amt_base, amt_quote) if base_is_0 else (amt_quote, amt_base)
        params = (a0, a1, p.fee, lo, hi, amt0, amt1, 0, 0, me, DEADLINE)
        px.call(f"mint position {label} [{lo},{hi}]", npm, "mint", params, gas=GAS["npm.mint"])
    sym = {tokens[s].address: s for s in (p.base, p.quote)}
    return PoolInfo(venue=venue, kind="v3", address=v3_pool_address(factory.address, a0, a1, p.fee),
                    token0=sym[a0], token1=sym[a1], fee=p.fee)


def _verify(w3: Web3, venues: dict[str, VenueInfo], pools: list[PoolInfo], addr: dict[str, str],
            spec: ChainSpec) -> None:
    """Predicted addresses equal the factories' records; every V3 pool quotes through the real QuoterV2."""
    for p in pools:
        v = venues[p.venue]
        t0, t1 = addr[p.token0], addr[p.token1]
        if p.kind == "v2":
            f = w3.eth.contract(address=v.factory, abi=artifacts.load("UniswapV2Factory").abi)
            got = f.functions.getPair(t0, t1).call()
            if got != p.address:
                raise FatalError(f"{spec.name} {p.venue} {p.token0}/{p.token1}: factory.getPair says {got}, the "
                                 f"CREATE2 prediction from the UniswapV2Pair init code hash says {p.address}")
            continue
        f = w3.eth.contract(address=v.factory, abi=artifacts.load("UniswapV3Factory").abi)
        got = f.functions.getPool(t0, t1, p.fee).call()
        if got != p.address:
            raise FatalError(
                f"{spec.name} {p.venue} {p.token0}/{p.token1} {p.fee}: factory.getPool says {got}, but "
                f"PoolAddress.computeAddress (POOL_INIT_CODE_HASH {init_code_hash('UniswapV3Pool').hex()}) says "
                f"{p.address}: the periphery's init code hash does not match this UniswapV3Pool bytecode, so "
                f"SwapRouter/QuoterV2/NPM cannot find the pools; call the pools directly instead")
        quoter = w3.eth.contract(address=v.quoter, abi=artifacts.load("QuoterV2").abi)
        amount = 10 ** spec.token(p.token0).decimals // 1000
        out = quoter.functions.quoteExactInputSingle((t0, t1, amount, p.fee, 0)).call()
        if out[0] <= 0:
            raise FatalError(f"{spec.name} {p.venue} {p.token0}/{p.token1} {p.fee}: QuoterV2 quoted {out[0]}")
