"""End-to-end: `arb run --source sandbox --duration 2m` through the CLI, then the warehouse.

Both sandbox chains run the real Uniswap contracts, our flash pool and executor; noise traders and a competing
searcher move the pools. At least one flash-loan arbitrage must be mined with realized profit == predicted, to the
wei; failed attempts carry their reason and the gas they paid; rejections carry their reasons.
"""

from __future__ import annotations

import json
import subprocess

import duckdb
import pytest

from tests.conftest import REPO, child_env


@pytest.fixture(scope="module")
def sandbox_run(tmp_path_factory, lean_day):
    tmp = tmp_path_factory.mktemp("sandbox")
    env = child_env(tmp, SANDBOX_MANIFEST_PATH=str(tmp / "manifest.json"))
    p = subprocess.run([str(REPO / ".venv" / "bin" / "arb"), "run", "--no-prefect", "--no-progress", "--source",
                        "sandbox", "--data", str(lean_day), "--duration", "2m"], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-4000:]
    return tmp, json.loads(p.stdout[p.stdout.index("{"):])


def q(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_profitable_flash_loan_realized_equals_predicted_to_the_wei(sandbox_run):
    tmp, summary = sandbox_run
    db = tmp / "arb.duckdb"
    assert summary["stopped_by"] in ("duration", "end_of_stream") and summary["stats"]["batches"] == 60
    filled = q(db, """select predicted_profit_wei, realized_profit_wei, gas_used, gas_cost_wei, tx_hash
                      from executions where chain is not null and status = 'filled'""")
    assert filled, "at least one flash-loan arbitrage is mined"
    for predicted, realized, gas_used, gas_cost, tx in filled:
        assert realized == predicted > 0
        assert gas_used > 0 and gas_cost > 0 and tx.startswith("0x")


def test_failures_and_rejections_are_recorded_with_reasons_and_gas(sandbox_run):
    tmp, _ = sandbox_run
    db = tmp / "arb.duckdb"
    for status, note, gas_used, gas_cost in q(db, "select status, note, gas_used, gas_cost_wei from executions "
                                                  "where chain is not null and status <> 'filled'"):
        assert note and (status in ("failed", "missed"))
        if note.startswith("reverted"):
            assert gas_used > 0 and gas_cost > 0  # a reverted transaction paid its gas
    rejected = q(db, "select count(*), count(*) filter (where len(reasons) > 0) from decisions "
                     "where kind = 'flash_loan' and action = 'reject'")
    assert rejected[0][0] > 0 and rejected[0][0] == rejected[0][1]
    # No process is left behind: the chains were stopped (the manifest's URLs no longer answer).
    manifest = json.loads((tmp / "manifest.json").read_text())
    import urllib.request

    for c in manifest["chains"].values():
        with pytest.raises(OSError):
            urllib.request.urlopen(c["rpc_url"], data=b"{}", timeout=2)
