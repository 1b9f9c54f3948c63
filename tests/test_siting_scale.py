"""City-scale paths of p-median and MCLP (swap search, Lagrangian phase) against brute force."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from siting_instances import instance

from planning.siting import MCLP, PMedian, benders, lagrange
from planning.siting.lagrange import SparseCosts, swap_search


def sparse_costs(cost, far):
    order = np.argsort(cost, axis=1, kind="stable")
    vals = np.take_along_axis(cost, order, axis=1)
    count = np.isfinite(vals).sum(axis=1)
    return SparseCosts.from_sorted(order, vals, count, far, cost.shape[1])


def penalised(cost, w, s, far):
    sub = np.where(np.isfinite(cost), cost, far)[:, list(s)]
    return float(w @ np.minimum(sub.min(axis=1), far))


def assert_one_swap_optimal(cost, w, y, far):
    """No exchange of one open column for a closed one lowers the penalised cost of ``y``."""
    value = penalised(cost, w, np.flatnonzero(y), far)
    sel = set(np.flatnonzero(y).tolist())
    for out in sel:
        for inn in set(range(cost.shape[1])) - sel:
            assert penalised(cost, w, sorted((sel - {out}) | {inn}), far) >= value - 1e-9


def small_sparse(seed, m=14):
    """A 40 x ``m`` instance with a 6-unit cutoff, its sparse costs and the penalty used."""
    cost, w = instance(40, m, seed, cutoff=6)
    return cost, w, sparse_costs(cost, 1000.0), 1000.0


def all_median_plans(seed, m, p):
    """A 30 x ``m`` instance (cutoff 7), every ``p``-plan, their costs and the best (skips when
    no plan reaches every demand point)."""
    cost, w = instance(30, m, seed, cutoff=7)
    plans = list(itertools.combinations(range(m), p))
    vals = [float(w @ cost[:, list(s)].min(axis=1)) for s in plans]
    best = min(vals)
    if not np.isfinite(best):
        pytest.skip("no plan reaches every demand point")
    return cost, w, plans, vals, best


def covered(cost, w, s, radius):
    return float(w[(cost[:, list(s)] <= radius).any(axis=1)].sum())


# --- swap search ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [2, 3, 4])
def test_swap_search_ends_in_a_one_swap_local_optimum(seed, k):
    """No single exchange improves the plan swap_search returns, and it never gets worse."""
    m = 9
    cost, w = instance(15, m, seed, cutoff=6 if seed % 2 else None)
    far = 1000.0
    costs = sparse_costs(cost, far)
    rng = np.random.default_rng(seed)
    start = np.zeros(m, dtype=bool)
    start[rng.choice(m, k, replace=False)] = True
    y = swap_search(costs, w, start)
    assert y.sum() == k
    value = penalised(cost, w, np.flatnonzero(y), far)
    assert abs(costs.value(w, y) - value) <= 1e-9 * max(value, 1)
    assert value <= penalised(cost, w, np.flatnonzero(start), far) + 1e-9
    assert_one_swap_optimal(cost, w, y, far)


@pytest.mark.parametrize("seed", range(5))
def test_swap_search_on_a_cover_is_a_local_optimum_of_covered_weight(seed):
    m, k, radius = 8, 3, 3.0
    cost, w = instance(16, m, seed)
    cover = lagrange.sparse.csr_array((cost <= radius).astype(float))
    start = np.zeros(m, dtype=bool)
    start[:k] = True
    y = swap_search(SparseCosts.from_cover(cover), w, start)
    value = covered(cost, w, np.flatnonzero(y), radius)
    assert value >= covered(cost, w, range(k), radius)
    sel = set(np.flatnonzero(y).tolist())
    for out in sel:
        for inn in set(range(m)) - sel:
            assert covered(cost, w, sorted((sel - {out}) | {inn}), radius) <= value + 1e-9


# --- p-median: Lagrangian phase started from the swap search ------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [2, 3, 4])
def test_pmedian_swap_then_lagrange_matches_brute_force(monkeypatch, seed, p):
    m = 12
    cost, w, _, _, best = all_median_plans(seed, m, p)
    monkeypatch.setattr(PMedian, "lagrange_min_pairs", 0)
    monkeypatch.setattr(PMedian, "interchange_max_work", 0)  # take the city path: swap search
    res = PMedian.from_cost_matrix(cost, w, p=p).solve(mip_gap=0.0)
    assert "Lagrangian" in res.method
    assert res.status == "optimal"
    assert abs(res.objective - best) <= 1e-9 * best
    assert res.bound <= best + 1e-6
    assert abs(float(w @ cost[:, res.selected].min(axis=1)) - res.objective) <= 1e-9 * best


@pytest.mark.parametrize("seed", range(4))
def test_pmedian_reduced_model_skipped_reports_an_honest_gap(monkeypatch, seed):
    """When the reduced model is not solved the result is a bound and a plan, never 'optimal'."""
    m, p = 12, 3
    cost, w = instance(30, m, seed, cutoff=7)
    vals = [float(w @ cost[:, list(s)].min(axis=1)) for s in itertools.combinations(range(m), p)]
    best = min(vals)
    if not np.isfinite(best):
        pytest.skip("no plan reaches every demand point")
    monkeypatch.setattr(PMedian, "lagrange_min_pairs", 0)
    monkeypatch.setattr(PMedian, "interchange_max_work", 0)
    monkeypatch.setattr(PMedian, "radius_max_pairs", -1)
    res = PMedian.from_cost_matrix(cost, w, p=p).solve(mip_gap=0.0)
    assert res.bound <= best + 1e-6 <= res.objective + 2e-6
    if res.status == "optimal":
        assert abs(res.objective - best) <= 1e-9 * best
    else:
        assert res.status == "time_limit_feasible" and res.gap > 0


@pytest.mark.parametrize("seed", range(3))
def test_pmedian_with_locked_sites_keeps_the_exact_path(monkeypatch, seed):
    m, p = 10, 2
    cost, w = instance(25, m, seed, cutoff=8)
    locked = [seed]
    plans = [s for s in itertools.combinations(range(m), p + 1) if seed in s]
    best = min(float(w @ cost[:, list(s)].min(axis=1)) for s in plans)
    if not np.isfinite(best):
        pytest.skip("no plan reaches every demand point")
    monkeypatch.setattr(PMedian, "lagrange_min_pairs", 0)
    monkeypatch.setattr(PMedian, "interchange_max_work", 0)
    res = PMedian.from_cost_matrix(cost, w, p=p, locked=locked).solve(mip_gap=0.0)
    assert res.status == "optimal" and seed in res.selected
    assert abs(res.objective - best) <= 1e-9 * best


# --- MCLP: swap search, Lagrangian bound, reduced model ----------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_mclp_swap_then_lagrange_matches_brute_force(monkeypatch, seed, p):
    m, radius = 12, 3.0
    cost, w = instance(40, m, seed, cutoff=9)
    best = max(covered(cost, w, s, radius) for s in itertools.combinations(range(m), p))
    monkeypatch.setattr(MCLP, "lagrange_min_nnz", 0)
    res = MCLP.from_cost_matrix(cost, w, service_radius=radius, p=p).solve(mip_gap=0.0)
    assert "Lagrangian" in res.method
    assert res.status == "optimal"
    assert abs(res.objective - best) <= 1e-9
    assert res.bound >= best - 1e-6
    assert abs(covered(cost, w, res.selected, radius) - res.objective) <= 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_mclp_without_the_reduced_model_reports_bound_above_the_optimum(monkeypatch, seed):
    m, p, radius = 12, 3, 3.0
    cost, w = instance(40, m, seed)
    best = max(covered(cost, w, s, radius) for s in itertools.combinations(range(m), p))
    monkeypatch.setattr(MCLP, "lagrange_min_nnz", 0)
    monkeypatch.setattr(MCLP, "reduced_max_nnz", -1)
    res = MCLP.from_cost_matrix(cost, w, service_radius=radius, p=p).solve(mip_gap=0.0)
    assert res.objective <= best + 1e-9 <= res.bound + 2e-9
    if res.status == "optimal":
        assert abs(res.objective - best) <= 1e-9
    else:
        assert res.status == "time_limit_feasible" and res.gap > 0


# --- p-median subgradient: time on plans ---------------------------------------------------------


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_median_subgradient_spends_at_most_its_share_of_time_on_plans(share):
    """Plans (locate-allocate, then polish) every 50 steps only while within their time share.

    With no share only the first step's plan is built; with the whole time, every 50th step's.
    The bound stays below the brute-force optimum and the plan costs what it says either way.
    """
    m, k = 12, 3
    cost, w = instance(60, m, 3)
    order = np.argsort(cost, axis=1, kind="stable")
    opts = lagrange.SortedOptions(
        np.take_along_axis(cost, order, axis=1), order, np.full(cost.shape[0], np.inf), w
    )
    start = np.zeros(m, dtype=bool)
    start[:k] = True
    calls = []

    def polish(y):
        calls.append(y.copy())
        return y

    mb = lagrange.median_subgradient(
        opts, k, cost, start, iterations=120, target_gap=-1.0, patience=10_000,
        polish=polish, polish_every=50, heuristic_share=share,
    )
    assert mb.iterations > 51  # the loop ran past the second plan's step
    expected = 1 if share == 0.0 else 1 + (mb.iterations - 1) // 50
    assert len(calls) == expected
    best = min(float(w @ cost[:, list(s)].min(axis=1))
               for s in itertools.combinations(range(m), k))
    assert mb.lower <= best + 1e-6 <= mb.upper + 2e-6
    assert abs(float(w @ cost[:, mb.best].min(axis=1)) - mb.upper) <= 1e-9 * mb.upper


# --- volume direction and the rounded average ------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_volume_direction_keeps_a_valid_bound_and_averages_k_columns(seed):
    """With ``deflection < 1`` the bound stays below the LP optimum and nears it; the average
    of the steps' columns sums to ``k``, is fractional, and is the last plan when undeflected."""
    k = 8
    cost, w = instance(600, 80, seed)
    model = PMedian.from_cost_matrix(cost, w, p=k)
    lp = benders._benders(model._median_data(), k)
    assert lp.converged
    opts = lagrange.SortedOptions(model.vals, model.order, np.full(cost.shape[0], np.inf), w)
    start = lagrange.greedy_median(model.free_cost, w, k)
    runs = {
        a: lagrange.median_subgradient(
            opts, k, model.free_cost, start, iterations=200, target_gap=-1.0, patience=20,
            deflection=a,
        )
        for a in (1.0, 0.1)
    }
    for mb in runs.values():
        assert mb.lower <= lp.lower * (1 + 1e-9)
        assert mb.lower >= 0.98 * lp.lower  # the steps move the multipliers towards the LP
        assert abs(mb.average.sum() - k) <= 1e-9
        assert mb.average.min() >= -1e-12 and mb.average.max() <= 1 + 1e-12
    plain, volume = runs[1.0].average, runs[0.1].average
    assert set(np.unique(plain)) <= {0.0, 1.0}
    assert ((volume > 1e-6) & (volume < 1 - 1e-6)).sum() >= k


