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
    """

    cache_dir: Path = field(default_factory=_default_cache_dir)
    tiles_url: str | None = None
    tiles_attribution: str | None = None
    suppression_threshold: int = 5
    solver_time_limit_s: float = 60.0
    solver_mip_gap: float = 0.0
    walk_speed_kmh: float = 4.5
    drive_speed_kmh: float = 30.0
    detour_factor: float = 1.3
    seed: int = 20180101


DEFAULT = Settings()
