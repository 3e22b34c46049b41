"""Checks of Unit 03 (the GAN game).

See :mod:`ganlab.checks` for how the checks teach and how the grader uses them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganlab import toy
from ganlab.checks.common import (
    _close,
    _first_match,
    _fmt,
    _name,
    _number,
    _same_tensors,
    _shape,
    _tensor,
    _trained_generator,
    call,
    fail,
)
from ganlab.checks.unit01 import _require_scalar
from ganlab.gan import discriminator_step as reference_discriminator_step
from ganlab.gan import generator_step as reference_generator_step
from ganlab.grading import evidence
from ganlab.inference import evaluating
from ganlab.losses import (
    discriminator_loss,
    generator_loss,
)

# --- Unit 03: the GAN game ----------------------------------------------------------------

_PROBABILITIES_AS_LOGITS = ("the discriminator returns logits, not probabilities: compute the "
                            "loss with F.binary_cross_entropy_with_logits or F.softplus "
                            "(D(x) = sigmoid(l))")
_SATURATED = ("compute the loss from the logits with F.softplus, F.logsigmoid or "
              "F.binary_cross_entropy_with_logits: log(sigmoid(l)) underflows to log(0) for "
              "large |l|, and F.binary_cross_entropy clamps it at -100")


def _gan_logits(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Discriminator logits on real and on fake samples, some of them confident."""
    real = (3.0 * torch.randn(n, generator=g) + 1.0).requires_grad_(True)
    fake = (3.0 * torch.randn(n, generator=g) - 1.0).requires_grad_(True)
    return real, fake


def _check_gan_loss(name: str, out, expected: torch.Tensor, n: int, mistakes) -> None:
    """Shape, value and typical mistakes of a GAN loss ``out`` (already computed)."""
    __tracebackhide__ = True
    out = _tensor(out, name)
    _require_scalar(out, n, name, "the mean over the minibatch")
    value = out.detach().reshape(())
    if not torch.isfinite(value):
        fail(f"{name} returned {value.item()}: {_PROBABILITIES_AS_LOGITS}; log(l) of a negative "
             "logit is NaN")
    if not _close(value.item(), expected.item()):
        hint = _first_match(value, mistakes)
        fail(hint or f"{name} returned {value.item():.6g}, expected {expected.item():.6g}",
             f"{name} returned {value.item():.6g}; expected {expected.item():.6g}")


