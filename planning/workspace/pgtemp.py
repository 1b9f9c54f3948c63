"""A throw-away local PostgreSQL + PostGIS cluster, for the storage tests and benchmarks.

``initdb`` into a temporary directory, start on a free 127.0.0.1 port with the unix socket in
that directory, create one database, and stop and delete everything at the end. PostgreSQL
refuses to run as root, so under root the cluster runs as the ``postgres`` system user (created
by Debian's ``postgresql`` package) via ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class ClusterUnavailable(RuntimeError):
    """PostgreSQL binaries or the PostGIS extension are not installed."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    if which:
        return Path(which).resolve().parent
    msg = ("PostgreSQL server binaries (initdb, pg_ctl) not found; `make db-deps` installs "
           "Debian's postgresql and postgresql-15-postgis-3")
    raise ClusterUnavailable(msg)


def _sharedir(bindir: Path) -> Path:
    out = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True,
                         text=True, check=False)
    if out.returncode == 0 and out.stdout.strip():
        return Path(out.stdout.strip())
    return Path("/usr/share/postgresql") / bindir.parts[-2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    """A running throw-away cluster: its directory, port and an SQLAlchemy URL."""

    root: Path
    port: int
    bindir: Path
    user: str | None

    @property
    def url(self) -> str:
        """``postgresql+psycopg://postgres@127.0.0.1:<port>/jingkang``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/jingkang"

    def stop(self) -> None:
        """Stop the server (immediate mode) and delete the cluster directory."""
        _run(self, [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                    "immediate", "-w", "stop"], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _run(cluster_or_user: Cluster | str | None, cmd: list[str], *,
         check: bool = True) -> subprocess.CompletedProcess:
    user = cluster_or_user.user if isinstance(cluster_or_user, Cluster) else cluster_or_user
    full = ["runuser", "-u", user, "--", *cmd] if user else cmd
    out = subprocess.run(full, capture_output=True, text=True, check=False,
                         env={**os.environ, "LC_ALL": "C"})
    if check and out.returncode != 0:
        msg = f"{' '.join(cmd[:2])} failed ({out.returncode}): {out.stderr[-1500:]}"
        raise ClusterUnavailable(msg)
    return out


def start_cluster(*, database: str = "jingkang") -> Cluster:
    """Start a throw-away cluster with PostGIS available and one empty database.

    Parameters
    ----------
    database : str
        Name of the database to create (keyword-only).

    Returns
    -------
    Cluster
        Call :meth:`Cluster.stop` when done.

    Raises
    ------
    ClusterUnavailable
        No PostgreSQL binaries, no PostGIS extension, or the server did not start (the
        server log tail is in the message).
    """
    bindir = _bindir()
    if not (_sharedir(bindir) / "extension" / "postgis.control").exists():
        msg = (f"PostGIS is not installed for the PostgreSQL in {bindir}; `make db-deps` "
               "installs postgresql-15-postgis-3")
        raise ClusterUnavailable(msg)
    user = None
    root = Path(tempfile.mkdtemp(prefix="jingkang-pg-"))
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            msg = "running as root but there is no 'postgres' user to run the server as"
            raise ClusterUnavailable(msg) from None
        os.chown(root, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    cluster = Cluster(root=root, port=port, bindir=bindir, user=user)
    try:
        _run(cluster, [str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres",
                       "--auth=trust", "-E", "UTF8", "--no-locale"])
        opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
                "-c max_connections=40 -c shared_buffers=32MB")
        _run(cluster, [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-o", opts,
                       "-l", str(root / "server.log"), "-w", "-t", "60", "start"])
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=database,
                             autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except Exception:
        log = root / "server.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        cluster.stop()
        if tail:
            msg = f"PostgreSQL did not start: {tail}"
            raise ClusterUnavailable(msg) from None
        raise
    return cluster
