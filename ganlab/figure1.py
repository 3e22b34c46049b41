"""Figure 1 of Goodfellow et al. (2014), from a real 1-D GAN (Unit 04).

The paper's Figure 1 shows a GAN learning a 1-D distribution in four stages (a)-(d).
Each panel draws, over the data axis ``x``:

* the data density ``p_data(x)`` (black dots) and the generator's density ``p_g(x)``
  (green line), the density of ``x = G(z)`` for ``z ~ p_z``;
* the discriminator ``D(x)`` (blue dashes), the probability that ``x`` is real;
* below, the domain of the noise ``z`` (uniform in the paper), with arrows from ``z`` up
  to ``x = G(z)``: ``G`` squeezes the arrow heads together where ``p_g`` is high and
  spreads them where it is low.

In (a) the pair is near convergence: ``p_g`` is close to ``p_data`` and ``D`` is a
partially accurate classifier; in (b) ``D``, trained in the inner loop of Algorithm 1,
has converged to the best discriminator for this ``p_g``,

    D*(x) = p_data(x) / (p_data(x) + p_g(x));

in (c) after an update of ``G``, the gradient of ``D`` has moved ``G(z)`` toward where
``D`` says "real"; in (d) neither can improve: ``p_g = p_data`` and ``D(x) = 1/2``
everywhere.

Here the panels come from a GAN actually trained on a 1-D ``p_data``:
:func:`capture_stage` takes a snapshot of ``G`` and ``D`` (every quantity above, on a
grid of ``x``), :func:`draw_figure1` draws one snapshot as the paper's panel, and
``ganlab.widgets.Figure1View`` steps through the snapshots with a slider. The two
estimates a snapshot needs:

* ``p_g`` is not known in closed form, only through samples ``x_i = G(z_i)``; it is
  estimated with a Gaussian kernel density estimate (:func:`kde_1d`),
  ``p_hat(x) = 1 / (n h) * sum_i phi((x - x_i) / h)``;
* the arrows start at ``n`` values of ``z`` that split ``p_z`` into equal probability
  (:func:`noise_quantiles`): evenly spaced for ``U(-1, 1)``, the quantiles
  ``Phi^{-1}((i + 1/2) / n)`` for ``N(0, 1)``.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch
from torch import nn

from ganlab import toy
from ganlab.inference import evaluating, module_device
from ganlab.plots import figure_axes
from ganlab.theory import optimal_discriminator
from ganlab.validate import positive_int

#: The keys every stage has (:func:`capture_stage` adds ``noise`` and ``bandwidth``).
STAGE_KEYS = ("x", "p_data", "p_g", "D", "D_star", "z_arrows", "x_arrows")


def _points_1d(x: torch.Tensor, n: int, what: str) -> np.ndarray:
    """``x`` of shape ``(n, 1)`` (or ``(n,)``) as a float64 array of shape ``(n,)``."""
    if not isinstance(x, torch.Tensor) or x.shape[:1] != (n,) or x[0].numel() != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must have shape ({n}, 1) for 1-D data, got {shape}")
    return x.detach().reshape(-1).double().cpu().numpy()


def noise_quantiles(n: int, kind: str = "uniform") -> np.ndarray:
    """``n`` values of ``z`` spread over ``p_z`` so that each holds the same probability mass.

    * ``"uniform"``, ``p_z = U(-1, 1)``: ``z_i = -1 + 2 i / (n - 1)``, evenly spaced over
      the whole support [-1, 1] (0 when ``n = 1``);
    * ``"normal"``, ``p_z = N(0, 1)``: the quantiles ``z_i = Phi^{-1}((i + 1/2) / n)``.

    Pushed through G, these are the arrows of Figure 1: since the ``z_i`` are evenly spread
    in probability, the arrow heads ``G(z_i)`` crowd together where ``p_g`` is high.
    A float32-representable float64 array of shape ``(n,)``.
    """
    n = positive_int(n, "n")
    if toy.check_noise_kind(kind) == "uniform":
        z = torch.linspace(-1.0, 1.0, n) if n > 1 else torch.zeros(1)
    else:
        z = torch.special.ndtri((torch.arange(n, dtype=torch.float64) + 0.5) / n).float()
    return z.double().numpy()


def kde_1d(samples, x, bandwidth: float | None = None) -> tuple[np.ndarray, float]:
    """A Gaussian kernel density estimate of 1-D ``samples``, evaluated at the points ``x``.

        p_hat(x) = 1 / (n h) * sum_i phi((x - x_i) / h),     phi = the N(0, 1) density

    The bandwidth ``h`` is Silverman's rule of thumb, ``h = 0.9 min(sigma, IQR / 1.34) n^(-1/5)``
    (``sigma`` alone when the IQR is 0), but never below the spacing of the grid ``x``: a
    collapsed generator, whose samples are all equal, then gives a narrow bump of mass 1
    instead of a division by zero. Pass ``bandwidth`` to choose ``h`` yourself.
    Returns ``(p_hat, h)``; ``p_hat`` integrates to 1 over a grid covering the samples.
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    x = np.asarray(x, dtype=np.float64)
    n = len(samples)
    if n < 2 or not np.isfinite(samples).all():
        raise ValueError(f"kde_1d needs at least 2 finite samples, got {n} "
                         f"({int((~np.isfinite(samples)).sum())} not finite)")
    if bandwidth is None:
        sigma = samples.std(ddof=1)
        iqr = np.subtract(*np.percentile(samples, [75, 25]))
        spread = min(sigma, iqr / 1.34) if iqr > 0 else sigma
        floor = float(np.min(np.diff(x))) if x.size > 1 else 1e-3
        bandwidth = max(0.9 * spread * n ** (-0.2), floor)
    elif not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth!r}")
    h = float(bandwidth)
    density = np.zeros(x.shape)
    for start in range(0, n, 4096):  # in chunks: a (grid, 4096) block at a time
        u = (x[..., None] - samples[start:start + 4096]) / h
        density += np.exp(-0.5 * u * u).sum(axis=-1)
    return density / (n * h * np.sqrt(2 * np.pi)), h


