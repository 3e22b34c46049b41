"""ganlab.metrics against closed forms, high-precision references and reference libraries
(pytorch-fid, torchmetrics, scipy, scikit-learn)."""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
import torch
from scipy.special import logsumexp, softmax
from scipy.stats import entropy, norm, ortho_group

from ganlab import metrics

pytestmark = pytest.mark.usefixtures("one_thread")


def rng(seed=0):
    return np.random.default_rng(seed)


def well_conditioned(d, n, seed):
    """Mean and covariance of n >> d correlated Gaussian samples."""
    g = rng(seed)
    x = g.normal(size=(n, d)) @ g.normal(size=(d, d)) + g.normal(size=d)
    return x.mean(0), np.cov(x, rowvar=False)


def pytorch_fid_distance(mu1, sigma1, mu2, sigma2):
    from pytorch_fid.fid_score import calculate_frechet_distance

    with warnings.catch_warnings():  # scipy's sqrtm(disp=...) deprecation, its eps notice
        warnings.simplefilter("ignore")
        return calculate_frechet_distance(*(np.asarray(a) for a in (mu1, sigma1, mu2, sigma2)))


# --- FID: closed forms ----------------------------------------------------------------------

def test_frechet_equal_covariances_is_squared_mean_distance():
    mu1, sigma = well_conditioned(8, 100, seed=1)
    mu2 = mu1 + rng(2).normal(size=8)
    assert metrics.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(
        np.sum((mu1 - mu2) ** 2), rel=1e-10)


@pytest.mark.parametrize(("m1", "s1", "m2", "s2"), [(0.0, 1.0, 3.0, 2.0), (-1.5, 0.1, 2.0, 7.0),
                                                    (1.0, 2.0, 1.0, 2.0)])
def test_frechet_one_dimensional_gaussians(m1, s1, m2, s2):
    value = metrics.frechet_distance([m1], [[s1**2]], [m2], [[s2**2]])
    assert value == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-12, abs=1e-12)


def test_frechet_identical_gaussians_is_zero():
    mu, sigma = well_conditioned(32, 200, seed=3)
    assert metrics.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_frechet_commuting_singular_covariances_closed_form():
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T commute: Tr (S1 S2)^{1/2} = sum sqrt(a b),
    # so d^2 = ||dmu||^2 + sum (sqrt a - sqrt b)^2, also when a and b have zeros (rank 50 each)
    d = 100
    g = rng(4)
    q = ortho_group.rvs(d, random_state=5)
    a, b = g.uniform(0.1, 3.0, d), g.uniform(0.1, 3.0, d)
    a[:50] = 0.0
    b[25:75] = 0.0
    mu1, mu2 = g.normal(size=d), g.normal(size=d)
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


# --- FID: reference implementations ---------------------------------------------------------

@pytest.mark.parametrize("d", [2, 16, 128])
def test_frechet_agrees_with_pytorch_fid(d):
    mu1, s1 = well_conditioned(d, 20 * d, seed=d)
    mu2, s2 = well_conditioned(d, 20 * d, seed=d + 1)
    ours = metrics.frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(pytorch_fid_distance(mu1, s1, mu2, s2), rel=1e-6)


def mpmath_fid(a: np.ndarray, b: np.ndarray, digits: int = 30) -> float:
    """FID of two sample sets with 30-digit arithmetic: exact sample covariances (rank
    N - 1, so exactly singular) and Tr (S1 S2)^{1/2} = sum sqrt(eig(S1 S2))."""
    with mpmath.workdps(digits):
        def stats(x):
            n, d = x.shape
            m = mpmath.matrix(x.tolist())
            mu = [mpmath.fsum(m[i, j] for i in range(n)) / n for j in range(d)]
            c = mpmath.matrix(n, d)
            for i in range(n):
                for j in range(d):
                    c[i, j] = m[i, j] - mu[j]
            return mu, c.T * c / (n - 1)

        (m1, s1), (m2, s2) = stats(a), stats(b)
        eigenvalues = mpmath.eig(s1 * s2, left=False, right=False)
        tr_covmean = mpmath.fsum(mpmath.sqrt(max(mpmath.re(e), 0)) for e in eigenvalues)
        d = a.shape[1]
        value = (mpmath.fsum((m1[j] - m2[j]) ** 2 for j in range(d))
                 + mpmath.fsum(s1[j, j] + s2[j, j] for j in range(d)) - 2 * tr_covmean)
        return float(value)


