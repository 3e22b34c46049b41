"""Checks of Unit 02 (the VAE and the ELBO).

See :mod:`ganlab.checks` for how the checks teach and how the grader uses them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.checks.common import (
    IMAGE_SHAPE,
    _first_match,
    _fmt,
    _name,
    _shape,
    _tensor,
    _trained_module,
    call,
    fail,
)
from ganlab.checks.unit01 import _require_scalar
from ganlab.grading import evidence
from ganlab.losses import (
    LOG_2PI,
    bernoulli_log_likelihood,
    gaussian_kl,
    reparameterize,
)
from ganlab.models.linear_gaussian import LinearGaussian

# --- Unit 02: the VAE and the ELBO --------------------------------------------------------

# q's parameters in check_reparameterize: sigma = exp(logvar / 2), sigma^2 and |logvar|
# differ by more than 20 % in every dimension, so each confusion has its own signature
_LATENT_MU = (0.5, -1.0, 2.0, 0.0)
_LATENT_LOGVAR = (1.5, -1.0, 0.5, -2.0)


@evidence.graded
def check_reparameterize(fn: Callable[..., torch.Tensor], *, seed: int = 0) -> None:
    """Check ``fn(mu, logvar, generator=None)``: ``z = mu + exp(logvar / 2) * eps``.

    ``eps ~ N(0, I)`` has the shape of ``mu`` and is drawn from ``generator``; ``z`` is
    differentiable in ``mu`` and ``logvar`` (``dz/dmu = 1``, ``dz/dlogvar = (z - mu) / 2``).
    Checked by the statistics of ``z - mu`` per latent dimension, the reproducibility
    given a generator, and the gradients, so any way of drawing ``eps`` is accepted.
    """
    __tracebackhide__ = True
    name = _name(fn, "reparameterize")
    n = 4000
    mu_row, logvar_row = torch.tensor(_LATENT_MU), torch.tensor(_LATENT_LOGVAR)
    sigma = torch.exp(0.5 * logvar_row)

    def run(noise_seed, mu, logvar):
        before = (mu.detach().clone(), logvar.detach().clone())
        generator = torch.Generator().manual_seed(noise_seed)
        out = _tensor(call(f"{name}(mu, logvar, generator)", fn, mu, logvar, generator,
                           name=name, hints={"must match the size": "draw eps with the shape "
                                             "of mu: torch.randn(mu.shape, generator=generator)"}),
                      name)
        if not (torch.equal(mu.detach(), before[0]) and torch.equal(logvar.detach(), before[1])):
            fail(f"{name} must not modify mu or logvar in place: return a new tensor "
                 "mu + sigma * eps")
        if _shape(out) != _shape(mu):
            fail(f"{name} must return z of the shape of mu, (N, latent_dim) = {_shape(mu)}, got "
                 f"{_shape(out)}: draw eps with torch.randn(mu.shape, generator=generator)")
        return out

    mu = mu_row.repeat(n, 1).requires_grad_(True)
    logvar = logvar_row.repeat(n, 1).requires_grad_(True)
    z = run(seed + 1, mu, logvar)
    noise = z.detach() - mu_row
    if not torch.isfinite(noise).all():
        fail("z contains NaN or inf: sigma = exp(logvar / 2) exists for every logvar; do not "
             "take the square root or the log of logvar itself")
    if noise.abs().max() < 1e-6:
        fail(f"{name} returned mu: add the noise, z = mu + sigma * eps with eps ~ N(0, I)")
    spread = noise.std(dim=0)
    if spread.max() < 1e-6:
        fail("draw a different eps for every example: torch.randn(mu.shape, generator=generator), "
             "not one eps shared by the whole batch")
    standardized = noise / sigma
    if (standardized[:, 0] - standardized[:, 1]).abs().max() < 1e-5:
        fail("draw one eps per latent dimension: eps must have the shape of mu "
             "(torch.randn(mu.shape, generator=generator)), not one number per example")
    if (noise.mean(dim=0).abs() > 0.1 * spread).any():  # 6 standard errors for N(0, I)
        fail("eps ~ N(0, I) has mean 0: draw it with torch.randn, not torch.rand (uniform on [0, 1))",
             f"mean of z - mu per dimension: {_fmt(noise.mean(dim=0))}")
    details = (f"standard deviation of z - mu per dimension: {_fmt(spread)}; expected "
               f"sigma = exp(logvar / 2) = {_fmt(sigma)} for logvar = {_fmt(logvar_row)}")
    if not ((spread / sigma - 1).abs() < 0.08).all():
        for scale, hint in [
            (logvar_row.abs(), "logvar is the log-variance log sigma^2, not the standard "
             "deviation: multiply eps by sigma = exp(logvar / 2)"),
            (torch.exp(logvar_row), "exp(logvar) is the variance sigma^2: multiply eps by the "
             "standard deviation sigma = exp(logvar / 2)"),
            (torch.exp(-0.5 * logvar_row), "sigma = exp(+logvar / 2): you multiplied eps by "
             "exp(-logvar / 2) = 1 / sigma"),
            (torch.ones(len(sigma)), "multiply eps by sigma = exp(logvar / 2): each latent "
             "dimension has its own standard deviation"),
        ]:
            if ((spread / scale - 1).abs() < 0.08).all():
                fail(hint, details)
        fail("z - mu must have standard deviation sigma = exp(logvar / 2) in every dimension: "
             "z = mu + exp(logvar / 2) * eps", details)

    if not torch.equal(z.detach(), run(seed + 1, mu, logvar).detach()):
        fail("draw eps from the generator argument (torch.randn(mu.shape, generator=generator)): "
             "the same generator state must give the same z")
    if torch.equal(z.detach(), run(seed + 2, mu, logvar).detach()):
        fail(f"different generators must give different z: do not seed inside {name}, use the "
             "generator it receives")
    with torch.random.fork_rng(devices=[]):  # generator=None: PyTorch's global generator
        call(f"{name}(mu, logvar)", fn, mu[:3].detach(), logvar[:3].detach(), name=name)

    if not z.requires_grad:
        fail("z must be differentiable in mu and logvar: compute z = mu + sigma * eps from them "
             "(no .detach(), torch.no_grad() or .item())")
    weights = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed + 3))
    call(f"{name}(mu, logvar).backward()", (z * weights).sum().backward, name=name)
    no_gradient = [t for t, g in (("mu", mu.grad), ("logvar", logvar.grad))
                   if g is None or not g.abs().max() > 0]
    if len(no_gradient) == 2:
        fail("no gradient reaches mu and logvar: write z = mu + torch.exp(0.5 * logvar) * eps "
             "yourself (torch.normal(mu, sigma) and Normal(...).sample() cut the graph: that is "
             "what the trick avoids)")
    if no_gradient:
        fail(f"no gradient reaches {no_gradient[0]}: compute z = mu + torch.exp(0.5 * logvar) * eps "
             "from mu and logvar themselves (no .detach() on either)")
    if not torch.allclose(mu.grad, weights, rtol=1e-4, atol=1e-6):
        fail("dz/dmu must be 1: z = mu + sigma * eps adds mu once, unscaled")
    if not torch.allclose(logvar.grad, 0.5 * weights * noise, rtol=1e-3, atol=1e-5):
        fail("dz/dlogvar must be (z - mu) / 2: compute sigma = exp(logvar / 2) from logvar "
             "inside the graph, and eps without it")


@evidence.graded
def check_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                      seed: int = 0) -> None:
    """Check ``fn(mu, logvar)``: ``KL(N(mu, diag exp(logvar)) || N(0, I))`` per example.

    ``1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)``, shape ``(N,)``, differentiable,
    as :func:`ganlab.losses.gaussian_kl`.
    """
    __tracebackhide__ = True
    name = _name(fn, "gaussian_kl")
    n, d = 6, 3
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn((n, d), generator=g).requires_grad_(True)
    logvar = (0.8 * torch.randn((n, d), generator=g)).requires_grad_(True)
    logvar.data[0, 0] = -1.0  # at least one sigma < 1 and one sigma > 1
    logvar.data[0, 1] = 1.0
    before = (mu.detach().clone(), logvar.detach().clone())
    out = _tensor(call(f"{name}(mu, logvar)", fn, mu, logvar, name=name), name)
    if not (torch.equal(mu.detach(), before[0]) and torch.equal(logvar.detach(), before[1])):
        fail(f"{name} must not modify mu or logvar in place")
    expected = gaussian_kl(mu, logvar).detach()
    if _shape(out) != (n,):
        if out.numel() == 1:
            fail(f"{name} must return one KL per example, shape (N,) = {(n,)}: sum over the "
                 "latent dimensions only (the loss averages over the batch later)",
                 f"got one number, {out.item():.6g}")
        if _shape(out) == (n, d):
            fail(f"sum over the latent dimensions: {name} must return shape (N,) = {(n,)}, got "
                 f"{_shape(out)} (one term per dimension)")
        fail(f"{name} must return one KL per example, shape (N,) = {(n,)}, got {_shape(out)}")
    value = out.detach()
    if not torch.isfinite(value).all():
        fail(f"{name} returned NaN or inf: logvar is already log sigma^2, so use exp(logvar) for "
             "sigma^2 and logvar itself for log sigma^2 (no log or square root of logvar)")
    if not torch.allclose(value, expected, rtol=1e-4, atol=1e-6):
        with torch.no_grad():
            m2, lv = mu.pow(2), logvar

            def kl(terms):
                return 0.5 * terms.sum(dim=1)

            mistakes = [
                (-expected, "the KL divergence is never negative: you flipped its sign; "
                 "KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)"),
                (kl(m2 + lv.pow(2) - 1 - torch.log(lv.pow(2))), "logvar is log sigma^2, not "
                 "sigma: sigma^2 = exp(logvar) and log sigma^2 = logvar"),
                (kl(m2 + lv.exp().pow(2) - 1 - 2 * lv), "exp(logvar) is already the variance "
                 "sigma^2: do not square it (and log sigma^2 = logvar, not 2 logvar)"),
                (kl(m2 + lv.exp().pow(2) - 1 - lv), "exp(logvar) is already the variance "
                 "sigma^2: do not square it"),
                (kl(m2 + (0.5 * lv).exp() - 1 - lv), "sigma^2 = exp(logvar), not exp(logvar / 2) "
                 "(that is the standard deviation sigma)"),
                (kl(m2 + (0.5 * lv).exp() - 1 - 0.5 * lv), "sigma^2 = exp(logvar) and log "
                 "sigma^2 = logvar: you used the standard deviation sigma in place of the variance"),
                (2 * expected, "multiply by 1/2: KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)"),
                (expected / d, "sum over the latent dimensions, do not average them"),
                (expected + d / 2, "subtract 1 for every latent dimension: "
                 "KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)"),
                (expected - d / 2, "the -1 is inside the sum: subtract 1 for every latent "
                 "dimension, 1/2 per dimension in all"),
                (kl(lv.exp() - 1 - lv), "include the mean: the term mu_j^2 pulls the codes "
                 "towards 0"),
                (kl(m2 + lv.exp() - 1 + lv), "subtract log sigma^2 = logvar, do not add it"),
                (kl((1 + m2) * torch.exp(-lv) - 1 + lv), "this is KL(p(z) || q), the reverse: the "
                 "VAE's regulariser is KL(q(z|x) || p(z)) = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - "
                 "log sigma_j^2)"),
            ]
        hint = _first_match(value, mistakes)
        details = f"{name} returned {_fmt(value)}; expected {_fmt(expected)}"
        fail(hint or f"{name} differs from 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)",
             details)
    zeros = torch.zeros(2, d)
    at_prior = _tensor(call(f"{name}(0, 0)", fn, zeros, zeros.clone(), name=name), name)
    if at_prior.detach().abs().max() > 1e-6:
        fail("KL(q || p) must be 0 when q = p: mu = 0 and logvar = 0 must give 0")
    if not out.requires_grad:
        fail(f"{name} is not differentiable: compute it with torch operations on mu and logvar "
             "(no .item(), .detach(), NumPy or torch.no_grad())")
    call(f"{name}(mu, logvar).sum().backward()", out.sum().backward, name=name)
    if mu.grad is None or logvar.grad is None \
            or not torch.allclose(mu.grad, mu.detach(), rtol=1e-4, atol=1e-6) \
            or not torch.allclose(logvar.grad, 0.5 * (logvar.detach().exp() - 1), rtol=1e-4, atol=1e-6):
        fail(f"the gradient of {name} is wrong: d/dmu must be mu and d/dlogvar (exp(logvar) - 1) / 2")


@evidence.graded
def check_vae_loss(fn: Callable[..., torch.Tensor], *, seed: int = 0) -> None:
    """Check ``fn(logits, x, mu, logvar)``: the negative ELBO of a Bernoulli VAE.

    ``mean over the batch of [ -log p(x|z) + KL(q(z|x) || p(z)) ]`` with
    ``-log p(x|z) = sum over pixels of BCE(logits, x)`` (the decoder's logits, binary
    ``x``) and the closed-form KL, as a differentiable 0-d tensor.
    """
    __tracebackhide__ = True
    name = _name(fn, "the VAE loss")
    n, d = 5, 4
    g = torch.Generator().manual_seed(seed)
    logits = (2.0 * torch.randn((n, *IMAGE_SHAPE), generator=g) - 1.0).requires_grad_(True)
    x = (torch.rand((n, *IMAGE_SHAPE), generator=g) < 0.3).float()
    mu = torch.randn((n, d), generator=g).requires_grad_(True)
    logvar = (0.6 * torch.randn((n, d), generator=g)).requires_grad_(True)
    inputs = (logits, x, mu, logvar)
    before = [t.detach().clone() for t in inputs]
    out = _tensor(call(f"{name}(logits, x, mu, logvar)", fn, *inputs, name=name, hints={
        "between 0 and 1": "the decoder returns logits, not probabilities: use "
        "F.binary_cross_entropy_with_logits(logits, x, reduction='none') (it applies the "
        "sigmoid itself)"}), name)
    if not all(torch.equal(t.detach(), b) for t, b in zip(inputs, before, strict=True)):
        fail(f"{name} must not modify its inputs in place")
    _require_scalar(out, n, name, "average -log p(x|z) + KL over the batch")
    value = out.detach().reshape(())

    with torch.no_grad():
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
        kl = gaussian_kl(mu, logvar)
        expected = (bce.sum(1) + kl).mean()
        squared_var_kl = 0.5 * (mu.pow(2) + logvar.exp().pow(2) - 1 - 2 * logvar).sum(1)
        std_kl = 0.5 * (mu.pow(2) + logvar.pow(2) - 1 - torch.log(logvar.pow(2))).sum(1)
        twice = F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x, reduction="none")
        # each component of the loss, right (hint None) or with one typical mistake
        components = [
            [(1.0, None), (-1.0, "return the negative ELBO, the loss to minimise: "
                           "-log p(x|z) + KL, averaged over the batch (you returned the ELBO)")],
            [(bce.sum(1), None),
             (bce.mean(1), "sum the reconstruction term over the pixels: log p(x|z) is a sum "
              "over all 784 pixels (binary_cross_entropy_with_logits(..., reduction='none') "
              "summed per image; the default reduction='mean' averages them)"),
             (twice.flatten(1).sum(1), "apply the sigmoid only once: "
              "binary_cross_entropy_with_logits takes the decoder's logits and applies the "
              "sigmoid itself"),
             (-bce.sum(1), "the reconstruction term of the loss is -log p(x|z) = +BCE summed "
              "over the pixels: you flipped its sign")],
            [(kl, None),
             (torch.zeros(n), "add the KL term KL(q(z|x) || p(z)) (your gaussian_kl(mu, "
              "logvar)): without it this is an autoencoder's loss"),
             (-kl, "add the KL, do not subtract it: -ELBO = -log p(x|z) + KL(q(z|x) || p(z))"),
             (squared_var_kl, "the KL term is wrong: use gaussian_kl(mu, logvar) from task 2 "
              "(exp(logvar) is already the variance)"),
             (std_kl, "the KL term is wrong: use gaussian_kl(mu, logvar) from task 2 (logvar "
              "is the log-variance, not the standard deviation)")],
            [("mean", None), ("sum", "average the reconstruction term over the batch, do not "
                              "sum it: reduction='sum' adds up the whole batch")],
            [("mean", None), ("sum", "average the KL over the batch, do not sum it")],
        ]
        best = None
        for combo in itertools.product(*components):
            (sign, _), (rec, _), (kl_term, _), (rec_red, _), (kl_red, _) = combo
            total = (rec.sum() if rec_red == "sum" else rec.mean()) \
                + (kl_term.sum() if kl_red == "sum" else kl_term.mean())
            if math.isclose(value.item(), sign * total.item(), rel_tol=1e-4, abs_tol=1e-4):
                hints = [h for _, h in combo if h is not None]
                if best is None or len(hints) < len(best):
                    best = hints
    details = f"{name} returned {value.item():.6g}; expected {expected.item():.6g}"
    if best:  # a non-empty list: the value matches a combination of mistakes
        fail(best[0], details)
    if best is None:
        fail(f"{name} differs from the mean over the batch of [BCE(logits, x) summed over "
             "pixels + KL(q(z|x) || p(z))]", details)
    if not out.requires_grad:
        fail(f"{name} is not differentiable: compute it with torch operations (no .item(), "
             ".detach(), NumPy or torch.no_grad())")
    call(f"{name}(logits, x, mu, logvar).backward()", out.backward, name=name)
    want = (torch.sigmoid(logits.detach()) - x) / n
    if logits.grad is None or not torch.allclose(logits.grad, want, rtol=1e-3, atol=1e-7):
        fail(f"the gradient of {name} with respect to the logits is wrong: it must be "
             "(sigmoid(logits) - x) / N")
    if mu.grad is None or not torch.allclose(mu.grad, mu.detach() / n, rtol=1e-3, atol=1e-7):
        fail(f"the gradient of {name} with respect to mu is wrong: the KL term must depend on mu "
             "(no .detach())")


def _diagonal_linear_gaussian(seed: int) -> LinearGaussian:
    """A linear-Gaussian model whose exact posterior is diagonal (orthogonal columns of W)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(5, 2, generator=g, dtype=torch.float64))
    # posterior variances 1 / (1 + s^2) = 0.1 and 0.31, far from 1: sigma, sigma^2 and
    # sigma^4 in log q then give clearly different estimates
    W = q * torch.tensor([3.0, 1.5], dtype=torch.float64)
    return LinearGaussian(W, torch.randn(5, generator=g, dtype=torch.float64), sigma=1.0)


