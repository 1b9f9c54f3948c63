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
"""

from __future__ import annotations

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
    """

    upper: float
    lower: float
    best: np.ndarray
    fixed_open: np.ndarray
    fixed_closed: np.ndarray
    iterations: int


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


def subgradient(
    cover: sparse.csr_array,
    weights: np.ndarray,
    k: int,
    start: np.ndarray,
    *,
    iterations: int = 300,
    target_gap: float = 1e-4,
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

    Returns
    -------
    CoverBounds
    """
    cover = sparse.csr_array(cover, dtype=np.float64)
    cover_t = sparse.csr_array(cover.T)
    n_cols = cover.shape[1]
    best = start.copy()
    lower = covered_weight(cover, weights, best)
    lam = weights * 0.5
    upper = np.inf
    best_lam = lam.copy()
    mu = 2.0
    stall = 0
    it = 0
    for it in range(1, iterations + 1):  # noqa: B007
        score = cover_t @ lam
        top = np.argpartition(-score, k - 1)[:k] if k < n_cols else np.arange(n_cols)
        z = weights > lam
        value = float(np.sum((weights - lam)[z]) + score[top].sum())
        y = np.zeros(n_cols, dtype=bool)
        y[top] = True
        cand = covered_weight(cover, weights, y)
        if cand > lower:
            lower, best = cand, y
        if value < upper - 1e-9:
            upper, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
            if stall >= 10:
                mu, stall = mu / 2, 0
        if upper - lower <= target_gap * max(lower, 1e-12) or mu < 1e-4:
            break
        g = z.astype(np.float64) - cover @ y.astype(np.float64)
        norm = float(g @ g)
        if norm == 0:
            break
        lam = np.maximum(0.0, lam + mu * (value - lower) / norm * g)
    fixed_open, fixed_closed = _fix(cover_t, weights, best_lam, k, lower)
    return CoverBounds(upper, lower, best, fixed_open, fixed_closed, it)


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
