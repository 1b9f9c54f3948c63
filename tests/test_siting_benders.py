"""Benders LP bound of the p-median against the compact LP and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import linprog
from siting_instances import instance

from planning.errors import InfeasibleError
from planning.siting import PMedian, benders


def classic_lp(cost, w, p, locked=(), *, row=None, row_max=None):
    """LP relaxation of the compact x_ij, y_j model (locked sites: y fixed to 1).

    ``row`` (one weight per candidate) with ``row_max`` adds the side row ``row @ y <= row_max``.
    """
    n, m = cost.shape
    ii, jj = np.nonzero(np.isfinite(cost))
    nx = ii.size
    c = np.concatenate([w[ii] * cost[ii, jj], np.zeros(m)])
    assign = sparse.csr_array((np.ones(nx), (ii, np.arange(nx))), shape=(n, nx + m))
    count = sparse.csr_array(np.concatenate([np.zeros(nx), np.ones(m)])[None, :])
    link = sparse.csr_array(
        (
            np.concatenate([np.ones(nx), -np.ones(nx)]),
            (np.tile(np.arange(nx), 2), np.concatenate([np.arange(nx), nx + jj])),
        ),
        shape=(nx, nx + m),
    )
    b_ub = np.zeros(nx)
    if row is not None:
        side = sparse.csr_array(np.concatenate([np.zeros(nx), row])[None, :])
        link = sparse.vstack([link, side])
        b_ub = np.concatenate([b_ub, [row_max]])
    lb = np.zeros(nx + m)
    lb[nx + np.asarray(locked, dtype=int)] = 1.0
    res = linprog(
        c,
        A_ub=link,
        b_ub=b_ub,
        A_eq=sparse.vstack([assign, count]),
        b_eq=np.concatenate([np.ones(n), [p + len(locked)]]),
        bounds=np.column_stack([lb, np.ones(nx + m)]),
        method="highs",
    )
    assert res.status == 0
    return res.fun


def brute_force(cost, w, p, locked=()):
    m = cost.shape[1]
    free = [j for j in range(m) if j not in locked]
    best = np.inf
    for s in itertools.combinations(free, p):
        sub = cost[:, list(s) + list(locked)].min(axis=1)
        best = min(best, float(w @ sub) if np.isfinite(sub).all() else np.inf)
    return best


def model_data(model):
    return model._median_data()  # what PMedian hands to Benders


CASES = [
    (seed, cutoff, locked) for seed in range(6) for cutoff in (None, 5) for locked in ((), (3,))
]


@pytest.mark.parametrize(("seed", "cutoff", "locked"), CASES)
def test_benders_lp_bound_is_the_compact_lp_and_below_the_optimum(seed, cutoff, locked):
    """Benders (all columns) meets the compact LP; priced column subsets never exceed it."""
    cost, w = instance(30, 12, seed, cutoff=cutoff)
    p = 3
    opt = brute_force(cost, w, p, locked)
    model = PMedian.from_cost_matrix(cost, w, p=p, locked=list(locked))
    if not np.isfinite(opt):  # no p sites reach every client: the model says so
        with pytest.raises(InfeasibleError):
            model.solve(time_limit=10)
        return
    data = model_data(model)
    k = int(model.rules.k)
    lp = classic_lp(cost, w, p, locked)
    full = benders.lp_bound(data, k, tol=1e-9)
    assert full.priced
    assert abs(full.lower + model.offset - lp) <= 1e-6 * max(abs(lp), 1.0)
    assert full.lower + model.offset <= opt + 1e-6
    # a column subset holding a feasible plan, grown by pricing
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.choice(data.n_cols, 6, replace=False))
    core = np.zeros(data.n_cols)
    plan = benders.cluster_columns(model.free_cost, model.weights, _any_plan(model, k), 0)
    core[plan[:k]] = 1.0
    if core.sum() == k and np.isfinite(benders.lp_value(data, core)):
        priced = benders.lp_bound(data, k, core=core, columns=np.union1d(cols, plan), tol=1e-9)
        assert priced.lower + model.offset <= lp + 1e-6 * max(abs(lp), 1.0)
        if priced.priced:
            assert abs(priced.lower + model.offset - lp) <= 1e-6 * max(abs(lp), 1.0)


def _any_plan(model, k):
    """A feasible plan of the free columns: the brute-force best over the first choices."""
    cf = model.free_cost
    best, plan = np.inf, None
    for s in itertools.combinations(range(cf.shape[1]), k):
        sub = np.minimum(cf[:, list(s)].min(axis=1), model.forced_cost)
        v = float(model.weights @ sub) if np.isfinite(sub).all() else np.inf
        if v < best:
            best, plan = v, s
    y = np.zeros(cf.shape[1], dtype=bool)
    y[list(plan)] = True
    return y


@pytest.mark.parametrize("seed", range(6))
def test_lagrangian_of_any_multipliers_is_a_lower_bound(seed):
    cost, w = instance(25, 10, seed, cutoff=6 if seed % 2 else None)
    p = 3
    opt = brute_force(cost, w, p)
    if not np.isfinite(opt):
        pytest.skip("no feasible plan")
    model = PMedian.from_cost_matrix(cost, w, p=p)
    data = model_data(model)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        lam = rng.uniform(0, 2, data.weights.size) * data.weights * np.nanmax(data.vals[:, 0])
        value, _ = benders.lagrangian(data, lam, p)
        assert value + model.offset <= opt + 1e-6


@pytest.mark.parametrize("seed", range(8))
def test_reduction_tests_keep_the_optimal_plan(seed):
    """Columns fixed for plans cheaper than (optimum + epsilon) agree with an optimal plan."""
    cost, w = instance(30, 12, seed, cutoff=5 if seed % 2 else None)
    p = 3
    locked = (3,) if seed % 3 == 0 else ()
    model = PMedian.from_cost_matrix(cost, w, p=p, locked=list(locked))
    data = model_data(model)
    k = int(model.rules.k)
    free = model.rules.free
    best, plans = np.inf, []
    for s in itertools.combinations(range(free.size), k):
        sub = np.minimum(model.free_cost[:, list(s)].min(axis=1), model.forced_cost)
        v = float(w @ sub) if np.isfinite(sub).all() else np.inf
        if v < best - 1e-9:
            best, plans = v, [set(s)]
        elif abs(v - best) <= 1e-9:
            plans.append(set(s))
    upper = best - model.offset + 1e-6
    lp = benders.lp_bound(data, k, tol=1e-9)
    for fixed_open, fixed_closed in (
        benders.reduction(lp.master, upper),
        benders.lagrangian_fix(data, lp.lam, k, upper),
    ):
        for plan in plans:
            assert set(np.flatnonzero(fixed_open)) <= plan
            assert not set(np.flatnonzero(fixed_closed)) & plan


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("steps", [1, 5_000])
def test_pmedian_with_the_benders_bound_matches_brute_force(monkeypatch, seed, steps):
    """The Lagrange path with the Benders LP bound (weak or strong subgradient) stays exact."""
    monkeypatch.setattr(PMedian, "lagrange_min_pairs", 0)
    monkeypatch.setattr(PMedian, "lagrange_iterations", steps)
    cost, w = instance(30, 12, seed, cutoff=6 if seed % 2 else None)
    p = 3
    opt = brute_force(cost, w, p)
    if not np.isfinite(opt):
        pytest.skip("no feasible plan")
    res = PMedian.from_cost_matrix(cost, w, p=p).solve(time_limit=30, mip_gap=0.0)
    assert res.bound <= opt + 1e-6
    assert res.objective >= opt - 1e-6
    if steps == 1:
        assert "Benders LP bound" in res.method
    if res.status == "optimal":
        assert abs(res.objective - opt) <= 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_pmedian_reports_the_benders_bound_when_the_reduced_model_is_skipped(monkeypatch, seed):
    monkeypatch.setattr(PMedian, "lagrange_min_pairs", 0)
    monkeypatch.setattr(PMedian, "lagrange_iterations", 1)
    monkeypatch.setattr(PMedian, "radius_max_pairs", -1)
    cost, w = instance(30, 12, seed)
    p = 3
    opt = brute_force(cost, w, p)
    res = PMedian.from_cost_matrix(cost, w, p=p).solve(time_limit=30, mip_gap=0.0)
    lp = classic_lp(cost, w, p)
    assert "Benders LP bound" in res.method
    assert abs(res.bound - lp) <= 1e-6 * lp or res.status == "optimal"
    assert res.bound <= opt + 1e-6
    assert res.status == "optimal" or res.objective - res.bound > 1e-6


def test_a_failed_master_leaves_no_bound_and_fixes_nothing():
    cost, w = instance(20, 8, 0)
    model = PMedian.from_cost_matrix(cost, w, p=2)
    data = model_data(model)
    side = benders.SideRows(
        sparse.csr_array(np.ones((1, data.n_cols))), np.array([5.0]), np.array([6.0])
    )
    res = benders.lp_bound(data, 2, side=side)
    assert res.lower == -np.inf
    assert not res.priced
    opened, closed = benders.reduction(res.master, 1e9)
    assert not opened.any() and not closed.any()


def test_side_rows_enter_the_master():
    """A cap of one open site among the first half: the bound meets the compact LP with that row."""
    cost, w = instance(30, 10, 3)
    model = PMedian.from_cost_matrix(cost, w, p=3)
    data = model_data(model)
    row = np.zeros((1, data.n_cols))
    row[0, : data.n_cols // 2] = 1.0
    side = benders.SideRows(sparse.csr_array(row), np.array([-np.inf]), np.array([1.0]))
    res = benders.lp_bound(data, 3, side=side, tol=1e-9)
    ref = classic_lp(cost, w, 3, row=row[0], row_max=1.0)
    assert res.priced
    assert abs(res.lower - ref) <= 1e-6 * ref
