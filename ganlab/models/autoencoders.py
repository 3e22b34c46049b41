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

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    None: nn.Identity,
}


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {list(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _mlp(dims, activation, last_activation, *, batchnorm: bool = False,
         dropout: float = 0.0) -> list[nn.Module]:
    """Linear layers ``dims[0] -> dims[1] -> ...``, each followed by its activation.

    Every hidden layer (all but the last) can also have ``BatchNorm1d`` between its
    ``Linear`` and its activation, and ``Dropout(dropout)`` after the activation.
    """
    layers = []
    for i in range(len(dims) - 1):
        last = i == len(dims) - 2
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if batchnorm and not last:
            layers.append(nn.BatchNorm1d(dims[i + 1]))
        layers.append(_activation(last_activation if last else activation))
        if dropout > 0 and not last:
            layers.append(nn.Dropout(dropout))
    return layers


def check_images(x: torch.Tensor, image_shape: tuple[int, ...], *, allow_flat: bool = False):
    """Raise a ValueError unless ``x`` has shape ``(N, *image_shape)`` (or ``(N, prod)``)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of images, got {type(x).__name__}")
    flat = math.prod(image_shape)
    ok = x.dim() == 1 + len(image_shape) and tuple(x.shape[1:]) == tuple(image_shape)
    if allow_flat:
        ok = ok or (x.dim() == 2 and x.shape[1] == flat)
    if not ok:
        also = f" or (N, {flat})" if allow_flat else ""
        raise ValueError(f"expected images of shape (N, {', '.join(map(str, image_shape))}){also}, "
                         f"got {tuple(x.shape)}")


def check_codes(z: torch.Tensor, latent_dim: int):
    """Raise a ValueError unless ``z`` has shape ``(N, latent_dim)``."""
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != latent_dim:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"expected codes z of shape (N, {latent_dim}), got {shape}")


class EncoderDecoder(nn.Module):
    """What every autoencoder of the course shares: ``encode``, ``decode`` and their composition.

    Subclasses set ``self.encoder``, ``self.decoder``, ``self.latent_dim`` and
    ``self.image_shape``; ``accepts_flat`` says whether flat ``(N, C*H*W)`` input is fine.
    Both directions check their input's shape and raise a ValueError naming the one expected.
    """

    accepts_flat = False

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``z = f_theta(x)``: images ``(N, C, H, W)`` to codes ``(N, latent_dim)``."""
        check_images(x, self.image_shape, allow_flat=self.accepts_flat)
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

        self.encoder = nn.Sequential(nn.Flatten(), *_mlp(dims, activation, code_activation))
        self.decoder = nn.Sequential(*_mlp(dims[::-1], activation, output_activation),
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
        nn.ConvTranspose2d(channels, c_img, 4, stride=2, padding=1), _activation(output_activation),
    )


def _divisible_by_4(image_shape):
    c_img, h, w = image_shape
    if h % 4 or w % 4:
        raise ValueError(f"the convolutional models need image height and width divisible by 4, "
                         f"got image_shape={tuple(image_shape)}")
    return c_img, h, w


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoising corruption ``x~ = clip(x + std * eps, -1, 1)`` with ``eps ~ N(0, I)``."""
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * eps).clamp(-1.0, 1.0)
