r"""Lagrangian bounds and reduction tests for maximal covering (MCLP) at city scale.

Relaxing the covering rows :math:`z_i \le \sum_{j \in N(i)} y_j` with multipliers
:math:`\lambda_i \ge 0` leaves

.. math::

    L(\lambda) = \sum_i \max(0,\, w_i - \lambda_i)
    + \max_{y \in \{0,1\}^F,\ \sum y = k} \sum_j y_j \sum_{i \in N(j)} \lambda_i ,

whose second term is the sum of the ``k`` largest column scores. Every :math:`L(\lambda)` is an
upper bound on the optimum (the best equals the LP bound). Subgradient steps lower it; each
step's ``k`` best columns are also a feasible plan (a lower bound). With a lower bound ``LB``:

* a site among the ``k`` best whose removal drops ``L`` below ``LB`` is open in every solution
  better than ``LB`` (fixed open);
* a site outside whose insertion keeps ``L`` below ``LB`` is closed in every such solution (fixed
  closed).

The model that remains is small enough for HiGHS to finish the proof.

The same module holds the p-median Lagrangian (assignment rows relaxed) and a sparse
best-improvement swap search (:func:`swap_search`) that gives both models good plans at city
scale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class CoverBounds:
    """What the Lagrangian phase proved.

    Attributes
    ----------
    upper
        Best Lagrangian upper bound on the covered weight (excluding any constant).
    lower
        Covered weight of ``best`` (a feasible plan).
    best
        Bool mask over the columns of the best plan found (``k`` columns open).
    fixed_open, fixed_closed
        Bool masks of columns fixed by the reduction tests (valid for every plan better than
        ``lower``).
    iterations
        Subgradient iterations run.
    average
        Average of the steps' chosen columns (see ``deflection`` of :func:`subgradient`).
    """

    upper: float
    lower: float
    best: np.ndarray
    fixed_open: np.ndarray
    fixed_closed: np.ndarray
    iterations: int
    average: np.ndarray


def covered_weight(cover: sparse.csr_array, weights: np.ndarray, y: np.ndarray) -> float:
    """Weight of the rows of ``cover`` with at least one open column in ``y``."""
    return float(weights[(cover @ y.astype(np.float64)) > 0.5].sum())


def greedy(cover: sparse.csr_array, weights: np.ndarray, k: int) -> np.ndarray:
    """Greedy by marginal covered weight (``k`` columns)."""
    cover_t = sparse.csr_array(cover.T)
    open_ = np.zeros(cover.shape[1], dtype=bool)
    left = weights.astype(np.float64).copy()
    for _ in range(k):
        gain = cover_t @ left
        gain[open_] = -1.0
        j = int(np.argmax(gain))
        open_[j] = True
        left[cover[:, [j]].toarray().ravel() > 0] = 0.0
    return open_


def subgradient(  # noqa: PLR0913 - data, start plan and stopping/step rules
    cover: sparse.csr_array,
    weights: np.ndarray,
    k: int,
    start: np.ndarray,
    *,
    iterations: int = 300,
    target_gap: float = 1e-4,
    deadline: float = np.inf,
    patience: int = 10,
    start_fraction: float = 0.5,
    polish: Callable[[np.ndarray], np.ndarray] | None = None,
    polish_every: int = 100,
    deflection: float = 1.0,
) -> CoverBounds:
    """Lagrangian bound, Lagrangian heuristic and reduction tests (see the module docstring).

    Parameters
    ----------
    cover
        ``(rows, columns)`` 0/1 matrix: row ``i`` is covered by column ``j``.
    weights
        Row weights (``>= 0``).
    k
        Columns to open.
    start
        Bool mask of a feasible plan (``k`` columns) giving the first lower bound.
    iterations
        Maximum subgradient steps.
    target_gap
        Stop early once ``(upper - lower) / lower`` is below this.
    deadline
        Stop at this :func:`time.perf_counter` value.
    patience
        Steps without a better bound before the step length is halved.
    start_fraction
        Starting multipliers as a fraction of the row weights.
    polish, polish_every
        Local search applied to the Lagrangian plan every ``polish_every`` steps (e.g.
        :func:`swap_search`); it must return a plan with ``k`` columns.
    deflection
        Weight of the new subgradient in the step direction, as in :func:`median_subgradient`
        (1: the plain subgradient); the same weights average the chosen columns.

    Returns
    -------
    CoverBounds
    """
    cover = sparse.csr_array(cover, dtype=np.float64)
    cover_t = sparse.csr_array(cover.T)
    n_cols = cover.shape[1]
    best = start.copy()
    lower = covered_weight(cover, weights, best)
    lam = weights * start_fraction
    upper = np.inf
    best_lam = lam.copy()
    mu = 2.0
    stall = 0
    it = 0
    direction, average = np.zeros(lam.size), np.zeros(n_cols)
    for it in range(1, iterations + 1):
        score = cover_t @ lam
        top = np.argpartition(-score, k - 1)[:k] if k < n_cols else np.arange(n_cols)
        z = weights > lam
        value = float(np.sum((weights - lam)[z]) + score[top].sum())
        y = np.zeros(n_cols, dtype=bool)
        y[top] = True
        cand = covered_weight(cover, weights, y)
        if cand > lower:
            lower, best = cand, y
        if polish is not None and it % polish_every == polish_every // 2:
            y_p = polish(y)
            cand = covered_weight(cover, weights, y_p)
            if cand > lower:
                lower, best = cand, y_p
        if value < upper - 1e-9:
            upper, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
            if stall >= patience:
                mu, stall = mu / 2, 0
        if upper - lower <= target_gap * max(lower, 1e-12) or mu < 1e-4:
            break
        if time.perf_counter() >= deadline:
            break
        a = 1.0 if it == 1 else deflection
        average = a * y + (1.0 - a) * average
        g = z.astype(np.float64) - cover @ y.astype(np.float64)
        if not g.any():
            break  # the Lagrangian plan covers exactly the rows it counts: upper is reached
        direction = a * g + (1.0 - a) * direction
        norm = float(direction @ direction)
        if norm == 0:
            break
        lam = np.maximum(0.0, lam + mu * (value - lower) / norm * direction)
    fixed_open, fixed_closed = _fix(cover_t, weights, best_lam, k, lower)
    return CoverBounds(upper, lower, best, fixed_open, fixed_closed, it, average)


def _fix(
    cover_t: sparse.csr_array, weights: np.ndarray, lam: np.ndarray, k: int, lower: float
) -> tuple[np.ndarray, np.ndarray]:
    n_cols = cover_t.shape[0]
    score = cover_t @ lam
    base = float(np.sum(np.maximum(0.0, weights - lam)))
    order = np.argsort(-score, kind="stable")
    inside = np.zeros(n_cols, dtype=bool)
    inside[order[:k]] = True
    total = base + float(score[order[:k]].sum())
    kth = score[order[k - 1]] if k >= 1 else np.inf
    nxt = score[order[k]] if k < n_cols else -np.inf
    tol = 1e-9 * max(1.0, abs(lower))
    without = total - score + nxt  # bound with column j closed (j inside)
    with_ = total - kth + score  # bound with column j open (j outside)
    fixed_open = inside & (without < lower - tol)
    fixed_closed = ~inside & (with_ < lower - tol)
    return fixed_open, fixed_closed


# --- p-median ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MedianBounds:
    """What the p-median Lagrangian phase proved (costs exclude any constant).

    Attributes
    ----------
    lower
        Best Lagrangian lower bound.
    upper
        Cost of ``best``.
    best
        Bool mask over the free columns of the best plan found (``k`` open).
    fixed_open, fixed_closed
        Columns fixed by the reduction tests (valid for every plan cheaper than ``upper``).
    iterations
        Subgradient iterations run.
    average
        Average of the steps' chosen columns (weights of the ``deflection`` rule; the last
        step's columns when it is 1): sums to ``k``, an estimate of a fractional LP solution.
    """

    lower: float
    upper: float
    best: np.ndarray
    fixed_open: np.ndarray
    fixed_closed: np.ndarray
    iterations: int
    average: np.ndarray


def median_cost(dist: np.ndarray, weights: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Total weighted cost to the nearest open column and the index of that column per row."""
    cols = np.flatnonzero(y)
    sub = dist[:, cols]
    pick = sub.argmin(axis=1)
    d = sub[np.arange(dist.shape[0]), pick]
    return float(weights @ d) if np.all(np.isfinite(d)) else np.inf, cols[pick]


