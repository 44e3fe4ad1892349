"""The sandbox market driver: reference prices, noise traders and competing searchers on the sandbox chains.

Reference prices (a stated proxy, not data for ETH and MATIC)
-------------------------------------------------------------
- BTC/USD: the Binance BTC/BUSD minute bars of the recorded CEX day (``<folder>/crypto/binance/minute/btcbusd/
  20221213_btcbusd_minute_trade.csv``). At simulated time ``t`` the reference is the CLOSE of the last minute that has
  ended (what a CEX watcher knows at ``t``; the bar starting at 00:00 is known at 00:01), and the first bar's OPEN
  before that. Missing minutes carry the previous close forward.
- ETH and MATIC move proportionally to BTC from their 2022-12-13 levels: ``ETH(t) = 1320 x BTC(t) / BTC(00:00)``,
  ``MATIC(t) = 0.87 x BTC(t) / BTC(00:00)``. WBTC = BTC, WETH = ETH, WMATIC = MATIC; DAI = USDC = 1 USD.

Noise traders (each step, on each chain whose block is due this step)
----------------------------------------------------------------------
For every pool, in address order, the driver draws four numbers from its seeded RNG, ALWAYS (so the random stream
does not depend on the chain's state, and a run is reproducible with ``seed``): ``u`` (trade?), ``eps`` (overshoot),
``z`` (size) and the trader. If ``u < p_trade`` a noise trader trades the pool toward its target price
``reference(t - lag_steps x step_seconds) x exp(overshoot_sigma x eps)`` (token1 per token0): it sees a lagged
reference and overshoots or undershoots it at random. The size is lognormal, ``size_median_usd x exp(size_sigma x
z)`` of the input token at the reference, capped at the input that takes the pool exactly to the target (exact V3
swap simulation with the target as price limit on the collector's tick table; V2 from the constant product), so a
trade never passes its own target; a pool already within ``dead_band_bps`` of its target is left alone. Trades go
through the real routers (UniswapV2Router02.swapExactTokensForTokens, SwapRouter.exactInputSingle), amountOutMin 0,
with a LOW tip (``noise_tip_wei``) and maxFeePerGas = the next block's highest possible base fee + that tip.

Competing searchers (each step, on each chain whose block is due this step)
---------------------------------------------------------------------------
With probability ``p_compete`` the competitor (``competitor_key``, an account of its own with token inventory) looks
at the same pool states the engine sees (the last snapshot) and takes the largest cross-venue gap: among pools of
the same token pair, the pair of pools with the largest price ratio net of both fees. It computes the exact optimal
input of buying token0 on the cheap pool with token1 and selling it on the dear one (``arb.amm.optimal``), and
trades ``capture`` of it (1.0: the whole gap; less: part of it, leaving some for us), if its exact profit is worth at
least ``min_profit_usd`` at the reference. Two router transactions (leg 2 sells exactly leg 1's output; both carry
their exact expected outputs as amountOutMin) with a HIGH tip (``competitor_tip_wei``) and maxFeePerGas = 2 x base
fee + tip.

Ordering: anvil orders its mempool by maxFeePerGas (measured with anvil 1.7.1: NOT by the tip), so the fee caps
above are chosen to order a block as competitor (2 x base + high tip) > our engine (``arb.execute.gas.fees_for``:
base x 1.125^2 + its tip) > noise (base x 1.125 + low tip), as long as ``noise_tip_wei`` <= our tip <=
``competitor_tip_wei``. On a real chain, builders order by the tip; both rules give the same order here.

Parameters (:class:`DriverParams`, default in brackets)
-------------------------------------------------------
============================  ==========================================================================================
seed [20221213]               the one RNG's seed; same seed + same starting chain state -> the same trades
step_seconds [2.0]            simulated seconds per step (SandboxSource sets it to its own step)
lag_steps [15]                noise traders see the reference of 15 steps (30 s) ago
p_trade [0.3]                 per pool and block, the probability that a noise trader trades it
size_median_usd [25,000]      median of the lognormal noise trade size, in USD at the reference
size_sigma [1.0]              sigma of the log of the noise trade size
overshoot_sigma [0.005]       target = lagged reference x exp(N(0, sigma)): ~50 bps scatter between venues
dead_band_bps [3.0]           a pool closer than this to its target is not traded
p_compete [0.3]               per chain and block, the probability that the competitor acts
capture [0.8]                 fraction of the optimal input the competitor trades (1.0: the whole gap)
min_profit_usd [5.0]          the competitor skips a largest gap whose exact profit is worth less
competitor_tip_wei [3 gwei]   the competitor's priority fee (above the engine's 1 gwei default)
noise_tip_wei [0.01 gwei]     the noise traders' priority fee (below the engine's)
competitor_key [DEV_KEYS[1]]  the competitor's account (never DEV_KEYS[0], the engine's owner)
noise_keys [DEV_KEYS[2:6]]    the noise traders' accounts, one drawn per trade
competitor_inventory_usd      [100M] per token, set at setup
noise_inventory_usd           [50M] per token and noise account, set at setup
gas_v2, gas_v3                [250,000, 800,000] gas limits of the router swaps (anvil charges the gas used)
============================  ==========================================================================================

Accounts: the competitor and the noise traders use anvil dev accounts other than the engine's owner (DEV_KEYS[0]).
:meth:`MarketDriver.setup` gives them native coin (``anvil_setBalance``), wraps some into the native token (WETH9
``deposit``, or ``withdraw`` of any excess, up to exactly the inventory), sets their other token balances with
``anvil_dealERC20`` (so the deployer's nonce is never touched) and approves the routers; running it again on the same
chains (a run attached to a long-lived sandbox) ends in the same balances and allowances. Sandbox only: it refuses
chains it cannot recognise as anvil.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from arb.amm.optimal import optimal_route_input, optimal_two_pool_v2
from arb.amm.route import make_route, route_swaps
from arb.amm.v2 import V2Pool
from arb.amm.v3.errors import AmmRevert
from arb.amm.v3.pool import V3Pool
from arb.amm.v3.tick_math import MAX_SQRT_RATIO, MIN_SQRT_RATIO
from arb.chain.anvil import DEV_KEYS
from arb.chain.manifest import ChainManifest
from arb.errors import BadInput, ConfigError, FatalError, TransientError
from arb.market.source import ChainSnapshot

SIM_START = datetime(2022, 12, 13, tzinfo=UTC)
START_LEVELS_USD = {"ETH": 1320.0, "MATIC": 0.87}  # 2022-12-13 levels of the proxied assets
ASSET_OF = {"WBTC": "BTC", "BTC": "BTC", "WETH": "ETH", "ETH": "ETH", "WMATIC": "MATIC", "MATIC": "MATIC"}
STABLES = frozenset({"USDC", "DAI", "USDT", "BUSD"})
DEADLINE = 2**40
MAX_UINT = 2**256 - 1
GWEI = 10**9

_SEL = {name: keccak(text=sig)[:4] for name, sig in {
    "v2swap": "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
    "v3swap": "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))",
    "approve": "approve(address,uint256)",
    "deposit": "deposit()",
    "withdraw": "withdraw(uint256)",
    "balanceOf": "balanceOf(address)",
}.items()}


# ---------------------------------------------------------------- reference prices
@dataclass(frozen=True)
class ReferencePrices:
    """USD reference prices at any simulated time (see the module docstring). ``closes[m]`` is minute m's close."""

    day: datetime  # midnight UTC of the recording
    first_open: float
    closes: tuple[float, ...]
    start_levels: Mapping[str, float] = field(default_factory=lambda: dict(START_LEVELS_USD))

    @classmethod
    def from_lean(cls, folder: str | Path, day: date = date(2022, 12, 13), venue: str = "binance",
                  ticker: str = "btcbusd") -> ReferencePrices:
        path = Path(folder) / "crypto" / venue / "minute" / ticker / f"{day:%Y%m%d}_{ticker}_minute_trade.csv"
        if not path.exists():
            raise BadInput("bad_path", f"{path}: no {venue} {ticker} minute bars for {day} (the reference BTC/USD "
                                       f"price comes from them); expected a Lean folder such as "
                                       f"../shared/data/cex-minute-bars-20221213")
        bars: dict[int, tuple[float, float]] = {}
        with path.open(newline="") as f:
            for row in csv.reader(f):
                try:
                    minute, o, c = int(row[0]) // 60_000, float(row[1]), float(row[4])
                except (ValueError, IndexError):
                    continue
                if 0 <= minute < 1440 and o > 0 and c > 0 and math.isfinite(o) and math.isfinite(c):
                    bars.setdefault(minute, (o, c))
        if not bars:
            raise BadInput("bad_path", f"{path}: no usable minute bars")
        first = min(bars)
        closes, last = [], bars[first][0]
        for m in range(1440):
            last = bars[m][1] if m in bars else last
            closes.append(last)
        return cls(datetime(day.year, day.month, day.day, tzinfo=UTC), bars[first][0], tuple(closes))

    def btc(self, at: datetime) -> float:
        minute = math.floor((at - self.day).total_seconds() / 60)
        if minute <= 0:
            return self.first_open
        return self.closes[min(minute, len(self.closes)) - 1]

    def usd(self, symbol: str, at: datetime) -> float:
        if symbol in STABLES:
            return 1.0
        asset = ASSET_OF.get(symbol)
        if asset == "BTC":
            return self.btc(at)
        if asset in self.start_levels:
            return self.start_levels[asset] * self.btc(at) / self.first_open
        raise KeyError(f"no reference price for {symbol!r} (known: BTC, ETH, MATIC and USD stablecoins)")


