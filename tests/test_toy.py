"""Tests for `ganlab.toy`: exact densities, samplers and mode-coverage metrics."""

import math

import numpy as np
import pytest
import torch
from scipy import special, stats

from ganlab import toy

trapezoid = getattr(np, "trapezoid", None) or np.trapz

# Exact densities must agree with scipy's closed forms to this relative tolerance
RTOL = 1e-10
# High-quality fraction of true samples at 3 sigma: P(Rayleigh <= 3) in 2-D
HQ_TRUE = 1.0 - math.exp(-4.5)


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def assert_close_to(estimate, truth, standard_error, k=4.0):
    """`estimate` is within `k` standard errors of `truth`."""
    assert abs(estimate - truth) <= k * standard_error, (estimate, truth, standard_error)


# ## Gaussian1D


def test_gaussian_attributes():
    d = toy.Gaussian1D(mean=1.5, std=0.3)
    assert d.mean == 1.5 and d.std == 0.3
    d = toy.Gaussian1D()
    assert d.mean == 0.0 and d.std == 1.0


def test_gaussian_density_matches_scipy():
    d = toy.Gaussian1D(mean=-1.2, std=0.7)
    x = np.linspace(-8.0, 6.0, 301)
    np.testing.assert_allclose(d.pdf(x), stats.norm.pdf(x, -1.2, 0.7), rtol=RTOL)
    np.testing.assert_allclose(d.log_prob(x), stats.norm.logpdf(x, -1.2, 0.7), rtol=RTOL)
    # Far in the tail the pdf underflows but log_prob stays exact
    far = np.array([-100.0, 100.0])
    np.testing.assert_allclose(d.log_prob(far), stats.norm.logpdf(far, -1.2, 0.7), rtol=RTOL)


def test_gaussian_integrates_to_one():
    d = toy.Gaussian1D(mean=3.0, std=0.5)
    x = toy.grid_1d(-2.0, 8.0, 2001)
    assert abs(trapezoid(d.pdf(x), x) - 1.0) < 1e-4


def test_gaussian_sample_moments():
    n, mean, std = 20_000, 2.0, 0.5
    x = toy.Gaussian1D(mean, std).sample(n, generator=seeded(1))
    assert x.shape == (n, 1)
    assert x.dtype == torch.float32
    x = x.double().squeeze(1)
    assert_close_to(x.mean().item(), mean, std / math.sqrt(n))
    assert_close_to(x.std().item(), std, std / math.sqrt(2 * n))


