r"""Benders cutting planes for the LP relaxation of the p-median (Durán-Mateluna et al. 2023).

For a client ``i`` with distinct option costs :math:`D_i^0 < D_i^1 < \dots < D_i^{K_i-1}` (its
free candidates cheaper than the nearest locked site) and the nearest locked site at
:math:`D_i^{K_i}` (``inf`` when none), the cost of client ``i`` in the LP relaxation of the
classic formulation, projected on the site variables ``y``, is

.. math::

    \Phi_i(y) = \max_{k} \Big( D_i^k - \sum_{j:\, d_{ij} < D_i^k} (D_i^k - d_{ij})\, y_j \Big),

and the maximum is reached at the first level ``k`` where
:math:`\sum_{j:\, d_{ij} \le D_i^k} y_j \ge 1` (Durán-Mateluna, Alès & Elloumi 2023, "An
efficient Benders decomposition for the p-median problem", EJOR 308). Each term is a valid
*optimality cut* :math:`\theta_i \ge D_i^k - \sum_{d_{ij} < D_i^k} (D_i^k - d_{ij}) y_j` for
every ``k``; when the locked tail is ``inf`` and no level reaches 1, the *feasibility cut*
:math:`\sum_j y_j \ge 1` over the client's options is added instead.

The master LP :math:`\min \sum_i w_i \theta_i` over :math:`\sum_j y_j = k` (plus any side rows),
:math:`0 \le y \le 1`, :math:`\theta_i \ge D_i^0` and the cuts found so far is solved with
HiGHS (:func:`scipy.optimize.linprog`) from scratch each round; every master value is a lower
bound on the LP relaxation and therefore on the integer optimum. Cuts are separated at an
in-out point between a core point (the incumbent plan, moved towards the master solutions) and
the master solution (Ben-Ameur & Neto 2007; Fischetti, Ljubić & Sinnl 2017), and only cuts
violated by the master solution are added (one :math:`\theta_i` per client). Each separation
point is itself feasible for the LP, so :math:`\sum_i w_i \Phi_i` at it is an upper bound on
the LP value: the loop stops when both meet.

The reduced costs of the last master give the classic reduction tests: a site whose reduced
cost lifts the bound above the incumbent's cost is closed (or open) in every better plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

_EPS = 1e-9
_METHOD = "highs-ipm"
_IDLE_ROUNDS = 5  # a cut slack this many master solves in a row leaves the pool


@dataclass(frozen=True)
class MedianData:
    """Each client's sorted options for the Benders separation.

    Attributes
    ----------
    vals, order
        ``(clients, options)`` costs sorted ascending per row and their free columns; only the
        first ``count[i]`` entries of row ``i`` are used (all finite and below ``tail[i]``).
    count
        Usable options per row.
    tail
        Cost of the nearest locked site per row (``inf`` when none).
    weights
        Client weights (``> 0``).
    n_cols
        Number of free columns (sites with a ``y``).
    """

    vals: np.ndarray
    order: np.ndarray
    count: np.ndarray
    tail: np.ndarray
    weights: np.ndarray
    n_cols: int


@dataclass(frozen=True)
class SideRows:
    """Extra linear rows ``lo <= A y <= hi`` on the free columns (budget, caps per group)."""

    matrix: sparse.csr_array
    lo: np.ndarray
    hi: np.ndarray


@dataclass(frozen=True)
class LPBound:
    r"""What the Benders loop proved about the LP relaxation (costs exclude any constant).

    Attributes
    ----------
    lower
        Value of the last master LP: a lower bound on the LP relaxation and the integer optimum.
    upper
        Best :math:`\sum_i w_i \Phi_i(y)` over the points separated (an upper bound on the LP
        relaxation; equal to ``lower`` at convergence).
    y
        Master solution over the free columns.
    reduced
        Reduced costs of ``y`` in the last master (``> 0`` at 0, ``< 0`` at 1); with ``lower``
        they bound the master (hence the integer problem) with a column forced the other way.
    rounds, cuts
        Master solves and cuts added (optimality and feasibility).
    converged
        ``True`` when ``upper - lower`` met the tolerance (``lower`` is the LP optimum).
    lam
        Lagrangian multipliers of the assignment rows read from the last master's duals.
    """

    lower: float
    upper: float
    y: np.ndarray
    reduced: np.ndarray
    rounds: int
    cuts: int
    converged: bool
    lam: np.ndarray


@dataclass
class _Cuts:
    """Cut rows ``theta_i + sum_t a_t y_t >= rhs`` (``theta`` coefficient 0: feasibility)."""

    client: np.ndarray
    theta: np.ndarray  # 1.0 optimality, 0.0 feasibility
    rhs: np.ndarray
    indptr: np.ndarray
    cols: np.ndarray
    coef: np.ndarray

    @property
    def size(self) -> int:
        return int(self.client.size)

    def value(self, y: np.ndarray) -> np.ndarray:
        """``rhs - sum_t a_t y_t`` per cut."""
        rows = np.repeat(np.arange(self.size), np.diff(self.indptr))
        sums = np.bincount(rows, weights=self.coef * y[self.cols], minlength=self.size)
        return self.rhs - sums

    def subset(self, keep: np.ndarray) -> _Cuts:
        """Return the cuts at positions ``keep``."""
        lens = np.diff(self.indptr)[keep]
        starts = self.indptr[:-1][keep]
        idx = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(
            int(lens.sum())
        )
        return _Cuts(
            self.client[keep],
            self.theta[keep],
            self.rhs[keep],
            np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
            self.cols[idx],
            self.coef[idx],
        )

    @staticmethod
    def concat(parts: list[_Cuts]) -> _Cuts:
        """All cuts of ``parts`` in order."""
        offs = np.cumsum([0] + [p.cols.size for p in parts])
        return _Cuts(
            np.concatenate([p.client for p in parts]),
            np.concatenate([p.theta for p in parts]),
            np.concatenate([p.rhs for p in parts]),
            np.concatenate(
                [[0]] + [p.indptr[1:] + o for p, o in zip(parts, offs[:-1], strict=True)]
            ).astype(np.int64),
            np.concatenate([p.cols for p in parts]),
            np.concatenate([p.coef for p in parts]),
        )


def _first(data: MedianData) -> np.ndarray:
    """Cheapest cost per client: its first option, or the locked tail without options."""
    return np.where(data.count > 0, data.vals[:, 0], data.tail)


def _empty_cuts() -> _Cuts:
    z = np.zeros(0)
    zi = np.zeros(0, dtype=np.int64)
    return _Cuts(zi, z, z, np.zeros(1, dtype=np.int64), zi, z)


def separate(data: MedianData, y: np.ndarray, rows: np.ndarray | None = None) -> _Cuts:
    r"""Return the strongest cut of each client (``rows``, default all) at the point ``y``.

    Parameters
    ----------
    data
        The clients' sorted options.
    y
        Site values over the free columns (``0 <= y <= 1``).
    rows
        Clients to separate (default: all).

    Returns
    -------
    _Cuts
        One cut per client in ``rows``, in that order; its :meth:`_Cuts.value` at ``y`` is
        :math:`\Phi_i(y)` (``inf`` for a feasibility cut, whose point is infeasible).
    """
    rows = np.arange(data.vals.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    full = data.vals.shape[1]
    level = np.full(rows.size, np.nan)  # D: cost of the cut's level (nan: feasibility)
    support = np.zeros(rows.size, dtype=np.int64)
    todo = np.arange(rows.size)
    width = min(full, 32)
    while todo.size:
        r = rows[todo]
        cnt = data.count[r]
        usable = np.arange(width)[None, :] < cnt[:, None]
        vals = data.vals[r, :width]
        cum = np.cumsum(np.where(usable, y[data.order[r, :width]], 0.0), axis=1)
        hit = (cum >= 1.0 - _EPS) & usable
        found = hit.any(axis=1)
        s = hit.argmax(axis=1)
        d = vals[np.arange(r.size), s]
        done = found | (cnt <= width)
        tail_row = ~found & done
        d = np.where(found, d, data.tail[r])
        support[todo] = np.where(found, ((vals < d[:, None]) & usable).sum(axis=1), cnt)
        level[todo] = np.where(tail_row & ~np.isfinite(d), np.nan, d)
        todo = todo[~done]
        width = full
    feas = np.isnan(level)
    lens = support
    start = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    rr = np.repeat(np.arange(rows.size), lens)
    pos = np.arange(int(lens.sum())) - start[rr]
    cols = data.order[rows[rr], pos].astype(np.int64)
    d_row = np.where(feas, 0.0, level)
    coef = np.where(feas[rr], 1.0, d_row[rr] - data.vals[rows[rr], pos])
    rhs = np.where(feas, 1.0, d_row)
    return _Cuts(rows, np.where(feas, 0.0, 1.0), rhs, start, cols, coef)


def lp_value(data: MedianData, y: np.ndarray) -> float:
    r""":math:`\sum_i w_i \Phi_i(y)`: the LP relaxation's cost at a fractional plan ``y``."""
    cuts = separate(data, y)
    if (cuts.theta == 0).any():
        return float(np.inf)
    return float(data.weights @ cuts.value(y))


