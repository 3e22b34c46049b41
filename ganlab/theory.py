"""The theory of GANs on 1-D densities, by numeric integration (Units 02 and 04).

A density is given by its values ``p`` at grid points ``x`` (NumPy arrays of the same
shape); integrals use the trapezoidal rule, logs are natural (nats). Points where a
density vanishes are handled by the convention ``0 log 0 = 0``, so no NaN appears.

Goodfellow et al. (2014), section 4, for a fixed generator with density ``p_g``:

* Proposition 1: the best discriminator is ``D*(x) = p_data(x) / (p_data(x) + p_g(x))``,
  because ``y -> a log y + b log(1 - y)`` peaks on [0, 1] at ``y = a / (a + b)``;
* Theorem 1: ``C(G) = max_D V(D, G) = V(D*, G) = -log 4 + 2 JSD(p_data || p_g)``,
  whose global minimum ``-log 4`` is reached only at ``p_g = p_data``.
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


def optimal_discriminator(p_data, p_g) -> np.ndarray:
    """``D*(x) = p_data(x) / (p_data(x) + p_g(x))``, and 1/2 where both densities vanish.

    (Where both vanish, V does not depend on D at all; 1/2 is the natural choice, the
    value D* takes everywhere once ``p_g = p_data``.)
    """
    p_data, p_g = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    if p_data.shape != p_g.shape or (p_data < 0).any() or (p_g < 0).any():
        raise ValueError("p_data and p_g must be non-negative arrays of one shape")
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def _xlogy(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``a * log(y)`` with ``0 * log(anything) = 0``; ``-inf`` where ``a > 0`` and ``y = 0``."""
    out = np.zeros_like(a)
    mask = a > 0
    with np.errstate(divide="ignore"):
        out[mask] = a[mask] * np.log(y[mask])
    return out


def optimal_logit(p_data, p_g) -> np.ndarray:
    """The log-odds of ``D*``: ``l*(x) = log p_data(x) - log p_g(x)``, so ``D* = s(l*)``.

    ``+inf`` where only ``p_g`` vanishes, ``-inf`` where only ``p_data`` does, 0 where both
    do. Unlike ``D*`` itself it never rounds to 0 or 1 in the tails.
    """
    p_data, p_g = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    if p_data.shape != p_g.shape or (p_data < 0).any() or (p_g < 0).any():
        raise ValueError("p_data and p_g must be non-negative arrays of one shape")
    with np.errstate(divide="ignore", invalid="ignore"):  # log 0 = -inf; -inf - -inf fixed below
        logit = np.log(p_data) - np.log(p_g)
    logit[(p_data == 0) & (p_g == 0)] = 0.0
    return logit


def value_function(D, p_data, p_g, x, *, logits: bool = False) -> float:
    """``V(D, G) = integral [ p_data(x) log D(x) + p_g(x) log(1 - D(x)) ] dx``.

    ``D`` holds the discriminator's probabilities at the grid points (values in [0, 1]),
    or, with ``logits=True``, its logits ``l`` (``D = s(l)``), evaluated with the exact
    ``log D = -softplus(-l)`` and ``log(1 - D) = -softplus(l)`` as the GAN losses do.
    ``p_g`` is the density of ``G(z)``, so ``E_z log(1 - D(G(z)))`` becomes an integral
    over x. With probabilities, V is ``-inf`` where D rounds to exactly 1 (or 0) while
    ``p_g`` (or ``p_data``) is still positive; logits do not have that problem.
    """
    p_data, p_g, x = _check(p_data, p_g, x)
    D = np.asarray(D, dtype=np.float64)
    if D.shape != x.shape:
        raise ValueError(f"D must have the grid's shape {x.shape}, got {D.shape}")
    if logits:
        log_d, log_1md = -np.logaddexp(0.0, -D), -np.logaddexp(0.0, D)
    else:
        if (D < 0).any() or (D > 1).any():
            raise ValueError("D must hold probabilities in [0, 1] (or pass logits=True)")
        with np.errstate(divide="ignore"):
            log_d, log_1md = np.log(D), np.log1p(-D)
    # 0 * log(anything) = 0: where a density vanishes its term contributes nothing
    integrand = p_data * np.where(p_data > 0, log_d, 0.0) + p_g * np.where(p_g > 0, log_1md, 0.0)
    return float(np.trapezoid(integrand, x))


def virtual_training_criterion(p_data, p_g, x) -> float:
    """``C(G) = max_D V(D, G) = V(D*_G, G)``; equals ``-log 4 + 2 JSD(p_data || p_g)``.

    Computed as ``integral [ p_data log(p_data / (p_data + p_g)) + p_g log(p_g / (p_data + p_g)) ]``
    rather than through ``D*``: in the tails, where one density is below 1e-16 of the
    other, ``D*`` rounds to exactly 0 or 1 and ``log(1 - D*)`` would be ``-inf``.
    """
    p_data, p_g, x = _check(p_data, p_g, x)
    total = p_data + p_g
    safe = np.where(total > 0, total, 1.0)
    return float(np.trapezoid(_xlogy(p_data, p_data / safe) + _xlogy(p_g, p_g / safe), x))