# ---------------------------------------------------------------- parameters
@dataclass(frozen=True)
class DriverParams:
    """Every knob of the driver (see the module docstring for how each is used)."""

    seed: int = 20221213  # seeds the one RNG: same seed + same start state -> same trades
    step_seconds: float = 2.0  # simulated seconds per step (the lag is counted in steps)
    lag_steps: int = 15  # noise traders see the reference of 15 steps (30 s) ago
    p_trade: float = 0.3  # per pool and block: probability that a noise trader trades it
    size_median_usd: float = 25_000.0  # lognormal trade size: median ...
    size_sigma: float = 1.0  # ... and sigma of its log
    overshoot_sigma: float = 0.005  # target = lagged reference x exp(N(0, sigma)): ~50 bps scatter
    dead_band_bps: float = 3.0  # a pool closer than this to its target is not traded
    p_compete: float = 0.3  # per chain and block: probability that the competitor acts
    capture: float = 0.8  # fraction of the optimal input the competitor trades
    min_profit_usd: float = 5.0  # the competitor skips gaps worth less (exact profit, at the reference)
    competitor_tip_wei: int = 3 * GWEI  # HIGHER than the engine's tip (1 gwei by default)
    noise_tip_wei: int = GWEI // 100  # LOWER than the engine's tip
    competitor_key: str = field(default=DEV_KEYS[1], repr=False)  # keys never appear in a repr or a log
    noise_keys: tuple[str, ...] = field(default=tuple(DEV_KEYS[2:6]), repr=False)
    competitor_inventory_usd: float = 100_000_000.0  # per token, set at setup
    noise_inventory_usd: float = 50_000_000.0  # per token and noise account
    gas_v2: int = 250_000  # gas limits of router swaps (anvil charges only the gas used)
    gas_v3: int = 800_000

    def __post_init__(self) -> None:
        problems = []
        for name in ("p_trade", "p_compete"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append((name, f"must be a probability in [0, 1], got {getattr(self, name)}"))
        if not 0 < self.capture <= 1:
            problems.append(("capture", f"must be in (0, 1], got {self.capture}"))
        if self.lag_steps < 0 or self.step_seconds <= 0:
            problems.append(("lag_steps/step_seconds", "lag_steps must be >= 0 and step_seconds > 0"))
        if min(self.size_median_usd, self.size_sigma, self.overshoot_sigma, self.dead_band_bps) < 0:
            problems.append(("sizes", "size_median_usd, size_sigma, overshoot_sigma, dead_band_bps must be >= 0"))
        if not self.noise_keys:
            problems.append(("noise_keys", "at least one noise trader account is needed"))
        if self.noise_tip_wei > self.competitor_tip_wei:
            problems.append(("noise_tip_wei", "must not exceed competitor_tip_wei (noise lands last in a block)"))
        if DEV_KEYS[0] in (self.competitor_key, *self.noise_keys):
            problems.append(("competitor_key/noise_keys", "DEV_KEYS[0] is the engine's owner: use DEV_KEYS[1:]"))
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True)
class SentTx:
    """One transaction the driver sent (kept in :attr:`MarketDriver.sent`, the last 10,000)."""

    chain: str
    at: datetime
    role: str  # "noise" | "competitor"
    sender: str
    pool: str
    token_in: str
    amount_in: int
    tx_hash: str


