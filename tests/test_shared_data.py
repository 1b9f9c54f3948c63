"""Real data from ../shared/data: Dongcheng's 17 streets (GCJ-02) land inside Dongcheng."""

from __future__ import annotations

import pytest

from planning.data import crs
from planning.data.io import read_layer


def _streets(shared_data, datum):
    return read_layer(
        shared_data / "beijing-dongcheng" / "streets.geojson", "units", datum=datum,
        rename={"objectid": "unit_id"}, assign={"district": "东城区"},
    )


def test_dongcheng_streets_overlap_the_district_after_gcj02_conversion(shared_data, demo):
    streets = _streets(shared_data, "gcj02")
    assert len(streets) == 17
    assert int(streets["population"].sum()) == 967_022
    dongcheng = demo.districts.set_index("name").loc[["东城区"]]
    metric = crs.metric_crs(dongcheng)
    d = dongcheng.to_crs(metric).geometry.iloc[0]
    s = streets.to_crs(metric).union_all()
    overlap = s.intersection(d).area / s.area
    # converted streets lie within the district polygon (the two sources draw the border
    # slightly differently; unconverted GCJ-02 gives only ~0.83)
    assert overlap > 0.95


def test_conversion_improves_overlap_over_raw_gcj02(shared_data, demo):
    conv = _streets(shared_data, "gcj02")
    raw = _streets(shared_data, "wgs84")  # the wrong label every GeoJSON reader would give
    dongcheng = demo.districts.set_index("name").loc[["东城区"]]
    metric = crs.metric_crs(dongcheng)
    d = dongcheng.to_crs(metric).geometry.iloc[0]

    def iou(g):
        u = g.to_crs(metric).union_all()
        return u.intersection(d).area / u.union(d).area

    assert iou(conv) > iou(raw) + 0.1
    shift = raw.to_crs(metric).union_all().centroid.distance(
        conv.to_crs(metric).union_all().centroid)
    assert shift == pytest.approx(500, abs=200)
