"""Moving through a latent space: interpolation shared by the VAE and GAN units."""

from __future__ import annotations

import torch


def _check_pair(z0: torch.Tensor, z1: torch.Tensor, steps: int):
    if z0.shape != z1.shape or z0.dim() != 1:
        raise ValueError(f"z0 and z1 must be 1-D codes of one shape, got {tuple(z0.shape)} "
                         f"and {tuple(z1.shape)}")
    if steps < 2:
        raise ValueError(f"need steps >= 2, got {steps}")


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Linear interpolation ``z(t) = (1 - t) z0 + t z1`` at ``steps`` values of t in [0, 1]."""
    _check_pair(z0, z1, steps)
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Spherical interpolation along the great circle between ``z0`` and ``z1``.

        z(t) = sin((1 - t) omega) / sin(omega) * z0 + sin(t omega) / sin(omega) * z1,
        cos(omega) = z0 . z1 / (|z0| |z1|)

    In high dimensions a Gaussian sample lies near a sphere of radius ``sqrt(d)``; the
    midpoint of a straight line between two samples is atypically short, while slerp
    keeps the norm typical (White, 2016). Falls back to :func:`lerp` for (anti)parallel codes.
    """
    _check_pair(z0, z1, steps)
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm())
    omega = torch.arccos(cos.clamp(-1, 1))
    if torch.sin(omega).abs() < 1e-6:
        return lerp(z0, z1, steps)
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


# --- latent vector arithmetic (Radford et al., 2016, section 6.3) -------------------------


def _check_codes(z: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or len(z) == 0:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{what} must be a non-empty batch of codes of shape (N, latent_dim), "
                         f"got {shape}")
    return z


def arithmetic(plus: list[torch.Tensor], minus: list[torch.Tensor] = ()) -> torch.Tensor:
    """``sum_i mean(plus_i) - sum_j mean(minus_j)``: concept arithmetic on averaged codes.

    Each entry is a group of codes ``(N_k, latent_dim)`` that show one concept (say, three
    generated "bold sevens"). One sample's code carries its concept plus much that is
    particular to it; averaging a few codes keeps the concept and cancels the rest,
    which is why the DCGAN paper averages three exemplars per concept before computing
    e.g. ``z(bold 7) - z(thin 7) + z(thin 1)`` (and why single samples work poorly).
    """
    groups = [_check_codes(z, "each group in plus") for z in plus]
    groups += [_check_codes(z, "each group in minus") for z in minus]
    if not plus:
        raise ValueError("arithmetic needs at least one group in plus")
    dims = {z.shape[1] for z in groups}
    if len(dims) != 1:
        raise ValueError(f"all groups must have one latent_dim, got {sorted(dims)}")
    means = [z.mean(0) for z in groups]
    return sum(means[:len(plus)]) - sum(means[len(plus):], torch.zeros_like(means[0]))


def attribute_vector(z: torch.Tensor, scores: torch.Tensor, fraction: float = 0.1) -> torch.Tensor:
    """``mean(z | top fraction of scores) - mean(z | bottom fraction)``: a direction for an attribute.

    ``scores`` is any measurable property of ``G(z)`` (for instance the amount of ink,
    i.e. stroke thickness); moving a code along the returned vector raises that
    property in the generated image, if the generator has learned it as a direction.
    """
    _check_codes(z, "z")
    scores = torch.as_tensor(scores).flatten()
    if len(scores) != len(z):
        raise ValueError(f"need one score per code: {len(z)} codes, {len(scores)} scores")
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    n = max(1, int(fraction * len(z)))
    order = scores.argsort()
    return z[order[-n:]].mean(0) - z[order[:n]].mean(0)


def walk(z: torch.Tensor, direction: torch.Tensor, alphas) -> torch.Tensor:
    """``z + alpha * direction`` for each ``alpha``: shape ``(len(alphas), latent_dim)``."""
    if z.dim() != 1 or direction.shape != z.shape:
        raise ValueError(f"z and direction must be 1-D codes of one shape, got {tuple(z.shape)} "
                         f"and {tuple(direction.shape)}")
    alphas = torch.as_tensor(alphas, dtype=z.dtype, device=z.device).flatten()
    return z + alphas[:, None] * direction
