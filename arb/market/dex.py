"""DEX pool collector: every configured pool of one chain as exact ``arb.amm`` states, read in ONE round trip and then
kept current from logs.

    dex = DexCollector(w3, manifest.chain("ethereum"))
    snap = dex.read_all()                 # one eth_call: every pool, V3 tick tables included, plus the block header
    snap = dex.update(snap.block_number + 1, new_block)   # one HTTP request: the new header + eth_getLogs

The pool list is the manifest's (addresses in config), so the same code reads a sandbox or a mainnet RPC.

How ``read_all`` reads (measured by ``bench/dex_bench.py`` on anvil, 200 V2 pairs, pools read per second): one web3
eth_call per pool ~430/s; one raw eth_call per pool ~1,300/s; the deployed BatchReader through web3 ~6,300/s; a raw
JSON-RPC batch of 200 eth_calls ~31,000/s; the BatchReader as ONE raw eth_call ~80,000/s; ONE raw eth_call of the
lens below, V2Pool objects and block header included, ~74,000/s (2.7 ms); with the 4 V3 pools' complete tick tables
too, 204 pools in 5.9 ms. The lens is chosen: as fast as the BatchReader, it is one request (every pool at the same
block, and that block's number, timestamp and base fee from the same call), it also walks the V3 tick bitmaps (a
batch needs a second, dependent round trip: the bitmap first, then ``ticks(t)`` for its set bits), and it needs no
deployment: ``eth_call``'s state override puts its runtime code at :data:`LENS_ADDRESS` for the duration of the call
(geth, erigon, reth, anvil and the big RPC providers support it). Its source is at the end of this module;
``compile_lens()`` rebuilds it (solc-js from node_modules) so a test checks that :data:`LENS_RUNTIME` is its build.
A log-driven update costs 2.1 ms (p50, ~10 swaps per block) against 9 ms for a full re-read.

V3 tick tables: ``tick_radius=None`` (default) reads EVERY bitmap word of the pool's tick range (694 words for a
0.05% pool, 116 for 0.3%, 35 for 1%): the table is complete, so a simulated swap crosses exactly the ticks the pool
would, however far it goes. ``tick_radius=k`` reads the k words on each side of the current tick's word (for 0.01%
pools on mainnet, 6,932 words in all); a log update whose Swap moves a pool's tick out of its read words re-reads
that pool (an extra request, rare), and Mint/Burn outside the read words change only the in-range liquidity.

``update(from_block, to_block)``: ONE HTTP request holding ``eth_getBlockByNumber(to_block)`` and ``eth_getLogs`` over
every configured pool address for V2 ``Sync`` (reserves), V3 ``Swap`` (sqrtPriceX96, liquidity, tick), ``Mint`` and
``Burn`` (Tick.update + TickBitmap.flipTick on both ticks, and the in-range liquidity when ``tickLower <= tick <
tickUpper``, exactly as ``UniswapV3Pool._modifyPosition`` does) and ``SetFeeProtocol``, applied in (block, log index)
order. ``update`` must continue where the last snapshot ended (``from_block == last + 1``). Not handled: reorgs
(a mainnet deployment should re-read with ``read_all`` when a block hash changes).

Not kept (as in :class:`arb.amm.V3Pool`): oracle, fee growth, positions. Errors: network and node errors are
:class:`TransientError`; a configured pool that cannot be read is a :class:`FatalError` naming it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from arb.amm.v2 import V2Pool
from arb.amm.v3.liquidity_math import add_delta
from arb.amm.v3.pool import TickInfo, V3Pool
from arb.chain.manifest import ChainManifest, PoolInfo
from arb.errors import FatalError, TransientError
from arb.market.source import ChainSnapshot

LENS_ADDRESS = "0x00000000000000000000000000000000004c654e"  # any address without code works
LENS_GAS = 200_000_000  # eth_call gas: a full 0.05% tick scan costs ~3M; providers cap eth_call gas at 50M+
ALL_WORDS = 2**256 - 1
_READ = keccak(text="read(address[],address[],uint256)")[:4]
_MASK256 = 2**256


def _topic(sig: str) -> str:
    return "0x" + keccak(text=sig).hex()


SYNC = _topic("Sync(uint112,uint112)")
SWAP = _topic("Swap(address,address,int256,int256,uint160,uint128,int24)")
MINT = _topic("Mint(address,address,int24,int24,uint128,uint256,uint256)")
BURN = _topic("Burn(address,int24,int24,uint128,uint256,uint256)")
SET_FEE_PROTOCOL = _topic("SetFeeProtocol(uint8,uint8,uint8,uint8)")
TOPICS = (SYNC, SWAP, MINT, BURN, SET_FEE_PROTOCOL)


def _signed(x: int) -> int:
    return x - _MASK256 if x >> 255 else x


def _words(hexdata: str) -> list[int]:
    b = bytes.fromhex(hexdata[2:])
    return [int.from_bytes(b[i:i + 32], "big") for i in range(0, len(b), 32)]


class DexCollector:
    """All configured pools of one chain (``chain_manifest.pools``) as exact AMM states. Not thread-safe; one owner.

    ``w3``: a web3 client for the chain (its endpoint URL is used for raw JSON-RPC, which is ~20x faster than web3's
    formatting) or the URL itself. ``requests`` counts HTTP requests (round trips) sent so far.
    """

    def __init__(self, w3: Any, chain_manifest: ChainManifest, *, tick_radius: int | None = None,
                 timeout: float = 30.0) -> None:
        self.url: str = w3 if isinstance(w3, str) else w3.provider.endpoint_uri
        self.chain = chain_manifest
        self.tick_radius = tick_radius
        self.timeout = timeout
        self.requests = 0
        self._http = requests.Session()
        addr = {sym: t.address for sym, t in chain_manifest.tokens.items()}
        self.v2: tuple[PoolInfo, ...] = chain_manifest.pools_of(kind="v2")
        self.v3: tuple[PoolInfo, ...] = chain_manifest.pools_of(kind="v3")
        self._tokens = {p.address: (addr[p.token0], addr[p.token1]) for p in chain_manifest.pools}
        self._info = {p.address: p for p in chain_manifest.pools}
        self._calldata = "0x" + (_READ + abi_encode(
            ["address[]", "address[]", "uint256"],
            [[p.address for p in self.v2], [p.address for p in self.v3],
             ALL_WORDS if tick_radius is None else tick_radius])).hex()
        self._log_filter = {"address": [p.address for p in chain_manifest.pools], "topics": [list(TOPICS)]}
        self.snapshot: ChainSnapshot | None = None
        self.words: dict[str, tuple[int, int]] = {}  # V3 pool -> bitmap words read (first, last)

    # ---- transport ----
    def _post(self, calls: list[tuple[str, list]], *, tolerate: frozenset[int] = frozenset()) -> list[Any]:
        """One HTTP request; results in call order. An error answer raises, except for the call indexes in
        ``tolerate``, which give None."""
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        self.requests += 1
        try:
            r = self._http.post(self.url, data=json.dumps(body), headers={"Content-Type": "application/json"},
                                timeout=self.timeout)
            r.raise_for_status()
            out = sorted(r.json(), key=lambda x: x["id"])
        except (requests.RequestException, ValueError) as e:
            raise TransientError(f"{self.chain.name}: JSON-RPC request failed: {e}") from e
        for i, ((method, _), o) in enumerate(zip(calls, out, strict=True)):
            if "error" in o and i not in tolerate:
                raise TransientError(f"{self.chain.name}: {method} failed: {o['error']}")
        return [o.get("result") for o in out]

    @staticmethod
    def _tag(block: int | str) -> str:
        return hex(block) if isinstance(block, int) else block

    # ---- full read ----
    def read_all(self, block: int | str = "latest") -> ChainSnapshot:
        """Every configured pool at ``block`` in ONE eth_call (the lens), with that block's number, time and base
        fee. Becomes the collector's current snapshot."""
        self.snapshot = self._read(block, self.v2, self.v3, None)
        return self.snapshot

    def _read(self, block: int | str, v2: tuple[PoolInfo, ...], v3: tuple[PoolInfo, ...],
              into: dict[str, Any] | None) -> ChainSnapshot:
        data = self._calldata if (v2, v3) == (self.v2, self.v3) else "0x" + (_READ + abi_encode(
            ["address[]", "address[]", "uint256"], [[p.address for p in v2], [p.address for p in v3],
                                                    ALL_WORDS if self.tick_radius is None else self.tick_radius])).hex()
        call = {"to": LENS_ADDRESS, "data": data, "gas": hex(LENS_GAS)}
        (result,) = self._post([("eth_call", [call, self._tag(block), {LENS_ADDRESS: {"code": LENS_RUNTIME}}])])
        w = _words(result)[2:]  # skip the ABI offset and length of the returned uint256[]
        number, timestamp, base_fee, chain_id = w[0:4]
        if chain_id != self.chain.chain_id:
            raise FatalError(f"{self.chain.name}: the node at {self.url.split('?')[0]} is chain {chain_id}, the "
                             f"manifest says {self.chain.chain_id}")
        pools: dict[str, Any] = {} if into is None else into
        k = 4
        for p in v2:
            ok, r0, r1 = w[k:k + 3]
            k += 3
            if not ok:
                self._unreadable(p)
            t0, t1 = self._tokens[p.address]
            pools[p.address] = V2Pool(p.address, t0, t1, r0, r1, p.fee // 100)
        for p in v3:
            ok, price, tick, fee_protocol, liquidity, spacing, lo, hi, n = w[k:k + 9]
            k += 9
            if not ok:
                self._unreadable(p)
            spacing = _signed(spacing)
            ticks: dict[int, TickInfo] = {}
            bitmap: dict[int, int] = {}
            for j in range(n):
                t, gross, net = w[k + 3 * j:k + 3 * j + 3]
                t = _signed(t)
                ticks[t] = TickInfo(gross, _signed(net))
                compressed = t // spacing
                bitmap[compressed >> 8] = bitmap.get(compressed >> 8, 0) | (1 << (compressed % 256))
            k += 3 * n
            t0, t1 = self._tokens[p.address]
            pools[p.address] = V3Pool(p.address, t0, t1, p.fee, spacing, price, _signed(tick), liquidity, ticks,
                                      bitmap, fee_protocol=fee_protocol)
            self.words[p.address] = (_signed(lo), _signed(hi))
        return ChainSnapshot(self.chain.name, self.chain.chain_id, number,
                             datetime.fromtimestamp(timestamp, UTC), base_fee, pools)

    def _unreadable(self, p: PoolInfo) -> None:
        raise FatalError(f"{self.chain.name}: pool {p.venue} {p.token0}/{p.token1} fee {p.fee} at {p.address} could "
                         f"not be read as a {p.kind} pool (no code, or not a Uniswap {p.kind.upper()} pool): fix its "
                         f"address in the manifest")

    # ---- log-driven update ----
    def update(self, from_block: int | None = None, to_block: int | str = "latest") -> ChainSnapshot:
        """The current snapshot moved to ``to_block`` by the pools' logs of blocks ``from_block..to_block`` (one
        request). ``from_block`` defaults to, and must be, the block after the current snapshot's. Without a
        snapshot yet this is :meth:`read_all` at ``to_block``."""
        snap = self.snapshot
        if snap is None:
            return self.read_all(to_block)
        if from_block is None:
            from_block = snap.block_number + 1
        if from_block != snap.block_number + 1:
            raise ValueError(f"{self.chain.name}: the snapshot is at block {snap.block_number}, so the update must "
                             f"start at block {snap.block_number + 1}, not {from_block} (logs would be skipped or "
                             f"applied twice); call read_all() to start over")
        flt = dict(self._log_filter, fromBlock=hex(from_block), toBlock=self._tag(to_block))
        if isinstance(to_block, int) and to_block < from_block:
            raise ValueError(f"{self.chain.name}: to_block {to_block} is before from_block {from_block}")
        # the header first: logs of blocks after it (a block mined in between) are left for the next update
        header, logs = self._post([("eth_getBlockByNumber", [self._tag(to_block), False]), ("eth_getLogs", [flt])],
                                  tolerate=frozenset({1}))
        if header is None:
            raise TransientError(f"{self.chain.name}: block {to_block} does not exist yet")
        number = int(header["number"], 16)
        if number == snap.block_number:  # "latest" and no new block: nothing to do
            return snap
        if number < snap.block_number:
            raise ValueError(f"{self.chain.name}: block {number} is before the snapshot's {snap.block_number}")
        if logs is None:
            raise TransientError(f"{self.chain.name}: eth_getLogs {from_block}..{to_block} failed")
        pools = dict(snap.pools)
        stale: set[str] = set()
        logs = sorted((lg for lg in logs if int(lg["blockNumber"], 16) <= number and not lg.get("removed")),
                      key=lambda lg: (int(lg["blockNumber"], 16), int(lg["logIndex"], 16)))
        for lg in logs:
            address = to_checksum_address(lg["address"])
            pool = pools.get(address)
            if pool is not None:
                pools[address] = self._apply(pool, lg, stale)
        out = ChainSnapshot(self.chain.name, self.chain.chain_id, number,
                            datetime.fromtimestamp(int(header["timestamp"], 16), UTC),
                            int(header.get("baseFeePerGas") or "0x0", 16), pools)
        if stale:  # a swap left the read tick words (tick_radius mode only): read those pools again, same block
            fresh = self._read(number, (), tuple(self._info[a] for a in sorted(stale)), pools)
            out = dataclasses.replace(out, pools=fresh.pools)
        self.snapshot = out
        return out

    def _apply(self, pool: V2Pool | V3Pool, lg: Mapping[str, Any], stale: set[str]) -> V2Pool | V3Pool:
        topic = lg["topics"][0]
        if topic == SYNC and isinstance(pool, V2Pool):
            r0, r1 = _words(lg["data"])
            return dataclasses.replace(pool, reserve0=r0, reserve1=r1)
        if not isinstance(pool, V3Pool):
            return pool
        if topic == SWAP:
            _, _, price, liquidity, tick = _words(lg["data"])
            pool = _rebuilt(pool, sqrt_price_x96=price, liquidity=liquidity, tick=_signed(tick))
            lo, hi = self.words.get(pool.address, (None, None))
            if lo is not None and not lo <= (pool.tick // pool.tick_spacing) >> 8 <= hi:
                stale.add(pool.address)
            return pool
        if topic in (MINT, BURN):
            lower, upper = _signed(int(lg["topics"][2], 16)), _signed(int(lg["topics"][3], 16))
            amount = _words(lg["data"])[1 if topic == MINT else 0]
            if amount == 0:  # a burn of 0 only collects fees ("poke")
                return pool
            return apply_position(pool, lower, upper, amount if topic == MINT else -amount,
                                  self.words.get(pool.address))
        if topic == SET_FEE_PROTOCOL:
            _, _, new0, new1 = _words(lg["data"])
            return _rebuilt(pool, fee_protocol=new0 + (new1 << 4))
        return pool


def apply_position(pool: V3Pool, tick_lower: int, tick_upper: int, delta: int,
                   words: tuple[int, int] | None = None) -> V3Pool:
    """A Mint (``delta`` > 0) or Burn (< 0) of ``|delta|`` liquidity on [tick_lower, tick_upper), as
    ``UniswapV3Pool._modifyPosition`` changes the swap state: Tick.update on both ticks (liquidityGross, liquidityNet;
    the bitmap bit flips when a tick becomes (un)initialized, and a tick left with no liquidity is cleared), and the
    in-range liquidity when ``tick_lower <= tick < tick_upper``. Ticks outside ``words`` (the bitmap words the
    collector read; None: all) are not tracked and are skipped."""
    ticks, bitmap, ts = dict(pool.ticks), dict(pool.bitmap), pool.tick_spacing
    for t, is_upper in ((tick_lower, False), (tick_upper, True)):
        word, bit = (t // ts) >> 8, (t // ts) % 256
        if words is not None and not words[0] <= word <= words[1]:
            continue
        info = ticks.get(t, TickInfo(0, 0))
        gross = add_delta(info.liquidity_gross, delta)
        net = info.liquidity_net - delta if is_upper else info.liquidity_net + delta
        if (gross == 0) != (info.liquidity_gross == 0):
            flipped = bitmap.get(word, 0) ^ (1 << bit)
            if flipped:
                bitmap[word] = flipped
            else:
                bitmap.pop(word, None)
        if gross == 0:
            ticks.pop(t, None)
        else:
            ticks[t] = TickInfo(gross, net)
    liquidity = add_delta(pool.liquidity, delta) if tick_lower <= pool.tick < tick_upper else pool.liquidity
    return _rebuilt(pool, ticks=ticks, bitmap=bitmap, liquidity=liquidity)


def _rebuilt(pool: V3Pool, **changes: Any) -> V3Pool:
    """The pool with ``changes``, built through the constructor from its public fields, so that any cache a V3Pool
    derives from its ticks (e.g. the initialized tick range) is computed afresh rather than copied stale."""
    kwargs = {f.name: getattr(pool, f.name) for f in dataclasses.fields(pool) if not f.name.startswith("_")}
    kwargs.update(changes)
    return type(pool)(**kwargs)


def pool_state(pool: V2Pool | V3Pool) -> tuple:
    """Everything a swap depends on, as a comparable tuple (V3Pool compares by identity)."""
    if isinstance(pool, V2Pool):
        return ("v2", pool.address, pool.token0, pool.token1, pool.reserve0, pool.reserve1, pool.fee_bps)
    return ("v3", pool.address, pool.token0, pool.token1, pool.fee, pool.tick_spacing, pool.sqrt_price_x96, pool.tick,
            pool.liquidity, pool.fee_protocol, tuple(sorted(pool.ticks.items())), tuple(sorted(pool.bitmap.items())))


def snapshot_state(snap: ChainSnapshot) -> tuple:
    """A snapshot as a comparable value: block, time, base fee and every pool's :func:`pool_state`."""
    return (snap.chain, snap.chain_id, snap.block_number, snap.timestamp, snap.base_fee_wei,
            tuple(sorted((a, pool_state(p)) for a, p in snap.pools.items())))


def compile_lens(node: str | None = None) -> str:
    """Recompile :data:`LENS_SOURCE` with solc-js from node_modules (the settings of contracts/compile.mjs) and return
    the runtime bytecode (0x...). Needs Node; used by the test that checks :data:`LENS_RUNTIME`."""
    from arb.chain.artifacts import NODE

    script = (
        "const solc = require(process.argv[1]); const src = require('fs').readFileSync(0, 'utf8');"
        "const input = {language: 'Solidity', sources: {'PoolLens.sol': {content: src}}, settings: {"
        "evmVersion: 'cancun', metadata: {bytecodeHash: 'none'}, optimizer: {enabled: true, runs: 200},"
        "outputSelection: {'*': {'*': ['evm.deployedBytecode.object']}}}};"
        "const out = JSON.parse(solc.compile(JSON.stringify(input)));"
        "const errs = (out.errors || []).filter((e) => e.severity === 'error');"
        "if (errs.length) { console.error(errs.map((e) => e.formattedMessage).join('\\n')); process.exit(2); }"
        "process.stdout.write(out.contracts['PoolLens.sol'].PoolLens.evm.deployedBytecode.object);")
    node = node or shutil.which("node") or "node"
    out = subprocess.run([node, "-e", script, str(NODE / "solc")], input=LENS_SOURCE, capture_output=True,
                         text=True, timeout=120, check=False)
    if out.returncode != 0:
        raise FatalError(f"compiling PoolLens failed: {out.stderr.strip()[-2000:]}")
    return "0x" + out.stdout.strip()


# The lens: its Solidity source and its runtime bytecode (solc 0.8.37, optimizer 200 runs, cancun, no metadata
# hash; `compile_lens()` rebuilds it). Only ever used through eth_call's state override.
LENS_SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title PoolLens
/// @notice Reads every configured pool of a chain in ONE eth_call, for arb.market.dex.DexCollector. Never deployed:
///         the collector puts this runtime code at an unused address with eth_call's state override.
/// @dev Output: one flat uint256[] (signed values in two's complement):
///      [block.number, block.timestamp, block.basefee, block.chainid,
///       per V2 pair: ok, reserve0, reserve1,
///       per V3 pool: ok, sqrtPriceX96, tick, feeProtocol, liquidity, tickSpacing, wordLo, wordHi, n,
///                    then n x (tick, liquidityGross, liquidityNet) for every initialized tick in words wordLo..wordHi]
///      A V3 pool reads the tickBitmap words within `radius` words of its current tick's word (clamped to the tick
///      range; type(uint256).max: every word). A pool that cannot be read has ok = 0 (and, for V3, n = 0).
contract PoolLens {
    int256 internal constant MIN_TICK = -887272;
    int256 internal constant MAX_TICK = 887272;

    function read(address[] calldata v2, address[] calldata v3, uint256 radius)
        external
        view
        returns (uint256[] memory out)
    {
        uint256[][] memory parts = new uint256[][](v3.length + 1);
        uint256[] memory head = new uint256[](4 + 3 * v2.length);
        (head[0], head[1], head[2], head[3]) = (block.number, block.timestamp, block.basefee, block.chainid);
        for (uint256 i = 0; i < v2.length; ++i) {
            (bool ok, bytes memory ret) = v2[i].staticcall(hex"0902f1ac"); // getReserves()
            if (ok && ret.length >= 96) {
                (uint256 r0, uint256 r1) = abi.decode(ret, (uint256, uint256));
                (head[4 + 3 * i], head[5 + 3 * i], head[6 + 3 * i]) = (1, r0, r1);
            }
        }
        parts[0] = head;
        uint256 total = head.length;
        for (uint256 i = 0; i < v3.length; ++i) {
            parts[i + 1] = _v3(v3[i], radius);
            total += parts[i + 1].length;
        }
        out = new uint256[](total);
        uint256 k;
        for (uint256 i = 0; i < parts.length; ++i) {
            uint256[] memory p = parts[i];
            for (uint256 j = 0; j < p.length; ++j) out[k++] = p[j];
        }
    }

    function _v3(address pool, uint256 radius) internal view returns (uint256[] memory r) {
        uint256[9] memory h = _head(pool);
        if (h[0] == 0) return new uint256[](9);
        int256 spacing = int256(h[5]);
        (int256 lo, int256 hi) = _window(int256(h[2]), spacing, radius);
        (uint256[] memory words, uint256 count) = _words(pool, lo, hi);
        (h[6], h[7], h[8]) = (uint256(lo), uint256(hi), count);
        r = new uint256[](9 + 3 * count);
        for (uint256 i = 0; i < 9; ++i) r[i] = h[i];
        _ticks(pool, r, words, lo, spacing);
    }

    /// @dev ok, sqrtPriceX96, tick, feeProtocol, liquidity, tickSpacing (ok = 0: the pool could not be read).
    function _head(address pool) internal view returns (uint256[9] memory h) {
        (bool ok0, bytes memory s0) = pool.staticcall(hex"3850c7bd"); // slot0()
        (bool ok1, bytes memory l) = pool.staticcall(hex"1a686502"); // liquidity()
        (bool ok2, bytes memory sp) = pool.staticcall(hex"d0c93a7c"); // tickSpacing()
        if (!(ok0 && ok1 && ok2) || s0.length < 192 || l.length < 32 || sp.length < 32) return h;
        (uint256 price, int256 tick,,,, uint256 feeProtocol) =
            abi.decode(s0, (uint256, int256, uint256, uint256, uint256, uint256));
        int256 spacing = abi.decode(sp, (int256));
        if (spacing <= 0) return h;
        h[0] = 1;
        (h[1], h[2], h[3]) = (price, uint256(tick), feeProtocol);
        (h[4], h[5]) = (abi.decode(l, (uint256)), uint256(spacing));
    }

    /// @dev The bitmap words to read: within `radius` words of the current tick's word, clamped to the tick range.
    function _window(int256 tick, int256 spacing, uint256 radius) internal pure returns (int256 lo, int256 hi) {
        lo = _floorDiv(MIN_TICK, spacing) >> 8;
        hi = _floorDiv(MAX_TICK, spacing) >> 8;
        if (radius < uint256(hi - lo)) {
            int256 w = _floorDiv(tick, spacing) >> 8;
            int256 rad = int256(radius);
            if (w - rad > lo) lo = w - rad;
            if (w + rad < hi) hi = w + rad;
        }
    }

    function _words(address pool, int256 lo, int256 hi) internal view returns (uint256[] memory words, uint256 count) {
        uint256 n = uint256(hi - lo + 1);
        words = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            (bool ok, bytes memory ret) = pool.staticcall(abi.encodeWithSelector(0x5339c296, int16(lo + int256(i))));
            if (ok && ret.length >= 32) {
                uint256 word = abi.decode(ret, (uint256)); // tickBitmap(int16)
                words[i] = word;
                while (word != 0) {
                    word &= word - 1;
                    ++count;
                }
            }
        }
    }

    function _ticks(address pool, uint256[] memory r, uint256[] memory words, int256 lo, int256 spacing)
        internal
        view
    {
        uint256 k = 9;
        for (uint256 i = 0; i < words.length; ++i) {
            uint256 word = words[i];
            while (word != 0) {
                int256 t = ((lo + int256(i)) * 256 + int256(_lsb(word))) * spacing;
                word &= word - 1;
                (bool ok, bytes memory ret) = pool.staticcall(abi.encodeWithSelector(0xf30dba93, int24(t))); // ticks
                if (ok && ret.length >= 64) {
                    r[k] = uint256(t);
                    (r[k + 1], r[k + 2]) = abi.decode(ret, (uint256, uint256));
                }
                k += 3;
            }
        }
    }

    function _floorDiv(int256 a, int256 b) internal pure returns (int256 q) {
        q = a / b;
        if (a % b != 0 && a < 0) --q;
    }

    /// @dev Index of the least significant set bit of x (x != 0).
    function _lsb(uint256 x) internal pure returns (uint256 r) {
        x &= ~x + 1; // isolate the lowest bit
        if (x >= 1 << 128) { x >>= 128; r += 128; }
        if (x >= 1 << 64) { x >>= 64; r += 64; }
        if (x >= 1 << 32) { x >>= 32; r += 32; }
        if (x >= 1 << 16) { x >>= 16; r += 16; }
        if (x >= 1 << 8) { x >>= 8; r += 8; }
        if (x >= 1 << 4) { x >>= 4; r += 4; }
        if (x >= 1 << 2) { x >>= 2; r += 2; }
        if (x >= 1 << 1) r += 1;
    }
}
"""

LENS_RUNTIME = (
    "0x608060405234801561000f575f5ffd5b5060043610610029575f3560e01c8063c4ca00cd1461002d575b5f5ffd5b61004061003b366004"
    "610d70565b610056565b60405161004d9190610de3565b60405180910390f35b60605f610064846001610e39565b67ffffffffffffffff81"
    "111561007c5761007c610e4c565b6040519080825280602002602001820160405280156100af57816020015b606081526020019060019003"
    "908161009a5790505b5090505f6100be876003610e60565b6100c9906004610e39565b67ffffffffffffffff8111156100e1576100e1610e"
    "4c565b60405190808252806020026020018201604052801561010a578160200160208202803683370190505b50905043424846845f815181"
    "1061012357610123610e77565b602002602001018560018151811061013d5761013d610e77565b6020026020010186600281518110610157"
    "57610157610e77565b602002602001018760038151811061017157610171610e77565b602090810291909101019390935292909152919052"
    "525f5b878110156102f5575f5f8a8a848181106101a5576101a5610e77565b90506020020160208101906101ba9190610e8b565b60016001"
    "60a01b03166040516101da90630240bc6b60e21b815260040190565b5f60405180830381855afa9150503d805f8114610212576040519150"
    "601f19603f3d011682016040523d82523d5f602084013e610217565b606091505b509150915081801561022b57506060815110155b156102"
    "eb575f5f828060200190518101906102469190610eb1565b9092509050600182828861025b896003610e60565b610266906004610e39565b"
    "8151811061027657610276610e77565b602002602001018989600361028b9190610e60565b610296906005610e39565b815181106102a657"
    "6102a6610e77565b602002602001018a8a60036102bb9190610e60565b6102c6906006610e39565b815181106102d6576102d6610e77565b"
    "60209081029190910101929092529190525250505b5050600101610189565b5080825f8151811061030957610309610e77565b6020908102"
    "91909101015280515f5b868110156103b15761035088888381811061033557610335610e77565b905060200201602081019061034a919061"
    "0e8b565b87610491565b8461035c836001610e39565b8151811061036c5761036c610e77565b602090810291909101015283610383826001"
    "610e39565b8151811061039357610393610e77565b602002602001015151826103a79190610e39565b9150600101610318565b508067ffff"
    "ffffffffffff8111156103cb576103cb610e4c565b6040519080825280602002602001820160405280156103f45781602001602082028036"
    "83370190505b5093505f805b8451811015610483575f85828151811061041657610416610e77565b602002602001015190505f5f90505b81"
    "518110156104795781818151811061044057610440610e77565b602002602001015188858061045490610ed3565b96508151811061046657"
    "610466610e77565b6020908102919091010152600101610425565b50506001016103fa565b505050505095945050505050565b60605f6104"
    "9d846105d2565b80519091505f036104d1576040805160098082526101408201909252906020820161012080368337019050509150506105"
    "cc565b60a081015160408201515f9081906104ea9084886107e7565b915091505f5f6104fb89858561087a565b610100880181905260e088"
    "0185905260c088018690529092509050610521816003610e60565b61052c906009610e39565b67ffffffffffffffff811115610544576105"
    "44610e4c565b60405190808252806020026020018201604052801561056d578160200160208202803683370190505b5096505f5b60098110"
    "156105b75786816009811061058d5761058d610e77565b60200201518882815181106105a4576105a4610e77565b60209081029190910101"
    "52600101610572565b506105c58988848789610a04565b5050505050505b92915050565b6105da610d09565b5f5f836001600160a01b0316"
    "6040516105fd90633850c7bd60e01b815260040190565b5f60405180830381855afa9150503d805f8114610635576040519150601f19603f"
    "3d011682016040523d82523d5f602084013e61063a565b606091505b50915091505f5f856001600160a01b031660405161066290630d3432"
    "8160e11b815260040190565b5f60405180830381855afa9150503d805f811461069a576040519150601f19603f3d011682016040523d8252"
    "3d5f602084013e61069f565b606091505b50915091505f5f876001600160a01b03166040516106c7906334324e9f60e21b81526004019056"
    "5b5f60405180830381855afa9150503d805f81146106ff576040519150601f19603f3d011682016040523d82523d5f602084013e61070456"
    "5b606091505b50915091508580156107135750835b801561071c5750815b1580610729575060c08551105b80610735575060208351105b80"
    "610741575060208151105b1561075157505050505050919050565b5f5f5f878060200190518101906107689190610eeb565b955050505092"
    "5092505f848060200190518101906107869190610f31565b90505f811361079e5750505050505050505050919050565b60018b5260608b01"
    "82905260408b018390526020808c0185905287516107cb919089018101908901610f31565b60a08c019190915260808b0152509799985050"
    "50505050505050565b5f5f60086107f9620d89e71986610bd5565b901d9150600861080c620d89e886610bd5565b901d905061081a828261"
    "0f48565b831015610872575f600861082e8787610bd5565b901d9050838361083e8284610f48565b13156108515761084e8183610f48565b"
    "93505b8261085c8284610f6e565b121561086f5761086c8183610f6e565b92505b50505b935093915050565b60605f806108888585610f48"
    "565b610893906001610f6e565b90508067ffffffffffffffff8111156108ae576108ae610e4c565b60405190808252806020026020018201"
    "60405280156108d7578160200160208202803683370190505b5092505f5b8181101561086f575f806001600160a01b038916635339c29661"
    "08ff858b610f6e565b60405160019190910b60248201526044016040516020818303038152906040529060e01b6020820180516001600160"
    "e01b0383818316178352505050506040516109499190610f95565b5f60405180830381855afa9150503d805f811461098157604051915060"
    "1f19603f3d011682016040523d82523d5f602084013e610986565b606091505b509150915081801561099a57506020815110155b156109fa"
    "575f818060200190518101906109b49190610f31565b9050808785815181106109c9576109c9610e77565b6020026020010181815250505b"
    "80156109f8576109e7600182610fab565b166109f186610ed3565b95506109d6565b505b50506001016108dc565b60095f5b845181101561"
    "0bcc575f858281518110610a2457610a24610e77565b602002602001015190505b8015610bc3575f84610a4083610c0e565b610a4a858961"
    "0f6e565b610a5690610100610fbe565b610a609190610f6e565b610a6a9190610fbe565b9050610a77600183610fab565b60408051600284"
    "900b60248083019190915282518083039091018152604490910182526020810180516001600160e01b031663f30dba9360e01b1790529051"
    "91909316925f9182916001600160a01b038d1691610ad49190610f95565b5f60405180830381855afa9150503d805f8114610b0c57604051"
    "9150601f19603f3d011682016040523d82523d5f602084013e610b11565b606091505b5091509150818015610b2557506040815110155b15"
    "610bae57828a8781518110610b3d57610b3d610e77565b60200260200101818152505080806020019051810190610b5d9190610eb1565b8b"
    "610b69896001610e39565b81518110610b7957610b79610e77565b602002602001018c896002610b8e9190610e39565b81518110610b9e57"
    "610b9e610e77565b6020908102919091010191909152525b610bb9600387610e39565b9550505050610a2f565b50600101610a08565b5050"
    "5050505050565b5f610be08284611001565b9050610bec828461102d565b15801590610bf957505f83125b156105cc57610c078161104056"
    "5b9392505050565b5f610c1b82196001610e39565b82169150600160801b8210610c3d57608091821c91610c3a9082610e39565b90505b68"
    "0100000000000000008210610c6057604091821c91610c5d9082610e39565b90505b6401000000008210610c7f57602091821c91610c7c90"
    "82610e39565b90505b620100008210610c9c57601091821c91610c999082610e39565b90505b6101008210610cb857600891821c91610cb5"
    "9082610e39565b90505b60108210610cd357600491821c91610cd09082610e39565b90505b60048210610cee57600291821c91610ceb9082"
    "610e39565b90505b60028210610d0457610d01600182610e39565b90505b919050565b604051806101200160405280600990602082028036"
    "8337509192915050565b5f5f83601f840112610d38575f5ffd5b50813567ffffffffffffffff811115610d4f575f5ffd5b60208301915083"
    "60208260051b8501011115610d69575f5ffd5b9250929050565b5f5f5f5f5f60608688031215610d84575f5ffd5b853567ffffffffffffff"
    "ff811115610d9a575f5ffd5b610da688828901610d28565b909650945050602086013567ffffffffffffffff811115610dc5575f5ffd5b61"
    "0dd188828901610d28565b96999598509660400135949350505050565b602080825282518282018190525f918401906040840190835b8181"
    "1015610e1a578351835260209384019390920191600101610dfc565b509095945050505050565b634e487b7160e01b5f5260116004526024"
    "5ffd5b808201808211156105cc576105cc610e25565b634e487b7160e01b5f52604160045260245ffd5b80820281158282048414176105cc"
    "576105cc610e25565b634e487b7160e01b5f52603260045260245ffd5b5f60208284031215610e9b575f5ffd5b81356001600160a01b0381"
    "168114610c07575f5ffd5b5f5f60408385031215610ec2575f5ffd5b505080516020909101519092909150565b5f60018201610ee457610e"
    "e4610e25565b5060010190565b5f5f5f5f5f5f60c08789031215610f00575f5ffd5b50508451602086015160408701516060880151608089"
    "015160a090990151939a929950909790965094509092509050565b5f60208284031215610f41575f5ffd5b5051919050565b8181035f8312"
    "80158383131683831282161715610f6757610f67610e25565b5092915050565b8082018281125f831280158216821582161715610f8d5761"
    "0f8d610e25565b505092915050565b5f82518060208501845e5f920191825250919050565b818103818111156105cc576105cc610e25565b"
    "8082025f8212600160ff1b84141615610fd957610fd9610e25565b81810583148215176105cc576105cc610e25565b634e487b7160e01b5f"
    "52601260045260245ffd5b5f8261100f5761100f610fed565b600160ff1b82145f198414161561102857611028610e25565b500590565b5f"
    "8261103b5761103b610fed565b500790565b5f600160ff1b820161105457611054610e25565b505f19019056fea164736f6c634300082500"
    "0a"
)