@evidence.graded
def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                             seed: int = 0) -> None:
    """Check ``fn(real_logits, fake_logits)``: the loss the discriminator descends.

    ``L_D = -[mean log D(x) + mean log(1 - D(G(z)))] = mean softplus(-l_real) +
    mean softplus(l_fake)``, from logits, a differentiable 0-d tensor that stays exact for
    confident logits, as :func:`ganlab.losses.discriminator_loss`.
    """
    __tracebackhide__ = True
    name = _name(fn, "discriminator_loss")
    n = 8
    real, fake = _gan_logits(n, torch.Generator().manual_seed(seed))
    before = (real.detach().clone(), fake.detach().clone())
    hints = {"between 0 and 1": _PROBABILITIES_AS_LOGITS}
    out = call(f"{name}(real_logits, fake_logits)", fn, real, fake, name=name, hints=hints)
    if not (torch.equal(real.detach(), before[0]) and torch.equal(fake.detach(), before[1])):
        fail(f"{name} must not modify the logits in place")
    sp, s = F.softplus, torch.sigmoid
    with torch.no_grad():
        expected = discriminator_loss(real, fake)
        on_real, on_fake = sp(-real).mean(), sp(fake).mean()
        mistakes = [
            (-expected, "D descends minus the value function: L_D = -[mean log D(x) + "
             "mean log(1 - D(G(z)))]; you returned +V (flip the sign)"),
            (sp(real).mean() + sp(-fake).mean(), "real samples get label 1 and fakes label 0: "
             "-log D(x) on the real logits, -log(1 - D(G(z))) on the fake ones (you swapped them)"),
            (sp(-real).sum() + sp(fake).sum(), "use means over the minibatch, not sums"),
            ((on_real + on_fake) / 2, "add the two terms, do not average them: L_D = mean over "
             "the real samples + mean over the fakes (a BCE over the 2m samples together is half)"),
            (sp(-s(real)).mean() + sp(s(fake)).mean(), "apply the sigmoid once: the inputs are "
             "logits, and binary_cross_entropy_with_logits / softplus contain the sigmoid already"),
            (on_real, "add the fake term -mean log(1 - D(G(z))) = mean softplus(l_fake): D must "
             "also learn to reject the fakes"),
            (on_fake, "add the real term -mean log D(x) = mean softplus(-l_real): D must also "
             "learn to accept the real samples"),
            (-on_real + on_fake, "both terms of L_D are cross-entropies, positive: -mean log D(x) "
             "+ (-mean log(1 - D(G(z))))"),
            (on_real - on_fake, "both terms of L_D are cross-entropies, positive: -mean log D(x) "
             "+ (-mean log(1 - D(G(z))))"),
        ]
    _check_gan_loss(name, out, expected, n, mistakes)
    out = _tensor(out, name)
    if not out.requires_grad:
        fail(f"{name} is not differentiable: compute it with torch operations on the logits (no "
             ".item(), .detach(), NumPy or torch.no_grad())")
    call(f"{name}(real_logits, fake_logits).backward()", out.backward, name=name)
    if real.grad is None or fake.grad is None \
            or not torch.allclose(real.grad, -s(-real.detach()) / n, rtol=1e-3, atol=1e-7) \
            or not torch.allclose(fake.grad, s(fake.detach()) / n, rtol=1e-3, atol=1e-7):
        fail(f"the gradient of {name} is wrong: d/dl_real = -(1 - D(x)) / m and "
             "d/dl_fake = D(G(z)) / m")

    confident = torch.tensor([200.0, -200.0, 30.0])  # D(x) rounds to 1 or 0 in float32
    big = call(f"{name}(confident logits)", fn, confident, -confident, name=name, hints=hints)
    big_value = _tensor(big, name).detach().reshape(-1)[0]
    want = discriminator_loss(confident, -confident)
    if not torch.isfinite(big_value) or not _close(big_value.item(), want.item(), rel=1e-3):
        fail(_SATURATED, f"for logits of size 200 {name} returned {big_value.item():.6g}; "
             f"expected {want.item():.6g}")


