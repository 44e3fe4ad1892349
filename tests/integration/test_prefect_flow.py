"""`arb run` runs the continuous flow as a real Prefect flow run (a temporary local Prefect server)."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from tests.conftest import REPO, child_env


@pytest.mark.slow
def test_arb_run_through_prefect_then_stats(tmp_path, lean_day):
    env = child_env(tmp_path, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    arb = str(REPO / ".venv" / "bin" / "arb")
    p = subprocess.run([arb, "run", "--source", "replay", "--data", str(lean_day), "--profile", "replay-20221213",
                        "--duration", "6h", "--no-progress"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    result = json.loads(p.stdout[p.stdout.index("{"):])
    assert result["stopped_by"] == "duration"
    # The run is a real Prefect flow run, recorded COMPLETED by the (temporary) Prefect server in PREFECT_HOME.
    con = sqlite3.connect(tmp_path / ".prefect" / "prefect.db")
    try:
        rows = con.execute("select f.name, r.state_type from flow_run r join flow f on f.id = r.flow_id "
                           "where r.id = ?", (result["flow_run_id"],)).fetchall()
    finally:
        con.close()
    assert rows == [("detect-and-execute", "COMPLETED")]
    s = subprocess.run([arb, "stats"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert s.returncode == 0, s.stderr
    st = json.loads(s.stdout)
    assert st["opportunities_detected"] == result["stats"]["opportunities_detected"] > 0
    # Six hours of the day: 360 minutes, each one batch.
    assert result["stats"]["batches"] == 360
