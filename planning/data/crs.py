"""Coordinate systems: the only module that converts GCJ-02 / BD-09 and projects.

Chinese web maps publish coordinates in GCJ-02 (Amap/Gaode, Tencent) or BD-09 (Baidu), both
deliberately shifted variants of WGS84 that no EPSG code describes, so pyproj cannot convert them.
The forward GCJ-02 transform is the published Krasovsky-ellipsoid formula; its inverse has no closed
form and is solved here by fixed-point iteration to better than 1e-9 degrees (~0.1 mm).
All functions are vectorised over numpy arrays.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike
from pyproj import CRS

from planning.errors import InputError

Datum = Literal["wgs84", "gcj02", "bd09"]
DATUMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

WGS84 = "EPSG:4326"
CGCS2000 = "EPSG:4490"  # China's geodetic datum; coincides with WGS84 to centimetres

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

_Geo = TypeVar("_Geo", gpd.GeoDataFrame, gpd.GeoSeries)


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    sq = np.sqrt(np.abs(x))
    six = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq
    dlat += six * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq
    dlon += six * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 longitude/latitude (degrees) to GCJ-02. Points outside China are unchanged."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-10,
                   max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (error < ``tol`` degrees)."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return wlon, wlat


def _bd09_to_gcj02_approx(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-10,
                  max_iter: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Convert Baidu BD-09 to GCJ-02 (degrees).

    The published approximate inverse, refined by fixed-point iteration on
    :func:`gcj02_to_bd09` until it round-trips to ``tol`` degrees.
    """
    blon = np.asarray(lon, dtype=float)
    blat = np.asarray(lat, dtype=float)
    glon, glat = _bd09_to_gcj02_approx(blon, blat)
    for _ in range(max_iter):
        flon, flat = gcj02_to_bd09(glon, glat)
        elon, elat = flon - blon, flat - blat
        glon, glat = glon - elon, glat - elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return glon, glat


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 to Baidu BD-09 (degrees)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert Baidu BD-09 to WGS84 (degrees, via GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84_xy(lon: ArrayLike, lat: ArrayLike, datum: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates in ``datum`` ('wgs84', 'gcj02' or 'bd09') to WGS84."""
    datum = datum.lower().replace("-", "").replace("_", "")
    if datum == "wgs84":
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if datum == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if datum == "bd09":
        return bd09_to_wgs84(lon, lat)
    msg = f"unknown coordinate system {datum!r}; expected one of {', '.join(DATUMS)}"
    raise InputError(msg, field="datum")


def convert_geoseries_to_wgs84(geoms: gpd.GeoSeries, datum: str) -> gpd.GeoSeries:
    """Convert every vertex of a lon/lat GeoSeries from ``datum`` to WGS84 (EPSG:4326)."""
    if datum.lower().replace("-", "") == "wgs84":
        return geoms.set_crs(WGS84, allow_override=True)

    def _fn(coords: np.ndarray) -> np.ndarray:
        x, y = to_wgs84_xy(coords[:, 0], coords[:, 1], datum)
        return np.column_stack([x, y])

    out = shapely.transform(np.asarray(geoms.values), _fn)
    return gpd.GeoSeries(out, index=geoms.index, crs=WGS84)


def to_wgs84(gdf: gpd.GeoDataFrame, *, datum: str = "wgs84",
             source: str = "data") -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326, converting from GCJ-02/BD-09 when ``datum`` says so.

    ``datum`` describes the coordinates *as found*: GeoJSON from Amap is labelled EPSG:4326 by
    every reader although it is GCJ-02, so the caller must say so. Projected data is reprojected
    with pyproj first; a missing CRS is refused.
    """
    if gdf.crs is None:
        msg = (
            "the file has no coordinate reference system; add a .prj / CRS or declare it "
            "(e.g. EPSG:4326 for lon/lat)"
        )
        raise InputError(msg, source=source, field="crs")
    try:
        declared = CRS.from_user_input(gdf.crs)
    except Exception as exc:  # pyproj raises CRSError and friends
        msg = f"unusable coordinate system: {str(exc)[:200]}"
        raise InputError(msg, source=source, field="crs") from exc
    name = declared.name or declared.to_string()
    if declared.is_engineering or not (declared.is_geographic or declared.is_projected):
        msg = (f"the coordinate system {name[:80]!r} is a local or engineering system with no "
               "link to the earth; export the data in EPSG:4326 (lon/lat) or a projected CRS")
        raise InputError(msg, source=source, field="crs")
    if declared.is_projected:
        check_projected_values(gdf, declared, source=source)
    try:
        out = gdf if declared.is_geographic else gdf.to_crs(WGS84)
        if not CRS.from_user_input(out.crs).equals(CRS.from_user_input(WGS84)):
            out = out.to_crs(WGS84)
    except Exception as exc:  # a CRS pyproj cannot transform from
        msg = f"cannot convert from {name[:80]!r} to lon/lat: {str(exc)[:200]}"
        raise InputError(msg, source=source, field="crs") from exc
    out = out.copy()
    out[out.geometry.name] = convert_geoseries_to_wgs84(out.geometry, datum)
    return out.set_crs(WGS84, allow_override=True)


def check_projected_values(gdf: gpd.GeoDataFrame, declared: CRS, *, source: str = "data") -> None:
    """Refuse coordinates that cannot be in ``declared`` (a projected CRS).

    Two mistakes are caught before reprojecting: degrees labelled with a projected CRS (every
    coordinate within ±180, i.e. a few hundred metres from the false origin, e.g. lon/lat
    labelled EPSG:3857), and metres outside the area the CRS is defined for (e.g. UTM zone 50
    data labelled zone 51, whose eastings then fall outside zone 51's valid range).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer as read.
    declared : pyproj.CRS
        Its projected CRS.
    source : str
        File name for messages.

    Raises
    ------
    InputError
        Naming the first implausible feature and the ``crs`` field.
    """
    arr = np.asarray(gdf.geometry.values)
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    if not ok.any():
        return
    bounds = shapely.bounds(arr[ok])
    if np.all(np.abs(bounds) <= 180.0):
        msg = (f"the coordinates look like degrees (all within ±180) but the file declares "
               f"{(declared.name or '')[:60]!r} in metres; declare EPSG:4326 instead")
        raise InputError(msg, source=source, field="crs")
    area = declared.area_of_use
    if area is None:
        return
    try:
        from pyproj import Transformer

        fwd = Transformer.from_crs(declared, WGS84, always_xy=True)
        cx = (bounds[:, 0] + bounds[:, 2]) / 2
        cy = (bounds[:, 1] + bounds[:, 3]) / 2
        lon, lat = fwd.transform(cx, cy)
    except Exception:
        return
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    margin = 3.0  # degrees: projections are used a little beyond their nominal area
    out = (~np.isfinite(lon) | ~np.isfinite(lat)
           | (lon < area.west - margin) | (lon > area.east + margin)
           | (lat < area.south - margin) | (lat > area.north + margin))
    if out.mean() > 0.5:
        pos = int(np.flatnonzero(ok)[int(np.flatnonzero(out)[0])])
        msg = (f"the coordinates fall outside the area of {(declared.name or '')[:60]!r} "
               f"({area.west:g}°–{area.east:g}°E): is the CRS (e.g. the UTM zone) wrong?")
        raise InputError(msg, source=source, row=pos, field="crs")


def metric_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """Choose a UTM CRS suited to ``gdf`` (metres) from its extent."""
    return gdf.estimate_utm_crs()


def to_metric(gdf: _Geo, crs: CRS | None = None) -> _Geo:
    """Project ``gdf`` to metres (UTM of its extent unless ``crs`` is given)."""
    return gdf.to_crs(crs if crs is not None else metric_crs(gdf))
