"""What a planner waits for: page times in a real browser next to the server's share of them.

Starts the app (like ``tests/conftest.py``), opens it in headless Debian chromium with
Playwright at 1440×900 and times, per page,

* ``server s`` — from the click until Streamlit reports the script finished
  (``stApp[data-test-script-state=notRunning]``): the server's work plus the transfer;
* ``drawn s`` — until, in addition, every map iframe has drawn its layers (Leaflet panes with
  paths or markers present): what the planner actually waits for.

It prints the first load (on a freshly started server, started as ``make app`` does: the
server answers once :mod:`planning.app.warm` has imported and computed the demo's default
views; the warm-up time is printed too), every
page switch (a second visit of each page too) and a first load by a second browser session on
the running server, next to the targets (first load ≤ 3 s, page switch ≤ 1.5 s), and the
ratio ``drawn / server`` so the gap between server-side benchmarks (``benchmarks/pages.py``)
and the browser is visible.

Compare two versions in one run by pointing ``--before`` at a checkout of an older commit
(``git worktree add /tmp/before 73fb22e``)::

    .venv/bin/python benchmarks/browser_pages.py --before /tmp/before
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_LOAD_TARGET_S = 3.0
SWITCH_TARGET_S = 1.5

#: (sidebar label, heading shown in Chinese mode) in the order a planner walks through them.
WALK = [
    ("地图", "地图"),
    ("合规", "合规检查"),
    ("可达性", "可达性"),
    ("总览", "精康融合规划平台"),
    ("地图", "地图"),
    ("合规", "合规检查"),
    ("可达性", "可达性"),
    ("总览", "精康融合规划平台"),
]

_DONE_JS = """(heading) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const status = '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]';
  if (document.querySelector(status)) return false;
  const h = [...document.querySelectorAll('h1')].map(e => e.innerText.trim());
  if (!h.some(t => t.startsWith(heading))) return false;
  return true;
}"""

_MAPS_JS = """() => {
  const frames = [...document.querySelectorAll("iframe[title*='streamlit_folium']")];
  for (const f of frames) {
    let d;
    try { d = f.contentDocument; } catch (e) { return false; }
    if (!d) return false;
    const drawn = d.querySelector('.leaflet-overlay-pane path, .leaflet-overlay-pane canvas, '
                                  + '.leaflet-marker-pane > *');
    if (!drawn) return false;
  }
  return true;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(app_dir: Path):
    """Start ``app_dir/app.py`` with the project's Python on a free port; yield its URL."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-streamlit-", suffix=".log", delete=False)
    env = {**os.environ, "PYTHONPATH": str(app_dir)}
    # what `make app` runs (warm-up, then the server); older checkouts: bare streamlit run
    launcher = (["-m", "planning.app.launch"]
                if (app_dir / "planning" / "app" / "launch.py").exists()
                else ["-m", "streamlit", "run", str(app_dir / "app.py")])
    proc = subprocess.Popen(
        [sys.executable, *launcher,
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=app_dir, stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(Path(log.name).read_text()[-2000:]) from None
                time.sleep(0.3)
        print(f"server answered {time.perf_counter() - started:.1f} s after it was started "
              f"(imports{' and warm-up' if launcher[1] == 'planning.app.launch' else ''})")
        yield url, Path(log.name)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait(page, heading: str, t0: float, timeout_s: float = 120) -> tuple[float, float]:
    page.wait_for_function(_DONE_JS, arg=heading, polling=50, timeout=timeout_s * 1000)
    server = time.perf_counter() - t0
    page.wait_for_function(_MAPS_JS, polling=50, timeout=timeout_s * 1000)
    return server, time.perf_counter() - t0


def measure(url: str, *, chromium: str) -> list[tuple[str, float, float]]:
    """Time the first load and the page walk in one fresh browser; return (label, server, drawn)."""
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        t0 = time.perf_counter()
        page.goto(url)
        server, drawn = _wait(page, "精康融合规划平台", t0)
        rows.append(("first load (总览)", server, drawn))
        for label, heading in WALK:
            link = page.locator("[data-testid='stSidebarNav'] a", has_text=label).first
            t0 = time.perf_counter()
            link.click()
            # the old page's heading may still be up: wait for the new one
            server, drawn = _wait(page, heading, t0)
            rows.append((f"→ {label}", server, drawn))
        # a second planner opening the app on the now-running server (new session)
        page2 = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        t0 = time.perf_counter()
        page2.goto(url)
        server, drawn = _wait(page2, "精康融合规划平台", t0)
        rows.append(("new session (总览)", server, drawn))
        browser.close()
    return rows


def _print(name: str, rows: list[tuple[str, float, float]]) -> None:
    print(f"\n== {name}")
    print(f"{'step':22s} {'server s':>9s} {'drawn s':>8s} {'drawn/server':>13s}  target")
    for i, (label, server, drawn) in enumerate(rows):
        first = i == 0 or label.startswith("new session")
        target = FIRST_LOAD_TARGET_S if first else SWITCH_TARGET_S
        ok = "OK" if drawn <= target else f"SLOW (>{target:g} s)"
        print(f"{label:22s} {server:9.2f} {drawn:8.2f} {drawn / max(server, 1e-3):13.2f}  {ok}")
    switches = [d for label, _, d in rows[1:] if label.startswith("→")]
    print(f"{'max page switch':22s} {'':9s} {max(switches):8.2f}")


def main() -> None:
    """Run the walk on this checkout (and on ``--before`` if given) and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="checkout of an older commit to compare with")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    runs = [("before: " + str(args.before), args.before)] if args.before else []
    runs.append(("now: " + str(ROOT), ROOT))
    results = {}
    for name, app_dir in runs:
        with running_app(app_dir.resolve()) as (url, _log):
            results[name] = measure(url, chromium=args.chromium)
        _print(name, results[name])
    if len(results) == 2:
        (_, a), (_, b) = results.items()
        print("\nratio now/before (drawn):")
        for (label, _, da), (_, _, db) in zip(a, b, strict=True):
            print(f"  {label:22s} {db / da:6.2f}")


if __name__ == "__main__":
    main()
