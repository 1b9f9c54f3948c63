r"""Radius (Elloumi-type) formulation of the p-median problem, solved by level deepening.

For a client ``i`` let :math:`D_i^0 < D_i^1 < \dots < D_i^{K_i-1}` be the distinct costs to its
free candidates (only those cheaper than the nearest locked site, and only the
``|F| - k + 1`` nearest, one of which is always open). With :math:`z_i^l = 1` when client
``i``'s nearest open site is farther than :math:`D_i^l`:

.. math::

    \min \sum_i w_i \Big(D_i^0 + \sum_{l} (D_i^{l+1} - D_i^l)\, z_i^l\Big)
    \quad\text{s.t.}\quad
    z_i^l + \sum_{j:\, d_{ij} = D_i^l} y_j \ge z_i^{l-1} \;\;(z_i^{-1} = 1),\qquad
    z \ge 0,\; y \in \{0,1\}

where :math:`D_i^{K_i}` is the cost of the nearest locked site (``z_i^{K_i-1} = 0`` when there
is none). The chained rows telescope to the covering rows of Elloumi (2010) and García, Labbé &
Marín (2011); each candidate appears once per client, so the matrix has about as many nonzeros
as client-candidate pairs kept, and ties (equal costs) share one level, which is what makes the
model compact when costs are rounded to a resolution (e.g. whole minutes).

Level deepening: each client first gets only its nearest ``depth`` levels; its last ``z`` is then
charged the *next* level's cost, so the model is a relaxation and its bound is valid. A client
whose nearest open site in the solution is farther than the charged cost gets more levels, and
the model is solved again, until the solution's true objective meets the bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planning.siting.base import Program


@dataclass(frozen=True)
class LevelData:
    """Distinct cost levels of each active client (rows of the sorted option matrix).

    Attributes
    ----------
    level
        ``level[r, s]``: level index of the ``s``-th nearest option of row ``r``.
    values
        ``values[r, l]``: cost of level ``l`` of row ``r`` (``inf`` past the last level).
    n_levels
        Number of distinct levels per row (``K_r``).
    tail
        Cost charged past the last level: the nearest locked site (``inf`` when none).
    count
        Number of usable options per row (a prefix of the sorted options).
    """

    level: np.ndarray
    values: np.ndarray
    n_levels: np.ndarray
    tail: np.ndarray
    count: np.ndarray


def levels(vals: np.ndarray, count: np.ndarray, tail: np.ndarray) -> LevelData:
    """Distinct levels of the sorted option costs ``vals`` (first ``count[r]`` entries used).

    Parameters
    ----------
    vals
        ``(rows, options)`` costs sorted ascending per row.
    count
        Number of usable options per row (a prefix of ``vals``).
    tail
        Cost beyond the last option (nearest locked site; ``inf`` when none).

    Returns
    -------
    LevelData
    """
    n_rows, width = vals.shape
    pos = np.arange(width)
    used = pos[None, :] < count[:, None]
    step = np.zeros(vals.shape, dtype=np.int64)
    if width > 1:
        step[:, 1:] = (vals[:, 1:] > vals[:, :-1]) & used[:, 1:]
    level = np.cumsum(step, axis=1)
    n_levels = np.where(count > 0, level[np.arange(n_rows), np.maximum(count - 1, 0)] + 1, 0)
    values = np.full((n_rows, max(int(n_levels.max(initial=0)), 1)), np.inf)
    r, s = np.nonzero(used)
    values[r, level[r, s]] = vals[r, s]  # equal costs on a level: any write is the same value
    return LevelData(level=level, values=values, n_levels=n_levels, tail=tail, count=count)


def levels_for_options(data: LevelData, options: np.ndarray) -> np.ndarray:
    """Depth in levels that keeps at least the ``options`` nearest options of each row."""
    n_rows = data.level.shape[0]
    if n_rows == 0:
        return np.zeros(0, dtype=np.int64)
    s = np.clip(options, 1, data.level.shape[1]) - 1
    return np.minimum(data.level[np.arange(n_rows), s] + 1, data.n_levels)


def charged_cost(data: LevelData, depth: np.ndarray) -> np.ndarray:
    """Cost charged to a row whose ``depth`` levels are all closed (relaxation when truncated)."""
    n_rows = depth.size
    nxt = np.full(n_rows, np.inf)
    inner = depth < data.n_levels
    nxt[inner] = data.values[np.flatnonzero(inner), depth[inner]]
    return np.where(inner, nxt, data.tail)


def build(
    prog: Program,
    data: LevelData,
    order: np.ndarray,
    weights: np.ndarray,
    depth: np.ndarray,
) -> tuple[int, float]:
    """Add the ``z`` variables and chained rows for ``depth[r]`` levels of every row.

    ``prog`` must already hold the free ``y`` as its first variables (``order`` holds free
    positions). Returns ``(index of the first z, constant objective term)``.
    """
    n_rows = depth.size
    n_z = int(depth.sum())
    z_row = np.repeat(np.arange(n_rows), depth)
    z_start = np.concatenate([[0], np.cumsum(depth)[:-1]]) if n_rows else np.zeros(0, np.int64)
    z_lev = np.arange(n_z) - z_start[z_row]
    nxt = np.empty(n_z)
    last = z_lev == depth[z_row] - 1
    nxt[~last] = data.values[z_row[~last], z_lev[~last] + 1]
    nxt[last] = charged_cost(data, depth)[z_row[last]]
    here = data.values[z_row, z_lev]
    closed = ~np.isfinite(nxt)  # last level with no locked fallback: must be covered
    cost = np.where(closed, 0.0, weights[z_row] * np.where(closed, 0.0, nxt - here))
    z0 = prog.add_vars(n_z, cost=cost, ub=np.where(closed, 0.0, 1.0))
    # options: s-th nearest option of row r lies on level level[r, s]; keep those above depth
    keep = (data.level < depth[:, None]) & (
        np.arange(data.level.shape[1])[None, :] < data.count[:, None]
    )
    r, s = np.nonzero(keep)
    y_rows = z_start[r] + data.level[r, s]
    prev = np.flatnonzero(z_lev > 0)
    prog.add_rows(
        n_z,
        np.concatenate([np.arange(n_z), y_rows, prev]),
        np.concatenate([z0 + np.arange(n_z), order[r, s], z0 + prev - 1]),
        np.concatenate([np.ones(n_z), np.ones(r.size), -np.ones(prev.size)]),
        np.where(z_lev == 0, 1.0, 0.0),
        np.inf,
    )
    constant = float(np.sum(weights[depth > 0] * data.values[depth > 0, 0]))
    return z0, constant
