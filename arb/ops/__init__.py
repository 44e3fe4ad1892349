"""Operations: what the running system reports about itself.

:mod:`arb.ops.metrics` reads (never writes) the warehouse; :mod:`arb.ops.alerts` evaluates the design's monitoring
alerts on its snapshots (pure, apart from the monitor's callbacks). The dashboard API (:mod:`arb.api`) and the engine's
alert monitor build on them.
"""
