"""Knapsack Lagrangian of the single-source capacitated p-median, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from planning.errors import InfeasibleError
from planning.siting import CapacitatedPMedian
from planning.siting.capacitated_lagrange import (
    Instance,
    excluded_bound,
    greedy_assign,
    improve_assign,
    knapsack_data,
    knapsack_items,
    knapsack_tables,
    lagrangian_phase,
)


def gap_value(cost, demand, caps, sites, allowed=None):
    """Exact single-source assignment to ``sites`` (independent MILP); inf if infeasible."""
    n = cost.shape[0]
    ok = np.ones((n, sites.size), dtype=bool) if allowed is None else allowed[:, sites]
    ok &= np.isfinite(cost[:, sites]) & (demand[:, None] <= caps[sites][None, :])
    rows, cols = np.nonzero(ok)
    if np.any(np.bincount(rows, minlength=n) == 0):
        return np.inf, None
    a1 = coo_array((np.ones(rows.size), (rows, np.arange(rows.size))), shape=(n, rows.size))
    a2 = coo_array((demand[rows], (cols, np.arange(rows.size))), shape=(sites.size, rows.size))
    res = milp(
        cost[rows, sites[cols]],
        integrality=np.ones(rows.size),
        bounds=Bounds(0, 1),
        constraints=[LinearConstraint(a1, 1, 1), LinearConstraint(a2, -np.inf, caps[sites])],
        options={"mip_rel_gap": 0},
    )
    if res.x is None:
        return np.inf, None
    assign = np.full(n, -1)
    pick = res.x > 0.5
    assign[rows[pick]] = sites[cols[pick]]
    return float(cost[np.arange(n), assign].sum()), assign


def brute(cost, demand, caps, p, allowed=None, closed=(), opened=()):
    best = np.inf
    m = cost.shape[1]
    for s in itertools.combinations(range(m), p):
        if set(s) & set(closed) or not set(opened) <= set(s):
            continue
        best = min(best, gap_value(cost, demand, caps, np.array(s), allowed)[0])
    return best


def random_instance(seed, n=10, m=8, integral=True):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20, (n, 2))
    site = rng.uniform(0, 20, (m, 2))
    cost = np.linalg.norm(xy[:, None] - site[None], axis=2)
    if integral:
        cost = np.floor(cost)
    demand = rng.integers(1, 8, n).astype(float)
    return cost, demand


# --- knapsacks -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_knapsack_tables_match_enumeration(seed):
    rng = np.random.default_rng(seed)
    n, m = 7, 3
    values = np.maximum(rng.normal(0, 3, (n, m)), 0)
    demand = rng.integers(0, 6, n).astype(float)
    caps = rng.integers(0, 15, m).astype(float)
    ks = knapsack_data(demand, caps, m)
    assert ks.scale == 1.0
    f, keep = knapsack_tables(values, ks)
    take = knapsack_items(keep, ks, np.arange(m))
    for j in range(m):
        for c in range(ks.cmax + 1):
            best = max(
                values[list(s), j].sum()
                for r in range(n + 1)
                for s in itertools.combinations(range(n), r)
                if demand[list(s)].sum() <= c
            )
            assert f[j, c] == pytest.approx(best)
        assert values[take[:, j], j].sum() == pytest.approx(f[j, ks.caps[j]])
        assert demand[take[:, j]].sum() <= caps[j]


@pytest.mark.parametrize("seed", range(4))
def test_scaled_knapsack_is_a_relaxation(seed):
    """Fractional demand: scaled, rounded-down weights never lose a feasible packing."""
    rng = np.random.default_rng(seed)
    n, m = 7, 2
    values = np.maximum(rng.normal(1, 2, (n, m)), 0)
    demand = rng.uniform(0.5, 4.0, n)
    caps = rng.uniform(4.0, 10.0, m)
    ks = knapsack_data(demand, caps, m)
    f, _ = knapsack_tables(values, ks, want_keep=False)
    for j in range(m):
        best = max(
            values[list(s), j].sum()
            for r in range(n + 1)
            for s in itertools.combinations(range(n), r)
            if demand[list(s)].sum() <= caps[j]
        )
        assert f[j, ks.caps[j]] >= best - 1e-9


# --- assignment heuristics -------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_greedy_and_improve_stay_feasible_and_not_below_optimum(seed):
    cost, demand = random_instance(seed, n=9, m=3)
    caps = np.full(3, demand.sum() / 2.5)
    sites = np.arange(3)
    opt, _ = gap_value(cost, demand, caps, sites)
    got = greedy_assign(cost, demand, caps)
    if got is None:
        return
    better = improve_assign(cost, demand, caps, got)
    for a in (got, better):
        assert np.all(np.bincount(a, weights=demand, minlength=3) <= caps + 1e-9)
    v0, v1 = cost[np.arange(9), got].sum(), cost[np.arange(9), better].sum()
    assert opt - 1e-9 <= v1 <= v0 + 1e-9


# --- the Lagrangian phase --------------------------------------------------------------------


def _quick(cost, demand, caps):
    def allocate(mask):
        sites = np.flatnonzero(mask)
        got = greedy_assign(cost[:, sites], demand, caps[sites])
        if got is None:
            return None
        got = improve_assign(cost[:, sites], demand, caps[sites], got)
        return float(cost[np.arange(cost.shape[0]), sites[got]].sum()), sites[got]

    return allocate


@pytest.mark.parametrize("integral", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_lagrangian_bound_plan_and_reductions_against_brute_force(seed, integral):
    n, m, p = 10, 8, 3
    cost, demand = random_instance(seed, n, m, integral)
    caps = np.full(m, np.ceil(demand.sum() / p * 1.15))
    opt = brute(cost, demand, caps, p)
    inst = Instance(
        cost, demand, caps, np.ones(m, bool), np.zeros(m, bool), p, np.ones(n, bool), integral
    )
    res = lagrangian_phase(inst, _quick(cost, demand, caps), None, max_iterations=200)
    assert res.lower <= opt + 1e-6
    assert res.upper >= opt - 1e-6
    if res.best is not None:  # the plan is feasible and costs what it says
        mask, assign = res.best
        assert mask.sum() == p and np.all(mask[assign])
        assert np.all(np.bincount(assign, weights=demand, minlength=m) <= caps + 1e-9)
        assert cost[np.arange(n), assign].sum() == pytest.approx(res.upper)
    # Plans the reductions exclude cost at least the threshold: the reduced optimum, or the
    # excluded bound, still reaches the true optimum.
    reduced = brute(
        cost,
        demand,
        caps,
        p,
        allowed=res.pair_ok,
        closed=np.flatnonzero(res.closed_fixed),
        opened=np.flatnonzero(res.open_fixed),
    )
    assert reduced >= opt - 1e-6
    assert min(reduced, max(excluded_bound(res.threshold, integral), opt)) == pytest.approx(opt)
    if np.isfinite(res.upper):
        assert min(reduced, res.upper) == pytest.approx(opt)
    assert excluded_bound(res.threshold, integral) <= res.upper + 1e-9


# --- through the model -----------------------------------------------------------------------


@pytest.mark.parametrize("integral", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_model_with_lagrangian_phase_matches_brute_force(monkeypatch, seed, integral):
    monkeypatch.setattr(CapacitatedPMedian, "lagrange_min_pairs", 0)
    n, m, p = 10, 8, 3
    cost, demand = random_instance(seed + 10, n, m, integral)
    caps = np.full(m, np.ceil(demand.sum() / p * 1.1))
    opt = brute(cost, demand, caps, p)
    res = CapacitatedPMedian.from_cost_matrix(
        cost, np.ones(n), p=p, capacities=caps, demand=demand, single_source=True
    ).solve(time_limit=30, mip_gap=0.0)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(opt)
    assert res.bound <= res.objective + 1e-6
    assert res.bound >= opt - 1e-6
    assert np.all(res.load <= caps + 1e-6)
    shares = res.allocation.toarray()
    assert np.allclose(shares.sum(axis=1), 1.0) and set(np.unique(shares)) <= {0.0, 1.0}
    assert "Lagrangian" in res.method


@pytest.mark.parametrize("seed", range(3))
def test_model_with_lagrangian_phase_respects_a_relative_gap(monkeypatch, seed):
    monkeypatch.setattr(CapacitatedPMedian, "lagrange_min_pairs", 0)
    n, m, p = 10, 8, 3
    cost, demand = random_instance(seed + 20, n, m, integral=False)
    caps = np.full(m, np.ceil(demand.sum() / p * 1.1))
    opt = brute(cost, demand, caps, p)
    res = CapacitatedPMedian.from_cost_matrix(
        cost, np.ones(n), p=p, capacities=caps, demand=demand, single_source=True
    ).solve(time_limit=30, mip_gap=0.05)
    assert res.status == "optimal" and res.gap <= 0.05 + 1e-6
    assert opt - 1e-6 <= res.objective <= opt / 0.95 + 1e-6
    assert res.bound <= opt + 1e-6


def test_model_with_lagrangian_phase_honours_locked_and_excluded(monkeypatch):
    monkeypatch.setattr(CapacitatedPMedian, "lagrange_min_pairs", 0)
    n, m, p = 10, 8, 2
    cost, demand = random_instance(3, n, m)
    caps = np.full(m, np.ceil(demand.sum() / (p + 1) * 1.2))
    best = np.inf
    for s in itertools.combinations([j for j in range(m) if j not in (0, 1, 4)], p):
        best = min(best, gap_value(cost, demand, caps, np.array(sorted({*s, 4})))[0])
    res = CapacitatedPMedian.from_cost_matrix(
        cost,
        np.ones(n),
        p=p,
        capacities=caps,
        demand=demand,
        single_source=True,
        locked=[4],
        excluded=[0, 1],
    ).solve(time_limit=30, mip_gap=0.0)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best)
    assert 4 in res.selected and not {0, 1} & set(res.selected)


def test_demand_above_every_capacity_is_infeasible(monkeypatch):
    monkeypatch.setattr(CapacitatedPMedian, "lagrange_min_pairs", 0)
    cost, demand = random_instance(1, 10, 8)
    demand[3] = 50.0
    caps = np.full(8, 40.0)  # total capacity is ample, but no site can take point 3
    with pytest.raises(InfeasibleError, match=r"1 demand points .* indices 3"):
        CapacitatedPMedian.from_cost_matrix(
            cost, np.ones(10), p=4, capacities=caps, demand=demand, single_source=True
        )
    # split assignment may share point 3 between sites
    res = CapacitatedPMedian.from_cost_matrix(
        cost, np.ones(10), p=4, capacities=caps, demand=demand
    ).solve(time_limit=30)
    assert res.status == "optimal" and np.all(res.load <= caps + 1e-6)


def test_total_capacity_shortfall_is_reported(monkeypatch):
    monkeypatch.setattr(CapacitatedPMedian, "lagrange_min_pairs", 0)
    cost, demand = random_instance(2, 10, 8)
    with pytest.raises(InfeasibleError, match="total capacity"):
        CapacitatedPMedian.from_cost_matrix(
            cost,
            np.ones(10),
            p=2,
            capacities=np.full(8, demand.sum() / 3),
            demand=demand,
            single_source=True,
        )


@pytest.mark.parametrize("seed", range(3))
def test_model_with_lagrangian_phase_keeps_caps_per_group(monkeypatch, seed):
    """The relaxation drops the caps; its plans must still meet them to count."""
    monkeypatch.setattr(CapacitatedPMedian, "lagrange_min_pairs", 0)
    n, m, p = 10, 8, 3
    cost, demand = random_instance(seed + 30, n, m)
    caps = np.full(m, np.ceil(demand.sum() / p * 1.1))
    groups = list("aabbccdd")
    best = np.inf
    for s in itertools.combinations(range(m), p):
        if len({groups[j] for j in s}) == p:
            best = min(best, gap_value(cost, demand, caps, np.array(s))[0])
    res = CapacitatedPMedian.from_cost_matrix(
        cost,
        np.ones(n),
        p=p,
        capacities=caps,
        demand=demand,
        single_source=True,
        groups=groups,
        max_per_group=1,
    ).solve(time_limit=30, mip_gap=0.0)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best)
    assert len({groups[j] for j in res.selected}) == p
