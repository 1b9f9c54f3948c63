"""Siting models checked against brute-force enumeration on small seeded instances."""

from __future__ import annotations

import dataclasses
import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from planning.errors import InfeasibleError, InputError
from planning.siting import (
    LSCP,
    MCLP,
    CapacitatedMCLP,
    CapacitatedPMedian,
    PCenter,
    PMedian,
    SitingResult,
    TownshipCover,
)
from planning.siting import candidates as cands

TOL = 1e-6
SIZES = [(6, 5, 0), (9, 6, 1), (12, 7, 2), (10, 8, 3)]


def instance(n: int, m: int, seed: int):
    rng = np.random.default_rng(seed)
    demand_xy = rng.uniform(0, 10, (n, 2))
    site_xy = rng.uniform(0, 10, (m, 2))
    cost = np.linalg.norm(demand_xy[:, None, :] - site_xy[None, :, :], axis=2)
    weights = rng.integers(1, 10, n).astype(float)
    return cost, weights


def subsets(m, p, locked=(), excluded=()):
    """All site sets with exactly ``p`` new sites plus the locked ones."""
    free = [j for j in range(m) if j not in locked and j not in excluded]
    for combo in itertools.combinations(free, p):
        yield np.array(sorted(set(combo) | set(locked)), dtype=int)


def all_subsets(m, locked=(), excluded=()):
    free = [j for j in range(m) if j not in locked and j not in excluded]
    for r in range(len(free) + 1):
        for combo in itertools.combinations(free, r):
            yield np.array(sorted(set(combo) | set(locked)), dtype=int), len(combo)


def median_value(cost, w, s):
    return float(w @ cost[:, s].min(axis=1))


def close(a, b):
    return abs(a - b) <= TOL * max(1.0, abs(b))


def transport(cost, w, q, caps, s, *, cover_radius=None):
    """Split allocation to the open set ``s``: min cost (p-median) or max covered weight."""
    n = cost.shape[0]
    k = len(s)
    if cover_radius is None:
        c = (w[:, None] * cost[:, s]).ravel()
        a_eq = np.kron(np.eye(n), np.ones(k))
        res = linprog(
            c,
            A_ub=_cap_rows(q, k),
            b_ub=caps[s],
            A_eq=a_eq,
            b_eq=np.ones(n),
            bounds=(0, 1),
            method="highs",
        )
        return res.fun if res.status == 0 else np.inf
    ok = (cost[:, s] <= cover_radius).ravel()
    c = -(np.repeat(w, k) * ok)
    res = linprog(
        c,
        A_ub=np.vstack([np.kron(np.eye(n), np.ones(k)), _cap_rows(q, k)]),
        b_ub=np.concatenate([np.ones(n), caps[s]]),
        bounds=[(0, 1 if o else 0) for o in ok],
        method="highs",
    )
    return -res.fun


def single_source_cover(cost, w, q, caps, s, radius):
    """Exhaustive single-source covering for open set ``s``: dynamic programme over the loads.

    Every demand point goes to one open site within ``radius`` or to none; states are the
    (integer) loads of the open sites, so this enumerates every assignment without 3^n loops.
    """
    states = {tuple(0 for _ in s): 0.0}
    for i in range(cost.shape[0]):
        nxt = dict(states)  # demand point i unserved
        for loads, val in states.items():
            for a, j in enumerate(s):
                if cost[i, j] > radius or loads[a] + q[i] > caps[j] + 1e-9:
                    continue
                key = (*loads[:a], loads[a] + int(q[i]), *loads[a + 1 :])
                nxt[key] = max(nxt.get(key, -np.inf), val + w[i])
        states = nxt
    return max(states.values())


def _cap_rows(q, k):
    return np.kron(q[None, :], np.eye(k))


# --- exactness against brute force -----------------------------------------------------------


@pytest.mark.parametrize(("n", "m", "seed"), SIZES)
def test_pmedian_matches_brute_force(n, m, seed):
    cost, w = instance(n, m, seed)
    for p in (1, 2, 3):
        best = min(median_value(cost, w, s) for s in subsets(m, p))
        res = PMedian.from_cost_matrix(cost, w, p=p).solve(time_limit=20)
        assert res.status == "optimal"
        assert res.solver == "highs-milp"
        assert close(res.objective, best)
        assert res.selected.size == p
        assert close(res.bound, best) and res.gap <= 1e-6


