"""Fully connected GANs (Units 03-04): the lecture's MNIST GAN and small toy-data GANs.

    G: z (N, latent_dim) -> x (N, *data_shape)       ReLU inside, tanh for images in [-1, 1]
    D: x (N, *data_shape) -> logits l (N,)           LeakyReLU(0.2) inside, D(x) = s(l)

The discriminator returns *logits*: the losses in ``ganlab.losses`` apply the sigmoid
inside log-sigmoid / softplus, which is exact and never takes log(0). A final
``nn.Sigmoid`` layer followed by ``log`` (or ``nn.BCELoss``) is the classic source of
NaNs and vanishing gradients once D becomes confident.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganlab.models.layers import mlp
from ganlab.validate import check_codes, check_image_shape


class MLPGenerator(nn.Module):
    """``G(z)``: ``latent_dim -> hidden... -> prod(data_shape)``.

    Defaults are the lecture's MNIST generator: 64 -> 256 -> 784, ReLU, tanh.
    For toy data use e.g. ``data_shape=(2,), output=None`` (a linear output layer).
    ``batchnorm=True`` normalises every hidden layer before its ReLU,
    ``h = ReLU(BN(W h_prev + b))`` (the DCGAN paper's fix, Unit 05, on an MLP): each
    minibatch of fakes is spread to unit variance per unit, which resists collapsing
    all samples onto one digit.
    """

    def __init__(self, latent_dim: int = 64, hidden: tuple[int, ...] = (256,),
                 data_shape: tuple[int, ...] = (1, 28, 28), output: str | None = "tanh",
                 batchnorm: bool = False):
        super().__init__()
        self.latent_dim, self.data_shape = latent_dim, tuple(data_shape)
        self.net = nn.Sequential(*mlp([latent_dim, *hidden, math.prod(self.data_shape)], "relu",
                                       output, batchnorm=batchnorm),
                                 nn.Unflatten(1, self.data_shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_codes(z, self.latent_dim)
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``D``'s logit: ``prod(data_shape) -> hidden... -> 1`` with LeakyReLU(0.2).

    Defaults are the lecture's MNIST discriminator: 784 -> 256 -> 1. ``dropout = p > 0``
    puts ``Dropout(p)`` after every hidden activation (as in the original GAN code's
    maxout discriminator), a brake on a discriminator that memorises its data.
    """

    def __init__(self, data_shape: tuple[int, ...] = (1, 28, 28),
                 hidden: tuple[int, ...] = (256,), dropout: float = 0.0):
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.data_shape = tuple(data_shape)
        self.net = nn.Sequential(nn.Flatten(), *mlp([math.prod(self.data_shape), *hidden, 1],
                                                     "leaky_relu", None, dropout=dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_shape(x, self.data_shape)
        return self.net(x).squeeze(1)
