"""The continuous flow writes while another process reads the warehouse for 30 s (the concurrency contract)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from arb.errors import TransientError
from arb.warehouse.reader import read_query
from tests.conftest import REPO, child_env

ARB = str(REPO / ".venv" / "bin" / "arb") if (REPO / ".venv" / "bin" / "arb").exists() else None


@pytest.mark.slow
def test_reader_process_while_the_flow_writes(tmp_path, lean_day):
    env = child_env(tmp_path)
    db = tmp_path / "arb.duckdb"
    # 1440 replayed minutes at 3000x real time last about 29 s: the writer is busy the whole time.
    writer = subprocess.Popen(
        [sys.executable, "-m", "arb.cli", "run", "--no-prefect", "--no-progress", "--source", "replay",
         "--data", str(lean_day), "--profile", "replay-20221213", "--speed", "3000x"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    reader_code = r"""
import json, sys, time
from arb.warehouse.reader import read_query
db, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
reads, errors, counts = 0, [], []
while time.monotonic() < end:
    try:
        n = read_query(db, "select count(*) from decisions")[0][0]
        counts.append(n)
        reads += 1
    except Exception as e:  # any error that surfaces past the reader's own retry is a failure
        if "does not exist" in str(e) or "run `arb run` first" in str(e) or "no table" in str(e).lower():
            time.sleep(0.05)
            continue
        errors.append(repr(e))
    time.sleep(0.01)
print(json.dumps({"reads": reads, "errors": errors, "counts": counts}))
"""
    time.sleep(0.5)
    reader = subprocess.run([sys.executable, "-c", reader_code, str(db), "30"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    out, err = writer.communicate(timeout=180)
    assert writer.returncode == 0, err[-3000:]
    assert reader.returncode == 0, reader.stderr[-3000:]
    r = json.loads(reader.stdout.strip().splitlines()[-1])
    last = r["counts"][-1] if r["counts"] else None
    print(f"reader: {r['reads']} reads, {len(r['errors'])} errors, last count {last}")
    assert r["errors"] == []
    assert r["reads"] > 100
    assert r["counts"] == sorted(r["counts"]), "the reader saw the decision count go backwards"
    assert len(set(r["counts"])) > 5, "the reader should have watched the count grow while the flow wrote"

    summary = json.loads(out[out.index("{"):])
    n_decisions = sum(summary["stats"]["decisions"].values())
    rows = read_query(db, "select decision_id, count(*) from decisions where run_id = ? group by 1",
                      [summary["run_id"]])
    assert len(rows) == n_decisions and all(c == 1 for _, c in rows)
    assert n_decisions > 0


def test_reader_error_is_transient_not_a_crash(tmp_path):
    with pytest.raises(Exception) as e:
        read_query(tmp_path / "missing.duckdb", "select 1")
    assert "arb run" in str(e.value) or isinstance(e.value, TransientError)
