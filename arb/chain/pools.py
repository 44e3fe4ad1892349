"""The sandbox market, as data: tokens, venues, pools, reference prices and liquidity per chain.

Prices are the reference prices of 2022-12-13 (the day of the recorded CEX data). Each pool's price is the reference
price of ``base`` in ``quote`` moved by ``offset_bps``, so the two venues of a chain disagree by tens of basis points:
some gaps exceed two V2 fees plus the flash-loan premium (about 65 bps: a profitable arbitrage), others do not.

Liquidity (``depth_usd``) is the pool's total value at reference prices, both sides together.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

# USD reference prices, 2022-12-13.
REFERENCE_USD: dict[str, Decimal] = {
    "WETH": Decimal("1320"),
    "WBTC": Decimal("17200"),
    "WMATIC": Decimal("0.87"),
    "USDC": Decimal("1"),
    "DAI": Decimal("1"),
}

TokenKind = Literal["weth9", "erc20"]


@dataclass(frozen=True)
class TokenSpec:
    symbol: str
    decimals: int
    kind: TokenKind = "erc20"  # "weth9": the real WETH9 bytecode (the chain's wrapped native token)
    name: str = ""

    @property
    def usd(self) -> Decimal:
        return REFERENCE_USD[self.symbol]


@dataclass(frozen=True)
class V2PoolSpec:
    base: str
    quote: str
    depth_usd: int
    offset_bps: int = 0


@dataclass(frozen=True)
class V2VenueSpec:
    name: str
    pools: tuple[V2PoolSpec, ...]
    fee_bps: int = 30  # the real UniswapV2Pair hard-codes 0.30%


@dataclass(frozen=True)
class V3PoolSpec:
    base: str
    quote: str
    fee: int  # Uniswap V3 units: hundredths of a basis point (500 = 0.05%)
    offset_bps: int
    full_range_usd: int  # value of the full-range position
    concentrated_usd: int = 0  # value of an extra position within +-range_pct of the price
    range_pct: int = 5


@dataclass(frozen=True)
class V3VenueSpec:
    name: str
    pools: tuple[V3PoolSpec, ...]
    fee_tiers: tuple[int, ...] = (500, 3000, 10000)  # the real UniswapV3Factory enables these three at construction


@dataclass(frozen=True)
class ChainSpec:
    name: str
    chain_id: int
    native: str  # symbol of the wrapped native token (deployed from the WETH9 bytecode)
    tokens: tuple[TokenSpec, ...]
    v2_venues: tuple[V2VenueSpec, ...]
    v3_venues: tuple[V3VenueSpec, ...] = ()
    flash_funding_usd: int = 50_000_000  # per token, deposited into the FlashLoanPool
    deployer_float_usd: int = 200_000_000  # per token, left with the deployer for trading

    def token(self, symbol: str) -> TokenSpec:
        for t in self.tokens:
            if t.symbol == symbol:
                return t
        raise KeyError(f"{self.name}: unknown token {symbol!r} (known: {', '.join(t.symbol for t in self.tokens)})")


def pool_price(base: str, quote: str, offset_bps: int) -> Decimal:
    """Price of one ``base`` in ``quote`` units (whole tokens), moved by ``offset_bps``."""
    return REFERENCE_USD[base] / REFERENCE_USD[quote] * (1 + Decimal(offset_bps) / 10_000)


def split_depth(base: TokenSpec, quote: TokenSpec, depth_usd: int, offset_bps: int) -> tuple[int, int]:
    """Base-unit amounts (base, quote) of a pool worth ``depth_usd`` (half each side) at the offset price."""
    base_whole = Decimal(depth_usd) / 2 / base.usd
    quote_whole = base_whole * pool_price(base.symbol, quote.symbol, offset_bps)
    return int(base_whole * 10**base.decimals), int(quote_whole * 10**quote.decimals)


ETHEREUM = ChainSpec(
    name="ethereum",
    chain_id=31337,
    native="WETH",
    tokens=(
        TokenSpec("WETH", 18, "weth9", "Wrapped Ether"),
        TokenSpec("USDC", 6, name="USD Coin"),
        TokenSpec("WBTC", 8, name="Wrapped BTC"),
        TokenSpec("DAI", 18, name="Dai Stablecoin"),
    ),
    v2_venues=(
        V2VenueSpec("uniswap-v2", (
            V2PoolSpec("WETH", "USDC", 10_000_000),
            V2PoolSpec("WBTC", "USDC", 6_000_000),
            V2PoolSpec("WETH", "WBTC", 5_000_000),
            V2PoolSpec("DAI", "USDC", 8_000_000),
            V2PoolSpec("WETH", "DAI", 4_000_000),
        )),
        V2VenueSpec("sushiswap", (
            V2PoolSpec("WETH", "USDC", 6_000_000, offset_bps=85),   # > 65 bps: profitable V2/V2 arbitrage
            V2PoolSpec("WBTC", "USDC", 3_000_000, offset_bps=-70),  # profitable the other way
            V2PoolSpec("WETH", "WBTC", 3_000_000, offset_bps=30),   # below fees
            V2PoolSpec("DAI", "USDC", 2_000_000, offset_bps=15),    # below fees
            V2PoolSpec("WETH", "DAI", 2_500_000, offset_bps=40),    # below fees; triangles within sushiswap differ
        )),
    ),
    v3_venues=(
        V3VenueSpec("uniswap-v3", (
            V3PoolSpec("WETH", "USDC", 500, offset_bps=-10, full_range_usd=2_000_000, concentrated_usd=2_000_000),
            V3PoolSpec("WETH", "USDC", 3000, offset_bps=20, full_range_usd=4_000_000),
            V3PoolSpec("WBTC", "USDC", 3000, offset_bps=35, full_range_usd=4_000_000),
            V3PoolSpec("WETH", "WBTC", 3000, offset_bps=-25, full_range_usd=3_000_000),
        )),
    ),
)

POLYGON = ChainSpec(
    name="polygon",
    chain_id=31338,
    native="WMATIC",
    tokens=(
        TokenSpec("WMATIC", 18, "weth9", "Wrapped Matic"),
        TokenSpec("WETH", 18, name="Wrapped Ether"),  # bridged ERC20 on Polygon, as on the real chain
        TokenSpec("USDC", 6, name="USD Coin"),
        TokenSpec("WBTC", 8, name="Wrapped BTC"),
        TokenSpec("DAI", 18, name="Dai Stablecoin"),
    ),
    v2_venues=(
        V2VenueSpec("quickswap", (
            V2PoolSpec("WMATIC", "USDC", 4_000_000),
            V2PoolSpec("WETH", "USDC", 4_000_000),
            V2PoolSpec("WBTC", "USDC", 2_000_000),
            V2PoolSpec("DAI", "USDC", 3_000_000),
            V2PoolSpec("WMATIC", "WETH", 3_000_000),
        )),
        V2VenueSpec("sushiswap", (
            V2PoolSpec("WMATIC", "USDC", 2_500_000, offset_bps=75),   # profitable
            V2PoolSpec("WETH", "USDC", 3_000_000, offset_bps=-45),    # below fees
            V2PoolSpec("WBTC", "USDC", 2_000_000, offset_bps=90),     # profitable
            V2PoolSpec("DAI", "USDC", 2_000_000, offset_bps=-12),     # below fees
            V2PoolSpec("WMATIC", "WETH", 2_000_000, offset_bps=25),   # below fees
        )),
    ),
    flash_funding_usd=20_000_000,
)

CHAINS: dict[str, ChainSpec] = {c.name: c for c in (ETHEREUM, POLYGON)}
