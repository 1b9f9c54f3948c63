"""Password hashing, users files, roles and when login is required (not the Streamlit widgets)."""

from __future__ import annotations

import io

import pytest

from planning.app import auth
from planning.app.auth import (
    User,
    auth_required,
    authenticate,
    hash_password,
    load_users,
    verify_password,
)
from planning.errors import InputError

# Cheap scrypt parameters keep the tests fast; the defaults are checked once below.
FAST = {"n": 2**10, "r": 8, "p": 1}


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {"wang": hash_password("驿站-2024", **FAST), "li": hash_password("viewer pw", **FAST)}


def test_hash_format_salt_and_verify():
    h = hash_password("s3cret")
    scheme, n, r, p, salt, digest = h.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert len(salt) == 24 and len(digest) == 44  # base64 of 16 and 32 bytes
    assert "s3cret" not in h
    assert verify_password("s3cret", h)
    assert not verify_password("s3cret ", h) and not verify_password("", h)
    assert hash_password("s3cret", **FAST) != hash_password("s3cret", **FAST)  # per-hash salt


def test_tampered_or_malformed_hashes_never_verify(hashes):
    h = hashes["wang"]
    parts = h.split("$")
    parts[-1] = parts[-1][:-4] + ("AAAA" if not parts[-1].endswith("AAAA") else "BBBB")
    assert not verify_password("驿站-2024", "$".join(parts))
    for bad in ("", "plain", "md5$1$2$3$4$5", "scrypt$x$8$1$AA==$AA==",
                "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA"):  # n too big: refused
        assert not verify_password("驿站-2024", bad)
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_users_from_toml_yaml_and_env(tmp_path, hashes):
    toml = tmp_path / "users.toml"
    toml.write_text(f'[users.wang]\nrole = "editor"\npassword = "{hashes["wang"]}"\n'
                    f'[users.li]\npassword = "{hashes["li"]}"\n', encoding="utf-8")
    users = load_users(toml)
    assert users["wang"].role == "editor" and users["li"].role == "viewer"
    yml = tmp_path / "users.yaml"
    yml.write_text(f"users:\n  wang:\n    role: editor\n    password: '{hashes['wang']}'\n")
    assert load_users(yml)["wang"].password_hash == hashes["wang"]
    env = {"JINGKANG_USERS": f"wang:editor:{hashes['wang']}; li:viewer:{hashes['li']}"}
    assert set(load_users(env=env)) == {"wang", "li"}
    assert load_users(env={"JINGKANG_USERS": str(toml)})["wang"].role == "editor"
    assert load_users(env={}) == {}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[users.a]\nrole = "admin"\npassword = "{h}"\n', "role"),
        ('[users.a]\nrole = "viewer"\npassword = "hunter2"\n', "password"),
        ('[people.a]\nrole = "viewer"\n', "users"),
        ("[users\n", None),
    ],
)
def test_bad_users_files(tmp_path, hashes, text, field):
    p = tmp_path / "u.toml"
    p.write_text(text.replace("{h}", hashes["li"]))
    with pytest.raises(InputError) as err:
        load_users(p)
    assert (err.value.source, err.value.field) == ("u.toml", field)
    assert "hunter2" not in str(err.value)


def test_inline_env_entry_must_have_three_parts():
    with pytest.raises(InputError) as err:
        load_users(env={"JINGKANG_USERS": "wang:editor"})
    assert (err.value.row, err.value.field) == (1, "JINGKANG_USERS")


def test_authenticate_and_roles(hashes):
    users = {"wang": User("wang", "editor", hashes["wang"]),
             "li": User("li", "viewer", hashes["li"])}
    wang = authenticate(users, "wang", "驿站-2024")
    assert wang is users["wang"]
    assert authenticate(users, "wang", "viewer pw") is None
    assert authenticate(users, "nobody", "驿站-2024") is None
    assert wang.may("editor") and wang.may("viewer")
    assert users["li"].may("viewer") and not users["li"].may("editor")
    with pytest.raises(InputError, match="unknown role"):
        wang.may("admin")


def test_login_required_only_for_real_data_or_when_asked():
    assert not auth_required(sensitive=False, env={})
    assert auth_required(sensitive=True, env={})
    assert auth_required(sensitive=False, env={"JINGKANG_AUTH": "1"})
    assert not auth_required(sensitive=False, env={"JINGKANG_AUTH": "0"})
    assert auth_required(sensitive=True, env={"JINGKANG_AUTH": "0"})  # real data: always