def test_gaussian_seed_reproducible():
    d = toy.Gaussian1D(0.0, 1.0)
    a = d.sample(100, generator=seeded(7))
    b = d.sample(100, generator=seeded(7))
    c = d.sample(100, generator=seeded(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_gaussian_log_prob_is_differentiable():
    d = toy.Gaussian1D(mean=1.0, std=2.0)
    x = torch.tensor([-1.0, 0.0, 3.0], requires_grad=True)
    d.log_prob(x).sum().backward()
    # d/dx log N(x; mu, s^2) = -(x - mu) / s^2
    torch.testing.assert_close(x.grad, -(x.detach() - 1.0) / 4.0)


# ## GaussianMixture1D

MEANS_1D = [-4.0, 0.5, 3.0]
STDS_1D = [0.5, 1.0, 0.25]
WEIGHTS_1D = [0.2, 0.5, 0.3]


def mixture_1d():
    return toy.GaussianMixture1D(MEANS_1D, STDS_1D, WEIGHTS_1D)


def test_mixture_1d_density_matches_scipy():
    d = mixture_1d()
    x = np.linspace(-8.0, 6.0, 401)
    expected = sum(
        w * stats.norm.pdf(x, m, s) for m, s, w in zip(MEANS_1D, STDS_1D, WEIGHTS_1D, strict=True)
    )
    np.testing.assert_allclose(d.pdf(x), expected, rtol=RTOL)
    np.testing.assert_allclose(d.log_prob(x), np.log(expected), rtol=RTOL)


def test_mixture_1d_log_prob_is_stable_far_away():
    d = mixture_1d()
    x = np.array([-500.0, 1000.0])
    # Each component's pdf underflows to 0 here, so log(pdf) would be -inf
    assert np.all(d.pdf(x) == 0.0)
    expected = special.logsumexp(
        [
            np.log(w) + stats.norm.logpdf(x, m, s)
            for m, s, w in zip(MEANS_1D, STDS_1D, WEIGHTS_1D, strict=True)
        ],
        axis=0,
    )
    got = d.log_prob(x)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=RTOL)


def test_mixture_1d_integrates_to_one():
    x = toy.grid_1d(-12.0, 10.0, 4001)
    assert abs(trapezoid(mixture_1d().pdf(x), x) - 1.0) < 1e-4


def test_mixture_1d_default_weights_are_uniform():
    d = toy.GaussianMixture1D([0.0, 1.0, 2.0, 3.0], [1.0] * 4)
    torch.testing.assert_close(d.weights, torch.full((4,), 0.25, dtype=torch.float64))
    x = np.linspace(-3.0, 6.0, 50)
    expected = 0.25 * sum(stats.norm.pdf(x, m, 1.0) for m in range(4))
    np.testing.assert_allclose(d.pdf(x), expected, rtol=RTOL)


def test_mixture_1d_sampling_frequencies_match_weights():
    n = 20_000
    x, k = mixture_1d().sample_with_components(n, generator=seeded(2))
    assert x.shape == (n, 1) and x.dtype == torch.float32
    assert k.shape == (n,) and k.dtype == torch.long
    counts = torch.bincount(k, minlength=3).numpy()
    assert stats.chisquare(counts, n * np.array(WEIGHTS_1D)).pvalue > 1e-3
    # Given its component k, a sample is N(mu_k, sigma_k^2)
    for j, (m, s) in enumerate(zip(MEANS_1D, STDS_1D, strict=True)):
        xs = x[k == j].double()
        assert_close_to(xs.mean().item(), m, s / math.sqrt(len(xs)))
        assert_close_to(xs.std().item(), s, s / math.sqrt(2 * len(xs)))


def test_mixture_1d_sample_moments():
    n = 40_000
    m, s, w = (np.array(v) for v in (MEANS_1D, STDS_1D, WEIGHTS_1D))
    mean = (w * m).sum()
    var = (w * (s**2 + m**2)).sum() - mean**2
    x = mixture_1d().sample(n, generator=seeded(3)).double().squeeze(1)
    assert_close_to(x.mean().item(), mean, math.sqrt(var / n))
    # Standard error of the sample variance: sqrt((mu_4 - var^2) / n)
    central4 = (w * ((m - mean) ** 4 + 6 * (m - mean) ** 2 * s**2 + 3 * s**4)).sum()
    assert_close_to(x.var().item(), var, math.sqrt((central4 - var**2) / n))


def test_mixture_1d_seed_reproducible():
    a = mixture_1d().sample(500, generator=seeded(5))
    b = mixture_1d().sample(500, generator=seeded(5))
    assert torch.equal(a, b)


# ## GaussianMixture2D

MEANS_2D = [[0.0, 0.0], [3.0, 1.0], [-2.0, 2.5]]
STDS_2D = [0.5, 1.0, 0.7]
WEIGHTS_2D = [0.5, 0.3, 0.2]


def mixture_2d():
    return toy.GaussianMixture2D(MEANS_2D, STDS_2D, WEIGHTS_2D)


def test_mixture_2d_density_matches_scipy():
    d = mixture_2d()
    rng = np.random.default_rng(0)
    points = rng.uniform(-5.0, 5.0, size=(4, 25, 2))
    expected = sum(
        w * stats.multivariate_normal.pdf(points, mean=m, cov=s**2 * np.eye(2))
        for m, s, w in zip(MEANS_2D, STDS_2D, WEIGHTS_2D, strict=True)
    )
    got = d.pdf(points)
    assert got.shape == (4, 25)
    np.testing.assert_allclose(got, expected, rtol=RTOL)
    np.testing.assert_allclose(d.log_prob(points), np.log(expected), rtol=RTOL)


def test_mixture_2d_scalar_std_and_stable_log_prob():
    d = toy.GaussianMixture2D(MEANS_2D, 0.1)
    assert d.stds.tolist() == [0.1, 0.1, 0.1]
    point = np.array([40.0, -30.0])
    expected = special.logsumexp(
        [
            np.log(1 / 3) + stats.multivariate_normal.logpdf(point, mean=m, cov=0.01 * np.eye(2))
            for m in MEANS_2D
        ]
    )
    assert d.pdf(point) == 0.0
    np.testing.assert_allclose(d.log_prob(point), expected, rtol=RTOL)


def test_mixture_2d_integrates_to_one():
    axis = toy.grid_1d(-10.0, 10.0, 801)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    density = mixture_2d().pdf(np.stack([xx, yy], axis=-1))
    total = trapezoid(trapezoid(density, axis, axis=1), axis)
    assert abs(total - 1.0) < 1e-4


def test_mixture_2d_sampling():
    n = 20_000
    d = mixture_2d()
    x = d.sample(n, generator=seeded(4))
    assert x.shape == (n, 2) and x.dtype == torch.float32
    x2, k = d.sample_with_components(n, generator=seeded(4))
    assert torch.equal(x, x2)
    counts = torch.bincount(k, minlength=3).numpy()
    assert stats.chisquare(counts, n * np.array(WEIGHTS_2D)).pvalue > 1e-3
    # Per-component mean and per-coordinate std of the samples
    for j, (m, s) in enumerate(zip(MEANS_2D, STDS_2D, strict=True)):
        xs = x[k == j].double()
        for axis in range(2):
            assert_close_to(xs[:, axis].mean().item(), m[axis], s / math.sqrt(len(xs)))
            assert_close_to(xs[:, axis].std().item(), s, s / math.sqrt(2 * len(xs)))


def test_mixture_2d_seed_reproducible():
    a = toy.ring().sample(300, generator=seeded(9))
    b = toy.ring().sample(300, generator=seeded(9))
    c = toy.ring().sample(300, generator=seeded(10))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_nearest_mode():
    d = mixture_2d()
    means = np.array(MEANS_2D)
    np.testing.assert_array_equal(d.nearest_mode(means).numpy(), [0, 1, 2])
    points = torch.tensor([[2.9, 0.8], [0.2, -0.1], [-1.0, 2.0], [10.0, 0.0]])
    got = d.nearest_mode(points)
    assert got.dtype == torch.long and got.shape == (4,)
    assert got.tolist() == [1, 0, 2, 1]
    # Same answer, and still a LongTensor, for numpy input
    assert torch.equal(d.nearest_mode(points.numpy()), got)


# ## ring and grid


def test_ring_modes():
    d = toy.ring(n_modes=8, radius=2.0, std=0.02)
    assert isinstance(d, toy.GaussianMixture2D)
    assert d.means.shape == (8, 2)
    radii = d.means.norm(dim=1)
    torch.testing.assert_close(radii, torch.full((8,), 2.0, dtype=torch.float64))
    angles = torch.atan2(d.means[:, 1], d.means[:, 0]) % (2 * math.pi)
    expected = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    torch.testing.assert_close(angles, expected)
    torch.testing.assert_close(d.means[0], torch.tensor([2.0, 0.0], dtype=torch.float64))
    assert d.stds.tolist() == [0.02] * 8
    torch.testing.assert_close(d.weights, torch.full((8,), 1 / 8, dtype=torch.float64))


def test_ring_other_sizes():
    d = toy.ring(n_modes=3, radius=5.0, std=0.1)
    assert d.means.shape == (3, 2)
    torch.testing.assert_close(d.means.norm(dim=1), torch.full((3,), 5.0, dtype=torch.float64))
    # Equally spaced: neighbouring modes are all the same chord length apart
    chords = (d.means - d.means.roll(-1, dims=0)).norm(dim=1)
    torch.testing.assert_close(chords, torch.full((3,), 5.0 * math.sqrt(3), dtype=torch.float64))


def test_grid_modes():
    d = toy.grid(n=5, spacing=2.0, std=0.05)
    assert d.means.shape == (25, 2)
    means = d.means.numpy()
    # n * n distinct modes, coordinates -4, -2, 0, 2, 4 on each axis
    assert len({tuple(m) for m in means}) == 25
    for axis in range(2):
        np.testing.assert_allclose(np.unique(means[:, axis]), [-4.0, -2.0, 0.0, 2.0, 4.0])
    # Symmetric about the origin: the set of modes equals its reflection
    assert {tuple(m) for m in means} == {tuple(-m) for m in means}
    np.testing.assert_allclose(means.mean(axis=0), [0.0, 0.0], atol=1e-12)
    # Mode i * n + j sits at (c_i, c_j)
    np.testing.assert_allclose(means[1 * 5 + 3], [-2.0, 2.0])
    assert d.stds.tolist() == [0.05] * 25


def test_grid_even_size_is_centred():
    d = toy.grid(n=4, spacing=1.0, std=0.1)
    means = d.means.numpy()
    assert means.shape == (16, 2)
    np.testing.assert_allclose(np.unique(means[:, 0]), [-1.5, -0.5, 0.5, 1.5])
    np.testing.assert_allclose(means.mean(axis=0), [0.0, 0.0], atol=1e-12)


# ## mode_coverage


@pytest.mark.parametrize("dist", [toy.ring(), toy.grid()], ids=["ring", "grid"])
def test_mode_coverage_on_true_samples(dist):
    n = 10_000
    samples = dist.sample(n, generator=seeded(11))
    result = dist.mode_coverage(samples)
    assert set(result) == {"modes_covered", "high_quality_fraction", "counts"}
    assert result["modes_covered"] == dist.n_modes
    assert isinstance(result["modes_covered"], int)
    # P(||x - mu|| <= 3 sigma) for a 2-D isotropic normal is 1 - exp(-9/2)
    assert_close_to(
        result["high_quality_fraction"], HQ_TRUE, math.sqrt(HQ_TRUE * (1 - HQ_TRUE) / n)
    )
    counts = result["counts"]
    assert counts.dtype == torch.long and counts.shape == (dist.n_modes,)
    assert counts.sum().item() == round(result["high_quality_fraction"] * n)


def test_mode_coverage_single_mode():
    dist = toy.ring()
    target = 3
    jitter = (
        0.5 * dist.stds[target] * torch.randn(1000, 2, generator=seeded(12), dtype=torch.float64)
    )
    samples = (dist.means[target] + jitter).float()
    result = dist.mode_coverage(samples)
    assert result["modes_covered"] == 1
    assert result["high_quality_fraction"] > 0.99
    counts = result["counts"]
    assert counts.argmax().item() == target
    assert counts[target].item() == counts.sum().item() > 0
    # Exactly at the mode centre: numpy input works too
    exact = np.repeat(dist.means[5:6].numpy(), 200, axis=0)
    result = dist.mode_coverage(exact)
    assert result["modes_covered"] == 1
    assert result["high_quality_fraction"] == 1.0
    assert result["counts"].tolist() == [0, 0, 0, 0, 0, 200, 0, 0]


def test_mode_coverage_far_away_points():
    dist = toy.ring()
    # The origin is 2 = 100 sigma from every mode; the outer ring 98 sigma out
    angles = torch.linspace(0, 2 * math.pi, 400)
    far = torch.cat([torch.zeros(100, 2), 3.96 * torch.stack([angles.cos(), angles.sin()], 1)])
    result = dist.mode_coverage(far)
    assert result["high_quality_fraction"] == 0.0
    assert result["modes_covered"] == 0
    assert result["counts"].sum().item() == 0


def test_mode_coverage_min_count():
    dist = toy.ring()
    # 990 samples at mode 0 and 10 stray samples at mode 1
    samples = torch.cat([dist.means[0].repeat(990, 1), dist.means[1].repeat(10, 1)])
    # Default: a mode needs 1/5 of its expected 1000 / 8 = 125 samples, i.e. 25
    assert dist.mode_coverage(samples)["modes_covered"] == 1
    assert dist.mode_coverage(samples, min_count=1)["modes_covered"] == 2
    assert dist.mode_coverage(samples, min_count=10)["modes_covered"] == 2
    assert dist.mode_coverage(samples, min_count=11)["modes_covered"] == 1


def test_mode_coverage_threshold():
    dist = toy.ring(std=0.1)
    # 2 sigma away from mode 0, radially outwards
    samples = torch.tensor([[2.2, 0.0]])
    assert dist.mode_coverage(samples, threshold=3.0)["high_quality_fraction"] == 1.0
    assert dist.mode_coverage(samples, threshold=1.0)["high_quality_fraction"] == 0.0


# ## Input and output kinds


@pytest.mark.parametrize(
    "dist, x",
    [
        (toy.Gaussian1D(0.5, 2.0), [[-1.0], [0.0], [2.5]]),
        (toy.GaussianMixture1D([-1.0, 1.0], [0.5, 0.5]), [[-1.0], [0.0], [2.5]]),
        (toy.ring(), [[2.0, 0.0], [0.0, 1.99], [0.1, 0.1]]),
    ],
    ids=["gaussian", "mixture1d", "mixture2d"],
)
@pytest.mark.parametrize("method", ["pdf", "log_prob"])
def test_numpy_in_numpy_out_tensor_in_tensor_out(dist, x, method):
    f = getattr(dist, method)
    out_np = f(np.array(x))
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.float64
    # float32 arrays and plain lists are numpy-like input too
    for like_numpy in (np.array(x, dtype=np.float32), x):
        out = f(like_numpy)
        assert isinstance(out, np.ndarray) and out.dtype == np.float64
        assert out.shape == out_np.shape

    out_64 = f(torch.tensor(x, dtype=torch.float64))
    assert isinstance(out_64, torch.Tensor) and out_64.dtype == torch.float64
    np.testing.assert_allclose(out_64.numpy(), out_np, rtol=RTOL)

    out_32 = f(torch.tensor(x, dtype=torch.float32))
    assert isinstance(out_32, torch.Tensor) and out_32.dtype == torch.float32
    assert out_32.shape == out_64.shape
    np.testing.assert_allclose(out_32.double().numpy(), out_np, rtol=1e-4, atol=1e-30)


def test_scalar_input_gives_numpy():
    out = toy.Gaussian1D().pdf(0.0)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert out == pytest.approx(1 / math.sqrt(2 * math.pi), rel=RTOL)


# ## noise and grid_1d


def test_noise_normal():
    n, dim = 20_000, 3
    z = toy.noise(n, dim, generator=seeded(13))
    assert z.shape == (n, dim) and z.dtype == torch.float32
    z = z.double()
    for j in range(dim):
        assert_close_to(z[:, j].mean().item(), 0.0, 1 / math.sqrt(n))
        assert_close_to(z[:, j].std().item(), 1.0, 1 / math.sqrt(2 * n))
    assert z.min() < -3 and z.max() > 3  # unbounded, unlike the uniform prior


def test_noise_uniform():
    n, dim = 20_000, 2
    z = toy.noise(n, dim, kind="uniform", generator=seeded(14))
    assert z.shape == (n, dim) and z.dtype == torch.float32
    assert z.min() >= -1.0 and z.max() <= 1.0
    assert z.min() < -0.99 and z.max() > 0.99
    z = z.double()
    for j in range(dim):
        # U(-1, 1): mean 0, variance 1/3, Var[z^2] = 1/5 - 1/9
        assert_close_to(z[:, j].mean().item(), 0.0, math.sqrt(1 / 3 / n))
        assert_close_to(z[:, j].var().item(), 1 / 3, math.sqrt((1 / 5 - 1 / 9) / n))


@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_noise_seed_reproducible(kind):
    a = toy.noise(64, 4, kind=kind, generator=seeded(15))
    b = toy.noise(64, 4, kind=kind, generator=seeded(15))
    c = toy.noise(64, 4, kind=kind, generator=seeded(16))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_grid_1d():
    x = toy.grid_1d(-3.0, 5.0, 9)
    assert isinstance(x, np.ndarray) and x.dtype == np.float64
    np.testing.assert_allclose(x, np.arange(-3.0, 6.0))
    assert toy.grid_1d(0.0, 1.0).shape == (1000,)


# ## Validation


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: toy.Gaussian1D(std=0.0), "std"),
        (lambda: toy.Gaussian1D(std=-1.0), "std"),
        (lambda: toy.GaussianMixture1D([0.0, 1.0], [1.0, 0.0]), "stds"),
        (lambda: toy.GaussianMixture2D([[0.0, 0.0]], -0.1), "std"),
        (lambda: toy.GaussianMixture2D([[0.0, 0.0], [1.0, 1.0]], [0.1, 0.0]), "std"),
        (lambda: toy.ring(std=0.0), "std"),
        (lambda: toy.grid(std=-0.05), "std"),
    ],
)
def test_non_positive_std_raises(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "weights, match",
    [
        ([0.5, 0.6, -0.1], "non-negative"),
        ([0.5, 0.4, 0.2], "sum to 1"),
        ([0.3, 0.3, 0.3], "sum to 1"),
        ([1 / 3, 1 / 3, 1 / 3 + 2e-6], "sum to 1"),
    ],
)
def test_bad_weights_raise(weights, match):
    with pytest.raises(ValueError, match=match):
        toy.GaussianMixture1D([0.0, 1.0, 2.0], [1.0] * 3, weights)
    with pytest.raises(ValueError, match=match):
        toy.GaussianMixture2D([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], 1.0, weights)


