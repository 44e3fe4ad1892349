"""The one error the AMM math raises: a revert, as the contract would have reverted.

``AmmRevert`` is a ``ValueError`` (bad numbers in) and an :class:`arb.errors.Rejected` (an expected negative outcome for
a candidate route). ``reason`` is the contract's require reason where it has one (``"UniswapV2: K"``, ``"SPL"``,
``"LS"``), otherwise a short description of the failing require (the V3 math libraries revert without a reason string).
"""

from __future__ import annotations

from arb.errors import Rejected


class AmmRevert(Rejected, ValueError):
    """The contract would revert. ``reason`` is the on-chain require reason (or a short description)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
