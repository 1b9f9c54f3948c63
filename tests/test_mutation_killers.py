"""Tests that pin single operators: rule comparisons, suppression boundaries, siting side rules and
station capacity. ``make mutants`` (tests/bad_inputs/mutants.py) checks they kill mutants.

The review's spot-check changed ``<=`` to ``>=`` in rule evaluation, the suppression boundary
``< threshold`` to ``<=`` and the 2SFCA capacity ``5 × staff`` to ``1 × staff``; the suite still
passed. Each test here fails for such a change.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planning.access.matrix import station_capacity
from planning.errors import InfeasibleError, InputError
from planning.publish import privacy
from planning.publish.privacy import SECONDARY, suppress, suppression_mask
from planning.rules.engine import _compare
from planning.siting.base import make_rules


def _status(measured, threshold, op, lower=None):
    m = np.asarray(measured, dtype=float)
    t = np.broadcast_to(np.asarray(threshold, dtype=float), m.shape).copy()
    low = np.zeros(m.shape, dtype=bool) if lower is None else np.asarray(lower, dtype=bool)
    return _compare(m, t, op, low).tolist()


class TestComparator:
    def test_at_least(self):
        assert _status([0.9, 1.0, 1.1, 2.0], 1.0, ">=") == ["fail", "pass", "pass", "pass"]

    def test_at_most(self):
        assert _status([0.9, 1.0, 1.1, 0.0], 1.0, "<=") == ["pass", "pass", "fail", "pass"]

    def test_strict(self):
        assert _status([0.9, 1.0, 1.1], 1.0, ">") == ["fail", "fail", "pass"]
        assert _status([0.9, 1.0, 1.1], 1.0, "<") == ["pass", "fail", "fail"]

    def test_equality(self):
        assert _status([1.0, 1.0 + 1e-12, 1.5], 1.0, "==") == ["pass", "pass", "fail"]
        assert _status([1.0, 1.5], 1.0, "!=") == ["fail", "pass"]

    def test_tolerance_is_relative_and_tiny(self):
        # 1e-9 × max(1, |t|): at t = 0 the slack is 1e-9, at t = 1000 it is 1e-6
        assert _status([-0.5e-9, -1.5e-9], 0.0, ">=") == ["pass", "fail"]
        assert _status([0.5e-9, 1.5e-9], 0.0, "<=") == ["pass", "fail"]
        assert _status([1000 - 0.5e-6, 1000 - 1.5e-6], 1000.0, ">=") == ["pass", "fail"]
        assert _status([1000 + 0.5e-6, 1000 + 1.5e-6], 1000.0, "<=") == ["pass", "fail"]
        assert _status([-1e-9], 0.0, ">=") == ["pass"]  # exactly at the slack
        assert _status([1e-9], 0.0, "<=") == ["pass"]
        assert _status([-0.5], -1.0, ">=") == ["pass"]
        assert _status([-1.5], -1.0, ">=") == ["fail"]

    def test_missing_values_are_not_assessable(self):
        assert _status([np.nan, 1.0], [1.0, np.nan], ">=") == ["not_assessable"] * 2
        assert _status([np.nan, 2.0], 1.0, "<=") == ["not_assessable", "fail"]

    def test_lower_bound_proves_at_least_but_never_refutes_it(self):
        assert _status([2.0, 0.5], 1.0, ">=", lower=[True, True]) == ["pass", "not_assessable"]
        assert _status([2.0, 0.5], 1.0, ">", lower=[True, True]) == ["pass", "not_assessable"]
        # for "at most", a lower bound can refute but never prove
        assert _status([2.0, 0.5], 1.0, "<=", lower=[True, True]) == ["fail", "not_assessable"]
        assert _status([2.0, 0.5], 1.0, "<", lower=[True, True]) == ["fail", "not_assessable"]
        assert _status([2.0, 0.5], 1.0, "<=", lower=[False, False]) == ["fail", "pass"]
        assert _status([np.nan], 1.0, ">=", lower=[True]) == ["not_assessable"]


class TestPrivacy:
    @pytest.mark.parametrize("t", [2, 3, 5, 10])
    def test_boundary_of_the_threshold(self, t):
        grid, hidden = suppression_mask(np.array([[0], [t - 1], [t], [t + 100], [t + 200]]),
                                        threshold=t)
        # t - 1 is primary; the next smallest visible non-zero (t) is complementary
        assert hidden[:, 0].tolist() == [0, 1, 2, 0, 0, 0]
        assert grid[-1, 0] == 4 * t + 299 - 1 + 1

    def test_exactly_the_threshold_is_shown(self):
        out = suppress(pd.DataFrame({"n": [5, 50, 60]}), ["n"])
        assert out["n"].tolist() == [5, 50, 60]
        out = suppress(pd.DataFrame({"n": [5, 50, 60]}), ["n"], threshold=6)
        assert out["n"].tolist() == ["<6", SECONDARY, 60]

    def test_threshold_two_is_the_minimum(self):
        assert suppress(pd.DataFrame({"n": [1, 9, 9]}), ["n"], threshold=2)["n"].tolist() == [
            "<2", SECONDARY, 9]
        with pytest.raises(ValueError, match="at least 2"):
            privacy._threshold(1, None)

    def test_two_hidden_cells_with_free_values_need_no_complement(self):
        # 2 + 3 hidden, total shown: their sum 5 is neither 2 (all 1s) nor 8 (all 4s)
        _grid, hidden = suppression_mask(np.array([[2], [3], [40], [50]]), threshold=5)
        assert hidden[:, 0].tolist() == [1, 1, 0, 0, 0]

    def test_forced_all_ones_and_all_maximum_get_a_complement(self):
        _g, hidden = suppression_mask(np.array([[1], [1], [40], [50]]), threshold=5)
        assert hidden[:, 0].tolist() == [1, 1, 2, 0, 0]
        _g, hidden = suppression_mask(np.array([[4], [4], [40], [50]]), threshold=5)
        assert hidden[:, 0].tolist() == [1, 1, 2, 0, 0]
        _g, hidden = suppression_mask(np.array([[4], [3], [40], [50]]), threshold=5)
        assert hidden[:, 0].tolist() == [1, 1, 0, 0, 0]

    def test_single_cell_line_hides_its_total(self):
        grid, hidden = suppression_mask(np.array([[3]]), threshold=5)
        assert grid.tolist() == [[3], [3]] and hidden[:, 0].tolist() == [1, 1]
        _g, hidden = suppression_mask(np.array([[0], [0]]), threshold=5)
        assert hidden.sum() == 0

    def test_groups_and_grand_total(self):
        grid, hidden = suppression_mask(np.array([[3], [30], [40], [50]]), threshold=5,
                                        group_codes=np.array([0, 0, 1, 1]))
        assert grid[:, 0].tolist() == [3, 30, 40, 50, 33, 90, 123]
        assert hidden[:, 0].tolist() == [1, 2, 0, 0, 0, 0, 0]

    def test_row_total_column(self):
        vals = np.array([[30, 27, 3], [40, 40, 0], [50, 20, 30]])
        _g, hidden = suppression_mask(vals, threshold=5, row_total=0)
        assert hidden[0].tolist() == [0, 2, 1]
        # column 2's total (33) would give the 3 back: its smallest other cell (30) is hidden,
        # and then row 2's total (50) would give 30 back, so 20 is hidden too
        assert hidden[1].tolist() == [0, 0, 0] and hidden[2].tolist() == [0, 2, 2]

    def test_totals_rows_and_labels(self):
        t = pd.DataFrame({"g": ["a", "a", "b"], "n": [10, 20, 30]})
        out = suppress(t, ["n"], group="g", totals=True)
        assert out["n"].tolist() == [10, 20, 30, 30, 30, 60]
        assert out.index[-1] == privacy.TOTAL_LABEL
        assert out["g"].tolist()[-3:] == ["a", "b", privacy.TOTAL_LABEL]
        single = suppress(pd.DataFrame({"n": [10, 20]}), ["n"], totals=True)
        assert single["n"].tolist() == [10, 20, 30] and len(single) == 3

    def test_negative_and_rounding(self):
        with pytest.raises(ValueError, match="negative"):
            suppress(pd.DataFrame({"n": [-1, 5]}), ["n"])
        assert suppress(pd.DataFrame({"n": [4.6, 50.2, 60.0]}), ["n"])["n"].tolist() == [
            5, 50, 60]

    def test_export_marks_rows_with_any_hidden_count(self):
        f = pd.DataFrame({"patients": [30, 40, 50], "eligible": [3, 30, 40],
                          "share": [0.1, 0.2, 0.3]})
        out = privacy.suppress_frame_for_export(f)
        assert out["eligible"].tolist() == ["<5", "*", "40"]
        assert out["share"].tolist() == [SECONDARY, SECONDARY, 0.3]
        assert out["patients"].tolist() == ["30", "40", "50"]
        same = privacy.suppress_frame_for_export(f, derived=[])
        assert same["share"].tolist() == [0.1, 0.2, 0.3]
        plain = pd.DataFrame({"x": [1, 2]})
        assert privacy.suppress_frame_for_export(plain).equals(plain)

    def test_empty_table(self):
        grid, hidden = suppression_mask(np.zeros((0, 1)), threshold=5)
        assert grid.shape == (1, 1) and hidden.shape == (1, 1)

    def test_missing_counts_are_zero_in_totals_and_stay_missing(self):
        out = suppress(pd.DataFrame({"n": [np.nan, 10, 20]}), ["n"], totals=True)
        assert out["n"].tolist()[1:] == [10, 20, 30] and pd.isna(out["n"].iloc[0])
        f = pd.DataFrame({"patients": [np.nan, 30, 40], "rate": [1.0, 2.0, 3.0]})
        exp = privacy.suppress_frame_for_export(f)
        assert pd.isna(exp["patients"].iloc[0]) and exp["patients"].tolist()[1:] == ["30", "40"]
        assert exp["rate"].tolist() == [1.0, 2.0, 3.0]  # a missing count hides nothing

    def test_nullable_missing_count_hides_nothing_in_exports(self):
        """A count missing as ``pd.NA`` (nullable column) is unknown, not suppressed."""
        f = pd.DataFrame({"patients": pd.array([pd.NA, 30, 40, 50], dtype="Int64"),
                          "rate": [1.0, 2.0, 3.0, 4.0]})
        exp = privacy.suppress_frame_for_export(f)
        assert exp["patients"].iloc[0] is pd.NA
        assert exp["patients"].tolist()[1:] == ["30", "40", "50"]
        assert exp["rate"].tolist() == [1.0, 2.0, 3.0, 4.0]
        small = privacy.suppress_frame_for_export(f.assign(patients=pd.array(
            [pd.NA, 3, 40, 50], dtype="Int64")))
        assert small["rate"].tolist()[:2] == [1.0, SECONDARY]  # the hidden row loses it

    def test_missing_group_is_a_group_of_its_own(self):
        t = pd.DataFrame({"g": [None, "a", "a"], "n": [10, 20, 30]})
        out = suppress(t, ["n"], group="g", totals=True)
        assert out["n"].tolist() == [10, 20, 30, 10, 50, 60]
        assert out.index[3] == f"{privacy.TOTAL_LABEL} nan"
        assert out.index[4] == f"{privacy.TOTAL_LABEL} a"

    def test_single_group_has_one_total_row(self):
        out = suppress(pd.DataFrame({"g": ["a", "a"], "n": [10, 20]}), ["n"], group="g",
                       totals=True)
        assert out["n"].tolist() == [10, 20, 30]
        assert out["g"].tolist() == ["a", "a", "a"]
        assert out.index[-1] == f"{privacy.TOTAL_LABEL} a"

    def test_count_columns_are_never_derived(self):
        f = pd.DataFrame(columns=["rate_n", "rate", "geometry"])
        assert privacy.derived_columns(f, ["rate_n"]) == ["rate"]

    def test_public_units_without_population_has_no_rate(self):
        u = gpd.GeoDataFrame({"district": ["x", "x"], "patients": [30, 40]},
                             geometry=[shapely.box(0, 0, 1, 1)] * 2, crs="EPSG:4326")
        assert privacy.RATE_COLUMN not in privacy.public_units(u).columns

    def test_heat_points_weight_of_one(self):
        u = gpd.GeoDataFrame({"patients": [1, 0, "<5"]},
                             geometry=[shapely.box(116 + i, 39, 116.5 + i, 39.5)
                                       for i in range(3)], crs="EPSG:4326")
        assert [p[2] for p in privacy.heat_points(u)] == [1.0]

    def test_is_hidden(self):
        assert privacy._is_hidden("<5") and privacy._is_hidden(SECONDARY)
        assert not privacy._is_hidden("5") and not privacy._is_hidden(5)
        assert not privacy._is_hidden(None)

    def test_derived_columns(self):
        f = pd.DataFrame(columns=["patients", "rate_per_10k", "name", "population",
                                  "coverage", "geometry", "visits_per_patient_year"])
        assert privacy.derived_columns(f, ["patients"]) == ["rate_per_10k", "coverage",
                                                            "visits_per_patient_year"]

    def test_public_units_rate_and_blanking(self):
        u = gpd.GeoDataFrame({"unit_id": list("abcd"), "district": ["x", "x", "x", "y"],
                              "population": [20_000, 30_000, 0, 10_000],
                              "patients": [3, 12, 40, 7]},
                             geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)],
                             crs="EPSG:4326")
        out = privacy.public_units(u)
        assert out["patients"].tolist() == ["<5", SECONDARY, 40, 7]
        assert out[privacy.RATE_COLUMN].tolist()[:3] == [None, None, None]  # c: population 0
        assert out[privacy.RATE_COLUMN].tolist()[3] == 7.0
        u2 = u.assign(population=[20_000, 30_000, 40_000, 30_000])
        out2 = privacy.public_units(u2, threshold=3)
        assert out2["patients"].tolist() == [3, 12, 40, 7]
        assert out2[privacy.RATE_COLUMN].tolist() == [1.5, 4.0, 10.0, 2.3]
        assert privacy.public_units(u.drop(columns="patients")).columns.tolist() == [
            "unit_id", "district", "population", "geometry"]
        # per 10,000 residents exactly (rounding to 0.1 would hide a scale that is a bit off),
        # and a population of one is a population
        u3 = u.assign(population=[7, 1, 40_000, 30_000], patients=[50, 0, 40, 7])
        rates = privacy.public_units(u3, threshold=3)[privacy.RATE_COLUMN].tolist()
        assert rates == [round(50 / 7 * 10_000, 1), 0.0, 10.0, 2.3]

    def test_heat_points(self):
        u = gpd.GeoDataFrame({"patients": ["<5", SECONDARY, 40, 0, None, 6]},
                             geometry=[shapely.box(116 + i, 39, 116.5 + i, 39.5)
                                       for i in range(6)], crs="EPSG:4326")
        pts = privacy.heat_points(u)
        assert [round(p[2]) for p in pts] == [40, 6]
        assert pts[0][0] == pytest.approx(39.25, abs=0.01)
        assert pts[0][1] == pytest.approx(118.25, abs=0.01)
        assert privacy.heat_points(u.iloc[:2]) == []

    def test_public_site_table(self):
        sites = gpd.GeoDataFrame({"site_id": ["a", "b", "c"], "demand_served": [3, 40, 50],
                                  "mean_minutes": [5.0, 6.0, 7.0]},
                                 geometry=[shapely.Point(116, 39 + i) for i in range(3)],
                                 crs="EPSG:4326")
        pop = privacy.public_site_table(sites, weight="population")
        assert pop["demand_served"].tolist() == [3, 40, 50] and pop["lat"].tolist() == [39, 40,
                                                                                          41]
        pat = privacy.public_site_table(sites, weight="patients")
        assert pat["demand_served"].tolist() == ["<5", "*", "50"]
        assert pat["mean_minutes"].tolist() == [SECONDARY, SECONDARY, 7.0]


class TestSideRules:
    def test_floor_area_boundary(self):
        r = make_rules(5, floor_area=[49.9, 50, 50.1, np.nan, 10], min_floor_area=50,
                       locked=[4])
        assert r.free.tolist() == [1, 2, 3]  # 49.9 excluded, 50 kept, NaN kept; 4 is locked
        assert r.notes["below_floor_area"] == 1
        assert r.forced.tolist() == [False, False, False, False, True]

    def test_floor_area_per_candidate(self):
        r = make_rules(3, floor_area=[60, 60, 60], min_floor_area=[50, 70, 60])
        assert r.free.tolist() == [0, 2]
        with pytest.raises(InputError, match="floor_area"):
            make_rules(3, min_floor_area=50)
        with pytest.raises(InputError, match="2 values"):
            make_rules(3, floor_area=[1, 2], min_floor_area=0)

    def test_p_and_budget_validation(self):
        assert make_rules(3, p=0).k == 0
        for bad in (-1, 1.5):
            with pytest.raises(InputError, match="p must"):
                make_rules(3, p=bad)
        assert make_rules(3, budget=0).budget == 0.0
        for bad in (-0.1, math.inf, math.nan):
            with pytest.raises(InputError, match="budget"):
                make_rules(3, budget=bad)

    def test_k_counts_closable_sites(self):
        r = make_rules(6, p=2, locked=[0, 1, 2], closable=[1, 2])
        assert r.k == 4
        assert r.forced.tolist() == [True, False, False, False, False, False]
        assert r.free.tolist() == [1, 2, 3, 4, 5]
        assert make_rules(6, p=2, locked=[0, 1], closable=True).k == 4
        assert make_rules(6, locked=[0]).k is None

    def test_too_few_candidates_is_infeasible(self):
        assert make_rules(4, p=3, excluded=[0]).free.size == 3
        with pytest.raises(InfeasibleError, match="only 2 candidates"):
            make_rules(4, p=3, excluded=[0, 1])

    def test_locked_and_excluded_clash_and_stray_closable(self):
        with pytest.raises(InputError, match="both locked and excluded"):
            make_rules(3, locked=[1], excluded=[1])
        with pytest.raises(InputError, match="must be locked"):
            make_rules(3, locked=[1], closable=[2])

    def test_budget_cost_of_locked_sites_is_zero(self):
        r = make_rules(4, locked=[1], closable=True, site_cost=[2.0, 3.0, 4.0, 5.0], budget=7)
        assert r.free.tolist() == [0, 1, 2, 3]
        assert r.free_budget_cost.tolist() == [2.0, 0.0, 4.0, 5.0]
        assert r.site_cost.tolist() == [2.0, 3.0, 4.0, 5.0]

    def test_side_rows(self):
        r = make_rules(5, p=2, site_cost=[1, 2, 3, 4, 5], budget=6, groups=list("aabbc"),
                       max_per_group={"a": 1, "c": 0})
        rows = r.side_rows()
        assert len(rows) == 3
        count, budget, groups = rows
        assert count[0].toarray().tolist() == [[1, 1, 1, 1, 1]]
        assert count[1].tolist() == [2] and count[2].tolist() == [2]
        assert budget[0].toarray().tolist() == [[1, 2, 3, 4, 5]]
        assert budget[1].tolist() == [-np.inf] and budget[2].tolist() == [6]
        assert groups[0].toarray().tolist() == [[1, 1, 0, 0, 0], [0, 0, 0, 0, 1]]
        assert groups[1].tolist() == [-np.inf, -np.inf] and groups[2].tolist() == [1, 0]
        assert make_rules(3).side_rows() == []

    def test_group_room_subtracts_locked_sites(self):
        r = make_rules(5, groups=["a", "a", "b", None, "b"], max_per_group=2, locked=[0])
        assert r.group_room.tolist() == [1, 2]
        assert r.group_codes.tolist() == [0, 0, 1, -1, 1]
        rows = r.side_rows()
        assert rows[0][0].toarray().tolist() == [[1, 0, 0, 0], [0, 1, 0, 1]]  # free: 1, 2, 3, 4
        assert rows[0][2].tolist() == [1, 2]
        with pytest.raises(InfeasibleError, match="1 locked > cap 0"):
            make_rules(3, groups=["a", "a", "b"], max_per_group={"a": 0}, locked=[0])
        with pytest.raises(InputError, match="needs groups"):
            make_rules(3, max_per_group=1)
        with pytest.raises(InputError, match="2 labels"):
            make_rules(3, groups=["a", "b"])
        unlimited = make_rules(3, groups=["a", "a", "b"])
        assert np.isinf(unlimited.group_room).all() and unlimited.side_rows() == []

    def test_defaults(self):
        r = make_rules(3, locked=[0])
        assert r.forced.tolist() == [True, False, False]  # locked sites stay open by default
        assert r.closable.size == 0 and r.free.tolist() == [1, 2]
        assert r.site_cost.tolist() == [1.0, 1.0, 1.0]
        assert r.notes == {"excluded": 0, "below_floor_area": 0}
        assert r.budget is None and r.p is None

    def test_infeasible_message_counts_available_new_sites(self):
        with pytest.raises(InfeasibleError, match="only 1 candidates are available"):
            make_rules(5, p=3, locked=[0, 1], closable=True, excluded=[2, 3])

    def test_ungrouped_locked_sites_use_no_room(self):
        r = make_rules(4, groups=[None, "a", "b", "b"], max_per_group=1, locked=[0, 2])
        assert r.group_room.tolist() == [1, 0]

    def test_cap_message_names_only_the_groups_over_their_cap(self):
        with pytest.raises(InfeasibleError) as err:
            make_rules(4, groups=["a", "a", "b", "c"], max_per_group={"a": 0, "b": 0},
                       locked=[0])
        assert "in 1 group(s)" in str(err.value) and "b:" not in str(err.value)
        labels = [f"g{i}" for i in range(11)]
        with pytest.raises(InfeasibleError) as err:
            make_rules(11, groups=labels, max_per_group=0, locked=list(range(11)))
        assert "in 11 group(s)" in str(err.value)
        assert "g9:" in str(err.value) and "g10:" not in str(err.value)

    def test_groups_without_room_add_no_rows(self):
        import dataclasses

        r = make_rules(3, groups=["a", "a", "b"], max_per_group=1)
        assert len(r.side_rows()) == 1
        assert dataclasses.replace(r, group_room=None).side_rows() == []

    def test_group_cap_exactly_met_by_locked_sites_is_feasible(self):
        r = make_rules(3, groups=["a", "a", "b"], max_per_group={"a": 1}, locked=[0])
        assert r.group_room.tolist()[0] == 0


class TestCapacity:
    def test_capacity_is_staff_times_clients_per_staff(self):
        st = pd.DataFrame({"staff": [3, 0, 2], "clients": [10, 20, 30]})
        assert station_capacity(st, per_staff=5).tolist() == [15.0, 0.0, 10.0]
        assert station_capacity(st, per_staff=5, basis="clients").tolist() == [10, 20, 30]
        assert station_capacity(st, per_staff=0.5)[0] == 1.5
