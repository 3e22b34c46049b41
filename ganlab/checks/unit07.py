"""Checks of Unit 07 (the Wasserstein GAN with gradient penalty, on 2-D points).

See :mod:`ganlab.checks` for how the checks teach and how the grader uses them. The
gradient penalty takes its interpolation weights ``eps`` as an argument, so that a
student's penalty can be compared with the reference on the very same points.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ganlab.checks.common import _close, _name, _number, _same_tensors, _shape, _tensor, call, fail
from ganlab.checks.unit03 import (
    _check_returned_loss,
    _check_update,
    _players,
    _snapshot,
    _stale_gradients,
)
from ganlab.grading import evidence
from ganlab.losses import critic_loss, gradient_penalty, wasserstein_generator_loss


def _gradients_at(critic, points):
    x = points.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return grad


@evidence.graded
def check_critic_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, seed: int = 0) -> None:
    """Check ``fn(real_scores, fake_scores)``: the critic's loss ``mean f(G(z)) - mean f(x)``, a 0-d tensor."""
    __tracebackhide__ = True
    name = _name(fn, "critic_loss")
    g = torch.Generator().manual_seed(seed)
    real, fake = torch.randn(32, generator=g) * 2 + 1, torch.randn(24, generator=g) * 2 - 1
    out = _tensor(call(f"{name}(real_scores, fake_scores)", fn, real, fake, name=name), name)
    expected = critic_loss(real, fake)
    if out.numel() != 1:
        fail(f"{name} must return one number (a 0-d tensor, the mean over each batch), got shape {_shape(out)}")
    value = out.reshape(()).item()
    if _close(value, expected.item()):
        return
    mistakes = [
        (-expected.item(), "the critic *descends* mean f(G(z)) - mean f(x): you returned "
         "mean f(x) - mean f(G(z)), the distance estimate W_hat, which the critic maximises"),
        ((fake.sum() - real.sum()).item(), "average each batch (.mean()), do not sum: the real and "
         "fake batches may even differ in size"),
        ((fake.mean() + real.mean()).item(), "subtract the real scores: L_f = mean f(G(z)) - mean f(x)"),
        ((torch.sigmoid(fake).mean() - torch.sigmoid(real).mean()).item(), "a critic's scores are "
         "not probabilities: no sigmoid, use the raw scores"),
    ]
    for wrong, hint in mistakes:
        if _close(value, wrong):
            fail(hint)
    fail(f"{name} differs from mean(fake_scores) - mean(real_scores)",
         f"returned {value:.6g}, expected {expected.item():.6g}")


