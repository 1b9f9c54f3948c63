"""The workspace database: engine, migrations, projects, transactions, the audit log.

One schema (:mod:`planning.workspace.schema`), two backends, chosen by a URL:

* no URL (default): an embedded SQLite file ``workspace.sqlite`` in the user data dir, created
  readable by its owner only (0600), WAL journal, writes serialised by ``BEGIN IMMEDIATE``;
* ``JINGKANG_DB=postgresql://…`` (or ``Settings.database_url``): PostgreSQL with PostGIS, for
  a bureau's shared server.

Opening a workspace runs the Alembic migrations up to head, so a workspace written by an older
version opens in a newer one. Every write is one transaction; a crash mid-save leaves the
previous state. Edits carry the version the writer read (``expected_version``): a stale write is
refused with :class:`StaleWriteError`, never silently applied over someone else's change.

Every state-changing call takes ``actor`` and checks it with :func:`planning.roles.require`;
successes and refusals both land in the audit log (:meth:`Workspace.audit_log`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from planning.errors import InputError, PermissionDenied
from planning.publish.privacy import scrub_text
from planning.roles import Actor, require
from planning.settings import Settings
from planning.workspace import schema as S

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0002"
DB_FILENAME = "workspace.sqlite"


class StaleWriteError(RuntimeError):
    """Someone else changed the object since the writer read it; the write was not applied."""


class ScenarioExistsError(FileExistsError):
    """A scenario of that name exists and the caller did not ask to overwrite it."""


class NotFoundError(LookupError):
    """No project / scenario / version of that name or number."""


# --- engine ------------------------------------------------------------------------------------
def _data_dir(settings: Settings | None) -> Path:
    path = getattr(settings, "data_dir", None) if settings is not None else None
    if path is None:
        env = os.environ.get("JINGKANG_DATA_DIR")
        if env:
            return Path(env)
        import platformdirs

        return Path(platformdirs.user_data_dir("jingkang-planner"))
    return Path(path)


def database_url(settings: Settings | None = None) -> str:
    """Choose the workspace URL: ``settings.database_url``, ``$JINGKANG_DB`` or the embedded file.

    Parameters
    ----------
    settings : Settings, optional
        Engine settings; its ``database_url`` wins, then the ``JINGKANG_DB`` environment
        variable, then ``sqlite:///<data_dir>/workspace.sqlite``.

    Returns
    -------
    str
        An SQLAlchemy URL (``postgresql://`` is mapped to the psycopg 3 driver).
    """
    url = (getattr(settings, "database_url", None) if settings is not None else None) \
        or os.environ.get("JINGKANG_DB") or ""
    url = url.strip()
    if not url:
        return f"sqlite:///{_data_dir(settings) / DB_FILENAME}"
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not url.startswith(("sqlite:", "postgresql+")):
        msg = (f"JINGKANG_DB: got {url.split(':', 1)[0]!r}: URL but expected "
               "'postgresql://user@host:port/dbname' or 'sqlite:///path/to/workspace.sqlite'")
        raise InputError(msg, source="JINGKANG_DB")
    return url


def _prepare_sqlite_file(path: Path) -> None:
    """Create the directory (0700) and an empty database file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.close(fd)
    os.chmod(path, 0o600)


def make_engine(url: str) -> Engine:
    """Create an SQLAlchemy engine for a workspace URL (SQLite file or PostgreSQL/PostGIS).

    Parameters
    ----------
    url : str
        From :func:`database_url`.

    Returns
    -------
    sqlalchemy.engine.Engine
        For SQLite: foreign keys on, WAL journal, 30 s busy timeout and ``BEGIN IMMEDIATE``
        transactions (so concurrent writers queue instead of failing half way).
    """
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    sa_url = sa.make_url(url)
    if sa_url.database and sa_url.database != ":memory:":
        _prepare_sqlite_file(Path(sa_url.database))
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # writers take the write lock up front (and queue); readers do not block anyone
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITE) else "BEGIN")

    return engine


_WRITE = "jingkang_write"


