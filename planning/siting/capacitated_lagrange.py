r"""Lagrangian bound, heuristic and reduction tests of the single-source capacitated p-median.

Relaxing the assignment rows :math:`\sum_j x_{ij} = 1` with multipliers :math:`u_i` leaves one
0-1 knapsack per site:

.. math::

    L(u) = \sum_i u_i + \min_{y:\ \sum_{j \in F} y_j = k} \sum_j y_j K_j(u), \qquad
    K_j(u) = \min \Big\{ \sum_i (c_{ij} - u_i)\, x_i :\
    \sum_i q_i x_i \le Q_j,\ x \in \{0,1\}^n \Big\}

(forced sites always count). Every :math:`L(u)` is a lower bound on the optimum, and its best
value is at least the LP bound (the knapsacks are solved in integers). The knapsacks are solved
by dynamic programming over capacity; weights that are not small integers are scaled and rounded
*down* (capacities too), which only enlarges each knapsack's feasible set, so the bound stays
valid. Side rules other than the site count (budget, caps per group) are dropped from the
relaxation: again a relaxation.

With an upper bound ``UB`` (a feasible plan) and a threshold ``T`` (``UB``, or ``UB - 1`` plus a
hair when every cost is an integer), the reduction tests remove, from the exact model, the
site and pair choices whose Lagrangian bound reaches ``T``: no solution using them is better
than ``T``:

* a site outside the ``k`` best whose opening lifts ``L`` to ``T`` is closed;
* a site inside whose closing lifts ``L`` to ``T`` is open;
* a pair ``(i, j)`` is dropped when ``L`` with ``y_j = 1`` and ``x_{ij} = 1`` reaches ``T``;
  its knapsack is bounded below by :math:`c_{ij} - u_i + K_j(u; Q_j - q_i)`, the knapsack of
  site ``j`` at the reduced capacity over all items (item ``i`` included: a relaxation).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

KNAPSACK_CELLS = 4_000_000  # items x sites x capacity cells of one dynamic programme
SWAP_ROWS = 2_000  # rows above which the assignment improvement only shifts (no swaps)


@dataclass(frozen=True)
class Knapsacks:
    """Integer weights and capacities of the site knapsacks (scaled and rounded down).

    Attributes
    ----------
    weights
        Per demand point, ``floor(q_i * scale)``.
    caps
        Per site, ``floor(Q_j * scale)`` (at most ``cmax``).
    reduced
        ``(rows, sites)``: ``floor((Q_j - q_i) * scale)``, the capacity left for the other
        items when pair ``(i, j)`` is used; ``-1`` when ``q_i > Q_j``.
    cmax
        Largest capacity of the programme.
    scale
        Scale factor applied to demand and capacity (1 when both are small integers).
    """

    weights: np.ndarray
    caps: np.ndarray
    reduced: np.ndarray
    cmax: int
    scale: float


def knapsack_data(demand: np.ndarray, capacities: np.ndarray, n_sites: int) -> Knapsacks:
    """Scale demand and capacities to integers so the programme has ≲ KNAPSACK_CELLS cells.

    Parameters
    ----------
    demand
        Demand per row (``>= 0``).
    capacities
        Capacity per site (``>= 0``).
    n_sites
        Number of sites in the programme (the cell budget is shared by them).

    Returns
    -------
    Knapsacks
    """
    n = max(int(demand.size), 1)
    top = float(capacities.max(initial=0.0))
    limit = max(KNAPSACK_CELLS // (n * max(n_sites, 1)) - 1, 1)
    integral = np.all(demand == np.round(demand)) and np.all(capacities == np.round(capacities))
    scale = 1.0 if integral and top <= limit else (limit / top if top > 0 else 1.0)
    eps = 1e-9
    weights = np.floor(demand * scale + eps).astype(np.int64)
    caps = np.floor(capacities * scale + eps).astype(np.int64)
    left = capacities[None, :] - demand[:, None]
    reduced = np.where(left >= -eps, np.floor(np.maximum(left, 0.0) * scale + eps), -1)
    cmax = int(caps.max(initial=0))
    return Knapsacks(weights, caps, np.minimum(reduced, cmax).astype(np.int64), cmax, scale)


def knapsack_tables(
    values: np.ndarray, ks: Knapsacks, want_keep: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Best value of every site's 0-1 knapsack at every capacity.

    Parameters
    ----------
    values
        ``(rows, sites)`` item values (``>= 0``; 0 items are never worth taking).
    ks
        Integer weights and capacities.
    want_keep
        Also return the take decisions (for :func:`knapsack_items`).

    Returns
    -------
    table : numpy.ndarray
        ``(sites, cmax + 1)``: best total value with total weight ``<= c``.
    keep : numpy.ndarray or None
        ``(rows, sites, cmax + 1)`` bool: item ``i`` taken in the best packing of capacity
        ``c`` over items ``0..i``.
    """
    n, m = values.shape
    f = np.zeros((m, ks.cmax + 1))
    keep = np.zeros((n, m, ks.cmax + 1), dtype=bool) if want_keep else None
    for i in np.flatnonzero((values > 0).any(axis=1)):
        w = int(ks.weights[i])
        v = values[i][:, None]
        if w == 0:
            f += v
            if keep is not None:
                keep[i] = v > 0
        elif w <= ks.cmax:
            cand = f[:, :-w] + v
            better = cand > f[:, w:]
            f[:, w:] = np.where(better, cand, f[:, w:])
            if keep is not None:
                keep[i, :, w:] = better
    return f, keep