class _PointCritic(nn.Module):
    """A small critic of 2-D points: a score per point, shape ``(N,)``, no batch norm."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


def _critic(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _PointCritic()


@evidence.graded
def check_gradient_penalty(fn: Callable[..., torch.Tensor], *, seed: int = 0) -> None:
    """Check ``fn(critic, real, fake, eps, weight)``: WGAN-GP's penalty at the interpolates ``eps x + (1 - eps) x~``.

    ``weight * mean_i (||grad f(x_hat_i)||_2 - 1)^2`` as a 0-d tensor that the critic's
    parameters can be differentiated through (``create_graph=True``); ``eps`` has shape
    ``(N, 1)``. Also checked exactly on a linear critic, whose penalty is
    ``weight * (||w|| - 1)^2``.
    """
    __tracebackhide__ = True
    name = _name(fn, "gradient_penalty")
    g = torch.Generator().manual_seed(seed)
    critic = _critic(seed)
    real, fake = torch.randn(16, 2, generator=g) + 2.0, torch.randn(16, 2, generator=g)
    eps = torch.rand(16, 1, generator=g)
    weight = 10.0
    inputs = [t.clone() for t in (real, fake, eps)]
    out = _tensor(call(f"{name}(critic, real, fake, eps, weight=10.0)", fn, critic, real, fake, eps,
                       weight, name=name,
                       hints={"does not require grad": "make the interpolates a leaf that requires "
                              "grad: x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)",
                              "One of the differentiated Tensors": "differentiate with respect to "
                              "x_hat itself: torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)"}),
                  name)
    if not all(torch.equal(a, b) for a, b in zip((real, fake, eps), inputs, strict=True)):
        fail(f"{name} must not modify real, fake or eps in place")
    if out.numel() != 1:
        fail(f"{name} must return one number (a 0-d tensor: the mean over the batch), got shape {_shape(out)}")
    expected = gradient_penalty(critic, real, fake, weight, eps=eps)
    value = out.reshape(())
    if not _close(value.item(), expected.item()):
        x_hat = eps * real + (1 - eps) * fake
        norms = _gradients_at(critic, x_hat).norm(dim=1)
        swapped = _gradients_at(critic, eps * fake + (1 - eps) * real).norm(dim=1)
        at_real = _gradients_at(critic, real).norm(dim=1)
        whole = _gradients_at(critic, x_hat).norm()
        mistakes = [
            (weight * (norms ** 2 - 1).pow(2).mean(), "use the gradient's norm, not its squared "
             "norm: grad.norm(dim=1) (or .pow(2).sum(1).sqrt()), then (norm - 1) ** 2"),
            (weight * norms.pow(2).mean(), "penalise the distance of the norm from 1: "
             "(grad.norm(dim=1) - 1) ** 2, not the squared norm"),
            ((norms - 1).pow(2).mean(), "multiply by weight (lambda = 10 by default)"),
            (weight * (norms - 1).pow(2).sum(), "average over the batch (.mean()), do not sum"),
            (weight * (swapped - 1).pow(2).mean(), "interpolate with eps on the real side: "
             "x_hat = eps * real + (1 - eps) * fake"),
            (weight * (at_real - 1).pow(2).mean(), "take the gradient at the interpolates x_hat, "
             "not at the real points"),
            (weight * (whole - 1).pow(2), "take one norm per sample, grad.norm(dim=1), not the "
             "norm of the whole batch's gradient"),
        ]
        for wrong, hint in mistakes:
            if _close(value.item(), wrong.item()):
                fail(hint)
        fail(f"{name} differs from weight * mean((||grad f(x_hat)|| - 1)^2)",
             f"returned {value.item():.6g}, expected {expected.item():.6g}")
    if not value.requires_grad:
        fail("keep the gradient in the graph: torch.autograd.grad(..., create_graph=True), so that "
             "the critic's optimiser can differentiate the penalty (it returned a constant)")
    params = list(critic.parameters())   # (the output bias does not move grad f: its gradient is 0)
    got = torch.autograd.grad(value, params, allow_unused=True)
    want = torch.autograd.grad(expected, params, allow_unused=True)
    zeros = lambda grads: [torch.zeros_like(p) if d is None else d for d, p in zip(grads, params, strict=True)]
    if all(d is None for d in got) or not _same_tensors(zeros(got), zeros(want)):
        fail("the penalty must be differentiable in the critic's parameters: pass create_graph=True "
             "to torch.autograd.grad and do not detach the gradient")
    # a linear critic: grad f = w everywhere, so the penalty is exactly weight * (||w|| - 1)^2
    linear = nn.Linear(2, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.5, -2.0]]))
    value = _number(call(f"{name}(linear critic, ...)", fn, linear, real, fake, eps, 3.0, name=name), name)
    if not _close(value, 3.0 * (2.5 - 1) ** 2):
        fail(f"for the linear critic f(x) = w.x + b with ||w|| = 2.5 and weight 3 the penalty is "
             f"3 * (2.5 - 1)^2 = {3.0 * 1.5 ** 2:.4g}: use the weight argument", f"returned {value:.6g}")


@evidence.graded
def check_critic_step(fn: Callable[..., object], *, seed: int = 0) -> None:
    """Check ``fn(G, f, optimizer, x_real, z, eps, weight)``: one update of the critic on ``L_f``.

    ``L_f = critic_loss(f(x_real), f(G(z))) + gradient_penalty(f, x_real, G(z), eps, weight)``,
    the fakes detached from G, gradients cleared first; returns ``L_f`` as a number.
    Checked against one step of SGD on the reference loss (so a student step built on a
    wrong penalty fails here too, with the hint to check the loss).
    """
    __tracebackhide__ = True
    name = _name(fn, "critic_step")
    m, lr, weight = 16, 0.05, 10.0
    g = torch.Generator().manual_seed(seed)
    G, _ = _players(seed)
    f = _critic(seed + 1)
    x_real = 0.5 * torch.randn(m, 2, generator=g) + 1.0
    z = torch.randn(m, G.latent_dim, generator=g)
    eps = torch.rand(m, 1, generator=g)
    f_ref = copy.deepcopy(f)
    fake = G(z).detach()
    gap = critic_loss(f_ref(x_real), f_ref(fake))
    loss = gap + gradient_penalty(f_ref, x_real, fake, weight, eps=eps)
    grads = torch.autograd.grad(loss, list(f_ref.parameters()))
    no_penalty = torch.autograd.grad(critic_loss(f_ref(x_real), f_ref(fake)), list(f_ref.parameters()))
    stale = _stale_gradients(f, g)
    f_before, G_before = _snapshot(f), _snapshot(G)
    optimizer = torch.optim.SGD(f.parameters(), lr=lr)
    out = call(f"{name}(G, f, optimizer, x_real, z, eps, weight=10.0)", fn, G, f, optimizer, x_real, z,
               eps, weight, name=name)
    if not _same_tensors(_snapshot(G), G_before, rtol=0, atol=0):
        fail(f"{name} changed G's parameters: the critic's step updates the critic only")
    if any(p.grad is not None and p.grad.abs().max() > 0 for p in G.parameters()):
        fail("detach the fakes: compute them with G(z).detach() (or under torch.no_grad()) so that "
             "the critic's loss does not backpropagate into G")
    _check_update("the critic", f, f_before, grads, stale, lr, alternatives=[
        (no_penalty, "add the gradient penalty to the critic's loss: L_f = critic_loss(...) + "
         "gradient_penalty(f, x_real, fake, eps, weight)")])
    _check_returned_loss(name, out, loss.item())


@evidence.graded
def check_wgan_generator_step(fn: Callable[..., object], *, seed: int = 0) -> None:
    """Check ``fn(G, f, optimizer, z)``: one update of G on ``L_G = -mean f(G(z))``; f is not stepped."""
    __tracebackhide__ = True
    name = _name(fn, "generator_step")
    m, lr = 16, 0.05
    g = torch.Generator().manual_seed(seed)
    G, _ = _players(seed)
    f = _critic(seed + 1)
    z = torch.randn(m, G.latent_dim, generator=g)
    G_ref = copy.deepcopy(G)
    loss = wasserstein_generator_loss(f(G_ref(z)))
    grads = torch.autograd.grad(loss, list(G_ref.parameters()))
    f.zero_grad(set_to_none=True)
    stale = _stale_gradients(G, g)
    f_before, G_before = _snapshot(f), _snapshot(G)
    optimizer = torch.optim.SGD(G.parameters(), lr=lr)
    out = call(f"{name}(G, f, optimizer, z)", fn, G, f, optimizer, z, name=name,
               hints={"does not require grad": "do not detach the fakes in the generator's step: G "
                      "learns from the gradient that flows back through the critic"})
    if not _same_tensors(_snapshot(f), f_before, rtol=0, atol=0):
        fail(f"{name} must not change the critic's parameters: only G's optimizer steps")
    _check_update("G", G, G_before, grads, stale, lr, no_gradient="G's parameters got no gradient: "
                  "do not detach the fakes in the generator's step")
    _check_returned_loss(name, out, loss.item())

