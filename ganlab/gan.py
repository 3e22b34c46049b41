"""Training a GAN: Algorithm 1 of Goodfellow et al. (2014), on the course's training loop.

    for each iteration:
        for k steps:                                   (discriminator)
            sample m noise vectors z ~ p_z and m data points x ~ p_data
            descend L_D = -[ mean log D(x) + mean log(1 - D(G(z))) ]   (= ascend V)
        sample m noise vectors z ~ p_z                 (generator)
        descend the generator cost (minimax, non-saturating, or maximum-likelihood)

The paper used ``k = 1`` and SGD with momentum; the common modern choice (and the
lecture's) is Adam with learning rate 2e-4 and ``beta_1 = 0.5``. :func:`train_gan` runs
this through :func:`ganlab.train.fit`, so it has the progress bar, the history,
checkpoint/resume and the NaN stop of every other model in the course, and it works
unchanged for any ``G`` with a ``latent_dim`` and any ``D`` returning logits (the MLP
GAN of Unit 03, the DCGAN of Unit 05). Each of the ``k`` discriminator steps gets its
own fresh minibatch: ``fit`` deals batches of ``k * m`` examples, split into ``k`` parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ganlab import toy
from ganlab.losses import check_generator_loss, discriminator_loss, generator_loss
from ganlab.train import History, fit

OPTIMIZERS = ("adam", "sgd")


def grad_norm(module: nn.Module) -> float:
    """The L2 norm of all of ``module``'s gradients, as one vector."""
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return torch.stack(norms).norm().item() if norms else 0.0


def make_optimizer(module: nn.Module, name: str = "adam", lr: float = 2e-4,
                   momentum: float = 0.5) -> torch.optim.Optimizer:
    """``"adam"``: Adam(lr, betas=(0.5, 0.999)) as in DCGAN; ``"sgd"``: SGD with momentum as in the 2014 paper."""
    if name == "adam":
        return torch.optim.Adam(module.parameters(), lr=lr, betas=(0.5, 0.999))
    if name == "sgd":
        return torch.optim.SGD(module.parameters(), lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")


def sample_noise(G: nn.Module, n: int, kind: str = "normal", device="cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` noise vectors ``z ~ p_z`` for ``G`` (``toy.noise``: N(0, I) or U(-1, 1))."""
    return toy.noise(n, G.latent_dim, kind=kind, generator=generator).to(device)


def discriminator_step(G: nn.Module, D: nn.Module, optimizer: torch.optim.Optimizer,
                       x_real: torch.Tensor, z: torch.Tensor) -> dict:
    """One update of D on real ``x_real`` and fakes ``G(z)``; G is not updated (fakes detached)."""
    with torch.no_grad():
        fake = G(z)
    real_logits, fake_logits = D(x_real), D(fake)
    loss = discriminator_loss(real_logits, fake_logits)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_norm(D)
    optimizer.step()
    return {"d_loss": loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(), "grad_norm_d": norm}


def generator_step(G: nn.Module, D: nn.Module, optimizer: torch.optim.Optimizer,
                   z: torch.Tensor, kind: str = "non_saturating") -> dict:
    """One update of G through D (D's parameters get gradients but are not stepped)."""
    fake_logits = D(G(z))
    loss = generator_loss(fake_logits, kind)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_norm(G)
    optimizer.step()
    return {"g_loss": loss.item(), "grad_norm_g": norm}


class Snapshots:
    """``G(z_fixed)`` after every epoch, for watching training; saved in checkpoints."""

    def __init__(self, fixed_noise: torch.Tensor):
        self.fixed_noise = fixed_noise
        self.images: list[torch.Tensor] = []

    def take(self, G: nn.Module) -> None:
        was_training = G.training
        G.eval()
        with torch.no_grad():
            self.images.append(G(self.fixed_noise.to(next(G.parameters()).device)).cpu())
        G.train(was_training)

    def state_dict(self) -> dict:
        return {"fixed_noise": self.fixed_noise, "images": self.images}

    def load_state_dict(self, state: dict) -> None:
        self.fixed_noise, self.images = state["fixed_noise"], list(state["images"])


@dataclass
class GANRun:
    """What :func:`train_gan` returns: the per-iteration history and the per-epoch snapshots."""

    history: History
    snapshots: list[torch.Tensor]
    fixed_noise: torch.Tensor
    opt_d: torch.optim.Optimizer
    opt_g: torch.optim.Optimizer


def train_gan(G: nn.Module, D: nn.Module, data: TensorDataset, *, epochs: int, m: int = 64,
              k: int = 1, loss: str = "non_saturating", optimizer: str = "adam",
              lr_d: float = 2e-4, lr_g: float = 2e-4, momentum: float = 0.5,
              noise: str = "normal", n_snapshots: int = 64, seed: int = 0, device="cpu",
              checkpoint=None, progress: bool = True, desc: str | None = None,
              on_epoch_end=None) -> GANRun:
    """Train ``G`` and ``D`` with Algorithm 1 for ``epochs`` passes over ``data``.

    One iteration consumes ``k * m`` real examples (``k`` fresh minibatches of ``m`` for
    the ``k`` discriminator steps) and records, averaged over its ``k`` D steps:
    ``d_loss``, ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)), ``grad_norm_d``; and for
    its generator step ``g_loss`` and ``grad_norm_g``. ``loss`` is the generator cost
    (``ganlab.losses.generator_loss``). ``n_snapshots`` images ``G(z_fixed)`` are kept
    after every epoch (``z_fixed`` drawn once from its own seeded generator).
    """
    if k < 1 or m < 1:
        raise ValueError(f"need k >= 1 discriminator steps and minibatch size m >= 1, got k={k}, m={m}")
    check_generator_loss(loss)
    G.to(device)
    D.to(device)
    opt_d = make_optimizer(D, optimizer, lr_d, momentum)
    opt_g = make_optimizer(G, optimizer, lr_g, momentum)
    fixed = sample_noise(G, n_snapshots, noise, generator=torch.Generator().manual_seed(seed + 1))
    snapshots = Snapshots(fixed)

    def step(batch):
        d_records = [discriminator_step(G, D, opt_d, x_real, sample_noise(G, m, noise, device))
                     for x_real in batch[0].split(m)]
        record = {key: sum(r[key] for r in d_records) / k for key in d_records[0]}
        record.update(generator_step(G, D, opt_g, sample_noise(G, m, noise, device), loss))
        return record

    def epoch_end(epoch, history):
        snapshots.take(G)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)

    history = fit(step, data, epochs=epochs, batch_size=k * m, drop_last=True, seed=seed,
                  device=device, checkpoint=checkpoint, progress=progress, desc=desc,
                  state={"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d, "snapshots": snapshots},
                  on_epoch_end=epoch_end)
    return GANRun(history, snapshots.images, snapshots.fixed_noise, opt_d, opt_g)


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
