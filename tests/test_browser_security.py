"""Attacking the server as served to a bureau (issue 19): network mode, real browser.

A server of its own is started with ``JINGKANG_SERVE=1`` (login on every page) and a temporary
users file, bound to 127.0.0.1 only (network mode in tests never leaves loopback). Then: every
page refuses without login; wrong passwords lock the account until the lock expires; a viewer's
upload and save attempts are refused and logged; two browser contexts with different uploads
never see each other's data; and after a login no response, frame or log holds a secret.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from planning.app.auth import hash_password

pytestmark = pytest.mark.browser

FAST = {"n": 2**10, "r": 8, "p": 1}
PASSWORDS = {"wang": "Wang-secret-驿站-7731", "zhao": "Zhao-secret-4410",
             "li": "Li-viewer-secret-5521", "lockme": "Lockme-secret-9090"}
ROLES = {"wang": "editor", "zhao": "editor", "li": "viewer", "lockme": "editor"}
LOCK_S = 15.0  # long enough for the locked attempts on a slow machine
MAX_FAILURES = 3

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["", "地图_Map", "合规_Compliance", "可达性_Access", "选址_Siting", "情景_Scenarios",
         "数据_Data", "导出_Export"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory):
    """The app in network mode on a free loopback port: (url, log path, audit path, hashes)."""
    tmp = tmp_path_factory.mktemp("secure")
    hashes = {u: hash_password(pw, **FAST) for u, pw in PASSWORDS.items()}
    users = tmp / "users.toml"
    users.write_text("".join(f'[users.{u}]\nrole = "{ROLES[u]}"\npassword = "{h}"\n'
                             for u, h in hashes.items()), encoding="utf-8")
    os.chmod(users, 0o600)
    cache = Path(os.environ.get("JINGKANG_CACHE_DIR") or tempfile.mkdtemp())
    audit_file = cache / "audit" / "audit.jsonl"
    start_line = len(audit_file.read_text().splitlines()) if audit_file.exists() else 0
    port = _free_port()
    log = tmp / "server.log"
    env = {**os.environ, "JINGKANG_SERVE": "1", "JINGKANG_USERS": str(users),
           "JINGKANG_CACHE_DIR": str(cache), "JINGKANG_DATA_DIR": str(tmp / "data"),
           "JINGKANG_LOGIN_LOCK_S": str(LOCK_S),
           "JINGKANG_LOGIN_MAX_FAILURES": str(MAX_FAILURES),
           "JINGKANG_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000"}
    url = f"http://127.0.0.1:{port}"
    # through the `make serve` launcher, but on loopback: tests never leave 127.0.0.1
    proc = _start([sys.executable, "-m", "planning.app.serve", "--address", "127.0.0.1",
                   "--port", str(port)], env, log, url)
    srv = SimpleNamespace()
    srv.url, srv.log, srv.hashes = url, log, hashes

    def audit_entries():
        if not audit_file.exists():
            return []
        lines = audit_file.read_text(encoding="utf-8").splitlines()[start_line:]
        return [json.loads(x) for x in lines if x.strip()]

    def workspace_refusals():
        """Refusals in the workspace's own audit log (scenario saves go through it)."""
        from planning import workspace as wsp

        url = os.environ.get("JINGKANG_DB") or f"sqlite:///{tmp / 'data' / 'workspace.sqlite'}"
        try:
            log = wsp.Workspace.open(url=url).audit_log()
        except Exception:  # no workspace database was created by the server
            return []
        return [{"actor": r.actor, "action": r.action, "outcome": r.outcome}
                for r in log.itertuples() if r.outcome == "refused"]

    srv.audit_file, srv.audit = audit_file, audit_entries
    srv.workspace_refusals = workspace_refusals
    yield srv
    _stop(proc)