def test_cli_hash_from_stdin(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    assert auth.main(["hash", "--stdin"]) == 0
    printed = capsys.readouterr().out.strip()
    assert verify_password("from stdin", printed)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert auth.main(["hash", "--stdin"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("x" * 257 + "\n"))  # the form takes 256
    assert auth.main(["hash", "--stdin"]) == 1


# --- the Streamlit glue, driven in-process by Streamlit's AppTest ----------------------------
def _gate_script():
    import streamlit as st

    from planning.app.auth import gate

    actor = gate()
    st.markdown(f"SECRET PAGE for {actor.name} ({actor.role})")


@pytest.fixture
def served(tmp_path, monkeypatch, hashes):
    users = tmp_path / "users.toml"
    users.write_text(f'[users.wang]\nrole = "editor"\npassword = "{hashes["wang"]}"\n'
                     f'[users.li]\nrole = "viewer"\npassword = "{hashes["li"]}"\n')
    monkeypatch.setenv("JINGKANG_SERVE", "1")
    monkeypatch.setenv("JINGKANG_USERS", str(users))
    from streamlit.testing.v1 import AppTest

    return AppTest.from_function(_gate_script, default_timeout=30)


def _submit(at, name, password):
    at.text_input(key="jingkang_login_name").input(name)
    at.text_input(key="jingkang_login_password").input(password)
    at.button[0].click()
    return at.run()


def _page_text(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_network_mode_gate_login_wrong_password_and_logout(served, hashes):
    at = served.run()
    assert "SECRET PAGE" not in _page_text(at)
    assert at.text_input(key="jingkang_login_password").proto.type == 1  # a password field
    _submit(at, "wang", "viewer pw")
    assert [e.value for e in at.error] == ["用户名或密码错误。"]
    assert "SECRET PAGE" not in _page_text(at)
    _submit(at, "wang", "驿站-2024")
    assert "SECRET PAGE for wang (editor)" in _page_text(at)
    kept = at.session_state["jingkang_login_password"] \
        if "jingkang_login_password" in at.session_state else ""
    assert kept == ""  # the typed password is not kept in the session
    at.session_state["dataset"] = "uploaded by wang"
    at.button(key="jingkang_logout").click()
    at.run()
    assert "SECRET PAGE" not in _page_text(at)
    assert "dataset" not in at.session_state  # logout forgets the session's data too
    assert any("已退出登录" in i.value for i in at.info)


def test_session_expires_after_inactivity(served):
    at = _submit(served.run(), "li", "viewer pw")
    assert "SECRET PAGE for li (viewer)" in _page_text(at)
    at.session_state["jingkang_last_seen"] -= auth.DEFAULT.session_idle_s + 1
    at.run()
    assert "SECRET PAGE" not in _page_text(at)
    assert any("过期" in i.value for i in at.info)


def test_viewer_refused_an_editor_page_in_the_ui_language(served, monkeypatch):
    def editor_page():
        import streamlit as st

        from planning.app.auth import gate, require_login

        gate()
        require_login("editor")
        st.markdown("UPLOAD FORM")

    from streamlit.testing.v1 import AppTest

    at = _submit(AppTest.from_function(editor_page, default_timeout=30).run(), "li",
                 "viewer pw")
    assert "UPLOAD FORM" not in _page_text(at)
    assert [e.value for e in at.error] == ["此页面需要“编辑者”角色。"]


def test_login_screen_speaks_the_chosen_language(served):
    at = served.run()
    at.radio(key="jingkang_login_lang").set_value("en").run()
    _submit(at, "nobody", "x")
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert at.session_state["_keep_lang"] == "en"  # the pages' toggle starts in English too


def test_logout_forgets_everything_even_when_a_widget_key_cannot_be_deleted(monkeypatch):
    """Seen in CI: an empty file uploader's key was listed but refused deletion (KeyError)."""
    import streamlit

    class State(dict):
        def __delitem__(self, key):
            if key == "profile_upload":
                raise KeyError(key)
            super().__delitem__(key)

    state = State({"jingkang_user": "wang", "profile_upload": None, "dataset": object(),
                   "lang": "en", "_keep_lang": "en"})
    monkeypatch.setattr(streamlit, "session_state", state)
    auth.logout()
    assert set(state) == {"profile_upload", "lang", "_keep_lang"}
