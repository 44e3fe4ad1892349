"""Structured JSON logging on the stdlib ``logging`` module: one JSON object per line, so ``tail -f | jq .`` works.

Each line has ``ts`` (ISO-8601 UTC, milliseconds, ``Z``), ``level``, ``logger``, ``event`` (the message), every
``extra={...}`` field flattened at the top level, and ``exc`` (traceback text) when an exception is logged.

Values are made JSON-safe without losing meaning: ``Decimal`` becomes a string (exact), datetimes ISO-8601, enums
their value, pydantic models ``model_dump(mode="json")``, non-finite floats strings (JSON has no NaN).

Redaction, belt and braces: a ``SecretStr`` anywhere becomes ``"**********"``; a string equal to a registered secret
(:func:`register_secret`; :func:`arb.settings.load_settings` registers the settings' secrets) becomes
``"[REDACTED]"``, and a registered secret of 8+ characters is cut out of longer strings (messages, tracebacks).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import logging.handlers
import math
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any
from uuid import UUID

from pydantic import BaseModel, SecretBytes, SecretStr

MASK = "**********"
REDACTED = "[REDACTED]"
_MIN_SUBSTRING = 8  # shorter secrets are only redacted when a value equals them (avoids mangling ordinary text)
_HANDLER_MARK = "_arb_logs_handler"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_TOP_KEYS = ("ts", "level", "logger", "event", "exc", "stack")

# Unicode line breaks that json.dumps(ensure_ascii=False) leaves raw; escaped so one record stays one line for any
# line splitter (str.splitlines, editors), not only for "\n"-based ones.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secret(value: str | SecretStr | None) -> None:
    """Redact this value from every log line from now on. Empty values are ignored."""
    global _secrets
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value:
        return
    with _lock:
        _secrets = _secrets | {value}


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    global _secrets
    with _lock:
        _secrets = frozenset()


def scrub(text: str) -> str:
    """``text`` with registered secrets removed."""
    secrets = _secrets
    if not secrets:
        return text
    if text in secrets:
        return REDACTED
    for s in sorted(secrets, key=len, reverse=True):
        if len(s) >= _MIN_SUBSTRING and s in text:
            text = text.replace(s, REDACTED)
    return text


def redact(value: Any) -> Any:
    """A JSON-safe, redacted copy of ``value``."""
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if isinstance(value, enum.Enum):  # before str/int: StrEnum and IntEnum are both
        return redact(value.value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)  # exact: a float would round money
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID | PurePath):
        return scrub(str(value))
    if isinstance(value, BaseModel):
        try:
            return redact(value.model_dump(mode="json"))
        except Exception:  # a model that cannot serialise itself is still logged, as text
            return scrub(repr(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return redact({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Mapping):
        return {scrub(str(k)): redact(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [redact(v) for v in sorted(value, key=repr)]
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, bytes):
        return scrub(value.hex())
    return scrub(str(value))


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")}


class RedactionFilter(logging.Filter):
    """Redacts the rendered message and the secret-bearing extras in place, before the record is formatted.

    Only what needs redaction is replaced (``SecretStr`` -> mask, strings scrubbed), so other handlers on the same
    record still see Decimals as Decimals. Containers and models are redacted by the formatters.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()  # SecretStr arguments render as their mask
        except Exception:  # a bad format string must not kill logging
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = scrub(message), None
        for k, v in _extras(record).items():
            if isinstance(v, SecretStr | SecretBytes):
                setattr(record, k, MASK)
            elif isinstance(v, str):
                setattr(record, k, scrub(v))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Redacts again (a record may reach it without passing the filter)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out: dict[str, Any] = {
            "ts": ts,
            "level": record.levelname,
            "logger": record.name,
            "event": scrub(record.getMessage()),
        }
        for k, v in _extras(record).items():
            out[f"{k}_" if k in _TOP_KEYS else k] = redact(v)
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exc"] = scrub(record.exc_text)
        if record.stack_info:
            out["stack"] = scrub(self.formatStack(record.stack_info))
        line = json.dumps(out, ensure_ascii=False, allow_nan=False, default=lambda o: scrub(str(o)))
        return line.translate(_LINE_BREAKS)


class ConsoleFormatter(logging.Formatter):
    """Human-readable: ``ts LEVEL logger event key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
        extras = " ".join(f"{k}={json.dumps(redact(v), ensure_ascii=False)}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<7} {record.name} {scrub(record.getMessage())}"
        line += f" {extras}" if extras else ""
        if record.exc_info:
            line += "\n" + scrub(self.formatException(record.exc_info))
        return line


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    mapping = logging.getLevelNamesMapping()
    name = level.strip().upper()
    if name not in mapping:
        raise ValueError(f"unknown log level {level!r}; use one of: DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return mapping[name]


def setup_logging(log_path: Path, level: str = "INFO", *, console: bool = False) -> None:
    """Send every log record (ours and libraries') to ``log_path`` as JSON lines, and to stderr if ``console``.

    Idempotent: calling it again replaces the handlers it installed before (e.g. with another path or level)
    instead of adding more. The file handler reopens the file if it is rotated away (``WatchedFileHandler``).
    """
    numeric = _level(level)
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    reset_logging()
    root = logging.getLogger()
    handlers: list[logging.Handler] = []
    file_handler = logging.handlers.WatchedFileHandler(log_path, encoding="utf-8")
    file_handler.setFormatter(JsonFormatter())
    handlers.append(file_handler)
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(ConsoleFormatter())
        handlers.append(stream)
    for h in handlers:
        setattr(h, _HANDLER_MARK, True)
        h.setLevel(numeric)
        h.addFilter(RedactionFilter())
        root.addHandler(h)
    root.setLevel(numeric)


def reset_logging() -> None:
    """Remove and close the handlers :func:`setup_logging` installed (other handlers are left alone)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _HANDLER_MARK, False):
            root.removeHandler(h)
            h.close()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)``; use ``__name__`` so records say where they came from."""
    return logging.getLogger(name)