def locate_allocate(
    dist: np.ndarray,
    weights: np.ndarray,
    y: np.ndarray,
    finite: np.ndarray | None = None,
    rounds: int = 20,
) -> tuple[np.ndarray, float]:
    """Cooper's alternating heuristic: move each median to the 1-median of its clients.

    ``finite`` is ``dist`` with ``inf`` replaced by a large number (computed when ``None``).
    """
    y = y.copy()
    value, near = median_cost(dist, weights, y)
    if finite is None:
        finite = np.where(np.isfinite(dist), dist, 1e30)
    for _ in range(rounds):
        cols = np.flatnonzero(y)
        member = sparse.csr_array(
            (weights, (np.searchsorted(cols, near), np.arange(dist.shape[0]))),
            shape=(cols.size, dist.shape[0]),
        )
        best = np.asarray(member @ finite).argmin(axis=1)
        if np.unique(best).size < cols.size:
            break
        trial = np.zeros_like(y)
        trial[best] = True
        new_value, new_near = median_cost(dist, weights, trial)
        if new_value >= value - 1e-9:
            break
        y, value, near = trial, new_value, new_near
    return y, value


@dataclass(frozen=True)
class SortedOptions:
    """Each row's nearest options for the p-median Lagrangian.

    Attributes
    ----------
    vals, order
        Per row, the sorted finite costs and their (free) columns, padded with ``inf``.
    cap
        Per row, the cost of the first option not in ``vals`` (``inf`` when none is left out).
    weights
        Row weights (``> 0``).
    """

    vals: np.ndarray
    order: np.ndarray
    cap: np.ndarray
    weights: np.ndarray


