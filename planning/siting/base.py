r"""Shared machinery of the siting models: input checks, side constraints, MILP assembly, solve.

Every model reduces to the same shape. Candidates are split into *forced* sites (locked and not
closable: always open, no variable), *free* sites (one binary ``y_j`` each: new candidates and
closable locked sites) and unavailable ones (excluded, or below the required floor area). The
side constraints every model accepts act on the free ``y``:

.. math::

    \\sum_{j \\in F} y_j = p + |C|  \\quad \\text{(when } p \\text{ applies)}\\\\
    \\sum_{j \\in F \\setminus L} c_j y_j \\le B  \\quad \\text{(budget; existing sites cost 0)}\\\\
    \\sum_{j \\in F \\cap g} y_j \\le u_g - |\\text{forced} \\cap g|  \\quad \\forall g

where ``F`` are the free sites, ``L`` the locked sites and ``C`` the closable locked sites.
So ``p`` counts *new* sites; locked sites come on top, and closing a closable one frees a slot
for one more new site (relocation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from planning.errors import InfeasibleError, InputError
from planning.settings import DEFAULT, Settings
from planning.siting.result import SitingResult, relative_gap

HEUR = "greedy+interchange"
BIG = 1e15  # finite stand-in for "unreachable" inside heuristics
DEFAULT_MAX_EXACT_SIZE = (
    3_000_000  # nonzeros of the constraint matrix above which "auto" uses heuristics
)


def _fmt_indices(idx: np.ndarray, limit: int = 20) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    return shown + (f", … ({idx.size - limit} more)" if idx.size > limit else "")


def as_cost_matrix(cost: ArrayLike) -> np.ndarray:
    """Validate ``cost[demand, candidate]``: 2-D, no NaN, no negative values (``inf`` allowed)."""
    arr = np.asarray(cost, dtype=np.float64)
    if arr.ndim != 2 or 0 in arr.shape:
        msg = f"cost matrix must be 2-D (demand x candidate) and non-empty; got shape {arr.shape}"
        raise InputError(msg, field="cost")
    if np.isnan(arr).any():
        where = np.argwhere(np.isnan(arr))[0]
        msg = (
            f"cost matrix has {int(np.isnan(arr).sum())} NaN values (first at demand {where[0]}, "
            f"candidate {where[1]}); use inf for unreachable pairs"
        )
        raise InputError(msg, field="cost")
    if (arr < 0).any():
        msg = f"cost matrix has negative values (min {arr.min():g}); costs must be >= 0"
        raise InputError(msg, field="cost")
    return arr


def as_vector(values: ArrayLike | None, n: int, name: str, *, default: float) -> np.ndarray:
    """Return a finite, non-negative vector of length ``n`` (``default`` if ``None``)."""
    if values is None:
        return np.full(n, float(default))
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size != n:
        msg = f"{name} has {arr.size} values but {n} were expected (one per row/column)"
        raise InputError(msg, field=name)
    if not np.isfinite(arr).all() or (arr < 0).any():
        msg = f"{name} must be finite and >= 0; got min {np.nanmin(arr):g}"
        raise InputError(msg, field=name)
    return arr


def _as_indices(values: ArrayLike | None, n: int, name: str) -> np.ndarray:
    if values is None:
        return np.empty(0, dtype=np.int64)
    arr = np.asarray(values).ravel()
    if arr.dtype == bool:
        if arr.size != n:
            msg = f"{name} as a boolean mask needs {n} values; got {arr.size}"
            raise InputError(msg, field=name)
        return np.flatnonzero(arr)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        msg = f"{name} must be candidate indices (integers); got dtype {arr.dtype}"
        raise InputError(msg, field=name)
    arr = arr.astype(np.int64)
    bad = arr[(arr < 0) | (arr >= n)]
    if bad.size:
        msg = f"{name} has indices outside 0..{n - 1}: {_fmt_indices(bad)}"
        raise InputError(msg, field=name)
    return np.unique(arr)


@dataclass(frozen=True)
class SiteRules:
    """Validated per-candidate rules shared by every model (see the module docstring)."""

    n: int
    locked: np.ndarray
    closable: np.ndarray
    forced: np.ndarray  # bool mask: open whatever the model decides
    free: np.ndarray  # sorted indices of candidates with a decision variable
    site_cost: np.ndarray
    budget: float | None
    p: int | None
    group_codes: np.ndarray | None = None  # per candidate, -1 without a group
    group_labels: np.ndarray | None = None
    group_room: np.ndarray | None = None  # per group code: cap minus forced sites
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def k(self) -> int | None:
        """Number of free sites that must open (``p`` plus closable locked sites)."""
        return None if self.p is None else self.p + int(self.closable.size)

    @property
    def free_budget_cost(self) -> np.ndarray:
        """Budget cost of each free site (locked sites already exist: cost 0)."""
        cost = self.site_cost[self.free].copy()
        cost[np.isin(self.free, self.locked)] = 0.0
        return cost

    def side_rows(self) -> list[tuple[sparse.coo_array, np.ndarray, np.ndarray]]:
        """Count, budget and group-cap rows over the free ``y`` (columns ``0..len(free)-1``)."""
        nf = self.free.size
        out = []
        if self.p is not None:
            out.append((sparse.coo_array(np.ones((1, nf))), np.array([self.k]), np.array([self.k])))
        if self.budget is not None:
            row = sparse.coo_array(self.free_budget_cost[None, :])
            out.append((row, np.array([-np.inf]), np.array([self.budget])))
        if self.group_room is not None and self.group_codes is not None:
            codes = self.group_codes[self.free]
            capped = np.isfinite(self.group_room)
            keep = (codes >= 0) & capped[np.maximum(codes, 0)]
            if keep.any():
                used, rows = np.unique(codes[keep], return_inverse=True)
                mat = sparse.coo_array(
                    (np.ones(rows.size), (rows, np.flatnonzero(keep))), shape=(used.size, nf)
                )
                out.append((mat, np.full(used.size, -np.inf), self.group_room[used]))
        return out

    def limits(
        self, capacities: np.ndarray | None = None, min_capacity: float | None = None
    ) -> Any:
        """Return these rules as :class:`~planning.siting.heuristics.SideLimits`."""
        from planning.siting.heuristics import SideLimits

        codes = None if self.group_codes is None else self.group_codes[self.free]
        return SideLimits(
            costs=self.free_budget_cost,
            budget=self.budget,
            group_codes=codes,
            group_room=self.group_room,
            capacities=capacities,
            min_capacity=min_capacity,
        )


def make_rules(  # noqa: PLR0913 - the shared keyword options of every model (RuleOptions)
    n: int,
    *,
    p: int | None = None,
    locked: ArrayLike | None = None,
    closable: bool | ArrayLike = False,
    excluded: ArrayLike | None = None,
    site_cost: ArrayLike | None = None,
    budget: float | None = None,
    floor_area: ArrayLike | None = None,
    min_floor_area: float | ArrayLike | None = None,
    groups: ArrayLike | None = None,
    max_per_group: int | dict[Any, int] | None = None,
) -> SiteRules:
    """Check the options every model accepts and return :class:`SiteRules`.

    Candidates whose ``floor_area`` is below ``min_floor_area`` (a scalar or one requirement per
    candidate, e.g. 50/70/100 m² by functional zone) are excluded; unknown areas (NaN) are
    kept. Locked sites are never excluded by the area rule (they exist already).
    """
    locked_idx = _as_indices(locked, n, "locked")
    if isinstance(closable, bool | np.bool_):
        closable_idx = locked_idx if closable else np.empty(0, dtype=np.int64)
    else:
        closable_idx = _as_indices(closable, n, "closable")
        stray = np.setdiff1d(closable_idx, locked_idx)
        if stray.size:
            msg = (
                f"closable sites must be locked (existing) sites; not locked: {_fmt_indices(stray)}"
            )
            raise InputError(msg, field="closable")
    excluded_idx = _as_indices(excluded, n, "excluded")
    clash = np.intersect1d(locked_idx, excluded_idx)
    if clash.size:
        msg = f"candidates both locked and excluded: {_fmt_indices(clash)}"
        raise InputError(msg, field="excluded")
    unavailable = np.zeros(n, dtype=bool)
    unavailable[excluded_idx] = True
    n_small = 0
    if min_floor_area is not None:
        if floor_area is None:
            msg = "min_floor_area needs floor_area (one value in m² per candidate)"
            raise InputError(msg, field="floor_area")
        area = np.asarray(floor_area, dtype=np.float64).ravel()
        need = np.broadcast_to(np.asarray(min_floor_area, dtype=np.float64), (n,))
        if area.size != n:
            msg = f"floor_area has {area.size} values but there are {n} candidates"
            raise InputError(msg, field="floor_area")
        small = (area < need) & ~np.isnan(area)
        small[locked_idx] = False
        n_small = int((small & ~unavailable).sum())
        unavailable |= small
    if p is not None and (int(p) != p or p < 0):
        msg = f"p must be a non-negative integer; got {p!r}"
        raise InputError(msg, field="p")
    if budget is not None and (not math.isfinite(budget) or budget < 0):
        msg = f"budget must be a finite number >= 0; got {budget!r}"
        raise InputError(msg, field="budget")
    forced = np.zeros(n, dtype=bool)
    forced[np.setdiff1d(locked_idx, closable_idx)] = True
    free = np.flatnonzero(~forced & ~unavailable)
    codes = labels = room = None
    if groups is not None:
        codes, labels, room = _group_room(groups, n, max_per_group, forced)
    elif max_per_group is not None:
        msg = "max_per_group needs groups= (one township label per candidate)"
        raise InputError(msg, field="groups")
    rules = SiteRules(
        n=n,
        locked=locked_idx,
        closable=closable_idx,
        forced=forced,
        free=free,
        site_cost=as_vector(site_cost, n, "site_cost", default=1.0),
        budget=None if budget is None else float(budget),
        p=None if p is None else int(p),
        group_codes=codes,
        group_labels=labels,
        group_room=room,
        notes={"excluded": int(excluded_idx.size), "below_floor_area": n_small},
    )
    if rules.k is not None and rules.k > free.size:
        msg = (
            f"p={p} new sites requested but only {free.size - closable_idx.size} candidates are "
            f"available ({n} candidates: {locked_idx.size} locked, {excluded_idx.size} excluded, "
            f"{n_small} below the minimum floor area)"
        )
        raise InfeasibleError(msg)
    return rules


def _group_room(
    groups: ArrayLike, n: int, max_per_group: int | dict[Any, int] | None, forced: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels_in = pd.Series(np.asarray(groups, dtype=object).ravel())
    if labels_in.size != n:
        msg = f"groups has {labels_in.size} labels but there are {n} candidates"
        raise InputError(msg, field="groups")
    codes, labels = pd.factorize(labels_in, use_na_sentinel=True)
    if isinstance(max_per_group, dict):
        caps = np.array([float(max_per_group.get(lab, np.inf)) for lab in labels])
    elif max_per_group is None:
        caps = np.full(labels.size, np.inf)
    else:
        caps = np.full(labels.size, float(max_per_group))
    has = codes >= 0
    forced_per = np.bincount(codes[forced & has], minlength=labels.size)
    room = caps - forced_per
    if (room < 0).any():
        bad = np.flatnonzero(room < 0)
        parts = [f"{labels[g]!s}: {forced_per[g]} locked > cap {caps[g]:g}" for g in bad[:10]]
        msg = (
            f"max_per_group is below the locked sites already in {len(bad)} group(s): "
            + "; ".join(parts)
        )
        raise InfeasibleError(msg)
    return codes.astype(np.int64), np.asarray(labels, dtype=object), room


class Program:
    """A MILP ``min c·x`` assembled block by block from sparse triplets."""

    def __init__(self) -> None:
        self.n_vars = 0
        self.n_rows = 0
        self._c: list[np.ndarray] = []
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._r: list[np.ndarray] = []
        self._k: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []

    def add_vars(
        self,
        count: int,
        *,
        cost: ArrayLike = 0.0,
        lb: ArrayLike = 0.0,
        ub: ArrayLike = 1.0,
        integer: bool = False,
    ) -> int:
        """Append ``count`` variables; return the index of the first."""
        start = self.n_vars
        self._c.append(np.broadcast_to(np.asarray(cost, dtype=np.float64), (count,)))
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (count,)))
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (count,)))
        self._int.append(np.full(count, 1 if integer else 0, dtype=np.uint8))
        self.n_vars += count
        return start

    def add_rows(
        self,
        n_rows: int,
        rows: ArrayLike,
        cols: ArrayLike,
        vals: ArrayLike,
        lo: ArrayLike,
        hi: ArrayLike,
    ) -> int:
        """Append ``n_rows`` constraints ``lo <= A x <= hi`` given as triplets (local rows)."""
        start = self.n_rows
        rows = np.asarray(rows, dtype=np.int64)
        self._r.append(rows + start)
        self._k.append(np.asarray(cols, dtype=np.int64))
        self._v.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), rows.shape))
        self._lo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (n_rows,)))
        self._hi.append(np.broadcast_to(np.asarray(hi, dtype=np.float64), (n_rows,)))
        self.n_rows += n_rows
        return start

    def add_matrix(self, mat: sparse.coo_array, col0: int, lo: ArrayLike, hi: ArrayLike) -> int:
        """Append the rows of a sparse matrix whose columns start at variable ``col0``."""
        mat = sparse.coo_array(mat)
        return self.add_rows(mat.shape[0], mat.row, mat.col + col0, mat.data, lo, hi)

    @property
    def nnz(self) -> int:
        """Nonzeros of the constraint matrix so far."""
        return int(sum(r.size for r in self._r))

    def solve(self, time_limit: float, mip_gap: float) -> Any:
        """Run HiGHS through :func:`scipy.optimize.milp` (an empty model is solved directly)."""
        if self.n_vars == 0:
            from scipy.optimize import OptimizeResult

            lo = np.concatenate(self._lo) if self._lo else np.zeros(0)
            hi = np.concatenate(self._hi) if self._hi else np.zeros(0)
            ok = bool(np.all(lo <= 1e-9) and np.all(hi >= -1e-9))
            return OptimizeResult(
                x=np.zeros(0) if ok else None,
                fun=0.0 if ok else None,
                status=0 if ok else 2,
                message="empty model",
                mip_dual_bound=0.0 if ok else None,
            )
        c = np.concatenate(self._c)
        integrality = np.concatenate(self._int)
        bounds = Bounds(np.concatenate(self._lb), np.concatenate(self._ub))
        constraints = []
        if self.n_rows:
            a = sparse.csr_array(
                (np.concatenate(self._v), (np.concatenate(self._r), np.concatenate(self._k))),
                shape=(self.n_rows, self.n_vars),
            )
            constraints.append(
                LinearConstraint(a, np.concatenate(self._lo), np.concatenate(self._hi))
            )
        options = {"time_limit": max(float(time_limit), 1e-3), "mip_rel_gap": float(mip_gap)}
        return milp(
            c, integrality=integrality, bounds=bounds, constraints=constraints, options=options
        )


@dataclass
class Solution:
    """A candidate solution before it becomes a :class:`SitingResult`."""

    open: np.ndarray  # bool per candidate
    x: sparse.csr_array | None = None  # allocation shares (capacitated models)
    solver: str = "highs-milp"


@dataclass
class Exact:
    """What an exact solve proved."""

    solution: Solution | None
    bound: float
    optimal: bool
    note: str = ""
    method: str = ""
    heuristic_done: bool = False  # the exact method already ran its own heuristics


class SitingModel:
    """Base of the siting models: holds validated data and runs :meth:`solve`."""

    name: ClassVar[str] = "siting"
    sense: ClassVar[str] = "min"

    def __init__(self, cost: np.ndarray, weights: np.ndarray, rules: SiteRules) -> None:
        self.cost = cost
        self.weights = weights
        self.rules = rules

    # -- to implement -----------------------------------------------------------------------
    def _size(self) -> int:
        """Estimated nonzeros of the MILP (decides exact vs heuristic under ``method="auto"``)."""
        raise NotImplementedError

    def _exact(self, time_limit: float, mip_gap: float) -> Exact:
        raise NotImplementedError

    def _heuristic(self) -> Solution | None:
        raise NotImplementedError

    def _relaxation_bound(self) -> float:
        return math.nan

    def _evaluate(self, sol: Solution) -> dict[str, Any]:
        """Objective and reporting fields of a solution (``objective`` key required)."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------
    def describe(
        self, *, method: str = "auto", max_exact_size: int = DEFAULT_MAX_EXACT_SIZE
    ) -> dict[str, Any]:
        """Model size and the method :meth:`solve` will use, before solving (for the app).

        Parameters
        ----------
        method, max_exact_size
            As for :meth:`solve`.

        Returns
        -------
        dict
            ``model``, ``demand_points``, ``candidates``, ``free_candidates``, ``nonzeros``
            (estimated constraint-matrix nonzeros of the exact model), ``max_exact_size`` and
            ``method``: ``"exact"`` or ``"heuristic"`` (with ``reason``).
        """
        size = self._size()
        heuristic = method == "heuristic" or (method == "auto" and size > max_exact_size)
        reason = (
            "heuristic requested"
            if method == "heuristic"
            else f"model size {size} nonzeros > max_exact_size {max_exact_size}"
            if heuristic
            else "exact (HiGHS) with proof of optimality or a stated gap"
        )
        return {
            "model": self.name,
            "demand_points": int(self.cost.shape[0]),
            "candidates": int(self.cost.shape[1]),
            "free_candidates": int(self.rules.free.size),
            "nonzeros": int(size),
            "max_exact_size": int(max_exact_size),
            "method": "heuristic" if heuristic else "exact",
            "reason": reason,
        }

    def _open_mask(self, y: np.ndarray) -> np.ndarray:
        mask = self.rules.forced.copy()
        mask[self.rules.free[np.asarray(y) > 0.5]] = True
        return mask

    def _run(self, prog: Program, time_limit: float, mip_gap: float, offset: float = 0.0):
        """Solve ``prog``; return ``(x or None, bound in model sense, highs_optimal)``."""
        res = prog.solve(time_limit, mip_gap)
        sign = -1.0 if self.sense == "max" else 1.0
        if res.status == 2:
            msg = f"{self.name}: HiGHS proved the model infeasible ({self._infeasible_hint()})"
            raise InfeasibleError(msg)
        if res.status not in (0, 1):
            msg = f"{self.name}: HiGHS stopped without a usable answer: {res.message}"
            raise InfeasibleError(msg)
        dual = getattr(res, "mip_dual_bound", None)
        if dual is None or not np.isfinite(dual):
            dual = res.fun if res.status == 0 and res.fun is not None else math.nan
        bound = sign * float(dual) + offset if not math.isnan(dual) else math.nan
        return res.x, bound, res.status == 0

    def _infeasible_hint(self) -> str:
        r = self.rules
        parts = [f"{r.free.size} free candidates", f"{int(r.forced.sum())} locked"]
        if r.p is not None:
            parts.append(f"p={r.p}")
        if r.budget is not None:
            parts.append(f"budget={r.budget:g}")
        if r.group_room is not None:
            parts.append("caps per group")
        return ", ".join(parts) + "; relax the budget, caps or exclusions"

    def solve(
        self,
        time_limit: float | None = None,
        mip_gap: float | None = None,
        *,
        method: str = "auto",
        max_exact_size: int = DEFAULT_MAX_EXACT_SIZE,
        settings: Settings | None = None,
    ) -> SitingResult:
        """Solve the model.

        Parameters
        ----------
        time_limit
            Seconds for HiGHS (default ``settings.solver_time_limit_s``).
        mip_gap
            Relative gap at which HiGHS may stop (default ``settings.solver_mip_gap``).
        method
            ``"auto"`` (exact unless the model exceeds ``max_exact_size`` nonzeros),
            ``"exact"`` or ``"heuristic"``.
        max_exact_size
            Size limit for ``"auto"``.
        settings
            Engine settings supplying the defaults.

        Returns
        -------
        SitingResult

        Raises
        ------
        planning.errors.InfeasibleError
            The instance has no feasible solution (or none was found within the time limit).
        """
        t0 = time.perf_counter()
        settings = settings or DEFAULT
        time_limit = settings.solver_time_limit_s if time_limit is None else float(time_limit)
        mip_gap = settings.solver_mip_gap if mip_gap is None else float(mip_gap)
        if method not in ("auto", "exact", "heuristic"):
            msg = f"method must be 'auto', 'exact' or 'heuristic'; got {method!r}"
            raise InputError(msg, field="method")
        size = self._size() if method == "auto" else 0
        if method == "heuristic" or size > max_exact_size:
            sol = self._heuristic()
            if sol is None:
                msg = f"{self.name}: the heuristic found no solution meeting the constraints"
                raise InfeasibleError(msg)
            note = (
                "heuristic requested"
                if method == "heuristic"
                else (f"model size {size} nonzeros > max_exact_size {max_exact_size}")
            )
            return self._result(
                sol, "heuristic", self._relaxation_bound(), t0, note, method=HEUR + " (no proof)"
            )
        exact = self._exact(time_limit, mip_gap)
        sol, note = exact.solution, exact.note
        if not exact.optimal and not exact.heuristic_done:
            alt = self._heuristic()
            if alt is not None and (
                sol is None or self._better(self._evaluate(alt), self._evaluate(sol))
            ):
                sol = alt
                note = (note + "; " if note else "") + "incumbent from greedy+interchange"
        if sol is None:
            msg = (
                f"{self.name}: no feasible solution found within the time limit of "
                f"{time_limit:g} s (not proven infeasible); raise time_limit"
            )
            raise InfeasibleError(msg)
        fields = self._evaluate(sol)
        bound = exact.bound if exact.optimal else self._tighter_bound(exact.bound)
        gap = relative_gap(fields["objective"], bound)
        proven = not math.isnan(gap) and (
            gap <= mip_gap + 1e-6 or abs(fields["objective"] - bound) <= 1e-6
        )
        if proven:
            status = "optimal"
        elif math.isnan(bound):
            status = "time_limit_no_bound"
            note = (note + "; " if note else "") + (
                f"time limit {time_limit:g} s reached before HiGHS had a bound: the gap is unknown"
            )
        else:
            status = "time_limit_feasible"
        if exact.optimal and not proven and not note:
            note = "HiGHS reported optimal but the recomputed gap exceeds mip_gap"
        if status != "optimal" and not note:
            note = f"time limit {time_limit:g} s reached"
        return self._result(sol, status, bound, t0, note, fields=fields, method=exact.method)

    def _tighter_bound(self, bound: float) -> float:
        """Return the better of a proved ``bound`` and the model's simple relaxation bound.

        Both are valid bounds on the optimum (the relaxation one is e.g. every reachable demand
        covered, or every demand point at its nearest candidate); a bound from a search stopped
        early can be weaker than the simple one. An unknown (NaN) bound stays unknown.
        """
        if math.isnan(bound):
            return bound
        relax = self._relaxation_bound()
        if math.isnan(relax):
            return bound
        return min(bound, relax) if self.sense == "max" else max(bound, relax)

    def _better(self, a: dict[str, Any], b: dict[str, Any]) -> bool:
        if self.sense == "max":
            return a["objective"] > b["objective"] + 1e-9
        return a["objective"] < b["objective"] - 1e-9

    def _result(
        self,
        sol: Solution,
        status: str,
        bound: float,
        t0: float,
        note: str,
        fields: dict[str, Any] | None = None,
        method: str = "",
    ) -> SitingResult:
        fields = fields if fields is not None else self._evaluate(sol)
        selected = np.flatnonzero(sol.open)
        locked = self.rules.locked
        solver = "greedy+interchange" if status == "heuristic" else sol.solver
        return SitingResult(
            model=self.name,
            solver=solver,
            status=status,
            selected=selected,
            bound=bound,
            gap=relative_gap(fields["objective"], bound),
            runtime_s=time.perf_counter() - t0,
            sense=self.sense,
            new_sites=np.setdiff1d(selected, locked),
            closed=np.setdiff1d(locked, selected),
            message=note,
            method=method or ("heuristic " + HEUR if status == "heuristic" else "MILP"),
            **fields,
        )


def nearest_open(
    cost: np.ndarray, open_mask: np.ndarray, radius: float = math.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest open candidate and its cost per demand point (``-1``/``inf`` if none in radius)."""
    cols = np.flatnonzero(open_mask)
    if cols.size == 0:
        return np.full(cost.shape[0], -1), np.full(cost.shape[0], np.inf)
    sub = cost[:, cols]
    best = sub.argmin(axis=1)
    dist = sub[np.arange(cost.shape[0]), best]
    ok = np.isfinite(dist) & (dist <= radius)
    return np.where(ok, cols[best], -1), np.where(ok, dist, np.inf)
