"""Autoregressive models: an explicit, tractable density (Unit 02).

Any distribution over ``D`` variables factorises by the chain rule of probability:

    p(x) = prod_{i=1..D} p(x_i | x_1, ..., x_{i-1})

An *autoregressive* model parametrises every conditional with a network that may look
only at the pixels before ``i`` (here: the natural raster order of ``x.flatten(1)``).
For binary pixels each conditional is a Bernoulli with logit ``l_i(x_<i)``, so

    log p(x) = sum_i [ x_i log s(l_i) + (1 - x_i) log(1 - s(l_i)) ]      (s = sigmoid)

is *exact*: no bound, no sampling. Every one of the ``2^D`` images gets a probability
and they sum to one (the tests check it on 3x3 images).

MADE (Germain et al., 2015) computes all ``D`` logits in *one* forward pass of an
ordinary MLP whose weights are multiplied by binary masks that cut every path from
``x_j`` to ``l_i`` with ``j >= i``. Training and likelihood are therefore as fast as an
autoencoder. Sampling is not: ``x_i`` needs ``x_<i`` first, so drawing an image takes
``D`` forward passes, one per pixel.

Images are float tensors of 0s and 1s of shape ``(N, C, H, W)``. The course's images
live in ``[-1, 1]``; binarise them with ``(x > 0).float()``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """A linear layer with some connections removed: ``y = (M ⊙ W) x + b``.

    ``M`` is a fixed 0/1 matrix of the weight's shape ``(out_features, in_features)``,
    kept as the buffer ``mask`` (so it follows ``.to(device)`` and ``.double()`` and is
    saved in the ``state_dict``, but is never trained). ``M_kd = 0`` means output ``k``
    never sees input ``d``: its weight is multiplied by zero in every forward pass, so
    it also gets a zero gradient.
    """

    def __init__(self, mask: torch.Tensor, bias: bool = True):
        if mask.dim() != 2:
            raise ValueError(f"mask must be a 2-d (out_features, in_features) tensor, "
                             f"got shape {tuple(mask.shape)}")
        out_features, in_features = mask.shape
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``y = (M ⊙ W) x + b``."""
        return F.linear(x, self.mask * self.weight, self.bias)


def made_degrees(num_inputs: int, hidden: tuple[int, ...], seed: int = 0) -> list[torch.Tensor]:
    """The degree ``m(k)`` of every unit, input layer first, for the raster order.

    * input ``d`` (1-based) has degree ``m(d) = d``;
    * a hidden unit of layer ``l`` gets ``m(k) ~ Uniform{min m^{l-1}, ..., D - 1}``
      (Germain et al., 2015, eq. 13): it may see inputs ``1..m(k)`` and, since
      ``m(k) <= D - 1``, it is useful to at least one output. Starting at the previous
      layer's minimum avoids units that see nothing.

    The draws come from a local ``torch.Generator`` seeded with ``seed``: the same seed
    always gives the same degrees, and the global random state is untouched.
    """
    generator = torch.Generator().manual_seed(seed)
    degrees = [torch.arange(1, num_inputs + 1)]
    top = max(num_inputs - 1, 1)  # D = 1: no input can be seen; any degree >= 1 cuts it off
    for size in hidden:
        low = min(int(degrees[-1].min()), top)
        degrees.append(torch.randint(low, top + 1, (size,), generator=generator))
    return degrees


def made_masks(degrees: list[torch.Tensor]) -> list[torch.Tensor]:
    """The masks of a MADE from its degrees (:func:`made_degrees`), first layer first.

    * into a hidden unit:  ``M_kd = 1  if  m(k) >= m(d)``  (it sees inputs ``<= m(k)``);
    * into output ``i``:   ``M_ik = 1  if  i > m(k)``       (strictly: ``l_i`` never sees ``x_i``).

    The product of all masks is then zero on and above the diagonal, so there is no
    path from ``x_j`` to ``l_i`` with ``j >= i``: the autoregressive property.
    """
    masks = [(later[:, None] >= earlier[None, :]).float()
             for earlier, later in zip(degrees[:-1], degrees[1:], strict=True)]
    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())
    return masks


