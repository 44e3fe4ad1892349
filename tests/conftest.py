from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
LEAN_DAY = SHARED_DATA / "cex-minute-bars-20221213"
PROFILE = REPO / "arb" / "profiles" / "replay-20221213.env"


def _settings_env_names() -> set[str]:
    from arb.settings import Settings

    return {name.upper() for name in Settings.model_fields}


@pytest.fixture(autouse=True)
def clean_settings_env(monkeypatch):
    """Tests never see a developer's own settings variables."""
    for name in _settings_env_names() & {k.upper() for k in os.environ}:
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(scope="session")
def lean_day() -> Path:
    if not LEAN_DAY.is_dir():
        pytest.fail(f"the recorded day is missing at {LEAN_DAY}: the repo expects ../shared/data beside it")
    return LEAN_DAY


def child_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for a child `arb` process: no inherited settings, everything written under ``tmp``."""
    names = _settings_env_names()
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(
        WAREHOUSE_PATH=str(tmp / "arb.duckdb"),
        LOG_PATH=str(tmp / "logs" / "arbitrage.log"),
        KILL_SWITCH_FILE=str(tmp / "KILL"),
        PREFECT_HOME=str(tmp / ".prefect"),
    )
    env.update(extra)
    return env