@contextlib.contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """Open a write transaction (``BEGIN IMMEDIATE`` on SQLite).

    It is committed on success, else rolled back.
    """
    with engine.connect() as conn:
        conn.info[_WRITE] = True
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop(_WRITE, None)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: head) with Alembic.

    Parameters
    ----------
    engine : Engine
        The workspace engine.
    revision : str
        Target revision id (``"0001"``, ``"0002"``, ``"head"``).
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with begin_write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def schema_revision(engine: Engine) -> str | None:
    """Return the Alembic revision the database is at (``None`` for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def now() -> datetime:
    """Return the current time, UTC."""
    return datetime.now(UTC)


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class Project:
    """A planning project as read: id, name, description and the version to pass back."""

    id: int
    name: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: str


class Workspace:
    """A handle on one workspace database.

    Holds only the engine (a thread-safe connection pool), so one handle may serve every browser
    session of a Streamlit process; it keeps no per-user state.

    Parameters
    ----------
    engine : Engine
        From :func:`make_engine`; the schema is migrated to head on construction unless
        ``migrate=False``.
    migrate : bool
        Run the Alembic migrations (keyword-only).
    """

    def __init__(self, engine: Engine, *, migrate: bool = True) -> None:
        self.engine = engine
        if migrate:
            upgrade(engine)

    @classmethod
    def open(cls, settings: Settings | None = None, *, url: str | None = None) -> Workspace:
        """Open (creating and migrating when needed) the workspace of ``settings`` or ``url``.

        Parameters
        ----------
        settings : Settings, optional
            Gives ``database_url`` / ``data_dir``; see :func:`database_url`.
        url : str, optional
            An explicit URL, overriding the settings.

        Returns
        -------
        Workspace
        """
        return cls(make_engine(url or database_url(settings)))

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    # --- transactions and checks ---------------------------------------------------------------
    @contextlib.contextmanager
    def write(self, actor: Actor, action: str, *, project: str | None,
              target: str = "") -> Iterator[Connection]:
        """Open a write transaction guarded by a role check; refusals and conflicts are audited.

        Yields a connection inside one transaction. The caller adds the success audit row with
        :meth:`audit_in` before leaving the block, so it commits (or rolls back) with the change.
        """
        try:
            require(actor, action)
        except PermissionDenied as exc:
            self.record(actor, action, target, project=project, outcome="refused",
                        detail=str(exc))
            raise
        try:
            with begin_write(self.engine) as conn:
                yield conn
        except StaleWriteError as exc:
            self.record(actor, action, target, project=project, outcome="conflict",
                        detail=str(exc))
            raise

    def audit_in(self, conn: Connection, actor: Actor, action: str, target: str, *,
                 project: str | None, detail: str = "") -> None:
        """Add a success audit row inside the caller's transaction."""
        conn.execute(S.audit_log.insert().values(
            at=now(), actor=actor.name, role=actor.role, action=action, project=project,
            target=scrub_text(str(target))[:300], outcome="ok", detail=scrub_text(detail)))

    def record(self, actor: Actor, action: str, target: str, *, outcome: str,
               detail: str = "", project: str | None = None) -> None:
        """Write one audit-log row in its own transaction.

        Parameters
        ----------
        actor : Actor
            Who acted.
        action : str
            What they did or tried (``"save_scenario"``, ``"export_aggregates"`` …).
        target : str
            What it was done to (scenario name, file name …); id and phone numbers are
            scrubbed.
        outcome : str
            ``"ok"``, ``"refused"``, ``"conflict"`` or another short word (keyword-only).
        detail : str
            Free text, scrubbed; never patient data.
        project : str, optional
            Project name.
        """
        with begin_write(self.engine) as conn:
            conn.execute(S.audit_log.insert().values(
                at=now(), actor=actor.name, role=actor.role, action=action, project=project,
                target=scrub_text(str(target))[:300], outcome=outcome,
                detail=scrub_text(detail)))

    def audit_log(self, project: str | None = None) -> pd.DataFrame:
        """Read the audit log, newest first; only rows of ``project`` when given.

        Columns: ``at, actor, role, action, project, target, outcome, detail``.
        """
        q = sa.select(S.audit_log).order_by(S.audit_log.c.id.desc())
        if project is not None:
            q = q.where(S.audit_log.c.project == project)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(q).mappings().all(),
                                 columns=[c.name for c in S.audit_log.columns])
        frame["at"] = pd.to_datetime(frame["at"].map(_utc), utc=True)
        return frame.drop(columns="id")

    # --- projects ----------------------------------------------------------------------------
    def projects(self) -> list[Project]:
        """Every project, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(S.projects).order_by(S.projects.c.name)).mappings()
            return [_project(r) for r in rows]

    def project(self, name: str) -> Project:
        """Look up the project called ``name``.

        Raises
        ------
        NotFoundError
            Naming the project asked for and those that exist.
        """
        with self.engine.connect() as conn:
            return self.project_in(conn, name)

    def project_in(self, conn: Connection, name: str) -> Project:
        """:meth:`project` on an open connection (inside a transaction)."""
        row = conn.execute(sa.select(S.projects).where(S.projects.c.name == name)).mappings()
        found = row.first()
        if found is None:
            names = conn.execute(sa.select(S.projects.c.name)).scalars().all()
            msg = (f"no project {name!r} in this workspace; projects: "
                   f"{', '.join(map(repr, names)) or 'none yet'}")
            raise NotFoundError(msg)
        return _project(found)

    def create_project(self, name: str, *, actor: Actor, description: str = "",
                       exist_ok: bool = False) -> Project:
        """Create a project.

        Parameters
        ----------
        name : str
            Unique, non-empty, at most 200 characters.
        actor : Actor
            Needs ``edit_project``.
        description : str
            Free text.
        exist_ok : bool
            Return the existing project instead of refusing a taken name.

        Raises
        ------
        InputError
            Empty or over-long name, or the name is taken (without ``exist_ok``).
        """
        name = _check_name(name, "project name")
        with self.write(actor, "edit_project", project=name, target=name) as conn:
            existing = conn.execute(sa.select(S.projects.c.id).where(
                S.projects.c.name == name)).first()
            if existing is not None:
                if exist_ok:
                    return self.project_in(conn, name)
                msg = f"a project called {name!r} exists already; pick another name"
                raise InputError(msg, field="name")
            ts = now()
            conn.execute(S.projects.insert().values(
                name=name, description=description, version=1, created_at=ts, updated_at=ts,
                created_by=actor.name))
            self.audit_in(conn, actor, "edit_project", name, project=name,
                          detail="created project")
            return self.project_in(conn, name)

    def bump_project(self, conn: Connection, project: Project,
                     expected_version: int | None) -> int:
        """Advance a project's version inside a write; refuse if it moved since it was read.

        Parameters
        ----------
        conn : Connection
            The open write transaction.
        project : Project
            As read in this transaction.
        expected_version : int or None
            The version the writer read; ``None`` writes without the check.

        Returns
        -------
        int
            The new version.

        Raises
        ------
        StaleWriteError
            Naming the version read and the version found.
        """
        cond = S.projects.c.id == project.id
        if expected_version is not None:
            cond = cond & (S.projects.c.version == expected_version)
        res = conn.execute(S.projects.update().where(cond).values(
            version=S.projects.c.version + 1, updated_at=now()))
        if res.rowcount != 1:
            current = conn.execute(sa.select(S.projects.c.version).where(
                S.projects.c.id == project.id)).scalar()
            msg = (f"project {project.name!r} was changed by someone else since you opened it "
                   f"(you read version {expected_version}, it is now version {current}); "
                   "reload and apply your change again")
            raise StaleWriteError(msg)
        return int(conn.execute(sa.select(S.projects.c.version).where(
            S.projects.c.id == project.id)).scalar())

    def rename_project(self, name: str, new_name: str, *, actor: Actor,
                       expected_version: int | None = None) -> Project:
        """Rename a project (``edit_project``); refuses a stale ``expected_version``."""
        new_name = _check_name(new_name, "project name")
        with self.write(actor, "edit_project", project=name, target=name) as conn:
            proj = self.project_in(conn, name)
            taken = conn.execute(sa.select(S.projects.c.id).where(
                S.projects.c.name == new_name)).first()
            if taken is not None:
                msg = f"a project called {new_name!r} exists already; pick another name"
                raise InputError(msg, field="name")
            self.bump_project(conn, proj, expected_version)
            conn.execute(S.projects.update().where(S.projects.c.id == proj.id).values(
                name=new_name))
            conn.execute(S.audit_log.update().where(S.audit_log.c.project == name).values(
                project=new_name))
            self.audit_in(conn, actor, "edit_project", new_name, project=new_name,
                          detail=f"renamed from {name!r}")
            return self.project_in(conn, new_name)

    def add_note(self, project: str, text: str, *, actor: Actor, kind: str = "note",
                 expected_version: int | None = None) -> None:
        """Record a decision or note on a project (``edit_project``)."""
        if kind not in ("note", "decision"):
            msg = f"note kind: got {kind!r} but expected 'note' or 'decision'"
            raise InputError(msg, field="kind")
        with self.write(actor, "edit_project", project=project, target=kind) as conn:
            proj = self.project_in(conn, project)
            self.bump_project(conn, proj, expected_version)
            conn.execute(S.decisions.insert().values(
                project_id=proj.id, text=text, kind=kind, created_at=now(),
                created_by=actor.name))
            self.audit_in(conn, actor, "edit_project", kind, project=project,
                          detail=f"added a {kind}")

    def notes(self, project: str) -> pd.DataFrame:
        """Decisions and notes of a project, oldest first: ``at, kind, text, by``."""
        with self.engine.connect() as conn:
            proj = self.project_in(conn, project)
            rows = conn.execute(sa.select(
                S.decisions.c.created_at.label("at"), S.decisions.c.kind, S.decisions.c.text,
                S.decisions.c.created_by.label("by")).where(
                S.decisions.c.project_id == proj.id).order_by(S.decisions.c.id)).mappings().all()
        return pd.DataFrame(rows, columns=["at", "kind", "text", "by"])


def _project(row: Any) -> Project:
    return Project(id=row["id"], name=row["name"], description=row["description"],
                   version=row["version"], created_at=_utc(row["created_at"]),
                   updated_at=_utc(row["updated_at"]), created_by=row["created_by"])


def _check_name(name: Any, what: str) -> str:
    text = str(name).strip() if name is not None else ""
    if not text or len(text) > 200:
        msg = (f"{what}: got {text[:40]!r} ({len(text)} characters) but expected 1 to 200 "
               "characters")
        raise InputError(msg, field="name")
    return text
