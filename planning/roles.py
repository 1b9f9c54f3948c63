"""Who may do what: roles and the check every state-changing engine action makes.

Roles are ordered, weakest first; a role may do everything the ones before it may. The check
lives here, below every stage, so the engine (workspace, exports, data replacement) refuses an
action whatever called it — a page, the CLI or a direct function call — and the app only hides
what the engine would refuse anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from planning.errors import PermissionDenied

#: Roles, weakest first.
ROLES: tuple[str, ...] = ("viewer", "editor")

#: Actions and the weakest role allowed to do them.
ACTIONS: dict[str, str] = {
    "view": "viewer",
    "export_aggregates": "viewer",
    "upload": "editor",
    "replace_data": "editor",
    "save_scenario": "editor",
    "delete_scenario": "editor",
    "import_ledger": "editor",
    "export_patient_layers": "editor",
    "edit_project": "editor",
}


@dataclass(frozen=True)
class Actor:
    """The person (or process) acting: a user name and a role.

    Attributes
    ----------
    name : str
        Login name, ``"local"`` for the single-user desktop mode, ``"cli"`` for the CLI.
    role : str
        One of :data:`ROLES`.
    """

    name: str
    role: str

    def __post_init__(self) -> None:
        """Refuse an unknown role at construction."""
        if self.role not in ROLES:
            msg = f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}"
            raise ValueError(msg)

    def may(self, action: str) -> bool:
        """Whether this actor's role allows ``action`` (a key of :data:`ACTIONS`)."""
        return ROLES.index(self.role) >= ROLES.index(_needed(action))


#: The single local user of ``make app`` (bound to 127.0.0.1): may do everything.
LOCAL = Actor("local", "editor")


def _needed(action: str) -> str:
    try:
        return ACTIONS[action]
    except KeyError:
        msg = f"unknown action {action!r}; expected one of {', '.join(sorted(ACTIONS))}"
        raise ValueError(msg) from None


def require(actor: Actor, action: str) -> None:
    """Raise :class:`~planning.errors.PermissionDenied` unless ``actor`` may do ``action``.

    Parameters
    ----------
    actor : Actor
        Who is acting.
    action : str
        A key of :data:`ACTIONS`.

    Raises
    ------
    PermissionDenied
        With ``actor``, ``action`` and the actor's role; the message holds no secret.
    """
    if not actor.may(action):
        msg = (f"user {actor.name!r} (role {actor.role}) may not {action.replace('_', ' ')}; "
               f"it needs role {_needed(action)}")
        raise PermissionDenied(msg, actor=actor.name, action=action, role=actor.role)
