"""Plausibility checks that warn rather than refuse: data in the wrong datum.

Chinese web maps shift WGS84 coordinates to GCJ-02 (Amap, Tencent) or BD-09 (Baidu); in Beijing
the shift is about 500 m. Files exported from those maps are labelled EPSG:4326 by every reader,
so the mistake cannot be seen in the file. It can be seen against boundaries known to be WGS84:
points that should lie inside them fall outside near the edges, and polygons stick out on one side.
:func:`detect_gcj02_offset` measures that misfit as declared and again after undoing each shift;
if undoing a shift makes the data fit clearly better, it returns a :class:`DatumWarning`.
The conversions themselves live in :mod:`planning.data.crs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from planning.data import crs as crs_mod

_DATUM_LABEL = {"gcj02": "GCJ-02 (Amap/Gaode, Tencent)", "bd09": "BD-09 (Baidu)"}


@dataclass(frozen=True)
class DatumWarning:
    """The data fit the reference boundaries better after undoing a web-map shift.

    Attributes
    ----------
    datum
        The datum the data appear to be in (``"gcj02"`` or ``"bd09"``).
    before, after
        Misfit as declared and after converting from ``datum`` to WGS84: the share of points
        outside the reference, or the share of polygon area outside it.
    message
        A sentence for the user, with the fix.
    """

    datum: str
    before: float
    after: float
    message: str

    def __str__(self) -> str:
        return self.message


def _misfit(geoms: np.ndarray, reference: shapely.Geometry) -> float:
    """Share of points (or of polygon area) lying outside ``reference``."""
    kinds = shapely.get_type_id(geoms)
    if np.all(kinds == 0):  # points
        x, y = shapely.get_x(geoms), shapely.get_y(geoms)
        return float(np.mean(~shapely.contains_xy(reference, x, y)))
    union = shapely.union_all(shapely.make_valid(geoms))
    area = shapely.area(union)
    if area <= 0:
        return 0.0
    return float(shapely.area(shapely.difference(union, reference)) / area)


def detect_gcj02_offset(
    geoms: gpd.GeoSeries | gpd.GeoDataFrame,
    reference: gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    datums: tuple[str, ...] = ("gcj02", "bd09"),
    min_improvement: float = 0.5,
    min_share: float = 0.002,
    sample: int = 20_000,
    seed: int = 0,
) -> DatumWarning | None:
    """Warn when lon/lat data declared WGS84 look like GCJ-02 (or BD-09) instead.

    Parameters
    ----------
    geoms
        Points or polygons in EPSG:4326 as declared (e.g. patients, facilities, townships).
    reference
        Polygons known to be WGS84 that should contain ``geoms`` (township or district
        boundaries).
    datums
        Shifts to try undoing.
    min_improvement
        Warn only if undoing a shift removes at least this fraction of the misfit…
    min_share
        …and the misfit drops by at least this share of points / of area (ignores noise).
    sample
        At most this many points are tested (a fixed-seed random sample), so a 10^6-row ledger
        is checked in milliseconds.
    seed
        Seed of that sample.

    Returns
    -------
    DatumWarning or None
        ``None`` when the data fit as declared at least as well as after any shift.
    """
    arr = np.asarray(geoms.geometry.values if isinstance(geoms, gpd.GeoDataFrame)
                     else geoms.values)
    arr = arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))]
    if len(arr) == 0:
        return None
    if len(arr) > sample:
        arr = np.random.default_rng(seed).choice(arr, sample, replace=False)
    ref_arr = np.asarray(reference.geometry.values if isinstance(reference, gpd.GeoDataFrame)
                         else reference.values)
    ref = shapely.union_all(shapely.make_valid(ref_arr))
    shapely.prepare(ref)
    before = _misfit(arr, ref)
    best: DatumWarning | None = None
    for datum in datums:
        shifted = crs_mod.convert_geoseries_to_wgs84(gpd.GeoSeries(arr, crs=crs_mod.WGS84), datum)
        after = _misfit(np.asarray(shifted.values), ref)
        gain = before - after
        if gain >= min_share and after <= before * (1 - min_improvement):
            if best is None or after < best.after:
                label = _DATUM_LABEL.get(datum, datum)
                msg = (f"the coordinates look like {label}, not WGS84: {before:.1%} lie outside "
                       f"the boundaries as declared but {after:.1%} after converting from "
                       f"{datum}; load the file again with datum='{datum}'")
                best = DatumWarning(datum=datum, before=before, after=after, message=msg)
    return best
