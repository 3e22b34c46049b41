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
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

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
        Step("a larger learning rate, 1e-3", "dcgan", _CPU28, _CPU28,
             40, {**LECTURE, "beta1": 0.5, "lr_d": 1e-3, "lr_g": 1e-3}),
        Step("train longer", "dcgan", _CPU28, _CPU28,
             50, {**LECTURE, "beta1": 0.5, "lr_d": 1e-3, "lr_g": 1e-3}),
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
        from ganlab.models.gan import MLPDiscriminator, MLPGenerator

        return MLPGenerator(**step.generator), MLPDiscriminator(**step.discriminator)
    if step.architecture == "dcgan":
        from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator

        return DCGANGenerator(**step.generator), DCGANDiscriminator(**step.discriminator)
    raise ValueError(f"unknown architecture {step.architecture!r}; choose from {ARCHITECTURES}")


def train(step: Step, *, seed: int = 0, epochs: int | None = None, data=None, device="cpu",
          progress: bool = True, desc: str | None = None, checkpoint=None):
    """Train ``step`` on ``mnist-5k`` (or ``data``) from seed ``seed``; returns ``(G, D, run)``.

    ``G`` and ``D`` are the trained players, in eval mode; when the recipe keeps an EMA,
    the averaged generator is ``run.G_ema`` (:func:`sampler` picks the one to sample
    from). ``epochs`` overrides the recipe's.
    """
    from ganlab.data import load_images
    from ganlab.gan import train_gan
    from ganlab.runtime import seed_everything

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
