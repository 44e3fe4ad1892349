"""The `arb` console script as a user runs it: bad inputs, signals, the kill switch command, stats."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import duckdb

from tests.conftest import REPO, child_env

ARB = str(REPO / ".venv" / "bin" / "arb")


def arb(tmp, *args, env=None, timeout=120):
    return subprocess.run([ARB, *args], cwd=tmp, env=env or child_env(tmp), capture_output=True, text=True,
                          timeout=timeout)


def test_bad_inputs_name_what_is_wrong(tmp_path, lean_day):
    p = arb(tmp_path, "run", "--no-prefect", "--source", "replay", "--data", str(tmp_path / "nope"))
    assert p.returncode == 1 and "does not exist" in p.stderr and "--data" in p.stderr
    p = arb(tmp_path, "run", "--no-prefect", "--source", "replay")
    assert p.returncode == 1 and "--data" in p.stderr
    p = arb(tmp_path, "run", "--no-prefect", "--source", "carrier-pigeon", "--data", str(lean_day))
    assert p.returncode == 1 and "--source must be replay, sandbox or ccxt" in p.stderr
    p = arb(tmp_path, "run", "--no-prefect", "--data", str(lean_day), "--speed", "warp")
    assert p.returncode == 1 and "--speed" in p.stderr
    p = arb(tmp_path, "run", "--no-prefect", "--data", str(lean_day), "--duration", "soon")
    assert p.returncode == 1 and "--duration" in p.stderr
    p = arb(tmp_path, "run", "--no-prefect", "--data", str(lean_day), "--profile", "no-such-profile")
    assert p.returncode == 2 and "no-such-profile" in p.stderr
    p = arb(tmp_path, "run", "--no-prefect", "--data", str(lean_day), env=child_env(tmp_path, AI_MODE="wild"))
    assert p.returncode == 1 and "AI_MODE" in p.stderr
    p = arb(tmp_path, "stats")
    assert p.returncode == 1 and "arb run" in p.stderr


def test_sigterm_flushes_and_marks_the_run_stopped(tmp_path, lean_day):
    env = child_env(tmp_path)
    proc = subprocess.Popen([ARB, "run", "--no-prefect", "--no-progress", "--source", "replay", "--data",
                             str(lean_day), "--profile", "replay-20221213", "--speed", "600x"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads(out[out.index("{"):])
    assert summary["stopped_by"] == "signal"
    n = sum(summary["stats"]["decisions"].values())
    con = duckdb.connect(str(tmp_path / "arb.duckdb"), read_only=True)
    try:
        [(stored,)] = con.execute("select count(*) from decisions where run_id = ?", [summary["run_id"]]).fetchall()
        [(status,)] = con.execute("select status from runs where run_id = ?", [summary["run_id"]]).fetchall()
    finally:
        con.close()
    assert stored == n > 0, "every decision the engine made before the signal is in the warehouse"
    assert status == "stopped"
    assert summary["stats"]["batches"] < 1440


def test_kill_command_engages_and_releases(tmp_path):
    p = arb(tmp_path, "kill", "--reason", "manual test")
    assert p.returncode == 0 and "ENGAGED" in p.stdout
    assert (tmp_path / "KILL").read_text().strip() == "manual test"
    p = arb(tmp_path, "kill", "--release")
    assert p.returncode == 0 and "released" in p.stdout and not (tmp_path / "KILL").exists()


def test_logs_are_json_lines(tmp_path, lean_day):
    p = arb(tmp_path, "run", "--no-prefect", "--no-progress", "--data", str(lean_day), "--profile",
            "replay-20221213", "--duration", "30m")
    assert p.returncode == 0, p.stderr[-2000:]
    lines = (tmp_path / "logs" / "arbitrage.log").read_text().splitlines()
    objs = [json.loads(x) for x in lines]
    events = {o["event"] for o in objs}
    assert {"run started", "stats", "run finished"} <= events
    assert all("ts" in o and "level" in o for o in objs)
