"""Checks of Unit 04 (the optimal discriminator and the JSD, NumPy densities on a grid).

See :mod:`ganlab.checks` for how the checks teach and how the grader uses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ganlab import theory, toy
from ganlab.checks.common import _name, _number, call, fail
from ganlab.grading import evidence

# --- Unit 04: the optimal discriminator and the JSD (NumPy, densities on a grid) -------------

_ZERO_LOG_ZERO = ("where a density is 0 its term is 0 (the convention 0 log 0 = 0): compute "
                  "the integrand only where the density is positive (np.where(p > 0, ..., 0) "
                  "or a mask), otherwise 0 * log(0) gives NaN")


def _grid(n: int = 1601, low: float = -8.0, high: float = 8.0) -> np.ndarray:
    return np.linspace(low, high, n)


def _triangle(x: np.ndarray, centre: float, half_width: float) -> np.ndarray:
    """A triangular density: exactly 0 outside ``[centre - half_width, centre + half_width]``."""
    return np.clip(1 - np.abs(x - centre) / half_width, 0, None) / half_width


def _smooth_pair(x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two smooth densities that overlap: a two-component mixture and a Gaussian."""
    rng = np.random.default_rng(seed)
    p = toy.GaussianMixture1D(means=[-1.5 + 0.3 * rng.normal(), 1.2 + 0.3 * rng.normal()],
                              stds=[0.6, 0.9], weights=[0.4, 0.6]).pdf(x)
    q = toy.Gaussian1D(mean=0.4 + 0.3 * rng.normal(), std=1.3).pdf(x)
    return p, q


def _array(value, what: str, shape: tuple[int, ...]) -> np.ndarray:
    __tracebackhide__ = True
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if value is None:
        fail(f"{what} returned None: return the array (did you forget the return statement?)")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{what} must return a NumPy array, got {type(value).__name__}")
    if array.shape != shape:
        fail(f"{what} must return one value per grid point, an array of shape {shape} like its "
             f"inputs, got shape {array.shape}")
    return array


def _call_numpy(description: str, fn: Callable, *arrays, name: str):
    """``fn(*arrays)`` on copies of NumPy arrays, failing if it changes them in place."""
    __tracebackhide__ = True
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in arrays]   # numbers pass as they are
    with np.errstate(all="ignore"):
        out = call(description, fn, *copies, name=name)
    if not all(np.array_equal(a, c) for a, c in zip(arrays, copies, strict=True) if isinstance(a, np.ndarray)):
        fail(f"{name} must not modify its input arrays in place: compute new arrays")
    return out


def _close_number(value: float, target: float) -> bool:
    return math.isclose(value, target, rel_tol=1e-6, abs_tol=1e-9)


def _integral_mistakes(expected: float, dx: float) -> list[tuple[float, str]]:
    """Wrong values every integral of this unit can take: log base, missing dx, sign."""
    return [
        (expected / math.log(2), "use the natural log np.log: divergences in this course are in "
         "nats (np.log2 gives bits)"),
        (expected / math.log(10), "use the natural log np.log, not np.log10"),
        (expected / dx, "integrate over x: np.trapezoid(integrand, x), or multiply the sum by the "
         "grid spacing dx (a plain sum ignores dx)"),
    ]


def _check_number(name: str, value: float, expected: float, mistakes, what: str) -> None:
    __tracebackhide__ = True
    if not math.isfinite(value):
        fail(f"{name} returned {value}: {_ZERO_LOG_ZERO}")
    if not _close_number(value, expected):
        for wrong, hint in mistakes:
            if math.isfinite(wrong) and math.isclose(value, wrong, rel_tol=1e-5, abs_tol=1e-9):
                fail(hint, f"{name} returned {value:.8g}; expected {expected:.8g}")
        fail(f"{name} returned {value:.8g}, expected {expected:.8g}: {what}")