def knapsack_items(keep: np.ndarray, ks: Knapsacks, sites: np.ndarray) -> np.ndarray:
    """Items packed by the best knapsack of each site in ``sites`` (``(rows, len(sites))``)."""
    n = keep.shape[0]
    c = ks.caps[sites].copy()
    take = np.zeros((n, sites.size), dtype=bool)
    for i in range(n - 1, -1, -1):
        t = keep[i, sites, c]
        take[i] = t
        c -= t * ks.weights[i]
    return take


@dataclass
class LagrangeResult:
    """Outcome of :func:`lagrangian_phase`.

    Attributes
    ----------
    lower
        Best Lagrangian bound found.
    upper
        Objective of ``best`` (``inf`` without a plan).
    best
        Best feasible plan: ``(open sites mask, site per row)`` or ``None``.
    threshold
        Every plan excluded by the reductions costs at least this much.
    open_fixed, closed_fixed
        Bool masks over sites (``y`` fixed to 1 / to 0).
    pair_ok
        ``(rows, sites)`` bool: pairs kept by the reduction test.
    iterations
        Subgradient steps run.
    """

    lower: float
    upper: float
    best: tuple[np.ndarray, np.ndarray] | None
    threshold: float
    open_fixed: np.ndarray
    closed_fixed: np.ndarray
    pair_ok: np.ndarray
    iterations: int


Allocator = Callable[[np.ndarray], tuple[float, np.ndarray] | None]


@dataclass(frozen=True)
class Instance:
    """Dense single-source capacitated p-median data for the Lagrangian.

    Attributes
    ----------
    cost
        ``(rows, sites)`` assignment costs (``inf`` where the pair does not exist).
    demand, capacities
        Per row and per site.
    free, forced
        Bool masks over sites: with a decision variable / always open.
    k
        Free sites to open.
    rows
        Bool mask of the rows that must be assigned (the others have no pair).
    integral
        Every finite cost is an integer (so are all objectives).
    """

    cost: np.ndarray
    demand: np.ndarray
    capacities: np.ndarray
    free: np.ndarray
    forced: np.ndarray
    k: int
    rows: np.ndarray
    integral: bool