@pytest.mark.parametrize("seed", range(3))
def test_pmedian_city_path_rounds_the_lagrangian_average_into_a_plan(monkeypatch, seed):
    """When the subgradient's own plans are poor, the k largest of its average (here pointing at
    the optimum) improved by swaps become the plan; the method says so and the gap is honest."""
    m, p = 12, 3
    cost, w, plans, vals, best = all_median_plans(seed, m, p)
    opt = np.zeros(m, dtype=bool)
    opt[list(plans[int(np.argmin(vals))])] = True
    worst = np.zeros(m, dtype=bool)
    worst[list(plans[int(np.argmax(np.where(np.isfinite(vals), vals, -1)))])] = True
    real = lagrange.median_subgradient

    def poor_plans(*args, **kwargs):
        mb = real(*args, **kwargs)
        upper = float(w @ cost[:, worst].min(axis=1))
        return dataclasses.replace(mb, best=worst, upper=upper, average=0.9 * opt + 0.1 / m)

    monkeypatch.setattr(lagrange, "median_subgradient", poor_plans)
    monkeypatch.setattr(PMedian, "lagrange_min_pairs", 0)
    monkeypatch.setattr(PMedian, "interchange_max_work", 0)
    monkeypatch.setattr(PMedian, "benders_max_pairs", -1)
    monkeypatch.setattr(PMedian, "radius_max_pairs", -1)
    res = PMedian.from_cost_matrix(cost, w, p=p).solve(mip_gap=0.0)
    assert "rounded Lagrangian average" in res.method
    assert abs(res.objective - best) <= 1e-9 * best
    assert res.bound <= best + 1e-6
    if res.status != "optimal":
        assert res.status == "time_limit_feasible" and res.gap > 0


