"""Serving to a bureau (issue 19), engine side: lock-out, session expiry, role-checked actions,
the audit log, upload limits and the secure-by-default configuration."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
import tomllib
from dataclasses import replace
from pathlib import Path

import pyogrio
import pytest

from planning.app import actions, auth, serve
from planning.app.audit import audit, audit_path, read_audit
from planning.app.auth import (
    LoginGuard,
    User,
    actor_for,
    client_address,
    hash_password,
    login_attempt,
    session_expired,
)
from planning.errors import InputError, PermissionDenied
from planning.roles import LOCAL, Actor
from planning.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FAST = {"n": 2**10, "r": 8, "p": 1}
VIEWER = Actor("li", "viewer")
EDITOR = Actor("wang", "editor")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("JINGKANG_DATA_DIR", str(tmp_path / "data"))  # the workspace's database
    return replace(Settings(), cache_dir=tmp_path / "cache", login_max_failures=3,
                   login_max_failures_per_address=5, login_lock_s=60.0, session_idle_s=900.0)


@pytest.fixture(scope="module")
def users() -> dict[str, User]:
    return {"wang": User("wang", "editor", hash_password("right-pw", **FAST)),
            "li": User("li", "viewer", hash_password("viewer-pw", **FAST))}


# --- lock-out -----------------------------------------------------------------------------
def test_user_locked_after_n_failures_and_lock_expires(settings):
    clock = Clock()
    guard = LoginGuard(clock=clock)
    assert guard.failure("wang", "10.0.0.1", settings) == 0.0
    assert guard.failure("wang", "10.0.0.2", settings) == 0.0
    assert guard.failure("wang", "10.0.0.3", settings) == pytest.approx(60.0)  # 3rd: locked
    # locked for that user from any address, not for another user
    assert guard.locked_for("wang", "10.9.9.9", settings) == pytest.approx(60.0)
    assert guard.locked_for("WANG", None, settings) > 0  # case does not dodge the lock
    assert guard.locked_for("li", "10.9.9.9", settings) == 0.0
    clock.now += 59.0
    assert guard.locked_for("wang", None, settings) == pytest.approx(1.0)
    clock.now += 1.5
    assert guard.locked_for("wang", None, settings) == 0.0  # expired
    assert guard.failure("wang", None, settings) == 0.0  # counting starts afresh


def test_failures_outside_the_window_are_forgotten(settings):
    clock = Clock()
    guard = LoginGuard(clock=clock)
    for _ in range(2):
        guard.failure("wang", None, settings)
    clock.now += 61
    assert guard.failure("wang", None, settings) == 0.0


def test_address_locked_after_password_spraying(settings):
    clock = Clock()
    guard = LoginGuard(clock=clock)
    for i in range(4):
        assert guard.failure(f"user{i}", "10.0.0.7", settings) == 0.0
    assert guard.failure("user4", "10.0.0.7", settings) > 0  # 5th failure from the address
    assert guard.locked_for("someone-else", "10.0.0.7", settings) > 0
    assert guard.locked_for("someone-else", "10.0.0.8", settings) == 0.0


def test_success_clears_user_failures_but_not_the_address(settings):
    clock = Clock()
    guard = LoginGuard(clock=clock)
    guard.failure("wang", "a", settings)
    guard.failure("wang", "a", settings)
    guard.success("wang", "a")
    assert guard.failure("wang", "b", settings) == 0.0  # 1 since the success
    guard.failure("x", "a", settings)
    guard.failure("x", "a", settings)
    assert guard.locked_for("y", "a", settings) == 0.0  # a: 2 + 2 failures
    guard.failure("z", "a", settings)
    assert guard.locked_for("y", "a", settings) > 0  # 5th from a, though wang logged in


def test_guard_is_thread_safe(settings):
    guard = LoginGuard(clock=Clock())
    many = replace(settings, login_max_failures=10_000, login_max_failures_per_address=10_000)

    def hammer():
        for _ in range(500):
            guard.failure("wang", "a", many)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(guard._failures[("user", "wang")]) == 2000  # no lost update


def test_guard_memory_is_bounded(settings):
    clock = Clock()
    guard = LoginGuard(clock=clock, max_keys=50)
    for i in range(40):
        guard.failure(f"u{i}", None, settings)
    clock.now += 120
    for i in range(40, 80):
        guard.failure(f"u{i}", None, settings)
    assert len(guard._failures) <= 50


def test_login_attempt_locks_audits_and_never_logs_secrets(users, settings, caplog):
    guard = LoginGuard(clock=Clock())
    caplog.set_level("DEBUG")
    for _ in range(2):
        assert login_attempt(users, "wang", "wrong-pw-1", address="10.1.1.1",
                             settings=settings, guard=guard) == (None, 0.0)
    user, wait = login_attempt(users, "wang", "wrong-pw-1", address="10.1.1.1",
                               settings=settings, guard=guard)
    assert user is None and wait == pytest.approx(60.0)
    # while locked even the right password is refused, without checking it
    assert login_attempt(users, "wang", "right-pw", address="10.1.1.2", settings=settings,
                         guard=guard)[0] is None
    # a password typed into the name field is not logged
    login_attempt(users, "right-pw", "x", address="10.1.1.3", settings=settings, guard=guard)
    assert login_attempt(users, "li", "viewer-pw", address="10.1.1.4", settings=settings,
                         guard=guard)[0] is users["li"]
    log = [(e["actor"], e["action"], e["outcome"]) for e in read_audit(settings)]
    assert log == [("wang", "login", "failed"), ("wang", "login", "failed"),
                   ("wang", "login", "locked"), ("wang", "login", "locked"),
                   ("<unknown user>", "login", "failed"), ("li", "login", "ok")]
    everything = audit_path(settings).read_text() + caplog.text
    for secret in ("wrong-pw-1", "right-pw", "viewer-pw", users["wang"].password_hash,
                   users["wang"].password_hash.split("$")[-1]):
        assert secret not in everything


def test_unknown_user_costs_a_scrypt_too(users, monkeypatch):
    calls = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda pw, h: calls.append(h) or real(pw, h))
    assert auth.authenticate(users, "nobody", "x") is None
    assert calls == [auth._dummy_hash()]  # same work as a real user


def test_client_address_trusts_forwarded_for_only_when_told():
    headers = {"X-Forwarded-For": "6.6.6.6, 10.0.0.5", "Host": "planner"}
    assert client_address(headers, "192.168.1.2", trust_proxy=False) == "192.168.1.2"
    assert client_address(headers, None, trust_proxy=False) == "local"
    # the right-most hop is what our proxy appended; the forged left part is ignored
    assert client_address(headers, "127.0.0.1", trust_proxy=True) == "10.0.0.5"
    assert client_address({}, "192.168.1.2", trust_proxy=True) == "192.168.1.2"


def test_session_expiry():
    assert not session_expired(None, 10_000.0, 900)
    assert not session_expired(1000.0, 1900.0, 900)
    assert session_expired(1000.0, 1900.5, 900)


def test_actor_for_never_gives_local_when_login_is_required(users):
    assert actor_for(users["li"], required=True) == VIEWER
    assert actor_for(None, required=False) == LOCAL
    anon = actor_for(None, required=True)
    assert anon != LOCAL and not anon.may("upload")


def test_network_mode_turns_login_on():
    assert auth.serve_mode({"JINGKANG_SERVE": "1"})
    assert auth.auth_required(sensitive=False, env={"JINGKANG_SERVE": "1"})
    assert not auth.auth_required(sensitive=False, env={"JINGKANG_SERVE": "0"})


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("JINGKANG_LOGIN_LOCK_S", "4.5")
    monkeypatch.setenv("JINGKANG_LOGIN_MAX_FAILURES", "2")
    s = Settings()
    assert (s.login_lock_s, s.login_max_failures) == (4.5, 2)
    monkeypatch.setenv("JINGKANG_LOGIN_LOCK_S", "soon")
    with pytest.raises(ValueError, match="JINGKANG_LOGIN_LOCK_S"):
        Settings()


# --- audit log -----------------------------------------------------------------------------
def test_audit_file_is_owner_only_json_lines(settings):
    audit(EDITOR, "save_scenario", "s1", outcome="ok", settings=settings)
    audit("someone", "login", "address x", outcome="failed", detail="a\nb", settings=settings)
    path = audit_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(x) for x in lines)
    assert (first["actor"], first["role"], first["outcome"]) == ("wang", "editor", "ok")
    assert second["detail"] == "a b"  # no forged extra lines
    with pytest.raises(ValueError, match="outcome"):
        audit(EDITOR, "x", "y", outcome="maybe", settings=settings)


def test_audit_tightens_a_world_readable_file(settings):
    path = audit_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text("")
    os.chmod(path, 0o644)
    audit(EDITOR, "upload", "f", outcome="ok", settings=settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_audit_forwards_to_the_workspace_when_it_offers_record(settings, monkeypatch):
    import planning.workspace as workspace

    got = []
    monkeypatch.setattr(workspace, "record",
                        lambda actor, action, target, *, outcome, detail="":
                        got.append((actor, action, target, outcome)), raising=False)
    audit(VIEWER, "upload", "f.csv", outcome="refused", settings=settings)
    assert got == [(VIEWER, "upload", "f.csv", "refused")]

    def broken(*a, **k):
        msg = "db down"
        raise RuntimeError(msg)

    monkeypatch.setattr(workspace, "record", broken, raising=False)
    audit(VIEWER, "upload", "g.csv", outcome="refused", settings=settings)  # still in the file
    assert [e["target"] for e in read_audit(settings)] == ["f.csv", "g.csv"]


# --- role-checked actions ------------------------------------------------------------------
@pytest.fixture
def facilities_csv(demo, tmp_path) -> Path:
    st = demo.subset(["东城区"]).stations()
    path = tmp_path / "stations.csv"
    st.drop(columns="geometry").assign(lon=st.geometry.x, lat=st.geometry.y).to_csv(
        path, index=False)
    return path


def _refused(settings) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["target"]) for e in read_audit(settings)
            if e["outcome"] == "refused"]


def test_viewer_cannot_upload_or_replace_data_even_calling_actions_directly(
        demo, facilities_csv, settings):
    with pytest.raises(PermissionDenied) as err:
        actions.upload_layer(VIEWER, facilities_csv, "facilities", settings=settings)
    assert err.value.action == "upload" and err.value.role == "viewer"
    layer = actions.upload_layer(EDITOR, facilities_csv, "facilities", settings=settings)
    assert len(layer) == len(demo.subset(["东城区"]).stations())
    with pytest.raises(PermissionDenied):
        actions.replace_dataset(VIEWER, demo, {"facilities": layer}, settings=settings)
    new = actions.replace_dataset(EDITOR, demo, {"facilities": layer}, settings=settings)
    assert len(new.facilities) == len(layer) and len(demo.facilities) > len(layer)
    assert _refused(settings) == [("li", "upload", "facilities:stations.csv"),
                                  ("li", "replace_data", "facilities")]


def test_viewer_cannot_import_a_ledger_and_nothing_is_read(demo, settings, tmp_path):
    ledger = tmp_path / "ledger.csv"
    ledger.write_text("not even a ledger\n", encoding="utf-8")
    with pytest.raises(PermissionDenied):  # refused before the file is parsed
        actions.import_ledger(VIEWER, ledger, demo.units, settings=settings)
    with pytest.raises(InputError):  # an editor gets to the parser, which rejects it
        actions.import_ledger(EDITOR, ledger, demo.units, settings=settings)
    with pytest.raises(PermissionDenied):
        actions.apply_ledger(VIEWER, demo, object(), name="ledger.csv", settings=settings)
    assert [a for _, a, _ in _refused(settings)] == ["import_ledger", "import_ledger"]


def test_viewer_cannot_save_or_delete_scenarios(settings):
    store = {"kept": 1}
    with pytest.raises(PermissionDenied):
        actions.save_scenario(VIEWER, store, "mine", 2, settings=settings)
    with pytest.raises(PermissionDenied):
        actions.delete_scenario(VIEWER, store, "kept", settings=settings)
    assert store == {"kept": 1}
    actions.save_scenario(EDITOR, store, "mine", 2, settings=settings)
    actions.delete_scenario(EDITOR, store, "kept", settings=settings)
    assert store == {"mine": 2}
    assert _refused(settings) == [("li", "save_scenario", "mine"),
                                  ("li", "delete_scenario", "kept")]


def test_patient_layers_only_for_editors(demo, settings, tmp_path):
    assert "patients" in demo.units.columns
    agg = actions.export_layers(VIEWER, demo, tmp_path / "agg.gpkg", settings=settings)
    units = pyogrio.read_dataframe(agg, layer="units")
    assert not {"patients", "patients_served", "eligible"} & set(units.columns)
    with pytest.raises(PermissionDenied):
        actions.export_layers(VIEWER, demo, tmp_path / "full.gpkg", include_patient_layers=True,
                              settings=settings)
    assert not (tmp_path / "full.gpkg").exists()
    full = actions.export_layers(EDITOR, demo, tmp_path / "full.gpkg",
                                 include_patient_layers=True, settings=settings)
    assert "patients" in pyogrio.read_dataframe(full, layer="units").columns
    assert _refused(settings) == [("li", "export_patient_layers", "full.gpkg")]


def test_refusal_text_is_in_the_ui_language(settings):
    with pytest.raises(PermissionDenied) as err:
        actions.save_scenario(VIEWER, {}, "x", 1, settings=settings)
    zh, en = actions.refusal_text(err.value, "zh"), actions.refusal_text(err.value, "en")
    assert "保存情景" in zh and "编辑者" in zh and "查看者" in zh
    assert "saving a scenario" in en and "editor" in en and "Traceback" not in en


# --- upload limits ----------------------------------------------------------------------------
def test_upload_limits_per_type(tmp_path):
    big_csv = io.BytesIO(b"x" * (actions.UPLOAD_LIMITS_MB["table"] * 1024 * 1024 + 1))
    with pytest.raises(InputError, match="20 MB"):
        actions.check_upload(big_csv, "stations.csv", lang="en")
    with pytest.raises(InputError, match="台账"):  # ledgers: their own limit, in Chinese
        actions.check_upload(big_csv, "ledger.csv", ledger=True)
    same_size_vector = io.BytesIO(big_csv.getvalue())
    assert actions.check_upload(same_size_vector, "units.gpkg") == len(big_csv.getvalue())
    with pytest.raises(InputError, match="not accepted"):
        actions.check_upload(b"MZ", "tool.exe", lang="en")
    text = actions.upload_limits_text("en")
    assert all(f"{v} MB" in text for v in actions.UPLOAD_LIMITS_MB.values())


def test_upload_limit_applies_before_parsing(tmp_path, settings):
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.truncate(actions.UPLOAD_LIMITS_MB["table"] * 1024 * 1024 + 10)
    with pytest.raises(InputError, match="MB"):
        actions.upload_layer(EDITOR, path, "facilities", settings=settings)


def test_server_cap_covers_every_per_type_limit():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["maxUploadSize"] >= max(actions.UPLOAD_LIMITS_MB.values())


# --- secure defaults and network mode --------------------------------------------------------
def test_streamlit_config_is_local_with_xsrf_and_minimal_toolbar():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1"
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["server"]["enableCORS"] is True
    assert cfg["client"]["toolbarMode"] == "minimal"
    assert cfg["client"]["showErrorDetails"] in ("none", False)


def test_make_app_binds_loopback_and_serve_goes_through_the_check():
    make = (ROOT / "Makefile").read_text()
    app_recipe = make.split("\napp:", 1)[1].split("\n\n", 1)[0]
    assert "--server.address 127.0.0.1" in app_recipe
    serve_recipe = make.split("\nserve:", 1)[1].split("\n\n", 1)[0]
    assert "planning.app.serve" in serve_recipe


def test_serve_refuses_without_a_users_file(tmp_path, users, capsys, monkeypatch):
    assert serve.check_serve_config({}) and "JINGKANG_USERS" in serve.check_serve_config({})[0]
    plain = tmp_path / "users.toml"
    plain.write_text('[users.a]\nrole = "editor"\npassword = "hunter2"\n')
    problems = serve.check_serve_config({"JINGKANG_USERS": str(plain)})
    assert len(problems) == 1 and "hunter2" not in problems[0]
    viewers = tmp_path / "viewers.toml"
    viewers.write_text(f'[users.li]\nrole = "viewer"\npassword = "{users["li"].password_hash}"\n')
    assert "no editor" in serve.check_serve_config({"JINGKANG_USERS": str(viewers)})[0]
    good = tmp_path / "good.toml"
    good.write_text(f'[users.wang]\nrole = "editor"\npassword = "{users["wang"].password_hash}"\n')
    assert serve.check_serve_config({"JINGKANG_USERS": str(good)}) == []
    bad_lock = {"JINGKANG_USERS": str(good), "JINGKANG_LOGIN_LOCK_S": "-1"}
    assert "JINGKANG_LOGIN_LOCK_S" in serve.check_serve_config(bad_lock)[0]
    # the launcher exits with a clear message instead of starting
    monkeypatch.delenv("JINGKANG_USERS", raising=False)
    assert serve.main(["--check"]) == 2
    assert "refusing to serve" in capsys.readouterr().err
    cmd = serve.streamlit_command(address="0.0.0.0", port=9999)
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0"


def test_refusals_reach_the_workspace_audit_log(settings):
    from planning import workspace as wsp

    with pytest.raises(PermissionDenied):
        actions.save_scenario(VIEWER, {}, "plan-b", 1, settings=settings)
    log = wsp.Workspace.open(url=wsp.database_url(settings)).audit_log()
    rows = log[(log["actor"] == "li") & (log["action"] == "save_scenario")]
    assert list(rows["outcome"]) == ["refused"] and list(rows["target"]) == ["plan-b"]


def test_read_upload_checks_role_and_size_before_the_reader_runs(settings, tmp_path):
    calls = []
    path = tmp_path / "ledger.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(PermissionDenied):
        actions.read_upload(VIEWER, path, calls.append, name="ledger.csv", ledger=True,
                            settings=settings)
    big = io.BytesIO(b"x" * (actions.UPLOAD_LIMITS_MB["ledger"] * 1024 * 1024 + 1))
    with pytest.raises(InputError):
        actions.read_upload(EDITOR, big, calls.append, name="ledger.csv", ledger=True,
                            settings=settings)
    assert calls == []  # neither the viewer's file nor the oversized one was read
    assert actions.read_upload(EDITOR, path, lambda f: Path(f).read_text(), name="ledger.csv",
                               ledger=True, settings=settings) == "a,b\n1,2\n"
    assert _refused(settings) == [("li", "import_ledger", "ledger.csv")]


def test_accept_dataset_and_exportable(demo, settings):
    with pytest.raises(PermissionDenied):
        actions.accept_dataset(VIEWER, demo, target="upload", settings=settings)
    assert actions.accept_dataset(EDITOR, demo, target="ledger", ledger=True,
                                  settings=settings) is demo
    assert actions.exportable(EDITOR, demo, settings=settings) is demo
    viewer_copy = actions.exportable(VIEWER, demo, settings=settings)
    assert "patients" in demo.units.columns
    assert not {"patients", "patients_served", "eligible"} & set(viewer_copy.units.columns)
    assert len(viewer_copy.units) == len(demo.units)
    assert [a for _, a, _ in _refused(settings)] == ["replace_data", "export_patient_layers"]


def test_a_refusal_inside_a_page_is_shown_in_the_ui_language(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("JINGKANG_DATA_DIR", str(tmp_path))  # the workspace's audit database

    def page():
        import streamlit as st

        from planning.app import actions
        from planning.roles import Actor

        st.session_state["_keep_lang"] = st.session_state.get("want", "zh")
        with actions.show_refusals():
            actions.save_scenario(Actor("li", "viewer"), st.session_state.setdefault(
                "scenarios", {}), "plan", 1)
            st.markdown("SAVED")

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception and not [m for m in at.markdown if m.value == "SAVED"]
    assert at.error[0].value.startswith("无权限：保存情景需要“编辑者”角色")
    assert at.session_state["scenarios"] == {}
    at.session_state["want"] = "en"
    at.run()
    assert at.error[0].value.startswith("Not allowed: saving a scenario needs the editor role")
