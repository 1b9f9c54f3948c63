"""TownshipCover: every township without a station gets one (精康 coverage of 乡镇/街道).

Policy asks for a rehabilitation station in every township / sub-district. This model opens the
fewest (or cheapest) new sites so that each township lacking one is served, optionally trading
site cost against patients' travel time.
"""

from __future__ import annotations

import math
from typing import Any, Unpack

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from planning.errors import InfeasibleError, InputError
from planning.siting.base import (
    HEUR,
    Exact,
    SitingModel,
    Solution,
    _fmt_indices,
    as_cost_matrix,
    as_vector,
    make_rules,
)
from planning.siting.heuristics import greedy_cover
from planning.siting.models import RuleOptions, _radius, _y_program


class TownshipCover(SitingModel):
    r"""Every township without a station gets at least one, at least total cost.

    Rows of ``cost`` are demand points labelled by township (``unit_ids``; by default one row per
    township). Candidate ``j`` *serves* township ``u`` when it lies in ``u``
    (``candidate_units[j] == u``) or is within ``service_radius`` of a row of ``u``. Townships
    served by a locked site (or flagged in ``served``) need nothing.

    .. math::

        \min \sum_{j \in F} c_j y_j + \lambda \sum_{i \in N} \sum_{j \in S_{u(i)}} w_i d_{ij} x_{ij}
        \quad\text{s.t.}\quad \sum_{j \in S_u \cap F} y_j \ge 1 \;\; \forall u \in U_N,
        \;\; \sum_{j \in S_{u(i)}} x_{ij} = 1,\;\; x_{ij} \le y_j

    where ``U_N`` are the townships needing a station, ``N`` their rows, ``S_u`` the candidates
    serving ``u`` and ``λ = travel_weight``. With ``λ = 0`` (default) ``x`` is not built and this
    is a set cover over townships (``c_j = 1``: fewest new sites).

    With ``λ > 0`` and several demand rows per township, a site costs ``c_j`` against
    ``λ × weight × minutes``: with population weights the travel term dominates and the model
    opens many sites. Scale ``travel_weight`` (e.g. 1 / total weight) or cap sites per township
    (``groups=``, ``max_per_group=1``) to get one well-placed site per township.
    """

    name = "township-cover"

    @classmethod
    def from_cost_matrix(
        cls,
        cost: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        candidate_units: ArrayLike | None = None,
        unit_ids: ArrayLike | None = None,
        service_radius: float | None = None,
        served: ArrayLike | None = None,
        travel_weight: float = 0.0,
        **options: Unpack[RuleOptions],
    ) -> TownshipCover:
        """Build from ``cost[demand, candidate]`` and township labels.

        Raises
        ------
        planning.errors.InfeasibleError
            A township needing a station has no available candidate serving it.
        """
        cost = as_cost_matrix(cost)
        n, m = cost.shape
        model = cls(cost, as_vector(weights, n, "weights", default=1.0), make_rules(m, **options))
        if candidate_units is None and service_radius is None:
            msg = "TownshipCover needs candidate_units= (each candidate's unit) or service_radius="
            raise InputError(msg, field="candidate_units")
        units = np.arange(n) if unit_ids is None else np.asarray(unit_ids, dtype=object).ravel()
        if units.size != n:
            msg = f"unit_ids has {units.size} labels but cost has {n} rows"
            raise InputError(msg, field="unit_ids")
        cand = (
            np.full(m, None, dtype=object)
            if candidate_units is None
            else np.asarray(candidate_units, dtype=object).ravel()
        )
        if cand.size != m:
            msg = f"candidate_units has {cand.size} labels but cost has {m} columns"
            raise InputError(msg, field="candidate_units")
        codes, labels = pd.factorize(pd.Series(np.concatenate([units, cand])), use_na_sentinel=True)
        row_code, cand_code = codes[:n], codes[n:]
        if (row_code < 0).any():
            msg = (
                f"unit_ids has missing labels at rows {_fmt_indices(np.flatnonzero(row_code < 0))}"
            )
            raise InputError(msg, field="unit_ids")
        n_units = int(row_code.max()) + 1 if n else 0
        model.travel_weight = float(travel_weight)
        eligible = (cand_code[None, :] == row_code[:, None]) & (cand_code >= 0)[None, :]
        if service_radius is not None:
            eligible |= cost <= _radius(service_radius)
        if model.travel_weight > 0:
            eligible &= np.isfinite(cost)
        member = sparse.csr_array((np.ones(n), (row_code, np.arange(n))), shape=(n_units, n))
        unit_elig = (member @ eligible.astype(np.float64)) > 0
        served_u = unit_elig[:, model.rules.forced].any(axis=1)
        if served is not None:
            flag = np.asarray(served, dtype=bool).ravel()
            if flag.size != n:
                msg = f"served has {flag.size} values but cost has {n} rows"
                raise InputError(msg, field="served")
            served_u |= (member @ flag.astype(np.float64)) > 0
        rules = model.rules
        need_u = ~served_u
        bad = np.flatnonzero(need_u & ~unit_elig[:, rules.free].any(axis=1))
        if bad.size:
            names = ", ".join(str(labels[u]) for u in bad[:20])
            msg = (
                f"{bad.size} townships without a station have no available candidate in them "
                f"or within reach: {names}; add candidates there or raise service_radius"
            )
            raise InfeasibleError(msg)
        model.row_code, model.eligible = row_code, eligible
        model.need_rows = np.flatnonzero(need_u[row_code])
        model.cover = sparse.csc_array(unit_elig[need_u][:, rules.free])
        model.served_u = served_u
        return model

    def _size(self) -> int:
        extra = 3 * int(self.eligible[self.need_rows].sum()) if self.travel_weight > 0 else 0
        return int(self.cover.nnz) + extra

    def _exact(self, time_limit: float, mip_gap: float) -> Exact:
        rules = self.rules
        nf = rules.free.size
        prog = _y_program(self, rules.site_cost[rules.free])
        prog.add_matrix(sparse.coo_array(self.cover), 0, 1.0, np.inf)
        if self.travel_weight > 0 and self.need_rows.size:
            pos = np.full(rules.n, -1)
            pos[rules.free] = np.arange(nf)
            el = self.eligible[self.need_rows][:, rules.free]
            r_local, col = np.nonzero(el)
            rows = self.need_rows[r_local]
            c = self.travel_weight * self.weights[rows] * self.cost[rows, rules.free[col]]
            x0 = prog.add_vars(col.size, cost=c)
            idx = x0 + np.arange(col.size)
            prog.add_rows(self.need_rows.size, r_local, idx, 1.0, 1.0, 1.0)
            prog.add_rows(
                col.size,
                np.tile(np.arange(col.size), 2),
                np.concatenate([idx, col]),
                np.concatenate([np.ones(col.size), -np.ones(col.size)]),
                -np.inf,
                0.0,
            )
        x, bound, optimal = self._run(prog, time_limit, mip_gap)
        sol = None if x is None else Solution(self._open_mask(x[:nf]))
        return Exact(sol, bound, optimal)

    def _heuristic(self) -> Solution | None:
        chosen = greedy_cover(
            self.cover, self.rules.site_cost[self.rules.free], limits=self.rules.limits()
        )
        return None if chosen is None else Solution(self._open_mask(chosen), solver=HEUR)

    def _relaxation_bound(self) -> float:
        costs = self.rules.site_cost[self.rules.free]
        site = 0.0
        if self.cover.shape[0]:
            site = float(np.where(self.cover.toarray(), costs, np.inf).min(axis=1).max())
        if self.travel_weight > 0 and self.need_rows.size:
            el = self.eligible[self.need_rows][:, self.rules.free]
            d = np.where(el, self.cost[self.need_rows][:, self.rules.free], np.inf).min(axis=1)
            site += self.travel_weight * float(self.weights[self.need_rows] @ d)
        return site

    def _evaluate(self, sol: Solution) -> dict[str, Any]:
        rules = self.rules
        masked = np.where(self.eligible & sol.open[None, :], self.cost, np.inf)
        assign = masked.argmin(axis=1)
        dist = masked[np.arange(masked.shape[0]), assign]
        has = self.eligible[np.arange(masked.shape[0]), assign] & sol.open[assign]
        assign = np.where(has, assign, -1)
        objective = float(rules.site_cost[rules.free][sol.open[rules.free]].sum())
        if self.travel_weight > 0 and self.need_rows.size:
            objective += self.travel_weight * float(
                self.weights[self.need_rows] @ dist[self.need_rows]
            )
        unit_ok = self.served_u.copy()
        np.logical_or.at(unit_ok, self.row_code, has)
        covered = unit_ok[self.row_code]
        return {
            "objective": objective,
            "assignment": assign,
            "covered_weight": float(self.weights[covered].sum()),
            "total_weight": float(self.weights.sum()),
            "max_cost": float(dist[has].max()) if has.any() else math.nan,
        }
