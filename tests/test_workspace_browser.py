"""Real browser: work done in the app survives closing the browser and restarting the app.

The app runs with ``JINGKANG_DB`` pointing at a temporary SQLite workspace. A scenario is saved
through the engine, then duplicated and adopted on the Scenarios page in the browser; the app
process is stopped and started again, and a new browser page finds both.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from planning import workspace as wsp
from planning.app.workspace_ui import DEFAULT_PROJECT
from planning.roles import LOCAL
from planning.siting.plan import SitingOptions, suggest_sites

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """A Streamlit app process that can be stopped and started again on the same port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="streamlit-ws-", suffix=".log")[1])

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                 "--server.port", str(self.port), "--server.address", "127.0.0.1",
                 "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        pytest.fail(f"streamlit did not start; log: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None


def _ready(page, timeout=90_000):
    page.wait_for_selector("[data-testid='stSidebarNav']", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def _options(page, label: str) -> list[str]:
    box = page.locator("[data-testid='stSelectbox']", has_text=label).first
    box.click()
    opts = page.get_by_role("option")
    opts.first.wait_for(timeout=30_000)
    names = [o.inner_text().strip() for o in opts.all()]
    page.keyboard.press("Escape")
    return names


def _wait_for_rows(url: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws = wsp.Workspace.open(url=url)
        count = len(wsp.list_scenarios(ws, DEFAULT_PROJECT))
        ws.close()
        if count >= n:
            return
        time.sleep(0.5)
    pytest.fail(f"the page did not save: {count} scenarios after {timeout} s")


def test_scenario_survives_an_app_restart(browser, tmp_path, demo, artifacts):
    db = tmp_path / "workspace.sqlite"
    url = f"sqlite:///{db}"
    plan = suggest_sites(demo.subset(["东城区"]), SitingOptions(model="township_cover"))
    ws = wsp.Workspace.open(url=url)
    ws.create_project(DEFAULT_PROJECT, actor=LOCAL)
    wsp.save_scenario(ws, DEFAULT_PROJECT, "甲方案", plan, actor=LOCAL, district="东城区")
    ws.close()

    app = App({**os.environ, "JINGKANG_DB": url})
    app.start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{app.url}/情景_Scenarios")
        _ready(page)
        page.get_by_role("heading", name="情景对比").first.wait_for(timeout=60_000)
        assert page.locator("[data-testid='stException']").count() == 0
        page.get_by_role("tab", name="管理").click()
        page.locator("[data-testid='stSelectbox']", has_text="选择情景").first.wait_for()
        page.get_by_role("button", name="复制").click()
        _ready(page)
        _wait_for_rows(url, 2)  # the page's write reached the database
        page.get_by_role("button", name="设为采纳方案").click()
        _ready(page)
        page.get_by_text("采纳方案: 甲方案").wait_for(timeout=60_000)
        assert page.locator("[data-testid='stException']").count() == 0
        page.close()  # the planner closes the browser …
        app.stop()  # … and the app is restarted
        app.start()
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{app.url}/情景_Scenarios")
        _ready(page)
        page.get_by_role("heading", name="情景对比").first.wait_for(timeout=60_000)
        page.get_by_role("tab", name="管理").click()
        page.get_by_text("采纳方案: 甲方案").wait_for(timeout=60_000)
        names = _options(page, "选择情景")
        assert names == ["甲方案", "甲方案 (2)"]
        page.screenshot(path=str(artifacts / "workspace_after_restart.png"), full_page=True)
        page.close()
    finally:
        app.stop()
    again = wsp.Workspace.open(url=url)
    listed = again.audit_log(DEFAULT_PROJECT)
    again_list = wsp.list_scenarios(again, DEFAULT_PROJECT).set_index("name")
    again.close()
    assert bool(again_list.loc["甲方案", "adopted"])
    assert {"save_scenario", "edit_project"} <= set(listed["action"])
    assert (listed["actor"] == "local").any()
