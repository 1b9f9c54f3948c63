"""Capacitated models: CapacitatedPMedian and CapacitatedMCLP (split or single-source).

A station has a capacity (patients it can serve); each demand point has a demand (patients).
With ``single_source=False`` a demand point may be split between stations, and the result
carries the shares in ``allocation``; ``assignment`` then names the largest share.
"""

from __future__ import annotations

import math
import time
from typing import Any, Unpack

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from planning.errors import InfeasibleError
from planning.siting.base import (
    BIG,
    HEUR,
    Exact,
    Program,
    SitingModel,
    Solution,
    _fmt_indices,
    as_cost_matrix,
    as_vector,
    make_rules,
)
from planning.siting.capacitated_lagrange import (
    Instance,
    LagrangeResult,
    excluded_bound,
    greedy_assign,
    improve_assign,
    lagrangian_phase,
)
from planning.siting.heuristics import interchange
from planning.siting.models import RuleOptions, _radius, _y_program

_SHARE_EPS = 1e-9


def _method(rounds: int) -> str:
    return f"assignment MILP on nearest options (x_ij, y_j), {rounds} round(s)"


class _Capacitated(SitingModel):
    """Shared pair set, allocation model and reporting of the capacitated models."""

    single_source: bool
    capacities: np.ndarray
    demand: np.ndarray
    pair_row: np.ndarray
    pair_col: np.ndarray  # candidate index (not free position)

    def _setup(
        self,
        capacities: ArrayLike,
        demand: ArrayLike | None,
        weights_given: bool,
        single_source: bool,
        radius: float,
    ) -> None:
        n, m = self.cost.shape
        self.capacities = as_vector(capacities, m, "capacities", default=0.0)
        self.demand = (
            self.weights.copy() if demand is None else as_vector(demand, n, "demand", default=1.0)
        )
        if not weights_given and demand is not None:
            self.weights = self.demand.copy()
        self.single_source = bool(single_source)
        self.radius = radius
        avail = self.rules.forced.copy()
        avail[self.rules.free] = True
        allowed = np.isfinite(self.cost) & (self.cost <= radius) & avail[None, :]
        self.pair_row, self.pair_col = np.nonzero(allowed)
        self.reach = allowed.any(axis=1)

    def _pair_cost(self) -> np.ndarray:
        return self.weights[self.pair_row] * self.cost[self.pair_row, self.pair_col]

    def _build(
        self,
        prog: Program,
        rows: np.ndarray,
        cols: np.ndarray,
        y_pos: np.ndarray,
        row_kind: str,
        cost: np.ndarray,
        fallback: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> int:
        """Add ``x`` for the pairs ``(rows, cols)`` with assignment and capacity rows.

        ``y_pos[j]`` is the variable index of ``y_j`` (``-1`` for a site open for sure).
        ``fallback`` ``(rows, costs)`` adds capacity-free columns to those assignment rows
        (right after the ``x``). Returns the index of the first ``x``.
        """
        n_pairs = rows.size
        x0 = prog.add_vars(n_pairs, cost=cost, integer=self.single_source)
        xi = x0 + np.arange(n_pairs)
        n = self.cost.shape[0]
        lo = self.reach.astype(np.float64) if row_kind == "eq" else -np.inf
        if fallback is None:
            prog.add_rows(n, rows, xi, 1.0, lo, 1.0)
        else:
            f0 = prog.add_vars(fallback[0].size, cost=fallback[1])
            fi = f0 + np.arange(fallback[0].size)
            prog.add_rows(
                n, np.concatenate([rows, fallback[0]]), np.concatenate([xi, fi]), 1.0, lo, 1.0
            )
        sites, site_row = np.unique(cols, return_inverse=True)
        q = self.demand[rows]
        var = y_pos[sites]
        has_y = var >= 0
        cap = self.capacities[sites]
        prog.add_rows(
            sites.size,
            np.concatenate([site_row, np.flatnonzero(has_y)]),
            np.concatenate([xi, var[has_y]]),
            np.concatenate([q, -cap[has_y]]),
            -np.inf,
            np.where(has_y, 0.0, cap),
        )
        link = y_pos[cols] >= 0
        nl = int(link.sum())
        prog.add_rows(
            nl,
            np.tile(np.arange(nl), 2),
            np.concatenate([xi[link], y_pos[cols][link]]),
            np.concatenate([np.ones(nl), -np.ones(nl)]),
            -np.inf,
            0.0,
        )
        return x0

    def _y_pos(self) -> np.ndarray:
        pos = np.full(self.rules.n, -1)
        pos[self.rules.free] = np.arange(self.rules.free.size)
        return pos

    def _shares(self, values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> sparse.csr_array:
        vals = np.clip(values, 0.0, 1.0)
        if self.single_source:
            vals = np.round(vals)
        keep = vals > _SHARE_EPS
        return sparse.csr_array((vals[keep], (rows[keep], cols[keep])), shape=self.cost.shape)

    def _exact_capacitated(
        self, time_limit: float, mip_gap: float, row_kind: str, cost: np.ndarray
    ) -> Exact:
        nf = self.rules.free.size
        prog = _y_program(self)
        x0 = self._build(prog, self.pair_row, self.pair_col, self._y_pos(), row_kind, cost)
        x, bound, optimal = self._run(prog, time_limit, mip_gap)
        if x is None:
            return Exact(None, bound, optimal)
        shares = self._shares(x[x0:], self.pair_row, self.pair_col)
        return Exact(Solution(self._open_mask(x[:nf]), x=shares), bound, optimal)

    def _allocate(
        self, open_mask: np.ndarray, row_kind: str, sign: float, time_limit: float = 30.0
    ) -> Solution | None:
        """Best allocation to a fixed set of open sites (LP, or MILP for single source)."""
        use = open_mask[self.pair_col]
        rows, cols = self.pair_row[use], self.pair_col[use]
        prog = Program()
        cost = sign * (self._pair_cost()[use] if sign > 0 else self.weights[rows])
        x0 = self._build(prog, rows, cols, np.full(self.rules.n, -1), row_kind, cost)
        res = prog.solve(time_limit, 0.0)
        if res.x is None:
            return None
        return Solution(open_mask, x=self._shares(res.x[x0:], rows, cols), solver=HEUR)

    def _report(self, sol: Solution) -> dict[str, Any]:
        x = sparse.csr_array(sol.x) if sol.x is not None else sparse.csr_array(self.cost.shape)
        share = x.sum(axis=1)
        coo = x.tocoo()
        assign = np.full(self.cost.shape[0], -1)
        best = np.zeros(self.cost.shape[0])
        order = np.lexsort((coo.col, -coo.data))  # largest share first, then lowest index
        r, c, v = coo.row[order], coo.col[order], coo.data[order]
        first = np.unique(r, return_index=True)[1]
        assign[r[first]] = c[first]
        best[r[first]] = v[first]
        d = self.cost[coo.row, coo.col] if coo.nnz else np.empty(0)
        return {
            "assignment": assign,
            "allocation": x,
            "load": x.T @ self.demand,
            "covered_weight": float(self.weights @ share),
            "total_weight": float(self.weights.sum()),
            "max_cost": float(d.max()) if d.size else math.nan,
            "_travel": float(np.sum(self.weights[coo.row] * coo.data * d)) if coo.nnz else 0.0,
        }


class CapacitatedPMedian(_Capacitated):
    r"""Capacitated p-median: ``p`` new sites, all demand served, capacities respected.

    .. math::

        \min \sum_{i,j} w_i d_{ij} x_{ij} \quad\text{s.t.}\quad
        \sum_j x_{ij} = 1,\;\; \sum_i q_i x_{ij} \le C_j y_j,\;\; x_{ij} \le y_j,\;\;
        \sum_{j \in F} y_j = p + |C|,\;\; 0 \le x_{ij} \le 1 \;(x_{ij} \in \{0,1\}
        \text{ if single-source}),\; y_j \in \{0,1\}

    ``w`` are the cost weights and ``q`` the demand (each defaults to the other, then to 1).
    Locked sites have ``y_j = 1`` fixed. ``x_ij`` is built for every pair with a finite cost
    (within ``service_radius`` if given). Before solving, the capacity of the locked sites plus
    the ``p + |C|`` largest free candidates is checked against the total demand.
    """

    name = "capacitated-p-median"
    start_depth: int | None = None  # options per demand point in the first round (None: auto)
    lagrange_cells: int = 200_000  # rows x sites above which the Lagrangian phase is skipped
    lagrange_min_pairs: int = 1_000  # pairs below which HiGHS alone is quick: no Lagrangian
    lagrange_share: float = 0.25  # share of the time limit for the Lagrangian phase
    lagrange_iterations: int = 600  # subgradient steps at most
    small_reduced: float = 0.5  # kept share of pairs up to which the reduced model is "small"
    small_cutoff: bool = True  # a small reduced model also gets the row "cost <= threshold"

    @classmethod
    def from_cost_matrix(
        cls,
        cost: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        p: int,
        capacities: ArrayLike,
        demand: ArrayLike | None = None,
        single_source: bool = False,
        service_radius: float | None = None,
        **options: Unpack[RuleOptions],
    ) -> CapacitatedPMedian:
        """Build from ``cost[demand, candidate]``, capacities per candidate and demand per row.

        Raises
        ------
        planning.errors.InfeasibleError
            Total reachable capacity is below the total demand, or a demand point with demand
            cannot reach any available candidate.
        """
        cost = as_cost_matrix(cost)
        n, m = cost.shape
        w = as_vector(weights if weights is not None else demand, n, "weights", default=1.0)
        model = cls(cost, w, make_rules(m, p=p, **options))
        radius = math.inf if service_radius is None else _radius(service_radius)
        model._setup(capacities, demand, weights is not None, single_source, radius)
        rules = model.rules
        bad = np.flatnonzero(~model.reach & ((model.demand > 0) | (model.weights > 0)))
        if bad.size:
            msg = (
                f"{bad.size} demand points cannot reach any available candidate"
                f"{'' if service_radius is None else f' within {radius:g}'}: indices "
                f"{_fmt_indices(bad)}"
            )
            raise InfeasibleError(msg)
        if model.single_source:
            fits = model.demand[model.pair_row] <= model.capacities[model.pair_col] + 1e-9
            ok = np.bincount(model.pair_row[fits], minlength=n) > 0
            big = np.flatnonzero(~ok & model.reach & (model.demand > 0))
            if big.size:
                msg = (
                    f"{big.size} demand points have more demand than any candidate they can "
                    f"reach can serve alone (single source): indices {_fmt_indices(big)}; "
                    "raise the capacities or allow split assignment"
                )
                raise InfeasibleError(msg)
        total = float(model.demand.sum())
        forced_cap = float(model.capacities[rules.forced].sum())
        top = np.sort(model.capacities[rules.free])[::-1][: rules.k].sum()
        if forced_cap + top < total - 1e-9:
            free_caps = np.sort(model.capacities[rules.free])[::-1]
            reach = forced_cap + np.cumsum(free_caps)
            enough = np.flatnonzero(reach >= total - 1e-9)
            extra = int(enough[0] + 1 - (rules.k or 0)) if enough.size else -1
            shortfall = total - forced_cap - top
            more = (
                f"{extra} more sites (p={(rules.k or 0) + extra}) would cover it"
                if extra > 0
                else "even every candidate open would not cover it"
            )
            msg = (
                f"total capacity {forced_cap + top:g} < demand {total:g}: "
                f"{int(rules.forced.sum())} locked sites plus the {rules.k} largest available "
                f"candidates cannot serve all demand (short by {shortfall:g}); {more}; raise p "
                "or the capacities"
            )
            raise InfeasibleError(
                msg,
                key="err_capacity_shortfall" if extra > 0 else "err_capacity_no_sites",
                params={
                    "capacity": f"{forced_cap + top:g}",
                    "demand": f"{total:g}",
                    "shortfall": f"{shortfall:g}",
                    "extra_sites": extra,
                },
            )
        model.min_free_capacity = total - forced_cap
        return model

    def _size(self) -> int:
        return 4 * self.pair_row.size

    def _exact(self, time_limit: float, mip_gap: float) -> Exact:
        """Lagrangian phase (single source), then the MILP on each row's nearest options.

        With single-source assignment, :mod:`planning.siting.capacitated_lagrange` first bounds
        the optimum (knapsack Lagrangian), finds plans (its heuristic) and removes the sites and
        pairs that cannot be part of a plan better than the best one found; that may already
        close the gap. The MILP then runs on what is left (see :meth:`_deepen`); a plan the
        reductions excluded costs at least their threshold, so the bound is the smaller of the
        MILP's bound and that threshold.
        """
        deadline = time.perf_counter() + time_limit
        lag = self._lagrange(time_limit, mip_gap) if self.single_source else None
        if lag is None:
            sol, bound, optimal, infeasible, rounds = self._deepen(
                np.ones(self.pair_row.size, dtype=bool), None, deadline, mip_gap
            )
            if infeasible:
                msg = f"{self.name}: HiGHS proved the model infeasible ({self._infeasible_hint()})"
                raise InfeasibleError(msg)
            return Exact(sol, bound, optimal, method=_method(rounds))
        res, sites, col = lag
        best = None if res.best is None else self._plan(sites, res.best[0], res.best[1])
        cut = excluded_bound(res.threshold, self._integral_costs())
        label = f"Lagrangian bound ({res.iterations} steps) + reductions"
        if best is not None and res.lower >= res.threshold:
            return Exact(best, min(cut, res.upper), True, method=label, heuristic_done=True)
        keep = res.pair_ok[self.pair_row, col[self.pair_col]]
        fixed = (sites[res.closed_fixed], sites[res.open_fixed])
        # A small reduced model gets every kept pair and the row "cost <= threshold" (no plan
        # above it is wanted); a large one keeps the nearest-options scheme, whose LP the dense
        # cost row would only slow down.
        small = keep.sum() <= self.small_reduced * keep.size and math.isfinite(res.threshold)
        sol, bound, optimal, infeasible, rounds = self._deepen(
            keep,
            fixed,
            deadline,
            mip_gap,
            cutoff=res.threshold if small and self.small_cutoff else None,
            full=small,
        )
        method = f"{label}, then {_method(rounds)}"
        if infeasible:  # nothing better than the threshold exists
            if best is None:
                msg = f"{self.name}: HiGHS proved the model infeasible ({self._infeasible_hint()})"
                raise InfeasibleError(msg)
            return Exact(best, min(cut, res.upper), True, method=method, heuristic_done=True)
        if best is not None and (
            sol is None or self._evaluate(best)["objective"] < self._evaluate(sol)["objective"]
        ):
            sol = best
        if math.isnan(bound):  # HiGHS stopped without a bound: the Lagrangian one still holds
            bound = res.lower
        else:
            bound = max(min(bound, cut), res.lower) if best is not None else max(bound, res.lower)
        return Exact(sol, bound, optimal, method=method, heuristic_done=True)

    def _integral_costs(self) -> bool:
        pc = self._pair_cost()
        return bool(np.all(pc == np.round(pc)))

    def _plan(self, sites: np.ndarray, mask: np.ndarray, assign: np.ndarray) -> Solution:
        """Build the plan opening ``sites[mask]``, row ``i`` served by ``assign[i]``."""
        open_mask = self.rules.forced.copy()
        open_mask[sites[mask]] = True
        rows = np.flatnonzero(assign >= 0)
        x = sparse.csr_array(
            (np.ones(rows.size), (rows, assign[rows])), shape=self.cost.shape, dtype=np.float64
        )
        return Solution(open_mask, x=x, solver=HEUR)

    def _side_ok(self, open_mask: np.ndarray) -> bool:
        """Whether a set of open candidates meets the budget and the caps per group."""
        rules = self.rules
        y = open_mask[rules.free]
        if rules.budget is not None and rules.free_budget_cost @ y > rules.budget + 1e-9:
            return False
        if rules.group_room is not None and rules.group_codes is not None:
            codes = rules.group_codes[rules.free][y]
            codes = codes[codes >= 0]
            if np.any(np.bincount(codes, minlength=rules.group_room.size) > rules.group_room):
                return False
        return True

    def _lagrange(
        self, time_limit: float, mip_gap: float
    ) -> tuple[LagrangeResult, np.ndarray, np.ndarray] | None:
        """Run the Lagrangian phase on the dense (rows x available sites) data, if small."""
        rules = self.rules
        avail = rules.forced.copy()
        avail[rules.free] = True
        sites = np.flatnonzero(avail)
        n = self.cost.shape[0]
        if (
            rules.k is None
            or sites.size == 0
            or n * sites.size > self.lagrange_cells
            or self.pair_row.size < self.lagrange_min_pairs
        ):
            return None
        col = np.full(rules.n, -1)
        col[sites] = np.arange(sites.size)
        dense = np.full((n, sites.size), np.inf)
        dense[self.pair_row, col[self.pair_col]] = self._pair_cost()
        caps = self.capacities[sites]
        rows = self.reach
        inst = Instance(
            dense,
            self.demand,
            caps,
            np.isin(sites, rules.free),
            rules.forced[sites],
            rules.k,
            rows,
            self._integral_costs(),
        )
        idx = np.flatnonzero(rows)

        def quick(mask: np.ndarray) -> tuple[float, np.ndarray] | None:
            full = rules.forced.copy()
            full[sites[mask]] = True
            if not self._side_ok(full):
                return None
            sub = dense[np.ix_(idx, np.flatnonzero(mask))]
            got = greedy_assign(sub, self.demand[idx], caps[mask])
            if got is None:
                return None
            got = improve_assign(sub, self.demand[idx], caps[mask], got)
            assign = np.full(n, -1)
            assign[idx] = sites[np.flatnonzero(mask)[got]]
            return float(sub[np.arange(idx.size), got].sum()), assign

        def exact(mask: np.ndarray) -> tuple[float, np.ndarray] | None:
            full = rules.forced.copy()
            full[sites[mask]] = True
            if not self._side_ok(full):
                return None
            sol = self._allocate(full, "eq", 1.0, max(0.05 * time_limit, 0.5))
            if sol is None or sol.x is None:
                return None
            fields = self._report(sol)
            if np.any((fields["assignment"] < 0) & rows):
                return None
            return fields["_travel"], fields["assignment"]

        res = lagrangian_phase(
            inst,
            quick,
            None,
            polish=exact,
            mip_gap=mip_gap,
            deadline=time.perf_counter() + self.lagrange_share * time_limit,
            max_iterations=self.lagrange_iterations,
        )
        return res, sites, col

    def _deepen(
        self,
        keep: np.ndarray,
        fixed: tuple[np.ndarray, np.ndarray] | None,
        deadline: float,
        mip_gap: float,
        *,
        cutoff: float | None = None,
        full: bool = False,
    ) -> tuple[Solution | None, float, bool, bool, int]:
        """Solve on each demand point's nearest options, deepening where a fallback is used.

        Each row keeps its ``depth`` cheapest pairs (among ``keep``) plus a fallback column
        priced at the next one and using no capacity. That is a relaxation of the model on the
        kept pairs (its bound is valid); when no fallback is used its solution is feasible,
        hence optimal. ``fixed`` ``(closed, open)`` candidates have ``y`` fixed to 0 / 1;
        ``cutoff`` adds the row "cost <= cutoff"; ``full`` starts at every kept pair.
        Returns ``(solution, bound, optimal, infeasible, rounds)``.
        """
        nf, n = self.rules.free.size, self.cost.shape[0]
        pc = self._pair_cost()[keep]
        prow, pcol = self.pair_row[keep], self.pair_col[keep]
        order = np.lexsort((pc, prow))
        rows, cols, pc = prow[order], pcol[order], pc[order]
        count = np.bincount(rows, minlength=n)
        first = np.concatenate([[0], np.cumsum(count)[:-1]])
        rank = np.arange(rows.size) - first[rows]
        k = max((self.rules.k or 0) + int(self.rules.forced.sum()), 1)
        start = self.start_depth or int(np.ceil(3 * count.max(initial=0) / k)) + 3
        depth = count.copy() if full else np.minimum(count, start)
        y_pos = self._y_pos()
        rounds = 0
        while True:
            rounds += 1
            use = rank < depth[rows]
            short = np.flatnonzero(depth < count)
            nxt = pc[first[short] + depth[short]]
            prog = _y_program(self)
            if fixed is not None:
                for sel, val in zip(fixed, (0.0, 1.0), strict=True):
                    if sel.size:
                        prog.add_rows(sel.size, np.arange(sel.size), y_pos[sel], 1.0, val, val)
            x0 = self._build(prog, rows[use], cols[use], y_pos, "eq", pc[use], (short, nxt))
            if cutoff is not None:
                n_x = int(use.sum()) + short.size
                prog.add_rows(
                    1, np.zeros(n_x), x0 + np.arange(n_x), np.r_[pc[use], nxt], -np.inf, cutoff
                )
            left = max(deadline - time.perf_counter(), 1e-3)
            res = prog.solve(left, mip_gap)
            if res.status == 2:
                return None, math.nan, False, True, rounds
            if res.status not in (0, 1):
                msg = f"{self.name}: HiGHS stopped without a usable answer: {res.message}"
                raise InfeasibleError(msg)
            x, optimal = res.x, res.status == 0
            dual = getattr(res, "mip_dual_bound", None)
            if dual is None or not np.isfinite(dual):
                dual = res.fun if optimal and res.fun is not None else math.nan
            bound = float(dual)
            if x is None:
                return None, bound, optimal, False, rounds
            n_use = int(use.sum())
            sol = Solution(
                self._open_mask(x[:nf]), x=self._shares(x[x0 : x0 + n_use], rows[use], cols[use])
            )
            used = short[x[x0 + n_use : x0 + n_use + short.size] > 1e-6]
            if not used.size or not optimal or time.perf_counter() >= deadline:
                if used.size:  # keep the sites, allocate over all pairs
                    left = max(deadline - time.perf_counter(), 1.0)
                    sol = self._allocate(sol.open, "eq", 1.0, left)
                return sol, bound, optimal and not used.size, False, rounds
            depth[used] = np.minimum(count[used], 2 * depth[used] + 1)

    def _heuristic(self) -> Solution | None:
        rules = self.rules
        d = np.where(np.isfinite(self.cost) & (self.cost <= self.radius), self.cost, BIG)
        forced = d[:, rules.forced].min(axis=1) if rules.forced.any() else np.full(d.shape[0], BIG)
        chosen = interchange(
            d[:, rules.free],
            forced,
            self.weights,
            k=rules.k,
            kind="sum",
            limits=rules.limits(self.capacities[rules.free], self.min_free_capacity),
        )
        if chosen is None:
            return None
        return self._allocate(self._open_mask(chosen), "eq", 1.0)

    def _relaxation_bound(self) -> float:
        rules = self.rules
        avail = rules.forced.copy()
        avail[rules.free] = True
        d = np.where(self.cost <= self.radius, self.cost, np.inf)[:, avail].min(axis=1)
        return float(np.sum(np.where(self.weights > 0, self.weights * d, 0.0)))

    def _evaluate(self, sol: Solution) -> dict[str, Any]:
        fields = self._report(sol)
        return {"objective": fields.pop("_travel"), **fields}


class CapacitatedMCLP(_Capacitated):
    r"""Capacitated maximal covering: most demand weight served within the radius.

    .. math::

        \max \sum_{i,j:\, d_{ij} \le R} w_i x_{ij} \quad\text{s.t.}\quad
        \sum_j x_{ij} \le 1,\;\; \sum_i q_i x_{ij} \le C_j y_j,\;\; x_{ij} \le y_j,\;\;
        \sum_{j \in F} y_j = p + |C| \text{ and/or budget},\;\;
        0 \le x_{ij} \le 1 \;(\text{binary if single-source}),\; y_j \in \{0,1\}

    A demand point counts as covered in proportion to the share of its demand served by open
    sites within ``R`` (all or nothing with ``single_source=True``). ``x`` exists only for pairs
    within the radius (sparse).
    """

    name = "capacitated-mclp"
    sense = "max"

    @classmethod
    def from_cost_matrix(
        cls,
        cost: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        service_radius: float,
        capacities: ArrayLike,
        demand: ArrayLike | None = None,
        p: int | None = None,
        single_source: bool = False,
        **options: Unpack[RuleOptions],
    ) -> CapacitatedMCLP:
        """Build from ``cost[demand, candidate]``; give ``p`` (new sites), ``budget``, or both."""
        cost = as_cost_matrix(cost)
        if p is None and options.get("budget") is None:
            from planning.errors import InputError

            msg = "CapacitatedMCLP needs p= (number of new sites) or budget= with site_cost="
            raise InputError(msg, field="p")
        n, m = cost.shape
        w = as_vector(weights if weights is not None else demand, n, "weights", default=1.0)
        model = cls(cost, w, make_rules(m, p=p, **options))
        model._setup(
            capacities, demand, weights is not None, single_source, _radius(service_radius)
        )
        return model

    def _size(self) -> int:
        return 4 * self.pair_row.size

    def _exact(self, time_limit: float, mip_gap: float) -> Exact:
        return self._exact_capacitated(time_limit, mip_gap, "le", -self.weights[self.pair_row])

    def _heuristic(self) -> Solution | None:
        rules = self.rules
        cover = (self.cost <= self.radius).astype(np.float64)
        base = 1.0 - cover[:, rules.forced].max(axis=1, initial=0.0)
        chosen = interchange(
            1.0 - cover[:, rules.free],
            base,
            self.weights,
            k=rules.k,
            kind="sum",
            limits=rules.limits(),
        )
        if chosen is None:
            return None
        return self._allocate(self._open_mask(chosen), "le", -1.0)

    def _relaxation_bound(self) -> float:
        return float(self.weights[self.reach].sum())

    def _evaluate(self, sol: Solution) -> dict[str, Any]:
        fields = self._report(sol)
        fields.pop("_travel")
        return {"objective": fields["covered_weight"], **fields}