@evidence.graded
def check_generator_loss(fn: Callable[..., torch.Tensor], *, seed: int = 0) -> None:
    """Check ``fn(fake_logits, kind)`` for ``kind`` ``"minimax"`` and ``"non_saturating"``.

    minimax: ``mean log(1 - D(G(z))) = -mean softplus(l)``; non-saturating:
    ``-mean log D(G(z)) = mean softplus(-l)``, from logits, as
    :func:`ganlab.losses.generator_loss`.
    """
    __tracebackhide__ = True
    name = _name(fn, "generator_loss")
    n = 8
    sp, s = F.softplus, torch.sigmoid
    formulas = {"minimax": "mean log(1 - D(G(z))) = -mean softplus(l)",
                "non_saturating": "-mean log D(G(z)) = mean softplus(-l)"}
    hints = {"between 0 and 1": _PROBABILITIES_AS_LOGITS}
    for kind, other in (("minimax", "non_saturating"), ("non_saturating", "minimax")):
        _, fake = _gan_logits(n, torch.Generator().manual_seed(seed))
        out = call(f"{name}(fake_logits, kind={kind!r})", fn, fake, kind, name=name, hints=hints)
        with torch.no_grad():
            expected = generator_loss(fake, kind)
            mistakes = [
                (generator_loss(fake, other), f"kind={kind!r} must give {formulas[kind]}: you "
                 f"returned the {other} loss (check how you test kind)"),
                (-expected, f"the {kind} loss G descends is {formulas[kind]}: you flipped its sign"
                 + (" (mean log(1 - D(G(z))) is negative)" if kind == "minimax" else "")),
                (expected * n, "use the mean over the minibatch, not the sum"),
                (-sp(s(fake)).mean() if kind == "minimax" else sp(-s(fake)).mean(),
                 "apply the sigmoid once: the inputs are logits, and softplus / "
                 "binary_cross_entropy_with_logits contain the sigmoid already"),
                (sp(fake).mean() if kind == "non_saturating" else -sp(-fake).mean(),
                 f"the {kind} loss is {formulas[kind]}: log D = -softplus(-l) and "
                 "log(1 - D) = -softplus(l)"),
            ]
        _check_gan_loss(f"{name}(..., kind={kind!r})", out, expected, n, mistakes)
        out = _tensor(out, name)
        if not out.requires_grad:
            fail(f"{name} is not differentiable: compute it with torch operations on the logits "
                 "(no .item(), .detach(), NumPy or torch.no_grad())")
        call(f"{name}(fake_logits, kind={kind!r}).backward()", out.backward, name=name)
        want = (-s(fake.detach()) if kind == "minimax" else -s(-fake.detach())) / n
        if fake.grad is None or not torch.allclose(fake.grad, want, rtol=1e-3, atol=1e-7):
            fail(f"the gradient of the {kind} loss is wrong: compute {formulas[kind]} with "
                 "torch operations on the logits")
        confident = torch.tensor([200.0, -200.0, 30.0])
        big = call(f"{name}(confident logits, kind={kind!r})", fn, confident, kind, name=name,
                   hints=hints)
        big_value = _tensor(big, name).detach().reshape(-1)[0]
        target = generator_loss(confident, kind)
        if not torch.isfinite(big_value) or not _close(big_value.item(), target.item(), rel=1e-3):
            fail(_SATURATED, f"for logits of size 200 and kind={kind!r} {name} returned "
                 f"{big_value.item():.6g}; expected {target.item():.6g}")


class _Noise(nn.Module):
    """A small generator ``G(z)``, ``latent_dim -> 2``, for the step checks."""

    def __init__(self, latent_dim: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, 8), nn.Tanh(), nn.Linear(8, 2))

    def forward(self, z):
        return self.net(z)


class _Critic(nn.Module):
    """A small discriminator returning one logit per 2-D point, shape ``(N,)``."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


def _players(seed: int) -> tuple[nn.Module, nn.Module]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _Noise(), _Critic()


def _snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _stale_gradients(module: nn.Module, g: torch.Generator) -> list[torch.Tensor]:
    """Fill ``module``'s gradients with noise, as a previous step leaves them; return them."""
    stale = []
    for p in module.parameters():
        p.grad = 0.5 * torch.randn(p.shape, generator=g)
        stale.append(p.grad.clone())
    return stale


def _check_update(who: str, module: nn.Module, before, grads, stale, lr: float,
                  alternatives=(), no_gradient: str = "") -> None:
    """Fail with the likely reason unless ``module`` moved by one SGD step ``-lr * grads``."""
    __tracebackhide__ = True
    got = _snapshot(module)
    if _same_tensors(got, [p - lr * g for p, g in zip(before, grads, strict=True)]):
        return
    if _same_tensors(got, before, rtol=0, atol=0):
        if no_gradient and all(p.grad is None or not p.grad.abs().max() > 0
                               for p in module.parameters()):
            fail(no_gradient)
        fail(f"{who}'s parameters did not change: call optimizer.zero_grad(), loss.backward() "
             "and optimizer.step(), in this order")
    if _same_tensors(got, [p - lr * (g + s) for p, g, s in zip(before, grads, stale, strict=True)]):
        fail(f"call optimizer.zero_grad() before loss.backward(): {who} still held the gradients "
             "of the previous step, and they were added to this step's")
    if _same_tensors(got, [p + lr * g for p, g in zip(before, grads, strict=True)]):
        fail(f"descend {who}'s loss: backpropagate the loss itself, not its negative ({who} "
             "moved uphill)")
    for other_grads, hint in alternatives:
        if _same_tensors(got, [p - lr * g for p, g in zip(before, other_grads, strict=True)]):
            fail(hint)
    fail(f"{who}'s update is not one optimizer step on its loss: check the loss (does it pass "
         "its check?) and the order optimizer.zero_grad(), loss.backward(), optimizer.step()")


