"""The Prefect and MLflow UIs as a person sees them: headless Chromium (tests/browser.py) renders the pages after
their JavaScript ran, the tests read the DOM and keep screenshots in logs/test-artifacts/.

One module fixture starts a real Prefect server and a real MLflow server, each in a temp dir on a free loopback port,
puts two flow runs and two registered model versions (alias ``champion`` on v2) in them, and stops both process
groups at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import browser
from tests.browser import (
    ARTIFACTS,
    MLFLOW_WAIT_MS,
    PREFECT_WAIT_MS,
    BrowserError,
    chromium_path,
    dump_dom,
    screenshot,
)
from tests.conftest import REPO

pytestmark = pytest.mark.slow

BIN = REPO / ".venv" / "bin"
FLOW_NAME = "arb-ui-probe"
RUN_NAMES = ("ui-probe-run-1", "ui-probe-run-2")
MODEL = "arb-success-predictor"


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports that were free a moment ago."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def clean_env(**extra: str) -> dict[str, str]:
    """The machine's environment without any PREFECT_*/MLFLOW_* of a developer's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PREFECT_", "MLFLOW_"))}
    env.update(extra)
    return env


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop(*procs: subprocess.Popen) -> None:
    """SIGTERM each server's process group, SIGKILL the groups after 15 s (or once their leader is gone)."""
    signalled = [p for p in procs if _killpg(p, signal.SIGTERM)]
    deadline = time.monotonic() + 15
    for p in signalled:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        _killpg(p, signal.SIGKILL)  # whatever of the group is left (workers of a leader that is gone)
        p.wait(timeout=10)


def _killpg(proc: subprocess.Popen, sig: int) -> bool:
    try:
        os.killpg(proc.pid, sig)
        return True
    except ProcessLookupError:
        return False


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url}: server exited {proc.returncode}\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} not healthy after {timeout:.0f}s\n{log.read_text()[-3000:]}")


def run_py(code: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "python"), "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def finish(proc: subprocess.Popen, what: str, timeout: float = 180) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{what} timed out\n{out[-3000:]}")
    assert proc.returncode == 0, f"{what} failed\n{out[-3000:]}"
    return out