def _fail_pointwise(out: np.ndarray, expected: np.ndarray, live: np.ndarray, x: np.ndarray,
                    mistakes: list[tuple[np.ndarray, str]], message: str) -> None:
    """Fail with the hint of the first mistake ``out`` matches where ``live``, else with ``message``."""
    __tracebackhide__ = True
    for wrong, hint in mistakes:
        if np.allclose(out[live], wrong[live], rtol=1e-6, atol=1e-12, equal_nan=True):
            fail(hint)
    worst = np.nanargmax(np.abs(out - expected) * live)
    fail(message, f"at x = {x[worst]:.3g}: returned {out[worst]:.6g}, expected {expected[worst]:.6g}")


@evidence.graded
def check_optimal_discriminator(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                                seed: int = 0) -> None:
    """Check ``fn(p_data, p_g)``: ``D*(x) = p_data / (p_data + p_g)`` at every grid point.

    ``1/2`` where both densities vanish; an array of the shape of the inputs, as
    :func:`ganlab.theory.optimal_discriminator`.
    """
    __tracebackhide__ = True
    name = _name(fn, "optimal_discriminator")
    x = _grid(1201, -6.0, 6.0)
    pairs = [_smooth_pair(x, seed),                                       # overlapping, no zeros
             (_triangle(x, -1.0, 2.0), _triangle(x, 1.0, 2.5))]           # exact zeros
    for p, q in pairs:
        out = _array(_call_numpy(f"{name}(p_data, p_g)", fn, p, q, name=name), name, x.shape)
        expected = theory.optimal_discriminator(p, q)
        live = (p + q) > 0
        if not np.allclose(out[live], expected[live], rtol=1e-6, atol=1e-12):
            with np.errstate(all="ignore"):
                mistakes = [
                    (q / (p + q), "D*(x) = p_data / (p_data + p_g) is the probability that x is "
                     "real: you returned p_g / (p_data + p_g), the probability that it is fake"),
                    (p / q, "divide by the sum p_data + p_g, not by p_g: D* is a probability, "
                     "between 0 and 1"),
                    (q / p, "D*(x) = p_data / (p_data + p_g): divide p_data by the sum of the "
                     "two densities"),
                    (p / (p + q).sum(), "divide point by point: D*(x) = p_data(x) / (p_data(x) + "
                     "p_g(x)) at every x, not by a sum over the grid"),
                ]
            _fail_pointwise(out, expected, live, x, mistakes, f"{name} differs from p_data / (p_data + p_g)")
        if not live.all():
            dead = out[~live]
            if np.isnan(dead).any():
                fail("where p_data and p_g are both 0, D* = 0 / 0 is undefined: return 1/2 there "
                     "(np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0), "
                     "or np.where)")
            if not np.allclose(dead, 0.5):
                fail("where p_data and p_g are both 0, return D* = 1/2: V does not depend on D "
                     "there, and 1/2 is the value D* takes everywhere once p_g = p_data",
                     f"got values in [{dead.min():.3g}, {dead.max():.3g}] there")


@evidence.graded
def check_kl_divergence(fn: Callable[..., float], *, seed: int = 0) -> None:
    """Check ``fn(p, q, x)``: ``KL(P || Q) = integral p log(p / q) dx`` in nats.

    Trapezoid rule (or a sum times the grid spacing), ``0 log 0 = 0`` where ``p`` vanishes;
    one number, as :func:`ganlab.theory.kl_divergence`.
    """
    __tracebackhide__ = True
    name = _name(fn, "kl_divergence")
    x = _grid()
    dx = x[1] - x[0]
    p, q = _smooth_pair(x, seed)
    value = _number(_call_numpy(f"{name}(p, q, x)", fn, p, q, x, name=name), name)
    expected = theory.kl_divergence(p, q, x)
    with np.errstate(all="ignore"):
        mistakes = [
            (theory.kl_divergence(q, p, x), "KL(P || Q) integrates p log(p / q): you computed "
             "KL(Q || P) (the roles of p and q are swapped)"),
            (-expected, "KL(P || Q) = integral of p log(p / q) dx is never negative: you used "
             "log(q / p) (flip the ratio)"),
            *_integral_mistakes(expected, dx),
            (float(np.trapezoid(np.log(p / q), x)), "weight log(p / q) by p(x): KL = integral "
             "of p(x) log(p(x) / q(x)) dx"),
            (float(np.mean(p * np.log(p / q))), "integrate over x with np.trapezoid(integrand, "
             "x): averaging the integrand ignores the grid spacing"),
        ]
    _check_number(name, value, expected, mistakes, "KL(P || Q) = integral of p log(p / q) dx, "
                  "with np.trapezoid")
    itself = _number(_call_numpy(f"{name}(p, p, x)", fn, p, p, x, name=name), name)
    if abs(itself) > 1e-9:
        fail(f"KL(P || P) must be 0, got {itself:.6g}")
    # p vanishes outside its support: 0 log 0 = 0
    p0 = _triangle(x, 0.5, 2.0)
    value = _number(_call_numpy(f"{name}(p, q, x)", fn, p0, q, x, name=name), name)
    expected = theory.kl_divergence(p0, q, x)
    _check_number(name, value, expected, _integral_mistakes(expected, dx),
                  "where p = 0 the integrand is 0")