def mid_price(pool: V2Pool | V3Pool) -> float:
    """Price of token0 in token1, base units."""
    if isinstance(pool, V2Pool):
        return pool.reserve1 / pool.reserve0
    return (pool.sqrt_price_x96 / 2**96) ** 2


def fee_fraction(pool: V2Pool | V3Pool) -> float:
    return pool.fee_bps / 1e4 if isinstance(pool, V2Pool) else pool.fee / 1e6


def input_to_price(pool: V2Pool | V3Pool, token_in: str, target: float) -> int:
    """The input of ``token_in`` that moves the pool's price (token1 per token0, base units) to ``target``:
    exact for V3 (a swap simulated with the target as price limit), the constant product plus the fee for V2.
    0 when the target is on the other side."""
    zero_for_one = token_in == pool.token0
    if isinstance(pool, V2Pool):
        k = pool.reserve0 * pool.reserve1
        gross = 1 / (1 - fee_fraction(pool))
        need = (math.sqrt(k / target) - pool.reserve0) if zero_for_one else (math.sqrt(k * target) - pool.reserve1)
        return max(0, int(need * gross))
    limit = int(math.sqrt(target) * 2**96)
    limit = min(max(limit, MIN_SQRT_RATIO + 1), MAX_SQRT_RATIO - 1)
    if (zero_for_one and limit >= pool.sqrt_price_x96) or (not zero_for_one and limit <= pool.sqrt_price_x96):
        return 0
    amount0, amount1, _ = pool.swap(zero_for_one, 2**200, limit)
    return amount0 if zero_for_one else amount1


