"""Autoencoders (Unit 01).

An autoencoder is an encoder and a decoder trained to give back their input:

    z  = f_theta(x)  = s(W x + b)           (encoder; z is the code / latent vector)
    x' = g_phi(z)    = s(W' z + b')         (decoder)
    theta, phi = argmin  L(x, x')           (e.g. the mean squared error)

``z`` lives in the *latent space*. Stacking several such layers gives a deep
(stacked) autoencoder; with no nonlinearity at all (``s`` the identity) the
*linear* autoencoder learns the same subspace as PCA. Images are float tensors in
``[-1, 1]`` of shape ``(N, C, H, W)``, so the decoders end with ``tanh``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganlab.models.layers import conv_decoder, conv_encoder, mlp
from ganlab.validate import check_codes, check_image_shape


class EncoderDecoder(nn.Module):
    """What every autoencoder of the course shares: ``encode``, ``decode`` and their composition.

    Subclasses set ``self.encoder``, ``self.decoder``, ``self.latent_dim`` and
    ``self.image_shape``; ``accepts_flat`` says whether flat ``(N, C*H*W)`` input is fine.
    Both directions check their input's shape and raise a ValueError naming the one expected.
    """

    accepts_flat = False

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``z = f_theta(x)``: images ``(N, C, H, W)`` to codes ``(N, latent_dim)``."""
        check_image_shape(x, self.image_shape, allow_flat=self.accepts_flat)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``x' = g_phi(z)``: codes ``(N, latent_dim)`` to images ``(N, C, H, W)``."""
        check_codes(z, self.latent_dim)
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``x' = g_phi(f_theta(x))``."""
        return self.decode(self.encode(x))


class Autoencoder(EncoderDecoder):
    """Fully connected autoencoder ``784 -> hidden... -> latent_dim -> ...hidden -> 784``.

    Every hidden layer is ``s(W h + b)`` with ``s = activation``; the code layer uses
    ``code_activation`` (none by default, so codes can take any value) and the output
    layer ``output_activation`` (``tanh`` for images in [-1, 1]). ``hidden=()`` gives one
    layer on each side: ``z = W x + b`` with the default ``code_activation=None``, and the
    formulas' ``z = s(W x + b)`` with ``code_activation="sigmoid"`` (or another ``s``);
    :meth:`linear` drops every nonlinearity.
    It also accepts flat images ``(N, C*H*W)``.
    """

    accepts_flat = True

    def __init__(self, latent_dim: int = 32, hidden: tuple[int, ...] = (256,),
                 image_shape: tuple[int, ...] = (1, 28, 28), activation: str | None = "relu",
                 code_activation: str | None = None, output_activation: str | None = "tanh"):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        dims = [math.prod(self.image_shape), *hidden, latent_dim]

        self.encoder = nn.Sequential(nn.Flatten(), *mlp(dims, activation, code_activation))
        self.decoder = nn.Sequential(*mlp(dims[::-1], activation, output_activation),
                                     nn.Unflatten(1, self.image_shape))

    @classmethod
    def linear(cls, latent_dim: int, image_shape: tuple[int, ...] = (1, 28, 28)) -> Autoencoder:
        """``z = W x + b``, ``x' = W' z + b'``: no nonlinearity anywhere (compare with PCA)."""
        return cls(latent_dim, hidden=(), image_shape=image_shape, activation=None,
                   code_activation=None, output_activation=None)


class ConvAutoencoder(EncoderDecoder):
    """Convolutional autoencoder: two stride-2 convolutions down, two transposed up.

    ``(C, H, W) -> (c, H/2, W/2) -> (2c, H/4, W/4) -> z`` and back, with 4x4 kernels,
    ReLU inside and ``tanh`` at the output. Weight sharing across positions lets it
    reconstruct better than an MLP of similar size. ``H`` and ``W`` must be divisible by 4.
    """

    def __init__(self, latent_dim: int = 16, channels: int = 32,
                 image_shape: tuple[int, ...] = (1, 28, 28)):
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.encoder = conv_encoder(self.image_shape, channels, latent_dim)
        self.decoder = conv_decoder(self.image_shape, channels, latent_dim)


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoising corruption ``x~ = clip(x + std * eps, -1, 1)`` with ``eps ~ N(0, I)``."""
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * eps).clamp(-1.0, 1.0)
