"""Builds the on-chain side from Settings: the sandbox chains, their source, the on-chain detector and the
flash-loan executor. (The one other place that constructs clients, beside :mod:`arb.wiring`; kept apart so the CEX-only
paths never import web3.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from arb.chain.anvil import DEV_KEYS
from arb.chain.artifacts import load
from arb.chain.manifest import ChainManifest
from arb.detect.onchain import ChainMarket, OnchainDetector, _spot_in_usd
from arb.execute.flashloan import FlashLoanExecutor, PlanBook
from arb.execute.gas import FeePolicy
from arb.market.lean import ReplayParams
from arb.settings import Settings

GWEI = Decimal(10**9)
USD_SYMBOL = "USDC"


def gwei(x: Decimal) -> int:
    return int(x * GWEI)


def chain_market(m: ChainManifest, w3: Web3, priority_fee_wei: int) -> ChainMarket:
    """The detector's view of a chain from its manifest; the flash-loan premium is read from the pool now."""
    if m.contracts.flash_pool is None:
        raise ValueError(f"{m.name}: the manifest has no flash_pool contract")
    pool = w3.eth.contract(address=m.contracts.flash_pool, abi=load("FlashLoanPool").abi)
    premium = int(pool.functions.FLASHLOAN_PREMIUM_TOTAL().call())
    symbols = {t.address: s for s, t in m.tokens.items()}
    return ChainMarket(
        name=m.name,
        symbols=symbols,
        decimals={t.address: t.decimals for t in m.tokens.values()},
        venues={p.address: p.venue for p in m.pools},
        native=m.tokens[m.native].address,
        usd=m.tokens[USD_SYMBOL].address,
        flash_assets=frozenset(symbols),
        premium_bps=premium,
        priority_fee_wei=priority_fee_wei,
    )


@dataclass
class ChainStack:
    source: Any
    detector: OnchainDetector
    executor: FlashLoanExecutor
    markets: dict[str, ChainMarket]
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for c in reversed(self.closers):
            try:
                c()
            except Exception:  # noqa: BLE001 - shutting down: try every closer
                pass


def build_sandbox_stack(settings: Settings, data: str | Path, *, duration: timedelta | None,
                        next_id: Callable[[], str]) -> ChainStack:
    from arb.sandbox.driver import DriverParams
    from arb.sandbox.source import SandboxSource, sim_sandbox

    if settings.sandbox_state_path is not None:
        sandbox = attach_sandbox(settings.sandbox_state_path)
    else:
        sandbox = sim_sandbox(manifest_path=settings.sandbox_manifest_path).start()
    closers: list[Callable[[], None]] = [sandbox.stop]  # an attached sandbox only detaches: its chains keep running
    try:
        tip = gwei(settings.priority_fee_gwei)
        markets = {n: chain_market(c.manifest, c.w3, tip) for n, c in sandbox.chains.items()}
        plans = PlanBook()
        from arb.detect.onchain import CexDexParams
        from arb.wiring import fee_schedule

        fees = fee_schedule(settings)
        detector = OnchainDetector(markets, plans, cex_dex=CexDexParams(
            trade_size_usd=settings.cex_trade_size_usd, fee=lambda v, s: fees.taker(v, s)[0],
            quote_usd=settings.quote_usd_rates, max_age_ms=settings.max_data_age_ms))
        params = DriverParams(seed=settings.sandbox_seed, p_compete=settings.sandbox_compete_probability)
        holder: dict[str, Any] = {}

        def to_usd(chain: str, token: str | None, units: int) -> Decimal:
            src = holder["source"]
            snap = src.snapshots[chain]
            m = markets[chain]
            price = _spot_in_usd(list(snap.pools.values()), token or m.native, m.usd)
            return Decimal(0) if price is None else Decimal(units) * price / Decimal(10**6)

        # The sandbox's executor owner is anvil's first development account (the deployer). The executor refuses
        # that key on any chain arb did not start (this process, or the sandbox supervisor verified by attach).
        owner = Account.from_key(DEV_KEYS[0])
        executor = FlashLoanExecutor(
            w3s={n: c.w3 for n, c in sandbox.chains.items()},
            contracts={n: c.manifest.contracts.executor for n, c in sandbox.chains.items()},
            owner=owner,
            fees=FeePolicy(priority_fee_wei=tip, cap_wei=gwei(settings.max_fee_gwei)),
            live=True,  # play money on chains arb started itself; refused anywhere else
            receipt_timeout=30.0,
            next_id=next_id,
            to_usd=to_usd,
            planner=plans,
            confirm_chain_ids=settings.confirmed_chain_ids,
        )
        closers.append(executor.close)
        source = SandboxSource(data, sandbox=sandbox, params=params, duration=duration,
                               replay=ReplayParams.from_settings(settings), before_mine=executor.wait_until_sent)
        holder["source"] = source
        closers.append(source.close)
        return ChainStack(source=source, detector=detector, executor=executor, markets=markets, closers=closers)
    except BaseException:
        for c in reversed(closers):
            c()
        raise