def _check_returned_loss(name: str, out, expected: float) -> None:
    __tracebackhide__ = True
    if out is None:
        fail(f"{name} must return the loss of this step as a number (loss.item())")
    value = _number(out, name)
    if not _close(value, expected, rel=1e-4):
        fail(f"{name} must return the loss computed in this step (loss.item(), before the update)",
             f"returned {value:.6g}; the loss was {expected:.6g}")


@evidence.graded
def check_discriminator_step(fn: Callable[..., object], *, seed: int = 0) -> None:
    """Check ``fn(G, D, optimizer, x_real, z)``: one update of D, G untouched.

    On fresh fakes ``G(z)`` that are detached from G, D takes one optimizer step on
    ``discriminator_loss(D(x_real), D(fake))`` (gradients cleared first) and the loss is
    returned as a number; G's parameters neither change nor receive gradients.
    Checked against one step of SGD from :func:`ganlab.gan.discriminator_step`.
    """
    __tracebackhide__ = True
    name = _name(fn, "discriminator_step")
    m, lr = 16, 0.1
    g = torch.Generator().manual_seed(seed)
    G, D = _players(seed)
    x_real = 0.5 * torch.randn(m, 2, generator=g) + 1.0
    z = torch.randn(m, G.latent_dim, generator=g)
    D_ref = copy.deepcopy(D)
    loss = discriminator_loss(D_ref(x_real), D_ref(G(z).detach()))
    grads = torch.autograd.grad(loss, list(D_ref.parameters()))
    stale = _stale_gradients(D, g)
    D_before, G_before = _snapshot(D), _snapshot(G)
    inputs_before = (x_real.clone(), z.clone())
    optimizer = torch.optim.SGD(D.parameters(), lr=lr)
    out = call(f"{name}(G, D, optimizer, x_real, z)", fn, G, D, optimizer, x_real, z, name=name)
    if not (torch.equal(x_real, inputs_before[0]) and torch.equal(z, inputs_before[1])):
        fail(f"{name} must not modify x_real or z in place")
    if not _same_tensors(_snapshot(G), G_before, rtol=0, atol=0):
        fail(f"{name} changed G's parameters: the discriminator's step updates D only")
    if any(p.grad is not None and p.grad.abs().max() > 0 for p in G.parameters()):
        fail("detach the fakes: compute them with G(z).detach() (or under torch.no_grad()) so "
             "that D's loss does not backpropagate into G",
             "after the step G's parameters held gradients of D's loss")
    _check_update("D", D, D_before, grads, stale, lr)
    _check_returned_loss(name, out, loss.item())