def _diagonal_log_q(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


@evidence.graded
def check_elbo_estimate(fn: Callable[..., torch.Tensor], *, seed: int = 0) -> None:
    """Check the Monte Carlo ELBO ``fn(log_joint, mu, logvar, n_samples, generator=None)``.

    ``mean over n_samples draws z ~ q = N(mu, diag exp(logvar)) of log p(x, z) - log q(z|x)``,
    one value per data point (shape ``(N,)``). ``log_joint(z)`` returns ``log p(x, z)`` for
    codes ``z`` of shape ``(N, latent_dim)``. Checked on a linear-Gaussian model where
    everything is exact: at the true posterior every sample gives ``log p(x)`` exactly;
    for another ``q`` the estimate must agree with the closed-form ELBO.
    """
    __tracebackhide__ = True
    name = _name(fn, "elbo_estimate")
    model = _diagonal_linear_gaussian(seed)
    g = torch.Generator().manual_seed(seed + 1)
    x, _ = model.sample(4, generator=g)
    n, d = x.shape[0], model.d

    def log_joint(z):
        z = torch.as_tensor(z, dtype=torch.float64)
        if z.dim() < 2 or tuple(z.shape[-2:]) != (n, d):
            raise ValueError(f"log_joint takes codes z of shape (N, latent_dim) = {(n, d)}, got "
                             f"{tuple(z.shape)}")
        mean = z @ model.W.T + model.b
        log_lik = -0.5 * (((x - mean) / model.sigma).pow(2)
                          + math.log(2 * math.pi * model.sigma**2)).sum(-1)
        return log_lik - 0.5 * (z.pow(2) + LOG_2PI).sum(-1)

    hints = {"log_joint takes codes z": "pass log_joint one batch of codes z of the shape of mu, "
             "(N, latent_dim), as reparameterize(mu, logvar, generator) returns them"}

    def estimate(mu, logvar, samples, noise_seed):
        out = _tensor(call(f"{name}(log_joint, mu, logvar, n_samples={samples}, generator)", fn,
                           log_joint, mu, logvar, samples, torch.Generator().manual_seed(noise_seed),
                           name=name, hints=hints), name)
        if _shape(out) != (n,):
            if out.numel() == 1:
                fail(f"{name} must return one ELBO per data point, shape (N,) = {(n,)}: average "
                     "over the samples only, not over the data points")
            if _shape(out) == (samples, n):
                fail(f"average over the n_samples samples: {name} must return shape (N,) = "
                     f"{(n,)}, got {_shape(out)}")
            fail(f"{name} must return one ELBO per data point, shape (N,) = {(n,)}, got "
                 f"{_shape(out)}")
        return out.detach().double()

    # 1. at the exact posterior, log p(x, z) - log q(z|x) = log p(x) for every z
    post_mean, post_cov = model.posterior(x)
    post_logvar = torch.log(post_cov.diagonal()).expand(n, d).clone()
    log_px = model.log_marginal(x)
    est = estimate(post_mean, post_logvar, 5, seed + 2)
    if not torch.isfinite(est).all():
        fail(f"{name} returned NaN or inf: in log q(z|x) use sigma^2 = exp(logvar) and "
             "log sigma^2 = logvar (no log or square root of logvar)")
    if not torch.allclose(est, log_px, rtol=0, atol=1e-6):
        details = [f"with q = p(z|x), {name} returned {_fmt(est)}; log p(x) = {_fmt(log_px)}"]
        if torch.allclose(est, 5 * log_px, rtol=1e-6, atol=1e-6):
            fail("average over the samples, do not sum them: the ELBO is a mean over z ~ q",
                 *details)
        many_samples = 1000
        many = estimate(post_mean, post_logvar, many_samples, seed + 3)
        entropy = 0.5 * (post_logvar + LOG_2PI + 1).sum(1)  # H(q) = -E_q[log q]

        def with_log_q(variance):  # E_q[log p(x, z) - log q'(z)] for a wrong variance in q'
            expected_log_q = -0.5 * (post_logvar.exp() / variance + torch.log(variance)
                                     + LOG_2PI).sum(1)
            return log_px - entropy - expected_log_q, 0.5 * (post_logvar.exp() / variance - 1)

        # (expected value, the coefficients c_j of the value's noise sum_j c_j eps_j^2, hint)
        half = torch.full((n, d), 0.5, dtype=torch.float64)
        candidates = [
            (log_px - entropy, -half, "subtract log q(z|x): the ELBO averages log p(x, z) - "
             "log q(z|x) over z ~ q (you left out the log q term)"),
            (log_px - 2 * entropy, -2 * half, "subtract log q(z|x), do not add it: ELBO = "
             "E_q[log p(x, z) - log q(z|x)]"),
            (log_px - 0.5 * d * LOG_2PI, 0 * half, "include the constant of log q(z|x): "
             "-1/2 log(2 pi) per latent dimension"),
            (*with_log_q(torch.exp(0.5 * post_logvar)), "in log q(z|x) the variance is sigma^2 = "
             "exp(logvar): exp(logvar / 2) is the standard deviation sigma"),
            (*with_log_q(torch.exp(2 * post_logvar)), "in log q(z|x) the variance is sigma^2 = "
             "exp(logvar): do not square it"),
            (*with_log_q(post_logvar.pow(2)), "logvar is log sigma^2, not sigma: in log q(z|x) "
             "use sigma^2 = exp(logvar) and log sigma^2 = logvar"),
        ]
        for wrong, coefficients, hint in candidates:
            standard_error = (2 * coefficients.pow(2).sum(1) / many_samples).sqrt()
            if ((many - wrong).abs() < 5 * standard_error + 0.02).all():
                fail(hint, *details)
        fail("at the true posterior every sample gives log p(x, z) - log q(z|x) = log p(x) "
             "exactly, but yours did not: check log q(z|x) = -1/2 sum_j [(z_j - mu_j)^2 / "
             "sigma_j^2 + log sigma_j^2 + log 2 pi]", *details)

    # 2. another q: the estimate must agree with the closed-form ELBO within its noise
    h = torch.Generator().manual_seed(seed + 4)
    q_mean = post_mean + 0.8 * torch.randn(n, d, generator=h, dtype=torch.float64)
    q_logvar = 0.7 * torch.randn(n, d, generator=h, dtype=torch.float64)
    samples = 1000
    est = estimate(q_mean, q_logvar, samples, seed + 5)
    closed = model.elbo(x, q_mean, torch.diag_embed(q_logvar.exp()))["elbo"]
    z = reparameterize(q_mean.expand(samples, n, d).reshape(-1, d),
                       q_logvar.expand(samples, n, d).reshape(-1, d), h).reshape(samples, n, d)
    values = log_joint(z) - _diagonal_log_q(z, q_mean, q_logvar)
    standard_error = values.std(0) / math.sqrt(samples)
    if ((est - closed).abs() > 5 * standard_error + 1e-9).any():
        details = (f"with {samples} samples {name} gave {_fmt(est)}; the exact ELBO is "
                   f"{_fmt(closed)} (standard error of the estimate about {_fmt(standard_error)})")
        plugged = log_joint(q_mean) - _diagonal_log_q(q_mean, q_mean, q_logvar)
        if torch.allclose(est, plugged, rtol=1e-6, atol=1e-6):
            fail("sample the codes with reparameterize(mu, logvar, generator): plugging in z = mu "
                 "gives log p(x, mu) - log q(mu|x), not the average over z ~ q", details)
        fail(f"{name} does not estimate the ELBO E_q[log p(x, z) - log q(z|x)] for q = N(mu, "
             "diag exp(logvar)): check the sampling and log q(z|x)", details)

    # 3. the generator decides the samples
    first = estimate(q_mean, q_logvar, 3, seed + 6)
    if not torch.equal(first, estimate(q_mean, q_logvar, 3, seed + 6)):
        fail("draw the samples from the generator argument (pass it on to reparameterize): the "
             "same generator state must give the same estimate")
    if torch.equal(first, estimate(q_mean, q_logvar, 3, seed + 7)):
        fail(f"different generators must give different estimates: do not seed inside {name}")


@evidence.graded
def check_trained_vae(train: Callable[[], nn.Module], test_images: torch.Tensor, *,
                      max_loss: float, seed: int = 0) -> tuple[nn.Module, float]:
    """Run ``train()`` and check the negative ELBO of the VAE it returns on ``test_images``.

    The model needs ``encode(x) -> (mu, logvar)`` and ``decode(z) -> logits``; the test
    images are binary. The mean over the test images of ``-log p(x|z) + KL(q(z|x) || p(z))``
    (one reparameterised sample each, from a seeded generator) must be below ``max_loss``
    nats. Returns the trained model and that number.
    """
    __tracebackhide__ = True
    model = _trained_module(train, "model")
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for x in test_images.split(500):
            mu, logvar = call("model.encode(x)", model.encode, x, name="encode")
            logits = call("model.decode(z)", model.decode, reparameterize(mu, logvar, g),
                          name="decode")
            total += (gaussian_kl(mu, logvar) - bernoulli_log_likelihood(logits, x)).sum().item()
    loss = total / len(test_images)
    if not math.isfinite(loss):
        fail(f"the test negative ELBO is {loss}: training diverged (check the loss and the "
             "learning rate)")
    if loss > max_loss:
        fail(f"the test negative ELBO {loss:.1f} nats is above {max_loss}: the VAE did not learn; "
             "check train_step (optimizer.zero_grad(), loss.backward(), optimizer.step()) and "
             "that it minimises vae_loss on codes drawn with reparameterize",
             "an untrained VAE scores about 543 nats (784 log 2)")
    return model, loss


