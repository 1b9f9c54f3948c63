"""Import mapping: column suggestions, value mapping, fixed values, per-file datum, YAML."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from planning.cli import app
from planning.data import crs
from planning.data.mapping import (
    ImportMapping,
    LayerMapping,
    apply_mapping,
    import_files,
    load_mapping,
    save_mapping,
    suggest_mapping,
    suggest_values,
    unmapped_values,
)
from planning.errors import InputError


def _box(x, y, d=0.01):
    return shapely.box(x, y, x + d, y + d)


@pytest.fixture()
def layers(tmp_path):
    """A tiny real-looking dataset with its own column names (as a planner's files are)."""
    districts = gpd.GeoDataFrame({"code": ["110101"], "名称": ["东城区"]},
                                 geometry=[_box(116.38, 39.90, 0.04)], crs=crs.WGS84)
    units = gpd.GeoDataFrame(
        {"统计用区划代码": ["110101001000", "110101002000"], "street": ["东华门街道", "景山街道"],
         "pop_2020": [50_000, 20_000]},
        geometry=[_box(116.38, 39.90, 0.02), _box(116.40, 39.90, 0.02)], crs=crs.WGS84)
    fac = gpd.GeoDataFrame(
        {"source_id": ["1", "2", "3"], "title": ["驿站A", "卫生站B", "养老C"],
         "category": ["社区康复驿站", "社区卫生服务站", "社区养老设施"]},
        geometry=shapely.points([116.385, 116.405, 116.41], [39.905, 39.905, 39.91]),
        crs=crs.WGS84)
    paths = {}
    for name, gdf in (("districts", districts), ("units", units), ("facilities", fac)):
        paths[name] = tmp_path / f"{name}.geojson"
        gdf.to_file(paths[name], driver="GeoJSON")
    return paths, districts, units, fac


def test_suggestions_use_aliases_and_code_patterns(layers):
    _, districts, units, fac = layers
    m, why = suggest_mapping(units, "units")
    assert m.columns["unit_id"] == "统计用区划代码"
    assert m.columns["name"] == "street"
    assert m.columns["population"] == "pop_2020"
    assert "district" not in m.columns  # nothing in the file says which district
    assert all(s.reason for s in why)
    # a code column with an unknown name is still found by its 12-digit values
    renamed = units.rename(columns={"统计用区划代码": "xyz"})
    m2, why2 = suggest_mapping(renamed, "units")
    assert m2.columns["unit_id"] == "xyz"
    assert "NBS" in next(s.reason for s in why2 if s.field == "unit_id")
    mf, _ = suggest_mapping(fac, "facilities")
    assert mf.columns == {"facility_id": "source_id", "name": "title", "kind": "category"}
    md, _ = suggest_mapping(districts, "districts")
    assert md.columns == {"district_id": "code", "name": "名称"}


def test_value_suggestions_leave_unknown_categories_to_the_user(layers):
    fac = layers[3]
    sv = suggest_values(fac["category"])
    assert sv["社区康复驿站"] == "rehab_station"
    assert sv["社区卫生服务站"] == "township_health_centre"
    assert sv["社区养老设施"] is None


def test_unmapped_categories_are_refused_with_the_list_then_mapped_or_ignored(layers):
    fac = layers[3]
    m, _ = suggest_mapping(fac, "facilities")
    with pytest.raises(InputError, match=r"社区养老设施 \(1\)") as err:
        apply_mapping(fac, m, source="facilities.geojson")
    assert "facilities.geojson" in str(err.value)
    m = LayerMapping("facilities", columns=m.columns,
                     values={"kind": {"社区卫生服务站": "township_health_centre"}},
                     ignore={"kind": ("社区养老设施",)})
    assert unmapped_values(fac, m).empty
    out = apply_mapping(fac, m, source="facilities.geojson")
    assert list(out.frame["kind"]) == ["rehab_station", "township_health_centre"]
    assert out.dropped == {"社区养老设施": 1}
    assert any("社区养老设施 (1)" in line for line in out.describe())


def test_fixed_values_and_missing_mapped_column(layers):
    units = layers[2]
    m = LayerMapping("units", columns={"unit_id": "统计用区划代码", "name": "street"},
                     fixed={"district": "东城区"})
    out = apply_mapping(units, m, source="u.geojson")
    assert set(out.frame["district"]) == {"东城区"}
    bad = LayerMapping("units", columns={"unit_id": "nope"})
    with pytest.raises(InputError, match=r"'nope'.*found: 统计用区划代码"):
        apply_mapping(units, bad, source="u.geojson")


def test_gcj02_per_file_is_converted_and_the_shift_reported(layers):
    fac = layers[3]
    gx, gy = crs.wgs84_to_gcj02(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    shifted = fac.set_geometry(gpd.points_from_xy(gx, gy), crs=crs.WGS84)
    m = LayerMapping("facilities", columns={"facility_id": "source_id", "name": "title",
                                            "kind": "category"},
                     values={"kind": {"社区卫生服务站": "township_health_centre",
                                      "社区养老设施": "township_health_centre"}},
                     datum="gcj02")
    out = apply_mapping(shifted, m, source="f.geojson")
    assert out.conversion.converted
    assert 300 < out.conversion.median_shift_m < 800
    assert "GCJ-02 → WGS84, median shift" in out.conversion.describe()
    assert np.allclose(out.frame.geometry.x, fac.geometry.x, atol=1e-7)


def test_yaml_round_trip_and_cli_accepts_the_mapping(layers, tmp_path):
    paths, *_ = layers
    spec = ImportMapping(
        name="测试街乡", data_date="2024",
        layers={
            "units": LayerMapping("units", columns={"unit_id": "统计用区划代码", "name": "street",
                                                    "population": "pop_2020"},
                                  fixed={"district": "东城区"}, source="test townships"),
            "districts": LayerMapping("districts", columns={"district_id": "code",
                                                            "name": "名称"}),
            "facilities": LayerMapping("facilities", columns={"facility_id": "source_id",
                                                              "name": "title",
                                                              "kind": "category"},
                                       values={"kind": {"社区卫生服务站":
                                                        "township_health_centre"}},
                                       ignore={"kind": ("社区养老设施",)}),
        })
    path = tmp_path / "my-map.yaml"
    save_mapping(spec, path)
    back = load_mapping(path)
    assert back == spec
    res = import_files(paths, back)
    assert res.dataset.name == "测试街乡"
    assert res.dataset.synthetic == ()
    assert any("test townships" in s for s in res.dataset.sources)
    out = CliRunner().invoke(app, ["check", "--data", str(tmp_path), "--mapping", str(path)])
    assert out.exit_code == 0, out.output
    assert "dataset: 测试街乡 (2024)" in out.output
    assert "demo" not in out.output.lower()
    plain = CliRunner().invoke(app, ["check", "--data", str(tmp_path)])
    assert plain.exit_code == 2  # without the mapping the file's names are refused
    assert "missing required column" in plain.output


def test_bad_mapping_files_are_input_errors(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("layers:\n  units:\n    columns: {nonsense: code}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown field.*nonsense"):
        load_mapping(p)
    p.write_text("layers:\n  units:\n    datum: mars\n", encoding="utf-8")
    with pytest.raises(InputError, match="datum 'mars'"):
        load_mapping(p)
    p.write_text("layers: [1, 2\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        load_mapping(p)


def test_identity_keeps_base_sources_only_for_layers_it_still_supplies(layers, demo):
    paths, *_ = layers
    spec = ImportMapping(layers={
        "units": LayerMapping("units", columns={"unit_id": "统计用区划代码", "name": "street"},
                              fixed={"district": "东城区"})})
    res = import_files({"units": paths["units"]}, spec, base=demo)
    ds = res.dataset
    assert "units" not in ds.synthetic and "facilities" in ds.synthetic
    assert any(s.startswith("units: units.geojson") for s in ds.sources)
    assert ds.name != demo.name and "units.geojson" in ds.name
    # the demo's 'SYNTHETIC: township polygons …' line now describes only facilities
    assert not any(s.startswith("SYNTHETIC") for s in ds.sources)
    codes = {i.code for i in res.issues}
    assert "districts_without_units" in codes
    assert pd.Series(ds.units["district"]).eq("东城区").all()
