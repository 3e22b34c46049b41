"""The GAN recipes of Units 03 and 05, built up one measured step at a time.

Unit 03 starts from the lecture's MLP GAN exactly as its code is written and improves
it with fixes a practitioner reaches for, one change per step; Unit 05 does the same for
the DCGAN. Each :class:`Step` is the *whole* recipe after its change (networks, trainer
options, epochs), so any step can be trained on its own:

    >>> from ganlab import recipes
    >>> [step.change for step in recipes.STEPS["mlp-gan"]]
    ["the lecture's network, as written", 'Adam with beta1 = 0.5', ...]
    >>> G, D, run = recipes.train(recipes.STEPS["mlp-gan"][0], epochs=5)
    >>> samples = recipes.sampler(G, run)(torch.randn(16, G.latent_dim))

A step that was tried and did *not* help has ``kept=False``: the next step builds on the
last kept one. The final step of each list is the recipe of the shipped model
(``ganlab.pretrained``: ``mlp-gan``, ``dcgan-cpu28``), and ``benchmarks/gan_recipes.py``
measures every step with ``ganlab.quality`` against the CPU-minutes it took.

The last section holds the training function of every generative model the package
ships (``ganlab.pretrained.RECIPES`` names them; ``python -m ganlab train NAME`` runs
one): ``f(seed, epochs, device, progress) -> (model, kwargs, info)``, the trained model,
the keyword arguments that re-create it and the facts recorded about the run. The
shipped classifiers' are in ``ganlab.features``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ganlab.data import binarize, load_images
from ganlab.features import load_extractor
from ganlab.gan import train_gan
from ganlab.inference import batched
from ganlab.models.autoencoders import Autoencoder
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.gan import MLPDiscriminator, MLPGenerator
from ganlab.models.vae import VAE
from ganlab.quality import digit_quality, reference_images
from ganlab.runtime import seed_everything
from ganlab.train import train_autoencoder, train_vae
from ganlab.wgan import train_wgan_gp

ARCHITECTURES = ("mlp", "dcgan")


@dataclass(frozen=True)
class Step:
    """One recipe: ``change`` says what differs from the previous kept step."""

    change: str
    architecture: str
    generator: dict
    discriminator: dict
    epochs: int
    options: dict = field(default_factory=dict)   # keyword arguments of ganlab.gan.train_gan
    kept: bool = True

    def describe(self) -> str:
        """The recipe in one line: networks, trainer options and epochs."""
        options = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return (f"{self.architecture} G{self.generator} D{self.discriminator}, "
                f"{options or 'defaults'}, {self.epochs} epochs")


LECTURE = {"m": 64, "lr_d": 2e-4, "lr_g": 2e-4, "loss": "non_saturating"}
_MLP_WIDE_G = {"hidden": (256, 512), "batchnorm": True}
_MLP_WIDE_D = {"hidden": (512, 256)}
_CPU28 = {"preset": "cpu28"}
_CPU28_DEEP = {"preset": "cpu28-deep"}
_DCGAN_LR = {**LECTURE, "beta1": 0.5, "lr_d": 1e-3, "lr_g": 1e-3}

STEPS: dict[str, list[Step]] = {
    "mlp-gan": [
        Step("the lecture's network, as written", "mlp", {"hidden": (256,)}, {"hidden": (256,)},
             200, {**LECTURE, "beta1": 0.9}),
        Step("Adam with beta1 = 0.5", "mlp", {"hidden": (256,)}, {"hidden": (256,)},
             200, {**LECTURE, "beta1": 0.5}),
        Step("sample from an EMA of G's weights", "mlp", {"hidden": (256,)}, {"hidden": (256,)},
             200, {**LECTURE, "beta1": 0.5, "ema_decay": 0.999}),
        Step("one-sided label smoothing (0.9)", "mlp", {"hidden": (256,)}, {"hidden": (256,)},
             200, {**LECTURE, "beta1": 0.5, "ema_decay": 0.999, "real_label": 0.9}, kept=False),
        Step("a wider, deeper pair, batch norm in G", "mlp", _MLP_WIDE_G, _MLP_WIDE_D,
             200, {**LECTURE, "beta1": 0.5, "ema_decay": 0.999}),
        Step("DiffAugment (translation)", "mlp", _MLP_WIDE_G, _MLP_WIDE_D,
             200, {**LECTURE, "beta1": 0.5, "ema_decay": 0.999, "augment": "translation"}),
        Step("train longer", "mlp", _MLP_WIDE_G, _MLP_WIDE_D,
             250, {**LECTURE, "beta1": 0.5, "ema_decay": 0.999, "augment": "translation"}),
    ],
    "dcgan-cpu28": [
        Step("the DCGAN of Unit 05 (cpu28), as it stood", "dcgan", _CPU28, _CPU28,
             40, {**LECTURE, "beta1": 0.5}),
        Step("sample from an EMA of G's weights", "dcgan", _CPU28, _CPU28,
             40, {**LECTURE, "beta1": 0.5, "ema_decay": 0.999}, kept=False),
        Step("DiffAugment (translation)", "dcgan", _CPU28, _CPU28,
             40, {**LECTURE, "beta1": 0.5, "augment": "translation"}, kept=False),
        Step("a larger learning rate, 1e-3", "dcgan", _CPU28, _CPU28, 40, _DCGAN_LR),
        Step("train longer", "dcgan", _CPU28, _CPU28, 50, _DCGAN_LR),
        Step("minibatch m = 32: twice the updates in the same time", "dcgan", _CPU28, _CPU28,
             50, {**_DCGAN_LR, "m": 32}),
        Step("a deeper pair (cpu28-deep): a 3x3 convolution after each of G's upsamplings, "
             "one more in D", "dcgan", _CPU28_DEEP, _CPU28_DEEP, 30, {**_DCGAN_LR, "m": 32}),
        Step("sample from an EMA of G's weights", "dcgan", _CPU28_DEEP, _CPU28_DEEP,
             30, {**_DCGAN_LR, "m": 32, "ema_decay": 0.999}),
    ],
}


def final(name: str) -> Step:
    """The last step of ``name``'s recipe: the one the shipped model is trained with."""
    if name not in STEPS:
        raise ValueError(f"no step-by-step recipe for {name!r}; choose from {sorted(STEPS)}")
    return STEPS[name][-1]


