r"""Plans by milestone year: which stations open when, under a budget per year.

:class:`MultiPeriodCover` schedules new stations over years :math:`t = 1..T` (e.g. 2025, 2026,
2027). A station opened in year ``t`` costs its ``site_cost`` in ``t`` and its ``staff_cost``
in ``t`` and every later year; existing (locked) stations stay open and their cost is already
funded. With ``y_{jt} = 1`` when site ``j`` is open in year ``t``:

.. math::

    \max \sum_t \sum_i w_i z_{it} \quad\text{s.t.}\quad
    z_{it} \le \sum_{j \in F:\, d_{ij} \le T} y_{jt},\;\; y_{jt} \ge y_{j,t-1},\\
    \sum_j c_j (y_{jt} - y_{j,t-1}) + \sum_j s_j y_{jt} \le B_t,\;\;
    \sum_i w_i z_{it} + W^{\text{locked}} \ge \tau_t W \;(\text{milestone targets}),\;\;
    0 \le z \le 1,\; y \in \{0,1\}

Maximising coverage summed over the years opens the most useful stations as early as the
budgets allow, so every milestone target ``τ_t`` is met as early as it can be. Unspent budget
does not carry over (one budget per year). Demand points with identical covering sets are
merged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from planning.errors import InfeasibleError, InputError
from planning.settings import DEFAULT, Settings
from planning.siting.base import Program, as_cost_matrix, as_vector, make_rules
from planning.siting.models import _radius, _unique_rows
from planning.siting.result import relative_gap


@dataclass(frozen=True)
class YearPlan:
    """Years, budgets and milestone targets of a multi-period plan.

    Attributes
    ----------
    years
        Milestone years in order, e.g. ``(2025, 2026, 2027)``.
    budget
        Budget per year (same currency as ``site_cost`` and ``staff_cost``).
    targets
        Required covered share per year (``nan`` or 0 for none).
    """

    years: tuple[int, ...]
    budget: tuple[float, ...]
    targets: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.years or list(self.years) != sorted(set(self.years)):
            msg = f"years must be increasing and distinct; got {self.years}"
            raise InputError(msg, field="years")
        if len(self.budget) != len(self.years):
            msg = f"{len(self.budget)} budgets for {len(self.years)} years"
            raise InputError(msg, field="budget")
        if any(not math.isfinite(b) or b < 0 for b in self.budget):
            msg = "budgets must be finite and >= 0"
            raise InputError(msg, field="budget")
        if self.targets is not None and len(self.targets) != len(self.years):
            msg = f"{len(self.targets)} targets for {len(self.years)} years"
            raise InputError(msg, field="targets")

    @classmethod
    def from_text(cls, years: str, budget: str, targets: str = "") -> YearPlan:
        """Build from comma-separated text, as typed in a form or on the command line.

        Parameters
        ----------
        years, budget : str
            E.g. ``"2025,2026,2027"`` and ``"300000,300000,300000"``.
        targets : str
            Covered share per year, e.g. ``"0.8,0.9,1.0"``; empty for none.

        Returns
        -------
        YearPlan

        Raises
        ------
        InputError
            A value that is not a number (naming the field), or the checks above.
        """
        def numbers(text: str, field: str, cast: type) -> tuple:
            try:
                return tuple(cast(v.strip()) for v in text.replace("，", ",").split(",")
                             if v.strip())
            except ValueError:
                msg = f"{field} must be numbers separated by commas; got {text!r}"
                raise InputError(msg, field=field, key="bad_number_list") from None

        tg = numbers(targets, "targets", float) if targets.strip() else None
        return cls(numbers(years, "years", int), numbers(budget, "budget", float), tg)


@dataclass(frozen=True, eq=False)
class MultiPeriodResult:
    """What opens when, and the indicators per year.

    Attributes
    ----------
    status
        ``"optimal"`` (gap proven within ``mip_gap``), ``"time_limit_feasible"`` or
        ``"time_limit_no_bound"``.
    objective
        Covered weight summed over the years.
    bound, gap
        Best upper bound on ``objective`` and the relative gap.
    opened
        Year each candidate opens (``-1`` never; locked sites carry the first year).
    schedule
        One row per new station: ``site``, ``year``, ``site_cost``, ``staff_cost``.
    kpis
        One row per year: ``year``, ``new_sites``, ``open_sites``, ``spend``, ``budget``,
        ``covered_weight``, ``covered_share``, ``target``, ``target_met``.
    runtime_s
        Seconds spent.
    method
        Formulation used.
    """

    status: str
    objective: float
    bound: float
    gap: float
    opened: np.ndarray
    schedule: pd.DataFrame
    kpis: pd.DataFrame
    runtime_s: float
    method: str = "multi-period MILP (HiGHS)"


class MultiPeriodCover:
    """Open stations year by year under annual budgets (see the module docstring)."""

    def __init__(
        self,
        cost: np.ndarray,
        weights: np.ndarray,
        radius: float,
        plan: YearPlan,
        costs: tuple[np.ndarray, np.ndarray],
        sites: tuple[np.ndarray, np.ndarray],
    ) -> None:
        self.cost, self.weights, self.radius, self.plan = cost, weights, radius, plan
        self.site_cost, self.staff_cost = costs
        self.locked, self.free = sites  # bool mask of locked sites, indices of free ones

    @classmethod
    def from_cost_matrix(
        cls,
        cost: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        service_radius: float,
        plan: YearPlan,
        site_cost: ArrayLike | None = None,
        staff_cost: ArrayLike | None = None,
        locked: ArrayLike | None = None,
        excluded: ArrayLike | None = None,
    ) -> MultiPeriodCover:
        """Build from ``cost[demand, candidate]``.

        Parameters
        ----------
        cost, weights
            Travel cost (``inf`` unreachable) and weight per demand point.
        service_radius
            A demand point is covered by an open site within this cost.
        plan
            Years, budgets and targets.
        site_cost
            One-off cost of opening each candidate (default 1).
        staff_cost
            Yearly running cost of each new station (default 0).
        locked, excluded
            Existing stations (kept open) and candidates never opened.
        """
        cost = as_cost_matrix(cost)
        n, m = cost.shape
        rules = make_rules(m, locked=locked, excluded=excluded)
        return cls(
            cost,
            as_vector(weights, n, "weights", default=1.0),
            _radius(service_radius),
            plan,
            (
                as_vector(site_cost, m, "site_cost", default=1.0),
                as_vector(staff_cost, m, "staff_cost", default=0.0),
            ),
            (rules.forced, rules.free),
        )

    def _covered(self, open_mask: np.ndarray) -> np.ndarray:
        cols = np.flatnonzero(open_mask)
        if cols.size == 0:
            return np.zeros(self.cost.shape[0], dtype=bool)
        return (self.cost[:, cols] <= self.radius).any(axis=1)

    def solve(
        self,
        time_limit: float | None = None,
        mip_gap: float | None = None,
        *,
        settings: Settings | None = None,
    ) -> MultiPeriodResult:
        """Solve the schedule with HiGHS.

        Parameters
        ----------
        time_limit, mip_gap
            HiGHS limits (defaults from ``settings``).
        settings
            Engine settings supplying the defaults.

        Returns
        -------
        MultiPeriodResult

        Raises
        ------
        planning.errors.InfeasibleError
            A milestone target cannot be met with the budgets (HiGHS proved it).
        """
        t0 = time.perf_counter()
        settings = settings or DEFAULT
        time_limit = settings.solver_time_limit_s if time_limit is None else float(time_limit)
        mip_gap = settings.solver_mip_gap if mip_gap is None else float(mip_gap)
        n_t = len(self.plan.years)
        nf = self.free.size
        within = self.cost <= self.radius
        base = within[:, self.locked].any(axis=1)
        sub = within[~base][:, self.free]
        keep = sub.any(axis=1)
        first, inverse = _unique_rows(sub[keep])
        cover = sparse.coo_array(sub[keep][first])
        rw = np.bincount(inverse, weights=self.weights[~base][keep], minlength=first.size)
        n_r = first.size
        base_w = float(self.weights[base].sum())
        total = float(self.weights.sum())
        prog = Program()
        y0 = prog.add_vars(nf * n_t, integer=True)  # y[t * nf + j]
        z0 = prog.add_vars(n_r * n_t, cost=np.tile(-rw, n_t))
        c, s = self.site_cost[self.free], self.staff_cost[self.free]
        for t in range(n_t):
            yt = y0 + t * nf + np.arange(nf)
            zt = z0 + t * n_r + np.arange(n_r)
            prog.add_rows(
                n_r,
                np.concatenate([np.arange(n_r), cover.row]),
                np.concatenate([zt, yt[cover.col]]),
                np.concatenate([np.ones(n_r), -np.ones(cover.nnz)]),
                -np.inf,
                0.0,
            )
            if t > 0:
                prev = yt - nf
                prog.add_rows(
                    nf,
                    np.tile(np.arange(nf), 2),
                    np.concatenate([yt, prev]),
                    np.concatenate([np.ones(nf), -np.ones(nf)]),
                    0.0,
                    np.inf,
                )
                cols = np.concatenate([yt, prev])
                vals = np.concatenate([c + s, -c])
            else:
                cols, vals = yt, c + s
            prog.add_rows(
                1, np.zeros(cols.size, dtype=np.int64), cols, vals, -np.inf, self.plan.budget[t]
            )
            target = self.plan.targets[t] if self.plan.targets is not None else math.nan
            if math.isfinite(target) and target > 0:
                need = target * total - base_w
                prog.add_rows(1, np.zeros(n_r, dtype=np.int64), zt, rw, need - 1e-9, np.inf)
        res = prog.solve(time_limit, mip_gap)
        if res.status == 2:
            msg = (
                "multi-period plan: HiGHS proved the milestone targets cannot be met with these "
                "budgets; raise the budgets or lower the targets"
            )
            raise InfeasibleError(msg)
        if res.x is None:
            msg = f"multi-period plan: no feasible schedule within {time_limit:g} s"
            raise InfeasibleError(msg)
        y = res.x[y0 : y0 + nf * n_t].reshape(n_t, nf) > 0.5
        opened = np.full(self.cost.shape[1], -1, dtype=np.int64)
        opened[self.locked] = self.plan.years[0]
        first_year = np.where(y.any(axis=0), y.argmax(axis=0), -1)
        for j, t in zip(self.free, first_year, strict=True):
            if t >= 0:
                opened[j] = self.plan.years[t]
        return self._report(opened, res, mip_gap, base_w, t0)

    def _report(
        self, opened: np.ndarray, res: Any, mip_gap: float, base_w: float, t0: float
    ) -> MultiPeriodResult:
        years = self.plan.years
        rows, objective = [], 0.0
        total = float(self.weights.sum())
        prev_open = np.zeros(opened.size, dtype=bool)
        for t, year in enumerate(years):
            open_t = (opened >= 0) & (opened <= year)
            new = open_t & ~prev_open & ~self.locked
            running = open_t & ~self.locked
            spend = float(self.site_cost[new].sum() + self.staff_cost[running].sum())
            cov = float(self.weights[self._covered(open_t)].sum())
            objective += cov - base_w
            target = self.plan.targets[t] if self.plan.targets is not None else math.nan
            rows.append(
                {
                    "year": year,
                    "new_sites": int(new.sum()),
                    "open_sites": int(open_t.sum()),
                    "spend": spend,
                    "budget": self.plan.budget[t],
                    "covered_weight": cov,
                    "covered_share": cov / total if total else math.nan,
                    "target": target,
                    "target_met": bool(cov >= target * total - 1e-9)
                    if math.isfinite(target)
                    else True,
                }
            )
            prev_open = open_t
        n_t = len(years)
        dual = getattr(res, "mip_dual_bound", None)
        if dual is None or not np.isfinite(dual):
            dual = res.fun if res.status == 0 else math.nan
        bound = -float(dual) + base_w * n_t if not math.isnan(dual) else math.nan
        objective += base_w * n_t
        gap = relative_gap(objective, bound)
        if not math.isnan(gap) and gap <= mip_gap + 1e-9:
            status = "optimal"
        elif math.isnan(bound):
            status = "time_limit_no_bound"
        else:
            status = "time_limit_feasible"
        new = (opened >= 0) & ~self.locked
        schedule = pd.DataFrame(
            {
                "site": np.flatnonzero(new),
                "year": opened[new],
                "site_cost": self.site_cost[new],
                "staff_cost": self.staff_cost[new],
            }
        ).sort_values(["year", "site"], ignore_index=True)
        return MultiPeriodResult(
            status=status,
            objective=objective,
            bound=bound,
            gap=gap,
            opened=opened,
            schedule=schedule,
            kpis=pd.DataFrame(rows),
            runtime_s=time.perf_counter() - t0,
        )
