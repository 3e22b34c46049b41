"""Pretrained models shipped inside the package, and how each was made.

Every default-mode model of the course that a later unit builds on is trained once on
``mnist-5k`` (the 4,500 training digits) and shipped in ``ganlab/assets/`` so that a
notebook can *load* it instead of training it, and Unit 06 can evaluate them all:

    >>> from ganlab import pretrained
    >>> pretrained.available()
    ['autoencoder', 'dcgan-cpu28', 'mlp-gan', 'vae', ...]
    >>> G = pretrained.load("dcgan-cpu28")          # eval mode, on the CPU
    >>> x = G(torch.randn(16, G.latent_dim))        # (16, 1, 28, 28) in [-1, 1]
    >>> pretrained.info("dcgan-cpu28")["command"]
    'python -m ganlab train dcgan-cpu28 --seed 0 --epochs 30'

For a GAN the shipped model is its generator. Each asset records how it was made
(command, seed, epochs, data, wall and CPU seconds, library versions, final losses and the recipe's
own evaluation) and one command re-creates it: ``python -m ganlab train NAME``.
:data:`RECIPES` says, for each name, the model's class, its training function (those of
the generative models are in ``ganlab.recipes``, the classifiers' in ``ganlab.features``),
its epochs, data and evaluation.

Asset format (one ``NAME.pt`` file, loadable with ``torch.load(weights_only=True)``)::

    {"format": 1, "name": str, "build": "module:Class", "kwargs": {...},
     "state_dict": {...}, "meta": {...}}

Floating-point weights are stored in float16 (half the size; the outputs change by
~1e-3 of a pixel) and :func:`quantize_` rounds a freshly trained model the same way
*before* it is evaluated, so the recorded numbers are those of the weights shipped.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ganlab import checkpoint, distributed, features, quality, recipes
from ganlab.models.autoencoders import Autoencoder
from ganlab.models.dcgan import DCGANGenerator
from ganlab.models.gan import MLPGenerator
from ganlab.models.vae import VAE

ASSETS = Path(__file__).resolve().parent / "assets"
FORMAT = 1


@dataclass(frozen=True)
class Recipe:
    """How to build and train one shipped model.

    ``build`` is the model's class; the asset records it as ``"module:Class"``.
    ``train(seed, epochs, device, progress)`` returns ``(model, kwargs, info)``: the
    trained model, the keyword arguments that ``build`` needs to re-create it, and a dict
    of facts about the run (final losses). ``evaluate`` (optional) maps the model, rounded
    as shipped, to a dict of numbers.
    """

    build: type[nn.Module]
    train: Callable[..., tuple[nn.Module, dict, dict]]
    epochs: int
    data: str
    about: str
    evaluate: Callable[[nn.Module], dict] | None = None


RECIPES: dict[str, Recipe] = {
    "autoencoder": Recipe(
        Autoencoder, recipes.train_autoencoder_recipe,
        30, "mnist-5k train split (4,500 digits)",
        "Unit 01 MLP autoencoder 784-512-256-16, MSE, Adam 1e-3"),
    "vae": Recipe(
        VAE, recipes.train_vae_recipe,
        50, "mnist-5k train split (4,500 digits), binarised at 0",
        "Unit 02 Bernoulli VAE, MLP 784-512-256-16, Adam 1e-3"),
    "mlp-gan": Recipe(
        MLPGenerator, recipes.train_mlp_gan_recipe,
        recipes.final("mlp-gan").epochs, "mnist-5k train split (4,500 digits)",
        "Unit 03 MLP GAN generator, the last step of ganlab.recipes.STEPS['mlp-gan']: "
        + recipes.final("mlp-gan").describe(),
        evaluate=quality.evaluate_generator),
    "dcgan-cpu28": Recipe(
        DCGANGenerator, recipes.train_dcgan_recipe,
        recipes.final("dcgan-cpu28").epochs, "mnist-5k train split (4,500 digits)",
        "Unit 05 DCGAN generator, the last step of ganlab.recipes.STEPS['dcgan-cpu28']: "
        + recipes.final("dcgan-cpu28").describe(),
        evaluate=quality.evaluate_generator),
    "wgan-gp-cpu28": Recipe(
        DCGANGenerator, recipes.train_wgan_recipe,
        recipes.WGAN_EPOCHS, "mnist-5k train split (4,500 digits)",
        f"Unit 07 WGAN-GP generator: cpu28 G against a cpu28 critic with layer norm, gradient "
        f"penalty 10, n_critic 5, Adam lr {recipes.WGAN_LR:g} betas (0, 0.9), m = 64; meta 'curve' holds "
        "(epoch, critic's W estimate, FID of 500 samples) after every epoch",
        evaluate=quality.evaluate_generator),
    # Unit 06's feature extractors for MNIST-domain metrics (FID, KID, precision/recall, IS)
    "digit-classifier": Recipe(
        features.Classifier, features.train_digit_classifier,
        6, "mnist-5k train split (4,500 digits)",
        "Unit 06 digit classifier: features for FID/KID/PR, logits for IS",
        evaluate=features.evaluate_digit_classifier),
    "fashion-classifier": Recipe(
        features.Classifier, features.train_fashion_classifier,
        4, "Fashion-MNIST train split (60,000 images, Debian's dataset-fashion-mnist)",
        "Unit 06 Fashion-MNIST classifier: features for FID/KID/PR, logits for IS",
        evaluate=features.evaluate_fashion_classifier),
}


def _build_path(build: type) -> str:
    """The ``"module:Class"`` an asset records for the class ``build``."""
    return f"{build.__module__}:{build.__qualname__}"


def available(folder: str | os.PathLike | None = None) -> list[str]:
    """The names of the models whose weights are in ``folder`` (default: the shipped assets)."""
    folder = Path(folder) if folder is not None else ASSETS
    return sorted(name for name in RECIPES if (folder / f"{name}.pt").is_file())


def _asset(name: str, folder) -> dict:
    if name not in RECIPES:
        raise ValueError(f"unknown pretrained model {name!r}; choose from {sorted(RECIPES)}")
    path = (Path(folder) if folder is not None else ASSETS) / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no weights for {name!r} at {path}: create them with "
                                f"`python -m ganlab train {name}` (see ganlab.pretrained)")
    try:
        asset = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: say which and what to do
        raise ValueError(f"cannot read {path} ({type(error).__name__}); re-create it with "
                         f"`python -m ganlab train {name}`") from None
    if (not isinstance(asset, dict) or asset.get("format") != FORMAT or asset.get("name") != name
            or asset.get("build") != _build_path(RECIPES[name].build)):
        raise ValueError(f"{path} is not a ganlab pretrained asset for {name!r} (format "
                         f"{FORMAT}, a {_build_path(RECIPES[name].build)}); re-create it with "
                         f"`python -m ganlab train {name}`")
    return asset


def load(name: str, folder: str | os.PathLike | None = None, device="cpu") -> nn.Module:
    """The pretrained model ``name``, in eval mode on ``device`` (weights cast to float32)."""
    asset = _asset(name, folder)
    model = RECIPES[name].build(**asset["kwargs"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in asset["state_dict"].items()}
    model.load_state_dict(state)
    return model.to(device).eval()


def as_generator(model: nn.Module):
    """The map ``z (N, latent_dim) -> images (N, C, H, W) in [-1, 1]`` of a loaded model.

    A GAN's generator is that map already; an autoencoder's is its decoder; a VAE's is
    its decoder's mean image ``E[x | z]``. This is how Unit 06 samples every model alike
    (an autoencoder's decoder fed codes from ``N(0, I)``, which it was never trained on).
    """
    if hasattr(model, "mean_image"):
        return model.mean_image
    if hasattr(model, "decode"):
        return model.decode
    if hasattr(model, "latent_dim"):
        return model
    raise ValueError(f"{type(model).__name__} is not a generator: expected a GAN generator, "
                     "an autoencoder or a VAE (with latent_dim)")


def info(name: str, folder: str | os.PathLike | None = None) -> dict:
    """How the shipped ``name`` was trained: command, seed, epochs, data, seconds, losses, metrics."""
    return dict(_asset(name, folder)["meta"])


def quantize_(model: nn.Module) -> nn.Module:
    """Round ``model``'s floating-point parameters and buffers to float16 values, in place."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    return model


def train(name: str, *, seed: int = 0, epochs: int | None = None, folder=None, device="cpu",
          progress: bool = True) -> Path:
    """Train ``name`` with its recipe, evaluate it as rounded for shipping, save it atomically.

    This is what ``python -m ganlab train NAME`` runs; the file goes to ``folder``
    (default: the package's assets) as ``NAME.pt``. Under torchrun every process trains
    (``ganlab.distributed``) and rank 0 evaluates and writes the file.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown pretrained model {name!r}; choose from {sorted(RECIPES)}")
    recipe = RECIPES[name]
    epochs = recipe.epochs if epochs is None else epochs
    if epochs < 1:
        raise ValueError(f"need epochs >= 1, got {epochs}")
    start, cpu_start = time.perf_counter(), time.process_time()
    model, kwargs, run_info = recipe.train(seed=seed, epochs=epochs, device=device, progress=progress)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    path = (Path(folder) if folder is not None else ASSETS) / f"{name}.pt"
    if not distributed.is_main():  # under torchrun rank 0 evaluates and writes the file
        return path
    model = quantize_(model.cpu().eval())
    metrics = recipe.evaluate(model) if recipe.evaluate else {}
    command = f"python -m ganlab train {name} --seed {seed} --epochs {epochs}"
    meta = {"name": name, "about": recipe.about, "command": command, "seed": seed,
            "epochs": epochs, "data": recipe.data, "train_seconds": round(seconds, 1),
            "train_cpu_seconds": round(cpu_seconds, 1),
            "device": str(device), "processes": distributed.world_size(),
            "threads": torch.get_num_threads(),
            "torch": str(torch.__version__), "python": sys.version.split()[0],
            "machine": platform.machine(), "date": time.strftime("%Y-%m-%d"),
            **run_info, **metrics}
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    asset = {"format": FORMAT, "name": name, "build": _build_path(recipe.build), "kwargs": kwargs,
             "state_dict": state, "meta": meta}
    checkpoint.save(asset, path)
    return path
