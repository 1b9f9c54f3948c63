"""Optional login for the dashboard: users, hashed passwords and two roles.

Users come from a TOML or YAML file, or from the ``JINGKANG_USERS`` environment variable (a path
to such a file, or inline ``name:role:hash`` entries separated by ``;`` or new lines)::

    # users.toml
    [users.wang]
    role = "editor"          # may upload ledgers and data
    password = "scrypt$16384$8$1$<salt>$<hash>"

    [users.li]
    role = "viewer"          # may see aggregates

Passwords are stored only as salted scrypt hashes (per-user random salt), made with
``python -m planning.app.auth hash``, and compared in constant time. Login is off on the demo
data and
on when real ledgers are loaded (:func:`mark_sensitive`) or ``JINGKANG_AUTH=1``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import getpass
import hashlib
import hmac
import os
import secrets
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from planning.errors import InputError

#: Roles, weakest first; each role may do everything the ones before it may.
ROLES: tuple[str, ...] = ("viewer", "editor")

SCHEME = "scrypt"
_N, _R, _P = 2**14, 8, 1
_DKLEN = 32
SESSION_USER = "jingkang_user"
SESSION_SENSITIVE = "jingkang_sensitive_data"


@dataclass(frozen=True)
class User:
    """A configured user: name, role and the stored password hash (never the password)."""

    name: str
    role: str
    password_hash: str

    def may(self, role: str) -> bool:
        """Whether this user holds ``role`` or a stronger one."""
        return ROLES.index(self.role) >= ROLES.index(_check_role(role))


def _check_role(role: str, source: str = "users") -> str:
    if role not in ROLES:
        msg = f"unknown role {role!r}; expected one of {', '.join(ROLES)}"
        raise InputError(msg, source=source, field="role")
    return role


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None, n: int = _N, r: int = _R,
                  p: int = _P) -> str:
    """Hash ``password`` with scrypt and a random 16-byte salt.

    Returns
    -------
    str
        ``"scrypt$N$r$p$<salt base64>$<hash base64>"``, safe to store in a config file.
    """
    if not password:
        msg = "the password must not be empty"
        raise ValueError(msg)
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                            maxmem=256 * 1024 * 1024, dklen=_DKLEN)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, n, r, p, salt, digest = encoded.split("$")
    if scheme != SCHEME:
        msg = f"unknown hash scheme {scheme!r}"
        raise ValueError(msg)
    return (int(n), int(r), int(p), base64.b64decode(salt, validate=True),
            base64.b64decode(digest, validate=True))


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time compare; False if malformed)."""
    try:
        n, r, p, salt, digest = _parse(encoded)
        if n > 2**20 or r > 32 or p > 16:  # refuse parameters that would exhaust memory
            return False
        candidate = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                                   maxmem=256 * 1024 * 1024, dklen=len(digest))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, digest)


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not a real password", salt=b"\0" * 16)


def _users_from_mapping(doc: object, source: str) -> dict[str, User]:
    table = doc.get("users") if isinstance(doc, Mapping) else None
    if not isinstance(table, Mapping):
        msg = "expected a [users] table with one entry per user"
        raise InputError(msg, source=source, field="users")
    users: dict[str, User] = {}
    for name, entry in table.items():
        if not isinstance(entry, Mapping):
            msg = "expected role and password"
            raise InputError(msg, source=source, field=str(name))
        role = _check_role(str(entry.get("role", "viewer")), source)
        encoded = str(entry.get("password", ""))
        try:
            _parse(encoded)
        except (ValueError, TypeError):
            msg = (f"user {name!r}: the password must be a hash from "
                   "`python -m planning.app.auth hash`, not a plain password")
            raise InputError(msg, source=source, field="password") from None
        users[str(name)] = User(str(name), role, encoded)
    return users


def _users_from_inline(text: str, source: str) -> dict[str, User]:
    users: dict[str, User] = {}
    entries = [e.strip() for e in text.replace("\n", ";").split(";") if e.strip()]
    for i, entry in enumerate(entries, start=1):
        parts = entry.split(":", 2)
        if len(parts) != 3:
            msg = "expected name:role:hash"
            raise InputError(msg, source=source, row=i, field="JINGKANG_USERS")
        name, role, encoded = (p.strip() for p in parts)
        users.update(_users_from_mapping({"users": {name: {"role": role, "password": encoded}}},
                                         source))
    return users


