"""Map leak: a hidden count (``<5`` or ``*``) cannot be worked back from any published field.

Two districts: in 甲区 the counts 3 and 12 are hidden (3 primary, 12 complementary); in 乙区 a
township has exactly the threshold (5), which is published with its rate. Every popup field, the
heat layer, the legend and the GeoPackage export are scanned.
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from planning.data.model import make_dataset
from planning.publish import maps, report
from planning.publish.privacy import (
    RATE_COLUMN,
    SECONDARY,
    derived_columns,
    heat_points,
    public_units,
    suppress_frame_for_export,
)

# (unit, district, population, patients); 12 is hidden only by complementary suppression.
ROWS = [
    ("u1", "甲区", 31_337, 3),
    ("u2", "甲区", 41_113, 12),
    ("u3", "甲区", 52_001, 40),
    ("u4", "乙区", 27_000, 5),
    ("u5", "乙区", 60_000, 50),
    ("u6", "乙区", 70_000, 61),
]


@pytest.fixture(scope="module")
def dataset():
    units = gpd.GeoDataFrame(
        {"unit_id": [r[0] for r in ROWS], "name": [f"街道{r[0]}" for r in ROWS],
         "district": [r[1] for r in ROWS], "population": [r[2] for r in ROWS],
         "patients": [r[3] for r in ROWS]},
        geometry=[shapely.box(116.3 + 0.02 * i, 39.9, 116.318 + 0.02 * i, 39.92)
                  for i in range(len(ROWS))], crs="EPSG:4326")
    districts = gpd.GeoDataFrame(
        {"district_id": ["1", "2"], "name": ["甲区", "乙区"]},
        geometry=[shapely.box(116.29, 39.89, 116.359, 39.93),
                  shapely.box(116.359, 39.89, 116.43, 39.93)], crs="EPSG:4326")
    facilities = gpd.GeoDataFrame(
        {"facility_id": ["f1"], "name": ["<img src=x onerror=alert(1)>驿站"],
         "kind": ["rehab_station"]},
        geometry=[shapely.Point(116.305, 39.91)], crs="EPSG:4326")
    return make_dataset("leak", districts, units, facilities)


def _rate(pop: int, n: int) -> str:
    return f"{round(n / pop * 10_000, 1)}"


def test_public_units_blanks_rates_of_hidden_rows_only(dataset):
    pub = public_units(dataset.units).set_index("unit_id")
    assert pub.loc["u1", "patients"] == "<5"
    assert pub.loc["u2", "patients"] == SECONDARY
    # exactly the threshold is shown, with its rate
    assert pub.loc["u4", "patients"] == 5
    assert pub.loc["u4", RATE_COLUMN] == pytest.approx(5 / 27_000 * 10_000, abs=0.05)
    for uid in ("u1", "u2"):
        assert pub.loc[uid, RATE_COLUMN] is None
    assert pub.loc["u3", RATE_COLUMN] == pytest.approx(40 / 52_001 * 10_000, abs=0.05)


def _layer_features(m) -> list[dict]:
    feats = []
    for child in m._children.values():
        data = getattr(child, "data", None)
        if isinstance(data, dict) and data.get("type") == "FeatureCollection":
            feats += data["features"]
        elif isinstance(data, str) and '"FeatureCollection"' in data:
            feats += json.loads(data)["features"]
    return feats


def test_popup_fields_heat_and_legend_carry_no_hidden_count(dataset):
    m = maps.planner_map(dataset)
    feats = [f["properties"] for f in _layer_features(m) if "patients" in f["properties"]]
    by_name = {p["name"]: p for p in feats}
    assert set(by_name) == {f"街道{r[0]}" for r in ROWS}
    for uid, _d, pop, n in ROWS:
        props = by_name[f"街道{uid}"]
        hidden = uid in ("u1", "u2")
        for key, value in props.items():
            if hidden:
                assert str(n) != str(value), f"{uid} popup field {key} shows the hidden count"
                assert _rate(pop, n) not in str(value), f"{uid} field {key} leaks the rate"
        if hidden:
            assert props["rate"] == "—"
            # no colour class: it would bound the rate
            assert props["_fill"] == maps._ramp([float("nan")])[0][0]
        else:
            assert props["rate"] == _rate(pop, n)
    html = m.get_root().render()
    heat = re.findall(r"L\.heatLayer\(\s*(\[\[.*?\]\])", html, re.S)
    assert heat, "the heat layer is missing"
    weights = sorted(round(w) for _lat, _lon, w in json.loads(heat[0]))
    assert weights == [5, 40, 50, 61]  # 3 (primary) and 12 (complementary) never reach it
    for _uid, _d, pop, n in ROWS[:2]:
        assert f"{_rate(pop, n)} –" not in html and f"– {_rate(pop, n)}" not in html


def test_heat_points_take_shown_counts_only(dataset):
    pub = public_units(dataset.units)
    w = sorted(round(p[2]) for p in heat_points(pub))
    assert w == [5, 40, 50, 61]
    assert heat_points(pub.drop(columns="patients")) == []


def test_names_render_as_text_in_popups(dataset):
    html = maps.planner_map(dataset).get_root().render()
    assert "<img src=x onerror" not in html
    assert "&lt;img src=x onerror" in html or "\\u003cimg" in html or "&amp;lt;img" in html


def test_geopackage_units_layer_has_no_rate_of_hidden_rows(dataset, tmp_path):
    path = report.export_gpkg(dataset, tmp_path / "x.gpkg")
    units = pyogrio.read_dataframe(path, layer="units").set_index("unit_id")
    assert units.loc["u2", "patients"] == SECONDARY
    assert pd.isna(units.loc["u2", RATE_COLUMN]) and pd.isna(units.loc["u1", RATE_COLUMN])
    assert str(units.loc["u4", "patients"]) == "5"


def test_export_frame_blanks_derived_columns_by_default():
    frame = pd.DataFrame({"visit_patients": [2, 30, 44], "visits_per_patient_year": [3.5, 4, 5],
                          "served_share": [0.5, 0.4, 0.3], "name": ["a", "b", "c"]})
    assert derived_columns(frame, ["visit_patients"]) == ["visits_per_patient_year",
                                                           "served_share"]
    out = suppress_frame_for_export(frame)
    assert out["visit_patients"].tolist() == ["<5", "*", "44"]
    assert out["visits_per_patient_year"].tolist()[:2] == [SECONDARY, SECONDARY]
    assert out["served_share"].tolist() == [SECONDARY, SECONDARY, 0.3]
    assert out["name"].tolist() == ["a", "b", "c"]
