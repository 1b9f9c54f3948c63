"""One error vocabulary for the whole engine.

Every error a user can cause by handing us a file or a parameter is one of these. Messages are
built first and name what was found, what was expected and how to fix it.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input data: names the file, the row/feature and the field.

    Parameters
    ----------
    message
        What is wrong and how to fix it.
    source
        File name (or dataset label) the bad value came from.
    row
        Row number (1-based, as a spreadsheet shows it) or feature index, when known.
    field
        Column / property name, when known.
    key, params
        Optional message key and parameters, so the app can render the message in the UI
        language (:func:`planning.i18n.render_error`); ``message`` stays the English text.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        field: str | None = None,
        key: str | None = None,
        params: dict | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.field = field
        self.detail = message
        self.key = key
        self.params = dict(params or {})
        where = []
        if source:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if field:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ProfileError(InputError):
    """A malformed policy profile: names the profile file, the rule id and the field."""


class InfeasibleError(RuntimeError):
    """An optimisation model has no feasible solution; the message gives the numbers.

    ``key`` and ``params`` (optional) let the app render it in the UI language.
    """

    def __init__(self, message: str, *, key: str | None = None,
                 params: dict | None = None) -> None:
        self.key = key
        self.params = dict(params or {})
        super().__init__(message)


class NetworkUnavailableError(RuntimeError):
    """No street network could be built (no local file, offline, or empty graph)."""


class PermissionDenied(PermissionError):
    """An actor's role does not allow the action; the message names actor, action and role."""

    def __init__(self, message: str, *, actor: str, action: str, role: str) -> None:
        self.actor = actor
        self.action = action
        self.role = role
        super().__init__(message)
