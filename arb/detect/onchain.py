"""On-chain opportunity detection: DEX<->DEX cycles (2 and 3 hops) financed by a flash loan, and CEX<->DEX edges.

For every chain snapshot (all configured pools at one block, exact integer states):

- **Cycles.** For every token A the flash pool lends, every cycle A -> ... -> A over 2 or 3 distinct pools. A quick
  exact probe (route output of a tiny input) drops cycles with no marginal edge. The input size is optimal: the
  closed form for two V2 pools (premium included), otherwise a numeric search over the exact integer route function
  (:mod:`arb.amm.optimal`). Net profit = route output - loan - premium(Aave rounding, FLASHLOAN_PREMIUM_TOTAL read at
  run time) - gas, where gas = (base fee + priority fee) x the route's gas estimate (:data:`GAS_BASE` +
  :data:`GAS_PER_HOP` per hop, calibrated on the sandbox). Amounts are exact wei (in A's base units); USD figures use
  prices read from the pools themselves (each token against the chain's USD stablecoin, USDC = 1 USD by assumption).
- **CEX<->DEX edges.** For a DEX pool whose pair matches a CEX book's base asset against a USD stablecoin, the edge
  between buying on one and selling on the other at the configured trade size. These are recorded (detection and
  decision trace) but have no atomic executor yet, so they are ``cex_arb`` opportunities on a DEX venue that the
  decider rejects for lack of an executor.

The plan of each flash-loan opportunity (asset, amount, hops, minProfit, predicted profit) goes into a
:class:`~arb.execute.flashloan.PlanBook` under the opportunity id, for the executor. ``minProfit`` is the gas cost in
A's units: the on-chain check reverts instead of letting a trade that no longer covers its gas go through.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from arb.amm.optimal import Optimum, optimal_route_input, optimal_two_pool_v2
from arb.amm.route import Hop as AmmHop
from arb.amm.route import make_route, route_output
from arb.amm.v2 import V2Pool
from arb.amm.v3.errors import AmmRevert
from arb.amm.v3.pool import V3Pool
from arb.detect.cex import BPS, BPS_QUANTUM, MONEY_QUANTUM
from arb.domain import Opportunity
from arb.execute.flashloan import FlashPlan, Hop, PlanBook
from arb.market.source import ChainSnapshot, MarketBatch

GAS_BASE = 110_000  # flash loan + executor overhead (measured ~208-279k for 2 V2 hops, see contracts/README.md)
GAS_PER_HOP = {"v2": 70_000, "v3": 110_000}
PROBE_FRACTION = 10**6  # probe input = 1e-6 of the first pool's reserve of A
# Steps of the exact integer output walked around the optimum. The last few wei of a flat top are not worth 10x the
# detection time (measured: 16 steps ~25 ms per V3 route, 2 steps ~3 ms); the prediction is exact either way.
POLISH_STEPS = 2


@dataclass(frozen=True)
class ChainMarket:
    """What the detector needs to know of one chain (from its manifest and settings)."""

    name: str
    symbols: Mapping[str, str]  # token address -> symbol
    decimals: Mapping[str, int]  # token address -> decimals
    venues: Mapping[str, str]  # pool address -> venue name
    native: str  # wrapped native token address (gas is paid in it)
    usd: str  # the USD stablecoin's address (USDC), priced at 1 USD
    flash_assets: frozenset[str]  # tokens the flash pool lends
    premium_bps: int  # FLASHLOAN_PREMIUM_TOTAL, read at run time
    priority_fee_wei: int = 1_000_000_000


def _key(pool: V2Pool | V3Pool) -> str:
    return "v2" if isinstance(pool, V2Pool) else "v3"


def _spot_in_usd(pools: Sequence[V2Pool | V3Pool], token: str, usd: str) -> Decimal | None:
    """Mid price of ``token`` in USD units per base unit, from the deepest direct pool against ``usd``."""
    if token == usd:
        return Decimal(1)
    best: tuple[int, Decimal] | None = None
    for p in pools:
        if {p.token0, p.token1} != {token, usd}:
            continue
        if isinstance(p, V2Pool):
            if p.reserve0 <= 0 or p.reserve1 <= 0:
                continue
            r_t, r_u = (p.reserve0, p.reserve1) if p.token0 == token else (p.reserve1, p.reserve0)
            depth, price = r_u, Decimal(r_u) / Decimal(r_t)
        else:
            if p.liquidity <= 0:
                continue
            ratio = (Decimal(p.sqrt_price_x96) / Decimal(2**96)) ** 2  # token1 per token0, base units
            price = ratio if p.token0 == token else 1 / ratio
            depth = p.liquidity
        if best is None or depth > best[0]:
            best = (depth, price)
    return None if best is None else best[1]


@dataclass(frozen=True)
class CexDexParams:
    """How CEX<->DEX edges are priced: the CEX side walks the book (taker fee), the DEX side swaps exactly."""

    trade_size_usd: Decimal
    fee: Callable[[str, str], Decimal]  # (venue, symbol) -> CEX taker fee rate
    quote_usd: Mapping[str, Decimal]  # CEX quote currency -> USD (explicit)
    max_age_ms: int
    base_map: Mapping[str, str] = field(default_factory=lambda: {"WBTC": "BTC", "WETH": "ETH", "WMATIC": "MATIC"})
    gas_units: int = 130_000  # one DEX swap


@dataclass
class OnchainDetector:
    markets: Mapping[str, ChainMarket]
    plans: PlanBook
    max_hops: int = 3
    usd_decimals: int = 6
    cex_dex: CexDexParams | None = None
    _cycles: dict[tuple[str, frozenset[str]], list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)

    def find(self, batch: MarketBatch, state, now: datetime, next_id: Callable[[], str]) -> list[Opportunity]:
        out: list[Opportunity] = []
        for snap in batch.chains:
            m = self.markets.get(snap.chain)
            if m is None:
                continue
            out.extend(self.cycles(snap, m, now, next_id))
            if self.cex_dex is not None and state is not None:
                out.extend(self.cex_dex_edges(snap, m, state.fresh(now, self.cex_dex.max_age_ms), now, next_id))
        return out

    # ---- CEX <-> DEX ----
    def cex_dex_edges(self, snap: ChainSnapshot, m: ChainMarket, books: Sequence, now: datetime,
                      next_id: Callable[[], str]) -> list[Opportunity]:
        """Buy on one side, sell on the other, at the configured size, for every DEX pool of (wrapped base, USDC)
        and every fresh CEX book of that base. Detection only: no executor can do both legs atomically."""
        from arb.detect.cex import walk

        p = self.cex_dex
        assert p is not None
        pools = list(snap.pools.values())
        native_usd = _spot_in_usd(pools, m.native, m.usd)
        if native_usd is None:
            return []
        gas_wei = p.gas_units * (snap.base_fee_wei + m.priority_fee_wei)
        gas_usd = (Decimal(gas_wei) * native_usd / Decimal(10) ** self.usd_decimals).quantize(MONEY_QUANTUM)
        out: list[Opportunity] = []
        for pool in pools:
            if m.usd not in (pool.token0, pool.token1):
                continue
            token = pool.other(m.usd)
            base = p.base_map.get(m.symbols.get(token, ""), m.symbols.get(token, ""))
            unit = Decimal(10) ** m.decimals[token]
            for book in books:
                if book.base != base or not book.bids or not book.asks:
                    continue
                rate = p.quote_usd.get(book.quote_ccy)
                if rate is None:
                    continue
                usd_in = int(p.trade_size_usd * Decimal(10) ** self.usd_decimals)
                fee = p.fee(book.venue, book.symbol)
                try:
                    got = pool.amount_out(m.usd, usd_in)  # DEX: USDC -> token
                except (AmmRevert, ValueError):
                    continue
                size = (Decimal(got) / unit).quantize(Decimal("0.00000001"))
                filled, proceeds = walk(book.bids, size)  # CEX: sell the token's base
                cands = []
                if filled == size and size > 0:
                    sell_usd = proceeds * rate * (1 - fee)
                    cands.append((f"{m.name}:{m.venues.get(pool.address, pool.address[:10])}", book.venue,
                                  Decimal(usd_in) / Decimal(10) ** self.usd_decimals, sell_usd, proceeds * rate * fee))
                buy_size = p.trade_size_usd / (book.asks[0].price * rate)
                bfilled, cost = walk(book.asks, buy_size)  # CEX: buy the base
                if bfilled > 0:
                    try:
                        back = pool.amount_out(token, int(bfilled * unit))  # DEX: token -> USDC
                    except (AmmRevert, ValueError):
                        back = 0
                    if back > 0:
                        cands.append((book.venue, f"{m.name}:{m.venues.get(pool.address, pool.address[:10])}",
                                      cost * rate * (1 + fee), Decimal(back) / Decimal(10) ** self.usd_decimals,
                                      cost * rate * fee))
                for buy_venue, sell_venue, paid, received, cex_fee in cands:
                    gross = (received - paid + cex_fee).quantize(MONEY_QUANTUM)
                    if gross <= 0:
                        continue
                    fees = cex_fee.quantize(MONEY_QUANTUM)
                    net = gross - fees - gas_usd
                    notional = paid.quantize(MONEY_QUANTUM)
                    out.append(Opportunity(
                        id=next_id(), kind="cex_arb", route_id=f"{base}:{buy_venue}->{sell_venue}",
                        symbol=f"{m.symbols[token]}/USDC", sell_symbol=book.symbol, buy_venue=buy_venue,
                        sell_venue=sell_venue, chain=m.name, size=size, buy_price=Decimal(1), sell_price=Decimal(1),
                        notional_usd=notional, gross_edge_bps=(gross / notional * BPS).quantize(BPS_QUANTUM),
                        edge_bps=(net / notional * BPS).quantize(BPS_QUANTUM), gross_profit=gross, fees=fees,
                        gas=gas_usd, net_profit=net, liquidity_depth=Decimal(0), observed_at=now,
                        data_age_ms=max(0, int((now - min(book.timestamp, snap.timestamp)).total_seconds() * 1000)),
                        fee_rates=(fee, Decimal(0)), gas_wei=gas_wei,
                    ))
        return out

    # ---- cycles ----
    def _enumerate(self, m: ChainMarket, pools: Mapping[str, V2Pool | V3Pool]) -> list[tuple[str, tuple[str, ...]]]:
        key = (m.name, frozenset(pools))
        cached = self._cycles.get(key)
        if cached is not None:
            return cached
        by_token: dict[str, list[str]] = {}
        for addr, p in pools.items():
            by_token.setdefault(p.token0, []).append(addr)
            by_token.setdefault(p.token1, []).append(addr)
        cycles: list[tuple[str, tuple[str, ...]]] = []
        for a in sorted(m.flash_assets):
            for length in range(2, self.max_hops + 1):
                for combo in itertools.permutations(sorted(pools), length):
                    token = a
                    ok = True
                    for addr in combo:
                        p = pools[addr]
                        if token not in (p.token0, p.token1):
                            ok = False
                            break
                        token = p.other(token)
                    if ok and token == a:  # both directions of a cycle are kept; each starts at its loan asset
                        cycles.append((a, combo))
        self._cycles[key] = cycles
        return cycles

    def cycles(self, snap: ChainSnapshot, m: ChainMarket, now: datetime, next_id: Callable[[], str]
               ) -> list[Opportunity]:
        pools = dict(snap.pools)
        gas_price = snap.base_fee_wei + m.priority_fee_wei
        prices = self._prices(snap, m)  # once per snapshot, not once per cycle
        native_usd = prices.get(m.native)
        found: list[Opportunity] = []
        for asset, combo in self._enumerate(m, pools):
            route = make_route([pools[a] for a in combo], asset)
            if not self._probe(route, asset):
                continue
            asset_usd = prices.get(asset)
            if asset_usd is None or native_usd is None:
                continue
            gas_units = GAS_BASE + sum(GAS_PER_HOP[_key(h.pool)] for h in route)
            gas_wei = gas_units * gas_price
            # Gas in the asset's base units, rounded up: wei x (USD per wei) / (USD per asset unit).
            gas_in_asset = int(-(-(Decimal(gas_wei) * native_usd / asset_usd) // 1))
            opt = self._optimise(route, asset, m.premium_bps, gas_in_asset)
            if opt.amount_in <= 0:
                continue
            opp = self._opportunity(snap, m, route, asset, opt, gas_wei, prices, now, next_id())
            found.append(opp)
            hops = tuple(Hop(kind=0 if _key(h.pool) == "v2" else 1, pool=h.pool.address, token_in=h.token_in,
                             token_out=h.token_out, fee=getattr(h.pool, "fee_bps", 0) if _key(h.pool) == "v2" else 0)
                         for h in route)
            self.plans.put(opp.id, FlashPlan(chain=m.name, asset=asset, amount=opt.amount_in, hops=hops,
                                             min_profit=max(gas_in_asset, 1),
                                             predicted_profit_wei=opt.amount_out - opt.amount_in - opt.premium,
                                             gas_estimate=gas_units))
        return found

    @staticmethod
    def _probe(route: Sequence[AmmHop], asset: str) -> bool:
        x = max(_reserve_of(route[0].pool, asset) // PROBE_FRACTION, 1_000)
        try:
            return route_output(route, x) > x
        except AmmRevert:
            return False

    @staticmethod
    def _optimise(route: Sequence[AmmHop], asset: str, premium_bps: int, gas_in_asset: int) -> Optimum:
        try:
            if len(route) == 2 and all(isinstance(h.pool, V2Pool) for h in route):
                return optimal_two_pool_v2(route[0].pool, route[1].pool, asset, premium_bps=premium_bps,
                                           gas_cost_wei=gas_in_asset, patience=POLISH_STEPS)
            return optimal_route_input(route, premium_bps=premium_bps, gas_cost_wei=gas_in_asset,
                                       local_scan=POLISH_STEPS)
        except AmmRevert:
            return Optimum(0, 0)

    def _opportunity(self, snap: ChainSnapshot, m: ChainMarket, route: Sequence[AmmHop], asset: str, opt: Optimum,
                     gas_wei: int, prices: Mapping[str, Decimal | None], now: datetime, opp_id: str) -> Opportunity:
        sym = m.symbols
        asset_usd, native_usd = prices[asset], prices[m.native]
        assert asset_usd is not None and native_usd is not None
        dec = m.decimals[asset]
        unit = Decimal(10) ** dec
        gross_wei = opt.amount_out - opt.amount_in
        q = MONEY_QUANTUM
        usd_per_unit = asset_usd / Decimal(10) ** self.usd_decimals  # asset_usd: USD base units per asset base unit
        notional = (Decimal(opt.amount_in) * usd_per_unit).quantize(q)
        gross = (Decimal(gross_wei) * usd_per_unit).quantize(q)
        fees = (Decimal(opt.premium) * usd_per_unit).quantize(q)
        gas = (Decimal(gas_wei) * native_usd / Decimal(10) ** self.usd_decimals).quantize(q)
        net = gross - fees - gas
        path = [sym[asset]]
        for h in route:
            path += [m.venues.get(h.pool.address, h.pool.address[:10]), sym[h.token_out]]
        tokens = [sym[h.token_in] for h in route]
        depth = min(self._depth_usd(h, prices) for h in route)
        return Opportunity(
            id=opp_id, kind="flash_loan", route_id=f"{m.name}:" + ">".join(path),
            symbol="/".join(tokens), sell_symbol="/".join(tokens),
            buy_venue=path[1], sell_venue=path[-2], chain=m.name,
            size=(Decimal(opt.amount_in) / unit), buy_price=Decimal(1),
            sell_price=(Decimal(opt.amount_out) / Decimal(opt.amount_in)),
            notional_usd=notional,
            gross_edge_bps=(gross / notional * BPS).quantize(BPS_QUANTUM) if notional else Decimal(0),
            edge_bps=(net / notional * BPS).quantize(BPS_QUANTUM) if notional else Decimal(0),
            gross_profit=gross, fees=fees, gas=gas, net_profit=net, liquidity_depth=depth,
            observed_at=now, data_age_ms=max(0, int((now - snap.timestamp).total_seconds() * 1000)),
            fee_rates=(Decimal(m.premium_bps) / BPS, Decimal(0)),
            gas_wei=gas_wei, gross_profit_wei=gross_wei, net_profit_wei=opt.profit,
        )

    @staticmethod
    def _prices(snap: ChainSnapshot, m: ChainMarket) -> dict[str, Decimal | None]:
        """Every token's mid price in USD base units per token base unit, from this snapshot's pools."""
        pools = list(snap.pools.values())
        return {token: _spot_in_usd(pools, token, m.usd) for token in m.symbols}

    def _depth_usd(self, hop: AmmHop, prices: Mapping[str, Decimal | None]) -> Decimal:
        """Twice the (virtual, for V3) reserve of the hop's input token, in USD: the pool's depth."""
        price = prices.get(hop.token_in)
        if price is None:
            return Decimal(0)
        value = Decimal(2 * _reserve_of(hop.pool, hop.token_in)) * price / Decimal(10) ** self.usd_decimals
        return value.quantize(MONEY_QUANTUM)


def _reserve_of(pool: V2Pool | V3Pool, token: str) -> int:
    """A V2 reserve, or a V3 pool's virtual reserve at its price (L / sqrtP for token0, L * sqrtP for token1)."""
    if isinstance(pool, V2Pool):
        return pool.reserve0 if pool.token0 == token else pool.reserve1
    if pool.sqrt_price_x96 <= 0:
        return 0
    if pool.token0 == token:
        return pool.liquidity * 2**96 // pool.sqrt_price_x96
    return pool.liquidity * pool.sqrt_price_x96 // 2**96
