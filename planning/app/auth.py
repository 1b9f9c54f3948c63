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
``python -m planning.app.auth hash``, and compared in constant time; an unknown name costs the
same scrypt work as a known one.

When login is required: in network mode (``JINGKANG_SERVE=1``, ``make serve``) on every page;
on 127.0.0.1 (``make app``) once real ledgers are loaded (:func:`mark_sensitive`) or with
``JINGKANG_AUTH=1``. Repeated wrong passwords lock the user name and the client address for a
while (:class:`LoginGuard`); a login idle for ``Settings.session_idle_s`` expires; every login,
lock-out, logout and refusal goes to the audit log (:mod:`planning.app.audit`). No password or
hash is ever logged or shown.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import getpass
import hashlib
import hmac
import logging
import math
import os
import secrets
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from planning.app.audit import audit
from planning.errors import InputError
from planning.i18n import t
from planning.roles import LOCAL, ROLES, Actor
from planning.settings import DEFAULT, Settings

log = logging.getLogger(__name__)

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
    """Return the user if ``name`` and ``password`` match, else ``None``.

    An unknown name costs the same scrypt work as a wrong password, so timing does not reveal
    which names exist.
    """
    user = users.get(name)
    ok = verify_password(password, user.password_hash if user else _dummy_hash())
    return user if ok and user is not None else None


def serve_mode(env: Mapping[str, str] | None = None) -> bool:
    """Whether the app is served to a network (``JINGKANG_SERVE=1``, set by ``make serve``)."""
    env = os.environ if env is None else env
    return env.get("JINGKANG_SERVE", "").strip().lower() in ("1", "true", "yes", "on")


def auth_required(*, sensitive: bool, env: Mapping[str, str] | None = None) -> bool:
    """Tell whether login is required.

    It is for real (sensitive) data, in network mode (``JINGKANG_SERVE=1``), and everywhere
    when ``JINGKANG_AUTH=1``.
    """
    env = os.environ if env is None else env
    return (sensitive or serve_mode(env)
            or env.get("JINGKANG_AUTH", "").strip().lower() in ("1", "true", "yes", "on"))


