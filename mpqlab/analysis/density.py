"""Spectral density helpers: the Lanczos tridiagonal matrix and Gaussian smoothing of SLQ nodes and weights."""
from __future__ import annotations

import math

import numpy as np


def tridiagonal(diag, off_diag) -> np.ndarray:
    """The symmetric tridiagonal matrix with diagonal ``diag`` and off-diagonals ``off_diag``."""
    return np.diag(diag) + np.diag(off_diag, 1) + np.diag(off_diag, -1)


def gaussian_density(nodes, weights, grid: np.ndarray | None = None, sigma: float | None = None,
                     n_grid: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Smooth SLQ nodes / weights into a density on a grid (Gaussian kernels, averaged over runs)."""
    allv = np.concatenate([np.asarray(n) for n in nodes])
    lo, hi = allv.min(), allv.max()
    pad = 0.05 * (hi - lo + 1e-12)
    if grid is None:
        grid = np.linspace(lo - pad, hi + pad, n_grid)
    if sigma is None:
        sigma = max((hi - lo) / 200.0, 1e-6)
    dens = np.zeros_like(grid)
    for nd, wt in zip(nodes, weights):
        nd, wt = np.asarray(nd), np.asarray(wt)
        dens += (wt[None, :] * np.exp(-(grid[:, None] - nd[None, :]) ** 2 / (2 * sigma ** 2))).sum(1)
    dens /= len(nodes) * sigma * math.sqrt(2 * math.pi)
    return grid, dens
