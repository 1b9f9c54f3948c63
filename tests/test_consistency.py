"""Cross-layer checks, datum offset across files, and geometry repair with a report."""

from __future__ import annotations

import geopandas as gpd
import shapely

from planning.data import crs
from planning.data.consistency import check_layers, invalid_geometries, repair_geometries


def _districts():
    return gpd.GeoDataFrame({"name": ["东城区", "西城区"]},
                            geometry=[shapely.box(116.40, 39.90, 116.45, 39.95),
                                      shapely.box(116.35, 39.90, 116.40, 39.95)], crs=crs.WGS84)


def _units():
    boxes = [shapely.box(116.40 + i * 0.01, 39.90 + j * 0.01, 116.41 + i * 0.01,
                         39.91 + j * 0.01) for i in range(5) for j in range(5)]
    return gpd.GeoDataFrame({"unit_id": [f"u{i}" for i in range(25)],
                             "name": [f"街道{i}" for i in range(25)],
                             "district": ["东城区"] * 25}, geometry=boxes, crs=crs.WGS84)


def test_layers_that_fit_raise_nothing_but_empty_districts():
    issues = check_layers(_districts(), _units())
    assert [i.code for i in issues] == ["districts_without_units"]
    assert "西城区" in issues[0].message


def test_unknown_district_outside_and_wrong_district_are_named():
    u = _units()
    u.loc[0, "district"] = "朝阳区"
    u.loc[1, "district"] = "西城区"  # lies in 东城区
    u.loc[2, "geometry"] = shapely.box(117.0, 39.0, 117.01, 39.01)
    issues = {i.code: i for i in check_layers(_districts(), u, sources={"units": "u.geojson"})}
    assert issues["unknown_district"].level == "error"
    assert "朝阳区 (1)" in issues["unknown_district"].message
    assert issues["units_outside_districts"].rows == (2,)
    assert "街道1 (西城区 → 东城区)" in issues["units_in_other_district"].message
    assert str(issues["units_outside_districts"]).startswith("u.geojson:")


def test_facilities_outside_every_township():
    fac = gpd.GeoDataFrame({"name": ["in", "out"]},
                           geometry=shapely.points([116.405, 116.30], [39.905, 39.80]),
                           crs=crs.WGS84)
    issues = {i.code: i for i in check_layers(_districts(), _units(), fac)}
    assert issues["facilities_outside_units"].rows == (1,)
    assert "out" in issues["facilities_outside_units"].message


def test_a_gcj02_file_is_named_against_the_others():
    # facilities at the centres of small townships, then shifted as Amap would publish them
    units = _units()
    pts = gpd.GeoSeries(shapely.centroid(units.geometry.values), crs=crs.WGS84)
    gx, gy = crs.wgs84_to_gcj02(pts.x.to_numpy(), pts.y.to_numpy())
    small = units.set_geometry(shapely.buffer(pts.values, 0.002, cap_style="square"),
                               crs=crs.WGS84)
    fac = gpd.GeoDataFrame({"name": list(units["name"])},
                           geometry=shapely.points(gx, gy), crs=crs.WGS84)
    issues = check_layers(_districts(), small, fac,
                          sources={"facilities": "amap_pois.geojson", "units": "u.gpkg"})
    shifted = [i for i in issues if i.code == "datum_offset"]
    assert len(shifted) == 1 and shifted[0].source == "amap_pois.geojson"
    assert "GCJ-02" in shifted[0].message and "u.gpkg" in shifted[0].message
    ok = fac.set_geometry(pts.values)
    assert not [i for i in check_layers(_districts(), small, ok) if i.code == "datum_offset"]


def test_repair_reports_what_changed_and_leaves_the_input_alone():
    bow = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])  # self-intersecting
    gdf = gpd.GeoDataFrame({"name": ["ok", "bow"]},
                           geometry=[shapely.box(2, 2, 3, 3), bow], crs=crs.WGS84)
    bad = invalid_geometries(gdf)
    assert bad["row"].tolist() == [1] and "Self-intersection" in bad["reason"].iloc[0]
    fixed, report = repair_geometries(gdf, source="d.geojson")
    assert fixed.geometry.is_valid.all() and not gdf.geometry.iloc[1].is_valid
    assert fixed.geometry.iloc[0].equals(gdf.geometry.iloc[0])
    assert len(report.repairs) == 1 and report.repairs[0].label == "bow"
    assert fixed.geometry.iloc[1].geom_type == "MultiPolygon"
    assert report.describe()[0].startswith("d.geojson: feature 1 bow")