@pytest.mark.parametrize("seed", range(4))
def test_restricted_sparse_costs_price_plans_inside_the_support_as_the_full_costs(seed):
    m, k = 14, 3
    _, w, full, _ = small_sparse(seed, m)
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.choice(m, 8, replace=False))
    sub = full.restrict(cols)
    assert sub.n_cols == cols.size
    for s in itertools.combinations(range(cols.size), k):
        y_sub = np.zeros(cols.size, dtype=bool)
        y_sub[list(s)] = True
        y = np.zeros(m, dtype=bool)
        y[cols[list(s)]] = True
        assert abs(sub.value(w, y_sub) - full.value(w, y)) <= 1e-9 * max(full.value(w, y), 1)


@pytest.mark.parametrize("seed", range(5))
def test_round_average_returns_a_local_optimum_no_worse_than_rounding_then_swapping(seed):
    m, k = 14, 3
    cost, w, costs, far = small_sparse(seed, m)
    rng = np.random.default_rng(seed)
    average = rng.dirichlet(np.full(m, 0.5)) * k
    y = lagrange.round_average(costs, w, average, k)
    assert y.sum() == k
    value = penalised(cost, w, np.flatnonzero(y), far)
    start = np.zeros(m, dtype=bool)
    start[np.argsort(-average, kind="stable")[:k]] = True
    plain = swap_search(costs, w, start)
    assert value <= penalised(cost, w, np.flatnonzero(plain), far) + 1e-9
    assert_one_swap_optimal(cost, w, y, far)


