"""Shared by the settings and check-env tests: each test runs in an empty folder (no developer .env), with no
settings variables from the real environment and no secrets left registered for log redaction.

Import the fixture into a test module (``from tests.unit.settings_isolation import isolated  # noqa: F401``); it is
autouse there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arb import logs
from arb.settings import Settings

FIELDS = {name.upper() for name in Settings.model_fields}


def clear_settings_env(mp: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.upper() in FIELDS:
            mp.delenv(k)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    clear_settings_env(monkeypatch)
    logs.clear_secrets()
    yield
    logs.clear_secrets()
