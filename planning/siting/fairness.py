r"""Fair maximal covering: every township reaches a share of residents within ``T`` minutes.

:class:`FairCover` is the MCLP of :mod:`planning.siting.models` with township rows added:

.. math::

    \max \sum_i w_i z_i \quad\text{s.t.}\quad z_i \le \sum_{j \in F:\, d_{ij} \le T} y_j,\;\;
    \sum_{i \in g} w_i z_i \ge \alpha_g W_g \;\; \forall g,\;\; \sum_{j \in F} y_j = p + |C|

(``mode="min_share"``, ``α_g`` the required share, ``W_g`` township ``g``'s weight; townships
that cannot reach ``α_g`` even with every candidate open are held to what they can reach and
reported), or, with ``mode="maximin"``, first the worst township's share ``s`` of what it can
reach is maximised (:math:`\sum_{i \in g} w_i z_i \ge s\, R_g`, ``R_g`` the weight of ``g``
within ``T`` of some available candidate: a township nothing can reach does not hold every other
one at zero) and then total coverage subject to that ``s``.

:meth:`FairCover.solve` also solves the plain MCLP on the same data and reports the *price of
fairness*: the share of total covered weight the fairness rows cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Unpack

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from planning.errors import InputError
from planning.settings import DEFAULT, Settings
from planning.siting.base import (
    Exact,
    Program,
    SitingModel,
    Solution,
    as_cost_matrix,
    as_vector,
    make_rules,
)
from planning.siting.models import MCLP, RuleOptions, _coverage_fields, _radius, _y_program
from planning.siting.result import SitingResult


@dataclass(frozen=True, eq=False)
class FairnessResult:
    """A fair plan next to the unconstrained one.

    Attributes
    ----------
    result
        The fair plan (status, objective = total covered weight, bound, gap).
    baseline
        The plain MCLP on the same data (no township rows).
    shares
        One row per township: ``township``, ``weight``, ``required_share``, ``reachable_share``
        (every candidate open), ``baseline_share``, ``fair_share``.
    price_of_fairness
        ``(baseline.objective - result.objective) / baseline.objective`` (0 when fairness costs
        nothing). Exact only when both plans are proven optimal; otherwise see their gaps.
    worst_share
        Lowest share of a township's weight within ``T`` in the fair plan, among the townships
        some available candidate can reach (``nan`` when none can).
    baseline_worst_share
        The same for the plain MCLP's plan.
    unreachable
        Townships (with weight) that no available candidate reaches within ``T``.
    mode
        ``"min_share"`` or ``"maximin"``.
    """

    result: SitingResult
    baseline: SitingResult
    shares: pd.DataFrame
    price_of_fairness: float
    worst_share: float
    baseline_worst_share: float
    unreachable: int
    mode: str


class FairCover(SitingModel):
    """Maximal covering with a minimum share per township (see the module docstring)."""

    name = "fair-mclp"
    sense = "max"

    @classmethod
    def from_cost_matrix(
        cls,
        cost: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        service_radius: float,
        p: int,
        townships: ArrayLike,
        min_share: float | dict[Any, float] = 0.0,
        mode: str = "min_share",
        **options: Unpack[RuleOptions],
    ) -> FairCover:
        """Build from ``cost[demand, candidate]`` with one township label per demand point.

        Parameters
        ----------
        cost, weights
            Travel cost (``inf`` unreachable) and residents per demand point.
        service_radius
            ``T``: a resident is served within ``T``.
        p
            New sites.
        townships
            Township label of each demand point.
        min_share
            Required share per township (scalar or dict label → share), ``mode="min_share"``.
        mode
            ``"min_share"`` or ``"maximin"``.
        **options
            Shared rules (:class:`~planning.siting.models.RuleOptions`).
        """
        if mode not in ("min_share", "maximin"):
            msg = f"mode must be 'min_share' or 'maximin'; got {mode!r}"
            raise InputError(msg, field="mode")
        cost = as_cost_matrix(cost)
        n, m = cost.shape
        w = as_vector(weights, n, "weights", default=1.0)
        model = cls(cost, w, make_rules(m, p=p, **options))
        model.radius = _radius(service_radius)
        model.mode = mode
        model.options = dict(options)
        labels = pd.Series(np.asarray(townships, dtype=object).ravel())
        if labels.size != n:
            msg = f"townships has {labels.size} labels but cost has {n} rows"
            raise InputError(msg, field="townships")
        codes, names = pd.factorize(labels)
        model.codes, model.names = codes, np.asarray(names, dtype=object)
        g = names.size
        if isinstance(min_share, dict):
            req = np.array([float(min_share.get(lab, 0.0)) for lab in names])
        else:
            req = np.full(g, float(min_share))
        if (req < 0).any() or (req > 1).any():
            msg = "min_share must lie in [0, 1]"
            raise InputError(msg, field="min_share")
        rules = model.rules
        within = cost <= model.radius
        model.within_free = within[:, rules.free]
        model.base_cover = within[:, rules.forced].any(axis=1)
        avail = rules.forced.copy()
        avail[rules.free] = True
        reach = within[:, avail].any(axis=1)
        model.group_weight = np.bincount(codes, weights=model.weights, minlength=g)
        reach_w = np.bincount(codes, weights=model.weights * reach, minlength=g)
        model.reachable = np.divide(
            reach_w, model.group_weight, out=np.ones(g), where=model.group_weight > 0
        )
        model.required = np.minimum(req, model.reachable)
        return model

    # -- model ------------------------------------------------------------------------------
    def _size(self) -> int:
        return int(self.within_free.sum())

    def _program(self, share: float | None):
        """MILP with the township rows; ``share`` fixes the maximin level (``None``: variable)."""
        nf = self.rules.free.size
        prog = _y_program(self)
        rows = np.flatnonzero(~self.base_cover & self.within_free.any(axis=1))
        w = self.weights
        maximin = self.mode == "maximin" and share is None
        z0 = prog.add_vars(rows.size, cost=0.0 if maximin else -w[rows])
        a = sparse.coo_array(self.within_free[rows])
        prog.add_rows(
            rows.size,
            np.concatenate([np.arange(rows.size), a.row]),
            np.concatenate([z0 + np.arange(rows.size), a.col]),
            np.concatenate([np.ones(rows.size), -np.ones(a.nnz)]),
            -np.inf,
            0.0,
        )
        g = self.names.size
        base_w = np.bincount(self.codes, weights=w * self.base_cover, minlength=g)
        # sum_{i in g} w_i z_i + base_g >= level_g * W_g
        r_idx = self.codes[rows]
        if maximin:
            s0 = prog.add_vars(1, cost=-1.0, ub=1.0)
            rr = np.concatenate([r_idx, np.arange(g)])
            cc = np.concatenate([z0 + np.arange(rows.size), np.full(g, s0)])
            vv = np.concatenate([w[rows], -self.reachable * self.group_weight])
            prog.add_rows(g, rr, cc, vv, -base_w, np.inf)
        else:
            level = self.required if share is None else share * self.reachable
            need = level * self.group_weight - base_w
            prog.add_rows(g, r_idx, z0 + np.arange(rows.size), w[rows], need - 1e-9, np.inf)
        return prog, nf

    def _exact(self, time_limit: float, mip_gap: float) -> Exact:
        offset = float(self.weights[self.base_cover].sum())
        if self.mode == "maximin":
            prog, nf = self._program(None)
            x, bound, optimal = self._run_raw(prog, time_limit, mip_gap)
            if x is None:
                return Exact(None, math.nan, False)
            level = self._worst(self._open_mask(x[:nf]))
            if not optimal:
                sol = Solution(self._open_mask(x[:nf]))
                return Exact(sol, math.nan, False, note="maximin stage stopped at the time limit")
            self.maximin_level = level
            prog, nf = self._program(level)
        else:
            prog, nf = self._program(None)
        x, bound, optimal = self._run(prog, time_limit, mip_gap, offset=offset)
        sol = None if x is None else Solution(self._open_mask(x[:nf]))
        return Exact(sol, bound, optimal, method="MILP with township share rows")

    def _run_raw(
        self, prog: Program, time_limit: float, mip_gap: float
    ) -> tuple[np.ndarray | None, float, bool]:
        res = prog.solve(time_limit, mip_gap)
        if res.x is None:
            return None, math.nan, False
        return res.x, -float(getattr(res, "mip_dual_bound", res.fun)), res.status == 0

    def _worst(self, open_mask: np.ndarray) -> float:
        """Lowest share of what a township can reach (the maximin level of a plan)."""
        live = (self.group_weight > 0) & (self.reachable > 0)
        return float((self._shares(open_mask)[live] / self.reachable[live]).min(initial=1.0))

    def _shares(self, open_mask: np.ndarray) -> np.ndarray:
        fields = _coverage_fields(self, open_mask, self.radius)
        cov = fields["assignment"] >= 0
        got = np.bincount(self.codes, weights=self.weights * cov, minlength=self.names.size)
        return np.divide(got, self.group_weight, out=np.ones_like(got), where=self.group_weight > 0)

    def _heuristic(self) -> Solution | None:
        return None  # greedy ignores the township rows: no unlabelled fallback

    def _evaluate(self, sol: Solution) -> dict[str, Any]:
        fields = _coverage_fields(self, sol.open, self.radius)
        return {"objective": fields["covered_weight"], **fields}

    # -- public -----------------------------------------------------------------------------
    def solve_fair(
        self,
        time_limit: float | None = None,
        mip_gap: float | None = None,
        *,
        settings: Settings | None = None,
    ) -> FairnessResult:
        """Solve the fair plan and the plain MCLP; report shares and the price of fairness.

        Parameters
        ----------
        time_limit, mip_gap
            Per solve (defaults from ``settings``).
        settings
            Engine settings supplying the defaults.

        Returns
        -------
        FairnessResult
        """
        settings = settings or DEFAULT
        fair = self.solve(time_limit, mip_gap, method="exact", settings=settings)
        plain = MCLP.from_cost_matrix(
            self.cost, self.weights, service_radius=self.radius, p=self.rules.p, **self.options
        )
        baseline = plain.solve(time_limit, mip_gap, method="exact", settings=settings)
        fair_open = np.zeros(self.rules.n, dtype=bool)
        fair_open[fair.selected] = True
        base_open = np.zeros(self.rules.n, dtype=bool)
        base_open[baseline.selected] = True
        table = pd.DataFrame(
            {
                "township": self.names,
                "weight": self.group_weight,
                "required_share": self.required if self.mode == "min_share" else np.nan,
                "reachable_share": self.reachable,
                "baseline_share": self._shares(base_open),
                "fair_share": self._shares(fair_open),
            }
        )
        live = table[(table["weight"] > 0) & (table["reachable_share"] > 0)]
        price = (
            (baseline.objective - fair.objective) / baseline.objective
            if baseline.objective > 0
            else 0.0
        )
        return FairnessResult(
            result=fair,
            baseline=baseline,
            shares=table,
            price_of_fairness=max(price, 0.0) if abs(price) > 1e-12 else 0.0,
            worst_share=float(live["fair_share"].min()) if len(live) else math.nan,
            baseline_worst_share=float(live["baseline_share"].min()) if len(live) else math.nan,
            unreachable=int(((table["weight"] > 0) & (table["reachable_share"] <= 0)).sum()),
            mode=self.mode,
        )


__all__ = ["FairCover", "FairnessResult"]
