"""Training a GAN: Algorithm 1 of Goodfellow et al. (2014), on the course's training loop.

    for each iteration:
        for k steps:                                   (discriminator)
            sample m noise vectors z ~ p_z and m data points x ~ p_data
            descend L_D = -[ mean log D(x) + mean log(1 - D(G(z))) ]   (= ascend V)
        sample m noise vectors z ~ p_z                 (generator)
        descend the generator cost (minimax, non-saturating, or maximum-likelihood)

The paper used ``k = 1`` and SGD with momentum. The lecture uses Adam with learning rate
2e-4 and PyTorch's default ``beta_1 = 0.9``; the DCGAN paper lowered it to ``beta_1 =
0.5``, the usual choice today (``make_optimizer``'s ``beta1``). :func:`train_gan` runs
this through :func:`ganlab.train.fit`, so it has the progress bar, the history,
checkpoint/resume and the NaN stop of every other model in the course, and it works
unchanged for any ``G`` with a ``latent_dim`` and any ``D`` returning logits (the MLP
GAN of Unit 03, the DCGAN of Unit 05). Each of the ``k`` discriminator steps gets its
own fresh minibatch: ``fit`` deals batches of ``k * m`` examples, cut into ``k`` parts.

Four standard fixes are options of :func:`train_gan`, each off by default:

* ``real_label < 1``: one-sided label smoothing (Salimans et al., 2016), real targets
  ``y`` instead of 1 in ``L_D`` (``ganlab.losses.discriminator_loss``);
* ``augment="translation,cutout"``: differentiable augmentation of everything D sees
  (``ganlab.diffaugment``), against a discriminator that memorises a small data set;
* ``ema_decay = beta``: an exponential moving average of G's weights, updated after
  every generator step, ``theta_ema <- beta theta_ema + (1 - beta) theta`` (with a short
  warm-up, :func:`moving_average`), used for the snapshots and returned as
  ``GANRun.G_ema`` (Karras et al., 2018; Yazici et al., 2019); its BatchNorm statistics
  are re-measured after every epoch (:func:`recalibrate_batchnorm`);
* ``r1_gamma = gamma``: the R1 penalty (Mescheder et al., 2018), D descends
  ``L_D + (gamma / 2) mean ||grad_x l(x)||^2`` at the real data
  (``ganlab.losses.r1_penalty``), which keeps D flat around the data.

Under ``torchrun --nproc_per_node W`` the same call trains on W processes
(``ganlab.distributed``): ``m`` stays the whole minibatch, each process takes ``m / W``
of its examples and of its noise (:func:`ganlab.distributed.shard`), D's step goes through
D's ``DistributedDataParallel`` wrapper and G's step through G's, with D bare there, so
that each step averages over processes exactly the gradients it uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import TensorDataset

from ganlab import distributed, toy
from ganlab.diffaugment import augmentation, identity
from ganlab.inference import evaluating
from ganlab.losses import check_loss_kind, discriminator_loss, generator_loss, r1_penalty
from ganlab.train import History, fit

OPTIMIZERS = ("adam", "sgd")


def grad_norm(module: nn.Module) -> float:
    """The L2 norm of all of ``module``'s gradients, as one vector."""
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return torch.stack(norms).norm().item() if norms else 0.0