@evidence.graded
def check_generator_step(fn: Callable[..., object], *, seed: int = 0) -> None:
    """Check ``fn(G, D, optimizer, z, kind)``: one update of G through D, D untouched.

    G takes one optimizer step on ``generator_loss(D(G(z)), kind)`` (gradients cleared
    first; the gradient flows back through D, which is not stepped) and the loss is
    returned as a number. Checked for both kinds against one step of SGD.
    """
    __tracebackhide__ = True
    name = _name(fn, "generator_step")
    m, lr = 16, 0.1
    for kind, other in (("non_saturating", "minimax"), ("minimax", "non_saturating")):
        g = torch.Generator().manual_seed(seed)
        G, D = _players(seed)
        z = torch.randn(m, G.latent_dim, generator=g)
        G_ref = copy.deepcopy(G)
        loss = generator_loss(D(G_ref(z)), kind)
        grads = torch.autograd.grad(loss, list(G_ref.parameters()))
        other_grads = torch.autograd.grad(generator_loss(D(G_ref(z)), other),
                                          list(G_ref.parameters()))
        D.zero_grad(set_to_none=True)
        stale = _stale_gradients(G, g)
        D_before, G_before = _snapshot(D), _snapshot(G)
        optimizer = torch.optim.SGD(G.parameters(), lr=lr)
        out = call(f"{name}(G, D, optimizer, z, kind={kind!r})", fn, G, D, optimizer, z, kind,
                   name=name, hints={"does not require grad": "do not detach the fakes in the "
                                     "generator's step: G learns only from the gradient that "
                                     "flows back through D (no .detach(), no torch.no_grad())"})
        if not _same_tensors(_snapshot(D), D_before, rtol=0, atol=0):
            fail(f"{name} must not change D's parameters: G's loss backpropagates through D (D's "
                 "parameters get gradients) but only G's optimizer steps")
        if not all(p.requires_grad for p in D.parameters()):
            fail("leave D's parameters trainable: restore requires_grad=True after the generator's "
                 "step (or leave it alone: stepping only G's optimizer already keeps D fixed)")
        _check_update("G", G, G_before, grads, stale, lr, alternatives=[
            (other_grads, f"pass kind on to generator_loss: with kind={kind!r} G moved as with "
             f"the {other} loss")], no_gradient="G's parameters got no gradient: do not detach "
            "the fakes in the generator's step (no .detach(), no torch.no_grad()): G learns only "
            "from the gradient that flows back through D")
        _check_returned_loss(f"{name}(..., kind={kind!r})", out, loss.item())


class _LoggedSGD(torch.optim.SGD):
    """SGD that notes each ``step()`` in a shared log, with what it sees at that moment."""

    def __init__(self, params, lr: float, log: list, tag: str, watched: nn.Module):
        super().__init__(params, lr=lr)
        self.log, self.tag, self.watched = log, tag, watched

    def step(self, closure=None):
        leaked = any(p.grad is not None and p.grad.abs().max() > 0
                     for p in self.watched.parameters())
        self.log.append((self.tag, leaked))
        return super().step(closure)


