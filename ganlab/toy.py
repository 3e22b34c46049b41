"""Toy distributions with exact densities (Units 03, 04 and 07).

The units on GANs need data whose density ``p_data(x)`` is known in closed form, so
that what a generator learns, ``p_g``, can be compared with the truth:

* 1-D Gaussians and Gaussian mixtures, for reproducing Figure 1 of Goodfellow et al.,
  *Generative Adversarial Nets* (2014), and for plotting the optimal discriminator on a
  grid of points:

      D*(x) = p_data(x) / (p_data(x) + p_g(x))

* 2-D Gaussian mixtures laid out on a ring or a grid, the standard benchmarks for *mode
  collapse*, together with the mode-coverage measurement used to report it;
* the noise prior ``p_z`` that the generator ``G(z)`` transforms.

Conventions used throughout:

* **Sampling** uses torch and returns ``float32`` tensors on the CPU. Every sampler
  takes an optional ``torch.Generator``, so that the same seed gives the same samples.
* **Densities** (``pdf``, ``log_prob``) accept NumPy arrays or torch tensors and return
  the same kind: NumPy in gives NumPy ``float64`` out (Python numbers and lists count as
  NumPy); a tensor in gives a tensor out, with the tensor's floating dtype and device
  (integer tensors are promoted to the default float dtype). The computation is
  differentiable when a tensor is passed.
* Mixture densities are computed in log space with log-sum-exp, so that points far from
  every mode give a finite ``log_prob`` instead of ``log(0)``.

The notation: ``N(x; mu, sigma^2)`` is the normal density with mean ``mu`` and variance
``sigma^2`` at ``x``; ``K`` is the number of components (modes) of a mixture, ``w_k``,
``mu_k`` and ``sigma_k`` the weight, mean and standard deviation of component ``k``.
"""

import math

import numpy as np
import torch

from ganlab.validate import positive_int

__all__ = [
    "NOISE_KINDS",
    "check_noise_kind",
    "Gaussian1D",
    "GaussianMixture1D",
    "GaussianMixture2D",
    "grid",
    "grid_1d",
    "noise",
    "ring",
]

#: Valid values of the ``kind`` argument of :func:`noise`.
NOISE_KINDS = ("normal", "uniform")

# log sqrt(2 pi), the normalising constant of a 1-D standard normal
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Tolerance for checking that mixture weights sum to one
_WEIGHT_TOL = 1e-6


# --- input handling and validation ------------------------------------------------------


