"""Checks across layers, datum conversions applied, and the repair of invalid polygons.

A file can be valid on its own and still not fit the others: townships outside every district,
district names the districts layer lacks, facilities outside every township, a whole file shifted
by ≈500 m (the GCJ-02 signature, measured with :func:`planning.data.checks.detect_gcj02_offset`
against the other files). :func:`check_layers` reports each as an :class:`Issue` naming the file.

Invalid polygons (self-intersections, rings with too few points) are refused by validation;
:func:`repair_geometries` offers the fix — make valid, keep the polygonal parts — and reports what
changed, feature by feature, so the user accepts it knowingly (CLI ``--repair``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.data import crs as crs_mod
from planning.data.checks import detect_gcj02_offset

_DATUM_NAME = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09"}
_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class Issue:
    """One cross-layer problem.

    Attributes
    ----------
    code
        Machine key, e.g. ``"units_outside_districts"``, ``"datum_offset"``.
    level
        ``"error"`` (the dataset cannot be built) or ``"warning"`` (it can, but check).
    source
        The file (or layer) the problem is in.
    message
        A sentence for the user, with the names and counts involved.
    rows
        Feature numbers (0-based) concerned, at most 50.
    """

    code: str
    level: str
    source: str
    message: str
    rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True)
class Conversion:
    """The datum conversion applied to one file, measured.

    Attributes
    ----------
    datum
        The datum the coordinates were declared to be in (``wgs84``, ``gcj02``, ``bd09``).
    median_shift_m, max_shift_m
        How far vertices moved (metres); 0 when nothing was converted.
    n_vertices
        Vertices measured (a sample of at most 20,000).
    """

    datum: str
    median_shift_m: float = 0.0
    max_shift_m: float = 0.0
    n_vertices: int = 0

    @property
    def converted(self) -> bool:
        """Whether any shift was applied."""
        return self.datum != "wgs84"

    def describe(self, lang: str = "en") -> str:
        """Return a plain statement of what was done, e.g. ``GCJ-02 → WGS84, median shift 530 m``.

        Parameters
        ----------
        lang
            ``"zh"`` or ``"en"``.
        """
        name = _DATUM_NAME.get(self.datum, self.datum)
        if not self.converted:
            return "WGS84：未转换坐标" if lang == "zh" else "WGS84: coordinates not converted"
        if lang == "zh":
            return (f"{name} → WGS84，中位偏移 {self.median_shift_m:,.0f} 米"
                    f"（最大 {self.max_shift_m:,.0f} 米）")
        return (f"{name} → WGS84, median shift {self.median_shift_m:,.0f} m "
                f"(max {self.max_shift_m:,.0f} m)")


def convert_datum(gdf: gpd.GeoDataFrame, datum: str, *,
                  source: str = "data") -> tuple[gpd.GeoDataFrame, Conversion]:
    """Convert ``gdf`` to WGS84 lon/lat from ``datum`` and measure how far it moved.

    Parameters
    ----------
    gdf
        A layer as read (any CRS; projected data is reprojected first).
    datum
        What the coordinates really are: ``wgs84``, ``gcj02`` or ``bd09``.
    source
        File name for messages.

    Returns
    -------
    tuple
        (layer in EPSG:4326, :class:`Conversion`).
    """
    key = datum.lower().replace("-", "").replace("_", "")
    plain = crs_mod.to_wgs84(gdf, datum="wgs84", source=source)
    if key == "wgs84":
        return plain, Conversion("wgs84")
    out = crs_mod.to_wgs84(gdf, datum=key, source=source)
    a = shapely.get_coordinates(np.asarray(plain.geometry.values))
    b = shapely.get_coordinates(np.asarray(out.geometry.values))
    if len(a) > 20_000:
        take = np.random.default_rng(0).choice(len(a), 20_000, replace=False)
        a, b = a[take], b[take]
    if len(a) == 0:
        return out, Conversion(key)
    dx = (b[:, 0] - a[:, 0]) * _M_PER_DEG * np.cos(np.radians(a[:, 1]))
    dy = (b[:, 1] - a[:, 1]) * _M_PER_DEG
    dist = np.hypot(dx, dy)
    return out, Conversion(key, float(np.median(dist)), float(dist.max()), len(a))


@dataclass(frozen=True)
class GeometryRepair:
    """What a repair did to one feature.

    Attributes
    ----------
    row
        Feature number (0-based).
    label
        The feature's name or id, when it has one.
    reason
        Why it was invalid (GEOS's reason).
    area_before_km2, area_after_km2
        Area of the valid interpretation before keeping polygonal parts, and after.
    parts_dropped
        Non-polygonal pieces (lines, points) discarded.
    """

    row: int
    label: str
    reason: str
    area_before_km2: float
    area_after_km2: float
    parts_dropped: int

    def describe(self, lang: str = "en") -> str:
        """Return one line for the user.

        Parameters
        ----------
        lang
            ``"zh"`` or ``"en"``.
        """
        who = f"{self.label} " if self.label else ""
        if lang == "zh":
            return (f"第 {self.row} 个要素 {who}（{self.reason}）：已修复为有效多边形，"
                    f"面积 {self.area_after_km2:,.2f} km²，丢弃 {self.parts_dropped} 个非面部件")
        return (f"feature {self.row} {who}({self.reason}): made valid, polygonal parts kept, "
                f"area {self.area_after_km2:,.2f} km², {self.parts_dropped} non-polygon "
                "part(s) dropped")


@dataclass(frozen=True)
class RepairReport:
    """Every change :func:`repair_geometries` made to one file."""

    source: str
    repairs: tuple[GeometryRepair, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.repairs)

    def describe(self, lang: str = "en") -> list[str]:
        """Return one line per repaired feature, prefixed with the file.

        Parameters
        ----------
        lang
            ``"zh"`` or ``"en"``.
        """
        return [f"{self.source}: {r.describe(lang)}" for r in self.repairs]


def invalid_geometries(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """List the invalid geometries of ``gdf``: ``row`` (0-based) and GEOS's ``reason``."""
    arr = np.asarray(gdf.geometry.values)
    present = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    bad = np.flatnonzero(present & ~shapely.is_valid(arr))
    return pd.DataFrame({"row": bad.astype(int),
                         "reason": [shapely.is_valid_reason(arr[i]) for i in bad]})


def _polygonal(geom: shapely.Geometry) -> tuple[shapely.Geometry, int]:
    parts = shapely.get_parts(geom)
    keep = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
    dropped = len(parts) - len(keep)
    polys = shapely.get_parts(np.asarray(keep, dtype=object)) if keep else []
    if len(polys) == 0:
        return shapely.Polygon(), dropped
    if len(polys) == 1:
        return polys[0], dropped
    return shapely.MultiPolygon(list(polys)), dropped


def _label(gdf: gpd.GeoDataFrame, row: int) -> str:
    for col in ("name", "名称", "unit_id", "district_id", "code"):
        if col in gdf.columns and pd.notna(gdf[col].iloc[row]):
            return str(gdf[col].iloc[row])
    return ""


def repair_geometries(gdf: gpd.GeoDataFrame, *,
                      source: str = "data") -> tuple[gpd.GeoDataFrame, RepairReport]:
    """Make invalid polygons valid and keep their polygonal parts; report what changed.

    Parameters
    ----------
    gdf
        A polygon layer in lon/lat.
    source
        File name for the report.

    Returns
    -------
    tuple
        (a repaired copy — ``gdf`` is not changed —, :class:`RepairReport`). Features that
        were valid are returned untouched.
    """
    bad = invalid_geometries(gdf)
    if bad.empty:
        return gdf, RepairReport(source)
    out = gdf.copy()
    arr = np.asarray(out.geometry.values).copy()
    metric = crs_mod.metric_crs(gdf) if gdf.crs is not None else None
    repairs = []
    for row, reason in zip(bad["row"], bad["reason"], strict=True):
        fixed = shapely.make_valid(arr[row])
        poly, dropped = _polygonal(fixed)
        areas = gpd.GeoSeries([fixed, poly], crs=gdf.crs)
        if metric is not None:
            areas = areas.to_crs(metric)
        a_before, a_after = (float(v) / 1e6 for v in areas.area)
        arr[row] = poly
        repairs.append(GeometryRepair(int(row), _label(gdf, int(row)), str(reason), a_before,
                                      a_after, dropped))
    out[out.geometry.name] = gpd.GeoSeries(arr, index=out.index, crs=gdf.crs)
    return out, RepairReport(source, tuple(repairs))


def _names(values: pd.Series, n: int = 5) -> str:
    vals = [str(v) for v in values.head(n)]
    more = len(values) - len(vals)
    return "、".join(vals) + (f" … (+{more})" if more > 0 else "")


def _datum_issue(layer: gpd.GeoDataFrame, reference: gpd.GeoDataFrame, source: str,
                 against: str) -> Issue | None:
    warning = detect_gcj02_offset(layer, reference)
    if warning is None:
        return None
    msg = (f"looks shifted against {against} (the ≈500 m GCJ-02/BD-09 signature): "
           f"{warning.before:.1%} lies outside as loaded, {warning.after:.1%} after converting "
           f"from {_DATUM_NAME.get(warning.datum, warning.datum)}; load this file again with "
           f"datum {warning.datum}")
    return Issue("datum_offset", "warning", source, msg)


def _stated_township_issue(facilities: gpd.GeoDataFrame, units: gpd.GeoDataFrame,
                           source: str, against: str) -> Issue | None:
    """Compare the township a point lies in with the township name the file states.

    Where townships tile the whole area, shifted points still fall in *some* township, so
    containment alone cannot see a 500 m shift; a column naming each point's township can.
    """
    names = set(units["name"].astype(str))
    canonical = {"facility_id", "name", "kind", "district", "unit_id", "services"}
    stated = None
    for col in facilities.columns:
        if col in canonical or col == facilities.geometry.name:
            continue
        vals = facilities[col].dropna().astype(str)
        if len(vals) and vals.isin(names).mean() >= 0.8:
            stated = col
            break
    if stated is None:
        return None
    pts = facilities.geometry
    ref = units[["name", units.geometry.name]]

    def agreement(geoms: gpd.GeoSeries) -> float:
        j = gpd.sjoin(gpd.GeoDataFrame(geometry=geoms.values, crs=crs_mod.WGS84), ref,
                      how="left", predicate="within")
        j = j[~j.index.duplicated(keep="first")]
        return float((j["name"].astype(str).to_numpy()
                      == facilities[stated].astype(str).to_numpy()).mean())

    before = agreement(pts)
    for datum in ("gcj02", "bd09"):
        after = agreement(crs_mod.convert_geoseries_to_wgs84(pts, datum))
        if after >= 0.8 and after - before >= 0.2:
            msg = (f"looks shifted against {against} (the ≈500 m {_DATUM_NAME[datum]} "
                   f"signature): {before:.0%} of points lie in the township their '{stated}' "
                   f"names as loaded, {after:.0%} after converting from "
                   f"{_DATUM_NAME[datum]}; load this file again with datum {datum}")
            return Issue("datum_offset", "warning", source, msg)
    return None


def check_layers(
    districts: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame | None = None,
    *,
    sources: Mapping[str, str] | None = None,
) -> list[Issue]:
    """Check that validated layers fit together; return the problems found, worst first.

    Parameters
    ----------
    districts, units, facilities
        Validated layers (canonical columns, EPSG:4326).
    sources
        File name per layer (``"districts"``, ``"units"``, ``"facilities"``) for messages.

    Returns
    -------
    list of Issue
        Unknown district names (error); townships outside every district or inside another
        district than they name; districts without townships; facilities outside every township;
        a file that looks GCJ-02/BD-09-shifted against another (warnings).
    """
    src = {"districts": "districts", "units": "units", "facilities": "facilities",
           **(sources or {})}
    issues: list[Issue] = []
    known = set(districts["name"])
    unknown = ~units["district"].isin(known)
    if unknown.any():
        counts = units.loc[unknown, "district"].astype(str).value_counts()
        listed = ", ".join(f"{k} ({v})" for k, v in counts.items())
        msg = (f"{int(unknown.sum())} township(s) name a district that the districts layer "
               f"({src['districts']}) does not have: {listed}")
        issues.append(Issue("unknown_district", "error", src["units"], msg,
                            tuple(np.flatnonzero(unknown.to_numpy())[:50].tolist())))
    reps = units.geometry.representative_point()
    found = gpd.sjoin(gpd.GeoDataFrame({"i": np.arange(len(units))}, geometry=reps.values,
                                       crs=units.crs),
                      districts[["name", districts.geometry.name]].to_crs(units.crs),
                      how="left", predicate="within")
    found = found[~found.index.duplicated(keep="first")].sort_values("i")
    inside = found["name"].to_numpy()
    outside = pd.isna(inside)
    if outside.any():
        msg = (f"{int(outside.sum())} of {len(units)} township(s) lie outside every district "
               f"of {src['districts']}: {_names(units.loc[outside, 'name'])}")
        issues.append(Issue("units_outside_districts", "warning", src["units"], msg,
                            tuple(np.flatnonzero(outside)[:50].tolist())))
    named = units["district"].astype(str).to_numpy()
    wrong = ~outside & (inside.astype(str) != named) & ~unknown.to_numpy()
    if wrong.any():
        pairs = pd.Series([f"{n} ({d} → {w})" for n, d, w in
                           zip(units.loc[wrong, "name"], named[wrong], inside[wrong],
                               strict=True)])
        msg = (f"{int(wrong.sum())} township(s) lie in another district than the one they "
               f"name: {_names(pairs)}")
        issues.append(Issue("units_in_other_district", "warning", src["units"], msg,
                            tuple(np.flatnonzero(wrong)[:50].tolist())))
    empty = sorted(known - set(units["district"]))
    if empty and len(empty) < len(known):
        msg = (f"{len(empty)} of {len(known)} district(s) have no township in {src['units']}: "
               f"{_names(pd.Series(empty))}; results for them are empty, not zero")
        issues.append(Issue("districts_without_units", "warning", src["units"], msg))
    if facilities is not None and len(facilities):
        joined = gpd.sjoin(facilities[[facilities.geometry.name]],
                           units[[units.geometry.name]].to_crs(facilities.crs),
                           how="left", predicate="within")
        hit = ~joined["index_right"].isna().groupby(level=0).all()
        lost = ~hit.reindex(facilities.index).fillna(False).to_numpy(dtype=bool)
        if lost.any():
            label = facilities["name"] if "name" in facilities.columns else facilities.index
            msg = (f"{int(lost.sum())} of {len(facilities)} facilit(ies) lie outside every "
                   f"township of {src['units']}: {_names(pd.Series(label)[lost])}")
            issues.append(Issue("facilities_outside_units", "warning", src["facilities"], msg,
                                tuple(np.flatnonzero(lost)[:50].tolist())))
    pairs = [(units, districts, "units", "districts"),
             (districts, units, "districts", "units")]
    if facilities is not None and len(facilities):
        pairs.insert(0, (facilities, units, "facilities", "units"))
    flagged: set[str] = set()
    for layer, ref, name, ref_name in pairs:
        if name in flagged or ref_name in flagged:
            continue
        issue = _datum_issue(layer, ref, src[name], src[ref_name])
        if issue is None and name == "facilities":
            issue = _stated_township_issue(layer, ref, src[name], src[ref_name])
        if issue is not None:
            flagged.add(name)
            issues.append(issue)
    order = {"error": 0, "warning": 1}
    return sorted(issues, key=lambda i: order.get(i.level, 2))