def test_round_average_finishes_every_restricted_plan_over_all_columns(monkeypatch):
    """A plan found on a support is only a local optimum there: a swap over every column
    follows each one, so the result is a local optimum of the whole problem."""
    m, k = 14, 3
    _, w, costs, _ = small_sparse(1, m)
    average = np.random.default_rng(1).dirichlet(np.full(m, 0.5)) * k
    calls = []
    real = lagrange.swap_search

    def spy(c, weights, y, **kw):
        calls.append(c.n_cols)
        return real(c, weights, y, **kw)

    monkeypatch.setattr(lagrange, "swap_search", spy)
    lagrange.round_average(costs, w, average, k)
    restricted = [i for i, n in enumerate(calls) if n < m]
    assert restricted  # some support was smaller than every column
    assert all(calls[i + 1] == m for i in restricted)
    assert calls[-1] == m


@pytest.mark.parametrize("seed", range(3))
def test_mclp_without_a_reduced_model_rounds_the_lagrangian_average_into_a_plan(monkeypatch, seed):
    """With no reduced model to follow, the k largest of the subgradient's average (here the
    optimum) improved by swaps replace a poor plan; the bound stays above the optimum."""
    m, p, radius = 12, 3, 3.0
    cost, w = instance(40, m, seed)
    plans = list(itertools.combinations(range(m), p))
    vals = [covered(cost, w, s, radius) for s in plans]
    best = max(vals)
    opt = np.zeros(m, dtype=bool)
    opt[list(plans[int(np.argmax(vals))])] = True
    worst = np.zeros(m, dtype=bool)
    worst[list(plans[int(np.argmin(vals))])] = True
    real = lagrange.subgradient

    def poor_plans(*args, **kwargs):
        cb = real(*args, **kwargs)
        lower = covered(cost, w, np.flatnonzero(worst), radius)
        return dataclasses.replace(cb, best=worst, lower=lower, average=0.9 * opt + 0.1 / m)

    monkeypatch.setattr(lagrange, "subgradient", poor_plans)
    monkeypatch.setattr(MCLP, "lagrange_min_nnz", 0)
    monkeypatch.setattr(MCLP, "reduced_max_nnz", -1)
    res = MCLP.from_cost_matrix(cost, w, service_radius=radius, p=p).solve(mip_gap=0.0)
    assert "rounded Lagrangian average" in res.method
    assert abs(res.objective - best) <= 1e-9
    assert res.bound >= best - 1e-6