def _solve_master(
    data: MedianData, k: int, side: SideRows | None, cuts: _Cuts
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]:
    r"""Master LP; returns ``(y, theta, value, reduced costs of y, cut slacks, multipliers)``.

    The multipliers are :math:`\lambda_i = \sum_c \pi_c D_c` over the client's optimality
    cuts ``c`` (duals :math:`\pi_c`, levels :math:`D_c`) and its bound :math:`\theta_i \ge
    D_i^0`; see :func:`lagrangian`.
    """
    nf, n = data.n_cols, data.vals.shape[0]
    c = np.concatenate([np.zeros(nf), data.weights])
    lens = np.diff(cuts.indptr)
    rr = np.repeat(np.arange(cuts.size), lens)
    # -theta_i - sum a y <= -rhs
    a_cut = sparse.csr_array(
        (
            np.concatenate([-cuts.coef, -cuts.theta]),
            (
                np.concatenate([rr, np.arange(cuts.size)]),
                np.concatenate([cuts.cols, nf + cuts.client]),
            ),
        ),
        shape=(cuts.size, nf + n),
    )
    blocks, b_ub = [a_cut], [-cuts.rhs]
    a_eq = sparse.csr_array(np.ones((1, nf + n)) * np.concatenate([np.ones(nf), np.zeros(n)]))
    if side is not None:
        mat = sparse.hstack([side.matrix, sparse.csr_array((side.matrix.shape[0], n))]).tocsr()
        up, lo = np.isfinite(side.hi), np.isfinite(side.lo)
        if up.any():
            blocks.append(mat[np.flatnonzero(up)])
            b_ub.append(side.hi[up])
        if lo.any():
            blocks.append(-mat[np.flatnonzero(lo)])
            b_ub.append(-side.lo[lo])
    lb = np.concatenate([np.zeros(nf), _first(data)])
    ub = np.concatenate([np.ones(nf), np.full(n, np.inf)])
    res = linprog(
        c,
        A_ub=sparse.vstack(blocks).tocsr(),
        b_ub=np.concatenate(b_ub),
        A_eq=a_eq,
        b_eq=[float(k)],
        bounds=np.column_stack([lb, ub]),
        method=_METHOD,
    )
    if res.status != 0:
        msg = f"Benders master LP failed: {res.message}"
        raise RuntimeError(msg)
    x = res.x
    reduced = res.lower.marginals[:nf] + res.upper.marginals[:nf]
    slack = res.ineqlin.residual[: cuts.size]
    pi = np.maximum(-res.ineqlin.marginals[: cuts.size], 0.0) * cuts.theta
    lam = np.bincount(cuts.client, weights=pi * cuts.rhs, minlength=n)
    lam += np.maximum(res.lower.marginals[nf:], 0.0) * _first(data)
    return x[:nf], x[nf:], float(res.fun), reduced, slack, lam


