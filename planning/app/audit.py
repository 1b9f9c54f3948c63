"""The audit sink: who tried what, on what, and whether it was allowed.

Every engine-enforced action (:mod:`planning.app.actions`) and every login event is appended
as one JSON line to ``<cache_dir>/audit/audit.jsonl``, a file only the server's user may read
(0600, in a 0700 directory). When the workspace package offers a ``record`` hook, the same
event is also written there. Entries hold user names, actions, targets (file or scenario names)
and outcomes — never a password, a hash or patient-level data.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from planning.roles import Actor
from planning.settings import DEFAULT, Settings

log = logging.getLogger(__name__)

#: Outcomes an entry may record.
OUTCOMES: tuple[str, ...] = ("ok", "refused", "failed", "locked")

# Serialises appends from the script threads of all browser sessions (one process). Appends
# are whole lines written with one os.write on an O_APPEND descriptor, so they never interleave.
_WRITE_LOCK = threading.Lock()


def audit_path(settings: Settings = DEFAULT) -> Path:
    """Locate the audit file for ``settings``: ``<cache_dir>/audit/audit.jsonl``."""
    return Path(settings.cache_dir) / "audit" / "audit.jsonl"


def _clip(text: object, limit: int = 200) -> str:
    text = str(text).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def audit(actor: Actor | str, action: str, target: str, *, outcome: str, detail: str = "",
          settings: Settings = DEFAULT) -> dict:
    """Append one event to the audit log (and to the workspace's log when it has one).

    Parameters
    ----------
    actor : Actor or str
        Who acted; a plain string for login events of a name that is not (yet) a user.
    action : str
        What was attempted: a key of :data:`planning.roles.ACTIONS`, ``"login"``, ``"logout"``
        or ``"page"``.
    target : str
        What it was attempted on (file name, scenario name, page); no patient data.
    outcome : str
        One of :data:`OUTCOMES`.
    detail : str
        A short reason (e.g. the role that was missing); never a secret.
    settings : Settings
        Where the audit file lives (``settings.cache_dir``).

    Returns
    -------
    dict
        The entry as written.

    Raises
    ------
    ValueError
        On an unknown ``outcome``.
    """
    if outcome not in OUTCOMES:
        msg = f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}"
        raise ValueError(msg)
    name, role = (actor.name, actor.role) if isinstance(actor, Actor) else (str(actor), "")
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "actor": _clip(name, 80), "role": role, "action": _clip(action, 60),
        "target": _clip(target), "outcome": outcome, "detail": _clip(detail),
    }
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    path = audit_path(settings)
    with _WRITE_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)  # also tighten a file some other tool created
            os.write(fd, line)
        finally:
            os.close(fd)
    if isinstance(actor, Actor):
        _to_workspace(actor, entry, settings)
    return entry


# One workspace handle (a connection pool, no per-user state) per database URL, like the app's
# own cached handle; opened on the first event that needs it.
_WORKSPACES: dict[str, object] = {}


def _to_workspace(actor: Actor, entry: dict, settings: Settings) -> None:
    """Also write the event to the workspace's audit log (module ``record`` hook or the store)."""
    try:
        import planning.workspace as workspace
    except ImportError:  # pragma: no cover - the package is part of the project
        return
    kwargs = {"outcome": entry["outcome"], "detail": entry["detail"]}
    try:
        record = getattr(workspace, "record", None)
        if not callable(record):
            url = workspace.database_url(settings)
            with _WRITE_LOCK:
                if url not in _WORKSPACES:
                    _WORKSPACES[url] = workspace.Workspace.open(url=url)
            record = _WORKSPACES[url].record
        elif "settings" in inspect.signature(record).parameters:
            kwargs["settings"] = settings
        record(actor, entry["action"], entry["target"], **kwargs)
    except Exception as exc:  # the file above already holds the event
        log.warning("audit: the workspace log did not take the event (%s)", type(exc).__name__)


def read_audit(settings: Settings = DEFAULT) -> list[dict]:
    """All entries of the audit file, oldest first (``[]`` when there is none).

    Parameters
    ----------
    settings : Settings
        Where the audit file lives.

    Returns
    -------
    list of dict
        One dict per line, as :func:`audit` wrote it.
    """
    path = audit_path(settings)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
