"""JSON-lines logging: parseable lines, flattened extras, exact Decimals, secrets never written."""

from __future__ import annotations

import enum
import json
import logging
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from arb import logs

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class Side(enum.Enum):
    BUY = "buy"


class Fill(BaseModel):
    price: Decimal
    api_key: SecretStr


@pytest.fixture(autouse=True)
def clean_logging():
    root = logging.getLogger()
    level = root.level
    logs.clear_secrets()
    yield
    logs.reset_logging()
    root.setLevel(level)
    logs.clear_secrets()


def _strict(text: str) -> dict:
    def no_constants(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=no_constants)


def lines(path: Path) -> list[dict]:
    for h in logging.getLogger().handlers:
        h.flush()
    return [_strict(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_creates_the_folder_and_writes_one_json_object_per_line(tmp_path):
    path = tmp_path / "deep" / "logs" / "arbitrage.log"
    logs.setup_logging(path)
    log = logs.get_logger("arb.test")
    log.info("first")
    log.warning("second %s", "arg")
    out = lines(path)
    assert [r["event"] for r in out] == ["first", "second arg"]
    assert [r["level"] for r in out] == ["INFO", "WARNING"]
    assert all(r["logger"] == "arb.test" and TS.match(r["ts"]) for r in out)
    assert abs(datetime.fromisoformat(out[0]["ts"]) - datetime.now(UTC)).total_seconds() < 60


def test_unicode_line_separators_keep_one_record_per_line(tmp_path):
    path = tmp_path / "a.log"
    logs.setup_logging(path)
    logs.get_logger("arb.test").info("a\u2028b\x85c\nd", extra={"note": "é\u2029"})
    (r,) = lines(path)  # splitlines() splits on U+2028/U+0085 too
    assert r["event"] == "a\u2028b\x85c\nd" and r["note"] == "é\u2029"


def test_extra_fields_are_flattened_and_typed_values_serialised(tmp_path):
    path = tmp_path / "a.log"
    logs.setup_logging(path)
    amount = Decimal("0.123456789012345678901234567")
    logs.get_logger("arb.test").info(
        "decision",
        extra={"amount": amount, "at": datetime(2022, 12, 13, 14, 30, tzinfo=UTC), "side": Side.BUY,
               "fill": Fill(price=Decimal("16999.5"), api_key=SecretStr("k" * 20)), "ratio": float("nan"),
               "route": ("binance", "bybit"), "path": tmp_path, "event": "clash"},
    )
    (r,) = lines(path)
    assert r["event"] == "decision" and r["event_"] == "clash"  # an extra never overwrites a top-level key
    assert r["amount"] == "0.123456789012345678901234567" and Decimal(r["amount"]) == amount
    assert r["at"] == "2022-12-13T14:30:00+00:00"
    assert r["side"] == "buy"
    assert r["fill"] == {"price": "16999.5", "api_key": logs.MASK}
    assert r["ratio"] == "nan"
    assert r["route"] == ["binance", "bybit"] and r["path"] == str(tmp_path)


def test_exception_is_logged_as_text(tmp_path):
    path = tmp_path / "a.log"
    logs.setup_logging(path)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logs.get_logger("arb.test").exception("failed", extra={"venue": "bybit"})
    (r,) = lines(path)
    assert "ZeroDivisionError" in r["exc"] and r["venue"] == "bybit" and r["level"] == "ERROR"


def test_level_filters_and_bad_level_is_rejected(tmp_path):
    path = tmp_path / "a.log"
    logs.setup_logging(path, "warning")
    log = logs.get_logger("arb.test")
    log.info("hidden")
    log.error("shown")
    assert [r["event"] for r in lines(path)] == ["shown"]
    with pytest.raises(ValueError, match="unknown log level"):
        logs.setup_logging(path, "LOUD")


def test_setup_twice_does_not_duplicate_lines(tmp_path):
    first, second = tmp_path / "one.log", tmp_path / "two.log"
    logs.setup_logging(first)
    logs.setup_logging(second)
    logs.setup_logging(second)
    logs.get_logger("arb.test").info("once")
    assert [r["event"] for r in lines(second)] == ["once"]
    assert lines(first) == []
    ours = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)
            and Path(h.baseFilename).parent == tmp_path]
    assert len(ours) == 1


def test_secrets_never_reach_the_file(tmp_path):
    path = tmp_path / "a.log"
    key = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    logs.register_secret(SecretStr(key))
    logs.register_secret("short")
    logs.setup_logging(path)
    log = logs.get_logger("arb.test")
    log.info("signing with %s", key)
    log.info("key=%s", SecretStr("another-secret-value"))
    log.info("context", extra={"key": key, "api": SecretStr("another-secret-value"), "nested": {"k": [key]},
                               "s": "short"})
    try:
        raise RuntimeError(f"bad key {key}")
    except RuntimeError:
        log.exception("boom")
    text = path.read_text()
    assert key not in text and key[2:] not in text and "another-secret-value" not in text
    out = lines(path)
    assert out[0]["event"] == f"signing with {logs.REDACTED}"
    assert out[1]["event"] == f"key={logs.MASK}"
    assert out[2]["key"] == logs.REDACTED and out[2]["api"] == logs.MASK and out[2]["nested"] == {"k": [logs.REDACTED]}
    assert out[2]["s"] == logs.REDACTED  # a short secret is redacted where a value equals it
    assert "RuntimeError" in out[3]["exc"] and logs.REDACTED in out[3]["exc"]


def test_console_output_is_redacted_too(tmp_path, capsys):
    logs.register_secret("console-secret-123")
    logs.setup_logging(tmp_path / "a.log", console=True)
    logs.get_logger("arb.test").warning("using console-secret-123", extra={"amount": Decimal("1.10")})
    err = capsys.readouterr().err
    assert "using [REDACTED]" in err and 'amount="1.10"' in err and "console-secret-123" not in err


def test_other_handlers_still_see_typed_extras(tmp_path, caplog):
    logs.setup_logging(tmp_path / "a.log")
    with caplog.at_level(logging.INFO):
        logs.get_logger("arb.test").info("x", extra={"amount": Decimal("2.5")})
    assert caplog.records[-1].amount == Decimal("2.5")


_secret = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=2, max_size=30).map(
    lambda t: "S3cr3t~" + t)


@hsettings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=_secret, prefix=st.text(max_size=10))
def test_any_registered_secret_never_appears_in_any_line(tmp_path, secret, prefix):
    path = tmp_path / "prop.log"
    path.unlink(missing_ok=True)
    logs.clear_secrets()
    logs.register_secret(secret)
    logs.setup_logging(path)
    log = logs.get_logger("arb.prop")
    log.info(prefix + secret, extra={"v": secret, "w": [prefix + secret], "x": {secret: 1}})
    log.info("%s", secret)
    raw = path.read_text(encoding="utf-8")
    assert secret not in raw
    for record in lines(path):
        assert not any(secret in s for s in _strings(record)), record
    logs.reset_logging()
