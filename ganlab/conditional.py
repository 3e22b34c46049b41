"""Conditional GANs: telling the generator which class to draw.

Two ways to give a GAN the labels ``y`` of the data, both with the ``cpu28`` DCGAN's
layers (Unit 05) so that they train on a CPU in minutes:

**cGAN** (Mirza & Osindero, 2014): both players see the label,

    G(z, y) -> x,   D(x, y) = sigmoid(l(x, y)) in (0, 1),
    the paper's game:  min_G max_D  E_{x,y ~ p_data} log D(x, y) + E_{z ~ p_z, y ~ p(y)} log(1 - D(G(z, y), y)),
    as trained here:   D ascends that value;  G minimises  -E_{z, y} log D(G(z, y), y)  (non-saturating).

``G`` gets ``[z, onehot(y)]`` as its input code; ``D`` gets the image with ``onehot(y)``
as 10 extra constant channels. ``D`` must now reject a good "3" offered as a "7", so
``G`` is pushed to draw the class it was asked for.

**AC-GAN** (Odena, Olah & Shlens, 2017): ``G`` is conditioned as above, but ``D`` sees
only the image and has two heads, the usual real/fake logit ``l_S(x)`` and class logits
``l_C(x)``, an *auxiliary classifier*. With ``L_S`` the real/fake cross-entropy and
``L_C = CE(l_C(x), y)`` the class cross-entropy on real images and on fakes (labelled
with the class they were asked for):

    D minimises  L_S + L_C        (tell real from fake, and classify both)
    G minimises  L_S^G + L_C      (non-saturating: fool D, and be classified as y)

The class head is also a classifier trained on real digits (a semi-supervised GAN
classifies the ``K`` real classes and "fake" with one ``K + 1``-way head instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from ganlab import distributed
from ganlab.diffaugment import augmentation
from ganlab.gan import (
    Snapshots,
    checkpoint_state,
    grad_norm,
    make_optimizer,
    moving_average,
    snapshot_epoch,
)
from ganlab.inference import batched, evaluating
from ganlab.losses import discriminator_loss, generator_loss
from ganlab.models.dcgan import cpu28_generator_layers, cpu28_trunk_layers, dcgan_init
from ganlab.train import History, fit
from ganlab.validate import check_codes, check_image_shape, check_labels

KINDS = ("cgan", "acgan")


class ConditionalGenerator(nn.Module):
    """``G(z, y)``: the ``cpu28`` generator on the code ``[z, onehot(y)]`` -> (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim: int = 64, n_classes: int = 10):
        super().__init__()
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.net = nn.Sequential(*cpu28_generator_layers(latent_dim + n_classes))
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_codes(z, self.latent_dim)
        check_labels(y, len(z), self.n_classes)
        return self.net(torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], dim=1))


def _trunk(in_channels: int) -> nn.Sequential:
    """The ``cpu28`` discriminator's body (``ganlab.models.dcgan.cpu28_trunk_layers``): 28x28 -> 64 maps of 7x7."""
    return nn.Sequential(*cpu28_trunk_layers(in_channels))


class ConditionalDiscriminator(nn.Module):
    """cGAN's ``D(x, y)``: the image with ``onehot(y)`` as constant extra channels -> logit (N,)."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.n_classes = n_classes
        self.body = _trunk(1 + n_classes)
        self.logit = nn.Conv2d(64, 1, 7)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_image_shape(x, (1, 28, 28))
        check_labels(y, len(x), self.n_classes)
        planes = F.one_hot(y, self.n_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, 28, 28)
        return self.logit(self.body(torch.cat([x, planes], dim=1))).flatten()


class ACGANDiscriminator(nn.Module):
    """AC-GAN's ``D(x)``: one body, two heads -> (real/fake logit (N,), class logits (N, n_classes))."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.n_classes = n_classes
        self.body = _trunk(1)
        self.source = nn.Conv2d(64, 1, 7)
        self.classes = nn.Conv2d(64, n_classes, 7)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_image_shape(x, (1, 28, 28))
        h = self.body(x)
        return self.source(h).flatten(), self.classes(h).flatten(1)


@dataclass
class ConditionalRun:
    """What :func:`train_conditional_gan` returns: the history, ``G(z_fixed, y_fixed)`` per epoch, the EMA G."""

    history: History
    snapshots: list[torch.Tensor]
    fixed_labels: torch.Tensor
    G_ema: nn.Module | None = None


