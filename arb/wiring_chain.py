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

    sandbox = sim_sandbox(manifest_path=settings.sandbox_manifest_path).start()
    closers: list[Callable[[], None]] = [sandbox.stop]
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
        # that key on any chain this process did not start.
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
