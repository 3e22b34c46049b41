"""The semi-supervised GAN (Unit 07; Odena, 2016; Salimans et al., 2016).

With few labels and many unlabelled images, let the discriminator *classify*: ``D``
outputs ``K + 1`` logits, the ``K`` real classes and "fake". Labelled digits teach it the
classes; unlabelled digits and G's fakes teach it what a real digit looks like at all,
which shapes the same features the classes are read from. After training, the ``K``
real-class outputs are a classifier (``predict``).

D descends ``L_supervised + L_unsupervised`` (``losses.sgan_discriminator_loss``); G descends
the feature-matching cost ``|| mean h(x) - mean h(G(z)) ||^2`` on D's 7x7 features ``h``
(``losses.feature_matching_loss``), or the non-saturating ``-mean log p(real | G(z))``.
D is the ``cpu28`` discriminator's body with a ``K + 1``-way head, G the ``cpu28`` generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from ganlab import distributed
from ganlab.gan import (
    GANRun,
    Snapshots,
    checkpoint_state,
    grad_norm,
    make_optimizer,
    sample_noise,
    snapshot_epoch,
)
from ganlab.inference import batched, evaluating
from ganlab.losses import feature_matching_loss, sgan_discriminator_loss
from ganlab.models.dcgan import cpu28_trunk_layers, dcgan_init
from ganlab.train import fit
from ganlab.validate import check_image_shape

SGAN_GENERATOR_LOSSES = ("feature_matching", "non_saturating")


class SGANDiscriminator(nn.Module):
    """``D(x)``: images ``(N, 1, 28, 28)`` -> logits ``(N, n_classes + 1)``; the last one is "fake"."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.n_classes = n_classes
        self.body = nn.Sequential(*cpu28_trunk_layers(1))
        self.head = nn.Conv2d(64, n_classes + 1, 7)
        self.apply(dcgan_init)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``h(x)``: the 64 feature maps of 7x7 the head reads, flattened to ``(N, 3136)``."""
        check_image_shape(x, (1, 28, 28))
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_shape(x, (1, 28, 28))
        return self.head(self.body(x)).flatten(1)


@torch.no_grad()
def predict(D: SGANDiscriminator, images: torch.Tensor, device="cpu") -> torch.Tensor:
    """The class D assigns each image: ``argmax_k l_k(x)`` over the ``K`` real classes only."""
    with evaluating(D):
        logits = batched(D, images, device=device)
    return logits[:, :D.n_classes].argmax(1)


def accuracy(D: SGANDiscriminator, data: TensorDataset, device="cpu") -> float:
    """The fraction of ``data``'s ``(images, labels)`` that :func:`predict` gets right."""
    images, labels = data.tensors
    return (predict(D, images, device) == labels).float().mean().item()


def split_labelled(data: TensorDataset, per_class: int = 10, seed: int = 0
                   ) -> tuple[TensorDataset, TensorDataset]:
    """``(labelled, unlabelled)``: ``per_class`` random labelled examples of each class, and the rest's images.

    The unlabelled set keeps the images only (``TensorDataset(images)``): the labels of
    those digits are never seen in training.
    """
    images, labels = data.tensors
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in labels.unique().tolist():
        members = (labels == c).nonzero().flatten()
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} examples, fewer than per_class={per_class}")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    chosen = torch.cat(chosen)
    rest = torch.ones(len(labels), dtype=torch.bool)
    rest[chosen] = False
    return TensorDataset(images[chosen], labels[chosen]), TensorDataset(images[rest])


