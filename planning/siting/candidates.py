"""Candidate sites for new stations: user points, a regular grid in townships, OSM POIs.

Every function returns a GeoDataFrame of points in EPSG:4326 with the columns

``candidate_id``
    ``"<source>-<n>"``, unique within the frame.
``source``
    Where the candidate came from: ``"user"``, ``"grid"`` or ``"osm"``.
``unit_id``
    Township containing the point (spatial join with ``units``), ``<NA>`` outside all or when
    no ``units`` are given.
``floor_area_m2``
    Floor area when known (user column, or OSM footprint × ``building:levels``), else NaN.
``name``
    Label for maps and reports.

The OSM download runs only when :func:`from_osm` is called without ``features``; tests pass a
local GeoDataFrame shaped like ``osmnx.features_from_polygon`` output instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.data.crs import WGS84, to_metric
from planning.data.grid import grid_points
from planning.data.model import units_of_points
from planning.errors import InputError

COLUMNS: tuple[str, ...] = ("candidate_id", "source", "unit_id", "floor_area_m2", "name")

OSM_TAGS: dict[str, Any] = {
    "amenity": ["community_centre", "clinic", "doctors", "social_facility", "townhall"],
    "social_facility": True,
    "healthcare": ["clinic", "centre", "psychotherapist"],
    "building": ["public", "civic", "government", "vacant"],
    "disused:building": True,
}
"""OSM tags of plausible station sites: community centres, clinics, social facilities and
(vacant) public buildings."""


def _check_frame(gdf: Any, what: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{what} must be a GeoDataFrame; got {type(gdf).__name__}"
        raise InputError(msg, source=what)
    if gdf.crs is None:
        msg = "no coordinate reference system; set one (e.g. gdf.set_crs('EPSG:4326'))"
        raise InputError(msg, source=what, field="crs")
    if gdf.geometry.isna().any() or gdf.geometry.is_empty.any():
        bad = np.flatnonzero((gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy())
        msg = f"{bad.size} features have no geometry (first at position {bad[0]}); drop them"
        raise InputError(msg, source=what, field="geometry")
    return gdf


def _as_points(gdf: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Points as they are; polygons and lines by a point guaranteed inside them."""
    geoms = gdf.geometry
    is_point = geoms.geom_type == "Point"
    if is_point.all():
        return geoms
    return gpd.GeoSeries(
        np.where(is_point, geoms.values, geoms.representative_point().values),
        index=gdf.index,
        crs=gdf.crs,
    )


def _finish(points: gpd.GeoDataFrame, source: str, units: gpd.GeoDataFrame | None):
    out = points.to_crs(WGS84).reset_index(drop=True)
    out["source"] = source
    out["candidate_id"] = [f"{source}-{i}" for i in range(len(out))]
    if "floor_area_m2" not in out:
        out["floor_area_m2"] = np.nan
    if "name" not in out:
        out["name"] = pd.NA
    if units is not None and len(out):
        out["unit_id"] = assign_unit(out, units)
    elif "unit_id" not in out:
        out["unit_id"] = pd.Series(pd.NA, index=out.index, dtype="string")
    extra = [c for c in out.columns if c not in (*COLUMNS, out.geometry.name)]
    return out[[*COLUMNS, *extra, out.geometry.name]]


