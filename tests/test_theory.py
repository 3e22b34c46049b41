"""ganlab.theory: divergences on a grid against closed forms, and Proposition 1 and
Theorem 1 of Goodfellow et al. (2014) on random Gaussian mixtures."""

import math

import numpy as np
import pytest

from ganlab import theory, toy

# --- divergences on a grid --------------------------------------------------------------------


def _normal(x, m, s):
    return np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))


def test_grid_kl_matches_gaussian_closed_form_and_is_asymmetric():
    x = np.linspace(-15, 15, 20001)
    p, q = _normal(x, 0.0, 1.0), _normal(x, 1.0, 2.0)
    closed = math.log(2.0 / 1.0) + (1.0 + 1.0) / (2 * 4.0) - 0.5
    assert theory.kl_divergence(p, q, x) == pytest.approx(closed, rel=1e-6)
    assert theory.kl_divergence(q, p, x) != pytest.approx(theory.kl_divergence(p, q, x), rel=0.1)
    assert theory.kl_divergence(p, p, x) == pytest.approx(0.0, abs=1e-12)


def test_grid_divergences_with_disjoint_supports():
    x = np.linspace(0, 4, 4001)
    p = np.where(x < 1, 1.0, 0.0)
    q = np.where((x > 2) & (x < 3), 1.0, 0.0)
    assert theory.kl_divergence(p, q, x) == float("inf")
    assert theory.js_divergence(p, q, x) == pytest.approx(math.log(2), rel=2e-3)
    assert theory.js_divergence(p, p, x) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        theory.kl_divergence(-p, q, x)
    with pytest.raises(ValueError, match="strictly increasing"):
        theory.kl_divergence(p, q, x[::-1])


# --- Proposition 1 and Theorem 1 on random Gaussian mixtures ----------------------------------


def _random_mixture(rng):
    k = rng.integers(1, 4)
    return toy.GaussianMixture1D(rng.normal(0, 2, k), rng.uniform(0.3, 1.5, k), rng.dirichlet(np.ones(k)))


@pytest.mark.parametrize("seed", range(5))
def test_virtual_training_criterion_is_minus_log4_plus_2_jsd(seed):
    rng = np.random.default_rng(seed)
    x = toy.grid_1d(-20, 20, 40001)
    p_data, p_g = _random_mixture(rng).pdf(x), _random_mixture(rng).pdf(x)
    C = theory.virtual_training_criterion(p_data, p_g, x)
    assert C == pytest.approx(-math.log(4) + 2 * theory.js_divergence(p_data, p_g, x), abs=1e-9)
    assert C > -math.log(4)
    # D* beats any other discriminator: perturb it and V drops
    D_star = theory.optimal_discriminator(p_data, p_g)
    for D in (np.clip(D_star + 0.05, 0, 0.999), np.clip(D_star * 0.9, 0.001, 1), np.full_like(x, 0.5)):
        assert theory.value_function(D, p_data, p_g, x) < C


def test_minimum_is_minus_log4_at_pg_equal_pdata():
    x = toy.grid_1d(-20, 20, 40001)
    p = toy.GaussianMixture1D([-1, 2], [0.5, 1.0], [0.3, 0.7]).pdf(x)
    assert theory.virtual_training_criterion(p, p, x) == pytest.approx(-math.log(4), abs=1e-9)
    assert np.allclose(theory.optimal_discriminator(p, p), 0.5)


def test_optimal_discriminator_guards_zero_densities():
    D = theory.optimal_discriminator(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 2.0]))
    assert D.tolist() == [0.5, 1.0, 0.0]
    x = np.linspace(0, 3, 3001)
    p, q = np.where(x < 1, 1.0, 0.0), np.where(x > 2, 1.0, 0.0)  # disjoint: D* is perfect
    assert theory.virtual_training_criterion(p, q, x) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(theory.value_function(theory.optimal_discriminator(p, q), p, q, x))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        theory.value_function(np.full_like(x, 2.0), p, q, x)


def test_value_at_optimal_logit_equals_criterion_even_in_the_tails():
    x = toy.grid_1d(-20, 20, 40001)
    p = toy.GaussianMixture1D([-1, 2], [0.5, 1.0], [0.3, 0.7]).pdf(x)
    q = toy.Gaussian1D(0.5, 0.4).pdf(x)
    C = theory.virtual_training_criterion(p, q, x)
    assert theory.value_function(theory.optimal_logit(p, q), p, q, x, logits=True) == pytest.approx(C, abs=1e-12)
    # through probabilities, D* rounds to exactly 1 where p_g is ~1e-16 of p_data: log(1 - 1) = -inf
    assert theory.value_function(theory.optimal_discriminator(p, q), p, q, x) == float("-inf")
    logit = theory.optimal_logit(np.array([0.0, 1.0, 0.0, 2.0]), np.array([0.0, 0.0, 1.0, 1.0]))
    assert logit.tolist() == [0.0, float("inf"), float("-inf"), pytest.approx(math.log(2))]
    # logits and probabilities agree where nothing rounds
    y = np.linspace(-3, 3, 3001)
    a, b = toy.Gaussian1D(0, 1).pdf(y), toy.Gaussian1D(0.5, 1).pdf(y)
    logits = np.linspace(-2, 2, 3001)
    assert theory.value_function(logits, a, b, y, logits=True) == pytest.approx(
        theory.value_function(1 / (1 + np.exp(-logits)), a, b, y), rel=1e-12)
