"""Headless Chromium for tests that look at a page as a person would: the DOM after its JavaScript ran, and a PNG.

Built on the chromium command line only (Debian's `chromium` package, which `make test` / `make browser` installs
when /usr/bin/chromium is missing); no selenium or playwright.

    dump_dom(url)                 -> the serialized DOM once the page's scripts ran (str)
    screenshot(url, "name.png")   -> a PNG under ARTIFACTS (logs/test-artifacts/, git-ignored), checked non-trivial

Each call starts a fresh browser with its own throw-away profile (``--user-data-dir`` in a temp dir), so calls are
independent and leave nothing behind.

How long to wait: ``--virtual-time-budget`` lets the page run that many milliseconds of *virtual* time, which
headless Chromium holds still while a fetch is pending and otherwise fast-forwards, so a single-page app gets its
bundle, its API answers and its timers in before the DOM is dumped, and a big budget costs little real time. Together
with ``--run-all-compositor-stages-before-draw`` (see below) this renders the UIs this project runs (measured with
chromium 156 on the 2-core machine at load 5-9: 1 s of budget already rendered every page in 24+ tries each, 10 s
takes the same ~2.5-5 s of wall time per call, so the constants below keep the margin):

* plain HTML + a timer/fetch: ``DEFAULT_WAIT_MS`` (2 s).
* Prefect 3.9 UI, ``PREFECT_WAIT_MS``: the flow-run list at ``http://HOST:PORT/runs`` (V1 UI; each row has
  the flow name then the run name, count "2 runs") or ``http://HOST:PORT/v2/runs`` (the new UI, where ``/``
  redirects a browser; rows read "FLOW / RUN", count "2 Flow runs"). A deep link such as /runs is the UI only with
  ``Accept: text/html`` (a browser sends it; curl/httpx without it get a 404). On a port other than 4200, start the
  server with ``PREFECT_API_URL`` (or ``PREFECT_UI_API_URL``) = ``http://HOST:PORT/api``: ``--port`` alone leaves
  the UI calling :4200 ("Can't connect to Server API").
* MLflow 3.x UI, ``MLFLOW_WAIT_MS``: hash routes, e.g. ``http://HOST:PORT/#/models/NAME`` (the versions table:
  "Version 2", "Version 1", the alias is "@&nbsp;champion" in the DOM).

Failures raise ``BrowserError`` with the reason (``net::ERR_CONNECTION_REFUSED``, timeout, exit code) and the tail of
chromium's stderr (its D-Bus complaints dropped; "/usr/bin/chromium: 9: [: ...: unexpected operator" is Debian's
launcher tripping over a doubly-mounted /dev/shm, harmless).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "logs" / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"

DEFAULT_WAIT_MS = 2_000
PREFECT_WAIT_MS = 10_000
MLFLOW_WAIT_MS = 10_000
DEFAULT_WINDOW = (1400, 900)


class BrowserError(RuntimeError):
    """Chromium is missing, failed, or timed out; the message carries the tail of its stderr."""


def chromium_path() -> str:
    """The chromium executable (``$CHROMIUM`` if set, else /usr/bin/chromium, else `chromium` on PATH)."""
    for candidate in (os.environ.get("CHROMIUM"), CHROMIUM, shutil.which("chromium")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise BrowserError(
        f"chromium not found at {CHROMIUM} nor on PATH: run `make test` (or `make browser`), which installs Debian's "
        "`chromium` package (apt-get install --no-install-recommends chromium fonts-liberation fonts-dejavu-core)"
    )


def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _run(url: str, action: list[str], *, wait_ms: int, window: tuple[int, int],
         timeout: float | None) -> tuple[str, str]:
    """Run one headless chromium with ``action`` flags against ``url``; return its stdout and stderr."""
    exe = chromium_path()
    timeout = timeout if timeout is not None else wait_ms / 1000 + 60
    with tempfile.TemporaryDirectory(prefix="arb-chromium-") as profile:
        cmd = [
            exe,
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",  # root in CI, and no setuid sandbox helper with --no-install-recommends
            "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",  # nothing but the page: the machine reaches no outside hosts
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            "--hide-scrollbars",
            # Draw each frame only after layout, IntersectionObserver and the like ran: without it a UI whose lists
            # render on such callbacks (Prefect's V1 /runs) is dumped half-drawn ~1 time in 3 on a busy machine,
            # whatever the budget, because virtual time runs on while no fetch is pending.
            "--run-all-compositor-stages-before-draw",
            f"--window-size={window[0]},{window[1]}",
            *([f"--virtual-time-budget={int(wait_ms)}"] if wait_ms > 0 else []),  # 0: at the load event
            *action,
            url,
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=profile)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            raise BrowserError(f"chromium timed out after {timeout:.0f}s on {url}\n--- stderr (tail) ---\n"
                               f"{_tail(err)}") from None
        finally:
            _kill_group(proc)  # the browser's helper processes share its group; none outlives the call
    if proc.returncode != 0:
        raise BrowserError(f"chromium exited {proc.returncode} on {url}\n--- stderr (tail) ---\n{_tail(err)}")
    failed = re.search(r"Page load failed: (\S+)", err or "")
    if failed:  # chromium still exits 0, with no DOM or no screenshot
        raise BrowserError(f"chromium could not load {url}: {failed.group(1)}\n--- stderr (tail) ---\n{_tail(err)}")
    return out, err


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(text: str, n: int = 4000) -> str:
    """The end of chromium's stderr without its D-Bus complaints (there is no bus here; they are noise)."""
    lines = [ln for ln in (text or "").splitlines() if "dbus/" not in ln and "DBus" not in ln]
    return "\n".join(lines)[-n:]