def _start(cmd, env, log, url):
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120  # warm-up before the server answers
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"streamlit did not start; log: {log.read_text()[-2000:]}")


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_default_start_listens_on_loopback_only(tmp_path):
    """`make app` / a bare `streamlit run app.py` binds 127.0.0.1, not every interface."""
    port = _free_port()
    log = tmp_path / "app.log"
    proc = _start([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                   "--server.port", str(port), "--server.fileWatcherType", "none"],
                  {k: v for k, v in os.environ.items() if k != "JINGKANG_SERVE"}, log,
                  f"http://127.0.0.1:{port}")
    try:
        listening = _listening(port)
    finally:
        _stop(proc)
    if listening is None:  # no /proc: fall back on the server's own start-up line
        started = [x for x in log.read_text().splitlines() if "started on" in x]
        assert started and f"127.0.0.1:{port}" in started[0], started
    else:
        assert listening == {"127.0.0.1"}, listening


def _listening(port: int) -> set[str] | None:
    """Addresses with a listening TCP socket on ``port`` (from /proc/net), or None."""
    found: set[str] = set()
    names = {"0100007F": "127.0.0.1", "00000000": "0.0.0.0",
             "00000000000000000000000001000000": "::1", "0" * 32: "::"}
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not any(t.exists() for t in tables):
        return None
    for table in tables:
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:
                found.add(names.get(address, address))
    return found