# ---------------------------------------------------------------- the driver
class MarketDriver:
    """Sends the noise and competitor transactions of one step. Mining is the caller's job (SandboxSource).

    ``chains`` maps a chain name to ``(rpc_url, ChainManifest)``; the driver talks raw JSON-RPC (signing locally).
    """

    def __init__(self, chains: Mapping[str, tuple[str, ChainManifest]], reference: ReferencePrices,
                 params: DriverParams | None = None) -> None:
        self.params = params or DriverParams()
        self.reference = reference
        self.chains = dict(chains)
        self.rng = random.Random(self.params.seed)
        self.competitor: LocalAccount = Account.from_key(self.params.competitor_key)
        self.noise_accounts: list[LocalAccount] = [Account.from_key(k) for k in self.params.noise_keys]
        self.stats: Counter[str] = Counter()
        self.sent: deque[SentTx] = deque(maxlen=10_000)
        self._http = requests.Session()
        self._nonces: dict[tuple[str, str], int] = {}
        self._chain_ids = {name: m.chain_id for name, (_, m) in self.chains.items()}
        self._symbol = {name: {t.address: s for s, t in m.tokens.items()} for name, (_, m) in self.chains.items()}
        self._decimals = {name: {t.address: t.decimals for t in m.tokens.values()}
                          for name, (_, m) in self.chains.items()}
        self._router = {name: {p.address: m.venues[p.venue].router for p in m.pools}
                        for name, (_, m) in self.chains.items()}

    @classmethod
    def for_sandbox(cls, sandbox: Any, reference: ReferencePrices, params: DriverParams | None = None
                    ) -> MarketDriver:
        return cls({n: (c.anvil.url, c.manifest) for n, c in sandbox.chains.items()}, reference, params)

    # ---- JSON-RPC ----
    def _rpc(self, chain: str, calls: list[tuple[str, list]], *, check: bool = True) -> list[Any]:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        try:
            r = self._http.post(self.chains[chain][0], data=json.dumps(body),
                                headers={"Content-Type": "application/json"}, timeout=30)
            out = sorted(r.json(), key=lambda x: x["id"])
        except (requests.RequestException, ValueError) as e:
            raise TransientError(f"{chain}: JSON-RPC request failed: {e}") from e
        if check:
            for (method, _), o in zip(calls, out, strict=True):
                if "error" in o:
                    raise FatalError(f"{chain}: {method} failed: {o['error']}")
        return [o.get("result", o.get("error")) for o in out]

    def _nonce(self, chain: str, address: str) -> int:
        key = (chain, address)
        if key not in self._nonces:
            (n,) = self._rpc(chain, [("eth_getTransactionCount", [address, "pending"])])
            self._nonces[key] = int(n, 16)
        n = self._nonces[key]
        self._nonces[key] = n + 1
        return n

    def _sign(self, chain: str, acct: LocalAccount, to: str, data: bytes, gas: int, max_fee: int, tip: int,
              value: int = 0) -> tuple[str, str]:
        tx = {"type": 2, "chainId": self._chain_ids[chain], "nonce": self._nonce(chain, acct.address), "to": to,
              "value": value, "data": data, "gas": gas, "maxFeePerGas": max_fee,
              "maxPriorityFeePerGas": min(tip, max_fee)}
        signed = acct.sign_transaction(tx)
        return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()

    def _send(self, chain: str, raws: list[tuple[str, str]], role: str) -> list[str]:
        if not raws:
            return []
        results = self._rpc(chain, [("eth_sendRawTransaction", [raw]) for raw, _ in raws], check=False)
        hashes = []
        for (_, h), res in zip(raws, results, strict=True):
            if isinstance(res, dict):  # an error object: the node refused it; re-read nonces next time
                self.stats[f"{role}_send_errors"] += 1
                self._nonces = {k: v for k, v in self._nonces.items() if k[0] != chain}
            else:
                hashes.append(h)
        return hashes

    # ---- setup ----
    def setup(self, chains: tuple[str, ...] | None = None, *, mine: bool = True, mine_at: int | None = None) -> None:
        """Fund the competitor and noise accounts and approve the routers (see the module docstring). Waits for
        the transactions: with automine off (and ``mine``) it mines one block per chain itself, at timestamp
        ``mine_at`` if given (``evm_mine [mine_at]``), else at anvil's clock.

        Idempotent, so it can run again on chains it has already set up (a run attached to a long-lived sandbox):
        balances are SET (native coin, ERC-20s), the wrapped native balance is topped up or drawn down to the
        inventory (deposit or withdraw the difference, nothing when equal), approvals are set to the maximum again."""
        for chain in chains or tuple(self.chains):
            url, m = self.chains[chain]
            if "anvil" not in str(self._rpc(chain, [("web3_clientVersion", [])])[0]).lower():
                raise FatalError(f"{chain}: the driver only runs on anvil sandboxes (it sets balances)")
            (block,) = self._rpc(chain, [("eth_getBlockByNumber", ["latest", False])])
            max_fee = int(block["baseFeePerGas"], 16) * 2 + GWEI
            routers = sorted({v.router for v in m.venues.values() if v.router})
            calls: list[tuple[str, list]] = []
            raws: list[tuple[str, str]] = []
            at = self.reference.day
            accounts = [(self.competitor, self.params.competitor_inventory_usd)] + \
                       [(a, self.params.noise_inventory_usd) for a in self.noise_accounts]
            wrapped = m.tokens[m.native].address
            held = [int(r, 16) for r in self._rpc(chain, [  # wrapped native already held (a chain set up before)
                ("eth_call", [{"to": wrapped, "data": "0x" + (_SEL["balanceOf"] + abi_encode(["address"], [
                    a.address])).hex()}, "latest"]) for a, _ in accounts])]
            for (acct, usd), have in zip(accounts, held, strict=True):
                native_units = 0
                calls.append(("anvil_setBalance", [acct.address, hex(10**32)]))
                for sym, t in m.tokens.items():
                    units = int(usd / self.reference.usd(sym, at) * 10**t.decimals)
                    if sym == m.native:
                        native_units = units
                    else:
                        calls.append(("anvil_dealERC20", [acct.address, t.address, hex(units)]))
                self._nonces.pop((chain, acct.address), None)
                if have < native_units:
                    raws.append(self._sign(chain, acct, wrapped, _SEL["deposit"], 100_000, max_fee, GWEI,
                                           value=native_units - have))
                elif have > native_units:
                    raws.append(self._sign(chain, acct, wrapped, _SEL["withdraw"] + abi_encode(
                        ["uint256"], [have - native_units]), 100_000, max_fee, GWEI))
                for t in m.tokens.values():
                    for router in routers:
                        data = _SEL["approve"] + abi_encode(["address", "uint256"], [router, MAX_UINT])
                        raws.append(self._sign(chain, acct, t.address, data, 100_000, max_fee, GWEI))
            self._rpc(chain, calls)
            hashes = [h for _, h in raws]
            self._rpc(chain, [("eth_sendRawTransaction", [raw]) for raw, _ in raws])
            if mine and self._rpc(chain, [("anvil_getAutomine", [])])[0] is False:
                self._rpc(chain, [("evm_mine", [] if mine_at is None else [mine_at])])
            deadline = time.monotonic() + 30
            while True:  # anvil's automine mines just after answering the send
                receipts = self._rpc(chain, [("eth_getTransactionReceipt", [h]) for h in hashes])
                if all(r is not None for r in receipts) or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            bad = [h for h, r in zip(hashes, receipts, strict=True) if r is None or int(r["status"], 16) != 1]
            if bad:
                raise FatalError(f"{chain}: driver setup transactions failed or are not mined: {bad[:3]}")
            self.stats["setup_txs"] += len(hashes)

    # ---- pricing ----
    def unit_usd(self, chain: str, token: str, at: datetime) -> float:
        """USD value of one base unit of ``token`` at the reference."""
        return self.reference.usd(self._symbol[chain][token], at) / 10 ** self._decimals[chain][token]

    def reference_price(self, chain: str, pool: V2Pool | V3Pool, at: datetime) -> float:
        """The reference price of token0 in token1, base units (comparable to :func:`mid_price`)."""
        return self.unit_usd(chain, pool.token0, at) / self.unit_usd(chain, pool.token1, at)

    def _swap(self, chain: str, acct: LocalAccount, pool: V2Pool | V3Pool, token_in: str, amount: int,
              min_out: int, max_fee: int, tip: int) -> tuple[str, str]:
        token_out = pool.other(token_in)
        router = self._router[chain][pool.address]
        if isinstance(pool, V2Pool):
            data = _SEL["v2swap"] + abi_encode(["uint256", "uint256", "address[]", "address", "uint256"],
                                               [amount, min_out, [token_in, token_out], acct.address, DEADLINE])
            return self._sign(chain, acct, router, data, self.params.gas_v2, max_fee, tip)
        data = _SEL["v3swap"] + abi_encode(["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
                                           [(token_in, token_out, pool.fee, acct.address, DEADLINE, amount,
                                             min_out, 0)])
        return self._sign(chain, acct, router, data, self.params.gas_v3, max_fee, tip)

    # ---- one step ----
    def noise(self, chain: str, snap: ChainSnapshot, at: datetime) -> list[str]:
        """Noise trades on ``chain`` against the pool states of ``snap``, seeing the reference of ``lag_steps``
        ago. Returns the hashes sent (low tip: they land after everything else in the block)."""
        p = self.params
        seen = at - timedelta(seconds=p.lag_steps * p.step_seconds)
        max_fee = snap.base_fee_wei * 9 // 8 + 1 + p.noise_tip_wei
        raws: list[tuple[str, str]] = []
        logs: list[tuple[str, str, str, int]] = []
        for address in sorted(snap.pools):
            u, eps, z = self.rng.random(), self.rng.gauss(0.0, 1.0), self.rng.gauss(0.0, 1.0)
            acct = self.noise_accounts[self.rng.randrange(len(self.noise_accounts))]
            if u >= p.p_trade:
                continue
            pool = snap.pools[address]
            target = self.reference_price(chain, pool, seen) * math.exp(p.overshoot_sigma * eps)
            price = mid_price(pool)
            if abs(price / target - 1) * 1e4 < p.dead_band_bps:
                continue
            token_in = pool.token1 if price < target else pool.token0
            try:
                needed = input_to_price(pool, token_in, target)
            except AmmRevert:
                continue
            size = int(p.size_median_usd * math.exp(p.size_sigma * z) / self.unit_usd(chain, token_in, at))
            amount = min(size, needed)
            if amount <= 0:
                continue
            raws.append(self._swap(chain, acct, pool, token_in, amount, 0, max_fee, p.noise_tip_wei))
            logs.append((acct.address, address, token_in, amount))
        sent = self._send(chain, raws, "noise")
        self._log(chain, at, "noise", logs, raws, sent)
        return sent

    def largest_gap(self, chain: str, snap: ChainSnapshot) -> tuple[V2Pool | V3Pool, V2Pool | V3Pool] | None:
        """(cheap, dear): the two pools of one token pair whose price ratio, net of both fees, is the largest and
        above 1 (None when no pair of pools is apart by more than their fees)."""
        groups: dict[frozenset[str], list[V2Pool | V3Pool]] = {}
        for address in sorted(snap.pools):
            pool = snap.pools[address]
            groups.setdefault(frozenset((pool.token0, pool.token1)), []).append(pool)
        best, best_gap = None, 1.0
        for pools in groups.values():
            for a, b in itertools.permutations(pools, 2):
                gap = mid_price(b) / mid_price(a) * (1 - fee_fraction(a)) * (1 - fee_fraction(b))
                if gap > best_gap:
                    best, best_gap = (a, b), gap
        return best

    def compete(self, chain: str, snap: ChainSnapshot, at: datetime) -> list[str]:
        """Maybe (``p_compete``) arbitrage the largest gap of ``snap``; returns the hashes sent (high tip)."""
        p = self.params
        if self.rng.random() >= p.p_compete:
            return []
        pair = self.largest_gap(chain, snap)
        if pair is None:
            self.stats["competitor_no_gap"] += 1
            return []
        cheap, dear = pair
        token = cheap.token1  # pay token1 on the cheap pool, get token0, sell it on the dear pool
        try:
            if isinstance(cheap, V2Pool) and isinstance(dear, V2Pool):
                opt = optimal_two_pool_v2(cheap, dear, token)
            else:
                opt = optimal_route_input(make_route((cheap, dear), token))
            amount = int(opt.amount_in * p.capture)
            swaps = route_swaps(make_route((cheap, dear), token), amount) if amount > 0 else []
        except AmmRevert:
            swaps = []
        profit = swaps[-1].amount_out - amount if swaps else 0
        if profit * self.unit_usd(chain, token, at) < p.min_profit_usd:
            self.stats["competitor_too_small"] += 1
            return []
        max_fee = snap.base_fee_wei * 2 + p.competitor_tip_wei
        mid = swaps[0].amount_out
        raws = [self._swap(chain, self.competitor, cheap, token, amount, mid, max_fee, p.competitor_tip_wei),
                self._swap(chain, self.competitor, dear, cheap.other(token), mid, swaps[1].amount_out, max_fee,
                           p.competitor_tip_wei)]
        logs = [(self.competitor.address, cheap.address, token, amount),
                (self.competitor.address, dear.address, cheap.other(token), mid)]
        sent = self._send(chain, raws, "competitor")
        self._log(chain, at, "competitor", logs, raws, sent)
        if sent:
            self.stats["competitor_arbs"] += 1
            self.stats["competitor_profit_usd_x100"] += int(profit * self.unit_usd(chain, token, at) * 100)
        return sent

    def _log(self, chain: str, at: datetime, role: str, logs: list[tuple[str, str, str, int]],
             raws: list[tuple[str, str]], sent: list[str]) -> None:
        ok = set(sent)
        for (sender, pool, token_in, amount), (_, h) in zip(logs, raws, strict=True):
            if h in ok:
                self.sent.append(SentTx(chain, at, role, sender, pool, token_in, amount, h))
                self.stats[f"{role}_txs"] += 1
