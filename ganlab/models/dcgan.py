"""Deep convolutional GANs (Unit 05; Radford, Metz & Chintala, 2016).

The architecture guidelines of the DCGAN paper, and where each shows up below:

* no pooling: strided convolutions downsample in D, fractionally-strided (transposed)
  convolutions upsample in G;
* batch normalisation in both networks, except on G's output layer and D's input layer;
* no fully connected hidden layers (the tutorial preset keeps one projection layer);
* ReLU in G with a tanh output, LeakyReLU in D (slope 0.2 in the paper);
* weights initialised from N(0, 0.02) (batch-norm scales from N(1, 0.02)).

Four presets (``PRESETS``):

* ``"tutorial28"``: the 28x28 DCGAN of the course notes: G projects z (100) with a dense
  layer to 7x7x256 (no bias), BN, LeakyReLU, then 5x5 transposed convolutions to 128
  (stride 1), 64 (stride 2) and 1 (stride 2, tanh); D has 5x5 convolutions to 64 and 128
  (stride 2) with LeakyReLU and Dropout(0.3), then a linear logit. Every LeakyReLU has
  slope 0.3, the default of the Keras ``LeakyReLU()`` the notes use;
* ``"paper64"``: 64x64 networks with the paper's layout (z = 100, 4x4 kernels, stride 2)
  but the PyTorch example's widths: G has 512 -> 256 -> 128 -> 64 feature maps where the
  paper's Figure 1 has 1024 -> 512 -> 256 -> 128, and D mirrors them (64 -> ... -> 512);
* ``"cpu28"``: the course default, small enough for a 2-core CPU (z = 64). G projects z
  with a 7x7 transposed convolution to 128 maps of 7x7, then 4x4 stride-2 transposed
  convolutions to 64 maps of 14x14 and the 28x28 image; D has 4x4 stride-2 convolutions
  to 32 and 64 maps, then a 7x7 convolution to the logit;
* ``"cpu28-deep"``: ``cpu28`` one layer deeper on each side, at twice its FLOPs per
  image: G projects z to 96 maps of 7x7, refines them with a 3x3 convolution, upsamples
  to 64 maps of 14x14, refines those with a 3x3 convolution to 48 maps, then draws the
  28x28 image; D adds a 3x3 convolution (64 -> 64 maps) at 7x7 before its logit. Each
  3x3 layer sees a neighbourhood of the maps the upsampling just made (the final recipe
  of Unit 05, the shipped ``dcgan-cpu28``; Unit 05 times a step of every preset).

Generators take ``z`` of shape ``(N, latent_dim)``; discriminators return logits ``(N,)``.

Every preset takes ``channels`` (G's output maps, D's input maps; default 1, the digits):
``channels=3`` gives the RGB networks, e.g. ``paper64`` for faces loaded with
``load_images("folder:PATH", "all", size=64, channels=3)`` (CelebA, as in the paper). Only
G's last and D's first layer change, each by ``(channels - 1) * 64 * 4 * 4`` weights.
"""

from __future__ import annotations

import torch
from torch import nn

from ganlab.validate import check_codes, check_image_shape

PRESETS = ("tutorial28", "paper64", "cpu28", "cpu28-deep")
LATENT_DIM = {"tutorial28": 100, "paper64": 100, "cpu28": 64, "cpu28-deep": 64}
IMAGE_SIZE = {"tutorial28": 28, "paper64": 64, "cpu28": 28, "cpu28-deep": 28}
KERAS_SLOPE = 0.3  # tutorial28: Keras' LeakyReLU() default slope, as in the course notes


def _check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise ValueError(f"unknown DCGAN preset {preset!r}; choose from {PRESETS}")
    return preset


def _check_channels(channels) -> int:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive integer (1: grayscale, 3: RGB), got {channels!r}")
    return channels


