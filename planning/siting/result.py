"""The one result type every siting model returns.

A :class:`SitingResult` is a frozen value: its arrays are read-only copies, so a result cached by
one browser session cannot be changed by another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import sparse

Status = Literal["optimal", "time_limit_feasible", "time_limit_no_bound", "heuristic"]
"""Result statuses.

``"optimal"``
    HiGHS proved the relative gap ``(objective - bound) / objective`` is within the requested
    ``mip_gap`` (with ``mip_gap=0`` that is a proven optimum, up to HiGHS's absolute
    tolerance of 1e-6).
``"time_limit_feasible"``
    The time limit stopped HiGHS with a feasible solution that is not proven within the gap;
    ``bound`` and ``gap`` say how far from optimal it may be.
``"time_limit_no_bound"``
    The time limit stopped HiGHS with a feasible solution before it had any dual bound:
    ``bound`` and ``gap`` are NaN, and nothing is known about the distance to the optimum.
``"heuristic"``
    Greedy + interchange only (instance above the exact size limit, or ``method="heuristic"``).
    ``bound`` is a cheap valid relaxation bound or NaN.

Infeasible instances never produce a result: they raise :class:`planning.errors.InfeasibleError`.
"""

STATUSES: tuple[str, ...] = ("optimal", "time_limit_feasible", "time_limit_no_bound", "heuristic")
SOLVERS: tuple[str, ...] = ("highs-milp", "greedy+interchange", "lagrangian+greedy")

_ARRAY_FIELDS = ("selected", "assignment", "new_sites", "closed", "load")


def _readonly(values: Any, dtype: Any) -> np.ndarray:
    arr = np.array(values, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class SitingResult:
    """Solution of one siting model.

    Attributes
    ----------
    model
        Model name, e.g. ``"p-median"``.
    solver
        ``"highs-milp"`` or ``"greedy+interchange"`` (who found the reported solution).
    status
        One of :data:`STATUSES`; ``"optimal"`` only when the gap is proven within ``mip_gap``.
    selected
        Sorted candidate indices that are open (locked sites included).
    assignment
        For each demand point the candidate index serving it (the largest share for split
        capacitated allocations), ``-1`` when unassigned or uncovered.
    objective
        Objective value of ``selected`` recomputed from the data (not the solver's rounded
        value). Its sense is ``sense``.
    bound
        Best proven bound on the optimum (lower bound when minimising, upper when maximising);
        NaN when none is known.
    gap
        ``|objective - bound| / |objective|`` (0 when both are 0); NaN without a bound.
    runtime_s
        Wall-clock seconds spent in ``solve`` (building and solving).
    sense
        ``"min"`` or ``"max"``.
    new_sites
        Selected candidates that were not locked (the sites to build).
    closed
        Locked candidates the model closed (only with ``closable``).
    covered_weight, total_weight
        Demand weight covered / served and the total weight, where meaningful.
    max_cost
        Largest demand-to-assigned-site cost over assigned demand points.
    allocation
        Capacitated models only: sparse ``(n_demand, n_candidates)`` matrix of the share of each
        demand point's demand served by each candidate (rows sum to 1 for served demand).
    load
        Capacitated models only: demand served by each candidate.
    message
        Human-readable note (why a heuristic was used, what limited the run).
    method
        The formulation or algorithm that produced the result, e.g. ``"radius formulation,
        812 levels, 2 rounds"``, ``"classic formulation (x_ij, y_j)"`` or the heuristic's name,
        with any rounding of costs it used.
    """

    model: str
    solver: str
    status: str
    selected: np.ndarray
    assignment: np.ndarray
    objective: float
    bound: float
    gap: float
    runtime_s: float
    sense: str = "min"
    new_sites: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    closed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    covered_weight: float = math.nan
    total_weight: float = math.nan
    max_cost: float = math.nan
    allocation: sparse.csr_array | None = None
    load: np.ndarray | None = None
    message: str = ""
    method: str = ""

    def __post_init__(self) -> None:
        # Frozen dataclass: replace the arrays by read-only copies (the only setattr used).
        for name in _ARRAY_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            dtype = np.float64 if name == "load" else np.int64
            object.__setattr__(self, name, _readonly(value, dtype))
        if self.status not in STATUSES:
            msg = f"unknown status {self.status!r}; expected one of {', '.join(STATUSES)}"
            raise ValueError(msg)

    @property
    def is_optimal(self) -> bool:
        """``True`` when the optimum is proven (within the requested gap)."""
        return self.status == "optimal"

    @property
    def n_selected(self) -> int:
        """Number of open sites."""
        return int(self.selected.size)

    @property
    def coverage_share(self) -> float:
        """``covered_weight / total_weight`` (NaN when not meaningful)."""
        if not self.total_weight or math.isnan(self.total_weight):
            return math.nan
        return self.covered_weight / self.total_weight

    def summary(self) -> dict[str, Any]:
        """Scalar fields as a plain dict (for tables and JSON)."""
        return {
            "model": self.model,
            "solver": self.solver,
            "status": self.status,
            "n_selected": self.n_selected,
            "n_new": int(self.new_sites.size),
            "n_closed": int(self.closed.size),
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "runtime_s": self.runtime_s,
            "covered_weight": self.covered_weight,
            "total_weight": self.total_weight,
            "max_cost": self.max_cost,
            "message": self.message,
            "method": self.method,
        }


def relative_gap(objective: float, bound: float) -> float:
    """HiGHS's relative gap ``|objective - bound| / |objective|``; NaN without a bound."""
    if math.isnan(bound) or math.isnan(objective):
        return math.nan
    diff = abs(objective - bound)
    if diff <= 1e-12 * max(1.0, abs(objective)):
        return 0.0
    if objective == 0:
        return math.inf
    return diff / abs(objective)
