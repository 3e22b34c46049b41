"""The Wasserstein GAN with gradient penalty (Unit 07; Arjovsky et al., 2017; Gulrajani et al., 2017).

The vanilla GAN's D estimates the Jensen-Shannon divergence (Unit 04), which is constant
(``log 2``) while the two distributions do not overlap: a confident D then gives G
nothing to follow. The WGAN replaces D by a *critic* ``f`` (no sigmoid: any real score)
and the JSD by the Wasserstein-1 distance, through the Kantorovich-Rubinstein duality

    W(p_data, p_g) = sup_{||f||_L <= 1}  E_{x ~ p_data} f(x) - E_{z ~ p_z} f(G(z)).

WGAN-GP keeps ``f`` close to 1-Lipschitz with a gradient penalty on random interpolates
``x_hat`` between real and fake samples. One iteration of Algorithm 1 of Gulrajani et al.:

* ``n_critic`` times, on a fresh real minibatch ``x`` and fresh noise ``z``, the critic descends

      L_f = mean f(G(z)) - mean f(x) + lambda * mean (||grad f(x_hat)||_2 - 1)^2

  (``losses.critic_loss`` + ``losses.gradient_penalty``, ``lambda = 10``);
* then G descends ``L_G = -mean f(G(z))`` (``losses.wasserstein_generator_loss``),

both with Adam(lr = 1e-4, betas = (0, 0.9)) and ``n_critic = 5``, the paper's settings.

Because ``f`` is kept near the best 1-Lipschitz critic, ``W_hat = mean f(x) - mean f(G(z))``
(recorded as ``wasserstein``) estimates the distance itself: unlike the vanilla GAN's
losses (Unit 03 §5), it falls as the samples improve, a progress metric.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ganlab import distributed
from ganlab.gan import GANRun, Snapshots, alternate, grad_norm, moving_average, sample_noise
from ganlab.losses import critic_loss, gradient_penalty, wasserstein_generator_loss


def make_wgan_optimizer(module: nn.Module, lr: float = 1e-4,
                        betas: tuple[float, float] = (0.0, 0.9)) -> torch.optim.Adam:
    """Adam with WGAN-GP's ``betas = (0, 0.9)``: no momentum, whose lag destabilises the critic."""
    return torch.optim.Adam(module.parameters(), lr=lr, betas=betas)


def critic_step(G: nn.Module, f: nn.Module, optimizer: torch.optim.Optimizer,
                x_real: torch.Tensor, z: torch.Tensor, *, gp_weight: float = 10.0,
                eps: torch.Tensor | None = None) -> dict:
    """One update of the critic ``f`` on ``L_f`` (module docstring); G is not updated.

    ``eps`` are the penalty's interpolation weights (drawn inside
    ``losses.gradient_penalty`` when ``None``).

    Returns ``critic_loss`` (the whole ``L_f``), ``wasserstein`` (``mean f(x) - mean f(G(z))``,
    the distance estimate), ``gradient_penalty`` and ``grad_norm_d``.
    """
    with torch.no_grad():
        fake = G(z)
    real_scores, fake_scores = f(x_real), f(fake)
    gap = critic_loss(real_scores, fake_scores)
    # gp_weight = 0: no penalty (a critic kept Lipschitz another way, e.g. spectral norm)
    penalty = gradient_penalty(f, x_real, fake, gp_weight, eps=eps) if gp_weight else torch.zeros((), device=x_real.device)
    loss = gap + penalty
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_norm(f)
    optimizer.step()
    return {"critic_loss": loss.item(), "wasserstein": -gap.item(),
            "gradient_penalty": penalty.item(), "grad_norm_d": norm}


def wgan_generator_step(G: nn.Module, f: nn.Module, optimizer: torch.optim.Optimizer,
                        z: torch.Tensor) -> dict:
    """One update of G on ``L_G = -mean f(G(z))`` (the critic gets gradients but is not stepped)."""
    loss = wasserstein_generator_loss(f(G(z)))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_norm(G)
    optimizer.step()
    return {"g_loss": loss.item(), "grad_norm_g": norm}


def train_wgan_gp(G: nn.Module, f: nn.Module, data: TensorDataset, *, epochs: int, m: int = 64,
                  n_critic: int = 5, lr_d: float = 1e-4, lr_g: float = 1e-4,
                  betas: tuple[float, float] = (0.0, 0.9), gp_weight: float = 10.0,
                  ema_decay: float | None = None, n_snapshots: int = 64, seed: int = 0,
                  device="cpu", checkpoint=None, progress: bool = True, desc: str | None = None,
                  on_epoch_end=None) -> GANRun:
    """Train ``G`` against the critic ``f`` with WGAN-GP for ``epochs`` passes over ``data``.

    One iteration consumes ``n_critic * m`` real examples (a fresh minibatch of ``m`` for
    each critic step) and records, averaged over its critic steps, ``critic_loss``,
    ``wasserstein`` and ``gradient_penalty`` (:func:`critic_step`), then ``g_loss`` and
    ``grad_norm_g``. ``f`` must score each sample on its own (no batch norm; e.g.
    ``DCGANDiscriminator("cpu28", norm="layer")``). ``gp_weight=0`` drops the penalty, for a
    critic made Lipschitz by spectral normalisation instead (``norm="spectral"``). ``ema_decay``, the snapshots,
    ``checkpoint`` (exact resume), ``on_epoch_end`` and torchrun work as in
    ``ganlab.gan.train_gan``, whose :class:`~ganlab.gan.GANRun` it returns.
    """
    if n_critic < 1 or m < 1:
        raise ValueError(f"need n_critic >= 1 critic steps per generator step and minibatch size "
                         f"m >= 1, got n_critic={n_critic}, m={m}")
    if gp_weight < 0:
        raise ValueError(f"gp_weight must be >= 0, got {gp_weight}")
    if any(isinstance(layer, nn.modules.batchnorm._BatchNorm) for layer in f.modules()):
        raise ValueError("the critic has batch norm, which mixes the samples of a batch and breaks "
                         "the per-sample gradient penalty; use layer norm or none, e.g. "
                         "DCGANDiscriminator('cpu28', norm='layer')")
    G.to(device)
    f.to(device)
    opt_d, opt_g = make_wgan_optimizer(f, lr_d, betas), make_wgan_optimizer(G, lr_g, betas)
    G_ema = moving_average(G, ema_decay) if ema_decay is not None else None
    snapshots = Snapshots(sample_noise(G, n_snapshots, generator=torch.Generator().manual_seed(seed + 1)))
    # under torchrun: each step averages the gradients of the player it updates (ganlab.distributed)
    G_sync, f_sync = distributed.data_parallel(G), distributed.data_parallel(f)

    def noise_share():
        return distributed.shard(sample_noise(G, m, device=device))

    def eps_share():  # the penalty's interpolation weights, drawn for the whole minibatch like the noise
        shape = (m,) + (1,) * (data.tensors[0].dim() - 1)
        return distributed.shard(torch.rand(shape)).to(device) if gp_weight else None

    return alternate(
        G, f, data, opt_d=opt_d, opt_g=opt_g, snapshots=snapshots, G_ema=G_ema, k=n_critic, m=m,
        d_step=lambda x_real: critic_step(G, f_sync, opt_d, x_real, noise_share(), gp_weight=gp_weight,
                                          eps=eps_share()),
        g_step=lambda: wgan_generator_step(G_sync, f, opt_g, noise_share()),
        epochs=epochs, seed=seed, device=device, checkpoint=checkpoint, progress=progress,
        desc=desc or "WGAN-GP", on_epoch_end=on_epoch_end)