def _evaluate(
    inst: Instance, ks: Knapsacks, u: np.ndarray, keep: bool
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """``L(u)``, the open sites, ``K_j``, the take decisions and the tables."""
    values = np.where(np.isfinite(inst.cost), u[:, None] - inst.cost, 0.0)
    np.maximum(values, 0.0, out=values)
    f, tk = knapsack_tables(values, ks, keep)
    kval = -f[np.arange(f.shape[0]), ks.caps]
    kval[~(inst.free | inst.forced)] = np.inf
    free_idx = np.flatnonzero(inst.free)
    open_ = inst.forced.copy()
    if inst.k > 0:
        pick = free_idx[np.argsort(kval[free_idx], kind="stable")[: inst.k]]
        open_[pick] = True
    value = float(u[inst.rows].sum() + kval[open_].sum())
    return value, open_, kval, tk, f


def lagrangian_phase(
    inst: Instance,
    allocate: Allocator,
    start: tuple[float, np.ndarray, np.ndarray] | None,
    *,
    polish: Allocator | None = None,
    n_polish: int = 3,
    mip_gap: float = 0.0,
    deadline: float = math.inf,
    max_iterations: int = 600,
) -> LagrangeResult:
    """Subgradient optimisation of :math:`L(u)`, Lagrangian heuristic and reduction tests.

    Parameters
    ----------
    inst
        The instance.
    allocate
        ``allocate(open_mask) -> (objective, site per row)`` or ``None``: a quick assignment of
        the rows to fixed open sites (tried on every new set of open sites).
    polish
        Like ``allocate`` but exact (or better); run at the end on the ``n_polish`` open sets
        with the best quick assignments.
    n_polish
        How many open sets ``polish`` gets.
    start
        ``(objective, open mask, site per row)`` of a known plan, or ``None``.
    mip_gap
        Relative gap the caller accepts: plans within it of the incumbent may be excluded.
    deadline
        :func:`time.perf_counter` time at which to stop iterating.
    max_iterations
        Cap on subgradient steps.

    Returns
    -------
    LagrangeResult
    """
    ks = knapsack_data(inst.demand, inst.capacities, inst.cost.shape[1])
    st = _State(ks=ks, pool=[], tried=set())
    if start is not None:
        st.upper, st.best = start[0], (start[1], start[2])
    finite = np.isfinite(inst.cost)
    near = np.where(finite, inst.cost, np.inf)
    srt = np.sort(near, axis=1)
    # Start each multiplier at the second-nearest option (rows bid for their first sites).
    u = np.where(inst.rows, srt[:, min(1, srt.shape[1] - 1)], 0.0)
    st.u = np.where(np.isfinite(u), u, np.where(np.isfinite(srt[:, 0]), srt[:, 0], 0.0))
    st.best_u = st.u.copy()
    st.scale = max(1.0, float(np.abs(near[finite]).max(initial=1.0)))
    half = max_iterations // 2
    _ascend(inst, st, allocate, half, mip_gap, deadline)
    if st.best is not None and not _closed(st.lower, st.upper, inst.integral, mip_gap):
        _, _, kval, _, _ = _evaluate(inst, ks, st.best_u, keep=False)
        for mask, value in _swap_search(inst, allocate, st.best[0], st.upper, kval, deadline):
            st.pool.append((value, -1, mask))
            if value < st.upper:
                got = allocate(mask)
                if got is not None:
                    st.upper, st.best = got[0], (mask, got[1])
    if polish is not None and not _closed(st.lower, st.upper, inst.integral, mip_gap):
        for _, _, mask in sorted(st.pool, key=lambda t: (t[0], t[1]))[:n_polish]:
            got = polish(mask)
            if got is not None and got[0] < st.upper - _tol(st.upper):
                st.upper, st.best = got[0], (mask, got[1])
    # A second ascent from the best multipliers, aimed at the improved upper bound.
    st.u, st.mu, st.stall = st.best_u.copy(), 1.0, 0
    _ascend(inst, st, allocate, max_iterations - half, mip_gap, deadline)
    threshold = _threshold(st.upper, inst.integral, mip_gap)
    return _reduce(inst, ks, st.best_u, st.lower, st.upper, st.best, threshold, st.it)


@dataclass
class _State:
    """Subgradient state shared by the ascents of :func:`lagrangian_phase`."""

    ks: Knapsacks
    pool: list[tuple[float, int, np.ndarray]]
    tried: set[bytes]
    u: np.ndarray = field(default_factory=lambda: np.zeros(0))
    best_u: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lower: float = -math.inf
    upper: float = math.inf
    best: tuple[np.ndarray, np.ndarray] | None = None
    mu: float = 2.0
    stall: int = 0
    it: int = 0
    scale: float = 1.0


def _ascend(
    inst: Instance,
    st: _State,
    allocate: Allocator,
    steps: int,
    mip_gap: float,
    deadline: float,
) -> None:
    """Run up to ``steps`` subgradient steps (Polyak step towards the upper bound)."""
    for _ in range(steps):
        st.it += 1
        value, open_, _, tk, _ = _evaluate(inst, st.ks, st.u, keep=True)
        if value > st.lower + 1e-9 * st.scale:
            st.lower, st.best_u, st.stall = value, st.u.copy(), 0
        else:
            st.stall += 1
            if st.stall >= 20:
                st.mu, st.stall = st.mu / 2, 0
        key = np.packbits(open_).tobytes()
        if key not in st.tried:
            st.tried.add(key)
            got = allocate(open_)
            if got is not None:
                st.pool.append((got[0], st.it, open_.copy()))
                if got[0] < st.upper:
                    st.upper, st.best = got[0], (open_.copy(), got[1])
        if _closed(st.lower, st.upper, inst.integral, mip_gap) or st.mu < 1e-4:
            return
        if time.perf_counter() >= deadline:
            return
        assert tk is not None
        take = knapsack_items(tk, st.ks, np.flatnonzero(open_))
        g = np.where(inst.rows, 1.0 - take.sum(axis=1), 0.0)
        norm = float(g @ g)
        if norm == 0:  # the relaxed plan is feasible: optimal for the relaxation
            return
        target = st.upper if math.isfinite(st.upper) else st.lower + 0.05 * abs(st.lower) + 1.0
        st.u = st.u + st.mu * max(target - value, 1e-6 * st.scale) / norm * g


def _swap_search(
    inst: Instance,
    allocate: Allocator,
    mask: np.ndarray,
    value: float,
    kval: np.ndarray,
    deadline: float,
    width: int = 10,
) -> list[tuple[np.ndarray, float]]:
    """Swap one open free site for one of the ``width`` best closed ones (by ``K_j``).

    First improvement, until no swap improves or the deadline; returns the improving plans.
    """
    found: list[tuple[np.ndarray, float]] = []
    mask = mask.copy()
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        outs = np.flatnonzero(mask & inst.free)
        ins = np.flatnonzero(~mask & inst.free & np.isfinite(kval))
        ins = ins[np.argsort(kval[ins], kind="stable")[:width]]
        for j_in in ins:
            for j_out in outs:
                trial = mask.copy()
                trial[j_out], trial[j_in] = False, True
                got = allocate(trial)
                if got is not None and got[0] < value - 1e-9:
                    mask, value, improved = trial, got[0], True
                    found.append((trial, got[0]))
                    break
            if improved or time.perf_counter() >= deadline:
                break
    return found


def _closed(lower: float, upper: float, integral: bool, mip_gap: float) -> bool:
    if not math.isfinite(upper):
        return False
    return lower >= _threshold(upper, integral, mip_gap) + _tol(upper)


def _tol(upper: float) -> float:
    """Margin on computed bounds against floating-point error."""
    return 1e-9 * max(1.0, abs(upper)) if math.isfinite(upper) else 0.0


def _threshold(upper: float, integral: bool, mip_gap: float) -> float:
    """Cost from which a plan is not worth finding (no better than ``upper`` within the gap).

    With integer costs a plan costing more than ``upper - 1`` costs at least ``upper``.
    """
    if not math.isfinite(upper):
        return math.inf
    t = upper - mip_gap * abs(upper)
    if integral:
        t = min(t, upper - 1.0 + 1e-6)
    return t


def excluded_bound(threshold: float, integral: bool) -> float:
    """Lower bound on every plan the reductions excluded (their cost is ``>= threshold``)."""
    if integral and math.isfinite(threshold):
        return float(math.ceil(threshold - 1e-7))
    return threshold


def _reduce(
    inst: Instance,
    ks: Knapsacks,
    u: np.ndarray,
    lower: float,
    upper: float,
    best: tuple[np.ndarray, np.ndarray] | None,
    threshold: float,
    iterations: int,
) -> LagrangeResult:
    n, m = inst.cost.shape
    value, open_, kval, _, f = _evaluate(inst, ks, u, keep=False)
    free_idx = np.flatnonzero(inst.free)
    order = free_idx[np.argsort(kval[free_idx], kind="stable")]
    inside = open_ & inst.free
    kth = kval[order[inst.k - 1]] if inst.k > 0 else math.inf
    nxt = kval[order[inst.k]] if inst.k < order.size else math.inf
    # L with y_j forced to 1 (j outside the k best) or to 0 (j inside).
    with_j = np.where(inside | inst.forced, value, value - kth + kval)
    without_j = np.where(inside, value - kval + nxt, -math.inf)
    cut = threshold + _tol(upper)
    closed = inst.free & ~inside & (with_j >= cut)
    opened = inside & (without_j >= cut)
    # Pair (i, j): L with y_j = 1, x_ij = 1, bounded via the knapsack at reduced capacity.
    red = np.where(np.isfinite(inst.cost), inst.cost - u[:, None], np.inf)
    rest = -f[np.arange(m)[None, :], np.maximum(ks.reduced, 0)]
    avail = inst.free | inst.forced
    base = np.where(avail, with_j - np.where(avail, kval, 0.0), np.inf)
    pair_lb = base[None, :] + red + rest
    pair_ok = (
        np.isfinite(inst.cost)
        & (ks.reduced >= 0)
        & (pair_lb < cut)
        & ~closed[None, :]
        & (inst.free | inst.forced)[None, :]
    )
    pair_ok &= inst.rows[:, None]
    del n
    return LagrangeResult(
        lower=max(lower, value),
        upper=upper,
        best=best,
        threshold=threshold,
        open_fixed=opened,
        closed_fixed=closed,
        pair_ok=pair_ok,
        iterations=iterations,
    )


def greedy_assign(cost: np.ndarray, demand: np.ndarray, caps: np.ndarray) -> np.ndarray | None:
    """Regret-greedy single-source assignment of rows to columns within capacity.

    Parameters
    ----------
    cost
        ``(rows, columns)`` costs (``inf`` forbidden).
    demand
        Per row.
    caps
        Per column.

    Returns
    -------
    numpy.ndarray or None
        Column per row, or ``None`` when the greedy gets stuck (not a proof of infeasibility).
    """
    n = cost.shape[0]
    room = caps.astype(np.float64).copy()
    assign = np.full(n, -1)
    left = np.ones(n, dtype=bool)
    for _ in range(n):
        fits = demand[:, None] <= room[None, :] + 1e-9
        c = np.where(fits & left[:, None], cost, np.inf)
        two = np.sort(c, axis=1)[:, :2] if c.shape[1] > 1 else np.c_[c, np.full(n, np.inf)]
        if np.any(left & ~np.isfinite(two[:, 0])):
            return None
        spread = np.where(np.isfinite(two[:, 1]), two[:, 1] - np.where(left, two[:, 0], 0.0), 1e30)
        regret = np.where(left, spread, -1.0)
        i = int(np.argmax(regret + 1e-9 * demand))
        if not left[i]:
            break
        j = int(np.argmin(c[i]))
        assign[i], left[i] = j, False
        room[j] -= demand[i]
    return assign


def improve_assign(
    cost: np.ndarray, demand: np.ndarray, caps: np.ndarray, assign: np.ndarray, rounds: int = 50
) -> np.ndarray:
    """Shift and swap moves (best improvement) on a feasible single-source assignment.

    Parameters
    ----------
    cost
        ``(rows, columns)`` costs (``inf`` forbidden).
    demand, caps
        Per row and per column.
    assign
        Column per row, within capacity.
    rounds
        Moves at most.

    Returns
    -------
    numpy.ndarray
        The improved assignment (swaps only up to ``SWAP_ROWS`` rows).
    """
    n = cost.shape[0]
    assign = assign.copy()
    load = np.bincount(assign, weights=demand, minlength=cost.shape[1])
    rows = np.arange(n)
    for _ in range(rounds):
        moved = False
        cur = cost[rows, assign]
        # shifts: row i to column j with room
        gain = cur[:, None] - cost
        ok = demand[:, None] <= (caps - load)[None, :] + 1e-9
        gain = np.where(ok, gain, -np.inf)
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if gain[i, j] > 1e-9:
            load[assign[i]] -= demand[i]
            load[j] += demand[i]
            assign[i] = j
            continue
        if n > SWAP_ROWS:  # the swap matrices below are rows x rows
            break
        # swaps between rows a, b on different columns
        ca = cost[rows[:, None], assign[None, :]]  # cost of row a at b's column
        delta = cur[:, None] + cur[None, :] - ca - ca.T
        ja, jb = assign[:, None], assign[None, :]
        dq = demand[:, None] - demand[None, :]
        fit = (load[ja] - dq <= caps[ja] + 1e-9) & (load[jb] + dq <= caps[jb] + 1e-9) & (ja != jb)
        delta = np.where(fit, delta, -np.inf)
        a, b = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[a, b] > 1e-9:
            load[assign[a]] += demand[b] - demand[a]
            load[assign[b]] += demand[a] - demand[b]
            assign[a], assign[b] = assign[b], assign[a]
            moved = True
        if not moved:
            break
    return assign