@pytest.mark.parametrize(("n", "m", "seed"), SIZES)
def test_pmedian_locked_excluded_match_brute_force(n, m, seed):
    cost, w = instance(n, m, seed)
    locked, excluded = [0], [m - 1]
    best = min(median_value(cost, w, s) for s in subsets(m, 2, locked, excluded))
    res = PMedian.from_cost_matrix(cost, w, p=2, locked=locked, excluded=excluded).solve()
    assert close(res.objective, best)
    assert 0 in res.selected and m - 1 not in res.selected
    assert res.selected.size == 3 and res.new_sites.size == 2
    assert np.all(res.assignment[:, None] != m - 1)


@pytest.mark.parametrize("single_source", [False, True])
def test_deepening_from_one_option_per_demand_stays_exact(monkeypatch, single_source):
    """The nearest-options relaxation must deepen until no fallback is used."""
    cost, w = instance(12, 7, 2)
    monkeypatch.setattr(PMedian, "start_depth", 1)
    monkeypatch.setattr(CapacitatedPMedian, "start_depth", 1)
    best = min(median_value(cost, w, s) for s in subsets(7, 2))
    assert close(PMedian.from_cost_matrix(cost, w, p=2).solve().objective, best)
    caps = np.full(7, np.ceil(w.sum() / 2) + 2)
    res = CapacitatedPMedian.from_cost_matrix(
        cost, w, p=2, capacities=caps, single_source=single_source
    ).solve()
    assert res.status == "optimal"
    best = min(transport(cost, w, w, caps, s) for s in subsets(7, 2))
    if single_source:
        assert res.objective >= best - 1e-9
    else:
        assert close(res.objective, best)


@pytest.mark.parametrize(("n", "m", "seed"), SIZES)
def test_pcenter_matches_brute_force(n, m, seed):
    cost, w = instance(n, m, seed)
    for p in (1, 2, 3):
        best = min(float(cost[:, s].min(axis=1).max()) for s in subsets(m, p))
        res = PCenter.from_cost_matrix(cost, w, p=p).solve(time_limit=20)
        assert res.status == "optimal"
        assert close(res.objective, best)
        assert close(res.max_cost, best)


@pytest.mark.parametrize(("n", "m", "seed"), SIZES)
def test_mclp_matches_brute_force(n, m, seed):
    cost, w = instance(n, m, seed)
    radius = 3.5
    for p in (1, 2, 3):
        best = max(float(w[(cost[:, s] <= radius).any(axis=1)].sum()) for s in subsets(m, p))
        res = MCLP.from_cost_matrix(cost, w, service_radius=radius, p=p).solve()
        assert res.status == "optimal"
        assert close(res.objective, best) and close(res.covered_weight, best)
        covered = res.assignment >= 0
        assert np.all(cost[covered, res.assignment[covered]] <= radius)


@pytest.mark.parametrize(("n", "m", "seed"), SIZES)
def test_mclp_budget_matches_brute_force(n, m, seed):
    cost, w = instance(n, m, seed)
    site_cost = np.random.default_rng(seed + 7).integers(1, 5, m).astype(float)
    budget = 5.0
    best = max(
        float(w[(cost[:, s] <= 3.5).any(axis=1)].sum()) if s.size else 0.0
        for s, _ in all_subsets(m)
        if site_cost[s].sum() <= budget
    )
    res = MCLP.from_cost_matrix(
        cost, w, service_radius=3.5, site_cost=site_cost, budget=budget
    ).solve()
    assert close(res.objective, best)
    assert site_cost[res.selected].sum() <= budget + 1e-9


@pytest.mark.parametrize(("n", "m", "seed"), SIZES)
def test_lscp_matches_brute_force(n, m, seed):
    cost, w = instance(n, m, seed)
    radius = float(np.sort(cost.min(axis=1))[-1]) + 0.5  # every demand point coverable
    site_cost = np.random.default_rng(seed).uniform(1, 3, m)
    for sc in (None, site_cost):
        c = np.ones(m) if sc is None else sc
        best = min(
            float(c[s].sum())
            for s, _ in all_subsets(m)
            if s.size and (cost[:, s] <= radius).any(axis=1).all()
        )
        res = LSCP.from_cost_matrix(cost, w, service_radius=radius, site_cost=sc).solve()
        assert res.status == "optimal"
        assert close(res.objective, best)
        assert (res.assignment >= 0).all()
        assert close(res.covered_weight, w.sum())
        # the heuristic's bound: the dearest of the cheapest covering sites per demand point
        heur = LSCP.from_cost_matrix(cost, w, service_radius=radius, site_cost=sc).solve(
            method="heuristic"
        )
        simple = np.where(cost <= radius, c[None, :], np.inf).min(axis=1).max()
        assert close(heur.bound, simple) and heur.bound <= best + TOL