def register_model_versions(mlflow_url: str) -> None:
    """Two versions of MODEL from one run, alias champion on v2, through the server's REST API (what MlflowClient
    sends; no 5 s mlflow import, and the server stays the SQLite store's only writer)."""

    def post(path: str, body: dict) -> dict:
        req = urllib.request.Request(f"{mlflow_url}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    post("registered-models/create", {"name": MODEL, "description": "browser test"})
    run = post("runs/create", {"experiment_id": "0", "start_time": int(time.time() * 1000)})["run"]["info"]
    for v in (1, 2):
        made = post("model-versions/create", {"name": MODEL, "source": f"{run['artifact_uri']}/model-v{v}",
                                              "run_id": run["run_id"]})
        assert made["model_version"]["version"] == str(v)
    post("registered-models/alias", {"name": MODEL, "alias": "champion", "version": "2"})


def page_text(dom: str) -> str:
    """The visible text of a dumped DOM, whitespace collapsed (scripts and styles dropped)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text).replace("&nbsp;", " ")
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def ui_servers(tmp_path_factory):
    chromium_path()  # fail first, and clearly, when `make test` did not install the browser
    tmp = tmp_path_factory.mktemp("ui")
    prefect_port, mlflow_port = free_ports(2)
    prefect_url, mlflow_url = f"http://127.0.0.1:{prefect_port}", f"http://127.0.0.1:{mlflow_port}"
    prefect_env = clean_env(PREFECT_HOME=str(tmp / ".prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                            # the UI's own API address: it defaults to PREFECT_API_URL, else to port 4200, not --port
                            PREFECT_API_URL=f"{prefect_url}/api")
    mlflow_db = f"sqlite:///{tmp / 'mlflow.db'}"
    mlflow_env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    (tmp / "artifacts").mkdir()
    procs = []
    try:
        procs.append(prefect := start(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
            prefect_env, tmp / "prefect.log", tmp))
        procs.append(mlflow := start(
            [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
             "--backend-store-uri", mlflow_db, "--default-artifact-root", str(tmp / "artifacts")],
            mlflow_env, tmp / "mlflow.log", tmp))
        wait_healthy(f"{prefect_url}/api/health", prefect, tmp / "prefect.log")
        procs.append(flows := run_py(f"""
            from prefect import flow

            @flow(name={FLOW_NAME!r})
            def probe(x: int) -> int:
                return 2 * x

            for i, name in enumerate({RUN_NAMES!r}, 1):
                probe.with_options(flow_run_name=name)(i)
            """, prefect_env, tmp))
        wait_healthy(f"{mlflow_url}/health", mlflow, tmp / "mlflow.log")
        register_model_versions(mlflow_url)
        finish(flows, "running the flows")
        yield {"prefect": prefect_url, "mlflow": mlflow_url, "tmp": tmp}
    finally:
        stop(*procs)


def test_prefect_runs_page_lists_the_flow_runs(ui_servers):
    url = f"{ui_servers['prefect']}/runs"
    # A deep link is the UI only for a browser: without `Accept: text/html` the server answers 404.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=10)
    assert e.value.code == 404
    text = page_text(dump_dom(url, wait_ms=PREFECT_WAIT_MS))
    assert all(f"{FLOW_NAME} {name}" in text for name in RUN_NAMES), text[:3000]  # a row: flow name, run name
    assert "2 runs" in text and "Completed" in text, text[:3000]
    shot = screenshot(url, "prefect-runs.png", wait_ms=PREFECT_WAIT_MS)
    assert shot == ARTIFACTS / "prefect-runs.png" and shot.stat().st_size > 20_000


def test_prefect_v2_ui_runs_page_lists_the_flow_runs(ui_servers):
    # The server's root redirects a browser to the new UI under /v2 (Prefect 3.9's default); its runs page too.
    text = page_text(dump_dom(f"{ui_servers['prefect']}/v2/runs", wait_ms=PREFECT_WAIT_MS))
    assert all(f"{FLOW_NAME} / {name}" in text for name in RUN_NAMES), text[:3000]
    assert "2 Flow runs" in text, text[:3000]


def test_mlflow_registered_model_page_shows_versions_and_champion_alias(ui_servers):
    url = f"{ui_servers['mlflow']}/#/models/{MODEL}"
    text = page_text(dump_dom(url, wait_ms=MLFLOW_WAIT_MS))
    assert f"Registered Models {MODEL}" in text, text[:3000]
    assert "Version 1" in text and "Version 2" in text and "champion" in text, text[:3000]
    # Newest version first, and the alias sits in version 2's row.
    assert text.index("Version 2") < text.index("@ champion") < text.index("Version 1"), text[:3000]
    shot = screenshot(url, "mlflow-model-versions.png", wait_ms=MLFLOW_WAIT_MS)
    assert shot == ARTIFACTS / "mlflow-model-versions.png" and shot.stat().st_size > 20_000


def test_helper_renders_a_local_page_after_its_javascript(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "data.json").write_text('{"msg": "fetched from the server"}')
    (site / "index.html").write_text("""<!doctype html>
<html><head><title>browser helper</title><style>body { font: 32px sans-serif; background: #fff; }</style></head>
<body><h1>Static heading</h1><div id="late"></div><p id="fetched"></p>
<script>
  setTimeout(() => { document.getElementById("late").textContent = "rendered " + (40 + 2) + " later"; }, 800);
  fetch("data.json").then(r => r.json()).then(d => { document.getElementById("fetched").textContent = d.msg; });
</script></body></html>""")
    (port,) = free_ports(1)
    server = start([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
                   clean_env(), tmp_path / "http.log", tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/index.html", server, tmp_path / "http.log", timeout=30)
        url = f"http://127.0.0.1:{port}/index.html"
        dom = dump_dom(url)
        assert "<title>browser helper</title>" in dom
        assert '<div id="late">rendered 42 later</div>' in dom  # a timer's work: the virtual-time budget ran it
        assert '<p id="fetched">fetched from the server</p>' in dom  # and waited for the fetch
        shot = screenshot(url, "helper-local-page.png", window=(800, 600))
        assert shot.parent == ARTIFACTS and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 2_000
    finally:
        stop(server)


def test_helper_fails_clearly_when_the_page_or_the_browser_is_missing(tmp_path, monkeypatch):
    (port,) = free_ports(1)  # nothing listens there
    with pytest.raises(BrowserError, match="ERR_CONNECTION_REFUSED"):
        dump_dom(f"http://127.0.0.1:{port}/", wait_ms=500)
    monkeypatch.setattr(browser, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserError, match=r"make test.*`chromium` package"):
        chromium_path()