def test_fid_singular_covariances_match_high_precision_reference():
    # 6 samples in 12-d: both covariances have rank 5; float64 sqrtm (pytorch-fid) is off
    # by ~1e-8 relative here, the eigen route by ~1e-16
    g = rng(6)
    a, b = g.normal(size=(6, 12)), 1.5 * g.normal(size=(6, 12)) + 0.1
    reference = mpmath_fid(a, b)
    assert metrics.fid(a, b) == pytest.approx(reference, rel=1e-10)
    assert pytorch_fid_distance(*metrics.gaussian_statistics(a),
                                *metrics.gaussian_statistics(b)) == pytest.approx(reference, rel=1e-5)


def test_fid_fewer_samples_than_dimensions_is_finite_and_accurate():
    g = rng(7)
    a, b = g.normal(size=(50, 100)), g.normal(size=(50, 100)) + 0.1
    value = metrics.fid(a, b)
    assert math.isfinite(value) and value >= 0
    # identical sets: exactly singular, still 0
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-9)
    # the same singular case through pytorch-fid (which adds 1e-6 to the diagonal if needed)
    assert value == pytest.approx(pytorch_fid_distance(*metrics.gaussian_statistics(a),
                                                       *metrics.gaussian_statistics(b)), rel=1e-5)


def test_gaussian_statistics_match_numpy():
    x = rng(8).normal(size=(30, 5))
    mu, sigma = metrics.gaussian_statistics(x)
    assert mu.dtype == sigma.dtype == torch.float64
    np.testing.assert_allclose(mu.numpy(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x, rowvar=False), rtol=1e-12)


def test_fid_torch_numpy_and_float32_inputs_agree():
    a, b = rng(9).normal(size=(40, 6)), rng(10).normal(size=(50, 6)) + 0.3
    expected = metrics.fid(a, b)
    assert metrics.fid(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(expected, rel=1e-12)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    assert metrics.fid(torch.from_numpy(a32), b32) == pytest.approx(expected, rel=1e-5)


# --- FID from images --------------------------------------------------------------------------

def test_fid_from_images_uses_the_extractor_in_batches():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(23, 1, 4, 4, generator=g) * 2 - 1
    fake = (torch.rand(17, 1, 4, 4, generator=g) * 2 - 1) * 0.5
    calls = []

    def extractor(x):
        calls.append(x.shape[0])
        return x.flatten(1)[:, :6] * 2

    value = metrics.fid_from_images(real, fake, extractor, batch_size=10)
    assert calls == [10, 10, 3, 10, 7]
    assert value == pytest.approx(metrics.fid(real.flatten(1)[:, :6] * 2, fake.flatten(1)[:, :6] * 2),
                                  rel=1e-6)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 5)).eval()
    with torch.no_grad():
        expected = metrics.fid(module(real), module(fake))
    assert metrics.fid_from_images(real.numpy(), fake, module, batch_size=4) == pytest.approx(expected, rel=1e-6)


def test_fid_from_images_errors():
    images = torch.zeros(4, 1, 2, 2)
    flat = lambda x: x.flatten(1)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        metrics.fid_from_images(images + 255, images, flat)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        metrics.fid_from_images(images.flatten(1), images, flat)
    with pytest.raises(ValueError, match="training mode"):
        metrics.fid_from_images(images, images, torch.nn.Flatten().train())
    with pytest.raises(ValueError, match=r"features \(B, d\)"):
        metrics.fid_from_images(images, images, lambda x: x)
    with pytest.raises(ValueError, match="callable"):
        metrics.fid_from_images(images, images, "inception")
    with pytest.raises(ValueError, match="NaN"):
        metrics.fid_from_images(images * math.nan, images, flat)


# --- Inception Score ----------------------------------------------------------------------------

