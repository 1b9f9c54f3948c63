"""Multi-period plans, fair covering and the city-scale paths, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from planning.errors import InfeasibleError
from planning.siting import MCLP, PMedian
from planning.siting.fairness import FairCover
from planning.siting.multiperiod import MultiPeriodCover, YearPlan


def instance(n, m, seed, *, integer=False):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 10, (n, 2))
    b = rng.uniform(0, 10, (m, 2))
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    if integer:
        cost = np.ceil(cost)
    return cost, rng.integers(1, 10, n).astype(float)


def covered(cost, w, s, radius):
    if len(s) == 0:
        return 0.0
    return float(w[(cost[:, list(s)] <= radius).any(axis=1)].sum())


# --- radius formulation ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("start_depth", [None, 1])
def test_radius_pmedian_with_ties_and_unreachable_pairs_matches_brute_force(
    monkeypatch, seed, start_depth
):
    cost, w = instance(11, 7, seed, integer=True)  # integer costs: many ties share a level
    cost[cost > 9] = np.inf  # unreachable pairs stay unreachable
    monkeypatch.setattr(PMedian, "start_depth", start_depth)
    for p, locked in ((2, None), (1, [0]), (3, None)):
        lock = [] if locked is None else locked
        free = [j for j in range(7) if j not in lock]
        vals = [
            float(w @ cost[:, sorted(set(c) | set(lock))].min(axis=1))
            for c in itertools.combinations(free, p)
        ]
        best = min(vals)
        model = PMedian.from_cost_matrix(cost, w, p=p, locked=locked)
        if not np.isfinite(best):
            with pytest.raises(InfeasibleError):
                model.solve()
            continue
        res = model.solve()
        assert res.status == "optimal" and "radius" in res.method
        assert abs(res.objective - best) <= 1e-6 * best
        classic = PMedian.from_cost_matrix(cost, w, p=p, locked=locked)
        classic.formulation = "classic"
        assert abs(classic.solve().objective - best) <= 1e-6 * best


# --- MCLP with the Lagrangian phase -------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lagrangian_mclp_with_reductions_matches_brute_force(monkeypatch, seed, p):
    cost, w = instance(14, 8, seed)
    monkeypatch.setattr(MCLP, "lagrange_min_nnz", 0)
    best = max(covered(cost, w, s, 3.0) for s in itertools.combinations(range(8), p))
    res = MCLP.from_cost_matrix(cost, w, service_radius=3.0, p=p).solve(mip_gap=0.0)
    assert "Lagrangian" in res.method
    assert res.status == "optimal"
    assert abs(res.objective - best) <= 1e-9
    assert res.bound >= best - 1e-6


# --- fairness ----------------------------------------------------------------------------------


def _shares(cost, w, towns, s, radius):
    cov = (cost[:, list(s)] <= radius).any(axis=1)
    return np.array([w[(towns == t) & cov].sum() / w[towns == t].sum() for t in range(3)])


@pytest.mark.parametrize("seed", range(4))
def test_fair_cover_min_share_matches_brute_force(seed):
    cost, w = instance(12, 6, seed)
    towns = np.arange(12) % 3
    radius, p, alpha = 3.5, 2, 0.4
    reach = _shares(cost, w, towns, range(6), radius)
    need = np.minimum(alpha, reach)
    plans = list(itertools.combinations(range(6), p))
    plain = max(covered(cost, w, s, radius) for s in plans)
    fair = [
        covered(cost, w, s, radius)
        for s in plans
        if np.all(_shares(cost, w, towns, s, radius) >= need - 1e-9)
    ]
    model = FairCover.from_cost_matrix(
        cost, w, service_radius=radius, p=p, townships=towns, min_share=alpha
    )
    if not fair:
        with pytest.raises(InfeasibleError):
            model.solve_fair(mip_gap=0.0)
        return
    out = model.solve_fair(mip_gap=0.0)
    assert out.result.status == "optimal" and out.baseline.status == "optimal"
    assert abs(out.result.objective - max(fair)) <= 1e-9
    assert abs(out.baseline.objective - plain) <= 1e-9
    assert abs(out.price_of_fairness - (plain - max(fair)) / plain) <= 1e-9
    assert np.all(out.shares["fair_share"].to_numpy() >= need - 1e-9)


def _maximin_brute_force(cost, w, towns, radius, p):
    """Best relative worst share (share / reachable, reachable townships) and its best cover."""
    reach = _shares(cost, w, towns, range(cost.shape[1]), radius)
    live = reach > 0
    plans = list(itertools.combinations(range(cost.shape[1]), p))
    worst = {s: (_shares(cost, w, towns, s, radius)[live] / reach[live]).min() for s in plans}
    level = max(worst.values())
    fair = [s for s in plans if worst[s] >= level - 1e-9]
    best = max(covered(cost, w, s, radius) for s in fair)
    return reach, level, best


@pytest.mark.parametrize("seed", range(4))
def test_fair_cover_maximin_matches_brute_force(seed):
    cost, w = instance(12, 6, seed)
    towns = np.arange(12) % 3
    radius, p = 3.5, 2
    reach, level, best = _maximin_brute_force(cost, w, towns, radius, p)
    out = FairCover.from_cost_matrix(
        cost, w, service_radius=radius, p=p, townships=towns, mode="maximin"
    ).solve_fair(mip_gap=0.0)
    assert abs(out.result.objective - best) <= 1e-9
    fair = out.shares["fair_share"].to_numpy()
    live = reach > 0
    assert abs((fair[live] / reach[live]).min() - level) <= 1e-9
    assert abs(out.worst_share - fair[live].min()) <= 1e-12
    base = out.shares["baseline_share"].to_numpy()
    assert abs(out.baseline_worst_share - base[live].min()) <= 1e-12
    assert out.unreachable == int((~live).sum())
    assert out.price_of_fairness >= 0


@pytest.mark.parametrize(("seed", "n", "m", "p"), [(6, 12, 6, 2), (3, 18, 8, 3), (4, 18, 8, 3)])
def test_fair_cover_maximin_is_not_held_at_zero_by_a_township_nothing_reaches(seed, n, m, p):
    """A township beyond every candidate's reach is reported, not made everyone's ceiling."""
    cost, w = instance(n, m, seed)
    towns = np.arange(n) % 3
    cost[towns == 2] = np.inf  # township 2: no candidate within any radius
    radius = 3.5
    reach, level, best = _maximin_brute_force(cost, w, towns, radius, p)
    assert reach[2] == 0 and level > 0  # the instance is the case meant
    out = FairCover.from_cost_matrix(
        cost, w, service_radius=radius, p=p, townships=towns, mode="maximin"
    ).solve_fair(mip_gap=0.0)
    assert out.result.status == "optimal"
    fair = out.shares["fair_share"].to_numpy()
    assert abs((fair[:2] / reach[:2]).min() - level) <= 1e-9
    assert abs(out.result.objective - best) <= 1e-9
    assert out.unreachable == 1
    assert out.worst_share > 0


# --- multi-period ----------------------------------------------------------------------------


def _brute_schedule(cost, w, radius, plan, site_cost, staff_cost, locked):
    m = cost.shape[1]
    free = [j for j in range(m) if j not in locked]
    n_t = len(plan.years)
    best = -np.inf
    total = w.sum()
    for combo in itertools.product(range(-1, n_t), repeat=len(free)):
        start = dict(zip(free, combo, strict=True))
        value, ok = 0.0, True
        for t in range(n_t):
            opened = [j for j in free if 0 <= start[j] <= t]
            new = [j for j in free if start[j] == t]
            spend = sum(site_cost[j] for j in new) + sum(staff_cost[j] for j in opened)
            if spend > plan.budget[t] + 1e-9:
                ok = False
                break
            cov = covered(cost, w, opened + list(locked), radius)
            if plan.targets is not None and cov < plan.targets[t] * total - 1e-9:
                ok = False
                break
            value += cov
        if ok:
            best = max(best, value)
    return best


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("targets", [None, (0.3, 0.5, 0.7)])
def test_multi_period_matches_brute_force(seed, targets):
    cost, w = instance(9, 5, seed)
    rng = np.random.default_rng(seed)
    site_cost = rng.integers(2, 6, 5).astype(float)
    staff_cost = rng.integers(0, 2, 5).astype(float)
    plan = YearPlan(years=(2025, 2026, 2027), budget=(5.0, 6.0, 7.0), targets=targets)
    locked = [0]
    best = _brute_schedule(cost, w, 3.5, plan, site_cost, staff_cost, locked)
    model = MultiPeriodCover.from_cost_matrix(
        cost,
        w,
        service_radius=3.5,
        plan=plan,
        site_cost=site_cost,
        staff_cost=staff_cost,
        locked=locked,
    )
    if not np.isfinite(best):
        with pytest.raises(InfeasibleError, match="cannot be met"):
            model.solve(mip_gap=0.0)
        return
    res = model.solve(mip_gap=0.0)
    assert res.status == "optimal"
    assert abs(res.objective - best) <= 1e-9
    assert np.all(res.kpis["spend"] <= res.kpis["budget"] + 1e-9)
    assert res.kpis["target_met"].all()
    assert list(res.kpis["year"]) == [2025, 2026, 2027]
    assert res.opened[0] == 2025
    # opened sites never close: open_sites is non-decreasing
    assert np.all(np.diff(res.kpis["open_sites"]) >= 0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lagrangian_pmedian_with_reductions_matches_brute_force(monkeypatch, seed, p):
    cost, w = instance(14, 8, seed, integer=True)
    cost[cost > 8] = np.inf
    monkeypatch.setattr(PMedian, "lagrange_min_pairs", 0)
    vals = [float(w @ cost[:, list(s)].min(axis=1)) for s in itertools.combinations(range(8), p)]
    best = min(vals)
    model = PMedian.from_cost_matrix(cost, w, p=p)
    if not np.isfinite(best):
        with pytest.raises(InfeasibleError):
            model.solve(mip_gap=0.0)
        return
    res = model.solve(mip_gap=0.0)
    assert "Lagrangian" in res.method
    assert res.status == "optimal"
    assert abs(res.objective - best) <= 1e-9 * best
    assert res.bound <= best + 1e-6


@pytest.mark.parametrize("caps", [[60, 50, 40, 60], [70, 10, 20, 30], [10, 10, 10, 10]])
def test_capacity_shortfall_says_how_many_more_stations(caps):
    from planning.i18n import render_error
    from planning.siting import CapacitatedPMedian

    demand = np.full(5, 30.0)
    with pytest.raises(InfeasibleError) as info:
        CapacitatedPMedian.from_cost_matrix(
            np.ones((5, 4)), demand=demand, p=2, capacities=caps
        )
    need = next(
        (q for q in range(1, 5) if sum(sorted(caps, reverse=True)[:q]) >= demand.sum()), None
    )
    exc = info.value
    if need is None:
        assert exc.key == "err_capacity_no_sites"
        assert "即使开放全部候选点也不够" in render_error(exc, "zh")
    else:
        assert exc.params["extra_sites"] == need - 2
        assert f"需再增加 {need - 2} 个站点" in render_error(exc, "zh")


def test_describe_tells_the_method_before_solving():
    cost, w = instance(20, 8, 0)
    model = PMedian.from_cost_matrix(cost, w, p=2)
    info = model.describe()
    assert info["method"] == "exact" and info["nonzeros"] > 0
    assert info["demand_points"] == 20 and info["candidates"] == 8
    small = model.describe(max_exact_size=info["nonzeros"] - 1)
    assert small["method"] == "heuristic" and "max_exact_size" in small["reason"]
    res = model.solve(max_exact_size=info["nonzeros"] - 1)
    assert res.status == "heuristic" and "no proof" in res.method


def test_fair_covering_runs_from_suggest_sites(demo):
    from planning.siting.plan import SitingOptions, suggest_sites

    ds = demo.subset(["东城区"])
    fair = suggest_sites(ds, SitingOptions(model="fair_mclp", p=2, threshold_min=10))
    plain = suggest_sites(ds, SitingOptions(model="mclp", p=2, threshold_min=10))
    assert fair.result.model == "fair-mclp" and fair.result.status == "optimal"
    assert fair.result.objective <= plain.result.objective + 1e-6

    def worst(plan):
        a = plan.assignment
        ok = a["minutes"] <= 10
        return (a["weight"] * ok).groupby(a["unit_id"]).sum().div(
            a.groupby("unit_id")["weight"].sum()
        ).min()

    assert worst(fair) >= worst(plain) - 1e-9
    # the plan carries the comparison with the plain MCLP the app and the CLI report
    f = fair.fairness
    assert f is not None and plain.fairness is None
    assert f.result is fair.result
    assert abs(f.baseline.objective - plain.result.objective) <= 1e-6
    assert abs(f.price_of_fairness
               - (plain.result.objective - fair.result.objective) / plain.result.objective) <= 1e-9
