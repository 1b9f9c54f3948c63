"""Shared fixtures: isolated cache dir, the Beijing demo, ../shared data, and the browser."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

# Isolate generated caches from the user's cache dir before planning.settings is imported.
os.environ.setdefault("JINGKANG_CACHE_DIR", tempfile.mkdtemp(prefix="jingkang-test-cache-"))

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("JINGKANG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def shared_data_dir() -> Path:
    """../shared/data beside the repository (override with JINGKANG_SHARED_DATA)."""
    env = os.environ.get("JINGKANG_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real test data not found at {path} (../shared/data is absent in a fresh "
                    "clone; CI provides it)")
    return path


@pytest.fixture(scope="session")
def demo():
    from planning.demo import beijing_demo

    return beijing_demo()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- browser (pytest-playwright with Debian's chromium) ------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}; `make test` installs Debian's chromium")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(env: dict[str, str] | None = None, *, label: str = "streamlit"):
    """Run the Streamlit app on a free localhost port (with ``env``); yield its URL."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix=f"{label}-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "planning.app.launch",  # what `make app` runs
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env or {**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # the warm-up runs before the server answers
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start; log: {Path(log.name).read_text()[-2000:]}")
    if proc.poll() is not None:
        pytest.fail(f"streamlit exited; log: {Path(log.name).read_text()[-2000:]}")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def app_url():
    """Start the Streamlit app on a free localhost port for the session; yield its URL."""
    with running_app() as url:
        yield url


# --- workspace (issue 14): the embedded workspace file goes to a temp dir, never the user's ----
os.environ.setdefault("JINGKANG_DATA_DIR", tempfile.mkdtemp(prefix="jingkang-test-data-"))


# --- isolation: Streamlit's AppTest replaces sys.modules["__main__"] with the script it runs
# and does not put it back; dask's worker processes (multiprocessing "spawn") then re-run that
# temporary script and die. Give every test the interpreter's own __main__ back.
_MAIN = sys.modules.get("__main__")
_MAIN_FILE = getattr(_MAIN, "__file__", None)


@pytest.fixture(autouse=True)
def _restore_main_module():
    yield
    if sys.modules.get("__main__") is not _MAIN:
        sys.modules["__main__"] = _MAIN
    if _MAIN is not None and getattr(_MAIN, "__file__", None) != _MAIN_FILE:
        _MAIN.__file__ = _MAIN_FILE
