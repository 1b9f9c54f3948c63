"""Settings as a frozen value passed in, never a mutable module global.

Several browser sessions share one Streamlit process, so configuration is a value each caller
owns. Use :func:`dataclasses.replace` to derive a changed copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs


def _default_cache_dir() -> Path:
    env = os.environ.get("JINGKANG_CACHE_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_cache_dir("jingkang-planner"))


def _default_data_dir() -> Path:
    env = os.environ.get("JINGKANG_DATA_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("jingkang-planner"))


def _env_number(name: str, default: float, kind: type = float):
    """Read a positive number from the environment variable ``name`` (server operators)."""
    def read():
        raw = os.environ.get(name, "").strip()
        if not raw:
            return kind(default)
        try:
            value = kind(raw)
        except ValueError:
            value = -1
        if value <= 0:
            msg = f"{name}={raw!r}: expected a positive {kind.__name__}"
            raise ValueError(msg)
        return value
    return field(default_factory=read)


def _env_flag(name: str):
    return field(default_factory=lambda: os.environ.get(name, "").strip().lower()
                 in ("1", "true", "yes", "on"))


@dataclass(frozen=True)
class Settings:
    """Engine-wide options.

    Attributes
    ----------
    cache_dir
        Where generated default data and computed networks are cached.
    tiles_url
        Optional XYZ tile URL template for maps. ``None`` (default) draws no basemap, so maps
        render offline.
    tiles_attribution
        Attribution text required with ``tiles_url``.
    tiles_datum
        Datum the ``tiles_url`` tiles are drawn in: ``"wgs84"`` or ``"gcj02"`` (vector layers
        are then shifted to GCJ-02 for display).
    basemap
        Basemap preset when ``tiles_url`` is unset (``JINGKANG_BASEMAP``): ``"none"`` (default,
        offline), ``"osm"``, ``"tianditu"``, ``"amap"`` or ``"tencent"`` (see
        :data:`planning.publish.maps.BASEMAPS`).
    tianditu_key
        Key for the 天地图 preset (``JINGKANG_TIANDITU_KEY``).
    suppression_threshold
        Published counts from 1 to ``suppression_threshold - 1`` are shown as ``"<N"``.
    solver_time_limit_s
        Default time limit for MILP solves.
    solver_mip_gap
        Default relative MIP gap at which HiGHS may stop.
    walk_speed_kmh, drive_speed_kmh
        Speeds used by the straight-line fallback when no network is available.
    detour_factor
        Straight-line distance multiplier for the fallback.
    seed
        Seed for the synthetic generators.
    login_max_failures
        Wrong passwords for one user name before it is locked (``JINGKANG_LOGIN_MAX_FAILURES``).
    login_max_failures_per_address
        Wrong passwords from one client address, any user names, before that address is locked
        (``JINGKANG_LOGIN_MAX_FAILURES_PER_ADDRESS``).
    login_lock_s
        Lock-out duration, and the window in which failures count (``JINGKANG_LOGIN_LOCK_S``).
    session_idle_s
        A logged-in session expires after this much inactivity (``JINGKANG_SESSION_IDLE_S``).
    trust_proxy_headers
        Take the client address from ``X-Forwarded-For`` (right-most entry, the one the reverse
        proxy appended); only behind a proxy that sets it (``JINGKANG_TRUST_PROXY=1``).
    database_url
        The planning workspace database (``JINGKANG_DB``), e.g.
        ``postgresql://user@host:5432/jingkang``; ``None``: an SQLite file in ``data_dir``.
    data_dir
        Where the embedded workspace file lives (``JINGKANG_DATA_DIR``, else the user data dir).
    """

    cache_dir: Path = field(default_factory=_default_cache_dir)
    tiles_url: str | None = None
    tiles_attribution: str | None = None
    tiles_datum: str = "wgs84"
    basemap: str = field(
        default_factory=lambda: os.environ.get("JINGKANG_BASEMAP", "").strip() or "none")
    tianditu_key: str | None = field(
        default_factory=lambda: os.environ.get("JINGKANG_TIANDITU_KEY", "").strip() or None)
    suppression_threshold: int = 5
    solver_time_limit_s: float = 60.0
    solver_mip_gap: float = 0.0
    walk_speed_kmh: float = 4.5
    drive_speed_kmh: float = 30.0
    detour_factor: float = 1.3
    seed: int = 20180101
    login_max_failures: int = _env_number("JINGKANG_LOGIN_MAX_FAILURES", 5, int)
    login_max_failures_per_address: int = _env_number("JINGKANG_LOGIN_MAX_FAILURES_PER_ADDRESS",
                                                      20, int)
    login_lock_s: float = _env_number("JINGKANG_LOGIN_LOCK_S", 300.0)
    session_idle_s: float = _env_number("JINGKANG_SESSION_IDLE_S", 1800.0)
    trust_proxy_headers: bool = _env_flag("JINGKANG_TRUST_PROXY")
    database_url: str | None = field(
        default_factory=lambda: os.environ.get("JINGKANG_DB", "").strip() or None)
    data_dir: Path = field(default_factory=_default_data_dir)


DEFAULT = Settings()
