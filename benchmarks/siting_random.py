"""Benchmark planning.siting against PySAL spopt on the same random cost matrices.

Run: ``.venv/bin/python benchmarks/siting_random.py``. Prints one row per (model, size) with both
objectives, whether they agree, both wall-clock times (build + solve) and the ratio ours/spopt.
spopt is the project's ``bench`` extra; without it the script says so and exits 0.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from planning.siting import LSCP, MCLP, CapacitatedPMedian, PMedian

SIZES = [(200, 50, 5), (400, 100, 10)]


def instance(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 10_000, (n, 2))
    sites = rng.uniform(0, 10_000, (m, 2))
    cost = np.linalg.norm(demand[:, None, :] - sites[None, :, :], axis=2).round(1)
    weights = rng.integers(1, 20, n).astype(float)
    return cost, weights


def timed(fn: Callable[[], float]) -> tuple[float, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def cases(cost: np.ndarray, w: np.ndarray, p: int, spopt: Any, solver: Any):
    radius_cover = float(np.sort(cost.min(axis=1))[-1]) * 1.05
    radius_mclp = float(np.quantile(cost, 0.08))
    caps = np.full(cost.shape[1], np.ceil(1.5 * w.sum() / p))

    def ours_pmedian() -> float:
        return PMedian.from_cost_matrix(cost, w, p=p).solve(time_limit=600).objective

    def spopt_pmedian() -> float:
        mod = spopt.PMedian.from_cost_matrix(cost, w, p_facilities=p).solve(solver)
        return float(mod.problem.objective.value())

    def ours_lscp() -> float:
        return LSCP.from_cost_matrix(cost, w, service_radius=radius_cover).solve().objective

    def spopt_lscp() -> float:
        mod = spopt.LSCP.from_cost_matrix(cost, radius_cover).solve(solver)
        return float(mod.problem.objective.value())

    def ours_mclp() -> float:
        res = MCLP.from_cost_matrix(cost, w, service_radius=radius_mclp, p=p).solve()
        return res.objective

    def spopt_mclp() -> float:
        mod = spopt.MCLP.from_cost_matrix(cost, w, radius_mclp, p_facilities=p).solve(solver)
        return float(mod.problem.objective.value())

    def ours_cpm() -> float:
        res = CapacitatedPMedian.from_cost_matrix(
            cost, w, p=p, capacities=caps, single_source=True
        ).solve(time_limit=600)
        return res.objective

    def spopt_cpm() -> float:
        mod = spopt.PMedian.from_cost_matrix(
            cost, w, p_facilities=p, facility_capacities=caps
        ).solve(solver)
        return float(mod.problem.objective.value())

    return [
        ("PMedian", ours_pmedian, spopt_pmedian),
        ("LSCP", ours_lscp, spopt_lscp),
        ("MCLP", ours_mclp, spopt_mclp),
        ("CapacitatedPMedian (single-source)", ours_cpm, spopt_cpm),
    ]


def main() -> int:
    try:
        import pulp
        import spopt.locate as spopt
    except ImportError:
        print("spopt is not installed (pip install 'jingkang-planner[bench]'); nothing to compare")
        return 0
    if "HiGHS" in pulp.listSolvers(onlyAvailable=True):
        solver, solver_name = pulp.HiGHS(msg=False), "pulp.HiGHS"
    else:
        solver, solver_name = pulp.PULP_CBC_CMD(msg=False), "pulp CBC"
    print(f"planning.siting (scipy.milp / HiGHS) vs spopt {spopt.__name__} with {solver_name}")
    header = (
        f"{'model':36} {'size':>8} {'ours obj':>14} {'spopt obj':>14} {'same':>5} "
        f"{'ours s':>8} {'spopt s':>8} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    ratios = []
    for n, m, p in SIZES:
        cost, w = instance(n, m, seed=n + m)
        for name, ours, theirs in cases(cost, w, p, spopt, solver):
            a, ta = timed(ours)
            b, tb = timed(theirs)
            same = abs(a - b) <= 1e-6 * max(1.0, abs(b))
            ratios.append(ta / tb)
            print(
                f"{name:36} {f'{n}x{m}':>8} {a:14.1f} {b:14.1f} {'yes' if same else 'NO':>5} "
                f"{ta:8.3f} {tb:8.3f} {ta / tb:6.2f}"
            )
    print(f"geometric mean ratio ours/spopt: {float(np.exp(np.mean(np.log(ratios)))):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
