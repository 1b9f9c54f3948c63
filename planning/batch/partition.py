"""Per-partition computation of a national batch: validate, check, measure access, site.

One partition (a province or prefecture) is a small :class:`~planning.data.model.Dataset`;
:func:`compute_partition` runs the compliance check, the straight-line access summary (a KD-tree
on the unit sphere, see :func:`nearest_minutes`) and township siting on it. The orchestration —
dask, files, restarts — lives in :mod:`planning.batch`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from planning import access, rules
from planning.batch import national
from planning.data.crs import WGS84
from planning.data.model import Dataset
from planning.settings import DEFAULT, Settings
from planning.siting import TownshipCover
from planning.siting import candidates as cand_mod

CANDIDATES: tuple[str, ...] = ("centroid", "grid")
EARTH_RADIUS_M = 6_371_008.8

@dataclass(frozen=True)
class BatchSpec:
    """The per-partition options; their hash (with the input files) is the fingerprint.

    Attributes
    ----------
    by
        ``province`` or ``prefecture``.
    profile
        Packaged profile name or YAML path.
    year
        Milestone year (``None``: every milestone).
    threshold_min, mode
        Access threshold in minutes and ``walk``/``drive`` (speed from ``settings``).
    candidates, spacing_m
        Candidate sites: ``centroid`` (one per township needing a site) or ``grid``.
    speed_kmh, detour_factor
        Resolved from ``settings``; recorded so a changed setting invalidates old outputs.
    time_limit, mip_gap
        Solver limits for :class:`~planning.siting.TownshipCover`.
    """

    by: str = "province"
    profile: str = "beijing-2018"
    year: int | None = None
    threshold_min: float = 30.0
    mode: str = "drive"
    candidates: str = "centroid"
    spacing_m: float = 5000.0
    speed_kmh: float = 30.0
    detour_factor: float = 1.3
    time_limit: float = 60.0
    mip_gap: float = 0.0

    def token(self) -> str:
        """Hash of the options and of the profile text."""
        path = Path(self.profile)
        text = path.read_text(encoding="utf-8") if path.suffix in (".yaml", ".yml") and \
            path.is_file() else rules.profile_text(self.profile)
        blob = json.dumps(asdict(self), sort_keys=True) + text
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class PartitionOutput:
    """What one partition computes (before writing): three GeoDataFrames and a summary row."""

    findings: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    row: dict[str, Any]
    fails_by_rule: dict[str, int]



# --------------------------------------------------------------------------- per partition

def _geocentric(lonlat: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def nearest_minutes(demand: np.ndarray, supply: np.ndarray, *, speed_kmh: float,
                    detour_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Straight-line minutes from each demand point to its nearest supply point (KD-tree).

    Parameters
    ----------
    demand, supply
        ``(n, 2)`` lon/lat arrays (EPSG:4326).
    speed_kmh, detour_factor
        As in :func:`planning.access.straight_line_matrix`: minutes = great-circle metres ×
        detour / (speed × 1000 / 60).

    Returns
    -------
    minutes, index
        Per demand point; ``inf`` and ``-1`` when there is no supply point.
    """
    n = len(demand)
    if not len(supply) or not n:
        return np.full(n, np.inf), np.full(n, -1)
    chord, idx = cKDTree(_geocentric(supply)).query(_geocentric(demand))
    metres = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(chord / 2, 1.0))
    return metres * detour_factor / (speed_kmh * 1000 / 60), idx


def _xy(geoms: Any) -> np.ndarray:
    arr = np.asarray(geoms)
    return np.column_stack([shapely.get_x(arr), shapely.get_y(arr)]) if len(arr) else \
        np.empty((0, 2))


def _rep_points(units: gpd.GeoDataFrame) -> np.ndarray:
    return shapely.point_on_surface(np.asarray(units.geometry.values))


def _candidates(need: gpd.GeoDataFrame, spec: BatchSpec) -> gpd.GeoDataFrame:
    if spec.candidates == "grid":
        grid = cand_mod.grid_in_units(need[["unit_id", "geometry"]], spacing_m=spec.spacing_m)
        return gpd.GeoDataFrame({"unit_id": grid["unit_id"].astype(str).to_numpy(),
                                 "source": "grid"}, geometry=grid.to_crs(WGS84).geometry.values,
                                crs=WGS84)
    return gpd.GeoDataFrame({"unit_id": need["unit_id"].astype(str).to_numpy(),
                             "source": "centroid"}, geometry=_rep_points(need), crs=WGS84)


