"""``make serve`` / ``python -m planning.app.serve``: serve the dashboard to a network.

Network mode is an explicit choice. It sets ``JINGKANG_SERVE=1`` (login on every page, for
every session) and refuses to start unless a users file with at least one user is configured
(``JINGKANG_USERS``) and the login settings are valid. ``make app`` instead binds to 127.0.0.1
only. Put a TLS reverse proxy in front (see the README, "Serving to a bureau").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from planning.app.auth import load_users
from planning.errors import InputError

ROOT = Path(__file__).resolve().parents[2]

#: The login settings an operator may set (see :class:`planning.settings.Settings`).
_NUMBERS = {"JINGKANG_LOGIN_MAX_FAILURES": int, "JINGKANG_LOGIN_MAX_FAILURES_PER_ADDRESS": int,
            "JINGKANG_LOGIN_LOCK_S": float, "JINGKANG_SESSION_IDLE_S": float}


def check_serve_config(env: Mapping[str, str]) -> list[str]:
    """Why the server must not start in network mode (an empty list when it may).

    Parameters
    ----------
    env : mapping
        The environment the server would run with.

    Returns
    -------
    list of str
        Problems, each a full sentence naming the variable to fix; no secret is included.
    """
    problems: list[str] = []
    if not env.get("JINGKANG_USERS", "").strip():
        problems.append("JINGKANG_USERS is not set: network mode needs a users file "
                        "(see `python -m planning.app.auth hash` and the README).")
    else:
        try:
            users = load_users(env=env)
        except InputError as exc:
            problems.append(f"the users file is invalid: {exc}")
        else:
            if not users:
                problems.append("the users file has no users.")
            elif not any(u.role == "editor" for u in users.values()):
                problems.append("the users file has no editor: nobody could load data.")
    for name, kind in _NUMBERS.items():
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            ok = kind(raw) > 0
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"{name}={raw!r}: expected a positive {kind.__name__}.")
    return problems


def streamlit_command(*, address: str, port: int) -> list[str]:
    """Build the command line for network mode (:mod:`planning.app.launch` with these flags)."""
    return [sys.executable, "-m", "planning.app.launch",  # warm-up, then `streamlit run app.py`
            "--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--server.enableXsrfProtection", "true",
            "--server.enableCORS", "true", "--server.fileWatcherType", "none",
            "--server.runOnSave", "false", "--browser.gatherUsageStats", "false"]


def main(argv: list[str] | None = None) -> int:
    """Check the configuration, then replace this process with the Streamlit server."""
    parser = argparse.ArgumentParser(prog="python -m planning.app.serve",
                                     description="serve the dashboard to a network (login on)")
    parser.add_argument("--address", default="0.0.0.0",
                        help="interface to listen on (default: all; use the intranet address "
                             "or 127.0.0.1 behind a local reverse proxy)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--check", action="store_true",
                        help="only check the configuration and exit")
    args = parser.parse_args(argv)
    env = {**os.environ, "JINGKANG_SERVE": "1"}
    problems = check_serve_config(env)
    if problems:
        print("refusing to serve to a network:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 2
    if args.check:
        print("configuration ok", file=sys.stderr)
        return 0
    cmd = streamlit_command(address=args.address, port=args.port)
    print(f"serving on {args.address}:{args.port} with login required (JINGKANG_SERVE=1)",
          file=sys.stderr)
    os.chdir(ROOT)
    os.execve(cmd[0], cmd, env)  # no return
    return 0  # pragma: no cover


if __name__ == "__main__":
    raise SystemExit(main())
