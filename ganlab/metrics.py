"""Evaluation metrics of Unit 06: how good is a generative model, in numbers.

Distances between the real distribution ``p_data`` and the model ``p_g``, computed on
*features* ``phi(x)`` of real images ``x ~ p_data`` and of samples ``G(z) ~ p_g``:

* :func:`frechet_distance`, :func:`gaussian_statistics`, :func:`fid`,
  :func:`fid_from_images`: the Fréchet (Inception) Distance, FID (Heusel et al., 2017);
* :func:`kid`: the Kernel Inception Distance, KID (Bińkowski et al., 2018);
* :func:`precision_recall`: k-NN manifold precision and recall (Kynkäänniemi et al., 2019).

Scores of the samples alone, or of the samples against held-out data:

* :func:`inception_score`: the Inception Score, IS (Salimans et al., 2016), from a
  classifier's logits;
* :func:`parzen_log_likelihood`, :func:`select_parzen_sigma`: the Parzen-window
  log-likelihood of the 2014 GAN paper (Goodfellow et al., 2014, section 5);
* :func:`nearest_neighbours`: the nearest training images of each sample, the usual
  check that a generator does not just copy its training set.

Conventions. Inputs may be torch tensors (any device, any real dtype) or NumPy arrays.
Everything is computed in float64 on the input's device: the CPU for NumPy arrays and
for Apple's MPS, which has no float64. Feature matrices have shape ``(N, d)``, one row
per sample. Scalars come back as Python floats, arrays as float64 torch tensors. Bad
inputs (wrong shape, NaN or inf, too few samples, mismatched dimensions) raise a
``ValueError`` that says what was expected. Nothing here downloads anything: the
feature extractors live in ``ganlab.features`` (or pass your own callable).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ganlab.validate import positive_int

ArrayLike = torch.Tensor | np.ndarray
EPS64 = float(np.finfo(np.float64).eps)


# --- input checks ------------------------------------------------------------------------

def _as_float64(x, name: str, device: torch.device | None = None) -> torch.Tensor:
    """``x`` as a float64 tensor on ``device`` (default: its own; MPS -> CPU), all finite."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    elif isinstance(x, np.ndarray | list | tuple | float | int | np.number):
        t = torch.as_tensor(np.asarray(x))
    else:
        raise TypeError(f"{name} must be a torch tensor or a NumPy array, got {type(x).__name__}")
    if t.is_complex():
        raise ValueError(f"{name} must be real, got dtype {t.dtype}")
    if device is None:
        device = t.device if t.device.type != "mps" else torch.device("cpu")
    t = t.to(device=device, dtype=torch.float64)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    return t


def _features(x, name: str, min_rows: int = 2, device: torch.device | None = None,
              flatten: bool = False) -> torch.Tensor:
    """A float64 matrix ``(N, d)`` with ``N >= min_rows`` (``flatten``: ``(N, ...)`` -> ``(N, d)``)."""
    t = _as_float64(x, name, device)
    if flatten and t.dim() >= 2:
        t = t.flatten(1)
    if t.dim() != 2:
        what = "(N, d) or (N, C, H, W)" if flatten else "(N, d): one row of features per sample"
        raise ValueError(f"{name} must have shape {what}, got shape {tuple(t.shape)}")
    if t.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples (rows), got {t.shape[0]}")
    if t.shape[1] < 1:
        raise ValueError(f"{name} has no feature columns: shape {tuple(t.shape)}")
    return t