def _benders(
    data: MedianData,
    k: int,
    *,
    side: SideRows | None = None,
    core: np.ndarray | None = None,
    deadline: float = np.inf,
    tol: float = 1e-7,
    max_rounds: int = 500,
) -> LPBound:
    """LP relaxation of the p-median over all columns of ``data`` by Benders cutting planes.

    Parameters
    ----------
    data
        The clients' sorted options, tails and weights.
    k
        Number of free columns to open.
    side
        Extra rows on ``y`` (budget, caps).
    core
        A feasible plan (bool or fractional ``y``) used as the core point of the in-out
        separation and for the first cuts (e.g. the incumbent); default: ``k / n_cols`` each.
    deadline
        Stop at this :func:`time.perf_counter` value (the last master value stays a bound).
    tol
        Relative gap between the LP upper and lower values at which the loop stops.
    max_rounds
        Master solves at most.

    Returns
    -------
    LPBound
    """
    nf = data.n_cols
    core = (
        np.full(nf, k / max(nf, 1)) if core is None else np.asarray(core, dtype=np.float64).copy()
    )
    first = separate(data, core)
    upper = float(data.weights @ first.value(core)) if (first.theta > 0).all() else np.inf
    pool = first.subset(np.flatnonzero(np.diff(first.indptr) > 0))
    added = pool.size
    idle = np.zeros(pool.size, dtype=np.int64)  # consecutive rounds each cut was slack
    alpha = 0.5
    lower, rounds, converged = -np.inf, 0, False
    y = core
    reduced = np.zeros(nf)
    lam = data.weights * _first(data)
    while rounds < max_rounds:
        rounds += 1
        try:
            y, theta, lower, reduced, slack, lam = _solve_master(data, k, side, pool)
        except RuntimeError:  # HiGHS gave up: the last master's values stay valid
            rounds -= 1
            break
        if np.isfinite(upper) and upper - lower <= tol * max(abs(upper), 1.0):
            converged = True
            break
        if time.perf_counter() >= deadline:
            break
        at_y = separate(data, y)
        kelley = at_y.value(y)
        scale = _EPS * np.maximum(np.abs(_first(data)), 1.0)
        viol_y = kelley > at_y.theta * theta + scale
        if (at_y.theta > 0).all():
            upper = min(upper, float(data.weights @ kelley))
        if not viol_y.any():
            converged = True
            break
        y_sep = alpha * core + (1.0 - alpha) * y
        at_sep = separate(data, y_sep)
        if (at_sep.theta > 0).all():
            upper = min(upper, float(data.weights @ at_sep.value(y_sep)))
        sep_viol = at_sep.value(y) > at_sep.theta * theta + scale
        sep_viol &= np.diff(at_sep.indptr) > 0
        new = [at_sep.subset(np.flatnonzero(sep_viol))]
        # Kelley cuts where the in-out cut does not separate the master point
        new.append(at_y.subset(np.flatnonzero(viol_y & ~sep_viol)))
        tight = slack <= 1e-6 * np.maximum(np.abs(pool.rhs), 1.0)
        idle = np.where(tight, 0, idle + 1)
        keep = np.flatnonzero(idle <= _IDLE_ROUNDS)
        pool = _Cuts.concat([pool.subset(keep), *new])
        idle = np.concatenate([idle[keep], np.zeros(pool.size - keep.size, dtype=np.int64)])
        added += sum(c.size for c in new)
        core = 0.5 * core + 0.5 * y
    return LPBound(lower, upper, y, reduced, rounds, added, converged, lam)