def load_users(path: str | Path | None = None,
               env: Mapping[str, str] | None = None) -> dict[str, User]:
    """Users from ``path`` (.toml, .yaml/.yml) or else from ``$JINGKANG_USERS``; ``{}`` if none.

    Raises
    ------
    InputError
        On a malformed file or entry, an unknown role or a password that is not a hash.
    """
    env = os.environ if env is None else env
    if path is None:
        spec = env.get("JINGKANG_USERS", "").strip()
        if not spec:
            return {}
        if "$" not in spec and Path(spec).exists():
            path = spec
        else:
            return _users_from_inline(spec, "JINGKANG_USERS")
    path = Path(path)
    source = path.name
    try:
        raw = path.read_bytes()
        if path.suffix.lower() == ".toml":
            doc = tomllib.loads(raw.decode("utf-8"))
        elif path.suffix.lower() in (".yaml", ".yml"):
            doc = yaml.safe_load(raw.decode("utf-8"))
        else:
            msg = "expected a .toml or .yaml users file"
            raise InputError(msg, source=source)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        msg = f"could not read the users file: {type(exc).__name__}"
        raise InputError(msg, source=source) from None
    return _users_from_mapping(doc, source)


def authenticate(users: Mapping[str, User], name: str, password: str) -> User | None:
    """The user if ``name`` and ``password`` match, else ``None``.

    An unknown name costs the same scrypt work as a wrong password, so timing does not reveal
    which names exist.
    """
    user = users.get(name)
    ok = verify_password(password, user.password_hash if user else _dummy_hash())
    return user if ok and user is not None else None


def auth_required(*, sensitive: bool, env: Mapping[str, str] | None = None) -> bool:
    """Login is required for real (sensitive) data, or everywhere when ``JINGKANG_AUTH=1``."""
    env = os.environ if env is None else env
    return sensitive or env.get("JINGKANG_AUTH", "").strip().lower() in ("1", "true", "yes", "on")


# --- Streamlit helpers (thin; the logic above is what the tests check) ------------------------
def mark_sensitive() -> None:
    """Record in this browser session that real ledgers/data are loaded: login from now on."""
    import streamlit as st

    st.session_state[SESSION_SENSITIVE] = True


def require_login(role: str = "viewer", *, users: Mapping[str, User] | None = None) -> User | None:
    """Stop the page unless a user with ``role`` is logged in (when login is required).

    Returns the logged-in user, or ``None`` when login is not required (demo data, no
    ``JINGKANG_AUTH``). Pages call it before showing anything from real data; the upload page
    calls ``require_login("editor")``.
    """
    import streamlit as st

    _check_role(role)
    if not auth_required(sensitive=bool(st.session_state.get(SESSION_SENSITIVE))):
        return None
    users = load_users() if users is None else users
    if not users:
        st.error("Login is required for real data but no users are configured "
                 "(set JINGKANG_USERS; see `python -m planning.app.auth hash`).")
        st.stop()
    current = users.get(st.session_state.get(SESSION_USER, ""))
    if current is None:
        with st.form("jingkang_login"):
            name = st.text_input("用户名 User")
            password = st.text_input("密码 Password", type="password")
            if st.form_submit_button("登录 Log in"):
                found = authenticate(users, name, password)
                if found is None:
                    st.error("用户名或密码错误 Wrong user name or password")
                else:
                    st.session_state[SESSION_USER] = found.name
                    st.rerun()
        st.stop()
    if not current.may(role):
        st.error(f"需要 {role} 权限 This page needs the {role} role.")
        st.stop()
    return current


def logout() -> None:
    """Forget the logged-in user of this browser session."""
    import streamlit as st

    st.session_state.pop(SESSION_USER, None)


def main(argv: list[str] | None = None) -> int:
    """``python -m planning.app.auth hash [--stdin]``: print a password hash for a users file."""
    parser = argparse.ArgumentParser(prog="python -m planning.app.auth")
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser("hash", help="hash a password for the users file")
    h.add_argument("--stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if args.command == "hash":
        if args.stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Again: ") != password:
                print("the passwords differ", file=sys.stderr)
                return 1
        if not password:
            print("the password must not be empty", file=sys.stderr)
            return 1
        print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