def _pair(a, b, names: tuple[str, str], min_rows: tuple[int, int] = (2, 2),
          flatten: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Two feature matrices with the same number of columns, on the device of the first."""
    a = _features(a, names[0], min_rows[0], flatten=flatten)
    b = _features(b, names[1], min_rows[1], device=a.device, flatten=flatten)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same feature dimension d, "
                         f"got {a.shape[1]} and {b.shape[1]}")
    return a, b


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``D_ij = ||a_i - b_j||^2 = ||a_i||^2 + ||b_j||^2 - 2 a_i . b_j``, clipped at 0.

    One matrix product instead of an ``(N, M, d)`` difference tensor; in float64 the
    cancellation in the expansion costs about ``1e-16 * ||a_i||^2``, far below the
    distances these metrics compare.
    """
    d = torch.addmm(b.pow(2).sum(1), a, b.T, alpha=-2.0)      # ||b_j||^2 - 2 a_i . b_j
    return d.add_(a.pow(2).sum(1, keepdim=True)).clamp_min_(0.0)


# --- FID: the Fréchet distance between two Gaussians --------------------------------------

def _symmetric_matrix(x, name: str, d: int) -> torch.Tensor:
    s = _as_float64(x, name)
    if s.shape != (d, d):
        raise ValueError(f"{name} must be a ({d}, {d}) covariance matrix (d from the mean), "
                         f"got shape {tuple(s.shape)}")
    scale = s.abs().max()
    if (s - s.T).abs().max() > 1e-5 * scale:
        raise ValueError(f"{name} is not symmetric: a covariance matrix is; did you pass "
                         f"something else (e.g. features of shape (N, d))?")
    return (s + s.T) / 2  # exactly symmetric: eigh reads one triangle only


def _psd_eigh(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition ``S = U diag(lam) U^T`` of a covariance, with the eigenvalues
    that float64 cannot tell from 0 (``|lam| <= d eps lam_max``) set to exactly 0."""
    lam, u = torch.linalg.eigh(s)
    tol = s.shape[0] * EPS64 * lam.abs().max().clamp_min(torch.finfo(torch.float64).tiny)
    return torch.where(lam > tol, lam, torch.zeros_like(lam)), u


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike,
                     sigma2: ArrayLike) -> float:
    """The Fréchet distance between ``N(mu1, Sigma1)`` and ``N(mu2, Sigma2)``:

        d^2 = ||mu1 - mu2||^2 + Tr(Sigma1 + Sigma2 - 2 (Sigma1 Sigma2)^{1/2})

    This is the squared 2-Wasserstein distance between the two Gaussians (Dowson &
    Landau, 1982), so it is >= 0 and 0 only for equal Gaussians. ``mu`` has shape
    ``(d,)`` and ``Sigma`` shape ``(d, d)``, symmetric positive semi-definite.

    **How ``Tr (Sigma1 Sigma2)^{1/2}`` is computed, and why.** The product ``Sigma1 Sigma2`` is not
    symmetric, so its matrix square root needs a general method (the Schur method of
    ``scipy.linalg.sqrtm``, used by pytorch-fid): about 30 s for ``d = 2048`` on a
    2-core laptop, and inaccurate, even complex, when the covariances are singular
    (fewer samples than dimensions). But only its *trace* is needed. Write
    ``Sigma1 = U L U^T`` (eigen-decomposition, ``L`` diagonal, ``L >= 0``). Then

        Sigma1 Sigma2 = Sigma1^{1/2} (Sigma1^{1/2} Sigma2 Sigma1^{1/2}) Sigma1^{-1/2},

    so ``Sigma1 Sigma2`` is similar to ``M = Sigma1^{1/2} Sigma2 Sigma1^{1/2}``, which is
    symmetric positive semi-definite; similar matrices share eigenvalues ``m_i >= 0``, and
    the trace of the principal square root is the sum of the square roots of the
    eigenvalues:

        Tr (Sigma1 Sigma2)^{1/2} = sum_i sqrt(m_i)

    (the similarity needs ``Sigma1`` invertible; the identity extends to singular ``Sigma1``
    by continuity). Finally ``M = U (L^{1/2} U^T Sigma2 U L^{1/2}) U^T`` has the eigenvalues
    of the smaller ``L^{1/2} (U^T Sigma2 U) L^{1/2}``, restricted to the directions where
    ``L > 0``. So the cost is one symmetric eigen-decomposition, two matrix products
    and one symmetric eigenvalue computation: backward-stable LAPACK routines, a few
    seconds at ``d = 2048``.

    **Clipping.** Computed eigenvalues carry absolute errors of about ``d eps lam_max``
    (``eps = 2.2e-16``). An exact zero eigenvalue therefore comes out as, say,
    ``-3e-13``, whose square root is NaN, or ``+3e-13``, whose square root ``5e-7`` is
    large and, through ``L^{1/2}``, pollutes ``M``. Eigenvalues (of ``Sigma1`` and of ``M``)
    below ``d eps lam_max`` are below what float64 can resolve, so they are set to 0.
    For the same reason a distance that should be 0 can come out as ``-1e-12``: the
    result is clipped at 0.

    Agrees with ``pytorch_fid.fid_score.calculate_frechet_distance`` to about 1e-10
    relative on well-conditioned covariances (the tests ask for 1e-6).
    """
    m1 = _as_float64(mu1, "mu1")
    if m1.dim() != 1:
        raise ValueError(f"mu1 must be a mean vector of shape (d,), got shape {tuple(m1.shape)}")
    d = m1.shape[0]
    m2 = _as_float64(mu2, "mu2", m1.device)
    if m2.shape != (d,):
        raise ValueError(f"mu2 must have the shape of mu1, ({d},), got shape {tuple(m2.shape)}")
    s1 = _symmetric_matrix(sigma1, "sigma1", d).to(m1.device)
    s2 = _symmetric_matrix(sigma2, "sigma2", d).to(m1.device)

    lam, u = _psd_eigh(s1)
    keep = lam > 0                                  # the directions Sigma1 spans
    root = lam[keep].sqrt()
    u = u[:, keep]
    inner = root[:, None] * (u.T @ s2 @ u) * root[None, :]   # L^{1/2} U^T Sigma2 U L^{1/2}
    m = torch.linalg.eigvalsh((inner + inner.T) / 2) if inner.numel() else inner.new_zeros(0)
    tol = d * EPS64 * m.abs().max() if m.numel() else 0.0
    tr_covmean = torch.where(m > tol, m, torch.zeros_like(m)).sqrt().sum()

    diff = m1 - m2
    value = diff @ diff + torch.trace(s1) + torch.trace(s2) - 2.0 * tr_covmean
    return max(float(value), 0.0)


def gaussian_statistics(features: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of features ``(N, d)``, the Gaussian that FID fits:

        mu = 1/N sum_n f_n,      S = 1/(N - 1) sum_n (f_n - mu)(f_n - mu)^T

    The unbiased ``N - 1`` is the convention of the original FID code and of
    pytorch-fid (``np.cov``). Needs ``N >= 2``. With ``N <= d`` the covariance is
    singular (rank ``N - 1``); :func:`frechet_distance` handles that, but FID is biased
    upwards at small ``N``: compare FIDs only at the same ``N``.
    """
    f = _features(features, "features", min_rows=2)
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def fid(real_features: ArrayLike, fake_features: ArrayLike) -> float:
    """FID between feature matrices ``(N, d)`` of real data and of samples:

        FID = ||mu_r - mu_g||^2 + Tr(Sigma_r + Sigma_g - 2 (Sigma_r Sigma_g)^{1/2})

    (Unit 06's notation: r real, g generated) with ``(mu_r, Sigma_r)`` and ``(mu_g, Sigma_g)`` from :func:`gaussian_statistics`. With
    Inception-v3 pool features (``d = 2048``) this is the FID of the literature; with
    other features it is "FID in that feature space", only comparable to itself.
    Lower is better; 0 means the two Gaussian fits coincide.
    """
    real, fake = _pair(real_features, fake_features, ("real_features", "fake_features"))
    return frechet_distance(*gaussian_statistics(real), *gaussian_statistics(fake))


def _extract(images, extractor: Callable, batch_size: int, name: str,
             device: torch.device | None) -> torch.Tensor:
    """Features ``extractor(x)`` of images ``(N, C, H, W)`` in [-1, 1], batch by batch."""
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 images, got {x.shape[0]}")
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{name} must hold real pixel values, got dtype {x.dtype}")
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or inf")
    if lo < -1.001 or hi > 1.001:
        raise ValueError(f"{name} must be in [-1, 1] (the range of a tanh generator), got values "
                         f"in [{lo:.3g}, {hi:.3g}]; for images in [0, 1] pass 2 * x - 1, "
                         f"for [0, 255] pass x / 127.5 - 1")
    chunks = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            batch = x[start:start + batch_size].float()
            if device is not None:
                batch = batch.to(device)
            out = extractor(batch)
            if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != batch.shape[0]:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(f"extractor must map a batch (B, C, H, W) to features (B, d), "
                                 f"got {shape} for B = {batch.shape[0]}")
            chunks.append(out.detach().to(torch.float64))
    return torch.cat([c.to(chunks[0].device) for c in chunks])


def fid_from_images(real_images: ArrayLike, fake_images: ArrayLike,
                    extractor: Callable[[torch.Tensor], torch.Tensor],
                    batch_size: int = 100, device: str | torch.device | None = None) -> float:
    """FID of two image sets through a feature extractor ``phi``:

        FID(real, fake) = fid(phi(real), phi(fake))

    Images have shape ``(N, C, H, W)`` with values in [-1, 1], the range of the course's
    generators (``G(z)`` ends in tanh) and of ``ganlab.data``. ``extractor`` is any
    callable mapping a float32 batch ``(B, C, H, W)`` in [-1, 1] to features ``(B, d)``:
    an extractor from ``ganlab.features``, an ``nn.Module``, or a plain function. It is
    called under ``torch.no_grad()`` on batches of ``batch_size`` images, moved to
    ``device`` (default: the device of the extractor's parameters, when it is a module
    with parameters; else left where they are).

    An ``nn.Module`` in training mode is refused: batch norm and dropout would make
    each image's features depend on its batch. Call ``extractor.eval()`` first.
    """
    batch_size = positive_int(batch_size, "batch_size")
    if not callable(extractor):
        raise ValueError(f"extractor must be callable (images -> features), got "
                         f"{type(extractor).__name__}")
    if isinstance(extractor, torch.nn.Module):
        if extractor.training:
            raise ValueError("extractor is in training mode: call extractor.eval() first "
                             "(batch norm and dropout would make features depend on the batch)")
        if device is None:
            param = next(extractor.parameters(), None)
            device = None if param is None else param.device
    device = None if device is None else torch.device(device)
    real = _extract(real_images, extractor, batch_size, "real_images", device)
    fake = _extract(fake_images, extractor, batch_size, "fake_images", device)
    return fid(real, fake)


# --- Inception Score ----------------------------------------------------------------------

def inception_score(logits: ArrayLike, splits: int = 10,
                    probabilities: bool = False) -> tuple[float, float]:
    """The Inception Score of samples, from a classifier's outputs ``(N, C)`` on them:

        IS = exp( E_x KL( p(y|x) || p(y) ) ),      p(y) = E_x p(y|x)

    High when each sample is classified confidently (``p(y|x)`` peaked) and the classes
    are used evenly (``p(y)`` flat): ``1 <= IS <= C``, with ``IS = 1`` for a classifier
    that is equally unsure of everything and ``IS = C`` for confident predictions that
    use all ``C`` classes equally often.

    **Input.** By default ``logits`` are the classifier's raw outputs: ``p(y|x)`` is
    their softmax, and the KL is computed from ``log p(y|x) = log_softmax(logits)`` and
    ``log p(y) = logsumexp_x log p(y|x) - log n``, with no ``log 0`` anywhere.
    Log-probabilities are valid logits. Pass ``probabilities=True`` to give ``p(y|x)``
    itself (rows >= 0 summing to 1, renormalised; ``0 log 0 = 0``). Passing
    probabilities as logits is a silent bug (the score is close to 1 whatever the
    model), so it is refused: when, with ``probabilities=False``, every row is
    non-negative and sums to 1, a ``ValueError`` asks which was meant.

    **Splits.** As in the original implementation (Salimans et al., 2016) and
    torch-fidelity, the ``N`` rows are cut, in the given order and without shuffling,
    into ``splits`` consecutive parts ``[j N // splits, (j + 1) N // splits)``; IS is
    computed on each, and the mean and the standard deviation with ``ddof = 0`` over
    the parts are returned. (torchmetrics shuffles first and reports ``ddof = 1``; its
    std is this one times ``sqrt(splits / (splits - 1))``.) The original uses 50,000
    samples in 10 splits; IS from fewer samples is biased, compare only at equal ``N``.
    """
    splits = positive_int(splits, "splits")
    x = _as_float64(logits, "logits")
    if x.dim() != 2:
        raise ValueError(f"logits must have shape (N, C): one row of class scores per sample, "
                         f"got shape {tuple(x.shape)}")
    n, c = x.shape
    if c < 2:
        raise ValueError(f"logits need at least 2 classes (columns), got {c}")
    if n < splits:
        raise ValueError(f"need at least one sample per split: N = {n} < splits = {splits}")
    row_sums = x.sum(1)
    looks_like_probabilities = bool((x >= 0).all() and ((row_sums - 1).abs() <= 1e-3).all())
    if probabilities:
        if (x < 0).any() or not ((row_sums - 1).abs() <= 1e-3).all():
            raise ValueError("with probabilities=True each row must be a distribution p(y|x): "
                             "non-negative, summing to 1; pass logits with probabilities=False")
        p = x / row_sums[:, None]
        log_p = p.log()                              # -inf where p = 0, masked below
    else:
        if looks_like_probabilities:
            raise ValueError("logits look like probabilities (every row is non-negative and "
                             "sums to 1): pass probabilities=True, or pass the logits "
                             "(before softmax)")
        log_p = torch.log_softmax(x, dim=1)
        p = log_p.exp()

    scores = []
    for j in range(splits):
        part = slice(j * n // splits, (j + 1) * n // splits)
        p_j, log_p_j = p[part], log_p[part]
        log_marginal = torch.logsumexp(log_p_j, dim=0) - math.log(p_j.shape[0])   # log p(y)
        terms = p_j * (log_p_j - log_marginal)
        kl = torch.where(p_j > 0, terms, torch.zeros_like(terms)).sum(1)          # KL per x
        scores.append(kl.mean().exp())
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std(correction=0))


# --- KID: the Kernel Inception Distance ---------------------------------------------------

def _canonical_order(f: torch.Tensor) -> torch.Tensor:
    """``f`` with its rows sorted by a fixed random projection, so that which rows a seed
    picks depends on the set of rows, not on the order they came in."""
    direction = torch.randn(f.shape[1], generator=torch.Generator().manual_seed(20180101),
                            dtype=torch.float64).to(f.device)
    return f[torch.argsort((f * direction).sum(1), stable=True)]


def _polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``k(a_i, b_j) = (a_i . b_j / d + 1)^3``, the kernel of KID."""
    return (a @ b.T / a.shape[1] + 1.0).pow(3)


def _unbiased_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m = x.shape[0]
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within - 2.0 * k_xy.sum() / m**2


def kid(real_features: ArrayLike, fake_features: ArrayLike, subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID: the squared maximum mean discrepancy between real and generated features.

    With the cubic polynomial kernel ``k(x, y) = (x . y / d + 1)^3`` and ``m`` real
    features ``x_i`` and ``m`` generated features ``y_j``, the unbiased estimator is

        MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
                  - 2/m^2 sum_{i, j} k(x_i, y_j)

    Unlike FID it is unbiased (its expectation does not depend on ``m``, so small sample
    sets can be compared), and it can be slightly negative when the two distributions
    are close. As in the original code (Bińkowski et al., 2018) and torchmetrics, it is
    averaged over ``subsets`` random subsets of ``m = subset_size`` rows of each set
    (drawn without replacement, independently for real and fake): returns the mean and
    the standard deviation (``ddof = 0``) over the subsets.

    ``subset_size`` is clipped to the smaller of the two sample counts (torchmetrics
    raises instead); when it covers both sets every subset is the whole set and the std
    is 0. The subsets come from ``numpy.random.default_rng(seed)`` after sorting each
    set's rows into a fixed order, so the result depends on the two sets and the seed,
    not on the order of their rows (a shuffled data loader gives the same number).

    Cost: ``subsets`` times three ``m x m`` kernel matrices, ``6 subsets m^2 d`` flops.
    """
    subsets = positive_int(subsets, "subsets")
    subset_size = positive_int(subset_size, "subset_size", minimum=2)
    real, fake = _pair(real_features, fake_features, ("real_features", "fake_features"))
    real, fake = _canonical_order(real), _canonical_order(fake)
    m = min(subset_size, real.shape[0], fake.shape[0])
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(subsets):
        i = torch.as_tensor(rng.choice(real.shape[0], m, replace=False), device=real.device)
        j = torch.as_tensor(rng.choice(fake.shape[0], m, replace=False), device=real.device)
        scores.append(_unbiased_mmd2(real[i], fake[j]))
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std(correction=0))


# --- precision and recall -----------------------------------------------------------------

def _knn_radii(f: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Squared distance of each row of ``f`` to its k-th nearest *other* row."""
    radii = []
    for start in range(0, f.shape[0], batch_size):
        d2 = _squared_distances(f[start:start + batch_size], f)
        rows = torch.arange(d2.shape[0], device=f.device)
        d2[rows, rows + start] = math.inf                    # exclude the point itself
        radii.append(d2.topk(k, dim=1, largest=False).values[:, -1])   # k-th smallest
    return torch.cat(radii)


def _inside_manifold(queries: torch.Tensor, centres: torch.Tensor, radii2: torch.Tensor,
                     batch_size: int) -> torch.Tensor:
    """For each query: is it in some ball ``||q - c_i|| <= r_i``?"""
    inside = []
    for start in range(0, queries.shape[0], batch_size):
        d2 = _squared_distances(queries[start:start + batch_size], centres)
        inside.append((d2 <= radii2).any(dim=1))
    return torch.cat(inside)


def precision_recall(real_features: ArrayLike, fake_features: ArrayLike, k: int = 3,
                     batch_size: int = 1000) -> tuple[float, float]:
    """k-NN manifold precision and recall (Kynkäänniemi et al., 2019).

    Each real feature ``x_i`` gets a ball whose radius ``r_i = ||x_i - NN_k(x_i)||`` is
    the distance to its k-th nearest *other* real feature; their union estimates the
    support of ``p_data``. Likewise the generated features ``y_j`` estimate ``p_g``:

        precision = 1/M sum_j 1[ exists i: ||y_j - x_i|| <= r_i ]     (samples look real)
        recall    = 1/N sum_i 1[ exists j: ||x_i - y_j|| <= r'_j ]    (data is covered)

    Precision falls when the generator makes samples off the data; recall falls when it
    misses parts of the data (mode collapse). FID mixes the two into one number. The
    paper uses ``k = 3`` and VGG-16 features. Needs more than ``k`` samples in each set.

    Distances are computed ``batch_size`` rows at a time, so memory is
    ``batch_size * max(N, M) * 8`` bytes (80 MB for the default and 10,000 samples).
    """
    k = positive_int(k, "k")
    batch_size = positive_int(batch_size, "batch_size")
    real, fake = _pair(real_features, fake_features, ("real_features", "fake_features"),
                       min_rows=(k + 1, k + 1))
    real_radii2 = _knn_radii(real, k, batch_size)
    fake_radii2 = _knn_radii(fake, k, batch_size)
    precision = _inside_manifold(fake, real, real_radii2, batch_size).double().mean()
    recall = _inside_manifold(real, fake, fake_radii2, batch_size).double().mean()
    return float(precision), float(recall)


# --- Parzen-window log-likelihood ---------------------------------------------------------

def _parzen_log_likelihoods(samples, test, sigmas: Sequence[float], batch_size: int,
                            names: tuple[str, str]) -> torch.Tensor:
    """``log p_hat_sigma(x)`` for each sigma (rows) and each test point (columns)."""
    batch_size = positive_int(batch_size, "batch_size")
    s, t = _pair(samples, test, names, min_rows=(1, 1), flatten=True)
    sig = torch.as_tensor(np.asarray(sigmas, dtype=np.float64).reshape(-1), device=s.device)
    if sig.numel() == 0 or not (torch.isfinite(sig).all() and (sig > 0).all()):
        raise ValueError(f"sigma must be positive and finite, got {list(np.asarray(sigmas).reshape(-1))}")
    n, dim = s.shape
    log_norm = math.log(n) + dim / 2 * torch.log(2 * math.pi * sig**2)      # (S,)
    out = []
    for start in range(0, t.shape[0], batch_size):
        d2 = _squared_distances(t[start:start + batch_size], s)              # (B, n)
        exponents = -d2[None] / (2 * sig[:, None, None] ** 2)                # (S, B, n)
        out.append(torch.logsumexp(exponents, dim=2) - log_norm[:, None])
    return torch.cat(out, dim=1)


def parzen_log_likelihood(samples: ArrayLike, test: ArrayLike, sigma: float,
                          batch_size: int = 100) -> tuple[float, float]:
    """Parzen-window estimate of the test log-likelihood, in nats per test point.

    The 2014 GAN paper (Goodfellow et al., section 5) fits a Gaussian kernel density to
    ``n`` samples ``s_i = G(z_i)`` of the generator and scores held-out data ``x`` under it:

        p_hat(x) = 1/n sum_i N(x; s_i, sigma^2 I)
        log p_hat(x) = logsumexp_i( -||x - s_i||^2 / (2 sigma^2) ) - log n - D/2 log(2 pi sigma^2)

    with ``D`` the dimension of ``x`` (images are flattened), computed with log-sum-exp
    so that no density underflows. Returns the mean of ``log p_hat(x)`` over the test
    points and its standard error ``std / sqrt(n_test)`` (``std`` with ``ddof = 0``, as
    in the paper's ``parzen_ll.py``). Choose ``sigma`` on a validation split with
    :func:`select_parzen_sigma`.

    A caution the course makes: in high dimensions this estimate is poor and can rank
    models wrongly (Theis et al., 2016); it is here to reproduce the paper's table.
    Memory: ``batch_size * n * 8`` bytes per sigma.
    """
    if isinstance(sigma, bool | str) or np.ndim(sigma) != 0:
        raise ValueError(f"sigma must be one positive number, got {sigma!r}")
    ll = _parzen_log_likelihoods(samples, test, [float(sigma)], batch_size, ("samples", "test"))[0]
    return float(ll.mean()), float(ll.std(correction=0) / math.sqrt(ll.numel()))


def select_parzen_sigma(samples: ArrayLike, validation: ArrayLike, sigmas: Sequence[float],
                        batch_size: int = 100) -> tuple[float, torch.Tensor]:
    """The bandwidth with the highest mean validation log-likelihood:

        sigma* = argmax_sigma  1/|V| sum_{x in V} log p_hat_sigma(x)

    ``p_hat_sigma`` as in :func:`parzen_log_likelihood`. The paper searches
    ``numpy.logspace(-1, 0, 10)`` on MNIST scaled to [0, 1]. Returns ``sigma*`` and the
    mean validation log-likelihood of every sigma (a float64 tensor, in the order
    given). Distances are computed once and reused for every sigma.
    """
    scores = _parzen_log_likelihoods(samples, validation, sigmas, batch_size,
                                     ("samples", "validation")).mean(1)
    best = int(torch.argmax(scores))
    return float(np.asarray(sigmas, dtype=np.float64).reshape(-1)[best]), scores


# --- nearest neighbours -------------------------------------------------------------------

def nearest_neighbours(queries: ArrayLike, reference: ArrayLike, k: int = 1,
                       batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest rows of ``reference`` to each query, by Euclidean distance:

        NN_k(q) = the k indices i with the smallest ||q - r_i||

    in whatever space it is given: flattened pixels (``(N, C, H, W)`` inputs are
    flattened) or features. Used to check memorisation: show each generated sample
    next to its nearest training images; a distance of 0 is an exact copy.

    Returns ``distances`` (float64) and ``indices`` (int64), both ``(Q, k)``, sorted by
    increasing distance. Candidates are found ``batch_size`` queries at a time with one
    matrix product; the returned distances are then recomputed directly from
    ``q - r_i``, so an exact copy gives exactly 0.
    """
    k = positive_int(k, "k")
    batch_size = positive_int(batch_size, "batch_size")
    q, r = _pair(queries, reference, ("queries", "reference"), min_rows=(1, k), flatten=True)
    all_d, all_i = [], []
    for start in range(0, q.shape[0], batch_size):
        qb = q[start:start + batch_size]
        idx = _squared_distances(qb, r).topk(k, dim=1, largest=False).indices     # (B, k)
        dist = (qb[:, None, :] - r[idx]).pow(2).sum(2).sqrt()                      # exact
        dist, order = dist.sort(dim=1, stable=True)
        all_d.append(dist)
        all_i.append(idx.gather(1, order))
    return torch.cat(all_d), torch.cat(all_i)