def dcgan_init(module: nn.Module) -> None:
    """The paper's initialisation: conv/linear weights ~ N(0, 0.02); BN scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _up(c_in, c_out, kernel, stride, padding, output_padding=0, act="relu"):
    """Transposed conv (no bias: BN follows), BN, activation."""
    activation = nn.ReLU() if act == "relu" else nn.LeakyReLU(KERAS_SLOPE)
    return [nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding, output_padding, bias=False),
            nn.BatchNorm2d(c_out), activation]


def cpu28_generator_layers(code_dim: int, channels: int = 1) -> list[nn.Module]:
    """The ``cpu28`` generator: a code ``(N, code_dim)`` -> 128 maps of 7x7 -> 64 of 14x14 -> 28x28 in [-1, 1].

    Shared by :class:`DCGANGenerator` and the conditional generator (whose code is
    ``[z, onehot(y)]``).
    """
    return [nn.Unflatten(1, (code_dim, 1, 1)),
            *_up(code_dim, 128, 7, 1, 0),                            # 7x7
            *_up(128, 64, 4, 2, 1),                                  # 14x14
            nn.ConvTranspose2d(64, channels, 4, 2, 1), nn.Tanh()]    # 28x28


def cpu28_deep_generator_layers(code_dim: int, channels: int = 1) -> list[nn.Module]:
    """The ``cpu28-deep`` generator: code -> 96 maps of 7x7 (+3x3) -> 64 of 14x14 (+3x3 to 48) -> 28x28."""
    return [nn.Unflatten(1, (code_dim, 1, 1)),
            *_up(code_dim, 96, 7, 1, 0),                                            # 7x7
            nn.Conv2d(96, 96, 3, 1, 1, bias=False), nn.BatchNorm2d(96), nn.ReLU(),  # 7x7, refined
            *_up(96, 64, 4, 2, 1),                                                  # 14x14
            nn.Conv2d(64, 48, 3, 1, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU(),  # 14x14, refined
            nn.ConvTranspose2d(48, channels, 4, 2, 1), nn.Tanh()]                   # 28x28


NORMS = ("batch", "layer", "none", "spectral")


def cpu28_trunk_layers(in_channels: int = 1, norm: str = "batch") -> list[nn.Module]:
    """The ``cpu28`` discriminator's body: 28x28 images -> 64 feature maps of 7x7.

    No normalisation on the input layer (a DCGAN guideline). The second layer's ``norm``:

    * ``"batch"``: batch norm, the DCGAN's choice;
    * ``"layer"``: layer norm over each sample's (64, 7, 7) features (``GroupNorm(1, 64)``),
      for a WGAN-GP critic, whose per-sample gradient penalty batch norm would break;
    * ``"none"``: no normalisation;
    * ``"spectral"``: none here; the caller divides every weight by its spectral norm
      (:func:`spectral_normalize`).

    Shared by :class:`DCGANDiscriminator`, the conditional discriminators (Unit 07) and the
    semi-supervised GAN's classifier.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown discriminator norm {norm!r}; choose from {NORMS}")
    second = {"batch": [nn.BatchNorm2d(64)], "layer": [nn.GroupNorm(1, 64)]}.get(norm, [])
    return [nn.Conv2d(in_channels, 32, 4, 2, 1), nn.LeakyReLU(0.2),                        # 14x14
            nn.Conv2d(32, 64, 4, 2, 1, bias=not second), *second, nn.LeakyReLU(0.2)]    # 7x7


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Divide every conv/linear weight of ``module`` by its largest singular value (Miyato et al., 2018).

    ``W_SN = W / sigma(W)``, with ``sigma(W)`` estimated by one power iteration per
    forward pass in training mode (``torch.nn.utils.parametrizations.spectral_norm``).
    Each layer is then 1-Lipschitz, and so is the network, as LeakyReLU is: the other
    route to the critic WGAN needs, besides the gradient penalty. Returns ``module``.
    """
    from torch.nn.utils.parametrizations import spectral_norm

    for layer in list(module.modules()):
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            spectral_norm(layer)
    return module


class DCGANGenerator(nn.Module):
    """``G(z)`` for a preset: ``(N, latent_dim)`` -> images ``(N, channels, S, S)`` in [-1, 1]."""

    def __init__(self, preset: str = "cpu28", channels: int = 1):
        super().__init__()
        self.preset, channels = _check_preset(preset), _check_channels(channels)
        self.latent_dim, self.image_size, self.channels = LATENT_DIM[preset], IMAGE_SIZE[preset], channels
        z = self.latent_dim
        if preset == "tutorial28":
            layers = [nn.Linear(z, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256), nn.LeakyReLU(KERAS_SLOPE),
                      nn.Unflatten(1, (256, 7, 7)),
                      *_up(256, 128, 5, 1, 2, act="leaky"),                    # 7x7
                      *_up(128, 64, 5, 2, 2, output_padding=1, act="leaky"),   # 14x14
                      nn.ConvTranspose2d(64, channels, 5, 2, 2, output_padding=1, bias=False),  # 28x28
                      nn.Tanh()]
        elif preset == "paper64":
            layers = [nn.Unflatten(1, (z, 1, 1)),
                      *_up(z, 512, 4, 1, 0),      # 4x4
                      *_up(512, 256, 4, 2, 1),    # 8x8
                      *_up(256, 128, 4, 2, 1),    # 16x16
                      *_up(128, 64, 4, 2, 1),     # 32x32
                      nn.ConvTranspose2d(64, channels, 4, 2, 1, bias=False), nn.Tanh()]  # 64x64
        elif preset == "cpu28-deep":
            layers = cpu28_deep_generator_layers(z, channels)
        else:
            layers = cpu28_generator_layers(z, channels)
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_codes(z, self.latent_dim, who=f"DCGAN preset {self.preset!r}")
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """``D``'s logit for a preset: images ``(N, channels, S, S)`` -> ``(N,)``.

    ``norm`` (cpu28 only) swaps the hidden batch norm for the critic-friendly choices of
    :func:`cpu28_trunk_layers`: ``"layer"``, ``"none"`` or ``"spectral"`` (spectral
    normalisation of every layer). The output then serves as a WGAN critic's score.
    """

    def __init__(self, preset: str = "cpu28", channels: int = 1, norm: str = "batch"):
        super().__init__()
        self.preset, channels = _check_preset(preset), _check_channels(channels)
        if norm not in NORMS:
            raise ValueError(f"unknown discriminator norm {norm!r}; choose from {NORMS}")
        if norm != "batch" and preset != "cpu28":
            raise ValueError(f"norm={norm!r} is built for the cpu28 preset only; {preset!r} keeps batch norm")
        self.image_size, self.channels, self.norm = IMAGE_SIZE[preset], channels, norm
        leaky = lambda: nn.LeakyReLU(KERAS_SLOPE if preset == "tutorial28" else 0.2)
        if preset == "tutorial28":
            layers = [nn.Conv2d(channels, 64, 5, 2, 2), leaky(), nn.Dropout(0.3),        # 14x14
                      nn.Conv2d(64, 128, 5, 2, 2), leaky(), nn.Dropout(0.3),             # 7x7
                      nn.Flatten(), nn.Linear(128 * 7 * 7, 1)]
        elif preset == "paper64":
            layers = [nn.Conv2d(channels, 64, 4, 2, 1, bias=False), leaky(),             # 32x32, no BN on the input layer
                      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), leaky(),   # 16x16
                      nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), leaky(),  # 8x8
                      nn.Conv2d(256, 512, 4, 2, 1, bias=False), nn.BatchNorm2d(512), leaky(),  # 4x4
                      nn.Conv2d(512, 1, 4, 1, 0), nn.Flatten()]
        elif preset == "cpu28-deep":
            layers = [*cpu28_trunk_layers(channels),                                                 # 7x7
                      nn.Conv2d(64, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), leaky(),  # 7x7, refined
                      nn.Conv2d(64, 1, 7, 1, 0), nn.Flatten()]
        else:
            layers = [*cpu28_trunk_layers(channels, norm), nn.Conv2d(64, 1, 7, 1, 0), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)
        if norm == "spectral":
            spectral_normalize(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_shape(x, (self.channels, self.image_size, self.image_size),
                          who=f"DCGAN preset {self.preset!r}")
        return self.net(x).squeeze(1)


def _layers(model: nn.Module) -> list[nn.Module]:
    """The leaf modules of ``model`` in the order they run (the presets are plain Sequentials)."""
    return [m for m in model.modules() if not list(m.children())]


def guidelines(G: nn.Module, D: nn.Module) -> list[dict]:
    """Check the DCGAN paper's architecture guidelines on a generator and a discriminator.

    Returns one row per guideline: ``{"guideline", "G", "D", "evidence"}`` where ``G`` and
    ``D`` are True/False (or None where the guideline does not concern that network).
    The checks read the modules in order, so they work on any plain ``nn.Sequential``
    network, not only on the presets here.
    """
    g, d = _layers(G), _layers(D)
    pools = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
    g_pool, d_pool = [any(isinstance(m, pools) for m in net) for net in (g, d)]
    g_up = any(isinstance(m, nn.ConvTranspose2d) and m.stride[0] > 1 for m in g)
    d_down = any(isinstance(m, nn.Conv2d) and m.stride[0] > 1 for m in d)
    bn = (nn.BatchNorm1d, nn.BatchNorm2d)
    weights = [i for i, m in enumerate(g) if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d))]
    g_last_bn = any(isinstance(m, bn) for m in g[weights[-1]:])
    d_first = next(i for i, m in enumerate(d) if isinstance(m, (nn.Conv2d, nn.Linear)))
    d_first_bn = d_first + 1 < len(d) and isinstance(d[d_first + 1], bn)
    g_bn, d_bn = sum(isinstance(m, bn) for m in g), sum(isinstance(m, bn) for m in d)
    g_linear = [i for i, m in enumerate(g) if isinstance(m, nn.Linear)]
    d_linear = [i for i, m in enumerate(d) if isinstance(m, nn.Linear)]
    g_hidden_fc = [i for i in g_linear if i != weights[0]]        # a projection of z is allowed
    d_weighted = [i for i, m in enumerate(d) if isinstance(m, (nn.Conv2d, nn.Linear))]
    d_hidden_fc = [i for i in d_linear if i != d_weighted[-1]]   # so is the final logit layer
    g_acts = [type(m).__name__ for m in g if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid))]
    d_acts = [type(m).__name__ for m in d if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid))]
    g_relu = bool(g_acts) and g_acts[-1] == "Tanh" and set(g_acts[:-1]) <= {"ReLU"}
    d_leaky = bool(d_acts) and set(d_acts) == {"LeakyReLU"}
    g_std, d_std = [torch.cat([m.weight.detach().flatten() for m in net if isinstance(
        m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]).std().item() for net in (g, d)]
    return [
        {"guideline": "no pooling: strided convolutions (D), transposed convolutions (G)",
         "G": g_up and not g_pool, "D": d_down and not d_pool,
         "evidence": f"pooling layers G/D: {g_pool}/{d_pool}; strided up/down: {g_up}/{d_down}"},
        {"guideline": "batch norm in both, but not on G's output nor D's input layer",
         "G": g_bn > 0 and not g_last_bn, "D": d_bn > 0 and not d_first_bn,
         "evidence": f"BN layers G/D: {g_bn}/{d_bn}"},
        {"guideline": "no fully connected hidden layers",
         "G": not g_hidden_fc, "D": not d_hidden_fc,
         "evidence": f"Linear layers G/D: {len(g_linear)}/{len(d_linear)} "
                     "(a projection of z and a final logit layer are allowed)"},
        {"guideline": "ReLU in G with a tanh output", "G": g_relu, "D": None,
         "evidence": "G: " + " ".join(g_acts)},
        {"guideline": "LeakyReLU in D", "G": None, "D": d_leaky,
         "evidence": "D: " + (" ".join(sorted(set(d_acts))) or "none")},
        {"guideline": "weights ~ N(0, 0.02) (check fresh networks)",
         "G": abs(g_std - 0.02) < 0.002, "D": abs(d_std - 0.02) < 0.002,
         "evidence": f"std of the conv/linear weights G/D: {g_std:.4f}/{d_std:.4f}"},
    ]