@evidence.graded
def check_gan_iteration(fn: Callable[..., object], *, seed: int = 0) -> None:
    """Check ``fn(G, D, opt_d, opt_g, sample_real, sample_noise, k, m, kind)``: Algorithm 1.

    One iteration: ``k`` discriminator steps, each on a fresh minibatch ``sample_real(m)``
    and fresh noise ``sample_noise(m)`` (fakes detached), then one generator step on
    fresh noise through D, which must not be stepped. It returns
    ``{"d_loss": mean of the k discriminator losses, "g_loss": the generator's loss}``.
    The calls are logged and replayed with the reference steps of :mod:`ganlab.gan`.
    """
    __tracebackhide__ = True
    name = _name(fn, "gan_iteration")
    m, lr = 8, 0.05
    for k, kind in ((3, "non_saturating"), (1, "minimax")):
        G, D = _players(seed + k)
        G_start, D_start = copy.deepcopy(G), copy.deepcopy(D)
        log: list = []
        data_g = torch.Generator().manual_seed(seed + 10 * k)
        noise_g = torch.Generator().manual_seed(seed + 10 * k + 1)

        def sample_real(size, data_g=data_g, log=log):
            batch = 0.5 * torch.randn(int(size), 2, generator=data_g) + 1.0
            log.append(("real", batch))
            return batch

        def sample_noise(size, noise_g=noise_g, log=log, latent_dim=G.latent_dim):
            batch = torch.randn(int(size), latent_dim, generator=noise_g)
            log.append(("noise", batch))
            return batch

        opt_d = _LoggedSGD(D.parameters(), lr, log, "d_step", watched=G)
        opt_g = _LoggedSGD(G.parameters(), lr, log, "g_step", watched=G)
        out = call(f"{name}(G, D, opt_d, opt_g, sample_real, sample_noise, k={k}, m={m}, "
                   f"kind={kind!r})", fn, G, D, opt_d, opt_g, sample_real, sample_noise, k, m, kind,
                   name=name)
        _check_iteration_log(log, k, m)

        # replay the same minibatches with the reference steps, on copies of the start
        reals = [b for tag, b in log if tag == "real"]
        noises = [b for tag, b in log if tag == "noise"]
        ref_d = torch.optim.SGD(D_start.parameters(), lr=lr)
        ref_g = torch.optim.SGD(G_start.parameters(), lr=lr)
        G_other, D_other = copy.deepcopy(G_start), copy.deepcopy(D_start)  # for the other kind
        d_losses = [reference_discriminator_step(G_start, D_start, ref_d, reals[j], noises[j])["d_loss"]
                    for j in range(k)]
        if not _same_tensors(_snapshot(D), _snapshot(D_start)):
            fail(f"after the iteration D differs from {k} discriminator step(s) on the fresh "
                 "minibatches: call your discriminator_step (does it pass its check?) with "
                 "x_real = sample_real(m) and z = sample_noise(m), once per step")
        g_loss = reference_generator_step(G_start, D_start, ref_g, noises[k], kind)["g_loss"]
        if not _same_tensors(_snapshot(G), _snapshot(G_start)):
            other = "minimax" if kind == "non_saturating" else "non_saturating"
            ref_d_other = torch.optim.SGD(D_other.parameters(), lr=lr)
            for j in range(k):
                reference_discriminator_step(G_other, D_other, ref_d_other, reals[j], noises[j])
            reference_generator_step(G_other, D_other, torch.optim.SGD(G_other.parameters(), lr=lr),
                                     noises[k], other)
            if _same_tensors(_snapshot(G), _snapshot(G_other)):
                fail(f"pass kind on to generator_step: with kind={kind!r} G moved as with the "
                     f"{other} loss")
            fail("after the iteration G differs from one generator_step(G, D, opt_g, "
                 "sample_noise(m), kind) taken after the discriminator steps: call your "
                 "generator_step (does it pass its check?)")
        if not isinstance(out, Mapping) or not {"d_loss", "g_loss"} <= set(out):
            fail(f"{name} must return a dict {{'d_loss': mean of the k discriminator losses, "
                 f"'g_loss': the generator's loss}}, got {type(out).__name__}")
        d_value, g_value = _number(out["d_loss"], "d_loss"), _number(out["g_loss"], "g_loss")
        if not _close(d_value, sum(d_losses) / k, rel=1e-4):
            fail("'d_loss' must be the mean of the k discriminator losses of the iteration",
                 f"got {d_value:.6g}; the losses were {_fmt(torch.tensor(d_losses))}")
        if not _close(g_value, g_loss, rel=1e-4):
            fail("'g_loss' must be the loss of the generator's step",
                 f"got {g_value:.6g}; expected {g_loss:.6g}")


