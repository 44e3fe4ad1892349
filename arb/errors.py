"""One small error hierarchy. Adapters translate library errors once, where they enter.

The engine branches on these categories, never on a bare ``Exception``:

- ``TransientError``: retry with backoff (network blips, a locked warehouse file).
- ``FatalError``: stop and alert (misconfiguration discovered at run time, a corrupt warehouse).
- ``Rejected``: an expected outcome; record it and move on.
- ``BadInput``: invalid data; count it by reason, drop it, never trade on it.
"""

from __future__ import annotations


class ArbError(Exception):
    """Base of every error this project raises on purpose."""


class TransientError(ArbError):
    """Retry with backoff."""


class FatalError(ArbError):
    """Stop, alert, and tell the user what to do."""


class Rejected(ArbError):
    """An expected negative outcome (a risk limit, a threshold)."""


class BadInput(ArbError):
    """Invalid data. ``reason`` is a short machine-readable key used for counting."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class ConfigError(FatalError):
    """A setting is invalid. ``problems`` lists (variable, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{name}: {msg}" for name, msg in problems))
