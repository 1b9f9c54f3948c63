"""How far a relaxation can take the proof: the bounds behind the targets of benchmarks/siting.py.

Run: ``.venv/bin/python benchmarks/siting_bounds.py`` (about 3 minutes; ``--skip city`` for the
OR-Library part only). Tables:

1. OR-Library pmedcap01–10 (single source): the LP bound of the compact formulation
   (:math:`x_{ij} \\le y_j`, capacity rows) and the Dantzig–Wolfe bound, computed here by column
   generation (HiGHS LP master, one 0-1 knapsack per site priced by dynamic programming). The
   knapsack Lagrangian of ``planning.siting.capacitated_lagrange`` can at best reach the
   Dantzig–Wolfe bound; the rest of the gap to the optimum must be closed by branching.
2. The synthetic city MCLP of benchmarks/siting.py: its LP bound (HiGHS interior point) next to
   the simple bound (all reachable demand covered) and the best plan our solver finds in 60 s.
3. With ``--city-pmedian-lp`` (about 10 more minutes): the city p-median's LP bound by Benders
   cuts with column generation (``planning.siting.benders.lp_bound``, no time limit) next to
   the bound and plan our solver reports in 60 s: the gap a proof must close by branching.

Instances are read from ``../shared/bench/orlib``; nothing is copied.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from siting import CITY_MCLP_RADIUS, CITY_P, _loaders, city  # this folder: run as a script

from planning.siting import MCLP, PMedian, SitingResult, benders
from planning.siting.capacitated_lagrange import knapsack_data, knapsack_items, knapsack_tables


def compact_lp(cost: np.ndarray, demand: np.ndarray, cap: float, p: int) -> float:
    """LP bound of the compact single-source formulation (x and y continuous)."""
    n, m = cost.shape
    nx = n * m  # x[i, j] row-major, then y[j]
    pair = np.arange(nx)
    site_of = np.tile(np.arange(m), n)
    y = nx + np.arange(m)
    a_eq = sparse.vstack(
        [
            sparse.csr_array((np.ones(nx), (pair // m, pair)), shape=(n, nx + m)),  # sum_j x = 1
            sparse.csr_array((np.ones(m), (np.zeros(m, dtype=int), y)), shape=(1, nx + m)),
        ]
    )
    a_ub = sparse.vstack(
        [  # sum_i q_i x_ij - Q y_j <= 0 ; x_ij - y_j <= 0
            sparse.csr_array(
                (
                    np.r_[np.repeat(demand, m), np.full(m, -cap)],
                    (np.r_[site_of, np.arange(m)], np.r_[pair, y]),
                ),
                shape=(m, nx + m),
            ),
            sparse.csr_array(
                (np.r_[np.ones(nx), -np.ones(nx)], (np.r_[pair, pair], np.r_[pair, nx + site_of])),
                shape=(nx, nx + m),
            ),
        ]
    )
    res = linprog(
        np.r_[cost.ravel(), np.zeros(m)],
        A_ub=a_ub,
        b_ub=np.zeros(m + nx),
        A_eq=a_eq,
        b_eq=np.r_[np.ones(n), p],
        bounds=(0, 1),
        method="highs",
    )
    return float(res.fun)


def dantzig_wolfe(
    cost: np.ndarray, demand: np.ndarray, cap: float, p: int, max_rounds: int = 1000
) -> tuple[float, int]:
    """Dantzig–Wolfe (set-partitioning LP) bound by column generation; (bound, columns).

    Pricing uses the knapsack programme of ``planning.siting.capacitated_lagrange`` (one 0-1
    knapsack per site); with integer demand and capacity it is exact, so the bound is exact.
    """
    n, m = cost.shape
    ks = knapsack_data(demand.astype(float), np.full(m, float(cap)), m)
    assert ks.scale == 1.0, "integer demand and capacity expected: the pricing would round"
    big = 10.0 * float(cost.max()) * n
    columns: list[tuple[int, np.ndarray, float]] = [
        (j, np.eye(n, dtype=bool)[j], float(cost[j, j])) for j in range(min(n, m))
    ]
    for _ in range(max_rounds):
        k = len(columns)
        member = np.array([c[1] for c in columns], dtype=float).T  # n x k
        site = np.array([c[0] for c in columns])
        a_eq = np.vstack([np.hstack([member, np.eye(n)]), np.r_[np.ones(k), np.zeros(n)]])
        a_ub = np.zeros((m, k + n))
        a_ub[site, np.arange(k)] = 1.0  # at most one cluster per site
        res = linprog(
            np.r_[[c[2] for c in columns], np.full(n, big)],  # artificial columns keep it feasible
            A_ub=a_ub,
            b_ub=np.ones(m),
            A_eq=a_eq,
            b_eq=np.r_[np.ones(n), p],
            bounds=(0, None),
            method="highs",
        )
        u, mu = res.eqlin.marginals[:n], res.eqlin.marginals[n]
        nu = res.ineqlin.marginals
        table, keep = knapsack_tables(np.maximum(u[:, None] - cost, 0.0), ks)
        take = knapsack_items(keep, ks, np.arange(m))
        reduced = -table[np.arange(m), ks.caps] - mu - nu
        new = np.flatnonzero(reduced < -1e-7)
        columns += [(j, take[:, j], float(cost[take[:, j], j].sum())) for j in new]
        if not new.size:
            return float(res.fun), len(columns)
    return float("nan"), len(columns)


def table_pmedcap() -> None:
    ld = _loaders()
    optima = ld.load_optima("pmedcap")
    print("\n## pmedcap01–10: bounds at the root (single source)")
    head = (
        f"{'instance':10} {'optimum':>8} {'LP':>9} {'LP gap':>7} {'DW (CG)':>9} {'DW gap':>7} "
        f"{'columns':>8} {'s':>6}"
    )
    print(head)
    print("-" * len(head))
    for k in range(1, 11):
        name = f"pmedcap{k:02d}"
        cost, demand, cap, p = ld.load_pmedcap(ld.instance_path(f"pmedcap{k}"))
        q = int(np.max(cap))
        opt = optima[name]["optimum"]
        t0 = time.perf_counter()
        lp = compact_lp(cost, demand, float(q), p)
        dw, cols = dantzig_wolfe(cost, demand, q, p)
        print(
            f"{name:10} {opt:8d} {lp:9.2f} {100 * (opt - lp) / opt:6.2f}% {dw:9.3f} "
            f"{100 * (opt - dw) / opt:6.2f}% {cols:8d} {time.perf_counter() - t0:6.1f}"
        )


def _ours(model: MCLP | PMedian, time_limit: float) -> SitingResult:
    """Solve the city ``model`` as benchmarks/siting.py does; print its plan and bound."""
    res = model.solve(time_limit=time_limit, mip_gap=1e-3, max_exact_size=10**12)
    print(f"best plan ({time_limit:g} s, {res.status}): {res.objective:,.0f}")
    print(f"reported bound: {res.bound:,.0f} (gap {100 * res.gap:.3f} %)")
    return res


def table_city_mclp(time_limit: float) -> None:
    print("\n## City MCLP: LP bound next to the simple bound and our best plan")
    cost, w = city()
    model = MCLP.from_cost_matrix(cost, w, p=CITY_P["mclp"], service_radius=CITY_MCLP_RADIUS)
    res = _ours(model, time_limit)
    cover = sparse.csr_array(model.cover, dtype=np.float64)
    n_rows, n_sites = cover.shape
    t0 = time.perf_counter()
    lp = linprog(
        np.r_[np.zeros(n_sites), -model.row_weight],
        A_ub=sparse.hstack([-cover, sparse.identity(n_rows)]),
        b_ub=np.zeros(n_rows),
        A_eq=np.r_[np.ones(n_sites), np.zeros(n_rows)][None, :],
        b_eq=[CITY_P["mclp"]],
        bounds=(0, 1),
        method="highs-ipm",
    )
    lp_s = time.perf_counter() - t0
    lp_bound = model.offset - float(lp.fun)
    simple = float(model.weights[(cost <= CITY_MCLP_RADIUS).any(axis=1)].sum())
    print(f"simple bound (all reachable demand): {simple:,.0f}")
    print(
        f"LP bound (HiGHS IPM, {lp_s:.1f} s): {lp_bound:,.0f}, "
        f"{100 * (lp_bound - res.objective) / res.objective:.3f} % above the best plan"
    )


def table_city_pmedian_lp(time_limit: float) -> None:
    print("\n## City p-median: LP bound next to our bound and plan")
    cost, w = city()
    model = PMedian.from_cost_matrix(cost, w, p=CITY_P["pmedian"])
    res = _ours(model, time_limit)
    plan = np.zeros(cost.shape[1])
    plan[res.selected] = 1.0
    t0 = time.perf_counter()
    lp = benders.lp_bound(model._median_data(), CITY_P["pmedian"], core=plan)
    lp_s = time.perf_counter() - t0
    fractional = "—"
    if lp.master is not None:
        y = lp.master.y
        fractional = f"{int(((y > 1e-6) & (y < 1 - 1e-6)).sum())} of {y.size} sites fractional"
    print(
        f"LP bound (Benders + column generation, {lp_s:.0f} s, {lp.rounds} rounds, "
        f"{'LP optimum' if lp.priced else 'stopped'}; {fractional}): {lp.lower:,.0f}, "
        f"{100 * (res.objective - lp.lower) / res.objective:.3f} % below the best plan"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", nargs="*", default=(), choices=("pmedcap", "city"))
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve of ours")
    ap.add_argument("--city-pmedian-lp", action="store_true", help="table 3 (about 10 minutes)")
    args = ap.parse_args()
    if "pmedcap" not in args.skip:
        table_pmedcap()
    if "city" not in args.skip:
        table_city_mclp(args.time_limit)
    if args.city_pmedian_lp:
        table_city_pmedian_lp(args.time_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