@pytest.mark.parametrize(("n", "m", "seed"), SIZES[:3])
@pytest.mark.parametrize("single_source", [False, True])
def test_capacitated_pmedian_matches_brute_force(n, m, seed, single_source):
    cost, w = instance(n, m, seed)
    q = w.copy()
    caps = np.full(m, np.ceil(q.sum() / 2) + 2)
    p = 2
    best = np.inf
    for s in subsets(m, p):
        if single_source:
            for combo in itertools.product(range(p), repeat=n):
                load = np.bincount(combo, weights=q, minlength=p)
                if np.all(load <= caps[s] + 1e-9):
                    best = min(best, float(np.sum(w * cost[np.arange(n), s[list(combo)]])))
        else:
            best = min(best, transport(cost, w, q, caps, s))
    res = CapacitatedPMedian.from_cost_matrix(
        cost, w, p=p, capacities=caps, single_source=single_source
    ).solve(time_limit=30)
    assert res.status == "optimal"
    assert close(res.objective, best)
    assert np.all(res.load <= caps + 1e-6)
    shares = res.allocation.toarray()
    assert np.allclose(shares.sum(axis=1), 1.0)
    if single_source:
        assert set(np.unique(shares)) <= {0.0, 1.0}


@pytest.mark.parametrize(("n", "m", "seed"), SIZES[:3])
@pytest.mark.parametrize("single_source", [False, True])
def test_capacitated_mclp_matches_brute_force(n, m, seed, single_source):
    cost, w = instance(n, m, seed)
    q = w.copy()
    caps = np.full(m, 12.0)
    radius, p = 4.0, 2
    best = -np.inf
    for s in subsets(m, p):
        if single_source:
            best = max(best, single_source_cover(cost, w, q, caps, s, radius))
        else:
            best = max(best, transport(cost, w, q, caps, s, cover_radius=radius))
    res = CapacitatedMCLP.from_cost_matrix(
        cost, w, service_radius=radius, capacities=caps, p=p, single_source=single_source
    ).solve(time_limit=30)
    assert res.status == "optimal"
    assert close(res.objective, best)
    assert np.all(res.load <= caps + 1e-6)
    alloc = res.allocation.tocoo()
    assert np.all(cost[alloc.row, alloc.col] <= radius)


@pytest.mark.parametrize(("n", "m", "seed"), SIZES)
@pytest.mark.parametrize("travel_weight", [0.0, 0.3])
def test_township_cover_matches_brute_force(n, m, seed, travel_weight):
    cost, w = instance(n, m, seed)
    rng = np.random.default_rng(seed)
    cand_units = rng.integers(0, n, m)
    radius = 5.0
    locked = [0]
    elig = (cand_units[None, :] == np.arange(n)[:, None]) | (cost <= radius)
    served = elig[:, locked].any(axis=1)
    if not elig[~served].any(axis=1).all():
        with pytest.raises(InfeasibleError, match="no available candidate"):
            TownshipCover.from_cost_matrix(
                cost, w, candidate_units=cand_units, service_radius=radius, locked=locked
            )
        return
    best = np.inf
    for s, new in all_subsets(m, locked=locked):
        opened = np.zeros(m, dtype=bool)
        opened[s] = True
        ok = (elig & opened).any(axis=1)
        if not ok.all():
            continue
        travel = np.where(elig & opened, cost, np.inf).min(axis=1)
        val = new + travel_weight * float(np.sum((w * travel)[~served]))
        best = min(best, val)
    res = TownshipCover.from_cost_matrix(
        cost,
        w,
        candidate_units=cand_units,
        service_radius=radius,
        locked=locked,
        travel_weight=travel_weight,
    ).solve()
    assert close(res.objective, best)
    assert 0 in res.selected
    assert close(res.covered_weight, w.sum())