def dump_dom(url: str, *, wait_ms: int = DEFAULT_WAIT_MS, window: tuple[int, int] = DEFAULT_WINDOW,
             timeout: float | None = None) -> str:
    """The page's DOM, serialized after its scripts ran for ``wait_ms`` of virtual time (``--dump-dom``)."""
    out, err = _run(url, ["--dump-dom"], wait_ms=wait_ms, window=window, timeout=timeout)
    if "<html" not in out.lower():
        raise BrowserError(f"chromium dumped no DOM for {url} (it prints nothing when the page is unreachable: is the "
                           f"server up?)\n--- stdout ---\n{_tail(out)}\n"
                           f"--- stderr (tail) ---\n{_tail(err)}")
    return out


def screenshot(url: str, path: str | os.PathLike, *, wait_ms: int = DEFAULT_WAIT_MS,
               window: tuple[int, int] = DEFAULT_WINDOW, timeout: float | None = None,
               min_bytes: int = 2_000) -> Path:
    """A PNG of the page (``--screenshot``) after ``wait_ms`` of virtual time; a relative ``path`` goes under
    ARTIFACTS. Checks the file is a PNG of the window's size, at least ``min_bytes``, and not all one colour."""
    target = Path(path)
    if not target.is_absolute():
        target = artifacts_dir() / target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    _, err = _run(url, [f"--screenshot={target}"], wait_ms=wait_ms, window=window, timeout=timeout)
    if not target.is_file():
        raise BrowserError(f"chromium wrote no screenshot at {target} for {url}\n--- stderr (tail) ---\n{_tail(err)}")
    data = target.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < min_bytes:
        raise BrowserError(f"screenshot {target} of {url} is not a real PNG ({len(data)} bytes)")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if (width, height) != tuple(window):
        raise BrowserError(f"screenshot {target} is {width}x{height}, expected {window[0]}x{window[1]}")
    _assert_not_blank(target, url)
    return target


def _assert_not_blank(target: Path, url: str) -> None:
    try:
        from PIL import Image  # pillow comes with matplotlib
    except ImportError:  # pragma: no cover - the size check above still stands
        return
    with Image.open(target) as im:
        extrema = im.convert("L").getextrema()
    if extrema[0] == extrema[1]:
        raise BrowserError(f"screenshot {target} of {url} is a single flat colour (the page did not render)")