def reduction(bound: LPBound, upper: float) -> tuple[np.ndarray, np.ndarray]:
    """Reduced-cost tests: columns open / closed in every plan cheaper than ``upper``.

    Parameters
    ----------
    bound
        The Benders result (``lower`` and ``reduced`` of the same master).
    upper
        Cost of the incumbent plan (same constant as ``bound``).

    Returns
    -------
    tuple of numpy.ndarray
        Bool masks ``(fixed_open, fixed_closed)``: every plan cheaper than ``upper`` has these
        columns open / closed.
    """
    tol = 1e-9 * max(1.0, abs(upper))
    closed = (bound.y <= 1e-9) & (bound.lower + bound.reduced > upper + tol)
    opened = (bound.y >= 1 - 1e-9) & (bound.lower - bound.reduced > upper + tol)
    return opened, closed


def restrict(data: MedianData, columns: np.ndarray) -> MedianData:
    """Restrict to the options among ``columns`` (sorted free columns), renumbered from 0.

    Parameters
    ----------
    data
        The clients' sorted options.
    columns
        Sorted indices of the free columns kept (the others are closed).

    Returns
    -------
    MedianData
        Same clients and tails; ``order`` holds positions in ``columns``.
    """
    pos = np.full(data.n_cols, -1, dtype=np.int64)
    pos[columns] = np.arange(columns.size)
    width = data.vals.shape[1]
    usable = np.arange(width)[None, :] < data.count[:, None]
    keep = usable & (pos[data.order] >= 0)
    count = keep.sum(axis=1)
    new_w = max(int(count.max(initial=0)), 1)
    slot = np.cumsum(keep, axis=1) - 1
    r, s = np.nonzero(keep)
    vals = np.full((data.vals.shape[0], new_w), np.inf)
    order = np.zeros((data.vals.shape[0], new_w), dtype=np.int64)
    vals[r, slot[r, s]] = data.vals[r, s]
    order[r, slot[r, s]] = pos[data.order[r, s]]
    return MedianData(vals, order, count, data.tail, data.weights, int(columns.size))