def test_township_cover_by_township_labels_only():
    cost = np.array([[1.0, 9, 9], [9, 1, 9], [9, 9, 1.0], [5, 5, 5]])
    res = TownshipCover.from_cost_matrix(
        cost,
        candidate_units=["a", "b", "c"],
        unit_ids=["a", "b", "c", "d"],
        served=[False, False, False, True],
        locked=[1],
    ).solve()
    assert res.selected.tolist() == [0, 1, 2]
    assert res.objective == 2.0
    with pytest.raises(InfeasibleError, match=r"1 townships.*d"):
        TownshipCover.from_cost_matrix(
            cost, candidate_units=["a", "b", "c"], unit_ids=["a", "b", "c", "d"]
        )


# --- side constraints ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_cap_and_floor_area_match_brute_force(seed):
    cost, w = instance(12, 8, seed)
    groups = np.array(["a", "a", "a", "a", "b", "b", "c", "c"])
    area = np.array([80, 40, 120, 90, 60, 100, np.nan, 75])
    need = np.array([70, 70, 100, 100, 50, 50, 70, 100])  # e.g. by functional zone
    small = {1, 3, 7}  # 40 < 70, 90 < 100, 75 < 100
    best = min(
        median_value(cost, w, s) for s in subsets(8, 3, excluded=small) if _cap_ok(groups, s)
    )
    res = PMedian.from_cost_matrix(
        cost, w, p=3, groups=groups, max_per_group=1, floor_area=area, min_floor_area=need
    ).solve()
    assert close(res.objective, best)
    assert not set(res.selected) & small
    assert pd.Series(groups[res.selected]).value_counts().max() <= 1


def _cap_ok(groups, s):
    return pd.Series(groups[s]).value_counts().max() <= 1


def test_budget_respected_and_closable_relocates():
    cost, w = instance(10, 6, 3)
    site_cost = np.array([1.0, 2, 3, 1, 2, 3])
    res = PMedian.from_cost_matrix(cost, w, p=2, site_cost=site_cost, budget=3).solve()
    assert site_cost[res.selected].sum() <= 3
    best = min(median_value(cost, w, s) for s in subsets(6, 2) if site_cost[s].sum() <= 3)
    assert close(res.objective, best)
    # existing station 5 may be closed: total stays p + 1 = 2 sites
    res = PMedian.from_cost_matrix(cost, w, p=1, locked=[5], closable=True).solve()
    best = min(median_value(cost, w, s) for s in subsets(6, 2))
    assert close(res.objective, best)
    assert res.selected.size == 2
    assert (5 in res.selected) == (res.closed.size == 0)


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        (PMedian, {"p": 2}),
        (PCenter, {"p": 2}),
        (MCLP, {"p": 2, "service_radius": 4.0}),
        (LSCP, {"service_radius": 20.0}),
        (CapacitatedPMedian, {"p": 2, "capacities": np.full(7, 200.0)}),
        (CapacitatedMCLP, {"p": 2, "service_radius": 4.0, "capacities": np.full(7, 20.0)}),
        (TownshipCover, {"service_radius": 20.0}),
    ],
)
def test_locked_and_excluded_honoured_everywhere(model, kwargs):
    cost, w = instance(12, 7, 5)
    res = model.from_cost_matrix(cost, w, locked=[3], excluded=[0, 1], **kwargs).solve()
    assert 3 in res.selected
    assert not {0, 1} & set(res.selected)
    assert not np.isin(res.assignment, [0, 1]).any()
    assert np.all(np.diff(res.selected) > 0)


# --- infeasibility ---------------------------------------------------------------------------


def test_lscp_uncoverable_demand_is_named():
    cost = np.array([[1.0, 2.0], [9.0, 8.0], [1.0, 1.0], [7.0, 9.0]])
    with pytest.raises(InfeasibleError, match=r"2 demand points .*indices 1, 3"):
        LSCP.from_cost_matrix(cost, service_radius=5)


def test_capacity_shortfall_gives_numbers():
    cost, _ = instance(5, 4, 0)
    with pytest.raises(InfeasibleError, match=r"total capacity 120 < demand 150"):
        CapacitatedPMedian.from_cost_matrix(
            cost, demand=np.full(5, 30.0), p=2, capacities=[60, 50, 40, 60]
        )


