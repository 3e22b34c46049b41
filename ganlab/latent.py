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