# --- lock-out: the one process-wide state ------------------------------------------------------
class LoginGuard:
    """Failed-login counts and temporary lock-outs, per user name and per client address.

    This is the one piece of state deliberately shared by all browser sessions: an attacker
    simply opens a new session for every guess, so a per-session counter would throttle
    nothing. It holds only user names, client addresses and timestamps (no password, no hash),
    and every method takes an internal lock because Streamlit runs each session's script in
    its own thread.

    Failures older than ``settings.login_lock_s`` are forgotten. A user name is locked for
    ``login_lock_s`` after ``login_max_failures`` failures in that window (whatever address
    they come from); an address after ``login_max_failures_per_address`` failures (whatever
    user names it tries: password spraying). Unknown user names are counted and locked like
    real ones, so the lock-out does not reveal which names exist. While locked, no password
    is checked at all.

    Parameters
    ----------
    clock : callable
        Monotonic seconds; injectable for tests.
    max_keys : int
        Memory bound: beyond this many tracked keys, stale ones are dropped.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._mutex = threading.Lock()
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._locked_until: dict[tuple[str, str], float] = {}

    @staticmethod
    def _keys(user: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("user", user.strip().casefold()[:128])]
        if address:
            keys.append(("address", address))
        return keys

    def locked_for(self, user: str, address: str | None, settings: Settings = DEFAULT) -> float:
        """Seconds until ``user`` / ``address`` may try again; ``0.0`` when not locked."""
        now = self._clock()
        with self._mutex:
            until = max((self._locked_until.get(k, 0.0) for k in self._keys(user, address)),
                        default=0.0)
        return max(0.0, until - now)

    def failure(self, user: str, address: str | None, settings: Settings = DEFAULT) -> float:
        """Count a wrong password; return the lock-out now in force (``0.0`` if none)."""
        now = self._clock()
        window = settings.login_lock_s
        limits = {"user": settings.login_max_failures,
                  "address": settings.login_max_failures_per_address}
        with self._mutex:
            self._prune(now, window)
            for key in self._keys(user, address):
                times = [t for t in self._failures.get(key, []) if now - t < window]
                times.append(now)
                self._failures[key] = times
                if len(times) >= limits[key[0]]:
                    self._locked_until[key] = now + window
                    self._failures[key] = []
        return self.locked_for(user, address, settings)

    def success(self, user: str, address: str | None) -> None:
        """Forget the user name's failures after a correct password (not the address's)."""
        with self._mutex:
            self._failures.pop(self._keys(user, None)[0], None)

    def _prune(self, now: float, window: float) -> None:
        if len(self._failures) + len(self._locked_until) <= self._max_keys:
            return
        self._failures = {k: v for k, v in self._failures.items() if v and now - v[-1] < window}
        self._locked_until = {k: v for k, v in self._locked_until.items() if v > now}


#: The process-wide guard the login form uses (see :class:`LoginGuard` for why it is shared).
GUARD = LoginGuard()


def client_address(headers: Mapping[str, str] | None, peer: str | None, *,
                   trust_proxy: bool) -> str:
    """Return the client address to count failures against.

    Parameters
    ----------
    headers : mapping
        Request headers of the browser connection.
    peer : str or None
        The socket peer as the server saw it (``st.context.ip_address``; ``None`` on loopback).
    trust_proxy : bool
        Use the right-most ``X-Forwarded-For`` entry (the one our reverse proxy appended; the
        entries left of it are whatever the client sent and may be forged). Only set this
        behind a proxy that always sets the header.

    Returns
    -------
    str
        An address, or ``"local"`` for a loopback connection without a trusted header.
    """
    if trust_proxy and headers:
        forwarded = next((v for k, v in headers.items() if k.lower() == "x-forwarded-for"), "")
        hops = [h.strip() for h in str(forwarded).split(",") if h.strip()]
        if hops:
            return hops[-1][:64]
    return (peer or "local")[:64]


def session_expired(last_seen: float | None, now: float, idle_s: float) -> bool:
    """Whether a login last active at ``last_seen`` has expired at ``now`` (after ``idle_s``)."""
    return last_seen is not None and now - last_seen > idle_s


def login_attempt(users: Mapping[str, User], name: str, password: str, *, address: str | None,
                  settings: Settings = DEFAULT,
                  guard: LoginGuard | None = None) -> tuple[User | None, float]:
    """Check a login through the lock-out guard and write the outcome to the audit log.

    Parameters
    ----------
    users : mapping
        Configured users.
    name, password : str
        What was typed. The password is only handed to scrypt; it is never logged.
    address : str or None
        Client address (:func:`client_address`).
    settings : Settings
        Lock-out limits and the audit file's location.
    guard : LoginGuard, optional
        Defaults to the process-wide :data:`GUARD`.

    Returns
    -------
    (User or None, float)
        The user on success; otherwise ``None`` and the seconds of lock-out in force
        (``0.0`` for a plain wrong password).
    """
    guard = GUARD if guard is None else guard
    # Log a typed name only if it is a real user: people type passwords into the name field.
    who = name if name in users else "<unknown user>"
    wait = guard.locked_for(name, address, settings)
    if wait > 0:
        audit(who, "login", f"address {address}", outcome="locked",
              detail=f"{wait:.0f}s left", settings=settings)
        return None, wait
    found = authenticate(users, name, password)
    if found is None:
        wait = guard.failure(name, address, settings)
        audit(who, "login", f"address {address}", outcome="locked" if wait else "failed",
              settings=settings)
        log.warning("login failed for %s from %s%s", who, address,
                    " (now locked)" if wait else "")
        return None, wait
    guard.success(name, address)
    audit(Actor(found.name, found.role), "login", f"address {address}", outcome="ok",
          settings=settings)
    return found, 0.0


def actor_for(user: User | None, *, required: bool) -> Actor:
    """Return the :class:`~planning.roles.Actor` for engine calls.

    The logged-in user; with no login required (``make app`` on 127.0.0.1, demo data) the
    single local user :data:`planning.roles.LOCAL`; and when login is required but nobody is
    logged in, a nameless viewer, which the engine refuses every change.
    """
    if user is not None:
        return Actor(user.name, user.role)
    return Actor("anonymous", "viewer") if required else LOCAL


# --- Streamlit helpers (thin; the logic above is what the tests check) ------------------------
SESSION_SEEN = "jingkang_last_seen"
SESSION_NOTICE = "jingkang_login_notice"


def _lang() -> str:
    import streamlit as st

    lang = st.session_state.get("lang") or st.session_state.get("_keep_lang") or "zh"
    return lang if lang in ("zh", "en") else "zh"


def mark_sensitive() -> None:
    """Record in this browser session that real ledgers/data are loaded: login from now on."""
    import streamlit as st

    st.session_state[SESSION_SENSITIVE] = True


def _st_client_address(settings: Settings) -> str:
    import streamlit as st

    try:
        headers, peer = st.context.headers, st.context.ip_address
    except Exception:  # no browser connection (bare script run)
        headers, peer = {}, None
    headers = dict(headers) if isinstance(headers, Mapping) else {}
    peer = peer if isinstance(peer, str) else None
    return client_address(headers, peer, trust_proxy=settings.trust_proxy_headers)


def _keep_login_lang() -> None:
    import streamlit as st

    st.session_state["_keep_lang"] = st.session_state["jingkang_login_lang"]


def _login_form(users: Mapping[str, User], lang: str, settings: Settings) -> None:
    import streamlit as st

    langs = ["zh", "en"]
    kept = st.session_state.get("_keep_lang", lang)
    lang = st.sidebar.radio(t("language"), langs, horizontal=True, key="jingkang_login_lang",
                            index=langs.index(kept) if kept in langs else 0,
                            format_func=lambda v: "中文" if v == "zh" else "English",
                            on_change=_keep_login_lang)
    st.subheader(t("login_title", lang))
    notice = st.session_state.pop(SESSION_NOTICE, None)
    if notice:
        st.info(t(notice, lang))
    with st.form("jingkang_login", clear_on_submit=True):
        name = st.text_input(t("login_user", lang), key="jingkang_login_name", max_chars=128)
        password = st.text_input(t("login_password", lang), type="password",
                                 key="jingkang_login_password", max_chars=256)
        submitted = st.form_submit_button(t("login_button", lang))
    if submitted:
        found, wait = login_attempt(users, name.strip()[:128], password[:256],
                                    address=_st_client_address(settings), settings=settings)
        del password
        if found is not None:
            st.session_state[SESSION_USER] = found.name
            st.session_state[SESSION_SEEN] = time.monotonic()
            st.rerun()
        elif wait > 0:
            st.error(t("login_locked", lang).format(minutes=max(1, math.ceil(wait / 60))))
        else:
            st.error(t("login_wrong", lang))


def _configured_users(lang: str) -> dict[str, User]:
    import streamlit as st

    try:
        users = load_users()
    except InputError as exc:
        log.error("users file: %s", exc)
        st.error(f"{t('login_users_error', lang)}: {exc.source or 'JINGKANG_USERS'}")
        st.stop()
    if not users:
        st.error(t("login_no_users", lang))
        st.stop()
    return users


def require_login(role: str = "viewer", *, users: Mapping[str, User] | None = None,
                  settings: Settings = DEFAULT) -> User | None:
    """Stop the page unless a user with ``role`` is logged in (when login is required).

    Returns the logged-in user, or ``None`` when login is not required (demo data on
    127.0.0.1, no ``JINGKANG_AUTH``/``JINGKANG_SERVE``). A login idle for longer than
    ``settings.session_idle_s`` is dropped first. A user without ``role`` sees a refusal,
    which is written to the audit log.
    """
    import streamlit as st

    _check_role(role)
    if not auth_required(sensitive=bool(st.session_state.get(SESSION_SENSITIVE))):
        return None
    lang = _lang()
    users = _configured_users(lang) if users is None else users
    current = users.get(st.session_state.get(SESSION_USER, ""))
    now = time.monotonic()
    if current is not None and session_expired(st.session_state.get(SESSION_SEEN), now,
                                                settings.session_idle_s):
        audit(Actor(current.name, current.role), "logout", "session", outcome="ok",
              detail="idle expiry", settings=settings)
        logout()
        st.session_state[SESSION_NOTICE] = "session_expired"
        current = None
    if current is None:
        _login_form(users, lang, settings)
        st.stop()
    st.session_state[SESSION_SEEN] = now
    if not current.may(role):
        audit(Actor(current.name, current.role), "page", _page_name(), outcome="refused",
              detail=f"needs role {role}", settings=settings)
        st.error(t("login_needs_role", lang).format(role=t(f"role_{role}", lang)))
        st.stop()
    return current


def _page_name() -> str:
    from urllib.parse import unquote, urlsplit

    import streamlit as st

    try:
        return unquote(urlsplit(str(st.context.url)).path.rstrip("/").rsplit("/", 1)[-1]) \
            or "home"
    except Exception:
        return "page"


def gate(*, settings: Settings = DEFAULT) -> Actor:
    """Run the login gate before any page: the login form, or the user and a logout button.

    Returns
    -------
    Actor
        Who is acting in this session (see :func:`actor_for`).
    """
    import streamlit as st

    user = require_login("viewer", settings=settings)
    if user is not None:
        lang = _lang()
        st.sidebar.caption(f"{t('logged_in_as', lang)}: {user.name} "
                           f"({t(f'role_{user.role}', lang)})")
        if st.sidebar.button(t("logout", lang), key="jingkang_logout"):
            audit(Actor(user.name, user.role), "logout", "session", outcome="ok",
                  settings=settings)
            logout()
            st.session_state[SESSION_NOTICE] = "logged_out"
            st.rerun()
    return current_actor(settings=settings)


def current_actor(*, users: Mapping[str, User] | None = None,
                  settings: Settings = DEFAULT) -> Actor:
    """Return the :class:`~planning.roles.Actor` of this browser session, for engine calls.

    Pages pass it to :mod:`planning.app.actions`; see :func:`actor_for`.
    """
    import streamlit as st

    required = auth_required(sensitive=bool(st.session_state.get(SESSION_SENSITIVE)))
    if not required:
        return LOCAL
    try:
        users = load_users() if users is None else users
    except InputError:
        users = {}
    return actor_for(users.get(st.session_state.get(SESSION_USER, "")), required=True)


def logout() -> None:
    """Forget the logged-in user of this browser session (and everything it loaded)."""
    import streamlit as st

    for key in list(st.session_state):
        if key not in ("lang", "_keep_lang", SESSION_NOTICE):
            # A widget's key can be listed but not deletable (a file uploader without a file,
            # seen on the Export page): it holds nothing to forget, and the logout must go on.
            with contextlib.suppress(KeyError):
                del st.session_state[key]


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
        if not password or len(password) > 256:
            print("the password must have 1 to 256 characters", file=sys.stderr)
            return 1
        print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