def test_other_infeasible_and_bad_inputs():
    cost, w = instance(6, 4, 0)
    with pytest.raises(InfeasibleError, match=r"p=4 new sites.*3 candidates"):
        PMedian.from_cost_matrix(cost, w, p=4, excluded=[0])
    with pytest.raises(InfeasibleError, match="HiGHS proved the model infeasible"):
        PMedian.from_cost_matrix(cost, w, p=2, site_cost=np.full(4, 2.0), budget=3).solve()
    with pytest.raises(InfeasibleError, match="cap 1"):
        PMedian.from_cost_matrix(cost, w, p=1, locked=[0, 1], groups=list("aabb"), max_per_group=1)
    with pytest.raises(InputError, match="locked and excluded"):
        PMedian.from_cost_matrix(cost, w, p=1, locked=[0], excluded=[0])
    with pytest.raises(InputError, match="NaN"):
        PMedian.from_cost_matrix(np.where(cost > 5, np.nan, cost), w, p=1)
    with pytest.raises(InputError, match="needs p="):
        MCLP.from_cost_matrix(cost, w, service_radius=3)


# --- time limits, heuristics, results --------------------------------------------------------


def _stopped_highs(monkeypatch, dual_bound):
    """Make every HiGHS run stop at the time limit with its incumbent and ``fun - dual_bound``."""
    from scipy.optimize import OptimizeResult

    from planning.siting import base

    real = base.Program.solve

    def fake(self, time_limit, mip_gap):
        res = real(self, 30.0, mip_gap)
        return OptimizeResult(
            x=res.x,
            fun=res.fun,
            status=1,
            message="Time limit reached",
            mip_dual_bound=res.fun - dual_bound,
        )

    monkeypatch.setattr(base.Program, "solve", fake)


def test_time_limited_run_with_a_bound_reports_its_gap(monkeypatch):
    cost, w = instance(30, 10, 11)
    exact = PMedian.from_cost_matrix(cost, w, p=3).solve()
    _stopped_highs(monkeypatch, 5.0)
    res = PMedian.from_cost_matrix(cost, w, p=3).solve(time_limit=1)
    assert res.status == "time_limit_feasible"
    assert close(res.objective, exact.objective)
    assert close(res.bound, exact.objective - 5.0)
    assert close(res.gap, (res.objective - res.bound) / res.objective) and res.gap > 0
    assert "time limit" in res.message or "incumbent" in res.message


def test_a_weak_bound_from_a_stopped_search_gives_way_to_the_simple_relaxation(monkeypatch):
    cost, w = instance(30, 10, 11)
    exact = PMedian.from_cost_matrix(cost, w, p=3).solve()
    nearest = float(w @ cost.min(axis=1))  # every demand point at its nearest candidate
    assert 0 < nearest < exact.objective
    radius = float(np.median(cost))
    reach = float(w[(cost <= radius).any(axis=1)].sum())  # all reachable weight covered
    mclp = MCLP.from_cost_matrix(cost, w, p=1, service_radius=radius).solve()
    assert mclp.objective < reach
    _stopped_highs(monkeypatch, 1e9)  # HiGHS stops with a useless bound
    res = PMedian.from_cost_matrix(cost, w, p=3).solve(time_limit=1)
    assert res.status == "time_limit_feasible"
    assert close(res.bound, nearest)
    assert close(res.gap, (res.objective - nearest) / res.objective)
    res = MCLP.from_cost_matrix(cost, w, p=1, service_radius=radius).solve(time_limit=1)
    assert res.status == "time_limit_feasible"
    assert close(res.bound, reach) and res.gap > 0


def test_time_limited_run_without_a_bound_says_the_gap_is_unknown(monkeypatch):
    cost, w = instance(30, 10, 11)
    _stopped_highs(monkeypatch, np.nan)
    res = CapacitatedPMedian.from_cost_matrix(
        cost, w, p=3, capacities=np.full(10, w.sum() / 2), single_source=True
    ).solve(time_limit=1, mip_gap=0.0)
    assert res.status == "time_limit_no_bound"
    assert np.isnan(res.bound) and np.isnan(res.gap)
    assert "gap is unknown" in res.message
    assert not res.is_optimal


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        (PMedian, {"p": 3}),
        (PCenter, {"p": 3}),
        (MCLP, {"p": 3, "service_radius": 2.5}),
        (LSCP, {"service_radius": 4.0}),
        (CapacitatedPMedian, {"p": 3, "capacities": np.full(12, 150.0)}),
        (CapacitatedMCLP, {"p": 3, "service_radius": 2.5, "capacities": np.full(12, 40.0)}),
        (TownshipCover, {"service_radius": 4.0}),
    ],
)
def test_heuristic_is_labelled_and_never_beats_the_optimum(model, kwargs):
    cost, w = instance(40, 12, 4)
    exact = model.from_cost_matrix(cost, w, **kwargs).solve()
    heur = model.from_cost_matrix(cost, w, **kwargs).solve(method="heuristic")
    assert heur.status == "heuristic" and heur.solver == "greedy+interchange"
    if exact.sense == "min":
        assert heur.objective >= exact.objective - 1e-9
        assert heur.bound <= exact.objective + 1e-9
    else:
        assert heur.objective <= exact.objective + 1e-9
        assert heur.bound >= exact.objective - 1e-9
    auto = model.from_cost_matrix(cost, w, **kwargs).solve(max_exact_size=1)
    assert auto.status == "heuristic"