def make_optimizer(module: nn.Module, name: str = "adam", lr: float = 2e-4, *,
                   beta1: float = 0.5, momentum: float = 0.5) -> torch.optim.Optimizer:
    """``"adam"``: Adam(lr, betas=(beta1, 0.999)); ``"sgd"``: SGD with momentum as in the 2014 paper.

    ``beta1 = 0.5`` is the DCGAN paper's choice; ``beta1 = 0.9`` is PyTorch's default,
    which the lecture's code uses.
    """
    if not 0 <= beta1 < 1:
        raise ValueError(f"Adam's beta1 must be in [0, 1), got {beta1}")
    if name == "adam":
        return torch.optim.Adam(module.parameters(), lr=lr, betas=(beta1, 0.999))
    if name == "sgd":
        return torch.optim.SGD(module.parameters(), lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")


def sample_noise(G: nn.Module, n: int, kind: str = "normal", device="cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` noise vectors ``z ~ p_z`` for ``G`` (``toy.noise``: N(0, I) or U(-1, 1))."""
    return toy.noise(n, G.latent_dim, kind=kind, generator=generator).to(device)


def discriminator_step(G: nn.Module, D: nn.Module, optimizer: torch.optim.Optimizer,
                       x_real: torch.Tensor, z: torch.Tensor, *, real_label: float = 1.0,
                       augment=identity, r1_gamma: float = 0.0) -> dict:
    """One update of D on real ``x_real`` and fakes ``G(z)``; G is not updated (fakes detached).

    D sees ``augment(x)`` of both (the identity unless DiffAugment is on). With
    ``r1_gamma > 0`` D descends ``L_D + R1`` (``ganlab.losses.r1_penalty`` at the real
    images D saw); the record then has ``r1`` besides ``d_loss`` (``L_D`` alone).
    """
    with torch.no_grad():
        fake = G(z)
    x_seen = augment(x_real)
    if r1_gamma:
        x_seen = x_seen.detach().requires_grad_(True)
    real_logits, fake_logits = D(x_seen), D(augment(fake))
    loss = discriminator_loss(real_logits, fake_logits, real_label)
    record = {"d_loss": loss.item()}
    if r1_gamma:
        penalty = r1_penalty(real_logits, x_seen, r1_gamma)
        record["r1"] = penalty.item()
        loss = loss + penalty
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_norm(D)
    optimizer.step()
    return {**record, "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(), "grad_norm_d": norm}


def generator_step(G: nn.Module, D: nn.Module, optimizer: torch.optim.Optimizer,
                   z: torch.Tensor, kind: str = "non_saturating", *, augment=identity) -> dict:
    """One update of G through D (D's parameters get gradients but are not stepped)."""
    fake_logits = D(augment(G(z)))
    loss = generator_loss(fake_logits, kind)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_norm(G)
    optimizer.step()
    return {"g_loss": loss.item(), "grad_norm_g": norm}


def moving_average(G: nn.Module, decay: float) -> AveragedModel:
    """A copy of ``G`` whose weights follow ``theta_ema <- b_t * theta_ema + (1 - b_t) * theta``.

    ``b_t = min(decay, (1 + t) / (10 + t))`` at the ``t``-th update: the average starts
    short and lengthens to ``decay`` (about ``1 / (1 - decay)`` steps), so early weights,
    which are far from good, do not linger in it (the warm-up of TensorFlow's
    ``ExponentialMovingAverage``). Call ``.update_parameters(G)`` after each of G's steps
    (the first call copies G) and :func:`recalibrate_batchnorm` on ``.module``, the
    averaged generator, before using it. Only parameters are averaged: BatchNorm's
    running statistics of one set of weights do not fit an average of many, so they are
    measured afresh for the averaged weights.
    """
    if not 0 < decay < 1:
        raise ValueError(f"the EMA decay must be in (0, 1), e.g. 0.999, got {decay}")

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], t) -> None:
        b = min(decay, (1 + int(t)) / (10 + int(t)))
        torch._foreach_lerp_(averaged, current, 1 - b)

    return AveragedModel(G, multi_avg_fn=update, use_buffers=False)


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, n: int = 1024, m: int = 64, seed: int = 0) -> None:
    """Reset ``G``'s BatchNorm running statistics to their mean over ``n // m`` batches of its own noise.

    Each BatchNorm layer ends with the plain average of the ``n // m`` batch means and
    variances it sees (momentum ``None``), for noise drawn from its own generator seeded
    by ``seed`` (so the global random state is untouched and resumption stays exact).
    A generator without BatchNorm is left as it is; ``G`` is left in eval mode.
    """
    norms = [layer for layer in G.modules() if isinstance(layer, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(G.parameters()).device
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.reset_running_stats()
        layer.momentum = None
    G.train()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(max(1, n // m)):
        z = torch.randn(m, G.latent_dim, generator=generator).to(device)
        if hasattr(G, "n_classes"):  # a conditional generator G(z, y)
            G(z, torch.randint(0, G.n_classes, (m,), generator=generator).to(device))
        else:
            G(z)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum
    G.eval()


class Snapshots:
    """``G(z_fixed)`` after every epoch (``G(z_fixed, y_fixed)`` for a conditional G); saved in checkpoints."""

    def __init__(self, fixed_noise: torch.Tensor, fixed_labels: torch.Tensor | None = None):
        self.fixed_noise, self.fixed_labels = fixed_noise, fixed_labels
        self.images: list[torch.Tensor] = []

    def take(self, G: nn.Module) -> None:
        device = next(G.parameters()).device
        inputs = [t.to(device) for t in (self.fixed_noise, self.fixed_labels) if t is not None]
        with evaluating(G):
            self.images.append(G(*inputs).cpu())

    def state_dict(self) -> dict:
        return {"fixed_noise": self.fixed_noise, "fixed_labels": self.fixed_labels,
                "images": self.images}

    def load_state_dict(self, state: dict) -> None:
        self.fixed_noise, self.fixed_labels = state["fixed_noise"], state["fixed_labels"]
        self.images = list(state["images"])


def checkpoint_state(G: nn.Module, D: nn.Module, opt_d, opt_g, snapshots: Snapshots,
                     G_ema: AveragedModel | None) -> dict:
    """Everything a GAN run's checkpoint keeps (``fit``'s ``state``): players, optimisers, snapshots, EMA."""
    state = {"G": G, "D": D, "opt_d": opt_d, "opt_g": opt_g, "snapshots": snapshots}
    if G_ema is not None:
        state["G_ema"] = G_ema
    return state


def snapshot_epoch(snapshots: Snapshots, G: nn.Module, G_ema: AveragedModel | None) -> None:
    """End of an epoch: re-measure the EMA generator's BatchNorm, then snapshot the generator sampled from."""
    if G_ema is not None:
        recalibrate_batchnorm(G_ema.module)
    snapshots.take(G_ema.module if G_ema is not None else G)


@dataclass
class GANRun:
    """What :func:`train_gan` returns: the history, the per-epoch snapshots, the EMA generator.

    ``G_ema`` is the moving average of G's weights (``None`` unless ``ema_decay`` was set);
    with EMA on, the snapshots are its images.
    """

    history: History
    snapshots: list[torch.Tensor]
    G_ema: nn.Module | None = None


def train_gan(G: nn.Module, D: nn.Module, data: TensorDataset, *, epochs: int, m: int = 64,
              k: int = 1, loss: str = "non_saturating", optimizer: str = "adam",
              lr_d: float = 2e-4, lr_g: float = 2e-4, beta1: float = 0.5, momentum: float = 0.5,
              real_label: float = 1.0, augment: str | None = None, r1_gamma: float = 0.0,
              ema_decay: float | None = None, noise: str = "normal", n_snapshots: int = 64,
              seed: int = 0, device="cpu", checkpoint=None, progress: bool = True,
              desc: str | None = None, on_epoch_end=None) -> GANRun:
    """Train ``G`` and ``D`` with Algorithm 1 for ``epochs`` passes over ``data``.

    One iteration consumes ``k * m`` real examples (``k`` fresh minibatches of ``m`` for
    the ``k`` discriminator steps) and records, averaged over its ``k`` D steps:
    ``d_loss``, ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)), ``grad_norm_d``; and for
    its generator step ``g_loss`` and ``grad_norm_g``. ``loss`` is the generator cost
    (``ganlab.losses.generator_loss``); ``beta1`` is Adam's (``make_optimizer``).
    ``real_label``, ``augment``, ``ema_decay`` and ``r1_gamma`` switch on the fixes of
    the module docstring. ``n_snapshots`` images ``G(z_fixed)`` are kept after every epoch
    (``z_fixed`` drawn once from its own seeded generator).
    """
    if k < 1 or m < 1:
        raise ValueError(f"need k >= 1 discriminator steps and minibatch size m >= 1, got k={k}, m={m}")
    if not 0 < real_label <= 1:
        raise ValueError(f"real_label must be in (0, 1] (1: no smoothing, 0.9: one-sided "
                         f"smoothing), got {real_label}")
    check_loss_kind(loss)
    if r1_gamma < 0:
        raise ValueError(f"the R1 weight r1_gamma must be >= 0 (0: off; 1 is a good start), got {r1_gamma}")
    augment_fn = augmentation(augment)
    G.to(device)
    D.to(device)
    opt_d = make_optimizer(D, optimizer, lr_d, beta1=beta1, momentum=momentum)
    opt_g = make_optimizer(G, optimizer, lr_g, beta1=beta1, momentum=momentum)
    G_ema = moving_average(G, ema_decay) if ema_decay is not None else None
    fixed = sample_noise(G, n_snapshots, noise, generator=torch.Generator().manual_seed(seed + 1))
    snapshots = Snapshots(fixed)
    G_sync, D_sync = distributed.data_parallel(G), distributed.data_parallel(D)  # G, D in one process

    def noise_share():
        return distributed.shard(sample_noise(G, m, noise, device))

    return alternate(
        G, D, data, opt_d=opt_d, opt_g=opt_g, snapshots=snapshots, G_ema=G_ema, k=k, m=m,
        d_step=lambda x_real: discriminator_step(G, D_sync, opt_d, x_real, noise_share(),
                                                 real_label=real_label, augment=augment_fn,
                                                 r1_gamma=r1_gamma),
        g_step=lambda: generator_step(G_sync, D, opt_g, noise_share(), loss, augment=augment_fn),
        epochs=epochs, seed=seed, device=device, checkpoint=checkpoint, progress=progress,
        desc=desc, on_epoch_end=on_epoch_end)


def alternate(G: nn.Module, D: nn.Module, data: TensorDataset, *, opt_d, opt_g, snapshots: Snapshots,
              G_ema: AveragedModel | None, k: int, m: int, d_step, g_step, epochs: int, seed: int,
              device, checkpoint, progress: bool, desc: str | None, on_epoch_end) -> GANRun:
    """The loop every GAN trainer here shares: ``k`` D steps on fresh minibatches, then one G step.

    ``fit`` hands each iteration ``k * m`` real examples; ``d_step(x_real)`` updates D on
    each minibatch of ``m`` and returns its record (averaged over the ``k`` steps),
    ``g_step()`` updates G and returns its record. The EMA of G follows every G step;
    after every epoch the snapshot is taken (and ``on_epoch_end`` called); the players,
    optimisers, snapshots and EMA are checkpointed for exact resume. Under torchrun each
    process gets ``k * m / W`` of the examples and every process takes the snapshots;
    ``on_epoch_end`` runs on rank 0 only.
    """
    if m % distributed.world_size():
        raise ValueError(f"the minibatch size m={m} must be divisible by the {distributed.world_size()} "
                         "processes, each of which takes m / W of it")

    def step(batch):
        d_records = [d_step(x_real) for x_real in batch[0].chunk(k)]
        record = {key: sum(r[key] for r in d_records) / k for key in d_records[0]}
        record.update(g_step())
        if G_ema is not None:
            G_ema.update_parameters(G)
        return record

    def epoch_end(epoch, history):
        snapshot_epoch(snapshots, G, G_ema)
        if on_epoch_end is not None and distributed.is_main():
            on_epoch_end(epoch, history)

    history = fit(step, data, epochs=epochs, batch_size=k * m, drop_last=True, seed=seed,
                  device=device, checkpoint=checkpoint, progress=progress, desc=desc,
                  state=checkpoint_state(G, D, opt_d, opt_g, snapshots, G_ema),
                  on_epoch_end=epoch_end)
    return GANRun(history, snapshots.images, G_ema.module if G_ema is not None else None)


def seconds_per_iteration(G: nn.Module, D: nn.Module, x_real: torch.Tensor, *, k: int = 1,
                          repeats: int = 3, device="cpu") -> float:
    """Median wall time of one Algorithm-1 iteration (``k`` D steps, one G step) on ``x_real``.

    ``x_real`` is one minibatch of ``m`` real examples (reused for every D step). The
    models are copied first, so ``G`` and ``D`` themselves are not trained; one
    warm-up iteration is not timed.
    """
    import copy
    import statistics
    import time

    if repeats < 1:
        raise ValueError(f"need repeats >= 1, got {repeats}")
    G, D = copy.deepcopy(G).to(device).train(), copy.deepcopy(D).to(device).train()
    opt_d, opt_g = make_optimizer(D), make_optimizer(G)
    x_real = x_real.to(device)
    m = len(x_real)
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(k):
            discriminator_step(G, D, opt_d, x_real, sample_noise(G, m, device=device))
        generator_step(G, D, opt_g, sample_noise(G, m, device=device))
        if torch.cuda.is_available() and torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        if i > 0:
            times.append(time.perf_counter() - start)
    return statistics.median(times)