@evidence.graded
def check_js_divergence(fn: Callable[..., float], *, seed: int = 0) -> None:
    """Check ``fn(p, q, x)``: ``JSD = 1/2 KL(P || M) + 1/2 KL(Q || M)``, ``M = (P + Q) / 2``.

    In nats, between 0 and ``log 2``, symmetric, as :func:`ganlab.theory.js_divergence`.
    """
    __tracebackhide__ = True
    name = _name(fn, "js_divergence")
    x = _grid()
    dx = x[1] - x[0]
    p, q = _smooth_pair(x, seed)
    value = _number(_call_numpy(f"{name}(p, q, x)", fn, p, q, x, name=name), name)
    expected = theory.js_divergence(p, q, x)
    kl = theory.kl_divergence
    m = 0.5 * (p + q)
    mistakes = [
        *_integral_mistakes(expected, dx),
        (2 * expected, "JSD = 1/2 KL(P || M) + 1/2 KL(Q || M): you left out the factors 1/2"),
        (expected - math.log(2), "the mixture is M = (P + Q) / 2: P + Q is not a density "
         "(it integrates to 2)"),
        (0.5 * (kl(p, q, x) + kl(q, p, x)), "compare each density with the mixture "
         "M = (P + Q) / 2, not with the other density: the symmetrised KL is not the JSD"),
        (0.5 * kl(p, m, x), "add both halves: JSD = 1/2 KL(P || M) + 1/2 KL(Q || M)"),
        (kl(p, m, x), "JSD = 1/2 KL(P || M) + 1/2 KL(Q || M): both halves, each with its 1/2"),
        (0.5 * (kl(m, p, x) + kl(m, q, x)), "the KLs go from each density to the mixture: "
         "KL(P || M) and KL(Q || M), not KL(M || P)"),
    ]
    _check_number(name, value, expected, mistakes, "1/2 KL(P || M) + 1/2 KL(Q || M) with "
                  "M = (P + Q) / 2")
    # densities with disjoint supports: JSD = log 2 (up to the grid)
    p0, q0 = _triangle(x, -3.0, 1.5), _triangle(x, 3.0, 1.5)
    value = _number(_call_numpy(f"{name}(p, q, x)", fn, p0, q0, x, name=name), name)
    expected = theory.js_divergence(p0, q0, x)
    _check_number(name, value, expected, _integral_mistakes(expected, dx),
                  "for densities with disjoint supports the JSD is log 2")