def test_results_are_frozen():
    cost, w = instance(8, 5, 0)
    res = PMedian.from_cost_matrix(cost, w, p=2).solve()
    assert isinstance(res, SitingResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.objective = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        res.selected[0] = 4
    assert res.summary()["n_selected"] == 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 9),
    m=st.integers(2, 6),
    data=st.data(),
)
def test_property_pmedian_and_mclp_equal_brute_force(seed, n, m, data):
    p = data.draw(st.integers(1, m))
    cost, w = instance(n, m, seed)
    best = min(median_value(cost, w, s) for s in subsets(m, p))
    assert close(PMedian.from_cost_matrix(cost, w, p=p).solve().objective, best)
    radius = data.draw(st.floats(0.5, 8.0))
    cov = max(float(w[(cost[:, s] <= radius).any(axis=1)].sum()) for s in subsets(m, p))
    res = MCLP.from_cost_matrix(cost, w, service_radius=radius, p=p).solve()
    assert close(res.objective, cov)


# --- candidates ------------------------------------------------------------------------------


@pytest.fixture
def townships():
    return gpd.GeoDataFrame(
        {"unit_id": ["t1", "t2"]},
        geometry=[
            shapely.box(116.30, 39.90, 116.33, 39.92),
            shapely.box(116.33, 39.90, 116.36, 39.92),
        ],
        crs="EPSG:4326",
    )


def test_grid_candidates_inside_townships(townships):
    grid = cands.grid_in_units(townships, spacing_m=500)
    assert set(grid["source"]) == {"grid"}
    assert set(grid["unit_id"]) == {"t1", "t2"}
    assert grid["candidate_id"].is_unique
    joined = cands.assign_unit(grid, townships)
    assert (joined == grid["unit_id"]).all()
    # ~2.6 km x 2.2 km per township at 500 m spacing: about 20-30 points each
    assert 30 <= len(grid) <= 70


def test_user_points_and_osm_features(townships):
    user = gpd.GeoDataFrame(
        {"name": ["A", "B"], "floor_area_m2": [80, "120"]},
        geometry=shapely.points([[116.31, 39.91], [116.50, 39.91]]),
        crs="EPSG:4326",
    )
    pts = cands.from_points(user, units=townships)
    assert pts["unit_id"].iloc[0] == "t1" and pd.isna(pts["unit_id"].iloc[1])
    assert pts["floor_area_m2"].tolist() == [80.0, 120.0]
    bad = user.assign(floor_area_m2=["约80", 10])
    with pytest.raises(InputError, match=r"row 1.*floor_area_m2"):
        cands.from_points(bad)
    # shaped like osmnx.features_from_polygon output: (element, id) index, tag columns
    feats = gpd.GeoDataFrame(
        {
            "amenity": ["community_centre", None],
            "building": [None, "public"],
            "building:levels": [None, "2"],
            "name": ["社区中心", None],
        },
        geometry=[shapely.Point(116.34, 39.91), shapely.box(116.3100, 39.9100, 116.3102, 39.9102)],
        index=pd.MultiIndex.from_tuples([("node", 1), ("way", 2)], names=["element", "id"]),
        crs="EPSG:4326",
    )
    osm = cands.from_osm(townships, features=feats)
    assert osm["source"].tolist() == ["osm", "osm"]
    assert osm["unit_id"].tolist() == ["t2", "t1"]
    assert osm["name"].iloc[1] == "building=public"
    assert 2 * 300 < osm["floor_area_m2"].iloc[1] < 2 * 700  # ~17 m x 22 m footprint, 2 levels
    both = cands.combine([pts, osm])
    assert len(both) == 4 and both["candidate_id"].is_unique
