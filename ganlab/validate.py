"""The input checks the package shares: each raises a ValueError that names what was expected.

A wrong shape deep inside a network gives a matrix-multiplication error that names
neither the argument nor the shape it should have had. The models, metrics and views
check their inputs at the door with these functions instead, so every message reads
the same way:

* :func:`positive_int`: a count (samples, steps, a batch size) is an integer ``>= minimum``;
* :func:`check_image_shape`: images have shape ``(N, *image_shape)`` (what a model's
  ``forward``, ``encode`` or ``D(x)`` takes);
* :func:`check_codes`: latent codes ``z`` have shape ``(N, latent_dim)`` (what a
  generator or a decoder takes);
* :func:`check_labels`: class labels ``y`` are ``N`` integers in ``[0, n_classes)``;
* :func:`check_pixel_range`: a non-empty float batch ``(N, C, H, W)`` with pixels in
  ``[-1, 1]`` (what a feature extractor of ``ganlab.features`` takes).

The checks of one kind of argument that only one module knows (a generator loss's name,
``ganlab.losses.check_loss_kind``; a noise prior's, ``ganlab.toy.check_noise_kind``)
live beside the list of names they check against.
"""

from __future__ import annotations

import math
from numbers import Integral

import torch

#: Tolerance of the ``[-1, 1]`` range check (float rounding of a ``tanh`` output).
RANGE_TOLERANCE = 1e-3


def _shape(x) -> tuple | str:
    """``x``'s shape if it is a tensor, else the name of its type (for error messages)."""
    return tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__


def positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer ``>= minimum`` (not a bool); else a ValueError.

    NumPy integers are accepted; ``name`` says what the number is, e.g. ``"batch_size"``.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_image_shape(x, image_shape: tuple[int, ...], *, allow_flat: bool = False,
                      who: str | None = None) -> None:
    """Raise a ValueError unless ``x`` is a tensor of shape ``(N, *image_shape)``.

    ``allow_flat`` also accepts flat images ``(N, prod(image_shape))``. ``who`` names the
    caller in the message ("DCGAN preset 'cpu28' expects images of shape ..."); without
    it the message starts "expected images of shape ...".
    """
    flat = math.prod(image_shape)
    expected = f"(N, {', '.join(map(str, image_shape))})" + (f" or (N, {flat})" if allow_flat else "")
    if not isinstance(x, torch.Tensor):
        if who is None:
            raise ValueError(f"expected a torch.Tensor of images, got {type(x).__name__}")
        raise ValueError(f"{who} expects images of shape {expected}, got {type(x).__name__}")
    ok = x.dim() == 1 + len(image_shape) and tuple(x.shape[1:]) == tuple(image_shape)
    if allow_flat:
        ok = ok or (x.dim() == 2 and x.shape[1] == flat)
    if not ok:
        subject = f"{who} expects" if who else "expected"
        raise ValueError(f"{subject} images of shape {expected}, got {tuple(x.shape)}")


def check_codes(z, latent_dim: int, *, who: str | None = None) -> None:
    """Raise a ValueError unless ``z`` is a tensor of codes of shape ``(N, latent_dim)``.

    ``who`` names the caller in the message, as in :func:`check_image_shape`.
    """
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != latent_dim:
        subject = f"{who} expects z" if who else "expected codes z"
        raise ValueError(f"{subject} of shape (N, {latent_dim}), got {_shape(z)}")


def check_labels(y, n: int, n_classes: int) -> None:
    """Raise a ValueError unless ``y`` is ``n`` integer class labels in ``[0, n_classes)``."""
    if not isinstance(y, torch.Tensor) or y.shape != (n,) or y.is_floating_point():
        floats = " of floats" if isinstance(y, torch.Tensor) and y.is_floating_point() else ""
        raise ValueError(f"expected labels y of shape ({n},) with integer classes, got {_shape(y)}{floats}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got {y.min().item()} .. {y.max().item()}")


def check_pixel_range(x, *, channels: tuple[int, ...] = (1,), size: int | None = 28,
                      who: str = "the feature extractor") -> torch.Tensor:
    """Raise a ValueError unless ``x`` is a non-empty float batch ``(N, C, H, W)`` with values in [-1, 1].

    ``channels`` lists the allowed ``C``; ``size`` (if given) is the required ``H = W``.
    Values may overshoot the range by :data:`RANGE_TOLERANCE`. Returns ``x`` unchanged.
    """
    shape = "(N, {}, {}, {})".format("|".join(map(str, channels)),
                                     size if size else "H", size if size else "W")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{who} expects a torch.Tensor of images {shape}, got {type(x).__name__}")
    if x.dim() == 3 and 1 in channels:
        raise ValueError(f"{who} expects images of shape {shape}, got {tuple(x.shape)}; "
                         "add the channel axis with x.unsqueeze(1)")
    if x.dim() != 4 or x.shape[1] not in channels or (size and tuple(x.shape[2:]) != (size, size)):
        raise ValueError(f"{who} expects images of shape {shape}, got {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError(f"{who} got an empty batch of images {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{who} expects float images in [-1, 1], got dtype {x.dtype}; "
                         "convert 0..255 pixels with x.float() / 127.5 - 1")
    lo, hi = x.detach().min().item(), x.detach().max().item()
    if lo < -1 - RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        hint = " (images in [0, 1]? use 2 * x - 1)" if lo >= 0 else ""
        raise ValueError(f"{who} expects images with values in [-1, 1], got values in "
                         f"[{lo:.3g}, {hi:.3g}]{hint}")
    return x
