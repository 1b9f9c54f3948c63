"""Siting on a Dataset (suggest_sites) and the township accessibility summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planning.access.coverage import AccessOptions, population_grid, township_access
from planning.errors import InfeasibleError, InputError
from planning.siting.plan import SitingOptions, add_sites, build_candidates, suggest_sites


@pytest.fixture(scope="module")
def dongcheng(demo):
    return demo.subset(["东城区"])


def test_township_cover_gives_every_uncovered_township_a_site(dongcheng):
    plan = suggest_sites(dongcheng, SitingOptions(model="township_cover"), profile="beijing-2018")
    covered = set(dongcheng.stations()["unit_id"])
    missing = set(dongcheng.units["unit_id"]) - covered
    assert missing, "the demo plants a township without a station in every district"
    assert set(plan.sites["unit_id"]) == missing
    assert plan.result.status == "optimal" and plan.result.gap == pytest.approx(0.0)
    assert plan.kpis.loc["townships_with_station", "after"] == len(dongcheng.units)
    # the township coverage failures are resolved
    assert plan.kpis.loc["failing_findings", "after"] < plan.kpis.loc["failing_findings", "before"]
    assert plan.method == "straight_line_fallback"


def test_existing_stations_stay_open_and_p_is_new_sites(dongcheng):
    plan = suggest_sites(dongcheng, SitingOptions(model="pmedian", p=2))
    locked = set(dongcheng.stations()["facility_id"])
    selected = set(plan.candidates.loc[plan.candidates["selected"], "site_id"])
    assert locked <= selected
    assert len(plan.sites) == 2 and not set(plan.sites["site_id"]) & locked
    # p-median never makes anyone farther from a station
    assert plan.kpis.loc["mean_minutes", "after"] <= plan.kpis.loc["mean_minutes", "before"]


def test_mclp_covers_at_least_as_much_as_before(dongcheng):
    plan = suggest_sites(dongcheng, SitingOptions(model="mclp", p=2, threshold_min=10))
    k = plan.kpis.loc["weight_within_threshold"]
    assert k["after"] >= k["before"]
    assert plan.result.objective == pytest.approx(k["after"], rel=1e-6)


def test_capacity_is_in_clients_and_shortfall_says_what_would_cover_it(dongcheng):
    staff = float(dongcheng.stations()["staff"].sum())
    eligible = float(dongcheng.units["eligible"].sum())
    assert staff * 5 < eligible  # every eligible patient attending overflows the stations
    with pytest.raises(InfeasibleError, match=r"total capacity [\d.]+ < demand") as err:
        suggest_sites(dongcheng, SitingOptions(model="cap_pmedian", p=1, participation=1.0),
                      profile="beijing-2018")
    shortfall = float(err.value.params["shortfall"])
    assert err.value.params["extra_staff"] == int(np.ceil(shortfall / 5))  # 1:5 from profile
    # population weights the travel time only: it never enters a capacity row
    plan = suggest_sites(dongcheng, SitingOptions(model="cap_pmedian", p=3, participation=0.5,
                                                  weight="population"),
                         profile="beijing-2018")
    assert plan.result.status == "optimal" and plan.result.gap == pytest.approx(0.0)
    caps = plan.candidates["capacity"].to_numpy(dtype=float)
    caps = np.where(np.isfinite(caps), caps, np.nanmedian(caps))
    load = np.asarray(plan.result.load, dtype=float)
    assert (load <= caps + 1e-6).all()
    assert load.sum() == pytest.approx(0.5 * eligible)  # clients, not residents
    with pytest.raises(InputError, match="participation"):
        SitingOptions(model="cap_pmedian", participation=1.5)


def test_clients_fall_back_to_patients_and_refuse_without_counts(dongcheng):
    from planning.siting.plan import clients_per_township

    units = dongcheng.units[["unit_id", "eligible", "patients"]].copy()
    units.loc[units.index[0], "eligible"] = pd.NA
    got = clients_per_township(units, 0.5)
    assert got[0] == pytest.approx(0.5 * float(units["patients"].iloc[0]))
    assert got[1] == pytest.approx(0.5 * float(units["eligible"].iloc[1]))
    with pytest.raises(InputError, match="load a ledger"):
        clients_per_township(units.drop(columns=["eligible", "patients"]), 0.5)


def test_unknown_model_and_weight(dongcheng):
    with pytest.raises(InputError, match="unknown model"):
        suggest_sites(dongcheng, SitingOptions(model="voodoo"), profile="beijing-2018")
    with pytest.raises(InputError, match="unknown weight 'nope'"):
        SitingOptions(weight="nope")
    with pytest.raises(InputError, match="staff : client ratio"):  # no profile, no capacity
        suggest_sites(dongcheng, SitingOptions(model="cap_pmedian", p=3, weight="eligible"))


def test_candidates_and_add_sites(dongcheng):
    c = build_candidates(dongcheng, spacing_m=1000, clients_per_staff=5)
    assert c["locked"].sum() == len(dongcheng.stations())
    assert set(c["source"]) == {"existing", "grid"}
    assert c.loc[c["locked"], "capacity"].notna().all()
    plan = suggest_sites(dongcheng, SitingOptions(model="township_cover"))
    bigger = add_sites(dongcheng, plan.sites)
    assert len(bigger.stations()) == len(dongcheng.stations()) + len(plan.sites)


def test_population_grid_preserves_population(dongcheng):
    grid = population_grid(dongcheng.units, grid_m=500)
    total = dongcheng.units["population"].sum()
    assert grid["population"].sum() == pytest.approx(float(total))
    assert set(grid["unit_id"]) == set(dongcheng.units["unit_id"])


def test_township_access_shares_are_consistent(dongcheng):
    s5 = township_access(dongcheng, AccessOptions(threshold_min=5))
    s30 = township_access(dongcheng, AccessOptions(threshold_min=30))
    assert (s5.townships["share_within"] <= s30.townships["share_within"] + 1e-12).all()
    assert s30.townships["share_within"].between(0, 1).all()
    assert np.isfinite(s30.townships["mean_minutes"]).all()
    assert s30.method == "straight_line_fallback"
    assert set(s30.catchments["minutes"]) >= {5.0, 10.0, 15.0, 30.0}
    worst = s30.worst(3)
    assert list(worst["share_within"]) == sorted(worst["share_within"])


def test_floor_area_cap_and_budget_constraints(dongcheng):
    import geopandas as gpd
    import shapely

    # two user candidates in an uncovered township: one too small for the core zone (50 m²)
    from planning.demo import planted_defects

    uid = next(u for u in planted_defects()["no_station_units"] if u.startswith("110101"))
    poly = dongcheng.units.set_index("unit_id").loc[uid].geometry
    p0 = poly.representative_point()
    user = gpd.GeoDataFrame(
        {"unit_id": [uid, uid], "floor_area_m2": [30.0, 80.0], "source": ["user", "user"]},
        geometry=[p0, shapely.Point(p0.x + 1e-4, p0.y)],
        crs=4326,
    )
    plan = suggest_sites(
        dongcheng,
        SitingOptions(model="township_cover", spacing_m=50_000, zone_floor_area=True),
        profile="beijing-2018",
        candidates=user,
    )
    chosen = plan.sites[plan.sites["unit_id"] == uid]
    assert len(chosen) == 1
    assert chosen["floor_area_m2"].isna().all() or (chosen["floor_area_m2"] >= 50).all()
    assert not (plan.sites["floor_area_m2"] == 30.0).any()
    # one site per township, existing stations included: the only room left is `uid`
    capped = suggest_sites(dongcheng, SitingOptions(model="pmedian", p=1, max_per_township=1))
    opened = capped.candidates[capped.candidates["selected"]]
    assert opened.groupby("unit_id").size().max() == 1
    assert list(capped.sites["unit_id"]) == [uid]
    with pytest.raises(InfeasibleError, match="infeasible"):
        suggest_sites(dongcheng, SitingOptions(model="pmedian", p=2, max_per_township=1))
    budgeted = suggest_sites(
        dongcheng, SitingOptions(model="mclp", threshold_min=10, site_cost=100_000, budget=250_000)
    )
    assert len(budgeted.sites) <= 2
