"""Exact location-allocation for rehabilitation stations.

Every model is built from a cost matrix ``cost[demand, candidate]`` with ``from_cost_matrix``
and solved with ``solve(time_limit=..., mip_gap=...)``, returning a frozen
:class:`SitingResult`. HiGHS (through :func:`scipy.optimize.milp`) proves optimality; greedy +
interchange answers instances above the exact size limit. Candidate sites come from
:mod:`planning.siting.candidates`.
"""

from __future__ import annotations

from planning.siting.capacitated import CapacitatedMCLP, CapacitatedPMedian
from planning.siting.fairness import FairCover, FairnessResult
from planning.siting.models import LSCP, MCLP, PCenter, PMedian, RuleOptions
from planning.siting.multiperiod import MultiPeriodCover, MultiPeriodResult, YearPlan
from planning.siting.result import STATUSES, SitingResult
from planning.siting.township import TownshipCover

__all__ = [
    "LSCP",
    "MCLP",
    "STATUSES",
    "CapacitatedMCLP",
    "CapacitatedPMedian",
    "FairCover",
    "FairnessResult",
    "MultiPeriodCover",
    "MultiPeriodResult",
    "PCenter",
    "PMedian",
    "RuleOptions",
    "SitingResult",
    "TownshipCover",
    "YearPlan",
]
