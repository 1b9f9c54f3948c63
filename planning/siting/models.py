"""Uncapacitated location models: LSCP, MCLP, PMedian, PCenter and TownshipCover.

Each class is built from a cost matrix ``cost[demand, candidate]`` (metres, minutes …; ``inf``
for unreachable pairs) and solved exactly with HiGHS (:func:`scipy.optimize.milp`) or, above a
size limit, by greedy + interchange. Every ``from_cost_matrix`` also accepts the shared options
of :class:`RuleOptions` (locked / closable / excluded sites, site costs and a budget, a floor-area
minimum and a cap per township); see :mod:`planning.siting.base` for how they enter the model.
"""

from __future__ import annotations

import math
import time
from typing import Any, TypedDict, Unpack

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from planning.errors import InfeasibleError, InputError
from planning.siting import benders, lagrange
from planning.siting import radius as rad
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
    nearest_open,
)
from planning.siting.heuristics import greedy_cover, interchange


class RuleOptions(TypedDict, total=False):
    """Keyword options every model accepts.

    locked
        Existing stations (indices or boolean mask), forced open and *not* counted in ``p``.
    closable
        ``True`` (all locked) or indices of locked stations the model may close; the total
        number of sites stays ``p + len(locked)``, so a closure frees a slot (relocation).
    excluded
        Candidates never opened.
    site_cost, budget
        Cost per candidate and a budget on the new sites (locked sites cost nothing).
    floor_area, min_floor_area
        Candidate floor area (m²) and the required minimum (scalar or per candidate, e.g. 50/70/100
        m² by functional zone); smaller candidates are excluded, NaN areas are kept.
    groups, max_per_group
        Township label per candidate and a cap of open sites per township (int, or dict
        label → cap); locked sites count towards the cap.
    """

    locked: ArrayLike | None
    closable: bool | ArrayLike
    excluded: ArrayLike | None
    site_cost: ArrayLike | None
    budget: float | None
    floor_area: ArrayLike | None
    min_floor_area: float | ArrayLike | None
    groups: ArrayLike | None
    max_per_group: int | dict[Any, int] | None


def _radius(value: float, name: str = "service_radius") -> float:
    r = float(value)
    if math.isnan(r) or r < 0:
        msg = f"{name} must be a number >= 0; got {value!r}"
        raise InputError(msg, field=name)
    return r