def lagrangian(data: MedianData, lam: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    r"""Lagrangian bound with the assignment rows relaxed, for any multipliers ``lam``.

    :math:`L(\lambda) = \sum_i \big(\lambda_i + \min(0, w_i t_i - \lambda_i)\big)
    + \min_{|S| = k} \sum_{j \in S} \rho_j` with
    :math:`\rho_j = \sum_i \min(0, w_i d_{ij} - \lambda_i)` and :math:`t_i` the locked tail;
    every ``lam`` gives a lower bound on the integer optimum (and on the LP relaxation).

    Parameters
    ----------
    data
        The clients' sorted options over all free columns.
    lam
        One multiplier per client.
    k
        Columns to open.

    Returns
    -------
    tuple
        ``(L(lam), rho)``.
    """
    width = data.vals.shape[1]
    usable = np.arange(width)[None, :] < data.count[:, None]
    wv = data.weights[:, None] * data.vals
    mask = usable & (wv < lam[:, None])
    rho = np.bincount(data.order[mask], weights=(wv - lam[:, None])[mask], minlength=data.n_cols)
    tail = np.where(np.isfinite(data.tail), data.weights * data.tail - lam, 0.0)
    base = float(np.sum(lam + np.minimum(0.0, tail)))
    top = np.partition(rho, k - 1)[:k] if 0 < k < data.n_cols else rho[: max(k, 0)]
    return base + float(top.sum()), rho


def lagrangian_fix(
    data: MedianData, lam: np.ndarray, k: int, upper: float
) -> tuple[np.ndarray, np.ndarray]:
    """Reduction tests of :func:`lagrangian`: columns open / closed in every plan below ``upper``.

    Parameters
    ----------
    data, lam, k
        As for :func:`lagrangian`.
    upper
        Cost of the incumbent (same constant as the Lagrangian).

    Returns
    -------
    tuple of numpy.ndarray
        Bool masks ``(fixed_open, fixed_closed)``.
    """
    value, rho = lagrangian(data, lam, k)
    n = data.n_cols
    srt = np.argsort(rho, kind="stable")
    inside = np.zeros(n, dtype=bool)
    inside[srt[:k]] = True
    kth = rho[srt[k - 1]]
    nxt = rho[srt[k]] if k < n else np.inf
    tol = 1e-9 * max(1.0, abs(upper))
    with_ = value - kth + rho
    without = value - rho + nxt
    return inside & (without > upper + tol), ~inside & (with_ > upper + tol)


@dataclass(frozen=True)
class PricedBound:
    """LP bound by Benders on a column subset, priced over every column (column generation).

    Attributes
    ----------
    lower
        Best valid lower bound: the Lagrangian value of the masters' multipliers over every
        column (the full master value once every column is in).
    lp
        Last restricted LP value (the LP relaxation when ``priced`` is ``True``).
    lam
        Multipliers that gave ``lower``.
    columns
        Columns of the last restricted LP.
    priced
        ``True`` when no column outside improved the bound (``lower`` is the LP optimum).
    rounds, cuts, iterations
        Master solves and cuts over all Benders runs, and column-generation iterations.
    master
        The last Benders run when it had every column (its reduced costs serve
        :func:`reduction`), else ``None``.
    """

    lower: float
    lp: float
    lam: np.ndarray
    columns: np.ndarray
    priced: bool
    rounds: int
    cuts: int
    iterations: int
    master: LPBound | None = None


def lp_bound(
    data: MedianData,
    k: int,
    *,
    side: SideRows | None = None,
    core: np.ndarray | None = None,
    columns: np.ndarray | None = None,
    deadline: float = np.inf,
    tol: float = 1e-7,
) -> PricedBound:
    """LP bound of the p-median: Benders on a column subset, grown by Lagrangian pricing.

    Parameters
    ----------
    data
        The clients' sorted options, tails and weights over all free columns.
    k
        Number of free columns to open.
    side
        Extra rows on ``y`` (budget, caps); with side rows every column is used at once.
    core
        A feasible plan over all free columns (bool or fractional), the in-out core point.
    columns
        Starting column subset (must contain a feasible plan, e.g. ``core``'s open columns);
        default: all columns.
    deadline
        Stop at this :func:`time.perf_counter` value (``lower`` stays valid).
    tol
        Relative tolerance of the Benders loop and of the pricing test.

    Returns
    -------
    PricedBound
    """
    nf = data.n_cols
    core = np.full(nf, k / max(nf, 1)) if core is None else np.asarray(core, dtype=np.float64)
    cols = np.arange(nf) if columns is None or side is not None else np.unique(columns)
    best, best_lam = -np.inf, data.weights * _first(data)
    rounds = cuts = it = 0
    while True:
        it += 1
        sub = data if cols.size == nf else restrict(data, cols)
        res = _benders(sub, k, side=side, core=core[cols], deadline=deadline, tol=tol)
        rounds, cuts = rounds + res.rounds, cuts + res.cuts
        if cols.size == nf:
            value = res.lower
            if value > best:
                best, best_lam = value, res.lam
            return PricedBound(
                best, res.lower, best_lam, cols, res.converged, rounds, cuts, it, master=res
            )
        value, rho = lagrangian(data, res.lam, k)
        if value > best:
            best, best_lam = value, res.lam
        priced = res.converged and value >= res.lower - tol * max(abs(res.lower), 1.0)
        if priced or time.perf_counter() >= deadline:
            return PricedBound(best, res.lower, best_lam, cols, priced, rounds, cuts, it)
        outside = np.ones(nf, dtype=bool)
        outside[cols] = False
        cand = np.flatnonzero(outside & (rho < 0))
        kth = np.partition(rho[cols], k - 1)[k - 1] if k <= cols.size else 0.0
        cand = cand[rho[cand] < kth]
        if cand.size == 0:
            cand = np.flatnonzero(outside)
        add = cand[np.argsort(rho[cand], kind="stable")[: max(2 * k, 50)]]
        y = np.zeros(nf)
        y[cols] = res.y
        core = 0.5 * core + 0.5 * y
        cols = np.union1d(cols, add)


def cluster_columns(dist: np.ndarray, weights: np.ndarray, y: np.ndarray, per: int) -> np.ndarray:
    """Open columns of ``y`` and, per open column, the ``per`` best 1-medians of its clients.

    Parameters
    ----------
    dist
        ``(clients, free columns)`` costs (``inf`` unreachable).
    weights
        Client weights.
    y
        Bool mask of a feasible plan.
    per
        Extra columns per open column (the cheapest to serve that column's clients alone).

    Returns
    -------
    numpy.ndarray
        Sorted column indices: a starting subset for :func:`lp_bound`.
    """
    cols = np.flatnonzero(y)
    near = cols[dist[:, cols].argmin(axis=1)]
    member = sparse.csr_array(
        (weights, (np.searchsorted(cols, near), np.arange(dist.shape[0]))),
        shape=(cols.size, dist.shape[0]),
    )
    finite = np.where(np.isfinite(dist), dist, 1e30)
    cost = np.asarray(member @ finite)
    best = np.argsort(cost, axis=1, kind="stable")[:, : per + 1]
    return np.union1d(cols, best.ravel())