def attach_sandbox(state_path: str | Path) -> Any:
    """The running sandbox chains of ``arb sandbox up`` (SANDBOX_STATE_PATH), verified and attached, not owned."""
    from arb.chain.sandbox import Sandbox
    from arb.errors import FatalError

    path = Path(state_path)
    if not path.exists():
        raise FatalError(f"SANDBOX_STATE_PATH={path}: no such file, so no sandbox chains to attach to. Start them with "
                         f"`arb sandbox up`, or `python -m arb.chain.sandbox --state {path}`; or unset "
                         "SANDBOX_STATE_PATH to let this run start its own chains")
    return Sandbox.attach(path)


# Which settings variable gives the RPC URL of which manifest chain (real RPC URLs never live in the manifest).
RPC_SETTINGS = {"ethereum": "eth_rpc_url", "polygon": "polygon_rpc_url"}


def build_chain_stack(settings: Settings, *, duration: timedelta | None, next_id: Callable[[], str],
                      clock: Callable[[], Any] | None = None, sleep: Callable[[float], None] | None = None
                      ) -> ChainStack:
    """The on-chain engine against chains given by configuration (CHAIN_MANIFEST_PATH + ETH_RPC_URL /
    POLYGON_RPC_URL), not started by arb. Dry-run (ENABLE_EXECUTION=false) simulates with eth_call from the
    executor's owner and needs no key; live needs PRIVATE_KEY = that owner, and the executor refuses a chain whose id
    is not in LIVE_CONFIRM_CHAIN_IDS."""
    import logging

    from arb.chain.client import make_web3
    from arb.chain.manifest import Manifest
    from arb.detect.onchain import CexDexParams
    from arb.errors import FatalError
    from arb.execute.flashloan import redact_url
    from arb.market.chain_source import ChainSource
    from arb.wiring import fee_schedule

    log = logging.getLogger("arb.run")
    manifest = Manifest.read(settings.chain_manifest_path)
    chosen: dict[str, tuple[str, ChainManifest]] = {}
    for name, m in manifest.chains.items():
        field_name = RPC_SETTINGS.get(name)
        url = getattr(settings, field_name) if field_name else None
        if not url:
            log.warning("chain skipped: no RPC URL configured", extra={
                "chain": name, "variable": field_name.upper() if field_name else None,
                "hint": "only chains named ethereum (ETH_RPC_URL) and polygon (POLYGON_RPC_URL) can be watched"})
            continue
        chosen[name] = (url, m)
    if not chosen:
        raise FatalError(f"no chain of {settings.chain_manifest_path} has an RPC URL: set ETH_RPC_URL (chain "
                         f"'ethereum') and/or POLYGON_RPC_URL (chain 'polygon'); the manifest has "
                         f"{', '.join(manifest.chains) or 'no chains'}")
    live = settings.enable_execution and settings.enable_flash_loans
    tip = gwei(settings.priority_fee_gwei)
    w3s: dict[str, Web3] = {}
    markets: dict[str, ChainMarket] = {}
    owners: dict[str, str] = {}
    abi = load("ArbExecutor").abi
    for name, (url, m) in chosen.items():
        w3 = make_web3(url)
        where = f"chain {name} ({redact_url(url)})"
        try:
            chain_id = w3.eth.chain_id
        except Exception as e:  # noqa: BLE001 - report which chain, never the full URL
            raise FatalError(f"{where}: the RPC endpoint does not answer ({type(e).__name__})") from None
        if chain_id != m.chain_id:
            raise FatalError(f"{where}: the node's chain id is {chain_id} but the manifest says {m.chain_id}")
        if m.contracts.executor is None or m.contracts.flash_pool is None:
            raise FatalError(f"{name}: the manifest needs contracts.flash_pool (the Aave V3 Pool) and "
                             "contracts.executor (your ArbExecutor)")
        if USD_SYMBOL not in m.tokens:
            raise FatalError(f"{name}: the manifest needs a {USD_SYMBOL} token (profits are valued in USD)")
        markets[name] = chain_market(m, w3, tip)
        owners[name] = w3.eth.contract(address=m.contracts.executor, abi=abi).functions.owner().call()
        w3s[name] = w3
    owner_address = next(iter(owners.values()))
    if len(set(owners.values())) > 1:
        raise FatalError("the ArbExecutors of the configured chains have different owners: one PRIVATE_KEY signs for "
                         "all of them")
    owner = None
    if live:
        if settings.private_key is None:
            raise FatalError("ENABLE_EXECUTION=true needs PRIVATE_KEY (the ArbExecutor's owner) to send flash loans")
        owner = Account.from_key(settings.private_key.get_secret_value())
        if owner.address != Web3.to_checksum_address(owner_address):
            raise FatalError(f"PRIVATE_KEY signs for {owner.address}, but the ArbExecutor's owner is {owner_address}")

    plans = PlanBook()
    fees = fee_schedule(settings)
    detector = OnchainDetector(markets, plans, cex_dex=CexDexParams(
        trade_size_usd=settings.cex_trade_size_usd, fee=lambda v, s: fees.taker(v, s)[0],
        quote_usd=settings.quote_usd_rates, max_age_ms=settings.max_data_age_ms))
    kw: dict[str, Any] = {}
    if clock is not None:
        kw["clock"] = clock
    if sleep is not None:
        kw["sleep"] = sleep
    source = ChainSource(chosen, poll_interval=settings.poll_interval, duration=duration, **kw)
    closers: list[Callable[[], None]] = [source.close]

    def to_usd(chain: str, token: str | None, units: int) -> Decimal:
        snap = source.snapshots.get(chain)
        if snap is None:
            return Decimal(0)
        m = markets[chain]
        price = _spot_in_usd(list(snap.pools.values()), token or m.native, m.usd)
        return Decimal(0) if price is None else Decimal(units) * price / Decimal(10) ** m.decimals[m.usd]

    try:
        executor = FlashLoanExecutor(
            w3s=w3s, contracts={n: m.contracts.executor for n, (_, m) in chosen.items()},
            owner=owner, owner_address=owner_address,
            fees=FeePolicy(priority_fee_wei=tip, cap_wei=gwei(settings.max_fee_gwei)),
            live=live,  # refused on a chain this process did not start unless LIVE_CONFIRM_CHAIN_IDS lists it
            receipt_timeout=60.0, next_id=next_id, to_usd=to_usd, planner=plans,
            confirm_chain_ids=settings.confirmed_chain_ids,
        )
    except BaseException:
        source.close()
        raise
    closers.append(executor.close)
    return ChainStack(source=source, detector=detector, executor=executor, markets=markets, closers=closers)