def _site_plan(ds: Dataset, spec: BatchSpec, settings: Settings,
               synthetic: bool) -> tuple[gpd.GeoDataFrame, str]:
    """Return new sites so every township without a station gets one (TownshipCover)."""
    units = ds.units
    need = units[~units["unit_id"].isin(set(ds.stations()["unit_id"].dropna()))]
    cols = ["site_id", "unit_id", "district", "source", "minutes", "population", "synthetic"]
    if need.empty:
        empty = gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in cols},
                                 geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
        return empty, "nothing_to_do"
    demand = gpd.GeoDataFrame({"unit_id": need["unit_id"].astype(str).to_numpy()},
                              geometry=_rep_points(need), crs=WGS84)
    cands = _candidates(need, spec)
    ttm = access.straight_line_matrix(demand, cands, mode=spec.mode, speed_kmh=spec.speed_kmh,
                                      detour_factor=spec.detour_factor, settings=settings)
    cost = np.asarray(ttm.values, dtype=float)
    model = TownshipCover.from_cost_matrix(
        cost, candidate_units=cands["unit_id"].to_numpy(), unit_ids=demand["unit_id"].to_numpy(),
        travel_weight=1.0 if spec.candidates == "grid" else 0.0)
    res = model.solve(time_limit=spec.time_limit, mip_gap=spec.mip_gap)
    sel = np.asarray(res.new_sites, dtype=int)
    picked = cands.iloc[sel]
    # minutes from the township's point to its site (the site lies in the township)
    pos = pd.Index(demand["unit_id"]).get_indexer(picked["unit_id"])
    info = need.set_index(need["unit_id"].astype(str))
    sites = gpd.GeoDataFrame({
        "site_id": [f"NEW-{u}-{k}" for k, u in enumerate(picked["unit_id"])],
        "unit_id": picked["unit_id"].to_numpy(),
        "district": info["district"].reindex(picked["unit_id"]).astype(str).to_numpy(),
        "source": picked["source"].to_numpy(),
        "minutes": cost[pos, sel],
        "population": info["population"].reindex(picked["unit_id"]).to_numpy(dtype=float,
                                                                               na_value=np.nan),
        "synthetic": synthetic,
    }, geometry=picked.geometry.values, crs=WGS84)
    return sites, res.status


def _entity_points(findings: pd.DataFrame, ds: Dataset) -> np.ndarray:
    pts = {}
    for frame, col in ((ds.facilities, "facility_id"), (ds.units, "unit_id"),
                       (ds.districts, "district_id")):
        geo = frame.geometry.values
        p = np.asarray(geo) if frame is ds.facilities else _rep_points(frame)
        pts.update(zip(frame[col].astype(str), p, strict=True))
    return np.array([pts.get(e) for e in findings["entity_id"].astype(str)], dtype=object)


def compute_partition(key: str, layers: national.NationalLayers, spec: BatchSpec, *,
                      settings: Settings = DEFAULT) -> PartitionOutput:
    """Run one partition in this process: validate, check, measure access, site.

    Parameters
    ----------
    key
        Partition code (``"13"`` for a province, ``"1301"`` for a prefecture).
    layers
        The partition's raw rows (see :meth:`planning.batch.national.NationalLayers.partition`).
    spec
        Options of the run.

    Returns
    -------
    PartitionOutput
        Findings, township summary, suggested sites and the partition's summary row.
    """
    t0 = time.perf_counter()
    name = layers.names.get(key, key)
    ds = layers.dataset(f"{name} ({key})")
    synthetic = "units" in ds.synthetic
    findings = rules.evaluate(ds, spec.profile, year=spec.year, extra=layers.extra(key))
    fgeo = gpd.GeoDataFrame(findings.assign(partition=key, synthetic=ds.is_synthetic),
                            geometry=_entity_points(findings, ds), crs=WGS84)

    units = ds.units
    stations = ds.stations()
    n_st = stations["unit_id"].value_counts()
    demand_xy = _xy(_rep_points(units))
    kw = {"speed_kmh": spec.speed_kmh, "detour_factor": spec.detour_factor}
    before, _ = nearest_minutes(demand_xy, _xy(stations.geometry.values), **kw)
    sites, status = _site_plan(ds, spec, settings, synthetic)
    supply_after = np.vstack([_xy(stations.geometry.values), _xy(sites.geometry.values)])
    after, _ = nearest_minutes(demand_xy, supply_after, **kw)
    pop = units["population"].to_numpy(dtype=float, na_value=0.0)
    t_fail = findings[(findings["entity_type"] == "township") & (findings["status"] == "fail")]
    townships = gpd.GeoDataFrame({
        "unit_id": units["unit_id"].astype(str).to_numpy(),
        "name": units["name"].astype(str).to_numpy(),
        "district": units["district"].astype(str).to_numpy(),
        "zone": units["zone"].astype(object).to_numpy(),
        "partition": key,
        "population": pop,
        "stations": units["unit_id"].map(n_st).fillna(0).astype(int).to_numpy(),
        "minutes_to_station": before,
        "within": before <= spec.threshold_min,
        "new_sites": units["unit_id"].astype(str).map(sites["unit_id"].value_counts())
        .fillna(0).astype(int).to_numpy(),
        "minutes_after": after,
        "within_after": after <= spec.threshold_min,
        "township_fails": units["unit_id"].astype(str).map(
            t_fail["entity_id"].astype(str).value_counts()).fillna(0).astype(int).to_numpy(),
        "method": "straight_line_fallback",
        "synthetic": units["synthetic"].fillna(False).astype(bool).to_numpy()
        if "synthetic" in units else False,
    }, geometry=units.geometry.values, crs=WGS84)

    counts = findings["status"].value_counts()
    fails = findings[findings["status"] == "fail"]["rule_id"].value_counts()
    total_pop = float(pop.sum())
    row = {
        "partition": key, "name": name, "level": spec.by,
        "districts": len(ds.districts), "townships": len(units), "population": total_pop,
        "stations": len(stations),
        "townships_without_station": int((townships["stations"] == 0).sum()),
        "population_within": float(pop[townships["within"]].sum()),
        "population_within_after": float(pop[townships["within_after"]].sum()),
        "new_sites": len(sites), "siting_status": status,
        "findings": len(findings), "pass": int(counts.get("pass", 0)),
        "fail": int(counts.get("fail", 0)),
        "not_assessable": int(counts.get("not_assessable", 0)),
        "synthetic": ds.is_synthetic, "compute_s": round(time.perf_counter() - t0, 3),
    }
    return PartitionOutput(fgeo, townships, sites, row, {str(k): int(v) for k, v in
                                                         fails.items()})