@evidence.graded
def check_value_function(fn: Callable[..., float], *, seed: int = 0) -> None:
    """Check ``fn(D, p_data, p_g, x)``: ``V = integral [p_data log D + p_g log(1 - D)] dx``.

    ``D`` holds the discriminator's probabilities at the grid points; a term whose
    density is 0 contributes 0, even where ``log D`` or ``log(1 - D)`` is ``-inf``. One
    number, as :func:`ganlab.theory.value_function`.
    """
    __tracebackhide__ = True
    name = _name(fn, "value_function")
    x = _grid()
    dx = x[1] - x[0]
    p, q = _smooth_pair(x, seed)
    rng = np.random.default_rng(seed)
    logit = 1.5 * np.sin(0.7 * x + rng.uniform(0, 2 * np.pi)) + 0.3 * x
    D = 1 / (1 + np.exp(-logit))
    value = _number(_call_numpy(f"{name}(D, p_data, p_g, x)", fn, D, p, q, x, name=name), name)
    expected = theory.value_function(D, p, q, x)

    def integral(f):
        return float(np.trapezoid(f, x))

    mistakes = [
        (-expected, "V(D, G) = integral of [p_data log D + p_g log(1 - D)] dx is what D "
         "maximises: you flipped its sign"),
        (integral(p * np.log(D) + q * np.log(D)), "the second term is p_g(x) log(1 - D(x)): the "
         "log-probability that D calls a generated sample fake"),
        (integral(q * np.log(D) + p * np.log(1 - D)), "p_data goes with log D(x) and p_g with "
         "log(1 - D(x)): you swapped the two densities"),
        (integral(p * np.log(D) - q * np.log(1 - D)), "add the second term p_g log(1 - D), do "
         "not subtract it"),
        (integral(p * np.log(D)), "add the second term p_g(x) log(1 - D(x)): V has one term for "
         "real samples and one for generated ones"),
        *_integral_mistakes(expected, dx),
    ]
    _check_number(name, value, expected, mistakes, "integral of [p_data log D + p_g log(1 - D)] "
                  "dx with np.trapezoid")
    # D* of densities with disjoint parts is exactly 1 or 0 where one density vanishes
    p0, q0 = _triangle(x, -1.0, 2.0), _triangle(x, 1.5, 2.0)
    D0 = theory.optimal_discriminator(p0, q0)
    value = _number(_call_numpy(f"{name}(D, p_data, p_g, x)", fn, D0, p0, q0, x, name=name), name)
    expected = theory.value_function(D0, p0, q0, x)
    _check_number(name, value, expected, _integral_mistakes(expected, dx),
                  "where p_data = 0 the term p_data log D is 0, and where p_g = 0 the term "
                  "p_g log(1 - D) is 0")




@evidence.graded
def check_smoothed_discriminator(fn: Callable[[np.ndarray, np.ndarray, float], np.ndarray], *,
                                 seed: int = 0) -> None:
    """Check ``fn(p_data, p_g, alpha)``: the optimal D under one-sided label smoothing.

    With real target ``alpha`` D maximises ``p_data [alpha log D + (1 - alpha) log(1 - D)]
    + p_g log(1 - D)`` at every x, whose maximiser is ``D*_alpha = alpha p_data / (p_data +
    p_g)``. Checked where ``p_data + p_g > 0``, for two values of ``alpha``.
    """
    __tracebackhide__ = True
    name = _name(fn, "smoothed_discriminator")
    x = _grid(1201, -6.0, 6.0)
    p, q = _smooth_pair(x, seed)
    q = q * (np.abs(x) < 4)   # exact zeros of p_g: there D*_alpha = alpha, not 1
    live = (p + q) > 0
    for alpha in (0.9, 0.7):
        out = _array(_call_numpy(f"{name}(p_data, p_g, alpha={alpha})", fn, p, q, alpha, name=name),
                     name, x.shape)
        expected = alpha * p / (p + q)
        if np.allclose(out[live], expected[live], rtol=1e-6, atol=1e-12):
            continue
        with np.errstate(all="ignore"):
            mistakes = [
                (p / (p + q), "with real target alpha, D* is no longer p_data / (p_data + p_g): "
                 "differentiate p_data [alpha log D + (1 - alpha) log(1 - D)] + p_g log(1 - D) in D "
                 "and set it to 0"),
                (alpha * p / (alpha * p + q), "solve the stationarity condition again: the (1 - alpha) "
                 "log(1 - D) term adds (1 - alpha) p_data to the coefficient of 1/(1 - D), so the "
                 "denominator is p_data + p_g"),
                ((alpha * p + (1 - alpha) * q) / (p + q), "smooth only the real side: the fakes keep "
                 "target 0, so p_g contributes log(1 - D) alone"),
            ]
        _fail_pointwise(out, expected, live, x, mistakes,
                        f"{name} is not the maximiser of the smoothed value at every x (alpha = {alpha})")