def build(step: Step) -> tuple[nn.Module, nn.Module]:
    """Fresh ``(G, D)`` for ``step`` (seed torch first for reproducible weights)."""
    if step.architecture == "mlp":
        return MLPGenerator(**step.generator), MLPDiscriminator(**step.discriminator)
    if step.architecture == "dcgan":
        return DCGANGenerator(**step.generator), DCGANDiscriminator(**step.discriminator)
    raise ValueError(f"unknown architecture {step.architecture!r}; choose from {ARCHITECTURES}")


def train(step: Step, *, seed: int = 0, epochs: int | None = None, data=None, device="cpu",
          progress: bool = True, desc: str | None = None, checkpoint=None):
    """Train ``step`` on ``mnist-5k`` (or ``data``) from seed ``seed``; returns ``(G, D, run)``.

    ``G`` and ``D`` are the trained players, in eval mode; when the recipe keeps an EMA,
    the averaged generator is ``run.G_ema`` (:func:`sampler` picks the one to sample
    from). ``epochs`` overrides the recipe's.
    """
    seed_everything(seed)
    G, D = build(step)
    data = load_images("mnist-5k", "train") if data is None else data
    run = train_gan(G, D, data, epochs=step.epochs if epochs is None else epochs, seed=seed,
                    device=device, progress=progress, desc=desc or step.change,
                    checkpoint=checkpoint, **step.options)
    return G.eval(), D.eval(), run


def sampler(G: nn.Module, run) -> nn.Module:
    """The generator a recipe samples from: the EMA of G's weights when it keeps one, else G."""
    return run.G_ema if run.G_ema is not None else G


# --- the shipped models: one training function each ----------------------------------

WGAN_EPOCHS, WGAN_LR = 60, 5e-4    # Unit 07's shipped WGAN-GP


