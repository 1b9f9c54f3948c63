"""Readers for every supported format, coordinate options, and clear errors."""

from __future__ import annotations

import io
import json
import zipfile

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from openpyxl import Workbook

from planning.data import crs
from planning.data.io import ReadOptions, load_dataset, read_layer, write_gpkg
from planning.errors import InputError

PTS = [(116.40, 39.90), (116.45, 39.95)]


def stations_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "编号": ["S1", "S2"], "名称": ["甲驿站", "乙驿站"], "类型": ["社区康复驿站"] * 2,
        "建筑面积": [60, 90], "经度": [p[0] for p in PTS], "纬度": [p[1] for p in PTS],
    })


def test_csv_with_chinese_headers_and_gbk_encoding(tmp_path):
    path = tmp_path / "stations.csv"
    path.write_bytes(stations_frame().to_csv(index=False).encode("gbk"))
    gdf = read_layer(path, "facilities")
    assert list(gdf["facility_id"]) == ["S1", "S2"]
    assert gdf.geometry.iloc[0].x == pytest.approx(116.40)


def test_excel_upload_stream_with_gcj02_conversion(tmp_path):
    buf = io.BytesIO()
    stations_frame().to_excel(buf, index=False)
    buf.seek(0)
    buf.name = "stations.xlsx"
    gdf = read_layer(buf, "facilities", datum="gcj02")
    lon, lat = crs.gcj02_to_wgs84(*PTS[0])
    assert gdf.geometry.iloc[0].x == pytest.approx(float(lon), abs=1e-9)
    assert gdf.geometry.iloc[0].y == pytest.approx(float(lat), abs=1e-9)


def test_read_options_pick_sheet_and_coordinate_columns(tmp_path):
    path = tmp_path / "stations.xlsx"
    frame = stations_frame().rename(columns={"经度": "东经", "纬度": "北纬"})
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"说明": ["站点表在第二页"]}).to_excel(xl, sheet_name="说明", index=False)
        frame.to_excel(xl, sheet_name="站点", index=False)
    with pytest.raises(InputError) as err:  # right sheet, but 东经/北纬 are not detected
        read_layer(path, "facilities", options=ReadOptions(sheet="站点"))
    assert err.value.field == "lon"
    gdf = read_layer(path, "facilities",
                     options=ReadOptions(sheet="站点", lon="东经", lat="北纬"))
    assert list(gdf["facility_id"]) == ["S1", "S2"]
    assert (gdf.geometry.x.iloc[1], gdf.geometry.y.iloc[1]) == pytest.approx(PTS[1])


def test_excel_error_names_spreadsheet_row(tmp_path):
    df = stations_frame()
    df["建筑面积"] = df["建筑面积"].astype(object)
    df.loc[1, "建筑面积"] = "约80"
    path = tmp_path / "s.xlsx"
    df.to_excel(path, index=False)
    with pytest.raises(InputError) as err:
        read_layer(path, "facilities")
    assert (err.value.source, err.value.row, err.value.field) == ("s.xlsx", 3, "floor_area_m2")


def test_excel_merged_cells_refused(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "名称", "类型", "经度", "纬度"])
    ws.append(["S1", "a", "社区康复驿站", 116.4, 39.9])
    ws.merge_cells("A1:B1")
    path = tmp_path / "m.xlsx"
    wb.save(path)
    with pytest.raises(InputError, match="merged cells at A1:B1"):
        read_layer(path, "facilities")


def test_swapped_lat_lon_detected(tmp_path):
    df = stations_frame().rename(columns={"经度": "纬度", "纬度": "经度"})
    path = tmp_path / "swapped.csv"
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match="swapped"):
        read_layer(path, "facilities")