def test_inception_score_uniform_predictions_is_one():
    assert metrics.inception_score(np.zeros((100, 10))) == pytest.approx((1.0, 0.0), abs=1e-12)
    assert metrics.inception_score(rng(11).normal(size=(50, 1)) * np.ones((1, 7)), splits=5)[0] == \
        pytest.approx(1.0, abs=1e-12)  # constant rows: every p(y|x) uniform


def test_inception_score_confident_and_balanced_is_number_of_classes():
    c = 7
    labels = np.arange(10 * 3 * c) % c                                  # every split uses all classes
    one_hot = np.eye(c)[labels]
    assert metrics.inception_score(one_hot, splits=3, probabilities=True) == pytest.approx((c, 0.0), abs=1e-12)
    mean, std = metrics.inception_score(50.0 * one_hot, splits=3)       # softmax ~ one-hot
    assert mean == pytest.approx(c, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_splits_are_consecutive_and_std_has_ddof_zero():
    # first half all class 0, second half all class 1: each split sees one class (IS = 1),
    # the whole set sees two (IS = 2); a shuffle would mix them
    probs = np.eye(2)[np.repeat([0, 1], 50)]
    assert metrics.inception_score(probs, splits=2, probabilities=True) == pytest.approx((1.0, 0.0))
    assert metrics.inception_score(probs, splits=1, probabilities=True) == pytest.approx((2.0, 0.0))
    # splits with IS 2 and 1: mean 1.5, std (ddof 0) 0.5
    probs = np.eye(2)[np.r_[np.arange(20) % 2, np.zeros(20, int)]]
    assert metrics.inception_score(probs, splits=2, probabilities=True) == pytest.approx((1.5, 0.5))


def test_inception_score_matches_entropy_formula():
    # E_x KL(p(y|x) || p(y)) = H(p(y)) - E_x H(p(y|x)), per split of 40 consecutive rows
    logits = 3 * rng(12).normal(size=(120, 10))
    p = softmax(logits, axis=1)
    scores = [np.exp(entropy(part.mean(0)) - entropy(part, axis=1).mean()) for part in np.split(p, 3)]
    assert metrics.inception_score(logits, splits=3) == pytest.approx((np.mean(scores), np.std(scores)),
                                                                       rel=1e-10)
    # log-probabilities are logits too; probabilities with probabilities=True give the same
    log_p = torch.log_softmax(torch.from_numpy(logits), 1)
    assert metrics.inception_score(log_p, splits=3) == pytest.approx(metrics.inception_score(logits, 3))
    assert metrics.inception_score(p, splits=3, probabilities=True) == pytest.approx(
        metrics.inception_score(logits, 3), rel=1e-10)


def test_inception_score_agrees_with_torchmetrics():
    from torchmetrics.image.inception import InceptionScore

    splits, n = 4, 200
    logits = torch.from_numpy(2 * rng(13).normal(size=(n, 10)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                        # "features are kept in memory"
        metric = InceptionScore(feature=torch.nn.Identity(), splits=splits)
    metric.update(logits)
    torch.manual_seed(123)
    theirs_mean, theirs_std = metric.compute()
    torch.manual_seed(123)
    order = torch.randperm(n)                                  # torchmetrics shuffles first
    mean, std = metrics.inception_score(logits[order], splits=splits)
    assert mean == pytest.approx(float(theirs_mean), rel=1e-9)
    assert std * math.sqrt(splits / (splits - 1)) == pytest.approx(float(theirs_std), rel=1e-9)


def test_inception_score_refuses_probabilities_as_logits():
    p = softmax(rng(14).normal(size=(20, 5)), axis=1)
    with pytest.raises(ValueError, match="probabilities=True"):
        metrics.inception_score(p, splits=2)
    with pytest.raises(ValueError, match="probabilities=False"):
        metrics.inception_score(p - 0.1, splits=2, probabilities=True)
    with pytest.raises(ValueError, match="probabilities=False"):
        metrics.inception_score(2 * p, splits=2, probabilities=True)


# --- KID --------------------------------------------------------------------------------------

def direct_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3, written with explicit sums over pairs."""
    d, m = x.shape[1], x.shape[0]
    k = lambda a, b: (a @ b / d + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / m**2


def test_kid_whole_set_matches_direct_sums():
    g = rng(15)
    x, y = g.normal(size=(20, 4)), g.normal(size=(20, 4)) * 1.3 + 0.4
    mean, std = metrics.kid(x, y, subsets=3, subset_size=20)
    assert mean == pytest.approx(direct_mmd2(x, y), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)       # every subset is the whole set


def test_kid_agrees_with_torchmetrics():
    from torchmetrics.image.kid import KernelInceptionDistance

    g = rng(16)
    x = torch.from_numpy(g.normal(size=(60, 16)))
    y = torch.from_numpy(g.normal(size=(60, 16)) + 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                        # "features are kept in memory"
        metric = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=5, subset_size=60)
    metric.update(x, real=True)
    metric.update(y, real=False)
    theirs_mean, theirs_std = metric.compute()                 # subsets = permutations of all
    mean, std = metrics.kid(x, y, subsets=5, subset_size=60)
    assert mean == pytest.approx(float(theirs_mean), rel=1e-9)
    assert std == pytest.approx(float(theirs_std), abs=1e-9) == 0.0


def test_kid_random_subsets_estimate_the_whole_set_value():
    g = rng(17)
    x, y = g.normal(size=(200, 8)), g.normal(size=(150, 8)) + 0.5
    mean, std = metrics.kid(x, y, subsets=200, subset_size=50)
    x_all = metrics.kid(x, y[:150], subsets=1, subset_size=150)[0]
    assert std > 0
    assert abs(mean - x_all) < 4 * std / math.sqrt(200) + 0.05 * x_all
    # same distribution: close to 0; shifted: clearly positive
    same = metrics.kid(g.normal(size=(300, 8)), g.normal(size=(300, 8)), subsets=20, subset_size=100)
    assert abs(same[0]) < 3 * same[1] and mean > 10 * abs(same[0])


def test_kid_subset_size_is_clipped_and_seeded():
    g = rng(18)
    x, y = g.normal(size=(30, 3)), g.normal(size=(40, 3))
    assert metrics.kid(x, y, subsets=4, subset_size=1000) == metrics.kid(x, y, subsets=4, subset_size=30)
    assert metrics.kid(x, y, subsets=4, subset_size=10, seed=1) == metrics.kid(x, y, subsets=4, subset_size=10, seed=1)
    assert metrics.kid(x, y, subsets=4, subset_size=10, seed=1) != metrics.kid(x, y, subsets=4, subset_size=10, seed=2)


# --- precision and recall ---------------------------------------------------------------------

def brute_precision_recall(x, y, k):
    from scipy.spatial.distance import cdist

    def radii(f):
        return np.sort(cdist(f, f), axis=1)[:, k]              # column 0 is the point itself

    precision = np.mean((cdist(y, x) <= radii(x)[None, :]).any(1))
    recall = np.mean((cdist(x, y) <= radii(y)[None, :]).any(1))
    return precision, recall


def test_precision_recall_identical_and_disjoint_sets():
    x = rng(19).normal(size=(100, 5))
    assert metrics.precision_recall(x, x) == (1.0, 1.0)
    assert metrics.precision_recall(x, x + 1000.0) == (0.0, 0.0)


def test_precision_recall_hand_computed_one_dimensional_case():
    real = np.arange(10.0)[:, None]            # 0, 1, ..., 9: each k=1 ball has radius 1
    fake = np.array([[0.5], [20.0]])           # 0.5 is inside, 20 is not: precision 1/2
    # fake balls (k=1) have radius 19.5 around both fakes: they cover every real point
    assert metrics.precision_recall(real, fake, k=1) == (0.5, 1.0)
    # with k=2 the end points 0 and 9 get radius 2, so 11 is inside: precision 2/3
    fake = np.array([[0.5], [11.0], [30.0]])
    # fake k=2 radii are 29.5, 19, 29.5: every real point is covered
    assert metrics.precision_recall(real, fake, k=2) == pytest.approx((2 / 3, 1.0))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_matches_brute_force(k):
    g = rng(20 + k)
    x, y = g.normal(size=(120, 6)), 1.4 * g.normal(size=(90, 6)) + 0.5
    ours = metrics.precision_recall(x, y, k=k, batch_size=17)
    assert ours == pytest.approx(brute_precision_recall(x, y, k), abs=1e-12)
    assert 0 < ours[0] < 1 and 0 < ours[1] < 1


# --- permutation invariance -------------------------------------------------------------------

def test_fid_kid_precision_recall_do_not_depend_on_sample_order():
    g = rng(24)
    x, y = g.normal(size=(80, 6)), g.normal(size=(70, 6)) + 0.3
    px, py = x[g.permutation(80)], y[g.permutation(70)]
    assert metrics.fid(px, py) == pytest.approx(metrics.fid(x, y), rel=1e-10)
    assert metrics.kid(px, py, subsets=10, subset_size=25) == pytest.approx(
        metrics.kid(x, y, subsets=10, subset_size=25), rel=1e-10)
    assert metrics.precision_recall(px, py) == metrics.precision_recall(x, y)


# --- Parzen windows ---------------------------------------------------------------------------

def test_parzen_matches_direct_logsumexp():
    g = rng(25)
    samples, test = g.normal(size=(40, 1, 2, 3)), g.normal(size=(30, 1, 2, 3))
    sigma = 0.7
    s, t = samples.reshape(40, -1), test.reshape(30, -1)
    per_point = np.array([logsumexp(norm.logpdf(x, loc=s, scale=sigma).sum(1)) - np.log(len(s))
                          for x in t])
    mean, se = metrics.parzen_log_likelihood(samples, test, sigma, batch_size=7)
    assert mean == pytest.approx(per_point.mean(), rel=1e-12)
    assert se == pytest.approx(per_point.std() / np.sqrt(len(t)), rel=1e-10)
    assert metrics.parzen_log_likelihood(torch.from_numpy(samples), torch.from_numpy(test),
                                         torch.tensor(sigma, dtype=torch.float64)) == pytest.approx((mean, se), rel=1e-12)


def test_parzen_does_not_underflow_far_from_the_samples():
    mean, _ = metrics.parzen_log_likelihood(np.zeros((5, 784)), np.ones((3, 784)), sigma=0.05)
    assert mean == pytest.approx(-784 / (2 * 0.05**2) - 392 * math.log(2 * math.pi * 0.05**2))


def test_select_parzen_sigma_recovers_a_known_gaussian():
    # every sample at mu: p_hat_sigma = N(mu, sigma^2 I), whose validation log-likelihood peaks
    # at the maximum-likelihood sigma^2 = mean ||x - mu||^2 / D, close to the true s = 0.3
    g = rng(26)
    mu, s, dim = g.normal(size=10), 0.3, 10
    samples = np.tile(mu, (20, 1))
    validation = mu + s * g.normal(size=(500, dim))
    sigmas = np.logspace(-1, 0, 10)                            # the paper's grid
    best, scores = metrics.select_parzen_sigma(samples, validation, sigmas)
    mle = np.sqrt(np.mean((validation - mu) ** 2))
    assert mle == pytest.approx(s, rel=0.05)
    assert best == sigmas[np.argmin(np.abs(np.log(sigmas / mle)))]
    assert best == pytest.approx(0.278, abs=1e-3)              # the grid point nearest to 0.3
    assert scores.shape == (10,)
    for sigma, score in zip(sigmas[[0, 5, 9]], scores[[0, 5, 9]], strict=True):
        assert float(score) == pytest.approx(metrics.parzen_log_likelihood(samples, validation, sigma)[0])


# --- nearest neighbours -----------------------------------------------------------------------

def test_nearest_neighbours_matches_sklearn():
    from sklearn.neighbors import NearestNeighbors

    g = rng(27)
    reference, queries = g.normal(size=(200, 1, 3, 3)), g.normal(size=(45, 1, 3, 3))
    distances, indices = metrics.nearest_neighbours(queries, reference, k=4, batch_size=8)
    sk = NearestNeighbors(n_neighbors=4).fit(reference.reshape(200, -1))
    sk_distances, sk_indices = sk.kneighbors(queries.reshape(45, -1))
    np.testing.assert_array_equal(indices.numpy(), sk_indices)
    np.testing.assert_allclose(distances.numpy(), sk_distances, rtol=1e-12)
    assert distances.dtype == torch.float64 and indices.dtype == torch.int64


def test_nearest_neighbours_finds_exact_copies_at_distance_zero():
    reference = torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    copies = reference[[7, 3, 41]]
    distances, indices = metrics.nearest_neighbours(copies, reference)
    assert indices[:, 0].tolist() == [7, 3, 41]
    assert distances[:, 0].tolist() == [0.0, 0.0, 0.0]


# --- errors -------------------------------------------------------------------------------------

X = np.ones((10, 4)) + np.arange(40.0).reshape(10, 4) ** 0.5
NAN = X.copy()
NAN[3, 1] = np.nan
INF = X.copy()
INF[0, 0] = np.inf


@pytest.mark.parametrize(("call", "match"), [
    (lambda: metrics.fid(X, X[:, :3]), "same feature dimension"),
    (lambda: metrics.fid(X, X[:1]), "at least 2 samples"),
    (lambda: metrics.fid(X, NAN), "NaN or inf"),
    (lambda: metrics.fid(INF, X), "NaN or inf"),
    (lambda: metrics.fid(X[0], X), r"shape \(N, d\)"),
    (lambda: metrics.fid(X[None], X), r"shape \(N, d\)"),
    (lambda: metrics.fid({"a": 1}, X), "torch tensor or a NumPy array"),
    (lambda: metrics.gaussian_statistics(X[:1]), "at least 2 samples"),
    (lambda: metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(3)), "shape of mu1"),
    (lambda: metrics.frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3)), r"\(3, 3\)"),
    (lambda: metrics.frechet_distance(np.zeros((3, 1)), np.eye(3), np.zeros(3), np.eye(3)), r"shape \(d,\)"),
    (lambda: metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.triu(np.ones((3, 3)))),
     "not symmetric"),
    (lambda: metrics.frechet_distance(np.zeros(3), np.eye(3) * np.nan, np.zeros(3), np.eye(3)), "NaN"),
    (lambda: metrics.kid(X, X, subset_size=1), "subset_size must be an integer >= 2"),
    (lambda: metrics.kid(X, X, subsets=0), "subsets must be an integer >= 1"),
    (lambda: metrics.kid(X, X[:1]), "at least 2 samples"),
    (lambda: metrics.kid(X, X[:, :2]), "same feature dimension"),
    (lambda: metrics.precision_recall(X, X[:3], k=3), "at least 4 samples"),
    (lambda: metrics.precision_recall(X, X, k=0), "k must be an integer >= 1"),
    (lambda: metrics.precision_recall(X, NAN), "NaN or inf"),
    (lambda: metrics.inception_score(np.zeros(10)), r"shape \(N, C\)"),
    (lambda: metrics.inception_score(np.zeros((10, 1)), splits=1), "at least 2 classes"),
    (lambda: metrics.inception_score(np.zeros((5, 3)), splits=10), "one sample per split"),
    (lambda: metrics.inception_score(np.eye(3)[[0, 1, 2, 0]], splits=2), "look like probabilities"),
    (lambda: metrics.inception_score(NAN, splits=2), "NaN or inf"),
    (lambda: metrics.parzen_log_likelihood(X, X, sigma=0.0), "positive"),
    (lambda: metrics.parzen_log_likelihood(X, X, sigma=[0.1, 0.2]), "one positive number"),
    (lambda: metrics.parzen_log_likelihood(X, X[:, :2], sigma=1.0), "same feature dimension"),
    (lambda: metrics.select_parzen_sigma(X, X, []), "positive"),
    (lambda: metrics.select_parzen_sigma(X, X, [0.1, -1.0]), "positive"),
    (lambda: metrics.nearest_neighbours(X, X[:2], k=3), "at least 3 samples"),
    (lambda: metrics.nearest_neighbours(X, X[:, :2]), "same feature dimension"),
    (lambda: metrics.nearest_neighbours(X, X, batch_size=0), "batch_size must be an integer >= 1"),
])
def test_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
