"""The embedded Beijing demo: real districts, labelled synthetic parts, planted defects."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from planning.demo import DISTRICTS, PLANTED_KINDS, beijing_demo, generate, planted_defects
from planning.settings import Settings


def test_real_districts_with_census_population(demo):
    assert len(demo.districts) == 16
    assert set(demo.districts["name"]) == {d[0] for d in DISTRICTS}
    assert int(demo.districts["population"].sum()) == 21_893_095  # 2020 census, Beijing
    zones = dict(zip(demo.districts["name"], demo.districts["zone"], strict=True))
    assert zones["东城区"] == "core" and zones["海淀区"] == "expansion"
    assert zones["通州区"] == "new_development" and zones["延庆区"] == "ecological"
    # boundaries really are Beijing: ~16,410 km²
    area_km2 = demo.districts.to_crs(32650).area.sum() / 1e6
    assert 16_000 < area_km2 < 16_800


def test_townships_tile_their_district(demo):
    assert len(demo.units) == sum(d[4] for d in DISTRICTS)
    for name, *_ in DISTRICTS[:3]:
        d = demo.districts.set_index("name").loc[name].geometry
        u = demo.units[demo.units["district"] == name].union_all()
        assert abs(u.area - d.area) / d.area < 1e-4
    pops = demo.units.groupby("district")["population"].sum()
    census = {d[0]: d[3] for d in DISTRICTS}
    assert all(int(pops[k]) == v for k, v in census.items())


def test_synthetic_parts_are_labelled(demo):
    assert demo.is_synthetic and set(demo.synthetic) == {"units", "facilities"}
    assert demo.units["synthetic"].all() and demo.facilities["synthetic"].all()
    assert not demo.districts["synthetic"].any()
    assert all("（合成）" in n for n in demo.units["name"])
    assert any("SYNTHETIC" in s for s in demo.sources)


def test_planted_defects_are_present(demo):
    PLANTED = planted_defects()
    assert set(PLANTED) == set(PLANTED_KINDS)
    st = demo.stations().set_index("facility_id")
    zone_min = {"core": 50, "expansion": 70, "new_development": 100, "ecological": 100}
    for uid in PLANTED["no_station_units"]:
        assert uid not in set(st["unit_id"])
    for fid in PLANTED["small_area_stations"]:
        zone = demo.units.set_index("unit_id").loc[st.loc[fid, "unit_id"], "zone"]
        assert st.loc[fid, "floor_area_m2"] < zone_min[zone]
    for fid in PLANTED["understaffed_stations"]:
        assert st.loc[fid, "staff"] * 5 < st.loc[fid, "clients"]
    for fid in PLANTED["no_social_worker_stations"]:
        assert st.loc[fid, "social_workers"] == 0
    assert PLANTED["no_station_units"] and PLANTED["small_area_stations"]


def test_generation_is_deterministic_and_cached(tmp_path):
    s = Settings(cache_dir=tmp_path)
    a = beijing_demo(s)
    assert list(tmp_path.glob("beijing-demo-*.gpkg"))
    b = beijing_demo(s)  # from the cache, re-validated
    pd.testing.assert_frame_equal(a.facilities.drop(columns="geometry"),
                                  b.facilities.drop(columns="geometry"), check_dtype=False)
    c = generate(dataclasses.replace(s, seed=s.seed))
    assert c.units["population"].tolist() == a.units["population"].tolist()
    d = generate(dataclasses.replace(s, seed=s.seed + 1))
    assert d.units["population"].tolist() != a.units["population"].tolist()


def test_dataset_is_frozen(demo):
    with pytest.raises(dataclasses.FrozenInstanceError):
        demo.name = "x"