def test_serve_refuses_to_start_without_users(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JINGKANG_USERS"}
    done = subprocess.run([sys.executable, "-m", "planning.app.serve", "--address",
                           "127.0.0.1", "--port", str(_free_port())], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "JINGKANG_USERS" in done.stderr


def _settled(page, timeout=90_000):
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def _login_form(page):
    form = page.locator("[data-testid='stForm']", has_text="登录")
    form.wait_for(timeout=90_000)
    return form


def _login(page, url, user, password, path=""):
    page.goto(f"{url}/{path}")
    _login_form(page)
    page.get_by_label("用户名 User").fill(user)
    page.get_by_label("密码 Password").fill(password)
    page.get_by_role("button", name="登录 Log in").click()
    _settled(page)


def _nav(page, label):
    page.locator("[data-testid='stSidebarNav'] a", has_text=label).first.click()
    _settled(page)


def _logged_in(page, user):
    page.locator("[data-testid='stSidebar']", has_text=f"当前用户: {user}").wait_for(
        timeout=90_000)


def test_every_page_refuses_without_login(page, secure_server):
    for path in PAGES:
        page.goto(f"{secure_server.url}/{path}")
        _login_form(page)
        _settled(page)
        body = page.locator("[data-testid='stMain']").inner_text()
        assert "请登录" in body
        # nothing from the data or the page behind it
        for testid in ("stMetric", "stFileUploaderDropzoneInput", "stDataFrame",
                       "stDownloadButton", "stException"):
            assert page.locator(f"[data-testid='{testid}']").count() == 0, (path, testid)
        assert page.locator("iframe[title*='streamlit_folium']").count() == 0
        assert page.get_by_role("heading", name="精康融合规划平台").count() == 0


def test_wrong_passwords_lock_the_account_and_the_lock_expires(page, browser,
                                                                 secure_server):
    url = secure_server.url
    page.goto(url)
    for i in range(MAX_FAILURES):
        _login_form(page)
        page.get_by_label("用户名 User").fill("lockme")
        page.get_by_label("密码 Password").fill(f"guess-{i}")
        page.get_by_role("button", name="登录 Log in").click()
        _settled(page)
        expected = "已暂时锁定" if i == MAX_FAILURES - 1 else "用户名或密码错误"
        page.locator("[data-testid='stAlertContentError']", has_text=expected).wait_for(
            timeout=30_000)
    locked_at = time.monotonic()
    # the right password is refused while the lock holds: from a fresh session, and with a
    # forged X-Forwarded-For (a new "address") too
    other = browser.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.9"})
    for attempt in (page, other.new_page()):
        _login(attempt, url, "lockme", PASSWORDS["lockme"])
        attempt.locator("[data-testid='stAlertContentError']", has_text="已暂时锁定").wait_for(
            timeout=30_000)
        assert attempt.get_by_text("当前用户: lockme").count() == 0
    other.close()
    time.sleep(max(0.0, LOCK_S + 0.5 - (time.monotonic() - locked_at)))
    _login(page, url, "lockme", PASSWORDS["lockme"])
    _logged_in(page, "lockme")
    outcomes = [e["outcome"] for e in secure_server.audit()
                if e["actor"] == "lockme" and e["action"] == "login"]
    assert outcomes == ["failed"] * (MAX_FAILURES - 1) + ["locked", "locked", "locked", "ok"]


def test_viewer_upload_is_refused_and_logged(page, secure_server):
    _login(page, secure_server.url, "li", PASSWORDS["li"], path="数据_Data")
    _logged_in(page, "li")
    page.locator("[data-testid='stAlertContentError']", has_text="编辑者").wait_for(
        timeout=60_000)
    # no data upload (the sidebar's rule-profile picker is a per-session parameter, not data)
    assert page.locator("[data-testid='stMain'] [data-testid='stFileUploader']").count() == 0
    refused = [(e["action"], e["target"]) for e in secure_server.audit()
               if e["actor"] == "li" and e["outcome"] == "refused"]
    assert ("page", "数据_Data") in refused


def test_viewer_save_scenario_is_refused_and_logged(page, browser, secure_server):
    # an editor opens the workspace first (the default project), so there is somewhere to save
    editor = browser.new_context()
    epage = editor.new_page()
    _login(epage, secure_server.url, "wang", PASSWORDS["wang"])
    _logged_in(epage, "wang")
    epage.locator("[data-testid='stSidebar']", has_text="规划项目").wait_for(timeout=90_000)
    editor.close()
    _login(page, secure_server.url, "li", PASSWORDS["li"], path="选址_Siting")
    _logged_in(page, "li")
    page.get_by_role("button", name="运行").click()  # a viewer may compute a plan
    _settled(page)
    save = page.get_by_role("button", name="保存情景")
    save.wait_for(timeout=120_000)
    # the button is drawn before the run ends (maps follow it): a click while the script still
    # runs can be lost with the rerun, so wait for the page to settle before clicking
    _settled(page)
    save.click()
    _settled(page)
    page.locator("[data-testid='stAlertContentError']", has_text="li").or_(
        page.locator("[data-testid='stAlertContentError']", has_text="保存情景")).first.wait_for(
        timeout=60_000)
    assert page.get_by_text("已保存").count() == 0
    refused = {(e["actor"], e["action"])
               for e in secure_server.audit() + secure_server.workspace_refusals()
               if e["outcome"] == "refused"}
    assert ("li", "save_scenario") in refused


def _stations_csv(demo, district, path):
    st = demo.subset([district]).stations()
    st.drop(columns="geometry").assign(lon=st.geometry.x, lat=st.geometry.y).to_csv(
        path, index=False)
    return len(st)


def test_two_sessions_never_see_each_others_uploads(browser, secure_server, demo, tmp_path):
    url = secure_server.url
    files = {"wang": tmp_path / "dongcheng.csv", "zhao": tmp_path / "xicheng.csv"}
    counts = {"wang": _stations_csv(demo, "东城区", files["wang"]),
              "zhao": _stations_csv(demo, "西城区", files["zhao"])}
    assert counts["wang"] != counts["zhao"]
    pages = {}
    for user in ("wang", "zhao"):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        _login(page, url, user, PASSWORDS[user], path="数据_Data")
        _logged_in(page, user)
        page.get_by_role("heading", name="数据").first.wait_for(timeout=60_000)
        uploader = page.locator("[data-testid='stFileUploader']").filter(
            has=page.get_by_text("设施", exact=True))
        uploader.wait_for(timeout=60_000)
        uploader.locator("input[type='file']").set_input_files(str(files[user]))
        _settled(page)
        try:
            page.locator("[data-testid='stAlertContentSuccess']").first.wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(tmp_path / f"upload_{user}.png"), full_page=True)
        page.get_by_role("button", name="使用这些数据").click()
        _settled(page)
        page.get_by_text("已替换当前数据").wait_for(timeout=60_000)
        pages[user] = page
    for user, page in pages.items():
        _nav(page, "总览")  # in-app navigation keeps the session (a reload would start anew)
        metric = page.locator("[data-testid='stMetric']", has_text="康复驿站数")
        metric.wait_for(timeout=90_000)
        assert metric.locator("[data-testid='stMetricValue']").inner_text() == str(counts[user])
    for page in pages.values():
        page.context.close()


def test_no_secret_in_responses_frames_or_logs_after_login(browser, secure_server):
    context = browser.new_context()
    page = context.new_page()
    seen: list[bytes] = []
    responses: list = []

    def on_response(response):
        # Only remember the response here: fetching a body from inside an event handler
        # can stall Playwright's dispatcher (a response still streaming never returns).
        seen.append("\n".join(f"{k}: {v}" for k, v in response.headers.items()).encode())
        responses.append(response)

    def on_websocket(ws):
        ws.on("framereceived", lambda payload: seen.append(
            payload if isinstance(payload, bytes) else payload.encode()))

    page.on("response", on_response)
    page.on("websocket", on_websocket)
    user, password = "wang", PASSWORDS["wang"]
    _login(page, secure_server.url, user, "a wrong one first")
    page.locator("[data-testid='stAlertContentError']", has_text="用户名或密码错误").wait_for()
    _login(page, secure_server.url, user, password)
    _logged_in(page, user)
    _nav(page, "导出")
    page.get_by_role("button", name="退出登录").click()
    _settled(page)
    _login_form(page)  # logged out: back to the form
    page.get_by_text("已退出登录").wait_for()
    cookies = json.dumps(context.cookies()).encode()
    for response in responses:
        try:
            seen.append(response.body())
        except Exception:  # redirects, upgrades and aborted requests have no body
            pass
    context.close()
    stored = secure_server.hashes[user]
    secrets = [password, stored, stored.split("$")[-1], stored.split("$")[-2],
               "a wrong one first"]
    assert len(seen) > 10  # the capture worked
    haystacks = {"responses": b"\n".join(seen), "cookies": cookies,
                 "server log": secure_server.log.read_bytes(),
                 "audit log": secure_server.audit_file.read_bytes()}
    for where, data in haystacks.items():
        for secret in secrets:
            assert secret.encode("utf-8") not in data, f"secret found in {where}"
    assert any(e["actor"] == "wang" and e["action"] == "logout" for e in secure_server.audit())


def test_cross_site_requests_are_refused(secure_server):
    """XSRF: an upload without the token, and a WebSocket opened from a foreign origin
    (cross-site WebSocket hijacking), are both refused by the server itself."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect as ws_connect

    req = urllib.request.Request(f"{secure_server.url}/_stcore/upload_file/s/f", method="PUT",
                                 data=b"--x--\r\n",
                                 headers={"Content-Type": "multipart/form-data; boundary=x",
                                          "Origin": "http://evil.example"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 403

    def connect(origin):
        ws_url = secure_server.url.replace("http://", "ws://") + "/_stcore/stream"
        try:
            with ws_connect(ws_url, origin=origin, subprotocols=["streamlit"], open_timeout=10):
                return "open"
        except InvalidStatus as exc:
            return exc.response.status_code

    assert connect("http://evil.example") == 403
    assert connect(secure_server.url) == "open"  # the app's own origin works


def test_upload_limits_are_stated_and_enforced(page, secure_server, tmp_path):
    from planning.app.actions import UPLOAD_LIMITS_MB

    _login(page, secure_server.url, "wang", PASSWORDS["wang"], path="数据_Data")
    _logged_in(page, "wang")
    page.get_by_text("单个文件大小上限").first.wait_for(timeout=60_000)
    big = tmp_path / "huge_stations.csv"
    with big.open("wb") as fh:  # one byte over the table limit, well under the server's cap
        fh.write(b"name,lon,lat\n")
        fh.truncate(UPLOAD_LIMITS_MB["table"] * 1024 * 1024 + 1)
    uploader = page.locator("[data-testid='stFileUploader']").filter(
        has=page.get_by_text("设施", exact=True))
    uploader.locator("input[type='file']").set_input_files(str(big))
    _settled(page)
    page.locator("[data-testid='stAlertContentError']",
                 has_text=f"超过表格文件上限 {UPLOAD_LIMITS_MB['table']} MB").wait_for(
        timeout=60_000)
    assert page.get_by_role("button", name="使用这些数据").count() == 0