def _d_terms(kind: str, D: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """D's real/fake logits, and for AC-GAN its class logits (``None`` for cGAN)."""
    if kind == "cgan":
        return D(x, y), None
    return D(x)


def train_conditional_gan(G: ConditionalGenerator, D: nn.Module, data: TensorDataset, *,
                          kind: str, epochs: int, m: int = 64, lr: float = 2e-4,
                          beta1: float = 0.5, augment: str | None = None,
                          ema_decay: float | None = None, seed: int = 0, device="cpu",
                          checkpoint=None, progress: bool = True, desc: str | None = None
                          ) -> ConditionalRun:
    """Train a cGAN (``kind="cgan"``, ``D(x, y)``) or an AC-GAN (``kind="acgan"``, ``D(x)`` with two heads).

    One iteration (``k = 1``), with Adam(``lr``, ``beta1``) for both players, on a minibatch
    ``(x, y)`` of ``m`` labelled images and ``m`` fakes ``G(z, y)`` asked for the *same*
    labels (so each class is drawn as often as it occurs in the data):

    * D: ``discriminator_loss`` (real vs detached fakes) ``+ CE(l_C(x), y) + CE(l_C(fake), y)`` (AC-GAN);
    * G: non-saturating ``generator_loss`` ``+ CE(l_C(G(z, y)), y)`` (AC-GAN).

    The game as trained is therefore not the minimax game of the module docstring: like
    :func:`ganlab.gan.train_gan` by default, G descends the non-saturating cost
    ``-log D(G(z, y), y)``, which has the same fixed point and a strong gradient early on.
    ``augment`` (DiffAugment of every image D sees), ``ema_decay`` (a moving average
    of G, returned as ``G_ema``), ``checkpoint`` (resume) and torchrun work as in ``train_gan``.

    Records ``d_loss``, ``g_loss``, ``d_real``, ``d_fake`` (mean D on real and fake) and,
    for AC-GAN, ``class_acc_real`` (the class head's accuracy on the real minibatch).
    After every epoch it keeps ``G(z_fixed, y_fixed)`` for 10 noise vectors x 10 classes
    (row = noise, column = class).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown conditional GAN kind {kind!r}; choose from {KINDS}")
    if len(data.tensors) != 2:
        raise ValueError("a conditional GAN needs labelled data: a TensorDataset(images, labels)")
    check_labels(data.tensors[1], len(data), G.n_classes)
    T = augmentation(augment)
    G.to(device)
    D.to(device)
    opt_d, opt_g = make_optimizer(D, "adam", lr, beta1=beta1), make_optimizer(G, "adam", lr, beta1=beta1)
    G_ema = moving_average(G, ema_decay) if ema_decay is not None else None
    fixed_noise = torch.randn(10, G.latent_dim, generator=torch.Generator().manual_seed(seed + 1))
    snapshots = Snapshots(fixed_noise.repeat_interleave(G.n_classes, dim=0),
                          torch.arange(G.n_classes).repeat(10))

    # under torchrun: each step averages the gradients of the player it updates (ganlab.distributed)
    G_sync, D_sync = distributed.data_parallel(G), distributed.data_parallel(D)

    def step(batch):
        x, y = batch
        z = distributed.shard(torch.randn(m, G.latent_dim, device=x.device))
        with torch.no_grad():
            fake = G(z, y)
        real_logits, real_classes = _d_terms(kind, D_sync, T(x), y)
        fake_logits, fake_classes = _d_terms(kind, D_sync, T(fake), y)
        d_loss = discriminator_loss(real_logits, fake_logits)
        record = {}
        if kind == "acgan":
            d_loss = d_loss + F.cross_entropy(real_classes, y) + F.cross_entropy(fake_classes, y)
            record["class_acc_real"] = (real_classes.argmax(1) == y).float().mean().item()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        record["grad_norm_d"] = grad_norm(D)
        opt_d.step()

        logits, classes = _d_terms(kind, D, T(G_sync(z, y)), y)
        g_loss = generator_loss(logits, "non_saturating")
        if kind == "acgan":
            g_loss = g_loss + F.cross_entropy(classes, y)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if G_ema is not None:
            G_ema.update_parameters(G)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(),
                "d_fake": torch.sigmoid(fake_logits).mean().item(), **record}

    history = fit(step, data, epochs=epochs, batch_size=m, drop_last=True, seed=seed, device=device,
                  checkpoint=checkpoint, progress=progress, desc=desc or kind,
                  state=checkpoint_state(G, D, opt_d, opt_g, snapshots, G_ema),
                  on_epoch_end=lambda epoch, history: snapshot_epoch(snapshots, G, G_ema))
    return ConditionalRun(history, snapshots.images, snapshots.fixed_labels,
                          G_ema.module if G_ema is not None else None)


@torch.no_grad()
def class_agreement(G: ConditionalGenerator, classifier: nn.Module, n_per_class: int = 100,
                    seed: int = 0, device="cpu") -> torch.Tensor:
    """Confusion matrix ``C[y, c]``: how often a sample asked for class ``y`` is classified as ``c``.

    Rows sum to 1; its trace / n_classes is the fraction of samples drawn as asked
    (0.1 for a generator that ignores its label, with 10 balanced classes).
    """
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(G.n_classes).repeat_interleave(n_per_class)
    z = torch.randn(len(y), G.latent_dim, generator=generator)
    with evaluating(G):
        predicted = batched(lambda z, y: classifier(G(z, y)).argmax(1), z, y, device=device)
    counts = torch.zeros(G.n_classes, G.n_classes)
    counts.index_put_((y, predicted), torch.ones(len(y)), accumulate=True)
    return counts / n_per_class