def assign_unit(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> pd.Series:
    """Township ``unit_id`` containing each point (``<NA>`` outside every township)."""
    units = _check_frame(units, "units")
    if "unit_id" not in units:
        msg = f"units need a 'unit_id' column; found {list(units.columns)}"
        raise InputError(msg, source="units", field="unit_id")
    return units_of_points(points, units)["unit_id"]


def from_points(
    gdf: gpd.GeoDataFrame,
    *,
    units: gpd.GeoDataFrame | None = None,
    floor_area_col: str | None = "floor_area_m2",
    name_col: str | None = "name",
    source: str = "user",
) -> gpd.GeoDataFrame:
    """Candidates from a user layer (points, or polygons reduced to an inside point).

    Parameters
    ----------
    gdf
        The user's candidate layer, any CRS.
    units
        Township polygons with ``unit_id``; fills ``unit_id`` by spatial join.
    floor_area_col, name_col
        Columns copied to ``floor_area_m2`` / ``name`` when present.
    source
        Value of the ``source`` column.
    """
    gdf = _check_frame(gdf, "candidates")
    pts = gpd.GeoDataFrame(geometry=_as_points(gdf), crs=gdf.crs)
    if floor_area_col and floor_area_col in gdf:
        area = pd.to_numeric(gdf[floor_area_col], errors="coerce")
        bad = area.isna() & gdf[floor_area_col].notna()
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            msg = f"got {gdf[floor_area_col].iloc[pos]!r} but expected a number of m²"
            raise InputError(msg, source="candidates", row=pos + 1, field=floor_area_col)
        pts["floor_area_m2"] = area.to_numpy(dtype=float)
    if name_col and name_col in gdf:
        pts["name"] = gdf[name_col].to_numpy()
    if "unit_id" in gdf and units is None:
        pts["unit_id"] = gdf["unit_id"].astype("string").to_numpy()
    return _finish(pts, source, units)


def grid_in_units(
    units: gpd.GeoDataFrame, *, spacing_m: float = 1000.0, min_per_unit: int = 1
) -> gpd.GeoDataFrame:
    """Return a regular grid of candidate points inside township polygons.

    The grid is laid out in the UTM zone of the townships (metres), so ``spacing_m`` is true
    distance. A township too small to hold a grid point still gets ``min_per_unit`` candidate
    (a point guaranteed inside it), so every township can be served.
    """
    units = _check_frame(units, "units")
    if "unit_id" not in units:
        msg = f"units need a 'unit_id' column; found {list(units.columns)}"
        raise InputError(msg, source="units", field="unit_id")
    if not spacing_m > 0:
        msg = f"spacing_m must be > 0 metres; got {spacing_m!r}"
        raise InputError(msg, field="spacing_m")
    pts = grid_points(units, spacing_m=spacing_m, min_per_unit=min_per_unit)
    pts["name"] = [f"grid {u}" for u in pts["unit_id"]]
    return _finish(pts, "grid", None)


def from_osm(
    area: gpd.GeoDataFrame | shapely.Geometry,
    *,
    tags: dict[str, Any] | None = None,
    units: gpd.GeoDataFrame | None = None,
    features: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Candidates from OpenStreetMap POIs (community centres, clinics, public buildings …).

    Parameters
    ----------
    area
        Polygon (EPSG:4326) or township GeoDataFrame to search in.
    tags
        osmnx tag filter; default :data:`OSM_TAGS`.
    units
        Township polygons for ``unit_id`` (defaults to ``area`` when it is a GeoDataFrame with
        ``unit_id``).
    features
        Already downloaded ``osmnx.features_from_polygon`` output; skips the download.
    """
    if isinstance(area, gpd.GeoDataFrame):
        area = _check_frame(area, "area")
        if units is None and "unit_id" in area:
            units = area
        polygon = area.to_crs(WGS84).union_all()
    else:
        polygon = area
    if features is None:
        import osmnx as ox  # network access: only when actually called

        features = ox.features_from_polygon(polygon, tags or OSM_TAGS)
    features = _check_frame(features, "osm features")
    pts = gpd.GeoDataFrame(geometry=_as_points(features), crs=features.crs)
    pts["floor_area_m2"] = _osm_floor_area(features)
    name = features["name"] if "name" in features else pd.Series(pd.NA, index=features.index)
    kind = _osm_kind(features, tags or OSM_TAGS)
    pts["name"] = name.fillna(kind).to_numpy()
    pts["osm_kind"] = kind.to_numpy()
    pts["osm_id"] = [
        "/".join(str(p) for p in i) if isinstance(i, tuple) else str(i) for i in features.index
    ]
    return _finish(pts, "osm", units)


def _osm_kind(features: gpd.GeoDataFrame, tags: dict[str, Any]) -> pd.Series:
    kind = pd.Series(pd.NA, index=features.index, dtype="object")
    for key in tags:
        if key in features:
            val = features[key]
            kind = kind.fillna(val.where(val.isna(), key + "=" + val.astype(str)))
    return kind


def _osm_floor_area(features: gpd.GeoDataFrame) -> np.ndarray:
    """Footprint area × ``building:levels`` (1 when unknown) for polygons; NaN for points."""
    poly = features.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    area = np.full(len(features), np.nan)
    if poly.any():
        footprint = to_metric(features.loc[poly, [features.geometry.name]]).area.to_numpy()
        levels = (
            pd.to_numeric(features.loc[poly, "building:levels"], errors="coerce").fillna(1.0)
            if "building:levels" in features
            else pd.Series(1.0, index=features.index[poly])
        )
        area[poly] = footprint * levels.to_numpy(dtype=float)
    return area


def combine(frames: Iterable[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Stack candidate frames from several sources; ``candidate_id`` stays unique."""
    parts = [f.to_crs(WGS84) for f in frames if len(f)]
    if not parts:
        return gpd.GeoDataFrame(columns=[*COLUMNS, "geometry"], geometry="geometry", crs=WGS84)
    out = pd.concat(parts, ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84)
    dup = out["candidate_id"].duplicated(keep=False)
    if dup.any():
        out.loc[dup, "candidate_id"] = [f"{c}.{i}" for i, c in out.loc[dup, "candidate_id"].items()]
    return out