def median_subgradient(  # noqa: PLR0913 - data, start plan, stopping/step rules, polish
    opts: SortedOptions,
    k: int,
    dist: np.ndarray,
    start: np.ndarray,
    *,
    iterations: int = 400,
    target_gap: float = 1e-4,
    deadline: float = np.inf,
    patience: int = 15,
    polish: Callable[[np.ndarray], np.ndarray] | None = None,
    polish_every: int = 200,
    heuristic_share: float = 0.2,
    deflection: float = 1.0,
) -> MedianBounds:
    r"""Lagrangian bound of the p-median with the assignment rows relaxed.

    :math:`L(\lambda) = \sum_i \lambda_i + \min_{|S| = k} \sum_{j \in S} \rho_j` with
    :math:`\rho_j = \sum_i \min(0, w_i d_{ij} - \lambda_i)`. Each step's ``k`` best columns,
    improved by :func:`locate_allocate`, give upper bounds; the reduction tests fix columns.

    Parameters
    ----------
    opts
        The rows' nearest options, their costs and weights.
    k
        Columns to open.
    dist
        ``(rows, columns)`` cost matrix (``inf`` unreachable) for evaluating plans.
    start
        Bool mask of a feasible plan.
    iterations, target_gap, deadline
        Stopping rules (``deadline`` on :func:`time.perf_counter`).
    patience
        Steps without a better bound before the step length is halved.
    polish, polish_every
        Local search applied (after locate-allocate) to the Lagrangian plan, e.g.
        :func:`swap_search`, on every ``polish_every // 50``-th plan (plans are built at the
        first step, then at most every 50 steps); it must keep ``k`` columns open.
    heuristic_share
        Largest share of the elapsed time spent on plans (locate-allocate, ``polish``) after
        the first step: on large instances a plan costs as much as dozens of subgradient steps,
        and the bound needs the steps.
    deflection
        Weight ``a`` of the new subgradient in the step direction
        :math:`d_t = a\, g_t + (1 - a)\, d_{t-1}` (1: the plain subgradient). Below 1 this is
        the volume algorithm's direction (Barahona & Anbil 2000): on thousands of rows it
        zig-zags less, and the same average of the steps' chosen columns,
        :attr:`MedianBounds.average`, approximates a fractional LP solution worth rounding.

    Returns
    -------
    MedianBounds

    Notes
    -----
    Only the first ``vals.shape[1]`` options of a row enter :math:`\rho`; ``λ_i`` is capped at
    ``w_i`` times the cost of the first option left out, so every option left out has
    :math:`w_i d_{ij} \ge \lambda_i` and contributes nothing: the bound stays exact for the
    capped ``λ`` (any ``λ`` gives a valid bound).
    """
    vals, order, cap, weights = opts.vals, opts.order, opts.cap, opts.weights
    n_cols = dist.shape[1]
    finite = np.where(np.isfinite(dist), dist, 1e30)
    best, upper = locate_allocate(dist, weights, start, finite)
    _, near = median_cost(dist, weights, best)
    lam_cap = weights * cap
    lam = np.minimum(weights * dist[np.arange(dist.shape[0]), near], lam_cap)
    wv = weights[:, None] * vals
    lower, best_lam, mu, stall, it = -np.inf, lam.copy(), 2.0, 0, 0
    direction, average = np.zeros(lam.size), np.zeros(n_cols)
    t_start, t_plans, n_plans = time.perf_counter(), 0.0, 0
    for it in range(1, iterations + 1):
        mask = wv < lam[:, None]
        rho = np.bincount(order[mask], weights=(wv - lam[:, None])[mask], minlength=n_cols)
        top = np.argpartition(rho, k - 1)[:k] if k < n_cols else np.arange(n_cols)
        value = float(lam.sum() + rho[top].sum())
        if value > lower + 1e-9:
            lower, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
            if stall >= patience:
                mu, stall = mu / 2, 0
        now = time.perf_counter()
        due = it % 50 == 1 and t_plans <= heuristic_share * (now - t_start)
        if it == 1 or due or now >= deadline:
            y = np.zeros(n_cols, dtype=bool)
            y[top] = True
            y, cand = locate_allocate(dist, weights, y, finite)
            n_plans += 1
            if polish is not None and n_plans % max(polish_every // 50, 1) == 0:
                y = polish(y)
                cand, _ = median_cost(dist, weights, y)
            if cand < upper:
                best, upper = y, cand
            t_plans += time.perf_counter() - now
        if upper - lower <= target_gap * abs(upper) or mu < 1e-5:
            break
        if time.perf_counter() >= deadline:
            break
        chosen = np.zeros(n_cols, dtype=bool)
        chosen[top] = True
        a = 1.0 if it == 1 else deflection
        average = a * chosen + (1.0 - a) * average
        g = 1.0 - (mask & chosen[order]).sum(axis=1)
        if not g.any():
            break  # the Lagrangian plan assigns every row once: lower is the optimum
        direction = a * g + (1.0 - a) * direction
        norm = float(direction @ direction)
        if norm == 0:
            break
        lam = np.clip(lam + mu * (upper - value) / norm * direction, 0.0, lam_cap)
    fixed_open, fixed_closed = _median_fix(vals, order, weights, best_lam, k, upper, n_cols)
    return MedianBounds(lower, upper, best, fixed_open, fixed_closed, it, average)


def _median_fix(
    vals: np.ndarray,
    order: np.ndarray,
    weights: np.ndarray,
    lam: np.ndarray,
    k: int,
    upper: float,
    n_cols: int,
) -> tuple[np.ndarray, np.ndarray]:
    wv = weights[:, None] * vals
    mask = wv < lam[:, None]
    rho = np.bincount(order[mask], weights=(wv - lam[:, None])[mask], minlength=n_cols)
    srt = np.argsort(rho, kind="stable")
    inside = np.zeros(n_cols, dtype=bool)
    inside[srt[:k]] = True
    total = float(lam.sum() + rho[srt[:k]].sum())
    kth = rho[srt[k - 1]]
    nxt = rho[srt[k]] if k < n_cols else np.inf
    tol = 1e-9 * max(1.0, abs(upper))
    with_ = total - kth + rho  # j forced in (j outside the k best)
    without = total - rho + nxt  # j forced out (j inside)
    return inside & (without > upper + tol), ~inside & (with_ > upper + tol)


def greedy_median(dist: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Greedy add for the p-median (blocks of columns at a time)."""
    n, m = dist.shape
    cur = np.full(n, 1e30)
    y = np.zeros(m, dtype=bool)
    finite = np.where(np.isfinite(dist), dist, 1e30)
    step = max(1, 4_000_000 // max(n, 1))
    for _ in range(k):
        best_j, best_v = -1, np.inf
        for lo in range(0, m, step):
            block = np.minimum(cur[:, None], finite[:, lo : lo + step])
            v = weights @ block
            v[y[lo : lo + step]] = np.inf
            j = int(np.argmin(v))
            if v[j] < best_v:
                best_j, best_v = lo + j, v[j]
        y[best_j] = True
        cur = np.minimum(cur, finite[:, best_j])
    return y


# --- fast vertex substitution on sparse costs -------------------------------------------------


@dataclass(frozen=True)
class SparseCosts:
    """Per-row sorted costs to the columns a row can use; every other column costs ``far``.

    Attributes
    ----------
    indptr, cols, costs
        CSR layout: row ``i``'s columns ``cols[indptr[i]:indptr[i+1]]`` with ``costs`` sorted
        ascending within the row.
    far
        Cost of every pair not listed (unreachable pairs for the p-median with a large finite
        penalty; 1 = "not covered" for maximal covering, whose listed pairs cost 0).
    n_cols
        Number of columns.
    """

    indptr: np.ndarray
    cols: np.ndarray
    costs: np.ndarray
    far: float
    n_cols: int

    @classmethod
    def from_sorted(
        cls, order: np.ndarray, vals: np.ndarray, count: np.ndarray, far: float, n_cols: int
    ) -> SparseCosts:
        """From per-row sorted options (``order``/``vals``, first ``count[i]`` used)."""
        used = np.arange(vals.shape[1])[None, :] < count[:, None]
        indptr = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
        return cls(indptr, order[used].astype(np.int64), vals[used].astype(np.float64), far, n_cols)

    @classmethod
    def from_cover(cls, cover: sparse.csr_array) -> SparseCosts:
        """Maximal covering as a p-median: cost 0 on covering pairs, 1 elsewhere."""
        cover = sparse.csr_array(cover)
        cols = cover.indices.astype(np.int64)
        return cls(cover.indptr.astype(np.int64), cols, np.zeros(cols.size), 1.0, cover.shape[1])

    def restrict(self, columns: np.ndarray) -> SparseCosts:
        """Return the costs over ``columns`` only (sorted indices), renumbered from 0."""
        keep_col = np.zeros(self.n_cols, dtype=bool)
        keep_col[columns] = True
        new_id = np.cumsum(keep_col) - 1
        keep = keep_col[self.cols]
        rows = np.repeat(np.arange(self.indptr.size - 1), np.diff(self.indptr))
        count = np.bincount(rows[keep], minlength=self.indptr.size - 1)
        indptr = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
        return SparseCosts(
            indptr, new_id[self.cols[keep]], self.costs[keep], self.far, int(keep_col.sum())
        )

    def value(self, weights: np.ndarray, y: np.ndarray) -> float:
        """Total weighted cost to the nearest open column (``far`` when none listed is open)."""
        d1, _, _ = self._two_nearest(y)
        return float(weights @ d1)

    def _two_nearest(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest and second-nearest open cost per row and the nearest open column (-1)."""
        n = self.indptr.size - 1
        hit = np.flatnonzero(y[self.cols])  # open pairs, row by row, nearest first
        rows = np.searchsorted(self.indptr, hit, side="right") - 1
        new = np.ones(hit.size, dtype=bool)
        new[1:] = rows[1:] != rows[:-1]
        first = np.flatnonzero(new)
        nxt = first + 1
        has2 = nxt < hit.size
        has2[has2] = ~new[nxt[has2]]
        d1 = np.full(n, self.far)
        d2 = np.full(n, self.far)
        p1 = np.full(n, -1, dtype=np.int64)
        d1[rows[first]] = self.costs[hit[first]]
        p1[rows[first]] = self.cols[hit[first]]
        d2[rows[first[has2]]] = self.costs[hit[nxt[has2]]]
        return d1, d2, p1


def swap_search(
    costs: SparseCosts,
    weights: np.ndarray,
    y: np.ndarray,
    *,
    deadline: float = np.inf,
    max_swaps: int = 10_000,
) -> np.ndarray:
    r"""Best-improvement vertex substitution (Teitz–Bart) on sparse costs.

    Each step evaluates every swap (column ``j`` in, open column ``r`` out) at once with the
    decomposition of Whitaker / Resende & Werneck: the profit is
    :math:`g_j - l_r + e_{jr}` with the insertion gain
    :math:`g_j = \sum_i w_i (d^1_i - d_{ij})^+`, the removal loss
    :math:`l_r = \sum_{i: \phi(i) = r} w_i (d^2_i - d^1_i)` and the correction
    :math:`e_{jr} = \sum_{i: \phi(i) = r,\, d_{ij} < d^2_i} w_i (d^2_i - \max(d_{ij}, d^1_i))`,
    where :math:`d^1, d^2` are the nearest and second-nearest open costs and :math:`\phi` the
    nearest open column. Only pairs with :math:`d_{ij} < d^2_i` enter, so a step costs one pass
    over the listed pairs. Stops at a local optimum, at ``deadline`` (``time.perf_counter``) or
    after ``max_swaps``.

    Parameters
    ----------
    costs
        The sparse costs (rows sorted).
    weights
        Row weights.
    y
        Bool mask of the starting plan (at least two columns open).
    deadline, max_swaps
        Stopping rules.

    Returns
    -------
    numpy.ndarray
        Bool mask of the improved plan (same number of open columns).
    """
    y = y.copy()
    k = int(y.sum())
    if k < 2 or k >= costs.n_cols:
        return y
    n = costs.indptr.size - 1
    row = np.repeat(np.arange(n), np.diff(costs.indptr))
    slot = np.full(costs.n_cols, -1, dtype=np.int64)
    previous, last = y.copy(), np.inf
    for _ in range(max_swaps):
        if time.perf_counter() >= deadline:
            break
        cols = np.flatnonzero(y)
        slot[:] = -1
        slot[cols] = np.arange(k)
        d1, d2, p1 = costs._two_nearest(y)
        value = float(weights @ d1)
        served = p1 >= 0
        loss = np.bincount(slot[p1[served]], weights=(weights * (d2 - d1))[served], minlength=k)
        near = np.flatnonzero(costs.costs < d2[row])
        r_i, c_j, d_ij = row[near], costs.cols[near], costs.costs[near]
        wi = weights[r_i]
        gain = np.bincount(
            c_j, weights=wi * np.maximum(0.0, d1[r_i] - d_ij), minlength=costs.n_cols
        )
        has = p1[r_i] >= 0
        extra = sparse.coo_array(
            (
                (wi * (d2[r_i] - np.maximum(d_ij, d1[r_i])))[has],
                (c_j[has], slot[p1[r_i[has]]]),
            ),
            shape=(costs.n_cols, k),
        ).toarray()
        profit = gain[:, None] - loss[None, :] + extra
        profit[cols] = -np.inf
        j, r = np.unravel_index(int(np.argmax(profit)), profit.shape)
        if profit[j, r] <= 1e-9 * max(abs(value), 1.0):
            break
        if value >= last - 1e-9 * max(abs(value), 1.0):
            return previous  # rounding: the last predicted gain did not materialise
        previous, last = y.copy(), value
        y[cols[r]] = False
        y[j] = True
    return y if costs.value(weights, y) < last else previous


def round_average(
    costs: SparseCosts,
    weights: np.ndarray,
    average: np.ndarray,
    k: int,
    *,
    thresholds: tuple[float, ...] = (0.1, 0.03, 0.01, 1e-3, 1e-4),
    deadline: float = np.inf,
) -> np.ndarray:
    """Round a fractional plan (e.g. :attr:`MedianBounds.average`) to ``k`` columns by swaps.

    For each threshold, the ``k`` largest entries start a :func:`swap_search` restricted to the
    columns above the threshold (a small support: fast, and steered by the fractional plan),
    then a swap search over every column; last, the ``k`` largest start a swap search over
    every column directly. The cheapest plan is returned; attempts stop at ``deadline``.

    Parameters
    ----------
    costs
        Sparse costs of every column.
    weights
        Row weights.
    average
        Fractional value per column (sums to ``k``).
    k
        Columns to open.
    thresholds, deadline
        Supports tried, and when to stop trying.

    Returns
    -------
    numpy.ndarray
        Bool mask of ``k`` columns.
    """
    rank = np.argsort(-average, kind="stable")
    start = np.zeros(costs.n_cols, dtype=bool)
    start[rank[:k]] = True
    best, best_value = start, costs.value(weights, start)
    supports = [np.flatnonzero(average > t) for t in thresholds]
    supports = [c for c in supports if c.size > k] + [None]
    seen: set[int] = set()
    for cols in supports:
        if time.perf_counter() >= deadline:
            break
        if cols is None:
            y = swap_search(costs, weights, start, deadline=deadline)
        else:
            if cols.size in seen:
                continue
            seen.add(cols.size)
            sub = np.zeros(cols.size, dtype=bool)
            sub[np.argsort(-average[cols], kind="stable")[:k]] = True
            sub = swap_search(costs.restrict(cols), weights, sub, deadline=deadline)
            y = np.zeros(costs.n_cols, dtype=bool)
            y[cols[sub]] = True
            y = swap_search(costs, weights, y, deadline=deadline)
        value = costs.value(weights, y)
        if value < best_value:
            best, best_value = y, value
    return best