def _check_scalar(value, name):
    """``value`` as a Python float; a ValueError unless it is a finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def _check_positive(value, name):
    """``value`` as a Python float; a ValueError unless it is a number > 0."""
    v = _check_scalar(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def _to_param(values, name):
    """Turn a list / array / tensor of parameters into a float64 CPU tensor."""
    if isinstance(values, torch.Tensor):
        t = values.detach().to(device="cpu", dtype=torch.float64)
    else:
        t = torch.as_tensor(np.asarray(values, dtype=np.float64))
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {values!r}")
    return t


def _check_stds(stds, name):
    """Raise a ValueError unless every standard deviation is > 0."""
    if not (stds > 0).all():
        raise ValueError(f"{name} must be > 0, got {stds.tolist()}")
    return stds


def _check_weights(weights, n_components):
    """Check mixture weights ``w_k``: one per component, ``w_k >= 0`` and ``sum_k w_k = 1``.

    The sum may miss 1 by 1e-6. ``None`` means uniform weights, ``w_k = 1/K``.
    """
    if weights is None:
        return torch.full((n_components,), 1.0 / n_components, dtype=torch.float64)
    w = _to_param(weights, "weights").reshape(-1)
    if w.numel() != n_components:
        raise ValueError(f"expected one weight per component ({n_components}), got {w.numel()}")
    if (w < 0).any():
        raise ValueError(f"weights must be non-negative, got {w.tolist()}")
    total = float(w.sum())
    if abs(total - 1.0) > _WEIGHT_TOL:
        raise ValueError(f"weights must sum to 1 (tolerance 1e-6), got sum {total!r}")
    return w


def _as_tensor(x):
    """Convert density inputs to a floating tensor.

    Returns the tensor and a flag saying whether the input was a tensor; when it was not
    (NumPy array, list, Python number), the result goes back to the caller as a NumPy
    float64 array.
    """
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        return x, True
    return torch.as_tensor(np.asarray(x, dtype=np.float64)), False


def _like_input(t, was_tensor):
    """``t`` as a tensor or as a NumPy float64 array, matching the input."""
    return t if was_tensor else t.numpy()


def _normal_log_pdf(x, mean, std):
    """Log density of a 1-D normal, elementwise (broadcasting).

    The formula:

        log N(x; mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log sigma - log sqrt(2 pi)
    """
    return -0.5 * ((x - mean) / std) ** 2 - torch.log(std) - _LOG_SQRT_2PI


# --- 1-D Gaussian -------------------------------------------------------------------------


class Gaussian1D:
    """A 1-D normal distribution, the ``p_data`` of Figure 1 in Goodfellow et al. (2014):

        p(x) = N(x; mu, sigma^2) = exp(-(x - mu)^2 / (2 sigma^2)) / (sigma sqrt(2 pi))

    ``mean`` is ``mu`` and ``std`` is ``sigma > 0`` (both Python floats).
    """

    def __init__(self, mean=0.0, std=1.0):
        self.mean = _check_scalar(mean, "mean")
        self.std = _check_positive(std, "std")

    def __repr__(self):
        return f"Gaussian1D(mean={self.mean}, std={self.std})"

    def sample(self, n, generator=None):
        """Draw ``n`` samples ``x = mu + sigma eps``, ``eps ~ N(0, 1)``.

        Returns a float32 tensor of shape ``(n, 1)``.
        """
        n = positive_int(n, "n")
        eps = torch.randn(n, 1, generator=generator)
        return self.mean + self.std * eps

    def log_prob(self, x):
        """``log N(x; mu, sigma^2)``, elementwise, same shape as ``x``."""
        t, was_tensor = _as_tensor(x)
        mean = torch.tensor(self.mean, dtype=t.dtype, device=t.device)
        std = torch.tensor(self.std, dtype=t.dtype, device=t.device)
        return _like_input(_normal_log_pdf(t, mean, std), was_tensor)

    def pdf(self, x):
        """``N(x; mu, sigma^2)``, elementwise, same shape as ``x``."""
        t, was_tensor = _as_tensor(x)
        return _like_input(torch.exp(self.log_prob(t)), was_tensor)


# --- 1-D Gaussian mixture -----------------------------------------------------------------


class GaussianMixture1D:
    """A mixture of ``K`` 1-D normals:

        p(x) = sum_{k=1}^K w_k N(x; mu_k, sigma_k^2),     w_k >= 0,  sum_k w_k = 1

    ``means`` are the ``mu_k``, ``stds`` the ``sigma_k > 0`` and ``weights`` the ``w_k``
    (uniform, ``w_k = 1/K``, when ``None``); all three have length ``K``. They are stored
    as float64 tensors of shape ``(K,)`` in the attributes ``means``, ``stds`` and
    ``weights``.
    """

    def __init__(self, means, stds, weights=None):
        self.means = _to_param(means, "means").reshape(-1)
        if self.means.numel() == 0:
            raise ValueError("means must contain at least one component")
        self.stds = _check_stds(_to_param(stds, "stds").reshape(-1), "stds")
        if self.stds.numel() != self.means.numel():
            raise ValueError(
                f"means and stds must have the same length, got "
                f"{self.means.numel()} means and {self.stds.numel()} stds"
            )
        self.weights = _check_weights(weights, self.means.numel())

    @property
    def n_components(self):
        """Number of components ``K``."""
        return self.means.numel()

    def __repr__(self):
        return (
            f"GaussianMixture1D(means={self.means.tolist()}, "
            f"stds={self.stds.tolist()}, weights={self.weights.tolist()})"
        )

    def sample_with_components(self, n, generator=None):
        """Ancestral sampling: ``k ~ Categorical(w)``, then ``x = mu_k + sigma_k eps``.

        The noise is ``eps ~ N(0, 1)``. Returns ``(x, k)``: float32 samples of shape ``(n, 1)``
        and the component index of each sample, a LongTensor of shape ``(n,)``.
        """
        n = positive_int(n, "n")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, generator=generator)
        x = self.means.float()[k] + self.stds.float()[k] * eps
        return x.unsqueeze(1), k

    def sample(self, n, generator=None):
        """Draw ``n`` samples ``x ~ p``; a float32 tensor of shape ``(n, 1)``."""
        return self.sample_with_components(n, generator)[0]

    def log_prob(self, x):
        """``log p(x)``, elementwise, same shape as ``x``.

        Computed by log-sum-exp over the components:

            log p(x) = logsumexp_k ( log w_k + log N(x; mu_k, sigma_k^2) )
        """
        t, was_tensor = _as_tensor(x)
        means, stds, weights = (
            p.to(dtype=t.dtype, device=t.device) for p in (self.means, self.stds, self.weights)
        )
        # Broadcast a new trailing axis over the K components
        component_log_pdf = _normal_log_pdf(t.unsqueeze(-1), means, stds)
        out = torch.logsumexp(torch.log(weights) + component_log_pdf, dim=-1)
        return _like_input(out, was_tensor)

    def pdf(self, x):
        """``p(x) = sum_k w_k N(x; mu_k, sigma_k^2)``, elementwise, same shape as ``x``."""
        t, was_tensor = _as_tensor(x)
        return _like_input(torch.exp(self.log_prob(t)), was_tensor)


# --- 2-D Gaussian mixture -----------------------------------------------------------------


class GaussianMixture2D:
    """A mixture of ``K`` isotropic 2-D normals:

        p(x) = sum_{k=1}^K w_k N(x; mu_k, sigma_k^2 I),     x, mu_k in R^2

    with

        log N(x; mu, sigma^2 I) = -||x - mu||^2 / (2 sigma^2) - 2 log sigma - log(2 pi)

    * ``means`` is a ``(K, 2)`` array of the mode centres ``mu_k``.
    * ``std`` is one ``sigma > 0`` shared by every mode, or ``K`` values ``sigma_k``.
    * ``weights`` are the ``w_k`` (uniform when ``None``).

    Stored as float64 tensors: ``means`` ``(K, 2)``, ``stds`` ``(K,)``, ``weights`` ``(K,)``.

    The 8-Gaussian :func:`ring` and the 25-Gaussian :func:`grid` built from this class are
    the mode-collapse benchmarks of Metz et al., *Unrolled Generative Adversarial Networks*
    (ICLR 2017) and Srivastava et al., *VEEGAN: Reducing Mode Collapse in GANs using
    Implicit Variational Learning* (NeurIPS 2017); :meth:`mode_coverage` computes the
    measurements those papers report.
    """

    def __init__(self, means, std, weights=None):
        self.means = _to_param(means, "means")
        if self.means.dim() != 2 or self.means.shape[1] != 2:
            raise ValueError(f"means must have shape (K, 2), got {tuple(self.means.shape)}")
        n_modes = self.means.shape[0]
        if n_modes == 0:
            raise ValueError("means must contain at least one mode")
        stds = _to_param(std, "std").reshape(-1)
        if stds.numel() == 1:
            stds = stds.expand(n_modes).clone()
        elif stds.numel() != n_modes:
            raise ValueError(
                f"std must be a scalar or have one value per mode ({n_modes}), "
                f"got {stds.numel()} values"
            )
        self.stds = _check_stds(stds, "std")
        self.weights = _check_weights(weights, n_modes)

    @property
    def n_modes(self):
        """Number of modes ``K``."""
        return self.means.shape[0]

    def __repr__(self):
        return (
            f"GaussianMixture2D(n_modes={self.n_modes}, "
            f"stds={self.stds.tolist()}, weights={self.weights.tolist()})"
        )

    def sample_with_components(self, n, generator=None):
        """Ancestral sampling: ``k ~ Categorical(w)``, then ``x = mu_k + sigma_k eps``.

        The noise is ``eps ~ N(0, I)``. Returns ``(x, k)``: float32 samples of shape ``(n, 2)``
        and the mode index of each sample, a LongTensor of shape ``(n,)``.
        """
        n = positive_int(n, "n")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, 2, generator=generator)
        x = self.means.float()[k] + self.stds.float()[k].unsqueeze(1) * eps
        return x, k

    def sample(self, n, generator=None):
        """Draw ``n`` samples ``x ~ p``; a float32 tensor of shape ``(n, 2)``."""
        return self.sample_with_components(n, generator)[0]

    def _points(self, points):
        """Convert ``points`` to a tensor and check that the last axis has size 2."""
        t, was_tensor = _as_tensor(points)
        if t.dim() == 0 or t.shape[-1] != 2:
            raise ValueError(f"points must have shape (..., 2), got {tuple(t.shape)}")
        return t, was_tensor

    def _squared_distances(self, t):
        """``||x - mu_k||^2`` for every point and mode: shape ``(..., K)``."""
        means = self.means.to(dtype=t.dtype, device=t.device)
        return ((t.unsqueeze(-2) - means) ** 2).sum(dim=-1)

    def log_prob(self, points):
        """``log p(x)`` for ``points`` of shape ``(..., 2)``; the result has shape ``(...)``.

        Computed by log-sum-exp over the modes:

            log p(x) = logsumexp_k ( log w_k - ||x - mu_k||^2 / (2 sigma_k^2)
                                     - 2 log sigma_k - log(2 pi) )
        """
        t, was_tensor = self._points(points)
        stds = self.stds.to(dtype=t.dtype, device=t.device)
        weights = self.weights.to(dtype=t.dtype, device=t.device)
        component_log_pdf = (
            -0.5 * self._squared_distances(t) / stds**2
            - 2.0 * torch.log(stds)
            - 2.0 * _LOG_SQRT_2PI
        )
        out = torch.logsumexp(torch.log(weights) + component_log_pdf, dim=-1)
        return _like_input(out, was_tensor)

    def pdf(self, points):
        """``p(x) = sum_k w_k N(x; mu_k, sigma_k^2 I)``; shape ``(...)``."""
        t, was_tensor = self._points(points)
        return _like_input(torch.exp(self.log_prob(t)), was_tensor)

    def nearest_mode(self, points):
        """Index of the closest mode centre in Euclidean distance,

            k_hat(x) = argmin_k ||x - mu_k||

        for ``points`` of shape ``(n, 2)`` (or ``(..., 2)``). Always returns a LongTensor of
        shape ``(n,)`` (or ``(...)``), whatever the input kind.
        """
        t, _ = self._points(points)
        return self._squared_distances(t).argmin(dim=-1).cpu()

    def mode_coverage(self, samples, threshold=3.0, min_count=None):
        """Mode-collapse measurements for ``samples`` of shape ``(n, 2)``, e.g. fakes ``G(z)``.

        These are the measurements Metz et al. (2017, unrolled GAN) and Srivastava et al.
        (2017, VEEGAN) report on the ring and grid mixtures.

        Each sample ``x`` is assigned to its nearest mode ``k_hat(x)``. It is **high quality**
        when it lies within ``threshold`` standard deviations of that mode:

            ||x - mu_{k_hat(x)}|| <= threshold * sigma_{k_hat(x)}

        With the usual threshold 3, a sample drawn from the mixture itself is high quality with
        probability ``1 - exp(-9/2)``, about 0.989 (the distance to the centre of a 2-D isotropic
        normal is Rayleigh distributed), as long as the modes are well separated.

        A mode ``k`` is **covered** when it holds at least ``min_count`` high-quality samples.
        By default ``min_count`` is one fifth of the number of samples mode ``k`` would receive
        under the true mixture, and at least one:

            min_count_k = max(1, ceil(n w_k / 5))

        (for ``n = 2500`` samples of the 25-Gaussian grid that is 20 samples per mode, the rule
        used in the grid experiments of Lin et al., *PacGAN*, 2018). A mode visited by only a
        few stray samples is therefore not counted as captured. Pass an integer ``min_count``
        to use one threshold for every mode (``min_count=1`` gives "at least one high-quality
        sample").

        Returns a dict with

        * ``modes_covered``: int, the number of covered modes;
        * ``high_quality_fraction``: float in [0, 1], the fraction of samples that are high
          quality;
        * ``counts``: LongTensor ``(K,)``, high-quality samples per mode.
        """
        t, _ = self._points(samples)
        if t.dim() != 2:
            raise ValueError(f"samples must have shape (n, 2), got {tuple(t.shape)}")
        n = t.shape[0]
        if n == 0:
            raise ValueError("samples must contain at least one point")
        threshold = _check_positive(threshold, "threshold")

        t = t.detach().to(device="cpu", dtype=torch.float64)
        squared = self._squared_distances(t)
        nearest = squared.argmin(dim=1)
        distance = squared.gather(1, nearest.unsqueeze(1)).squeeze(1).sqrt()
        high_quality = distance <= threshold * self.stds[nearest]
        counts = torch.bincount(nearest[high_quality], minlength=self.n_modes)

        if min_count is None:
            # The small offset stops rounding error (20.000000000000004) rounding up to 21
            needed = torch.ceil(n * self.weights / 5.0 - 1e-9).clamp(min=1).long()
        else:
            needed = torch.full((self.n_modes,), positive_int(min_count, "min_count"))

        return {
            "modes_covered": int((counts >= needed).sum()),
            "high_quality_fraction": float(high_quality.double().mean()),
            "counts": counts,
        }


# --- standard 2-D benchmarks --------------------------------------------------------------


def ring(n_modes=8, radius=2.0, std=0.02):
    """``n_modes = K`` equally weighted modes, equally spaced on a circle of radius ``r``:

        mu_k = r (cos theta_k, sin theta_k),     theta_k = 2 pi k / K,   k = 0, ..., K - 1

    so the first mode sits at angle 0, on the positive x axis. With the defaults this is
    the 8-Gaussian ring of Metz et al. (2017).
    """
    n_modes = positive_int(n_modes, "n_modes")
    radius = _check_positive(radius, "radius")
    std = _check_positive(std, "std")
    theta = 2.0 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    means = radius * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    return GaussianMixture2D(means, std)


def grid(n=5, spacing=2.0, std=0.05):
    """``n x n`` equally weighted modes on a square lattice centred on the origin.

    Each coordinate takes the values

        c_i = s (i - (n - 1) / 2),     i = 0, ..., n - 1

    from ``-s (n - 1) / 2`` to ``s (n - 1) / 2``, where ``s`` is ``spacing``. Mode
    ``i n + j`` is at ``(c_i, c_j)``. With the defaults this is the 25-Gaussian grid of
    Srivastava et al. (2017).
    """
    n = positive_int(n, "n")
    spacing = _check_positive(spacing, "spacing")
    std = _check_positive(std, "std")
    coords = spacing * (torch.arange(n, dtype=torch.float64) - (n - 1) / 2.0)
    xs, ys = torch.meshgrid(coords, coords, indexing="ij")
    means = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    return GaussianMixture2D(means, std)


# --- noise prior and plotting grid ---------------------------------------------------------


def check_noise_kind(kind):
    """Return ``kind`` if it is one of :data:`NOISE_KINDS`; else a ValueError listing them."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {list(NOISE_KINDS)}")
    return kind


def noise(n, dim, kind="normal", generator=None):
    """Draw ``n`` noise vectors ``z ~ p_z`` of dimension ``dim`` for the generator ``G(z)``:

    * ``kind="normal"``: ``p_z = N(0, I)``;
    * ``kind="uniform"``: ``p_z = U(-1, 1)^dim``, each coordinate uniform on [-1, 1).

    Returns a float32 tensor of shape ``(n, dim)``.
    """
    n = positive_int(n, "n")
    dim = positive_int(dim, "dim")
    if check_noise_kind(kind) == "normal":
        return torch.randn(n, dim, generator=generator)
    return 2.0 * torch.rand(n, dim, generator=generator) - 1.0


def grid_1d(low, high, n=1000):
    """``n`` evenly spaced points from ``low`` to ``high``, both included,

        x_i = low + i (high - low) / (n - 1),     i = 0, ..., n - 1

    as a NumPy float64 array of shape ``(n,)``, for plotting densities such as ``p_data``,
    ``p_g`` and ``D*(x)`` or integrating them with the trapezoid rule.
    """
    n = positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be at least 2 to span [low, high], got {n}")
    low = _check_scalar(low, "low")
    high = _check_scalar(high, "high")
    if not high > low:
        raise ValueError(f"high must be greater than low, got low={low!r}, high={high!r}")
    return np.linspace(low, high, n, dtype=np.float64)
