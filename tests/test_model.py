"""Validation at the edge: one error type naming file, row and field; nothing half-loaded."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from planning.data.model import make_dataset, services_list, validate
from planning.errors import InputError


def facilities(**over):
    base = {
        "facility_id": ["F1", "F2"],
        "name": ["甲驿站", "乙驿站"],
        "kind": ["rehab_station", "社区康复驿站"],
        "floor_area_m2": ["80", "120.5"],
        "staff": [3, 4],
        "services": ["medication;family", "服药训练、家庭康复指导"],
    }
    base.update(over)
    return gpd.GeoDataFrame(base, geometry=shapely.points([116.4, 116.5], [39.9, 39.95]),
                            crs="EPSG:4326")


def test_valid_table_is_typed_and_chinese_values_normalised():
    out = validate(facilities(), "facilities", source="f.geojson")
    assert out["floor_area_m2"].dtype == "Float64"
    assert list(out["kind"]) == ["rehab_station", "rehab_station"]
    assert services_list(out["services"].iloc[1]) == ["family", "medication"]
    assert out.crs.to_epsg() == 4326
    assert "beds" in out.columns and out["beds"].isna().all()


def test_chinese_header_aliases_are_accepted():
    df = facilities().rename(columns={"floor_area_m2": "建筑面积", "name": "机构名称"})
    out = validate(df, "facilities")
    assert out["floor_area_m2"].iloc[0] == 80


@pytest.mark.parametrize(
    ("over", "row", "field", "text"),
    [
        ({"floor_area_m2": ["80", "约80"]}, 1, "floor_area_m2", "expected a number of m²"),
        ({"floor_area_m2": ["-5", "80"]}, 0, "floor_area_m2", "expected ≥ 0"),
        ({"floor_area_m2": ["80", "1e9"]}, 1, "floor_area_m2", "is the unit right"),
        ({"facility_id": ["F1", "F1"]}, 1, "facility_id", "duplicate id"),
        ({"kind": ["rehab_station", "spaceport"]}, 1, "kind", "expected one of"),
        ({"staff": [3, 2.5]}, 1, "staff", "whole number"),
        ({"name": ["甲", None]}, 1, "name", "required"),
        ({"services": ["medication", "yoga"]}, 1, "services", "expected services"),
    ],
)
def test_bad_values_name_row_and_field(over, row, field, text):
    with pytest.raises(InputError) as err:
        validate(facilities(**over), "facilities", source="stations.geojson")
    e = err.value
    assert (e.source, e.row, e.field) == ("stations.geojson", row, field)
    assert text in str(e) and "stations.geojson" in str(e)


def test_spreadsheet_rows_count_the_header():
    with pytest.raises(InputError) as err:
        validate(facilities(staff=[3, "x"]), "facilities", source="a.xlsx", spreadsheet=True)
    assert err.value.row == 3


def test_missing_column_lists_what_was_found():
    df = facilities().drop(columns=["kind"])
    with pytest.raises(InputError, match=r"missing required column.*'kind'.*found: facility_id"):
        validate(df, "facilities")


def test_geometry_problems():
    bow = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    units = gpd.GeoDataFrame({"unit_id": ["a"], "name": ["x"], "district": ["d"]},
                             geometry=[bow], crs="EPSG:4326")
    with pytest.raises(InputError, match=r"invalid geometry.*Self-intersection") as err:
        validate(units, "units", source="u.gpkg")
    assert (err.value.row, err.value.field) == (0, "geometry")
    pts = units.set_geometry([shapely.Point(0, 0)], crs="EPSG:4326")
    with pytest.raises(InputError, match="got a Point but expected Polygon"):
        validate(pts, "units")
    empty = units.set_geometry([shapely.Polygon()], crs="EPSG:4326")
    with pytest.raises(InputError, match="missing or empty"):
        validate(empty, "units")
    nocrs = gpd.GeoDataFrame(units.drop(columns="geometry"), geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(InputError, match="coordinate reference system"):
        validate(nocrs, "units")


def test_validate_does_not_modify_input():
    df = facilities()
    before = df.copy()
    with pytest.raises(InputError):
        validate(df.assign(staff=[1, -1]), "facilities")
    validate(df, "facilities")
    pd.testing.assert_frame_equal(df, before)


def test_make_dataset_cross_checks_and_assigns_townships():
    districts = gpd.GeoDataFrame({"district_id": ["1"], "name": ["东城区"], "zone": ["core"]},
                                 geometry=[shapely.box(116, 39, 117, 40)], crs="EPSG:4326")
    units = gpd.GeoDataFrame({"unit_id": ["u1", "u2"], "name": ["a", "b"],
                              "district": ["东城区", "东城区"]},
                             geometry=[shapely.box(116, 39, 116.45, 40),
                                       shapely.box(116.45, 39, 117, 40)], crs="EPSG:4326")
    ds = make_dataset("t", districts, units, facilities())
    assert list(ds.facilities["unit_id"]) == ["u1", "u2"]
    assert list(ds.units["zone"]) == ["core", "core"]  # inherited from the district
    bad = units.assign(district=["东城区", "西城区"])
    with pytest.raises(InputError, match="'西城区' is not in the districts layer") as err:
        make_dataset("t", districts, bad, facilities())
    assert err.value.row == 1
