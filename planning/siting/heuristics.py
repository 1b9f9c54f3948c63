"""Greedy + interchange (Teitz–Bart vertex substitution) and greedy set cover.

These give upper bounds (for minimisation) and the whole answer for instances above the exact
size limit. They work on the *free* candidates only (those the model may open or close); sites
forced open enter through ``base``, the per-demand distance to the nearest forced site.

All work is vectorised over demand points and candidates; the only Python loops run over the
sites in the current solution (``k``) and over improvement passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse

Kind = Literal["sum", "max"]

_CHUNK_CELLS = 4_000_000  # demand x candidate cells evaluated at once (~32 MB of float64)
_TOL = 1e-9


@dataclass(frozen=True)
class SideLimits:
    """Limits a set of free sites must respect (all optional).

    Attributes
    ----------
    costs
        Budget cost per free candidate.
    budget
        Upper bound on ``costs[chosen].sum()``.
    group_codes
        Group (township) code per free candidate, ``-1`` for none.
    group_room
        Sites still allowed per group code (``inf`` when uncapped).
    capacities
        Capacity per free candidate, for ``min_capacity``.
    min_capacity
        Lower bound on ``capacities[chosen].sum()`` (total demand minus forced capacity).
    """

    costs: np.ndarray | None = None
    budget: float | None = None
    group_codes: np.ndarray | None = None
    group_room: np.ndarray | None = None
    capacities: np.ndarray | None = None
    min_capacity: float | None = None

    def can_add(self, chosen: np.ndarray, spent: float, room: np.ndarray | None) -> np.ndarray:
        """Mask of free candidates that may be added to ``chosen`` (bool mask)."""
        ok = ~chosen
        if self.budget is not None and self.costs is not None:
            ok &= spent + self.costs <= self.budget + _TOL
        if room is not None and self.group_codes is not None:
            has = self.group_codes >= 0
            ok &= ~has | (room[np.where(has, self.group_codes, 0)] >= 1)
        return ok


def _objective(m: np.ndarray, weights: np.ndarray, kind: Kind) -> tuple[np.ndarray, np.ndarray]:
    """Primary and tie-break values of each column of ``m`` (or of a vector)."""
    total = weights @ m
    if kind == "sum":
        return total, total
    return m.max(axis=0), total


def _eval_adds(
    cur: np.ndarray, dist: np.ndarray, weights: np.ndarray, kind: Kind
) -> tuple[np.ndarray, np.ndarray]:
    """Objective after adding each candidate column to a solution whose distances are ``cur``."""
    n, m = dist.shape
    step = max(1, _CHUNK_CELLS // max(n, 1))
    prim = np.empty(m)
    tie = np.empty(m)
    for lo in range(0, m, step):
        block = np.minimum(cur[:, None], dist[:, lo : lo + step])
        prim[lo : lo + step], tie[lo : lo + step] = _objective(block, weights, kind)
    return prim, tie


def _current(base: np.ndarray, dist: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    if not chosen.any():
        return base.copy()
    return np.minimum(base, dist[:, chosen].min(axis=1))


def _better(p1: float, t1: float, p0: float, t0: float) -> bool:
    scale = max(1.0, abs(p0))
    if p1 < p0 - _TOL * scale:
        return True
    return abs(p1 - p0) <= _TOL * scale and t1 < t0 - _TOL * max(1.0, abs(t0))


def _room_after(limits: SideLimits, chosen: np.ndarray) -> np.ndarray | None:
    if limits.group_room is None or limits.group_codes is None:
        return None
    codes = limits.group_codes[chosen]
    used = np.bincount(codes[codes >= 0], minlength=limits.group_room.size)
    return limits.group_room - used


def _capacity_ok(
    limits: SideLimits, chosen: np.ndarray, k: int | None, ok: np.ndarray
) -> np.ndarray:
    """Restrict additions so ``k`` sites can still reach ``min_capacity``."""
    if limits.min_capacity is None or limits.capacities is None or k is None:
        return ok
    caps = limits.capacities
    have = caps[chosen].sum()
    left = k - int(chosen.sum()) - 1  # slots after this addition
    rest = np.where(chosen, -np.inf, caps)
    order = np.argsort(-rest, kind="stable")
    top = np.concatenate([[0.0], np.cumsum(np.where(np.isfinite(rest[order]), rest[order], 0))])
    rank = np.empty(caps.size, dtype=np.int64)
    rank[order] = np.arange(caps.size)
    # best total with candidate j plus the `left` largest others
    others = np.where(
        rank < left, top[min(left + 1, top.size - 1)] - caps, top[min(left, top.size - 1)]
    )
    return ok & (have + caps + others >= limits.min_capacity - _TOL)


def interchange(
    dist: np.ndarray,
    base: np.ndarray,
    weights: np.ndarray,
    *,
    k: int | None,
    kind: Kind = "sum",
    limits: SideLimits | None = None,
    max_passes: int = 100,
) -> np.ndarray | None:
    """Greedy construction then Teitz–Bart interchange.

    Minimises ``sum_i w_i min(base_i, min_{j in S} dist_ij)`` (``kind="sum"``: p-median and,
    with 0/1 distances, maximal covering) or its maximum (``kind="max"``: p-center, ties broken
    by the weighted sum).

    Parameters
    ----------
    dist
        ``(n_demand, n_free)`` finite distances to the free candidates.
    base
        ``(n_demand,)`` distance to the nearest forced-open site (a large finite penalty if none).
    weights
        Demand weights.
    k
        Exact number of free sites to open; ``None`` to add sites while they improve the
        objective and the budget allows (budget-limited covering).
    kind
        ``"sum"`` or ``"max"``.
    limits
        Budget, group caps and a minimum total capacity.
    max_passes
        Cap on improvement passes.

    Returns
    -------
    numpy.ndarray or None
        Boolean mask of chosen free candidates, or ``None`` when no set meeting the limits
        was found.
    """
    limits = limits or SideLimits()
    n_free = dist.shape[1]
    chosen = np.zeros(n_free, dtype=bool)
    costs = limits.costs if limits.costs is not None else np.zeros(n_free)
    cur = base.copy()
    # --- greedy ---------------------------------------------------------------------------
    while k is None or chosen.sum() < k:
        room = _room_after(limits, chosen)
        ok = limits.can_add(chosen, float(costs[chosen].sum()), room)
        ok = _capacity_ok(limits, chosen, k, ok)
        if not ok.any():
            if k is None:
                break
            return None
        prim, tie = _eval_adds(cur, dist, weights, kind)
        if k is None:
            p0, _ = _objective(cur[:, None], weights, kind)
            gain = np.where(ok, p0[0] - prim, -np.inf)
            if gain.max() <= _TOL * max(1.0, abs(p0[0])):
                break
            ratio = gain / np.maximum(costs, 1e-12)
            j = int(np.argmax(ratio))
        else:
            order = np.lexsort((tie, prim, ~ok))
            j = int(order[0])
        chosen[j] = True
        cur = np.minimum(cur, dist[:, j])
    # --- interchange ----------------------------------------------------------------------
    for _ in range(max_passes):
        if not _swap_once(dist, base, weights, chosen, kind, limits, costs):
            break
    return chosen


def _swap_once(
    dist: np.ndarray,
    base: np.ndarray,
    weights: np.ndarray,
    chosen: np.ndarray,
    kind: Kind,
    limits: SideLimits,
    costs: np.ndarray,
) -> bool:
    """Apply the first improving swap (best entering site per leaving site); ``chosen`` in place."""
    sel = np.flatnonzero(chosen)
    if sel.size == 0:
        return False
    cur = _current(base, dist, chosen)
    p0, t0 = (float(v[0]) for v in _objective(cur[:, None], weights, kind))
    block = dist[:, sel]
    # distance without each chosen site, via prefix / suffix minima over the chosen columns
    pre = np.minimum.accumulate(np.column_stack([base, block]), axis=1)[:, :-1]
    suf = np.minimum.accumulate(block[:, ::-1], axis=1)[:, ::-1]
    suf = np.column_stack([suf[:, 1:], np.full(block.shape[0], np.inf)])
    without = np.minimum(pre, suf)
    spent = float(costs[chosen].sum())
    for pos, r in enumerate(sel):
        trial = chosen.copy()
        trial[r] = False
        room = _room_after(limits, trial)
        ok = limits.can_add(trial, spent - costs[r], room)
        ok[r] = False
        if limits.min_capacity is not None and limits.capacities is not None:
            have = limits.capacities[trial].sum() + limits.capacities
            ok &= have >= limits.min_capacity - _TOL
        if not ok.any():
            continue
        prim, tie = _eval_adds(without[:, pos], dist, weights, kind)
        order = np.lexsort((tie, prim, ~ok))
        j = int(order[0])
        if ok[j] and _better(prim[j], tie[j], p0, t0):
            chosen[r] = False
            chosen[j] = True
            return True
    return False


def greedy_cover(
    cover: sparse.csc_array,
    costs: np.ndarray,
    *,
    limits: SideLimits | None = None,
) -> np.ndarray | None:
    """Chvátal's greedy set cover followed by removal of redundant sites.

    Parameters
    ----------
    cover
        Boolean ``(n_need, n_free)`` matrix: free candidate ``j`` serves demand row ``i``.
    costs
        Cost per free candidate (ones to minimise the number of sites).
    limits
        Budget and group caps.

    Returns
    -------
    numpy.ndarray or None
        Boolean mask of chosen free candidates, or ``None`` if the limits prevent a cover.
    """
    limits = limits or SideLimits()
    n_need, n_free = cover.shape
    a = sparse.csc_array(cover, dtype=np.float64)
    at = sparse.csr_array(a.T)
    chosen = np.zeros(n_free, dtype=bool)
    uncovered = np.ones(n_need)
    while uncovered.any():
        room = _room_after(limits, chosen)
        ok = limits.can_add(chosen, float(costs[chosen].sum()), room)
        gain = np.where(ok, at @ uncovered, 0.0)
        if gain.max() <= 0:
            return None
        ratio = gain / np.maximum(costs, 1e-12)
        j = int(np.argmax(ratio))
        chosen[j] = True
        uncovered[a[:, [j]].toarray().ravel() > 0] = 0.0
    # drop redundant sites, most expensive first
    times = a @ chosen.astype(np.float64)
    for j in np.flatnonzero(chosen)[np.argsort(-costs[chosen], kind="stable")]:
        col = a[:, [j]].toarray().ravel() > 0
        if np.all(times[col] >= 2):
            chosen[j] = False
            times[col] -= 1
    return chosen