def _check_iteration_log(log: list, k: int, m: int) -> None:
    """The order of sampling and optimizer steps in one iteration of Algorithm 1."""
    __tracebackhide__ = True
    tags = [tag for tag, _ in log]
    d_steps = [i for i, tag in enumerate(tags) if tag == "d_step"]
    g_steps = [i for i, tag in enumerate(tags) if tag == "g_step"]
    if not d_steps:
        fail(f"take k = {k} discriminator step(s) before the generator's step: call "
             "discriminator_step k times (opt_d never stepped)")
    if not g_steps:
        fail("update the generator once per iteration, after the k discriminator steps: call "
             "generator_step(G, D, opt_g, sample_noise(m), kind) (opt_g never stepped)")
    if len(g_steps) > 1:
        fail(f"take one generator step per iteration, after the k discriminator steps (got "
             f"{len(g_steps)})")
    after = [i for i in d_steps if i > g_steps[0]]
    if after:
        if len(d_steps) - len(after) == k:
            fail("the generator's step must not update D: after the generator's loss only opt_g "
                 "steps (opt_d.step() there moves D with the generator's gradients)")
        fail("take the k discriminator steps first, then the generator's step (Algorithm 1)")
    if len(d_steps) != k:
        fail(f"take exactly k = {k} discriminator step(s) per iteration, got {len(d_steps)}")
    if any(leaked for tag, leaked in log if tag == "d_step"):
        fail("detach the fakes in the discriminator's steps: G(z).detach() (or torch.no_grad()), "
             "so that D's loss does not backpropagate into G",
             "G's parameters held gradients when opt_d stepped")
    reals = [b for tag, b in log if tag == "real"]
    noises = [b for tag, b in log if tag == "noise"]
    sizes = sorted({len(b) for b in reals + noises})
    if sizes != [m]:
        fail(f"draw minibatches of m = {m}: sample_real(m) and sample_noise(m), one per step "
             f"(got sizes {sizes})")
    if len(reals) != k:
        fail(f"draw a fresh minibatch of real data for each of the k discriminator steps: call "
             f"sample_real(m) once per step, inside the loop ({len(reals)} call(s) for k = {k})")
    if len(noises) < k + 1 and len(noises) >= k:
        fail("draw fresh noise for the generator's step: call sample_noise(m) again after the "
             "discriminator steps (Algorithm 1 samples new z for G)")
    if len(noises) != k + 1:
        fail(f"draw fresh noise z = sample_noise(m) for each of the k discriminator steps and "
             f"once more for the generator's step: k + 1 = {k + 1} calls, got {len(noises)}")


@evidence.graded
def check_trained_gan(train: Callable[[], nn.Module], target: toy.GaussianMixture2D, *,
                      min_modes: int, min_quality: float, n: int = 2000,
                      seed: int = 0) -> tuple[nn.Module, dict]:
    """Run ``train()`` and check that the generator it returns reproduces ``target``.

    ``n`` samples ``G(z)``, ``z ~ N(0, I)`` from a seeded generator, are measured with
    ``target.mode_coverage``: at least ``min_quality`` of them must lie within 3 standard
    deviations of a mode, and at least ``min_modes`` modes must be covered. Returns the
    generator and the coverage dict.
    """
    __tracebackhide__ = True
    G, latent_dim = _trained_generator(train)
    with evaluating(G):
        z = toy.noise(n, latent_dim, generator=torch.Generator().manual_seed(seed))
        fake = call("G(z)", G, z, name="G")
    if _shape(fake) != (n, 2):
        fail(f"G(z) must return 2-D points, shape (n, 2) = {(n, 2)}, got {_shape(fake)}")
    if not torch.isfinite(fake).all():
        fail("G(z) contains NaN or inf: training diverged (check the losses and the learning rate)")
    coverage = target.mode_coverage(fake)
    quality, covered = coverage["high_quality_fraction"], coverage["modes_covered"]
    details = (f"modes covered: {covered} of {target.n_modes}; high-quality samples "
               f"{quality:.0%}; per mode {coverage['counts'].tolist()}")
    if quality < min_quality:
        fail(f"only {quality:.0%} of G's samples lie near the data (within 3 standard deviations "
             f"of a mode), expected at least {min_quality:.0%}: the generator did not learn; "
             "check gan_iteration (k discriminator steps, then one generator step)", details)
    if covered < min_modes:
        fail(f"G covers {covered} of the {target.n_modes} modes, expected at least {min_modes}: "
             "its samples collapsed onto too few modes; check gan_iteration and the generator "
             "loss (non-saturating)", details)
    return G, coverage