class MADE(nn.Module):
    """Masked Autoencoder for Distribution Estimation, for binary images.

    ``D = C * H * W`` inputs, masked hidden layers ``h = relu((M ⊙ W) h' + b)`` of sizes
    ``hidden``, and ``D`` output logits ``l = (M ⊙ W) h + b`` with

        p(x_i = 1 | x_<i) = s(l_i(x_<i))

    in the raster order of ``x.flatten(1)``. There are no direct input-to-output
    connections: every path goes through the hidden layers. The masks come from
    :func:`made_degrees` and :func:`made_masks`, drawn from ``seed`` alone; the
    weights are initialised as in any ``nn.Linear`` (from the global RNG, so call
    ``torch.manual_seed`` first if you want the same weights too).
    """

    def __init__(self, image_shape: tuple[int, ...] = (1, 28, 28),
                 hidden: tuple[int, ...] = (500,), seed: int = 0):
        super().__init__()
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or not all(isinstance(s, int) and s >= 1 for s in image_shape):
            raise ValueError(f"image_shape must be (C, H, W) with positive ints, got {image_shape}")
        hidden = tuple(hidden)
        if not hidden or not all(isinstance(h, int) and h >= 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of layer sizes >= 1, got {hidden}")
        self.image_shape = image_shape
        self.num_inputs = math.prod(image_shape)
        self.degrees = made_degrees(self.num_inputs, hidden, seed)

        masks = made_masks(self.degrees)
        layers = []
        for mask in masks[:-1]:
            layers += [MaskedLinear(mask), nn.ReLU()]
        layers.append(MaskedLinear(masks[-1]))
        self.net = nn.Sequential(*layers)

    def masked_layers(self) -> list[MaskedLinear]:
        """The masked linear layers, input side first."""
        return [m for m in self.net if isinstance(m, MaskedLinear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All ``D`` logits ``l_i = logit p(x_i = 1 | x_<i)`` in one pass, shape ``(N, C, H, W)``."""
        x = self._check(x)
        return self.net(x.flatten(1)).view(-1, *self.image_shape)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x) = sum_i [x_i log s(l_i) + (1 - x_i) log(1 - s(l_i))]`` in nats, ``(N,)``.

        Each term is ``-BCE_with_logits(l_i, x_i)``, which PyTorch evaluates stably
        (no ``log(0)`` for confident logits). Divide ``-log p(x)`` by ``D log 2`` for
        bits per dimension.
        """
        x = self._check(x).flatten(1)
        logits = self.net(x)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling: ``x_i ~ Bernoulli(s(l_i(x_<i)))`` for ``i = 1..D`` in order.

        Starts from an all-zero image and fills in one pixel per forward pass (``D``
        passes in all; the pixels ``>= i`` are not seen by ``l_i``, so their
        placeholder values do not matter). Returns ``n`` images of 0s and 1s,
        ``(n, C, H, W)``. ``generator`` makes the draw reproducible: the uniform
        numbers ``u`` are all taken from it up front, and ``x_i = [u_i < s(l_i)]``.
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int (the number of images), got {n!r}")
        first = self.masked_layers()[0].weight
        device, dtype = first.device, first.dtype
        u = torch.rand(n, self.num_inputs, generator=generator, dtype=dtype,
                       device=generator.device if generator is not None else device).to(device)
        x = torch.zeros(n, self.num_inputs, device=device, dtype=dtype)
        for i in range(self.num_inputs):
            logit_i = self.net(x)[:, i]
            x[:, i] = (u[:, i] < torch.sigmoid(logit_i)).to(dtype)
        return x.view(n, *self.image_shape)

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        """Raise a ValueError unless ``x`` is ``(N, *image_shape)`` of 0s and 1s; return it as floats."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"expected a torch.Tensor of binary images, got {type(x).__name__}")
        if x.dim() != 1 + len(self.image_shape) or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"expected binary images of shape (N, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(x.shape)}")
        if not ((x == 0) | (x == 1)).all():
            raise ValueError(f"MADE models binary images: pixel values must be 0 or 1, got values "
                             f"in [{x.min().item():.3g}, {x.max().item():.3g}]; binarise images in "
                             "[-1, 1] with (x > 0).float()")
        return x.to(self.masked_layers()[0].weight.dtype)


def made_step(model: MADE, optimizer: torch.optim.Optimizer):
    """Return a ``step`` for :func:`ganlab.train.fit` that trains ``model`` by maximum likelihood.

    One step on a batch ``(x, y)`` of binary images ``x`` (labels ignored) minimises the
    mean negative log-likelihood in nats per image,

        L = -(1/N) sum_n log p(x_n),

    and returns ``{"nll": L}``.
    """

    def step(batch):
        x = batch[0]
        nll = -model.log_prob(x).mean()
        optimizer.zero_grad(set_to_none=True)
        nll.backward()
        optimizer.step()
        return {"nll": nll.detach()}

    return step