def _unique_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a boolean matrix: ``(index of first occurrence, inverse)``."""
    if mask.shape[0] == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    packed = np.packbits(mask, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def _y_program(model: SitingModel, cost: ArrayLike = 0.0) -> Program:
    prog = Program()
    prog.add_vars(model.rules.free.size, cost=cost, integer=True)
    for mat, lo, hi in model.rules.side_rows():
        prog.add_matrix(mat, 0, lo, hi)
    return prog


def _coverage_fields(model: SitingModel, open_mask: np.ndarray, radius: float) -> dict[str, Any]:
    assign, dist = nearest_open(model.cost, open_mask, radius)
    covered = assign >= 0
    return {
        "assignment": assign,
        "covered_weight": float(model.weights[covered].sum()),
        "total_weight": float(model.weights.sum()),
        "max_cost": float(dist[covered].max()) if covered.any() else math.nan,
    }


class LSCP(SitingModel):
    r"""Location set covering: fewest (or cheapest) sites so every demand point is covered.

    .. math::

        \min \sum_{j \in F} c_j y_j \quad \text{s.t.}\quad
        \sum_{j \in F:\, d_{ij} \le R} y_j \ge 1 \;\; \forall i \text{ not covered by locked sites},
        \qquad y_j \in \{0, 1\}

    plus the side constraints of :mod:`planning.siting.base`. ``c_j`` is ``site_cost`` (1 by
    default, i.e. the number of new sites plus kept closable sites). Only pairs within ``R`` are
    built (sparse) and demand points with identical covering sets are merged.
    """

    name = "lscp"

    @classmethod
    def from_cost_matrix(
        cls,
        cost: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        service_radius: float,
        **options: Unpack[RuleOptions],
    ) -> LSCP:
        """Build from ``cost[demand, candidate]``; ``weights`` only feed ``covered_weight``.

        Raises
        ------
        planning.errors.InfeasibleError
            Some demand point has no available candidate within ``service_radius``.
        """
        cost = as_cost_matrix(cost)
        model = cls(
            cost,
            as_vector(weights, cost.shape[0], "weights", default=1.0),
            make_rules(cost.shape[1], **options),
        )
        model.radius = _radius(service_radius)
        within = cost <= model.radius
        rules = model.rules
        avail = rules.forced.copy()
        avail[rules.free] = True
        bad = np.flatnonzero(~within[:, avail].any(axis=1))
        if bad.size:
            msg = (
                f"{bad.size} demand points have no available candidate within service_radius "
                f"{model.radius:g}: indices {_fmt_indices(bad)}; add candidates near them or "
                "raise the radius"
            )
            raise InfeasibleError(msg)
        need = ~within[:, rules.forced].any(axis=1)
        sub = within[need][:, rules.free]
        first, _ = _unique_rows(sub)
        model.cover = sparse.csc_array(sub[first])
        return model

    def _size(self) -> int:
        return int(self.cover.nnz)

    def _exact(self, time_limit: float, mip_gap: float) -> Exact:
        prog = _y_program(self, self.rules.site_cost[self.rules.free])
        prog.add_matrix(sparse.coo_array(self.cover), 0, 1.0, np.inf)
        x, bound, optimal = self._run(prog, time_limit, mip_gap)
        sol = None if x is None else Solution(self._open_mask(x[: self.rules.free.size]))
        return Exact(sol, bound, optimal)

    def _heuristic(self) -> Solution | None:
        chosen = greedy_cover(
            self.cover, self.rules.site_cost[self.rules.free], limits=self.rules.limits()
        )
        return None if chosen is None else Solution(self._open_mask(chosen), solver=HEUR)

    def _relaxation_bound(self) -> float:
        if self.cover.shape[0] == 0:
            return 0.0
        costs = self.rules.site_cost[self.rules.free]
        rows = sparse.csr_array(self.cover)
        rows.eliminate_zeros()
        counts = np.diff(rows.indptr)
        if np.any(counts == 0):  # a row no candidate covers: no plan at all
            return math.inf
        # the cheapest site covering each row (sparse: no dense rows x sites copy)
        cheapest = np.minimum.reduceat(costs[rows.indices], rows.indptr[:-1])
        return float(cheapest.max())

    def _evaluate(self, sol: Solution) -> dict[str, Any]:
        free = self.rules.free
        objective = float(self.rules.site_cost[free][sol.open[free]].sum())
        return {"objective": objective, **_coverage_fields(self, sol.open, self.radius)}


class MCLP(SitingModel):
    r"""Maximal covering: place ``p`` new sites (and/or spend a budget) to cover most weight.

    .. math::

        \max \sum_i w_i z_i \quad\text{s.t.}\quad
        z_i \le \sum_{j \in F:\, d_{ij} \le R} y_j,\;\; 0 \le z_i \le 1,\;\;
        \sum_{j \in F} y_j = p + |C|,\;\; y_j \in \{0,1\}

    with the budget / cap side constraints. Demand already covered by a locked site enters as a
    constant; ``z`` may be continuous because the objective drives it to ``min(1, ·)``, which is
    integral. Demand points with identical covering sets are merged (weights summed).

    From ``lagrange_min_nnz`` covering pairs up, with ``p`` and without budget or caps, the
    model first runs greedy + swap search (:func:`~planning.siting.lagrange.swap_search`), then
    the Lagrangian bound of :mod:`planning.siting.lagrange` whose plans are polished by the
    same swap search, and the reduction tests. HiGHS then solves what the tests left open if it
    has at most ``reduced_max_nnz`` nonzeros; otherwise the result is the best plan with the
    Lagrangian bound (``time_limit_feasible`` and its gap unless the gap is already proven).
    """

    name = "mclp"
    sense = "max"

    @classmethod
    def from_cost_matrix(
        cls,
        cost: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        service_radius: float,
        p: int | None = None,
        **options: Unpack[RuleOptions],
    ) -> MCLP:
        """Build from ``cost[demand, candidate]``; give ``p`` (new sites), ``budget``, or both."""
        cost = as_cost_matrix(cost)
        if p is None and options.get("budget") is None:
            msg = "MCLP needs p= (number of new sites) or budget= with site_cost="
            raise InputError(msg, field="p")
        model = cls(
            cost,
            as_vector(weights, cost.shape[0], "weights", default=1.0),
            make_rules(cost.shape[1], p=p, **options),
        )
        model.radius = _radius(service_radius)
        rules = model.rules
        within = cost <= model.radius
        model.within_free = within[:, rules.free]
        model.base_cover = within[:, rules.forced].any(axis=1)
        model.offset = float(model.weights[model.base_cover].sum())
        rows = ~model.base_cover & (model.weights > 0) & model.within_free.any(axis=1)
        sub = model.within_free[rows]
        first, inverse = _unique_rows(sub)
        model.cover = sparse.csc_array(sub[first])
        model.row_weight = np.bincount(inverse, weights=model.weights[rows], minlength=first.size)
        return model

    def _size(self) -> int:
        return int(self.cover.nnz)

    lagrange_min_nnz: int = 200_000  # cover nonzeros from which the Lagrangian phase runs first

    def _lagrange_applies(self) -> bool:
        r = self.rules
        caps = r.group_room is None or not np.isfinite(r.group_room).any()
        k = r.k or 0
        return r.p is not None and r.budget is None and caps and 0 < k < r.free.size

    def _exact(self, time_limit: float, mip_gap: float) -> Exact:
        if self._lagrange_applies() and self.cover.nnz >= self.lagrange_min_nnz:
            return self._exact_lagrange(time_limit, mip_gap)
        return self._exact_mip(time_limit, mip_gap)

    lagrange_steps: int = 20_000  # subgradient steps at most (the deadline usually stops it)
    lagrange_deflection: float = 0.3  # weight of each new subgradient in the step direction
    # when no reduced model follows (volume algorithm; better plans on the city, measured)
    reduced_max_nnz: int = 600_000  # largest reduced model handed to HiGHS after Lagrange

    def _exact_lagrange(self, time_limit: float, mip_gap: float) -> Exact:
        """Greedy + swap plan, Lagrangian bound and reduction tests, then HiGHS on the rest."""
        t_end = time.perf_counter() + time_limit
        nf, k = self.rules.free.size, int(self.rules.k or 0)
        cover = sparse.csr_array(self.cover, dtype=np.float64)
        w = self.row_weight
        costs = lagrange.SparseCosts.from_cover(cover)
        start = lagrange.greedy(cover, w, k)
        start = lagrange.swap_search(
            costs, w, start, deadline=time.perf_counter() + 0.15 * time_limit
        )
        # far above what HiGHS can take after the reductions, the subgradient (the bound) gets
        # the time the reduced model would have had
        hopeless = self.cover.nnz > 2 * self.reduced_max_nnz
        t_lag = t_end - (0.2 if hopeless else 0.25) * time_limit
        cb = lagrange.subgradient(
            cover,
            w,
            k,
            start,
            iterations=self.lagrange_steps,
            target_gap=mip_gap / 2,
            deadline=t_lag,
            patience=30,
            start_fraction=0.1,
            polish=lambda y: lagrange.swap_search(costs, w, y, deadline=t_lag),
            deflection=self.lagrange_deflection if hopeless else 1.0,
        )
        best, lower = cb.best, cb.lower
        upper = cb.upper
        how = "greedy + swap"
        if hopeless:  # the plan is final: round the steps' average too (see PMedian)
            rounded = lagrange.round_average(
                costs, w, cb.average, k, deadline=t_end - 0.04 * time_limit
            )
            value = lagrange.covered_weight(cover, w, rounded)
            if value > lower:
                best, lower, how = rounded, value, "rounded Lagrangian average + swap"
        method = (
            f"{how} plan, Lagrangian bound ({cb.iterations} subgradient steps), "
            f"reduction fixed {int(cb.fixed_open.sum())} open / {int(cb.fixed_closed.sum())} "
            f"closed of {nf}"
        )
        if upper - lower <= mip_gap * max(lower, 1e-12):
            sol = Solution(self._open_mask(best), solver="lagrangian+greedy")
            return Exact(sol, self.offset + upper, True, method=method, heuristic_done=True)
        keep = ~cb.fixed_open & ~cb.fixed_closed
        done = (cover @ cb.fixed_open.astype(np.float64)) > 0.5
        sub = cover[~done][:, keep]
        rows = np.flatnonzero(np.diff(sub.indptr) > 0)
        sub = sub[rows]
        if sub.nnz > self.reduced_max_nnz:
            method += (
                f"; reduced model too large for HiGHS ({sub.nnz} nonzeros): Lagrangian bound "
                "and best plan reported"
            )
            sol = Solution(self._open_mask(best), solver="lagrangian+greedy")
            return Exact(sol, self.offset + upper, False, method=method, heuristic_done=True)
        const = float(w[done].sum())
        prog = Program()
        n_keep = int(keep.sum())
        k_left = k - int(cb.fixed_open.sum())
        prog.add_vars(n_keep, integer=True)
        prog.add_rows(1, np.zeros(n_keep, dtype=np.int64), np.arange(n_keep), 1.0, k_left, k_left)
        z0 = prog.add_vars(rows.size, cost=-w[~done][rows])
        a = sparse.coo_array(sub)
        prog.add_rows(
            rows.size,
            np.concatenate([np.arange(rows.size), a.row]),
            np.concatenate([z0 + np.arange(rows.size), a.col]),
            np.concatenate([np.ones(rows.size), -np.ones(a.nnz)]),
            -np.inf,
            0.0,
        )
        left = max(t_end - time.perf_counter(), 1e-3)
        x, bound, optimal = self._run(prog, left, mip_gap, offset=const)
        solver = "lagrangian+greedy"
        method += f"; HiGHS on the reduced model ({n_keep} sites, {rows.size} demand groups)"
        if x is not None:
            y = cb.fixed_open.copy()
            y[np.flatnonzero(keep)[x[:n_keep] > 0.5]] = True
            value = lagrange.covered_weight(cover, w, y)
            if value >= lower:
                best, lower, solver = y, value, "highs-milp"
        # plans violating the fixings are worth less than ``lower``: the bound is the larger
        bound = max(bound, lower) if np.isfinite(bound) else upper
        bound = min(bound, upper)
        sol = Solution(self._open_mask(best), solver=solver)
        ok = upper - lower <= mip_gap * max(lower, 1e-12) or (optimal and bound <= lower + 1e-6)
        return Exact(sol, self.offset + bound, ok, method=method, heuristic_done=True)

    def _exact_mip(self, time_limit: float, mip_gap: float) -> Exact:
        nf = self.rules.free.size
        prog = _y_program(self)
        n_rows = self.cover.shape[0]
        z0 = prog.add_vars(n_rows, cost=-self.row_weight)
        a = sparse.coo_array(self.cover)
        prog.add_rows(
            n_rows,
            np.concatenate([np.arange(n_rows), a.row]),
            np.concatenate([z0 + np.arange(n_rows), a.col]),
            np.concatenate([np.ones(n_rows), -np.ones(a.nnz)]),
            -np.inf,
            0.0,
        )
        x, bound, optimal = self._run(prog, time_limit, mip_gap, offset=self.offset)
        sol = None if x is None else Solution(self._open_mask(x[:nf]))
        return Exact(sol, bound, optimal)

    def _heuristic(self) -> Solution | None:
        dist = (~self.within_free).astype(np.float64)
        base = (~self.base_cover).astype(np.float64)
        chosen = interchange(
            dist, base, self.weights, k=self.rules.k, kind="sum", limits=self.rules.limits()
        )
        return None if chosen is None else Solution(self._open_mask(chosen), solver=HEUR)

    def _relaxation_bound(self) -> float:
        reach = self.base_cover | self.within_free.any(axis=1)
        return float(self.weights[reach].sum())

    def _evaluate(self, sol: Solution) -> dict[str, Any]:
        fields = _coverage_fields(self, sol.open, self.radius)
        return {"objective": fields["covered_weight"], **fields}


class PMedian(SitingModel):
    r"""p-median: ``p`` new sites minimising total weighted cost to the nearest open site.

    .. math::

        \min \sum_i \sum_j w_i d_{ij} x_{ij} \quad\text{s.t.}\quad
        \sum_j x_{ij} = 1,\;\; x_{ij} \le y_j,\;\;
        \sum_{j \in F} y_j = p + |C|,\;\; x_{ij} \ge 0,\; y_j \in \{0,1\}

    Reductions (exact): ``x_ij`` is built only for the ``|F| - (p + |C|) + 1`` nearest free
    candidates of each demand point (one of them is always open) and only when cheaper than the
    nearest locked site, which becomes a single fallback column; zero-weight demand is dropped.

    Formulation, chosen by the model (``formulation = "auto"``), reported in ``result.method``:

    * the radius formulation of :mod:`planning.siting.radius` (one variable per client and
      distinct cost level; equal costs share a level, so costs rounded to a resolution give a
      compact model), with level deepening;
    * above ``lagrange_min_pairs`` client-candidate pairs and without locked sites, budget or
      caps: a Lagrangian bound with plans from greedy + interchange (when
      ``demand x candidates x k <= interchange_max_work``; above it greedy + the sparse swap
      search of :func:`~planning.siting.lagrange.swap_search`, which also polishes the
      Lagrangian plans) and locate-allocate, and reduction tests
      (:mod:`planning.siting.lagrange`) first; up to ``benders_max_pairs`` pairs, when the
      subgradient has not closed the gap, the LP relaxation by Benders cuts
      (:mod:`planning.siting.benders`, at most half the time limit) raises the bound and adds
      its reduced-cost tests; then the radius model on what the tests left open. If the time
      limit stops it, the result says ``time_limit_feasible`` with the best bound and gap —
      never ``optimal`` without the proof.

    ``formulation = "classic"`` keeps the ``x_ij, y_j`` model above.
    """

    name = "p-median"
    start_depth: int | None = None  # options per demand point in the first round (None: auto)
    formulation: str = "auto"  # "auto" (radius), "radius" or "classic"

    @classmethod
    def from_cost_matrix(
        cls,
        cost: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        p: int,
        **options: Unpack[RuleOptions],
    ) -> PMedian:
        """Build from ``cost[demand, candidate]`` with ``p`` new sites."""
        cost = as_cost_matrix(cost)
        model = cls(
            cost,
            as_vector(weights, cost.shape[0], "weights", default=1.0),
            make_rules(cost.shape[1], p=p, **options),
        )
        model._prepare()
        return model

    def _prepare(self) -> None:
        rules, cost, w = self.rules, self.cost, self.weights
        n = cost.shape[0]
        forced_cost = (
            cost[:, rules.forced].min(axis=1) if rules.forced.any() else np.full(n, np.inf)
        )
        cf = cost[:, rules.free]
        free_min = cf.min(axis=1) if rules.free.size else np.full(n, np.inf)
        bad = np.flatnonzero(~np.isfinite(np.minimum(forced_cost, free_min)) & (w > 0))
        if bad.size:
            msg = (
                f"{bad.size} demand points cannot reach any available candidate (all costs "
                f"infinite): indices {_fmt_indices(bad)}"
            )
            raise InfeasibleError(msg)
        self.forced_cost, self.free_cost = forced_cost, cf
        keep_n = rules.free.size - (rules.k or 0) + 1
        order = np.argsort(cf, axis=1, kind="stable")[:, :keep_n]
        vals = np.take_along_axis(cf, order, axis=1)
        # options cheaper than the nearest locked site form a prefix of the sorted row
        count = (np.isfinite(vals) & (vals < forced_cost[:, None])).sum(axis=1)
        count[w <= 0] = 0
        active = count > 0
        fixed = ~active & (w > 0)
        self.offset = float(np.sum(w[fixed] * forced_cost[fixed]))
        self.active = np.flatnonzero(active)
        self.order, self.vals = order[active], vals[active]
        self.count = count[active]

    def _size(self) -> int:
        return 3 * int(self.count.sum())

    def _program(self, depth: np.ndarray) -> tuple[Program, np.ndarray, int]:
        """Model with the ``depth[i]`` nearest options of each active demand point.

        Each row also gets a fallback column priced at its next option beyond ``depth`` (or the
        nearest locked site): a relaxation, exact when no fallback is used.
        """
        w = self.weights[self.active]
        n_act = self.active.size
        pos = np.arange(self.order.shape[1])
        take = pos[None, :] < depth[:, None]
        r_local, slot = np.nonzero(take)
        col = self.order[r_local, slot]
        fall = self._fallback_cost(depth)
        fb = np.flatnonzero(np.isfinite(fall))
        prog = _y_program(self)
        x0 = prog.add_vars(col.size, cost=w[r_local] * self.vals[r_local, slot])
        f0 = prog.add_vars(fb.size, cost=w[fb] * fall[fb])
        prog.add_rows(
            n_act,
            np.concatenate([r_local, fb]),
            np.concatenate([x0 + np.arange(col.size), f0 + np.arange(fb.size)]),
            1.0,
            1.0,
            1.0,
        )
        npair = col.size
        prog.add_rows(
            npair,
            np.tile(np.arange(npair), 2),
            np.concatenate([x0 + np.arange(npair), col]),
            np.concatenate([np.ones(npair), -np.ones(npair)]),
            -np.inf,
            0.0,
        )
        relaxed = np.zeros(n_act, dtype=bool)
        relaxed[fb] = depth[fb] < self.count[fb]
        return prog, relaxed[fb], f0

    lagrange_min_pairs: int = 5_000  # client-candidate pairs from which Lagrange runs first
    interchange_max_work: int = 10_000_000  # demand x candidates x k up to which the Lagrangian
    # phase starts from greedy + interchange (else greedy + locate-allocate only)
    lagrange_width: int = 160  # nearest options per client in the Lagrangian (λ capped beyond)
    radius_max_pairs: int = 1_500_000  # largest reduced radius model tried after Lagrange
    lagrange_iterations: int = 5_000  # subgradient steps at most (the deadline usually stops it)
    lagrange_deflection: float = 0.1  # weight of each new subgradient in the step direction
    # on the swap-search path (volume algorithm; small instances converge faster without)

    def _exact(self, time_limit: float, mip_gap: float) -> Exact:
        if self.formulation == "classic":
            return self._exact_classic(time_limit, mip_gap)
        r = self.rules
        plain = (
            not r.forced.any()
            and r.budget is None
            and (r.group_room is None or not np.isfinite(r.group_room).any())
            and 0 < (r.k or 0) < r.free.size
            and self.active.size == self.cost.shape[0]
        )
        if plain and int(self.count.sum()) >= self.lagrange_min_pairs:
            return self._exact_lagrange(time_limit, mip_gap)
        return self._exact_radius(time_limit, mip_gap)

    def _exact_lagrange(self, time_limit: float, mip_gap: float) -> Exact:
        """Lagrangian bound, heuristic and reduction tests; the radius model on what is left."""
        deadline = time.perf_counter() + time_limit
        r = self.rules
        k = int(r.k or 0)
        dist = self.free_cost
        width = min(int(self.count.max()), self.lagrange_width)
        vals = np.where(
            np.arange(width)[None, :] < self.count[:, None], self.vals[:, :width], np.inf
        )
        cap = np.where(self.count > width, self.vals[:, min(width, self.vals.shape[1] - 1)], np.inf)
        polish = None
        if dist.size * k <= self.interchange_max_work:
            finite = np.where(np.isfinite(dist), dist, BIG)
            start = interchange(finite, np.full(dist.shape[0], BIG), self.weights, k=k)
        else:
            start = lagrange.greedy_median(dist, self.weights, k)
            far = 1e3 * float(self.vals[np.isfinite(self.vals)].max(initial=1.0)) + 1.0
            costs = lagrange.SparseCosts.from_sorted(
                self.order, self.vals, self.count, far, r.free.size
            )
            start = lagrange.swap_search(
                costs, self.weights, start, deadline=time.perf_counter() + 0.05 * time_limit
            )
            # far above what the Benders bound and the reduced radius model can take, the
            # subgradient (the bound) gets the time they would have had
            hopeless = int(self.count.sum()) > max(
                self.benders_max_pairs, 4 * self.radius_max_pairs
            )
            t_lag = deadline - (0.17 if hopeless else 0.29) * time_limit
            t_round = deadline - 0.04 * time_limit if hopeless else t_lag + 0.04 * time_limit
            polish = lambda y: lagrange.swap_search(costs, self.weights, y, deadline=t_lag)  # noqa: E731
        mb = lagrange.median_subgradient(
            lagrange.SortedOptions(vals, self.order[:, :width], cap, self.weights),
            k,
            dist,
            start,
            iterations=self.lagrange_iterations,
            target_gap=mip_gap / 2,
            deadline=time.perf_counter() + 0.4 * time_limit if polish is None else t_lag,
            patience=15 if polish is None else 40,
            polish=polish,
            deflection=1.0 if polish is None else self.lagrange_deflection,
            heuristic_share=0.2 if polish is None else 0.05,
        )
        how = "greedy + interchange" if polish is None else "greedy + swap"
        upper, plan = mb.upper, mb.best
        if polish is not None:
            # the steps' average columns approximate a fractional LP solution: its k largest,
            # improved by swaps, often beat the plans of single steps
            rounded = lagrange.round_average(
                costs, self.weights, mb.average, k, deadline=t_round
            )
            value, _ = lagrange.median_cost(dist, self.weights, rounded)
            if value < upper:
                upper, plan = value, rounded
                how = "rounded Lagrangian average + swap"
        method = f"{how} plan, Lagrangian bound ({mb.iterations} subgradient steps)"
        best = Solution(self._open_mask(plan), solver="lagrangian+greedy")
        lower, fixed_open, fixed_closed = mb.lower, mb.fixed_open, mb.fixed_closed
        if upper - lower > mip_gap * abs(upper) and self._benders_applies(deadline):
            lp = self._benders_bound(plan, deadline, 0.5 * time_limit)
            method += (
                f", Benders LP bound ({lp.rounds} rounds, {lp.cuts} cuts"
                f"{'' if lp.priced else ', stopped before the LP optimum'})"
            )
            lower = max(lower, lp.lower)
            data = self._median_data()
            tests = [benders.lagrangian_fix(data, lp.lam, k, upper)]
            if lp.master is not None:
                tests.append(benders.reduction(lp.master, upper))
            for opened, closed in tests:
                fixed_open, fixed_closed = fixed_open | opened, fixed_closed | closed
        method += (
            f", reduction fixed {int(fixed_open.sum())} open / {int(fixed_closed.sum())} closed "
            f"of {r.free.size}"
        )
        if upper - lower <= mip_gap * abs(upper):
            return Exact(best, lower, True, method=method, heuristic_done=True)
        left = deadline - time.perf_counter()
        keep = int(r.free.size - fixed_open.sum() - fixed_closed.sum())
        pairs = int(np.minimum(self.count, 2 * keep // max(k, 1) + 3).sum())
        if left <= 1 or pairs > self.radius_max_pairs:
            method += (
                f"; reduced model too large for the time left ({pairs} pairs): "
                "best bound and plan reported"
            )
            return Exact(best, lower, False, method=method, heuristic_done=True)
        sub = PMedian.from_cost_matrix(
            self.cost,
            self.weights,
            p=k - int(fixed_open.sum()),
            locked=r.free[fixed_open],
            excluded=r.free[fixed_closed],
        )
        exact = sub._exact_radius(left, mip_gap)
        method += "; " + exact.method + " on the reduced model"
        bound = lower
        if np.isfinite(exact.bound):
            bound = max(bound, min(exact.bound, upper))
        sol = best
        if exact.solution is not None:
            cand = Solution(exact.solution.open)
            if self._evaluate(cand)["objective"] <= upper:
                sol = cand
        value = self._evaluate(sol)["objective"]
        ok = value - bound <= max(mip_gap * abs(value), 1e-6)
        return Exact(sol, bound, ok, method=method, heuristic_done=True)

    benders_max_pairs: int = 2_000_000  # client-candidate pairs up to which the Benders LP
    # bound runs after the Lagrangian phase (its master LP is re-solved from scratch each round)

    def _benders_applies(self, deadline: float) -> bool:
        small = int(self.count.sum()) <= self.benders_max_pairs
        return small and time.perf_counter() < deadline - 2.0

    def _median_data(self) -> benders.MedianData:
        return benders.MedianData(
            self.vals,
            self.order,
            self.count,
            self.forced_cost[self.active],
            self.weights[self.active],
            int(self.rules.free.size),
        )

    def _benders_bound(
        self, plan: np.ndarray, deadline: float, budget: float
    ) -> benders.PricedBound:
        """LP bound by Benders cuts (all columns), seeded by ``plan``, for ``budget`` seconds."""
        stop = min(deadline - 1.0, time.perf_counter() + budget)
        return benders.lp_bound(
            self._median_data(), int(self.rules.k or 0), core=plan.astype(float), deadline=stop
        )

    def _exact_radius(self, time_limit: float, mip_gap: float) -> Exact:
        """Radius formulation (:mod:`planning.siting.radius`) with level deepening."""
        deadline = time.perf_counter() + time_limit
        nf = self.rules.free.size
        data = rad.levels(self.vals, self.count, self.forced_cost[self.active])
        w = self.weights[self.active]
        start = self.start_depth or int(np.ceil(2 * nf / max(self.rules.k or 1, 1))) + 3
        depth = rad.levels_for_options(data, np.minimum(self.count, start))
        sub_cost = self.cost[self.active]
        rounds = 0
        while True:
            rounds += 1
            prog = _y_program(self)
            _, constant = rad.build(prog, data, self.order, w, depth)
            left = max(deadline - time.perf_counter(), 1e-3)
            x, bound, optimal = self._run(prog, left, mip_gap, offset=self.offset + constant)
            method = (
                f"radius formulation, {int(depth.sum())} levels, {rounds} round"
                f"{'s' if rounds > 1 else ''}"
            )
            if x is None:
                return Exact(None, bound, False, method=method)
            sol = Solution(self._open_mask(x[:nf]))
            objective = self._evaluate(sol)["objective"]
            proven = objective - bound <= max(mip_gap * abs(objective), 1e-6)
            _, dist = nearest_open(sub_cost, sol.open)
            short = (depth < data.n_levels) & (dist > rad.charged_cost(data, depth) + 1e-9)
            if proven or not optimal or not short.any() or time.perf_counter() >= deadline:
                return Exact(sol, bound, optimal and (proven or not short.any()), method=method)
            depth = np.where(short, np.minimum(data.n_levels, 2 * depth + 1), depth)

    def _exact_classic(self, time_limit: float, mip_gap: float) -> Exact:
        deadline = time.perf_counter() + time_limit
        nf = self.rules.free.size
        start = self.start_depth or int(np.ceil(2 * nf / max(self.rules.k or 1, 1))) + 3
        depth = np.minimum(self.count, start)
        while True:
            prog, relaxed, f0 = self._program(depth)
            left = max(deadline - time.perf_counter(), 1e-3)
            x, bound, optimal = self._run(prog, left, mip_gap, offset=self.offset)
            if x is None:
                return Exact(None, bound, False)
            sol = Solution(self._open_mask(x[:nf]))
            objective = self._evaluate(sol)["objective"]
            proven = objective - bound <= max(mip_gap * abs(objective), 1e-6)
            used = np.zeros(self.active.size, dtype=bool)
            fb_rows = np.flatnonzero(np.isfinite(self._fallback_cost(depth)))
            used[fb_rows[relaxed & (x[f0 : f0 + relaxed.size] > 1e-6)]] = True
            if proven or not optimal or not used.any() or time.perf_counter() >= deadline:
                ok = optimal and (proven or not used.any())
                return Exact(sol, bound, ok, method="classic formulation (x_ij, y_j)")
            depth = np.where(used, np.minimum(self.count, 2 * depth + 1), depth)

    def _fallback_cost(self, depth: np.ndarray) -> np.ndarray:
        fc = self.forced_cost[self.active]
        nxt = self.vals[np.arange(self.active.size), np.minimum(depth, self.vals.shape[1] - 1)]
        return np.where(depth < self.count, np.minimum(nxt, fc), fc)

    def _heuristic(self) -> Solution | None:
        dist = np.where(np.isfinite(self.free_cost), self.free_cost, BIG)
        base = np.where(np.isfinite(self.forced_cost), self.forced_cost, BIG)
        chosen = interchange(
            dist, base, self.weights, k=self.rules.k, kind="sum", limits=self.rules.limits()
        )
        if chosen is None:
            return None
        sol = Solution(self._open_mask(chosen), solver=HEUR)
        return sol if math.isfinite(self._evaluate(sol)["objective"]) else None

    def _relaxation_bound(self) -> float:
        best = np.minimum(self.forced_cost, self.free_cost.min(axis=1, initial=np.inf))
        return float(np.sum(np.where(self.weights > 0, self.weights * best, 0.0)))

    def _evaluate(self, sol: Solution) -> dict[str, Any]:
        assign, dist = nearest_open(self.cost, sol.open)
        w = self.weights
        served = assign >= 0
        objective = float(np.sum(np.where(w > 0, w * dist, 0.0)))
        return {
            "objective": objective,
            "assignment": assign,
            "covered_weight": float(w[served].sum()),
            "total_weight": float(w.sum()),
            "max_cost": float(dist[served].max()) if served.any() else math.nan,
        }


class PCenter(SitingModel):
    r"""p-center: ``p`` new sites minimising the largest demand-to-nearest-site cost.

    .. math::

        \min D \quad\text{s.t.}\quad \sum_j x_{ij} = 1,\;\; x_{ij} \le y_j,\;\;
        D \ge \sum_j d_{ij} x_{ij},\;\; \sum_{j \in F} y_j = p + |C|,\;\; y_j \in \{0,1\}

    Solved exactly through its decision version: for a radius ``r`` taken from the sorted
    distinct costs, "is there a feasible ``y`` (count, budget, caps) covering every demand point
    within ``r``?" is a set-covering MILP. A bisection over the costs between the lower bound
    ``max_i min_j d_ij`` and the greedy + interchange value returns the optimum; proven
    infeasible radii give the bound. The objective is unweighted; ``weights`` only feed the
    reported ``covered_weight``.
    """

    name = "p-center"

    @classmethod
    def from_cost_matrix(
        cls,
        cost: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        p: int,
        **options: Unpack[RuleOptions],
    ) -> PCenter:
        """Build from ``cost[demand, candidate]`` with ``p`` new sites."""
        cost = as_cost_matrix(cost)
        model = cls(
            cost,
            as_vector(weights, cost.shape[0], "weights", default=1.0),
            make_rules(cost.shape[1], p=p, **options),
        )
        rules = model.rules
        n = cost.shape[0]
        model.forced_cost = (
            cost[:, rules.forced].min(axis=1) if rules.forced.any() else np.full(n, np.inf)
        )
        model.free_cost = cost[:, rules.free]
        best = np.minimum(model.forced_cost, model.free_cost.min(axis=1, initial=np.inf))
        bad = np.flatnonzero(~np.isfinite(best))
        if bad.size:
            msg = (
                f"{bad.size} demand points cannot reach any available candidate: indices "
                f"{_fmt_indices(bad)}"
            )
            raise InfeasibleError(msg)
        model.lower = float(best.max())
        return model

    def _size(self) -> int:
        return int(self.free_cost.size)

    def _feasible(self, r: float, time_limit: float) -> tuple[str, np.ndarray | None]:
        need = self.forced_cost > r
        sub = self.free_cost[need] <= r
        if not sub.any(axis=1).all():
            return "infeasible", None
        first, _ = _unique_rows(sub)
        prog = _y_program(self)
        prog.add_matrix(sparse.coo_array(sub[first]), 0, 1.0, np.inf)
        res = prog.solve(time_limit, 0.0)
        if res.status == 2:
            return "infeasible", None
        if res.x is None:
            return "unknown", None
        return "feasible", self._open_mask(res.x[: self.rules.free.size])

    def _exact(self, time_limit: float, mip_gap: float) -> Exact:
        deadline = time.perf_counter() + time_limit
        best = self._heuristic()
        finite = self.cost[:, self.rules.forced | np.isin(np.arange(self.rules.n), self.rules.free)]
        values = np.unique(finite[np.isfinite(finite)])
        upper = self._evaluate(best)["objective"] if best is not None else values[-1]
        values = values[(values >= self.lower) & (values <= upper)]
        lo, hi = 0, values.size - 1
        if best is None:
            state, mask = self._feasible(float(values[hi]), deadline - time.perf_counter())
            if state == "infeasible":
                msg = f"{self.name}: no feasible placement ({self._infeasible_hint()})"
                raise InfeasibleError(msg)
            best = None if mask is None else Solution(mask)
        complete = best is not None
        while complete and lo < hi:
            if (values[hi] - values[lo]) <= mip_gap * values[hi]:
                break
            left = deadline - time.perf_counter()
            if left <= 0:
                complete = False
                break
            mid = (lo + hi) // 2
            state, mask = self._feasible(float(values[mid]), left)
            if state == "feasible":
                best, hi = Solution(mask), mid
            elif state == "infeasible":
                lo = mid + 1
            else:
                complete = False
        return Exact(best, float(values[lo]), complete)

    def _heuristic(self) -> Solution | None:
        dist = np.where(np.isfinite(self.free_cost), self.free_cost, BIG)
        base = np.where(np.isfinite(self.forced_cost), self.forced_cost, BIG)
        chosen = interchange(
            dist, base, self.weights, k=self.rules.k, kind="max", limits=self.rules.limits()
        )
        if chosen is None:
            return None
        sol = Solution(self._open_mask(chosen), solver=HEUR)
        return sol if math.isfinite(self._evaluate(sol)["objective"]) else None

    def _relaxation_bound(self) -> float:
        return self.lower

    def _evaluate(self, sol: Solution) -> dict[str, Any]:
        assign, dist = nearest_open(self.cost, sol.open)
        served = assign >= 0
        objective = float(dist.max())
        return {
            "objective": objective,
            "assignment": assign,
            "covered_weight": float(self.weights[served].sum()),
            "total_weight": float(self.weights.sum()),
            "max_cost": objective,
        }
