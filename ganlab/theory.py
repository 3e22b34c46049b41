"""Divergences between densities sampled on a 1-D grid, by numeric integration.

A density is given by its values ``p`` at grid points ``x`` (NumPy arrays of the same
shape); integrals use the trapezoidal rule, logs are natural (nats). Points where a
density vanishes are handled by the convention ``0 log 0 = 0``, so no NaN appears.
"""

from __future__ import annotations

import numpy as np


def _check(p, q, x):
    p, q, x = (np.asarray(a, dtype=np.float64) for a in (p, q, x))
    if not (p.shape == q.shape == x.shape) or x.ndim != 1:
        raise ValueError(f"p, q and x must be 1-D arrays of one shape, got {p.shape}, {q.shape}, {x.shape}")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("densities must be non-negative")
    if not np.all(np.diff(x) > 0):
        raise ValueError("grid x must be strictly increasing")
    return p, q, x


def kl_divergence(p, q, x) -> float:
    """``KL(P || Q) = integral p(x) log(p(x) / q(x)) dx`` (inf where p > 0 but q = 0)."""
    p, q, x = _check(p, q, x)
    if ((p > 0) & (q == 0)).any():
        return float("inf")
    integrand = np.zeros_like(p)
    mask = p > 0
    integrand[mask] = p[mask] * np.log(p[mask] / q[mask])
    return float(np.trapezoid(integrand, x))


def js_divergence(p, q, x) -> float:
    """``JSD(P || Q) = 1/2 KL(P || M) + 1/2 KL(Q || M)``, ``M = (P + Q) / 2``; in [0, log 2]."""
    p, q, x = _check(p, q, x)
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m, x) + 0.5 * kl_divergence(q, m, x)