def train_sgan(G: nn.Module, D: SGANDiscriminator, unlabelled: TensorDataset, labelled: TensorDataset,
               *, epochs: int, m: int = 64, lr: float = 2e-4, beta1: float = 0.5,
               generator_loss: str = "feature_matching", n_snapshots: int = 64, seed: int = 0,
               device="cpu", checkpoint=None, progress: bool = True, desc: str | None = None,
               on_epoch_end=None) -> GANRun:
    """Train the semi-supervised GAN for ``epochs`` passes over ``unlabelled``.

    Each iteration takes a minibatch of ``m`` unlabelled images (shuffled by ``fit``), ``m``
    labelled examples drawn with replacement from the small ``labelled`` set (global RNG,
    so resume is exact) and ``m`` fakes, then makes one D step on
    ``L_supervised + L_unsupervised`` and one G step on ``generator_loss``. Records
    ``d_supervised``, ``d_unsupervised``, ``g_loss``, ``labelled_acc`` (D's accuracy on the
    labelled minibatch) and the gradient norms. Returns a ``GANRun`` like ``train_gan``.
    """
    distributed.require_one_process("train_sgan")
    if generator_loss not in SGAN_GENERATOR_LOSSES:
        raise ValueError(f"unknown SGAN generator loss {generator_loss!r}; choose from {SGAN_GENERATOR_LOSSES}")
    if len(labelled.tensors) != 2 or len(labelled) == 0:
        raise ValueError("labelled must be a non-empty TensorDataset(images, labels)")
    x_labelled, y_labelled = (t.to(device) for t in labelled.tensors)
    if y_labelled.is_floating_point() or y_labelled.min() < 0 or y_labelled.max() >= D.n_classes:
        raise ValueError(f"labels must be integer classes in [0, {D.n_classes})")
    G.to(device)
    D.to(device)
    opt_d, opt_g = make_optimizer(D, "adam", lr, beta1=beta1), make_optimizer(G, "adam", lr, beta1=beta1)
    snapshots = Snapshots(sample_noise(G, n_snapshots, generator=torch.Generator().manual_seed(seed + 1)))
    fake_class = D.n_classes

    def step(batch):
        (x,) = batch[:1]
        pick = torch.randint(len(y_labelled), (m,)).to(device)
        fake = G(sample_noise(G, m, device=device))
        labelled_logits = D(x_labelled[pick])
        supervised, unsupervised = sgan_discriminator_loss(labelled_logits, y_labelled[pick],
                                                           D(x), D(fake.detach()))
        opt_d.zero_grad(set_to_none=True)
        (supervised + unsupervised).backward()
        norm_d = grad_norm(D)
        opt_d.step()

        if generator_loss == "feature_matching":
            with torch.no_grad():
                real_features = D.features(x)
            g_loss = feature_matching_loss(real_features, D.features(fake))
        else:
            logits = D(fake)     # -log p(real | G(z)) = -(lse(real classes) - lse(all))
            g_loss = -(torch.logsumexp(logits[:, :fake_class], 1) - torch.logsumexp(logits, 1)).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        norm_g = grad_norm(G)
        opt_g.step()
        return {"d_supervised": supervised.item(), "d_unsupervised": unsupervised.item(),
                "g_loss": g_loss.item(), "grad_norm_d": norm_d, "grad_norm_g": norm_g,
                "labelled_acc": (labelled_logits[:, :fake_class].argmax(1) == y_labelled[pick]).float().mean().item()}

    def epoch_end(epoch, history):
        snapshot_epoch(snapshots, G, None)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)

    history = fit(step, unlabelled, epochs=epochs, batch_size=m, drop_last=True, seed=seed, device=device,
                  checkpoint=checkpoint, progress=progress, desc=desc or "SGAN",
                  state=checkpoint_state(G, D, opt_d, opt_g, snapshots, None), on_epoch_end=epoch_end)
    return GANRun(history, snapshots.images)


def train_supervised(D: SGANDiscriminator, labelled: TensorDataset, *, epochs: int, m: int = 64,
                     lr: float = 2e-4, beta1: float = 0.5, seed: int = 0, device="cpu",
                     progress: bool = True, desc: str | None = None):
    """The baseline: the same network trained on the labelled examples alone, by cross-entropy.

    ``epochs`` passes over ``labelled`` in shuffled minibatches of ``min(m, len(labelled))``,
    with the SGAN's optimiser; the ``n_classes + 1``-way head keeps its "fake" output,
    which the cross-entropy simply pushes down. Returns the ``History``.
    """
    distributed.require_one_process("train_supervised")
    optimizer = make_optimizer(D, "adam", lr, beta1=beta1)
    D.to(device)

    def step(batch):
        x, y = batch
        loss = F.cross_entropy(D(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    return fit(step, labelled, epochs=epochs, batch_size=min(m, len(labelled)), seed=seed, device=device,
               progress=progress, desc=desc or "labels only", state={"D": D, "opt": optimizer})
