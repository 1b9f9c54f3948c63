"""Random p-median instances shared by the siting tests (not a test module)."""

from __future__ import annotations

import numpy as np


def instance(n, m, seed, *, cutoff=None):
    """``n`` clients x ``m`` candidates in a 10 x 10 square, whole-unit costs, weights 1-9.

    Pairs farther than ``cutoff`` are unreachable (``inf``).
    """
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 10, (n, 2))
    b = rng.uniform(0, 10, (m, 2))
    cost = np.ceil(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2))
    if cutoff is not None:
        cost[cost > cutoff] = np.inf
    return cost, rng.integers(1, 10, n).astype(float)