def test_geojson_round_trip_and_broken_json(tmp_path):
    gdf = gpd.GeoDataFrame({"unit_id": ["u1"], "name": ["a"], "district": ["东城区"]},
                           geometry=[shapely.box(116.4, 39.9, 116.5, 40.0)], crs="EPSG:4326")
    path = tmp_path / "units.geojson"
    gdf.to_file(path, driver="GeoJSON")
    assert read_layer(path, "units")["unit_id"].iloc[0] == "u1"
    bad = tmp_path / "broken.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken.geojson: not valid JSON"):
        read_layer(bad, "units")
    nogeom = tmp_path / "nogeom.geojson"
    nogeom.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"unit_id": "x"}, "geometry": None}]}))
    with pytest.raises(InputError) as err:
        read_layer(nogeom, "units")
    assert (err.value.row, err.value.field) == (0, "geometry")


def _zip_shapefile(tmp_path, drop: str | None = None) -> bytes:
    gdf = gpd.GeoDataFrame({"unit_id": ["u1"], "name": ["a"], "district": ["d"]},
                           geometry=[shapely.box(116.4, 39.9, 116.5, 40.0)], crs="EPSG:4326")
    shp = tmp_path / "units.shp"
    gdf.to_file(shp, encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in tmp_path.glob("units.*"):
            if drop is None or f.suffix != drop:
                zf.write(f, f.name)
    return buf.getvalue()


def test_zipped_shapefile(tmp_path):
    data = _zip_shapefile(tmp_path)
    gdf = read_layer(io.BytesIO(data), "units", name="units.zip")
    assert gdf["unit_id"].iloc[0] == "u1"
    assert gdf.crs.to_epsg() == 4326


def test_zipped_shapefile_without_prj(tmp_path):
    data = _zip_shapefile(tmp_path, drop=".prj")
    with pytest.raises(InputError, match=r"no \.prj \(coordinate system\)") as err:
        read_layer(io.BytesIO(data), "units", name="units.zip")
    assert err.value.field == ".prj"


def test_zip_bomb_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("units.shp", b"\0" * 20_000_000)
    with pytest.raises(InputError, match="zip bomb"):
        read_layer(io.BytesIO(buf.getvalue()), "units", name="bomb.zip")


def test_unsupported_type_and_polygons_from_csv(tmp_path):
    p = tmp_path / "x.docx"
    p.write_bytes(b"nope")
    with pytest.raises(InputError, match=r"unsupported file type \.docx"):
        read_layer(p, "units")
    c = tmp_path / "u.csv"
    c.write_text("unit_id,lon,lat\n1,116,39\n")
    with pytest.raises(InputError, match="need polygons"):
        read_layer(c, "units")


def test_gpkg_round_trip_and_load_dataset(tmp_path, demo):
    path = write_gpkg({"districts": demo.districts, "units": demo.units,
                       "facilities": demo.facilities}, tmp_path / "demo.gpkg")
    layers = {n: gpd.read_file(path, layer=n) for n in ("districts", "units", "facilities")}
    for n, g in layers.items():
        g.to_file(tmp_path / f"{n}.gpkg", driver="GPKG")
    ds = load_dataset(tmp_path / "districts.gpkg", tmp_path / "units.gpkg",
                      tmp_path / "facilities.gpkg", name="again")
    assert len(ds.units) == len(demo.units)
    pd.testing.assert_series_equal(ds.facilities["floor_area_m2"].reset_index(drop=True),
                                   demo.facilities["floor_area_m2"].reset_index(drop=True),
                                   check_names=False)
    assert ds.facilities["services"].isna().sum() == demo.facilities["services"].isna().sum()


def test_read_points_for_candidates(tmp_path):
    from planning.data.io import read_points

    c = tmp_path / "cands.csv"
    c.write_text("name,lon,lat,floor_area_m2\nA,116.40,39.90,80\nB,116.41,39.91,\n",
                 encoding="utf-8")
    pts = read_points(c, datum="gcj02")
    assert len(pts) == 2 and pts.crs.to_epsg() == 4326
    assert pts.geometry.iloc[0].x < 116.40  # GCJ-02 shifted back west
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(InputError, match="no features"):
        read_points(empty)