def _final(history, keys) -> dict:
    return {f"final_{key}": round(float(history.epoch_mean(key)[-1]), 4) for key in keys}


def train_autoencoder_recipe(seed, epochs, device, progress):
    """Unit 01's MLP autoencoder (``Autoencoder(16, (512, 256))``, MSE, Adam 1e-3)."""
    seed_everything(seed)
    kwargs = {"latent_dim": 16, "hidden": (512, 256)}
    model = Autoencoder(**kwargs)
    history = train_autoencoder(model, load_images("mnist-5k", "train"), epochs=epochs,
                                device=device, seed=seed, progress=progress, desc="autoencoder")
    x_test = load_images("mnist-5k", "test").tensors[0]
    test_mse = ((batched(model, x_test, device=device) - x_test) ** 2).mean().item()
    return model, kwargs, {**_final(history, ["loss"]), "test_mse": round(test_mse, 5)}


def train_vae_recipe(seed, epochs, device, progress):
    """Unit 02's Bernoulli VAE (``VAE(16, "bernoulli", "mlp", (512, 256))``) on binarised digits."""
    seed_everything(seed)
    train_set = load_images("mnist-5k", "train")
    kwargs = {"latent_dim": 16, "likelihood": "bernoulli", "arch": "mlp", "hidden": (512, 256)}
    model = VAE(**kwargs)
    history = train_vae(model, TensorDataset(binarize(train_set.tensors[0]), train_set.tensors[1]),
                        epochs=epochs, device=device, seed=seed, progress=progress, desc="vae")
    model.eval()
    x_test = binarize(load_images("mnist-5k", "test").tensors[0]).to(device)
    with torch.no_grad():
        test_elbo = model.elbo(x_test, torch.Generator().manual_seed(seed))["elbo"].mean().item()
    return model, kwargs, {**_final(history, ["elbo", "kl"]), "test_elbo": round(test_elbo, 2)}


def _train_step_recipe(name, seed, epochs, device, progress):
    step = final(name)
    G, _, run = train(step, seed=seed, epochs=epochs, device=device, progress=progress, desc=name)
    return sampler(G, run), dict(step.generator), _final(run.history, ["d_loss", "g_loss", "d_real", "d_fake"])


def train_mlp_gan_recipe(seed, epochs, device, progress):
    """Unit 03's MLP GAN: the last step of ``ganlab.recipes.STEPS["mlp-gan"]``."""
    return _train_step_recipe("mlp-gan", seed, epochs, device, progress)


def train_dcgan_recipe(seed, epochs, device, progress):
    """Unit 05's DCGAN ``cpu28``: the last step of ``ganlab.recipes.STEPS["dcgan-cpu28"]``."""
    return _train_step_recipe("dcgan-cpu28", seed, epochs, device, progress)


def train_wgan_recipe(seed, epochs, device, progress):
    """Unit 07's WGAN-GP: ``cpu28`` G, ``cpu28`` critic with layer norm, the paper's penalty and betas.

    After every epoch it records the epoch's mean critic estimate ``W_hat`` and the FID of
    500 samples (``ganlab.quality``, seeded noise, global RNG untouched) as ``curve``.
    """
    extractor = load_extractor("digits", device=device)
    reference = extractor.features(reference_images())
    seed_everything(seed)
    G, f = DCGANGenerator("cpu28"), DCGANDiscriminator("cpu28", norm="layer")
    curve = []

    def measure(epoch, history):
        fid = digit_quality(G, 500, device=device, extractor=extractor, reference_features=reference)["fid"]
        curve.append([epoch + 1, round(float(history.epoch_mean("wasserstein")[-1]), 4), round(float(fid), 3)])

    run = train_wgan_gp(G, f, load_images("mnist-5k", "train"), epochs=epochs, m=64, lr_d=WGAN_LR,
                        lr_g=WGAN_LR, seed=seed, device=device, progress=progress, desc="wgan-gp-cpu28",
                        on_epoch_end=measure)
    return G, {"preset": "cpu28"}, {**_final(run.history, ["wasserstein", "gradient_penalty", "g_loss"]),
                                    "curve": curve}
