"""Market data: sources (live ccxt, Lean replay, recordings), validation, the latest valid books, fees.

ccxt and pyarrow are imported only by the modules that need them (``arb.market.ccxt_source``,
``arb.market.recording`` on use), so importing this package stays cheap.
"""

from arb.market.fees import FeeSchedule
from arb.market.lean import LeanBookSource, ReplayParams
from arb.market.recording import RecordingSource, RecordingWriter, lean_to_recording
from arb.market.source import BookSource, MarketBatch
from arb.market.validate import DataQuality, MarketState, validate_book

__all__ = [
    "BookSource",
    "DataQuality",
    "FeeSchedule",
    "LeanBookSource",
    "MarketBatch",
    "MarketState",
    "RecordingSource",
    "RecordingWriter",
    "ReplayParams",
    "lean_to_recording",
    "validate_book",
]