def capture_stage(G: nn.Module, D: nn.Module, x_grid, p_data, *, noise: str = "uniform",
                  n_samples: int = 20000, n_arrows: int = 25,
                  generator: torch.Generator | None = None,
                  bandwidth: float | None = None) -> dict:
    """A snapshot of a 1-D GAN: everything Figure 1 of Goodfellow et al. (2014) draws.

    ``G`` maps noise ``z`` of shape ``(N, 1)`` to ``x`` of shape ``(N, 1)``; ``D`` maps
    ``x`` of shape ``(N, 1)`` to logits ``(N,)``. ``x_grid`` is a strictly increasing 1-D
    grid (e.g. ``ganlab.toy.grid_1d(-4, 4)``) and ``p_data`` the data density on it.
    Returns a dict of float64 NumPy arrays:

    * ``x``: the grid; ``p_data``: the given density on it;
    * ``p_g``: the density of ``G(z)``, ``z ~ p_z``, estimated from ``n_samples`` samples
      with a Gaussian kernel density estimate (:func:`kde_1d`; its bandwidth is
      returned as ``bandwidth``);
    * ``D``: the discriminator's ``D(x) = s(l(x))`` on the grid;
    * ``D_star``: the optimal discriminator for this ``p_g``,
      ``D*(x) = p_data(x) / (p_data(x) + p_g(x))`` (``ganlab.theory.optimal_discriminator``);
    * ``z_arrows``: ``n_arrows`` values spread over ``p_z`` (:func:`noise_quantiles`: evenly
      over [-1, 1] for ``"uniform"``, quantiles for ``"normal"``) and ``x_arrows = G(z_arrows)``,
      the mapping drawn as arrows from the z line to the x line;

    plus ``noise`` (the kind of ``p_z``). ``z`` is drawn with ``ganlab.toy.noise(...,
    generator=generator)``: given a ``generator``, the global random state is left alone,
    so this can run inside a training callback without breaking exact resumption.
    The models run in eval mode under ``torch.no_grad()`` and their modes are restored.
    """
    x = np.asarray(x_grid, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or not np.all(np.diff(x) > 0):
        raise ValueError(f"x_grid must be a strictly increasing 1-D array of at least 2 points "
                         f"(e.g. ganlab.toy.grid_1d(-4, 4)), got shape {x.shape}")
    p_data = np.asarray(p_data, dtype=np.float64)
    if p_data.shape != x.shape or not (p_data >= 0).all():
        raise ValueError(f"p_data must be the data density on the grid: non-negative, of shape "
                         f"{x.shape}, got shape {p_data.shape}")
    noise = toy.check_noise_kind(noise)
    n_samples = positive_int(n_samples, "n_samples", 2)
    latent_dim = getattr(G, "latent_dim", 1)
    if latent_dim != 1:
        raise ValueError(f"Figure 1 is drawn for a 1-D noise z: G must take z of shape (N, 1), "
                         f"got latent_dim={latent_dim}")
    z_arrows = noise_quantiles(n_arrows, noise)
    with evaluating(G, D):
        z = toy.noise(n_samples, 1, kind=noise, generator=generator).to(module_device(G))
        samples = _points_1d(G(z), n_samples, "G(z)")
        x_arrows = _points_1d(G(torch.tensor(z_arrows, dtype=torch.float32, device=module_device(G))[:, None]),
                              len(z_arrows), "G(z)")
        logits = D(torch.tensor(x, dtype=torch.float32, device=module_device(D))[:, None])
        d = _points_1d(torch.sigmoid(logits), len(x), "D(x)")
    p_g, h = kde_1d(samples, x, bandwidth)
    return {"x": x, "p_data": p_data.copy(), "p_g": p_g, "D": d,
            "D_star": optimal_discriminator(p_data, p_g), "z_arrows": z_arrows,
            "x_arrows": x_arrows, "noise": noise, "bandwidth": h}


def check_stage(stage) -> None:
    """Raise a ValueError unless ``stage`` is a dict from :func:`capture_stage` (it has every key of :data:`STAGE_KEYS`)."""
    missing = [key for key in STAGE_KEYS if key not in stage] if isinstance(stage, dict) else STAGE_KEYS
    if missing:
        raise ValueError(f"a stage must be a dict from capture_stage(G, D, x_grid, p_data) with keys "
                         f"{list(STAGE_KEYS)}; missing {list(missing)}")


def draw_figure1(stage: dict, ax=None, title: str | None = None):
    """Draw a stage from :func:`capture_stage` as Figure 1 of Goodfellow et al. (2014).

    Upper part, on the x line: ``p_data`` as black dots, ``p_g`` as a green solid line, the
    discriminator ``D(x)`` as a blue dashed line (and the optimal ``D*(x)`` for this ``p_g``
    as a thin blue dotted line). Probabilities and densities share the y axis, as in the
    paper: D and D* are drawn as they are, in [0, 1], while both densities are divided by
    *one* common factor, the larger of their two maxima, so that the taller peaks at 1 and
    the two densities keep their true ratio.

    Lower part: the z line, the domain of the noise, with thin arrows from each
    ``z_arrows[i]`` up to ``x_arrows[i] = G(z_arrows[i])`` on the x line: the mapping
    ``x = G(z)`` squeezes the arrow heads together where ``p_g`` is high. The z line is
    stretched to the width of the plot (its own values are written under it).
    Returns the Figure.
    """
    check_stage(stage)
    fig, ax = figure_axes(ax, (7, 4))
    x, p_data, p_g = stage["x"], stage["p_data"], stage["p_g"]
    scale = max(float(np.max(p_data)), float(np.max(p_g)))
    scale = scale if scale > 0 else 1.0
    every = max(1, len(x) // 70)
    ax.plot(x[::every], p_data[::every] / scale, ".", color="k", ms=4, label=r"$p_\mathrm{data}$")
    ax.plot(x, p_g / scale, "-", color="tab:green", lw=2, label=r"$p_g$")
    ax.plot(x, stage["D"], "--", color="tab:blue", lw=2, label=r"$D(x)$")
    ax.plot(x, stage["D_star"], ":", color="tab:blue", lw=1.2, alpha=0.7,
            label=r"$D^*(x)$ for this $p_g$")

    # the z line below, its values stretched over the plot's width
    lo, hi = float(x[0]), float(x[-1])
    z, x_arrows = np.asarray(stage["z_arrows"]), np.asarray(stage["x_arrows"])
    z_lo, z_hi = (-1.0, 1.0) if stage.get("noise") == "uniform" else (float(z.min()), float(z.max()))
    if z_hi <= z_lo:
        z_lo, z_hi = z_lo - 1.0, z_hi + 1.0
    margin = 0.06 * (hi - lo)
    to_plot = lambda v: lo + margin + (np.asarray(v) - z_lo) / (z_hi - z_lo) * (hi - lo - 2 * margin)
    z_line = -0.45
    ax.plot([lo + margin, hi - margin], [z_line, z_line], "-", color="k", lw=1)
    ax.plot(to_plot(z), np.full(len(z), z_line), "o", color="0.3", ms=2.5)
    for z_i, x_i in zip(to_plot(z), x_arrows, strict=True):
        ax.add_patch(FancyArrowPatch((z_i, z_line), (x_i, 0.0), arrowstyle="-|>", mutation_scale=7,
                                     lw=0.6, color="0.35", shrinkA=0, shrinkB=0))
    for value in (z_lo, 0.0, z_hi):
        ax.text(to_plot(value), z_line - 0.05, f"{value:g}", ha="center", va="top", fontsize=8)
    p_z = {"uniform": "U(-1, 1)", "normal": "N(0, 1)"}.get(stage.get("noise"), "p_z")
    ax.text(lo, z_line + 0.03, f"z ~ {p_z}", ha="left", va="bottom", fontsize=9)
    ax.text(hi, 0.03, "x", ha="right", va="bottom", fontsize=10, style="italic")

    # the x axis is the x line, at height 0
    ax.spines["bottom"].set_position(("data", 0.0))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_bounds(0.0, 1.0)
    ax.set_yticks([0.0, 0.5, 1.0])
    ax.set_xlim(lo, hi)
    ax.set_ylim(z_line - 0.13, 1.3)
    ax.set_ylabel("D(x);  densities / max")
    ax.legend(loc="upper center", ncol=4, fontsize=8, frameon=False, handlelength=2.2)
    if title:
        ax.set_title(title)
    return fig
