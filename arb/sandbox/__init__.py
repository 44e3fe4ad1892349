"""The sandbox market: a driver (reference prices, noise traders, competing searchers) and a BookSource that runs it
block by block on the sandbox chains (automine off, simulated 2022-12-13 time).

    from arb.sandbox import SandboxSource
    source = SandboxSource("../shared/data/cex-minute-bars-20221213", duration=timedelta(minutes=10))
    for batch in source.batches(): ...
    source.close()
"""

from arb.sandbox.driver import SIM_START, DriverParams, MarketDriver, ReferencePrices
from arb.sandbox.source import SandboxSource, sim_sandbox

__all__ = ["SIM_START", "DriverParams", "MarketDriver", "ReferencePrices", "SandboxSource",
           "sim_sandbox"]
