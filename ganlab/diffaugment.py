"""Differentiable augmentation for GANs on small data (DiffAugment; Zhao et al., 2020).

With 4,500 training digits a discriminator soon *memorises* the real set: ``D(x)`` on
the training digits climbs towards 1 while the fakes it rejects still look fine, and
the generator's gradient stops saying anything useful. Augmenting only the real images
would not help (G would learn to draw augmented digits). DiffAugment applies the *same
random family* of transformations ``T`` to every image D sees, real and fake, in both
players' losses:

    L_D = E_x[softplus(-D(T(x)))] + E_z[softplus(D(T(G(z))))]
    L_G = E_z[softplus(-D(T(G(z))))]

``T`` is differentiable in its input, so G's gradient flows back through it. D now has
to tell real from fake for *every* shifted, partly erased version of a digit, which it
cannot do by remembering 4,500 pictures.

The two transformations of the paper's policy ``"translation,cutout"``, for images in
[-1, 1] with background -1:

* ``translation``: each image moves by an integer ``(dy, dx)``, uniform in
  ``{-s, ..., s}^2`` with ``s = round(ratio * size)`` (ratio 1/8: up to 4 pixels of 28);
  pixels that come in from outside are background (-1).
* ``cutout``: each image loses one square of side ``round(ratio * size)`` (ratio 1/2) at
  a uniformly random centre, set to background (-1).

The random numbers come from the global generator on the images' device, so the
training loop's saved RNG state makes an interrupted run resume exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("translation", "cutout")
BACKGROUND = -1.0


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image of ``x (N, C, H, W)`` by its own integer offset, background filling in."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) - dy).clamp(-1, h) + 1   # index into
    cols = (torch.arange(w, device=x.device).view(1, 1, w) - dx).clamp(-1, w) + 1   # the padded x
    padded = F.pad(x, (1, 1, 1, 1), value=BACKGROUND)                                # (N, C, H+2, W+2)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Set one random square of side ``round(ratio * size)`` of each image to background."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=x.device) - ch // 2     # the square's centre
    left = torch.randint(0, w, (n, 1, 1), device=x.device) - cw // 2    # is uniform on the image
    y = torch.arange(h, device=x.device).view(1, h, 1)
    xx = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (y >= top) & (y < top + ch) & (xx >= left) & (xx < left + cw)
    return torch.where(inside.unsqueeze(1), torch.full_like(x, BACKGROUND), x)


def check_policy(policy: str | None) -> tuple[str, ...]:
    """The transformations named in ``policy`` (``"translation,cutout"``); ``None``/``""``: none."""
    names = tuple(p.strip() for p in (policy or "").split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment transformation(s) {unknown} in {policy!r}; "
                         f"write a comma-separated list of {POLICIES}")
    return names


def identity(x: torch.Tensor) -> torch.Tensor:
    """``T(x) = x``: what D sees when augmentation is off."""
    return x


def augmentation(policy: str | None):
    """``T`` for ``policy``, parsed once: a function of images, or :func:`identity` for none."""
    transforms = [translation if name == "translation" else cutout for name in check_policy(policy)]
    if not transforms:
        return identity

    def T(x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"DiffAugment needs images of shape (N, C, H, W), got {tuple(x.shape)}")
        for transform in transforms:
            x = transform(x)
        return x

    return T


def diff_augment(x: torch.Tensor, policy: str = "translation,cutout") -> torch.Tensor:
    """``T(x)``: the transformations of ``policy`` in order, each image drawn afresh."""
    return augmentation(policy)(x)
