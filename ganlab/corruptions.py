"""Controlled damage to images, for checking that a metric responds to what it should (Unit 06).

Each function takes images ``(N, C, H, W)`` in [-1, 1] and a ``strength`` in [0, 1]
(0 = unchanged) and returns new images in [-1, 1]; the randomness comes from its own
seeded generator, so a corruption curve is reproducible. Following Heusel et al. (2017),
a metric worth trusting should get monotonically worse as any of them gets stronger.
"""

from __future__ import annotations

import math

import torch
from torchvision.transforms.functional import gaussian_blur

from ganlab.models.autoencoders import add_noise


def _check(images: torch.Tensor, strength: float) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected images of shape (N, C, H, W) in [-1, 1], got {shape}")
    if not 0 <= strength <= 1:
        raise ValueError(f"strength must be in [0, 1], got {strength}")


def noise(images: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """Gaussian pixel noise of standard deviation ``strength`` (images span 2), clipped."""
    _check(images, strength)
    return add_noise(images, strength, generator=torch.Generator().manual_seed(seed))


def blur(images: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """Gaussian blur with ``sigma = 3 * strength`` pixels (kernel 4 sigma wide, odd)."""
    _check(images, strength)
    sigma = 3.0 * strength
    if sigma < 1e-3:
        return images.clone()
    kernel = 2 * math.ceil(2 * sigma) + 1
    return gaussian_blur(images, [kernel, kernel], [sigma, sigma])


def occlude(images: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """A grey square covering the fraction ``strength`` of each image's area, at a random place."""
    _check(images, strength)
    n, _, h, w = images.shape
    side = round((strength * h * w) ** 0.5)
    out = images.clone()
    if side == 0:
        return out
    gen = torch.Generator().manual_seed(seed)
    top = torch.randint(0, h - side + 1, (n,), generator=gen)
    left = torch.randint(0, w - side + 1, (n,), generator=gen)
    for i in range(n):
        out[i, :, top[i]:top[i] + side, left[i]:left[i] + side] = 0.0
    return out


CORRUPTIONS = {"noise": noise, "blur": blur, "occlusion": occlude}