def test_weights_within_tolerance_accepted():
    d = toy.GaussianMixture1D([0.0, 1.0], [1.0, 1.0], [0.5, 0.5 + 5e-7])
    assert d.weights.shape == (2,)
    # A zero weight is allowed and simply switches a component off
    d = toy.GaussianMixture1D([0.0, 100.0], [1.0, 1.0], [1.0, 0.0])
    np.testing.assert_allclose(d.pdf([0.0, 100.0]), stats.norm.pdf([0.0, 100.0]), rtol=RTOL)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: toy.GaussianMixture1D([0.0, 1.0], [1.0]), "same length"),
        (lambda: toy.GaussianMixture1D([0.0, 1.0], [1.0, 1.0], [1.0]), "one weight per component"),
        (
            lambda: toy.GaussianMixture2D([[0.0, 0.0], [1.0, 1.0]], [0.1, 0.1, 0.1]),
            "one value per mode",
        ),
        (
            lambda: toy.GaussianMixture2D([[0.0, 0.0], [1.0, 1.0]], 0.1, [0.2, 0.3, 0.5]),
            "one weight per component",
        ),
        (lambda: toy.GaussianMixture2D([[0.0, 0.0, 0.0]], 0.1), r"shape \(K, 2\)"),
        (lambda: toy.GaussianMixture2D([0.0, 0.0], 0.1), r"shape \(K, 2\)"),
        (lambda: toy.GaussianMixture1D([], []), "at least one"),
    ],
)
def test_mismatched_lengths_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("method", ["pdf", "log_prob", "nearest_mode", "mode_coverage"])
@pytest.mark.parametrize(
    "points", [np.zeros((5, 3)), torch.zeros(5, 1), np.zeros((4, 2, 1)), np.float64(0.0)]
)
def test_points_must_have_last_dim_2(method, points):
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        getattr(toy.ring(), method)(points)


def test_mode_coverage_needs_a_batch_of_points():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        toy.ring().mode_coverage(np.zeros(2))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        toy.ring().mode_coverage(np.zeros((3, 4, 2)))


def test_mode_coverage_rejects_empty_samples():
    with pytest.raises(ValueError, match="at least one"):
        toy.ring().mode_coverage(np.zeros((0, 2)))


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_non_positive_n_raises(n):
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy.Gaussian1D().sample(n)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy.GaussianMixture1D([0.0], [1.0]).sample(n)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy.ring().sample(n)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy.noise(n, 2)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy.noise(4, n)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy.ring(n_modes=n)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy.grid(n=n)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy.grid_1d(0.0, 1.0, n)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy.ring().mode_coverage(toy.ring().means, min_count=n)


def test_grid_1d_validation():
    with pytest.raises(ValueError, match="at least 2"):
        toy.grid_1d(0.0, 1.0, 1)
    with pytest.raises(ValueError, match="greater than low"):
        toy.grid_1d(1.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        toy.grid_1d(0.0, float("inf"))


def test_unknown_noise_kind_lists_valid_kinds():
    with pytest.raises(ValueError, match=r"gaussian.*\['normal', 'uniform'\]"):
        toy.noise(4, 2, kind="gaussian")
