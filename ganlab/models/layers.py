"""The layer stacks the models share: activations by name, an MLP, a small conv encoder and decoder.

* :func:`mlp`: ``Linear(d_0, d_1), s, Linear(d_1, d_2), s, ..., Linear, s_last``, the body of
  the autoencoders (Unit 01), the VAE (Unit 02) and the MLP GAN (Units 03-04), optionally
  with batch norm and dropout on the hidden layers;
* :func:`conv_encoder` and :func:`conv_decoder`: two 4x4 stride-2 convolutions down and
  two transposed convolutions back up, ``(C, H, W) <-> (2c, H/4, W/4)``, the body of the
  convolutional autoencoder and of the convolutional VAE.

Activations are named by strings (:data:`ACTIVATIONS`): ``"relu"``, ``"leaky_relu"``
(slope 0.2), ``"sigmoid"``, ``"tanh"``, or ``None`` for none (the identity).
"""

from __future__ import annotations

import math

from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    None: nn.Identity,
}


def activation(name: str | None) -> nn.Module:
    """A fresh activation layer by name (:data:`ACTIVATIONS`); a ValueError lists the names."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {list(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(dims, activation_name: str | None, last_activation: str | None, *, batchnorm: bool = False,
        dropout: float = 0.0) -> list[nn.Module]:
    """Linear layers ``dims[0] -> dims[1] -> ...``, each followed by its activation.

    Every hidden layer (all but the last) uses ``activation_name`` and the last layer
    ``last_activation``. Every hidden layer can also have ``BatchNorm1d`` between its
    ``Linear`` and its activation, and ``Dropout(dropout)`` after the activation.
    Returns the list of layers, for ``nn.Sequential(*mlp(...))``.
    """
    layers = []
    for i in range(len(dims) - 1):
        last = i == len(dims) - 2
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if batchnorm and not last:
            layers.append(nn.BatchNorm1d(dims[i + 1]))
        layers.append(activation(last_activation if last else activation_name))
        if dropout > 0 and not last:
            layers.append(nn.Dropout(dropout))
    return layers


def conv_encoder(image_shape, channels: int, out_dim: int) -> nn.Sequential:
    """``(C, H, W) -> (c, H/2, W/2) -> (2c, H/4, W/4) -> out_dim``: 4x4 stride-2 convs, ReLU."""
    c_img, h, w = _divisible_by_4(image_shape)
    inner = (2 * channels, h // 4, w // 4)
    return nn.Sequential(
        nn.Conv2d(c_img, channels, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(math.prod(inner), out_dim),
    )


def conv_decoder(image_shape, channels: int, latent_dim: int,
                 output_activation: str | None = "tanh") -> nn.Sequential:
    """The mirror of :func:`conv_encoder`: ``latent_dim -> (2c, H/4, W/4) -> ... -> (C, H, W)``."""
    c_img, h, w = _divisible_by_4(image_shape)
    inner = (2 * channels, h // 4, w // 4)
    return nn.Sequential(
        nn.Linear(latent_dim, math.prod(inner)), nn.ReLU(), nn.Unflatten(1, inner),
        nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(channels, c_img, 4, stride=2, padding=1), activation(output_activation),
    )


def _divisible_by_4(image_shape):
    c_img, h, w = image_shape
    if h % 4 or w % 4:
        raise ValueError(f"the convolutional models need image height and width divisible by 4, "
                         f"got image_shape={tuple(image_shape)}")
    return c_img, h, w
