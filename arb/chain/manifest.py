"""The chain manifest: per chain, which tokens, venues, pools and contracts exist, and where.

One schema describes both a sandbox we deployed (``sandbox=true``, with ``rpc_url``, ``deployer`` and
``deployed_block``) and a real network, where a user writes in the addresses of the real tokens, factories and pools
(``sandbox=false``; the RPC URL then comes from settings, because real RPC URLs usually embed a provider key).

Units: token amounts are never stored here. ``fee`` of a pool is in Uniswap V3 units, hundredths of a basis point
(3000 = 0.30%), for V2 pools too; a V2 venue's ``fee_bps`` is in basis points (30 = 0.30%). ``token0``/``token1`` are
symbols from the chain's ``tokens``, in Uniswap's order (token0 has the lower address).

The manifest holds addresses only: never a private key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from eth_utils import to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from arb.errors import ConfigError

SCHEMA_VERSION = 1
_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_SYMBOL = re.compile(r"^[A-Za-z0-9.]{1,16}$")
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _checksummed(v: str) -> str:
    if not _HEX_ADDRESS.match(v):
        raise ValueError(f"{v!r} is not an address (0x followed by 40 hex digits)")
    good = to_checksum_address(v)
    if v != good:
        raise ValueError(f"{v} is not checksummed (EIP-55): write {good}")
    return v


Address = Annotated[str, AfterValidator(_checksummed)]
Kind = Literal["v2", "v3"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TokenInfo(_Frozen):
    address: Address
    decimals: int = Field(ge=0, le=36)


class VenueInfo(_Frozen):
    kind: Kind
    factory: Address
    router: Address | None = None  # v2: UniswapV2Router02; v3: SwapRouter
    quoter: Address | None = None  # v3: QuoterV2
    position_manager: Address | None = None  # v3: NonfungiblePositionManager
    fee_bps: int | None = Field(default=None, ge=0, le=10_000)  # v2 only
    fee_tiers: tuple[int, ...] = ()  # v3 only, hundredths of a bp

    @model_validator(mode="after")
    def _kind_fields(self) -> VenueInfo:
        if self.kind == "v2":
            if self.fee_bps is None:
                raise ValueError("a v2 venue needs fee_bps (30 for Uniswap V2 and its forks)")
            if self.fee_tiers or self.quoter or self.position_manager:
                raise ValueError("a v2 venue has no fee_tiers, quoter or position_manager")
        else:
            if not self.fee_tiers:
                raise ValueError("a v3 venue needs fee_tiers, e.g. [500, 3000, 10000]")
            if self.fee_bps is not None:
                raise ValueError("a v3 venue has fee_tiers, not fee_bps")
        return self


class PoolInfo(_Frozen):
    venue: str
    kind: Kind
    address: Address
    token0: str
    token1: str
    fee: int = Field(ge=0, lt=1_000_000)  # hundredths of a bp


class ContractsInfo(_Frozen):
    flash_pool: Address | None = None  # Aave V3 Pool (mainnet) or our FlashLoanPool (sandbox)
    executor: Address | None = None  # our ArbExecutor
    batch_reader: Address | None = None  # our BatchReader
    multicall3: Address | None = None


class ChainManifest(_Frozen):
    name: str
    chain_id: int = Field(gt=0)
    sandbox: bool = False
    rpc_url: str | None = None  # sandboxes only (a local URL); real networks take it from settings
    deployer: Address | None = None
    deployed_block: int | None = Field(default=None, ge=0)
    native: str  # symbol of the wrapped native token
    tokens: dict[str, TokenInfo]
    venues: dict[str, VenueInfo]
    pools: tuple[PoolInfo, ...] = ()
    contracts: ContractsInfo = ContractsInfo()

    @model_validator(mode="after")
    def _consistent(self) -> ChainManifest:
        problems: list[str] = []
        known = ", ".join(sorted(self.tokens)) or "none"
        for sym in self.tokens:
            if not _SYMBOL.match(sym):
                problems.append(f"tokens: {sym!r} is not a token symbol (1-16 letters, digits or dots)")
        if self.native not in self.tokens:
            problems.append(f"native: unknown token symbol {self.native!r} (known: {known})")
        by_address: dict[str, str] = {}
        for sym, t in self.tokens.items():
            other = by_address.setdefault(t.address, sym)
            if other != sym:
                problems.append(f"tokens.{sym}: same address as {other} ({t.address})")
        if self.rpc_url is not None:
            host = urlparse(self.rpc_url).hostname
            if host not in _LOCAL_HOSTS:
                problems.append("rpc_url: only a local sandbox URL belongs in the manifest (real RPC URLs usually "
                                "embed a provider key: set ETH_RPC_URL / POLYGON_RPC_URL instead)")
        seen_addr: set[str] = set()
        seen_key: set[tuple[str, str, str, int]] = set()
        for i, p in enumerate(self.pools):
            where = f"pools[{i}] ({p.venue} {p.token0}/{p.token1})"
            venue = self.venues.get(p.venue)
            if venue is None:
                problems.append(f"{where}: unknown venue {p.venue!r} (known: {', '.join(sorted(self.venues))})")
            elif venue.kind != p.kind:
                problems.append(f"{where}: kind {p.kind!r} but venue {p.venue!r} is {venue.kind!r}")
            elif venue.kind == "v2" and venue.fee_bps is not None and p.fee != venue.fee_bps * 100:
                problems.append(f"{where}: fee {p.fee} but the v2 venue charges {venue.fee_bps} bps "
                                f"(= {venue.fee_bps * 100} in hundredths of a bp)")
            elif venue.kind == "v3" and p.fee not in venue.fee_tiers:
                problems.append(f"{where}: fee {p.fee} is not one of the venue's fee tiers {list(venue.fee_tiers)}")
            bad = [s for s in (p.token0, p.token1) if s not in self.tokens]
            for s in bad:
                problems.append(f"{where}: unknown token symbol {s!r} (known: {known})")
            if not bad:
                if p.token0 == p.token1:
                    problems.append(f"{where}: token0 and token1 are the same token")
                elif int(self.tokens[p.token0].address, 16) > int(self.tokens[p.token1].address, 16):
                    problems.append(f"{where}: token0 must have the lower address (Uniswap's order): "
                                    f"swap token0 and token1")
            if p.address in seen_addr:
                problems.append(f"{where}: address {p.address} listed twice")
            seen_addr.add(p.address)
            key = (p.venue, p.token0, p.token1, p.fee)
            if key in seen_key:
                problems.append(f"{where}: the same venue, pair and fee is listed twice")
            seen_key.add(key)
        if self.sandbox and self.rpc_url is None:
            problems.append("rpc_url: a sandbox chain needs its local rpc_url")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ---- lookups ----
    def token(self, symbol: str) -> TokenInfo:
        try:
            return self.tokens[symbol]
        except KeyError:
            raise KeyError(f"{self.name}: unknown token {symbol!r} (known: {', '.join(sorted(self.tokens))})") from None

    def symbol_of(self, address: str) -> str:
        a = to_checksum_address(address)
        for sym, t in self.tokens.items():
            if t.address == a:
                return sym
        raise KeyError(f"{self.name}: no token at {a}")

    def pools_of(self, venue: str | None = None, kind: Kind | None = None) -> tuple[PoolInfo, ...]:
        return tuple(p for p in self.pools if (venue is None or p.venue == venue) and (kind is None or p.kind == kind))

    def pool(self, venue: str, a: str, b: str, fee: int | None = None) -> PoolInfo:
        pair = {a, b}
        found = [p for p in self.pools if p.venue == venue and {p.token0, p.token1} == pair
                 and (fee is None or p.fee == fee)]
        if len(found) != 1:
            raise KeyError(f"{self.name}: {len(found)} pools for {venue} {a}/{b} fee={fee}")
        return found[0]


class Manifest(_Frozen):
    version: Literal[1] = SCHEMA_VERSION
    chains: dict[str, ChainManifest]

    @model_validator(mode="after")
    def _chains(self) -> Manifest:
        problems = [f"chains.{k}: key differs from its name {c.name!r}" for k, c in self.chains.items() if k != c.name]
        ids: dict[int, str] = {}
        for k, c in self.chains.items():
            other = ids.setdefault(c.chain_id, k)
            if other != k:
                problems.append(f"chains.{k}: chain id {c.chain_id} is also {other}'s")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def chain(self, name: str) -> ChainManifest:
        try:
            return self.chains[name]
        except KeyError:
            raise KeyError(f"no chain {name!r} in the manifest (has: {', '.join(self.chains)})") from None

    # ---- files ----
    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=True) + "\n"

    def write(self, path: str | Path) -> Path:
        """Write atomically (a temporary file in the same folder, then rename): readers never see half a file."""
        from arb.files import write_atomic

        return write_atomic(path, self.to_json())

    @classmethod
    def parse(cls, text: str, source: str = "manifest") -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError([(source, f"not valid JSON: {e}")]) from None
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise ConfigError([(f"{source}: {_loc(err['loc'])}", _msg(err)) for err in e.errors()]) from None

    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        path = Path(path)
        if not path.exists():
            raise ConfigError([(str(path), "no manifest here: start a sandbox (it writes one) or write one by hand")])
        return cls.parse(path.read_text(encoding="utf-8"), str(path))


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-after") or part.startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _msg(err: dict) -> str:
    msg = str(err.get("msg", ""))
    return msg.removeprefix("Value error, ")


def read(path: str | Path) -> Manifest:
    return Manifest.read(path)


def write(manifest: Manifest, path: str | Path) -> Path:
    return manifest.write(path)
