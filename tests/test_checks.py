"""The checks of ganlab.checks pass the reference and name each typical mistake on line one."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from ganlab import checks, losses, metrics, theory, toy
from ganlab.checks import unit04
from ganlab.gan import discriminator_step, generator_step
from ganlab.losses import LOG_2PI, contractive_penalty, reconstruction_error
from ganlab.models import Autoencoder, add_noise

NOT_IMPLEMENTED = "is not implemented yet: fill in the cell marked YOUR CODE HERE"


pytestmark = pytest.mark.usefixtures("one_thread")


def first_line(check, *args, **kwargs) -> str:
    """The first line of the CheckFailed the check raises (what a grader shows)."""
    with pytest.raises(checks.CheckFailed) as info:
        check(*args, **kwargs)
    return str(info.value).splitlines()[0]


# --- the autoencoder ----------------------------------------------------------------------

class MLP(nn.Module):
    """A configurable autoencoder; each flag is one typical mistake."""

    def __init__(self, latent_dim, hidden, *, last=nn.Tanh, flatten=True, unflatten=True,
                 code_layer=True, extra_layer=False):
        super().__init__()
        enc = [nn.Flatten()] if flatten else []
        enc += [nn.Linear(784, hidden), nn.ReLU()]
        enc += [nn.Linear(hidden, latent_dim)] if code_layer else []
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, 784), last()]
        self.decoder = nn.Sequential(*dec, *([nn.Unflatten(1, (1, 28, 28))] if unflatten else []))
        if extra_layer:
            self.unused = nn.Linear(3, 3)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))


def builder(**mistake):
    return lambda latent_dim, hidden: MLP(latent_dim, hidden, **mistake)


class SkipsTheCode(MLP):
    def forward(self, x):
        return x.clamp(-1, 1)


class ForgotSuper(nn.Module):
    def __init__(self, latent_dim, hidden):
        self.encoder = nn.Linear(784, latent_dim)


class Stub(nn.Module):
    def __init__(self, latent_dim, hidden):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError()


class StubEncode(MLP):
    def __init__(self, latent_dim, hidden):
        super().__init__(latent_dim, hidden)

    def encode(self, x):
        raise NotImplementedError()


class NoForward(MLP):
    forward = nn.Module.forward


def test_autoencoder_reference_passes():
    checks.check_autoencoder(lambda latent_dim, hidden: Autoencoder(latent_dim, hidden=(hidden,)))
    checks.check_autoencoder(builder(), latent_dim=2, hidden=32, seed=3)


@pytest.mark.parametrize("make, hint", [
    (builder(last=nn.Identity), "the decoder must end with tanh: images are in [-1, 1]"),
    (builder(last=nn.Sigmoid), "the decoder must end with tanh: images are in [-1, 1]"),
    (builder(flatten=False), "encode(x) receives images (N, 1, 28, 28): flatten them"),
    (builder(unflatten=False), "decode(z) must return images of shape (N, 1, 28, 28), got (5, 784)"),
    (builder(code_layer=False), "encode(x) stops at the hidden layer"),
    (builder(extra_layer=True), "parameter unused.weight gets no gradient"),
    (lambda latent_dim, hidden: MLP(4, hidden), "encode(x) must return codes of shape (N, latent_dim)"),
    (lambda latent_dim, hidden: SkipsTheCode(latent_dim, hidden), "forward(x) must return decode(encode(x))"),
    (ForgotSuper, "call super().__init__() first"),
    (Stub, "Stub " + NOT_IMPLEMENTED),
    (StubEncode, "StubEncode.encode " + NOT_IMPLEMENTED),
    (lambda latent_dim, hidden: NoForward(latent_dim, hidden), "NoForward.forward " + NOT_IMPLEMENTED),
])
def test_autoencoder_mistakes(make, hint):
    assert first_line(checks.check_autoencoder, make).startswith(hint)


# --- the reconstruction loss --------------------------------------------------------------

def mse(x_hat, x):
    return reconstruction_error(x_hat, x).mean()


def loss_stub(x_hat, x):
    raise NotImplementedError()


def test_reconstruction_loss_reference_passes():
    checks.check_reconstruction_loss(mse)
    checks.check_reconstruction_loss(lambda x_hat, x: torch.nn.functional.mse_loss(x_hat, x), seed=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda x_hat, x: ((x_hat - x) ** 2).sum(), "use the mean, not the sum"),
    (lambda x_hat, x: ((x_hat - x) ** 2).flatten(1).sum(1).mean(), "average over the pixels too"),
    (lambda x_hat, x: (x_hat - x).abs().mean(), "square the differences: this is the mean absolute"),
    (lambda x_hat, x: (x_hat - x).mean(), "square the differences: without squaring"),
    (lambda x_hat, x: (x_hat - x).mean() ** 2, "square each difference, then average"),
    (lambda x_hat, x: (x_hat**2 - x**2).mean(), "square the difference, (x_hat - x)**2"),
    (lambda x_hat, x: ((x_hat - x) ** 2).mean().sqrt(), "do not take the square root"),
    (lambda x_hat, x: reconstruction_error(x_hat, x), "the reconstruction loss must return one number"),
    (lambda x_hat, x: mse(x_hat, x).item(), "the reconstruction loss must return a tensor, not a Python number"),
    (lambda x_hat, x: mse(x_hat.detach(), x), "the reconstruction loss is not differentiable"),
    (loss_stub, "loss_stub " + NOT_IMPLEMENTED),
])
def test_reconstruction_loss_mistakes(fn, hint):
    assert first_line(checks.check_reconstruction_loss, fn).startswith(hint)


# --- the denoising corruption -------------------------------------------------------------

def noise_stub(x, std, generator=None):
    # YOUR CODE HERE
    raise NotImplementedError()


def eps(x, generator):
    return torch.randn(x.shape, generator=generator)


def in_place(x, std, generator=None):
    x += std * eps(x, generator)
    return x.clamp_(-1, 1)


def test_add_noise_reference_passes():
    checks.check_add_noise(add_noise)
    # the same noise drawn another way is right too
    checks.check_add_noise(lambda x, std, generator=None: (
        x + torch.normal(0.0, std, x.shape, generator=generator)).clamp(-1, 1), seed=2)


@pytest.mark.parametrize("fn, hint", [
    (lambda x, std, g: x + std * eps(x, g), "clip the corrupted image to [-1, 1]"),
    (lambda x, std, g: (x + std**2 * eps(x, g)).clamp(-1, 1), "scale the noise by the standard deviation std, not the variance"),
    (lambda x, std, g: (x + eps(x, g)).clamp(-1, 1), "multiply the noise by std"),
    (lambda x, std, g: (std * eps(x, g)).clamp(-1, 1), "the noise function must return the corrupted image x + std * eps, not the noise alone"),
    (in_place, "in_place must not modify x in place"),
    (lambda x, std, g: (x + std * torch.randn(len(x), generator=g)).clamp(-1, 1), "draw eps with the shape of x"),
    (lambda x, std, g: (x + std * torch.randn(len(x), 1, 1, 1, generator=g)).clamp(-1, 1), "draw one noise value per pixel"),
    (lambda x, std, g: add_noise(x, std, g).flatten(1), "the noise function must return a tensor of the shape of x"),
    (lambda x, std, g: (x + std * torch.randn_like(x)).clamp(-1, 1), "draw the noise from the generator argument"),
    (lambda x, std, g: (x + std * torch.rand(x.shape, generator=g)).clamp(-1, 1), "the noise must have mean 0"),
    (lambda x, std, g: (x + std * eps(x, g)).clamp(0, 1), "clip to [-1, 1], not [0, 1]"),
    (lambda x, std, g: torch.tanh(x + std * eps(x, g)), "clip with .clamp(-1, 1) after adding the noise"),
    (noise_stub, "noise_stub " + NOT_IMPLEMENTED),
])
def test_add_noise_mistakes(fn, hint):
    if getattr(fn, "__name__", "") == "<lambda>":
        fn.__name__ = "the noise function"  # as a student's function would be named
    assert first_line(checks.check_add_noise, fn).startswith(hint)


# --- the contractive penalty --------------------------------------------------------------

def jacobian_rows(z, x, **grad_kwargs):
    """``[(N, D) tensor of dz_j / dx_i for each j]``, flattened per example."""
    return [torch.autograd.grad(z[:, j].sum(), x, **grad_kwargs)[0].flatten(1)
            for j in range(z.shape[1])]


def penalty_stub(z, x):
    raise NotImplementedError()


def test_contractive_penalty_reference_passes():
    checks.check_contractive_penalty(contractive_penalty)
    checks.check_contractive_penalty(lambda z, x: sum(
        r.pow(2).sum(1) for r in jacobian_rows(z, x, create_graph=True)).mean(), seed=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda z, x: sum(r.pow(2).sum(1) for r in jacobian_rows(z, x, create_graph=True)).sum(),
     "average over the batch, do not sum"),
    (lambda z, x: sum(r.sum(1) for r in jacobian_rows(z, x, create_graph=True)).mean(),
     "square the Jacobian entries"),
    (lambda z, x: sum(r.abs().sum(1) for r in jacobian_rows(z, x, create_graph=True)).mean(),
     "square the Jacobian entries"),
    (lambda z, x: sum(r.pow(2).sum(1) for r in jacobian_rows(z, x, create_graph=True)).sqrt().mean(),
     "use the squared norm ||J_f(x)||_F^2: do not take the square root"),
    (lambda z, x: torch.autograd.grad(z[:, 0].sum(), x, create_graph=True)[0].pow(2).flatten(1).sum(1).mean(),
     "sum over every code dimension j"),
    (lambda z, x: torch.autograd.grad(z.sum(), x, create_graph=True)[0].pow(2).flatten(1).sum(1).mean(),
     "differentiate each code dimension z[:, j] separately"),
    (lambda z, x: sum(r.pow(2).mean(1) for r in jacobian_rows(z, x, create_graph=True)).mean(),
     "sum the squared entries over the pixels i, do not average them"),
    (lambda z, x: sum(r.pow(2).sum(1) for r in jacobian_rows(z, x, create_graph=True)),
     "the contractive penalty must return one number: the mean over the batch"),
    (lambda z, x: sum(r.pow(2).sum(1) for r in jacobian_rows(z, x, retain_graph=True)).mean(),
     "the contractive penalty is not differentiable: pass create_graph=True"),
    (lambda z, x: sum(r.pow(2).sum(1) for r in jacobian_rows(z, x)).mean(),
     "pass create_graph=True to torch.autograd.grad"),
    (penalty_stub, "penalty_stub " + NOT_IMPLEMENTED),
])
def test_contractive_penalty_mistakes(fn, hint):
    if getattr(fn, "__name__", "") == "<lambda>":
        fn.__name__ = "the contractive penalty"
    assert first_line(checks.check_contractive_penalty, fn).startswith(hint)


# --- the training run ---------------------------------------------------------------------

def test_trained_autoencoder():
    images = torch.rand(20, 1, 28, 28) * 2 - 1
    model, error = checks.check_trained_autoencoder(lambda: nn.Identity(), images, max_error=1e-6)
    assert error == 0 and isinstance(model, nn.Identity)
    untrained = first_line(checks.check_trained_autoencoder, lambda: Autoencoder(4), images,
                           max_error=0.01)
    assert untrained.startswith("the test reconstruction error") and "train_step" in untrained

    def train_my_autoencoder():
        return Stub(4, 8)
    assert first_line(checks.check_trained_autoencoder, train_my_autoencoder, images,
                      max_error=0.1) == "Stub " + NOT_IMPLEMENTED


def test_checks_leave_global_random_state_alone():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    checks.check_autoencoder(builder())
    checks.check_add_noise(add_noise)
    checks.check_contractive_penalty(contractive_penalty)
    assert torch.equal(torch.get_rng_state(), state)


def test_a_crash_in_student_code_is_reported_as_what_was_called():
    def add_noise(x, std, generator=None):
        return x + std * undefined_name  # noqa: F821

    line = first_line(checks.check_add_noise, add_noise)
    assert line == "add_noise(x, std=1.0, generator) raised NameError: name 'undefined_name' is not defined"
    assert first_line(checks.check_add_noise, None).startswith("add_noise must be a function")


def unclipped_noise(x, std, generator=None):
    return x + std * torch.randn(x.shape, generator=generator)


KERNEL_CELLS = [
    "import torch\nfrom ganlab import checks\nfrom ganlab.models import add_noise as reference",
    "def add_noise(x, std, generator=None):\n"
    "    return x + std * torch.randn(x.shape, generator=generator)\n"
    "checks.check_add_noise(add_noise)",
    "%tb",
    "def add_noise(x, std, generator=None):\n    return x.foo\nchecks.check_add_noise(add_noise)",
    "checks.check_add_noise(reference)",
]


def test_a_failing_check_shows_its_hint_alone_in_a_notebook_and_tb_the_traceback():
    """In a real kernel a failing check's error output is ``Check failed: <hint>`` and its
    details, without traceback frames; ``%tb`` in the next cell shows the full traceback;
    the grader reads the hint from that output; a passing check shows nothing."""
    import re

    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    from ganlab.grading.run import failure_message

    with pytest.raises(checks.CheckFailed) as info:
        checks.check_add_noise(unclipped_noise)
    hint, *details = str(info.value).splitlines()
    nb = new_notebook(cells=[new_code_cell(source) for source in KERNEL_CELLS])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    setup, failed, tb, crashed, passed = nb.cells

    def error_lines(cell):
        (error,) = [o for o in cell.outputs if o.output_type == "error"]
        return error, re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback)).splitlines()

    assert setup.outputs == [] and passed.outputs == []
    error, lines = error_lines(failed)
    assert (error.ename, error.evalue) == ("CheckFailed", str(info.value))
    assert lines == [f"Check failed: {hint}", *details,
                     "(run %tb in a new cell to see the full traceback)"]
    assert failure_message("Traceback:\n\n" + "\n".join(error.traceback)) == (hint, None)

    _, full = error_lines(tb)
    assert "Traceback (most recent call last)" in "\n".join(full)
    assert any(line.startswith("File ") and "ganlab/checks/common.py" in line for line in full)

    _, lines = error_lines(crashed)
    assert lines[0] == ("Check failed: add_noise(x, std=1.0, generator) raised AttributeError: "
                        "'Tensor' object has no attribute 'foo'")
    assert lines[1] == "raised at add_noise, line 2: return x.foo"
    assert not any(line.startswith("File ") or "Traceback" in line for line in lines)


# === Unit 02: the VAE and the ELBO ===========================================================

def named(fn, name):
    """``fn`` under the name a student's function would have (hints quote it)."""
    fn.__name__ = name
    return fn


def stub_named(name):
    """A stub whose NotImplementedError is raised inside a function called ``name``."""
    namespace = {}
    exec(f"def {name}(*args, **kwargs):\n    raise NotImplementedError()", namespace)
    return namespace[name]


def eps_like(mu, generator):
    return torch.randn(mu.shape, generator=generator)


def test_reparameterize_reference_passes():
    checks.check_reparameterize(losses.reparameterize)
    # the same noise drawn another way is right too
    checks.check_reparameterize(lambda mu, logvar, generator=None: mu + torch.exp(0.5 * logvar)
                                * torch.normal(0.0, 1.0, mu.shape, generator=generator), seed=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda mu, lv, g=None: mu + lv * eps_like(mu, g), "logvar is the log-variance log sigma^2, not the standard deviation"),
    (lambda mu, lv, g=None: mu + lv.exp() * eps_like(mu, g), "exp(logvar) is the variance sigma^2"),
    (lambda mu, lv, g=None: mu + torch.exp(-lv / 2) * eps_like(mu, g), "sigma = exp(+logvar / 2)"),
    (lambda mu, lv, g=None: mu + eps_like(mu, g), "multiply eps by sigma = exp(logvar / 2)"),
    (lambda mu, lv, g=None: mu + lv.sqrt() * eps_like(mu, g), "z contains NaN or inf"),
    (lambda mu, lv, g=None: mu.clone(), "reparameterize returned mu: add the noise"),
    (lambda mu, lv, g=None: mu + torch.exp(lv / 2) * torch.rand(mu.shape, generator=g), "eps ~ N(0, I) has mean 0"),
    (lambda mu, lv, g=None: mu + torch.exp(lv / 2) * torch.randn(len(mu), 1, generator=g), "draw one eps per latent dimension"),
    (lambda mu, lv, g=None: mu + torch.exp(lv / 2) * torch.randn(mu.shape[1], generator=g), "draw a different eps for every example"),
    (lambda mu, lv, g=None: mu + torch.exp(lv / 2) * torch.randn(3, generator=g), "draw eps with the shape of mu"),
    (lambda mu, lv, g=None: mu + torch.exp(lv / 2) * torch.randn_like(mu), "draw eps from the generator argument"),
    (lambda mu, lv, g=None: mu + torch.exp(lv / 2) * eps_like(mu, torch.Generator().manual_seed(0)), "different generators must give different z"),
    (lambda mu, lv, g=None: torch.normal(mu, torch.exp(lv / 2), generator=g), "no gradient reaches mu and logvar"),
    (lambda mu, lv, g=None: mu + torch.exp(lv.detach() / 2) * eps_like(mu, g), "no gradient reaches logvar"),
    (lambda mu, lv, g=None: (mu + torch.exp(lv / 2) * eps_like(mu, g)).detach(), "z must be differentiable in mu and logvar"),
    (lambda mu, lv, g=None: (mu + torch.exp(lv / 2) * eps_like(mu, g))[:, :2], "reparameterize must return z of the shape of mu"),
    (lambda mu, lv, g=None: mu.detach().add_(torch.exp(lv / 2) * eps_like(mu, g)),
     "reparameterize must not modify mu or logvar in place"),
    (stub_named("reparameterize"), "reparameterize " + NOT_IMPLEMENTED),
])
def test_reparameterize_mistakes(fn, hint):
    assert first_line(checks.check_reparameterize, named(fn, "reparameterize")).startswith(hint)


def kl_terms(terms):
    return 0.5 * terms.sum(1)


def test_gaussian_kl_reference_passes():
    checks.check_gaussian_kl(losses.gaussian_kl)
    checks.check_gaussian_kl(lambda mu, logvar: -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1),
                             seed=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda m, lv: -losses.gaussian_kl(m, lv), "the KL divergence is never negative: you flipped its sign"),
    (lambda m, lv: kl_terms(m**2 + lv**2 - 1 - torch.log(lv**2)), "logvar is log sigma^2, not sigma"),
    (lambda m, lv: kl_terms(m**2 + lv - 1 - torch.log(lv)), "gaussian_kl returned NaN or inf"),
    (lambda m, lv: kl_terms(m**2 + torch.exp(2 * lv) - 1 - 2 * lv), "exp(logvar) is already the variance sigma^2: do not square it"),
    (lambda m, lv: kl_terms(m**2 + torch.exp(lv / 2) - 1 - lv / 2), "sigma^2 = exp(logvar) and log sigma^2 = logvar: you used the standard deviation"),
    (lambda m, lv: 2 * losses.gaussian_kl(m, lv), "multiply by 1/2"),
    (lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 - lv).mean(1), "sum over the latent dimensions, do not average them"),
    (lambda m, lv: kl_terms(m**2 + lv.exp() - lv), "subtract 1 for every latent dimension"),
    (lambda m, lv: kl_terms(lv.exp() - 1 - lv), "include the mean"),
    (lambda m, lv: kl_terms(m**2 + lv.exp() - 1 + lv), "subtract log sigma^2 = logvar, do not add it"),
    (lambda m, lv: kl_terms((1 + m**2) * torch.exp(-lv) - 1 + lv), "this is KL(p(z) || q), the reverse"),
    (lambda m, lv: losses.gaussian_kl(m, lv).sum(), "gaussian_kl must return one KL per example, shape (N,)"),
    (lambda m, lv: losses.gaussian_kl(m, lv).mean(), "gaussian_kl must return one KL per example, shape (N,)"),
    (lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 - lv), "sum over the latent dimensions: gaussian_kl must return shape (N,)"),
    (lambda m, lv: losses.gaussian_kl(m.detach(), lv.detach()), "gaussian_kl is not differentiable"),
    (lambda m, lv: losses.gaussian_kl(m, lv).tolist(), "gaussian_kl must return a torch.Tensor"),
    (stub_named("gaussian_kl"), "gaussian_kl " + NOT_IMPLEMENTED),
])
def test_gaussian_kl_mistakes(fn, hint):
    assert first_line(checks.check_gaussian_kl, named(fn, "gaussian_kl")).startswith(hint)


def bce_sum(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum")


def negative_elbo(logits, x, mu, logvar):
    return (-losses.bernoulli_log_likelihood(logits, x) + losses.gaussian_kl(mu, logvar)).mean()


def test_vae_loss_reference_passes():
    checks.check_vae_loss(negative_elbo)
    checks.check_vae_loss(lambda logits, x, mu, logvar: (bce_sum(logits, x)
                          + losses.gaussian_kl(mu, logvar).sum()) / len(x), seed=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda lo, x, mu, lv: -negative_elbo(lo, x, mu, lv), "return the negative ELBO, the loss to minimise"),
    (lambda lo, x, mu, lv: F.binary_cross_entropy_with_logits(lo, x) + losses.gaussian_kl(mu, lv).mean(),
     "sum the reconstruction term over the pixels"),
    (lambda lo, x, mu, lv: bce_sum(torch.sigmoid(lo), x) / len(x) + losses.gaussian_kl(mu, lv).mean(),
     "apply the sigmoid only once"),
    (lambda lo, x, mu, lv: F.binary_cross_entropy(lo, x, reduction="sum") / len(x) + losses.gaussian_kl(mu, lv).mean(),
     "the decoder returns logits, not probabilities"),
    (lambda lo, x, mu, lv: -bce_sum(lo, x) / len(x) + losses.gaussian_kl(mu, lv).mean(),
     "the reconstruction term of the loss is -log p(x|z) = +BCE"),
    (lambda lo, x, mu, lv: bce_sum(lo, x) / len(x) - losses.gaussian_kl(mu, lv).mean(), "add the KL, do not subtract it"),
    (lambda lo, x, mu, lv: bce_sum(lo, x) / len(x), "add the KL term KL(q(z|x) || p(z))"),
    (lambda lo, x, mu, lv: bce_sum(lo, x) + losses.gaussian_kl(mu, lv).mean(), "average the reconstruction term over the batch"),
    (lambda lo, x, mu, lv: bce_sum(lo, x) / len(x) + losses.gaussian_kl(mu, lv).sum(), "average the KL over the batch"),
    (lambda lo, x, mu, lv: (-losses.bernoulli_log_likelihood(lo, x)
                            + 0.5 * (mu**2 + lv.exp() ** 2 - 1 - 2 * lv).sum(1)).mean(), "the KL term is wrong"),
    (lambda lo, x, mu, lv: -losses.bernoulli_log_likelihood(lo, x) + losses.gaussian_kl(mu, lv),
     "the VAE loss must return one number: average -log p(x|z) + KL over the batch"),
    (lambda lo, x, mu, lv: negative_elbo(lo, x, mu, lv).item(), "the VAE loss must return a tensor, not a Python number"),
    (lambda lo, x, mu, lv: negative_elbo(lo.detach(), x, mu.detach(), lv.detach()), "the VAE loss is not differentiable"),
    (lambda lo, x, mu, lv: F.mse_loss(torch.sigmoid(lo), x, reduction="sum") / len(x) + losses.gaussian_kl(mu, lv).mean(),
     "the VAE loss differs from the mean over the batch"),
    (stub_named("vae_loss"), "vae_loss " + NOT_IMPLEMENTED),
])
def test_vae_loss_mistakes(fn, hint):
    if fn.__name__ == "<lambda>":
        fn = named(fn, "the VAE loss")
    assert first_line(checks.check_vae_loss, fn).startswith(hint)


def diagonal_log_q(z, mu, logvar):
    return -0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + LOG_2PI).sum(-1)


def monte_carlo(term):
    """An ELBO estimator averaging ``term(log_joint, z, mu, logvar)`` over reparameterised z."""
    def elbo_estimate(log_joint, mu, logvar, n_samples, generator=None):
        total = 0.0
        for _ in range(n_samples):
            z = losses.reparameterize(mu, logvar, generator)
            total = total + term(log_joint, z, mu, logvar)
        return total / n_samples
    return elbo_estimate


def vectorised_elbo(log_joint, mu, logvar, n_samples, generator=None):
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n_samples, *mu.shape, generator=generator, dtype=mu.dtype)
    return (log_joint(z) - diagonal_log_q(z, mu, logvar)).mean(0)


def test_elbo_estimate_reference_passes():
    checks.check_elbo_estimate(monte_carlo(lambda lj, z, mu, lv: lj(z) - diagonal_log_q(z, mu, lv)))
    checks.check_elbo_estimate(vectorised_elbo, seed=1)


def wrong_log_q(variance, log_variance):
    return lambda lj, z, mu, lv: lj(z) + 0.5 * ((z - mu) ** 2 / variance(lv) + log_variance(lv) + LOG_2PI).sum(-1)


def sum_samples(log_joint, mu, logvar, n_samples, generator=None):
    return n_samples * vectorised_elbo(log_joint, mu, logvar, n_samples, generator)


@pytest.mark.parametrize("fn, hint", [
    (monte_carlo(lambda lj, z, mu, lv: lj(z)), "subtract log q(z|x): the ELBO averages log p(x, z) - log q(z|x)"),
    (monte_carlo(lambda lj, z, mu, lv: lj(z) + diagonal_log_q(z, mu, lv)), "subtract log q(z|x), do not add it"),
    (monte_carlo(lambda lj, z, mu, lv: lj(z) + 0.5 * ((z - mu) ** 2 / lv.exp() + lv).sum(-1)),
     "include the constant of log q(z|x)"),
    (monte_carlo(wrong_log_q(lambda lv: torch.exp(lv / 2), lambda lv: lv / 2)),
     "in log q(z|x) the variance is sigma^2 = exp(logvar): exp(logvar / 2) is the standard deviation"),
    (monte_carlo(wrong_log_q(lambda lv: torch.exp(2 * lv), lambda lv: 2 * lv)),
     "in log q(z|x) the variance is sigma^2 = exp(logvar): do not square it"),
    (monte_carlo(wrong_log_q(lambda lv: lv**2, lambda lv: torch.log(lv**2))), "logvar is log sigma^2, not sigma"),
    (monte_carlo(wrong_log_q(lambda lv: torch.exp(lv / 2), lambda lv: lv)), "at the true posterior every sample gives"),
    (monte_carlo(wrong_log_q(lambda lv: lv, lambda lv: torch.log(lv))), "elbo_estimate returned NaN or inf"),
    (monte_carlo(lambda lj, z, mu, lv: lj(mu) - diagonal_log_q(mu, mu, lv)), "sample the codes with reparameterize"),
    (sum_samples, "average over the samples, do not sum them"),
    (lambda lj, mu, lv, n, g=None: vectorised_elbo(lj, mu, lv, n, None), "draw the samples from the generator argument"),
    (lambda lj, mu, lv, n, g=None: vectorised_elbo(lj, mu, lv, n, g).mean(), "elbo_estimate must return one ELBO per data point"),
    (lambda lj, mu, lv, n, g=None: torch.stack([lj(z) - diagonal_log_q(z, mu, lv) for z in
                                                (losses.reparameterize(mu, lv, g) for _ in range(n))]),
     "average over the n_samples samples: elbo_estimate must return shape (N,)"),
    (lambda lj, mu, lv, n, g=None: lj(mu[0]), "pass log_joint one batch of codes z of the shape of mu"),
    (stub_named("elbo_estimate"), "elbo_estimate " + NOT_IMPLEMENTED),
])
def test_elbo_estimate_mistakes(fn, hint):
    assert first_line(checks.check_elbo_estimate, named(fn, "elbo_estimate")).startswith(hint)


def test_elbo_estimate_reports_a_stub_it_calls():
    def reparameterize(mu, logvar, generator=None):
        raise NotImplementedError()

    def elbo_estimate(log_joint, mu, logvar, n_samples, generator=None):
        return log_joint(reparameterize(mu, logvar, generator))

    assert first_line(checks.check_elbo_estimate, elbo_estimate) == "reparameterize " + NOT_IMPLEMENTED


class TinyVAE(nn.Module):
    """A VAE for 4x4 binary images: encode -> (mu, logvar), decode -> logits."""

    def __init__(self, trained=True):
        super().__init__()
        self.encoder, self.decoder = nn.Linear(16, 4), nn.Linear(2, 16)
        self.trained = trained

    def encode(self, x):
        return self.encoder(x.flatten(1)).chunk(2, dim=1)

    def decode(self, z):
        logits = self.decoder(z).view(-1, 1, 4, 4)
        return 20 * (2 * self.target - 1) + 0 * logits if self.trained else logits


def test_trained_vae():
    images = (torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    perfect = TinyVAE()
    perfect.target = images  # a decoder that returns the test images whatever the code
    model, loss = checks.check_trained_vae(lambda: perfect, images, max_loss=20.0)
    assert model is perfect and 0 < loss < 20
    untrained = TinyVAE(trained=False)
    line = first_line(checks.check_trained_vae, lambda: untrained, images, max_loss=1.0)
    assert line.startswith("the test negative ELBO") and "train_step" in line

    def train_my_vae():
        def train_step(model, optimizer, x):
            raise NotImplementedError()
        return train_step(None, None, None)
    assert first_line(checks.check_trained_vae, train_my_vae, images, max_loss=1.0) == "train_step " + NOT_IMPLEMENTED
    assert first_line(checks.check_trained_vae, lambda: "model", images, max_loss=1.0).startswith(
        "the training run() must return the trained model")


# === Unit 03: the GAN game ===================================================================

sp, sigmoid, bce_logits = F.softplus, torch.sigmoid, F.binary_cross_entropy_with_logits


def ones(t):
    return torch.ones_like(t)


def zeros(t):
    return torch.zeros_like(t)


def test_discriminator_loss_reference_passes():
    checks.check_discriminator_loss(losses.discriminator_loss)
    checks.check_discriminator_loss(lambda r, f: bce_logits(r, ones(r)) + bce_logits(f, zeros(f)), seed=1)
    checks.check_discriminator_loss(lambda r, f: -(F.logsigmoid(r).mean() + F.logsigmoid(-f).mean()), seed=2)


@pytest.mark.parametrize("fn, hint", [
    (lambda r, f: -losses.discriminator_loss(r, f), "D descends minus the value function"),
    (lambda r, f: sp(r).mean() + sp(-f).mean(), "real samples get label 1 and fakes label 0"),
    (lambda r, f: sp(-r).sum() + sp(f).sum(), "use means over the minibatch, not sums"),
    (lambda r, f: bce_logits(torch.cat([r, f]), torch.cat([ones(r), zeros(f)])), "add the two terms, do not average them"),
    (lambda r, f: bce_logits(sigmoid(r), ones(r)) + bce_logits(sigmoid(f), zeros(f)), "apply the sigmoid once"),
    (lambda r, f: F.binary_cross_entropy(r, ones(r)) + F.binary_cross_entropy(f, zeros(f)),
     "the discriminator returns logits, not probabilities"),
    (lambda r, f: -(torch.log(r).mean() + torch.log(1 - f).mean()), "discriminator_loss returned nan"),
    (lambda r, f: -(torch.log(sigmoid(r)).mean() + torch.log(1 - sigmoid(f)).mean()),
     "compute the loss from the logits with F.softplus"),
    (lambda r, f: F.binary_cross_entropy(sigmoid(r), ones(r)) + F.binary_cross_entropy(sigmoid(f), zeros(f)),
     "compute the loss from the logits with F.softplus"),
    (lambda r, f: sp(-r).mean(), "add the fake term"),
    (lambda r, f: sp(f).mean(), "add the real term"),
    (lambda r, f: sp(-r) + sp(f), "discriminator_loss must return one number: the mean over the minibatch"),
    (lambda r, f: losses.discriminator_loss(r, f).item(), "discriminator_loss must return a tensor"),
    (lambda r, f: losses.discriminator_loss(r.detach(), f.detach()), "discriminator_loss is not differentiable"),
    (stub_named("discriminator_loss"), "discriminator_loss " + NOT_IMPLEMENTED),
])
def test_discriminator_loss_mistakes(fn, hint):
    assert first_line(checks.check_discriminator_loss, named(fn, "discriminator_loss")).startswith(hint)


def by_kind(minimax, non_saturating):
    return lambda f, kind: minimax(f) if kind == "minimax" else non_saturating(f)


def test_generator_loss_reference_passes():
    checks.check_generator_loss(losses.generator_loss)
    checks.check_generator_loss(by_kind(lambda f: -bce_logits(f, zeros(f)), lambda f: bce_logits(f, ones(f))),
                                seed=1)


@pytest.mark.parametrize("fn, hint", [
    (by_kind(lambda f: sp(f).mean(), lambda f: sp(-f).mean()), "the minimax loss G descends is mean log(1 - D(G(z))) = -mean softplus(l): you flipped its sign"),
    (by_kind(lambda f: -sp(f).mean(), lambda f: -sp(-f).mean()), "the non_saturating loss G descends is -mean log D(G(z))"),
    (lambda f, kind: losses.generator_loss(f, "non_saturating" if kind == "minimax" else "minimax"),
     "kind='minimax' must give mean log(1 - D(G(z)))"),
    (lambda f, kind: losses.generator_loss(f, "non_saturating"), "kind='minimax' must give"),
    (lambda f, kind: losses.generator_loss(f, kind) * len(f), "use the mean over the minibatch, not the sum"),
    (by_kind(lambda f: -sp(sigmoid(f)).mean(), lambda f: sp(-sigmoid(f)).mean()), "apply the sigmoid once"),
    (by_kind(lambda f: torch.log(1 - sigmoid(f)).mean(), lambda f: -torch.log(sigmoid(f)).mean()),
     "compute the loss from the logits with F.softplus"),
    (by_kind(lambda f: -sp(f).mean(), lambda f: sp(f).mean()), "the non_saturating loss is -mean log D(G(z))"),
    (by_kind(lambda f: torch.log(1 - f).mean(), lambda f: -torch.log(f).mean()), "generator_loss(..., kind='minimax') returned nan"),
    (lambda f, kind: losses.generator_loss(f.detach(), kind), "generator_loss is not differentiable"),
    (lambda f, kind: losses.generator_loss(f, kind) + 0 * f, "generator_loss(..., kind='minimax') must return one number"),
    (stub_named("generator_loss"), "generator_loss " + NOT_IMPLEMENTED),
])
def test_generator_loss_mistakes(fn, hint):
    assert first_line(checks.check_generator_loss, named(fn, "generator_loss")).startswith(hint)


def my_discriminator_step(*, detach=True, zero="first", sign=1, returns=True, moves_g=False):
    """A discriminator step; each keyword is one typical mistake."""
    def discriminator_step(G, D, optimizer, x_real, z):
        fake = G(z).detach() if detach else G(z)
        loss = sign * losses.discriminator_loss(D(x_real), D(fake))
        if zero == "first":
            optimizer.zero_grad()
        loss.backward()
        if zero == "after":
            optimizer.zero_grad()
        if zero != "no step":
            optimizer.step()
        if moves_g:
            with torch.no_grad():
                for p in G.parameters():
                    p -= 0.01
        return loss.item() if returns else None
    return discriminator_step


def test_discriminator_step_reference_passes():
    checks.check_discriminator_step(lambda G, D, opt, x, z: discriminator_step(G, D, opt, x, z)["d_loss"])
    checks.check_discriminator_step(my_discriminator_step(), seed=1)


def half_loss(G, D, optimizer, x_real, z):
    loss = losses.discriminator_loss(D(x_real), D(G(z).detach())) / 2
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@pytest.mark.parametrize("fn, hint", [
    (my_discriminator_step(detach=False), "detach the fakes: compute them with G(z).detach()"),
    (my_discriminator_step(zero="never"), "call optimizer.zero_grad() before loss.backward()"),
    (my_discriminator_step(zero="after"), "D's parameters did not change: call optimizer.zero_grad(), loss.backward()"),
    (my_discriminator_step(zero="no step"), "D's parameters did not change"),
    (my_discriminator_step(sign=-1), "descend D's loss"),
    (my_discriminator_step(returns=False), "discriminator_step must return the loss of this step"),
    (my_discriminator_step(moves_g=True), "discriminator_step changed G's parameters"),
    (half_loss, "D's update is not one optimizer step on its loss"),
    (stub_named("discriminator_step"), "discriminator_step " + NOT_IMPLEMENTED),
])
def test_discriminator_step_mistakes(fn, hint):
    assert first_line(checks.check_discriminator_step, fn).startswith(hint)


def my_generator_step(*, detach=False, no_grad=False, zero=True, kind_used=None, moves_d=False, freezes_d=False):
    """A generator step; each keyword is one typical mistake."""
    def generator_step(G, D, optimizer, z, kind):
        if freezes_d:
            for p in D.parameters():
                p.requires_grad_(False)
        with torch.set_grad_enabled(not no_grad):
            fake = G(z).detach() if detach else G(z)
        loss = losses.generator_loss(D(fake), kind_used or kind)
        if zero:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if moves_d:
            with torch.no_grad():
                for p in D.parameters():
                    p -= 0.1 * p.grad
        return loss.item()
    return generator_step


def test_generator_step_reference_passes():
    checks.check_generator_step(lambda G, D, opt, z, kind: generator_step(G, D, opt, z, kind)["g_loss"])
    checks.check_generator_step(my_generator_step(), seed=1)


@pytest.mark.parametrize("fn, hint", [
    (my_generator_step(detach=True), "G's parameters got no gradient: do not detach the fakes"),
    (my_generator_step(no_grad=True), "G's parameters got no gradient: do not detach the fakes"),
    (my_generator_step(zero=False), "call optimizer.zero_grad() before loss.backward()"),
    (my_generator_step(kind_used="non_saturating"), "pass kind on to generator_loss: with kind='minimax'"),
    (my_generator_step(kind_used="minimax"), "pass kind on to generator_loss: with kind='non_saturating'"),
    (my_generator_step(moves_d=True), "generator_step must not change D's parameters"),
    (my_generator_step(freezes_d=True), "leave D's parameters trainable"),
    (stub_named("generator_step"), "generator_step " + NOT_IMPLEMENTED),
])
def test_generator_step_mistakes(fn, hint):
    assert first_line(checks.check_generator_step, fn).startswith(hint)


def reference_d(G, D, optimizer, x_real, z):
    return discriminator_step(G, D, optimizer, x_real, z)["d_loss"]


def reference_g(G, D, optimizer, z, kind):
    return generator_step(G, D, optimizer, z, kind)["g_loss"]


def my_iteration(mistake=None):
    """Algorithm 1 with the reference steps; ``mistake`` names one typical mistake."""
    def gan_iteration(G, D, opt_d, opt_g, sample_real, sample_noise, k, m, kind="non_saturating"):
        if mistake == "generator first":
            g_loss = reference_g(G, D, opt_g, sample_noise(m), kind)
        d_losses, x, z = [], sample_real(m), None
        for j in range(k - 1 if mistake == "k - 1 steps" and k > 1 else k):
            x = x if mistake == "same real batch" else (x if j == 0 else sample_real(m))
            z = z if mistake == "same noise" and z is not None else sample_noise(m)
            if mistake == "no detach":
                loss = losses.discriminator_loss(D(x), D(G(z)))
                opt_d.zero_grad()
                loss.backward()
                opt_d.step()
                d_losses.append(loss.item())
            else:
                d_losses.append(reference_d(G, D, opt_d, x, z))
        if mistake == "generator first":
            return {"d_loss": sum(d_losses) / k, "g_loss": g_loss}
        z_g = z if mistake == "reuse noise" else sample_noise(m)
        g_loss = reference_g(G, D, opt_g, z_g, "non_saturating" if mistake == "fixed kind" else kind)
        if mistake == "steps D after G":
            opt_d.step()
        if mistake == "two G steps":
            reference_g(G, D, opt_g, sample_noise(m), kind)
        if mistake == "no return":
            return None
        d_loss = d_losses[-1] if mistake == "last d_loss" else sum(d_losses) / len(d_losses)
        return {"d_loss": d_loss, "g_loss": g_loss}
    return gan_iteration


def prefetched_iteration(G, D, opt_d, opt_g, sample_real, sample_noise, k, m, kind="non_saturating"):
    reals = [sample_real(m) for _ in range(k)]
    noises = [sample_noise(m) for _ in range(k + 1)]
    d_losses = [reference_d(G, D, opt_d, reals[j], noises[j]) for j in range(k)]
    return {"d_loss": sum(d_losses) / k, "g_loss": reference_g(G, D, opt_g, noises[k], kind)}


def one_big_batch(G, D, opt_d, opt_g, sample_real, sample_noise, k, m, kind="non_saturating"):
    d_losses = [reference_d(G, D, opt_d, x, sample_noise(m)) for x in sample_real(k * m).split(m)]
    return {"d_loss": sum(d_losses) / k, "g_loss": reference_g(G, D, opt_g, sample_noise(m), kind)}


def only_d(G, D, opt_d, opt_g, sample_real, sample_noise, k, m, kind="non_saturating"):
    return {"d_loss": sum(reference_d(G, D, opt_d, sample_real(m), sample_noise(m)) for _ in range(k)) / k,
            "g_loss": 0.0}


def test_gan_iteration_reference_passes():
    checks.check_gan_iteration(my_iteration())
    checks.check_gan_iteration(prefetched_iteration, seed=1)


@pytest.mark.parametrize("fn, hint", [
    (my_iteration("generator first"), "take the k discriminator steps first, then the generator's step"),
    (my_iteration("k - 1 steps"), "take exactly k = 3 discriminator step(s) per iteration, got 2"),
    (my_iteration("same real batch"), "draw a fresh minibatch of real data for each of the k discriminator steps"),
    (my_iteration("same noise"), "draw fresh noise z = sample_noise(m) for each of the k discriminator steps"),
    (my_iteration("reuse noise"), "draw fresh noise for the generator's step"),
    (my_iteration("fixed kind"), "pass kind on to generator_step: with kind='minimax'"),
    (my_iteration("steps D after G"), "the generator's step must not update D"),
    (my_iteration("two G steps"), "take one generator step per iteration"),
    (my_iteration("no detach"), "detach the fakes in the discriminator's steps"),
    (my_iteration("no return"), "gan_iteration must return a dict"),
    (my_iteration("last d_loss"), "'d_loss' must be the mean of the k discriminator losses"),
    (one_big_batch, "draw minibatches of m = 8"),
    (only_d, "update the generator once per iteration"),
    (stub_named("gan_iteration"), "gan_iteration " + NOT_IMPLEMENTED),
])
def test_gan_iteration_mistakes(fn, hint):
    assert first_line(checks.check_gan_iteration, named(fn, "gan_iteration")).startswith(hint)


def test_gan_iteration_reports_the_step_that_is_a_stub():
    def discriminator_step(G, D, optimizer, x_real, z):
        raise NotImplementedError()

    def gan_iteration(G, D, opt_d, opt_g, sample_real, sample_noise, k, m, kind="non_saturating"):
        discriminator_step(G, D, opt_d, sample_real(m), sample_noise(m))

    assert first_line(checks.check_gan_iteration, gan_iteration) == "discriminator_step " + NOT_IMPLEMENTED


class Fixed(nn.Module):
    """A "generator" that returns given points, whatever its noise."""

    latent_dim = 2

    def __init__(self, points):
        super().__init__()
        self.points = points

    def forward(self, z):
        return self.points[: len(z)]


def test_trained_gan():
    target = toy.GaussianMixture2D([[-1.5, 0.0], [1.5, 0.0]], 0.3)
    data = target.sample(2000, generator=torch.Generator().manual_seed(0)).float()
    G, coverage = checks.check_trained_gan(lambda: Fixed(data), target, min_modes=2, min_quality=0.9)
    assert coverage["modes_covered"] == 2
    one_mode = data[data[:, 0] > 0].repeat(2, 1)
    assert first_line(checks.check_trained_gan, lambda: Fixed(one_mode), target, min_modes=2,
                      min_quality=0.9).startswith("G covers 1 of the 2 modes")
    assert first_line(checks.check_trained_gan, lambda: Fixed(0.01 * data), target, min_modes=1,
                      min_quality=0.5).startswith("only 0% of G's samples lie near the data")
    assert first_line(checks.check_trained_gan, lambda: Fixed(data * float("nan")), target, min_modes=1,
                      min_quality=0.5).startswith("G(z) contains NaN")

    def train_my_gan():
        def gan_iteration(*args):
            raise NotImplementedError()
        return gan_iteration()
    assert first_line(checks.check_trained_gan, train_my_gan, target, min_modes=1,
                      min_quality=0.5) == "gan_iteration " + NOT_IMPLEMENTED


# === Unit 04: the optimal discriminator and the JSD ==========================================

def masked_kl(p, q, x):
    integrand = np.zeros_like(p)
    mask = p > 0
    integrand[mask] = p[mask] * np.log(p[mask] / q[mask])
    return np.trapezoid(integrand, x)


def riemann_kl(p, q, x):
    integrand = np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / q), 0)
    return integrand.sum() * (x[1] - x[0])


def my_jsd(p, q, x):
    m = (p + q) / 2
    return 0.5 * masked_kl(p, m, x) + 0.5 * masked_kl(q, m, x)


def my_value(D, p, q, x):
    with np.errstate(divide="ignore"):
        return np.trapezoid(np.where(p > 0, p * np.log(D), 0) + np.where(q > 0, q * np.log1p(-D), 0), x)


def test_optimal_discriminator_reference_passes():
    checks.check_optimal_discriminator(theory.optimal_discriminator)
    checks.check_optimal_discriminator(
        lambda p, q: np.where(p + q > 0, p / np.where(p + q > 0, p + q, 1), 0.5), seed=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda p, q: q / (p + q), "D*(x) = p_data / (p_data + p_g) is the probability that x is real"),
    (lambda p, q: p / q, "divide by the sum p_data + p_g, not by p_g"),
    (lambda p, q: p / (p + q), "where p_data and p_g are both 0, D* = 0 / 0 is undefined: return 1/2 there"),
    (lambda p, q: np.nan_to_num(p / (p + q)), "where p_data and p_g are both 0, return D* = 1/2"),
    (lambda p, q: (p / (p + q)).mean(), "optimal_discriminator must return one value per grid point"),
    (lambda p, q: (p / (p + q))[:, None], "optimal_discriminator must return one value per grid point"),
    (lambda p, q: None, "optimal_discriminator returned None"),
    (lambda p, q: np.divide(p, p + q, out=p, where=p + q > 0), "optimal_discriminator must not modify its input arrays"),
    (stub_named("optimal_discriminator"), "optimal_discriminator " + NOT_IMPLEMENTED),
])
def test_optimal_discriminator_mistakes(fn, hint):
    assert first_line(checks.check_optimal_discriminator, named(fn, "optimal_discriminator")).startswith(hint)


def smoothed(p, q, alpha):
    return alpha * theory.optimal_discriminator(p, q)


def test_smoothed_discriminator_reference_passes():
    checks.check_smoothed_discriminator(smoothed)
    checks.check_smoothed_discriminator(smoothed, seed=1)


def maximise_smoothed_value(p, q, alpha):
    """The D in (0, 1) maximising ``p [alpha log D + (1 - alpha) log(1 - D)] + q log(1 - D)`` at
    each point, by golden-section search over D's logit t: no closed form, no derivative."""
    def value(t):  # log D = -softplus(-t) and log(1 - D) = -softplus(t), exact in the tails
        return -p * (alpha * np.logaddexp(0, -t) + (1 - alpha) * np.logaddexp(0, t)) - q * np.logaddexp(0, t)
    low, high, r = np.full_like(p, -60.0), np.full_like(p, 60.0), (math.sqrt(5) - 1) / 2
    for _ in range(120):  # the value is concave in t: keep the part of [low, high] holding its peak
        a, b = high - r * (high - low), low + r * (high - low)
        left = value(a) >= value(b)
        low, high = np.where(left, low, a), np.where(left, b, high)
    return 1 / (1 + np.exp(-(low + high) / 2))


def test_smoothed_discriminator_check_accepts_the_numerical_maximiser():
    # the closed form the check expects is the maximiser itself, here found without it
    checks.check_smoothed_discriminator(maximise_smoothed_value)
    checks.check_smoothed_discriminator(maximise_smoothed_value, seed=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda p, q, a: theory.optimal_discriminator(p, q), "with real target alpha, D* is no longer"),
    (lambda p, q, a: a * p / (a * p + q), "solve the stationarity condition again"),
    (lambda p, q, a: (a * p + (1 - a) * q) / (p + q), "smooth only the real side"),
    (lambda p, q, a: a * p / (p + q) + 0.01, "smoothed_discriminator is not the maximiser"),
    (stub_named("smoothed_discriminator"), "smoothed_discriminator " + NOT_IMPLEMENTED),
])
def test_smoothed_discriminator_mistakes(fn, hint):
    assert first_line(checks.check_smoothed_discriminator, named(fn, "smoothed_discriminator")).startswith(hint)


def test_kl_divergence_reference_passes():
    checks.check_kl_divergence(theory.kl_divergence)
    checks.check_kl_divergence(masked_kl, seed=1)
    checks.check_kl_divergence(riemann_kl, seed=2)  # a sum times dx is as good on these grids


@pytest.mark.parametrize("fn, hint", [
    (lambda p, q, x: masked_kl(q, p, x), "KL(P || Q) integrates p log(p / q): you computed KL(Q || P)"),
    (lambda p, q, x: -masked_kl(p, q, x), "KL(P || Q) = integral of p log(p / q) dx is never negative"),
    (lambda p, q, x: masked_kl(p, q, x) / math.log(2), "use the natural log np.log"),
    (lambda p, q, x: masked_kl(p, q, x) / math.log(10), "use the natural log np.log, not np.log10"),
    (lambda p, q, x: masked_kl(p, q, x) / (x[1] - x[0]), "integrate over x"),
    (lambda p, q, x: np.trapezoid(np.log(p / q), x), "weight log(p / q) by p(x)"),
    (lambda p, q, x: np.mean(np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / q), 0)), "integrate over x with np.trapezoid"),
    (lambda p, q, x: np.trapezoid(p * np.log(p / q), x), "kl_divergence returned nan: where a density is 0 its term is 0"),
    (lambda p, q, x: p * np.log(p / q), "kl_divergence must return one number (the integral)"),
    (stub_named("kl_divergence"), "kl_divergence " + NOT_IMPLEMENTED),
])
def test_kl_divergence_mistakes(fn, hint):
    assert first_line(checks.check_kl_divergence, named(fn, "kl_divergence")).startswith(hint)


def test_js_divergence_reference_passes():
    checks.check_js_divergence(theory.js_divergence)
    checks.check_js_divergence(my_jsd, seed=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda p, q, x: my_jsd(p, q, x) / math.log(2), "use the natural log np.log"),
    (lambda p, q, x: 2 * my_jsd(p, q, x), "JSD = 1/2 KL(P || M) + 1/2 KL(Q || M): you left out the factors 1/2"),
    (lambda p, q, x: 0.5 * masked_kl(p, p + q, x) + 0.5 * masked_kl(q, p + q, x), "the mixture is M = (P + Q) / 2"),
    (lambda p, q, x: 0.5 * (masked_kl(p, q, x) + masked_kl(q, p, x)), "compare each density with the mixture"),
    (lambda p, q, x: 0.5 * masked_kl(p, (p + q) / 2, x), "add both halves"),
    (lambda p, q, x: 0.5 * (masked_kl((p + q) / 2, p, x) + masked_kl((p + q) / 2, q, x)),
     "the KLs go from each density to the mixture"),
    (lambda p, q, x: np.trapezoid(p * np.log(2 * p / (p + q)) + q * np.log(2 * q / (p + q)), x) / 2,
     "js_divergence returned nan: where a density is 0 its term is 0"),
    (stub_named("js_divergence"), "js_divergence " + NOT_IMPLEMENTED),
])
def test_js_divergence_mistakes(fn, hint):
    assert first_line(checks.check_js_divergence, named(fn, "js_divergence")).startswith(hint)


def test_value_function_reference_passes():
    checks.check_value_function(theory.value_function)
    checks.check_value_function(my_value, seed=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda D, p, q, x: -my_value(D, p, q, x), "V(D, G) = integral of [p_data log D + p_g log(1 - D)] dx is what D maximises"),
    (lambda D, p, q, x: np.trapezoid(p * np.log(D) + q * np.log(D), x), "the second term is p_g(x) log(1 - D(x))"),
    (lambda D, p, q, x: np.trapezoid(q * np.log(D) + p * np.log(1 - D), x), "p_data goes with log D(x) and p_g with log(1 - D(x))"),
    (lambda D, p, q, x: np.trapezoid(p * np.log(D) - q * np.log(1 - D), x), "add the second term p_g log(1 - D), do not subtract it"),
    (lambda D, p, q, x: np.trapezoid(p * np.log(D), x), "add the second term p_g(x) log(1 - D(x))"),
    (lambda D, p, q, x: my_value(D, p, q, x) / (x[1] - x[0]), "integrate over x"),
    (lambda D, p, q, x: my_value(D, p, q, x) / math.log(2), "use the natural log np.log"),
    (lambda D, p, q, x: np.trapezoid(p * np.log(D) + q * np.log(1 - D), x), "value_function returned nan: where a density is 0"),
    (stub_named("value_function"), "value_function " + NOT_IMPLEMENTED),
])
def test_value_function_mistakes(fn, hint):
    assert first_line(checks.check_value_function, named(fn, "value_function")).startswith(hint)


def test_theorem_1_holds_for_the_reference_functions():
    """What the Unit 04 check cell asserts: C(G) = V(D*, G) = -log 4 + 2 JSD on smooth pairs."""
    x = np.linspace(-8, 8, 1601)
    for seed in range(3):
        p, q = unit04._smooth_pair(x, seed)
        criterion = my_value(theory.optimal_discriminator(p, q), p, q, x)
        assert abs(criterion - (-math.log(4) + 2 * my_jsd(p, q, x))) < 1e-6


# === all of Units 02-04 ======================================================================

UNIT_02_TO_04_REFERENCES = [
    (checks.check_reparameterize, losses.reparameterize),
    (checks.check_gaussian_kl, losses.gaussian_kl),
    (checks.check_vae_loss, negative_elbo),
    (checks.check_elbo_estimate, vectorised_elbo),
    (checks.check_discriminator_loss, losses.discriminator_loss),
    (checks.check_generator_loss, losses.generator_loss),
    (checks.check_discriminator_step, reference_d),
    (checks.check_generator_step, reference_g),
    (checks.check_gan_iteration, prefetched_iteration),
    (checks.check_optimal_discriminator, theory.optimal_discriminator),
    (checks.check_kl_divergence, theory.kl_divergence),
    (checks.check_js_divergence, theory.js_divergence),
    (checks.check_value_function, theory.value_function),
    (checks.check_smoothed_discriminator, smoothed),
]


def test_unit_02_to_04_checks_leave_global_random_state_alone():
    torch.manual_seed(0)
    np.random.seed(0)
    state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    for check, reference in UNIT_02_TO_04_REFERENCES:
        check(reference)
    assert torch.equal(torch.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state)


# A check runs in a student's notebook cell and once per submission when grading: it must
# take well under a second on one laptop core. Its work is counted rather than timed, so
# that a busy machine cannot fail the test. Each budget is ~0.1-0.2 s of one core, 15-70
# times what the checks do today.
TORCH_OP_BUDGET = 20_000    # PyTorch operations dispatched, ~10 us each on small tensors
FLOP_BUDGET = 10**9         # floating-point operations of matmuls and convolutions, backward included
ELEMENT_BUDGET = 10**7      # numbers in the arrays and tensors passed to the student's code and back


class _CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


def _numel(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel()
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, (tuple, list)):
        return sum(map(_numel, value))
    if isinstance(value, dict):
        return sum(map(_numel, value.values()))
    return 0


def work_of(check, reference) -> dict[str, int]:
    """What ``check(reference)`` does: PyTorch ops, matmul/conv FLOPs, and the numbers it hands
    the student's function and gets back (a class: its instances' work is in the FLOPs)."""
    counted = {"elements": 0}
    student = reference
    if not isinstance(reference, type):
        @functools.wraps(reference)
        def student(*args, **kwargs):
            out = reference(*args, **kwargs)
            counted["elements"] += _numel(args) + _numel(kwargs) + _numel(out)
            return out
    ops, flops = _CountOps(), FlopCounterMode(display=False)
    with ops, flops:
        check(student)
    return {"torch ops": ops.ops, "FLOPs": flops.get_total_flops(), **counted}


def assert_cheap(check, reference):
    work = work_of(check, reference)
    assert work["torch ops"] < TORCH_OP_BUDGET, work
    assert work["FLOPs"] < FLOP_BUDGET, work
    assert work["elements"] < ELEMENT_BUDGET, work


@pytest.mark.parametrize("check, reference", UNIT_02_TO_04_REFERENCES,
                         ids=[c.__name__ for c, _ in UNIT_02_TO_04_REFERENCES])
def test_unit_02_to_04_checks_are_cheap(check, reference):
    assert_cheap(check, reference)


# === Unit 05: the DCGAN ======================================================================

class DCGen(nn.Module):
    """A DCGAN generator for 28x28 digits; each keyword is one typical mistake."""

    def __init__(self, latent_dim=64, channels=16, *, last=nn.Tanh, output_norm=False, norms=True,
                 upsample=False, hidden_linear=False, unflatten=True, padding=1, bn2d_first=False,
                 store_latent_dim=True, unused=False, ignores_z=False):
        super().__init__()
        if store_latent_dim:
            self.latent_dim = latent_dim
        c = channels
        self.ignores_z = ignores_z
        norm = (nn.BatchNorm2d if bn2d_first else nn.BatchNorm1d) if norms else nn.Identity
        project = [nn.Linear(latent_dim, 2 * c * 49, bias=False), norm(2 * c * 49), nn.ReLU()]
        if hidden_linear:
            project = [nn.Linear(latent_dim, 64), nn.ReLU(), nn.Linear(64, 2 * c * 49), nn.ReLU()]
        if unflatten:
            project.append(nn.Unflatten(1, (2 * c, 7, 7)))
        if upsample:
            up = [nn.Upsample(scale_factor=2), nn.Conv2d(2 * c, c, 3, padding=1), nn.ReLU(),
                  nn.Upsample(scale_factor=2), nn.Conv2d(c, 1, 3, padding=1)]
        else:
            up = [nn.ConvTranspose2d(2 * c, c, 4, 2, padding, bias=False),
                  nn.BatchNorm2d(c) if norms else nn.Identity(), nn.ReLU(),
                  nn.ConvTranspose2d(c, 1, 4, 2, padding)]
        self.net = nn.Sequential(*project, *up, *([nn.BatchNorm2d(1)] if output_norm else []), last())
        if unused:
            self.extra = nn.Linear(2, 2)

    def forward(self, z):
        return self.net(0 * z if self.ignores_z else z)


def dc_gen(**mistake):
    return lambda latent_dim: DCGen(latent_dim, **mistake)


class FlatGenerator(nn.Module):
    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, 784), nn.BatchNorm1d(784), nn.Tanh())
        self.up = nn.ConvTranspose2d(1, 1, 2, 2)  # present but never used on the way out

    def forward(self, z):
        return self.net(z)


class DCDisc(nn.Module):
    """A DCGAN discriminator for 28x28 digits; each keyword is one typical mistake."""

    def __init__(self, channels=16, *, squeeze=True, sigmoid=None, pool=False, input_norm=False,
                 norms=True, relu=False, hidden_linear=False, in_features=None, bn1d=False):
        super().__init__()
        c = channels
        act = nn.ReLU if relu else (lambda: nn.LeakyReLU(0.2))
        stride = 1 if pool else 2
        down = [nn.Conv2d(1, c, 3 if pool else 4, stride, 1)]
        down += [nn.BatchNorm2d(c)] if input_norm else []
        down += [act()] + ([nn.MaxPool2d(2)] if pool else [])
        norm = (nn.BatchNorm1d if bn1d else nn.BatchNorm2d)(2 * c) if norms else nn.Identity()
        down += [nn.Conv2d(c, 2 * c, 3 if pool else 4, stride, 1, bias=False), norm, act()]
        down += [nn.MaxPool2d(2)] if pool else []
        head = [nn.Linear(2 * c * 49, 32), act(), nn.Linear(32, 1)] if hidden_linear else [
            nn.Linear(in_features or 2 * c * 49, 1)]
        self.net = nn.Sequential(*down, nn.Flatten(), *head,
                                 *([nn.Sigmoid()] if sigmoid == "module" else []))
        self.squeeze, self.sigmoid = squeeze, sigmoid

    def forward(self, x):
        out = self.net(x)
        out = torch.sigmoid(out) if self.sigmoid == "function" else out
        return out.squeeze(1) if self.squeeze else out


def dc_disc(**mistake):
    return lambda: DCDisc(**mistake)


def test_dcgan_networks_reference_passes():
    from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator

    checks.check_dcgan_generator(DCGen)
    checks.check_dcgan_generator(DCGen, latent_dim=16, seed=1)
    checks.check_dcgan_generator(lambda latent_dim: DCGANGenerator("cpu28"))  # projects by a 7x7 transposed conv
    checks.check_dcgan_discriminator(DCDisc)
    checks.check_dcgan_discriminator(lambda: DCGANDiscriminator("cpu28"), seed=1)


@pytest.mark.parametrize("make, hint", [
    (dc_gen(last=nn.Identity), "G must end with tanh: images are in [-1, 1]"),
    (dc_gen(last=nn.Sigmoid), "G must end with tanh, not a sigmoid or a ReLU"),
    (dc_gen(output_norm=True), "no batch norm on G's output layer"),
    (dc_gen(norms=False), "add batch norm to G's hidden layers"),
    (dc_gen(upsample=True), "upsample with transposed convolutions"),
    (dc_gen(hidden_linear=True), "use one Linear layer only, to project z"),
    (dc_gen(unflatten=False), "reshape the projection of z to feature maps (N, C, 7, 7)"),
    (dc_gen(padding=0), "G(z) must return images of shape (N, 1, 28, 28), got (8, 1, 34, 34): check the kernel sizes"),
    (dc_gen(bn2d_first=True), "use nn.BatchNorm1d after a Linear layer"),
    (dc_gen(store_latent_dim=False), "store the size of z as an attribute"),
    (dc_gen(unused=True), "parameter extra.weight of G gets no gradient"),
    (dc_gen(ignores_z=True), "G(z) must depend on z"),
    (dc_gen(channels=256), "G has 3,757,569 parameters, more than 2,000,000"),
    (FlatGenerator, "G(z) must return images of shape (N, 1, 28, 28), got (8, 784)"),
    (stub_named("Generator"), "Generator " + NOT_IMPLEMENTED),
])
def test_dcgan_generator_mistakes(make, hint):
    assert first_line(checks.check_dcgan_generator, make).startswith(hint)


@pytest.mark.parametrize("make, hint", [
    (dc_disc(squeeze=False), "D(x) must return one logit per image, shape (N,): squeeze"),
    (dc_disc(sigmoid="module"), "D must return logits, not probabilities"),
    (dc_disc(sigmoid="function"), "D must return logits, not probabilities"),
    (dc_disc(pool=True), "downsample with strided convolutions"),
    (dc_disc(input_norm=True), "no batch norm on D's input layer"),
    (dc_disc(norms=False), "add batch norm (nn.BatchNorm2d) after D's hidden convolutions"),
    (dc_disc(relu=True), "use nn.LeakyReLU(0.2) in D, not ReLU"),
    (dc_disc(hidden_linear=True), "no fully connected hidden layers in D"),
    (dc_disc(in_features=16 * 49), "flatten the last feature maps (nn.Flatten()) and give the final nn.Linear"),
    (dc_disc(bn1d=True), "use nn.BatchNorm2d after convolutions"),
    (stub_named("Discriminator"), "Discriminator " + NOT_IMPLEMENTED),
])
def test_dcgan_discriminator_mistakes(make, hint):
    assert first_line(checks.check_dcgan_discriminator, make).startswith(hint)


def my_train_step(mistake=None):
    """One DCGAN training step; ``mistake`` names one typical mistake."""
    def train_step(G, D, opt_d, opt_g, x_real, z):
        fake = G(z)
        if mistake == "generator first":
            g_loss = sp(-D(fake)).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            fake = G(z)
        if mistake == "logits before D's step":
            early = D(fake)
        shown = fake if mistake in ("no detach", "no detach, reused fake") else fake.detach()
        if mistake == "together":
            logits = D(torch.cat([x_real, shown]))
            real_logits, fake_logits = logits[:len(x_real)], logits[len(x_real):]
        else:
            real_logits, fake_logits = D(x_real), D(shown)
        d_loss = losses.discriminator_loss(real_logits, fake_logits)
        if mistake == "swapped labels":
            d_loss = sp(real_logits).mean() + sp(-fake_logits).mean()
        if mistake == "averaged":
            d_loss = d_loss / 2
        if mistake != "no zero_grad for D":
            opt_d.zero_grad()
        d_loss.backward()
        if mistake == "backward both, then step":
            g_loss = sp(-D(fake)).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_d.step()
            opt_g.step()
            return d_loss.item(), g_loss.item()
        opt_d.step()
        if mistake == "generator first":
            return d_loss.item(), g_loss.item()
        if mistake == "no detach":
            fake = G(z)
        logits = early if mistake == "logits before D's step" else D(fake)
        g_loss = {"minimax": -sp(logits).mean(), "label 0": sp(logits).mean()}.get(mistake, sp(-logits).mean())
        if mistake != "no zero_grad for G":
            opt_g.zero_grad()
        g_loss.backward()
        if mistake != "no G step":
            opt_g.step()
        if mistake == "steps D again":
            opt_d.step()
        return {"no return": None, "swapped return": (g_loss.item(), d_loss.item())}.get(
            mistake, (d_loss.item(), g_loss.item()))
    return train_step


def bce_train_step(G, D, opt_d, opt_g, x_real, z):
    """The step written with BCE and labels, and fresh fakes for G (the same numbers)."""
    with torch.no_grad():
        fake = G(z)
    real_logits, fake_logits = D(x_real), D(fake)
    d_loss = bce_logits(real_logits, ones(real_logits)) + bce_logits(fake_logits, zeros(fake_logits))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    logits = D(G(z))
    g_loss = bce_logits(logits, ones(logits))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss.item()  # a 0-d tensor is a number too


def test_dcgan_train_step_reference_passes():
    checks.check_dcgan_train_step(my_train_step())
    checks.check_dcgan_train_step(bce_train_step, seed=1)


@pytest.mark.parametrize("mistake, hint", [
    ("no detach", "detach the fakes in D's loss, D(fake.detach()): D's loss must not backpropagate into G"),
    ("no detach, reused fake", "detach the fakes in D's loss, D(fake.detach()): D's backward pass must leave"),
    ("no zero_grad for D", "call optimizer.zero_grad() before loss.backward(): D still held"),
    ("no zero_grad for G", "call optimizer.zero_grad() before loss.backward(): G still held"),
    ("minimax", "use the non-saturating loss for G"),
    ("label 0", "G's fakes get label 1 in G's loss"),
    ("swapped labels", "real images get label 1 and fakes label 0 in D's loss"),
    ("averaged", "add the two terms of D's loss, do not average them"),
    ("together", "call D separately on the real batch and on the fakes"),
    ("generator first", "update D first, then G"),
    ("steps D again", "step D once, before G's loss"),
    ("no G step", "update G after D"),
    ("logits before D's step", "compute G's loss from a new D(fake) after D's step"),
    ("backward both, then step", "finish D's step (zero_grad, backward, step) before G's loss is backpropagated"),
    ("no return", "train_step must return the two losses as a pair"),
    ("swapped return", "return the losses in the order (d_loss, g_loss)"),
])
def test_dcgan_train_step_mistakes(mistake, hint):
    assert first_line(checks.check_dcgan_train_step, named(my_train_step(mistake), "train_step")).startswith(hint)


def test_dcgan_train_step_stub():
    assert first_line(checks.check_dcgan_train_step, stub_named("train_step")) == "train_step " + NOT_IMPLEMENTED


class Replay(nn.Module):
    """A "generator" that returns given images, whatever its noise."""

    latent_dim = 4

    def __init__(self, images):
        super().__init__()
        self.images = images

    def forward(self, z):
        return self.images[torch.arange(len(z)) % len(self.images)]


@pytest.fixture(scope="module")
def test_digits():
    from ganlab.data import load_images

    return load_images("mnist-5k", "test").tensors


def test_trained_dcgan(test_digits):
    images, labels = test_digits
    G, scores = checks.check_trained_dcgan(lambda: Replay(images), min_score=8.0, min_classes=10)
    assert scores["classes"] == 10 and scores["inception_score"] > 8 and scores["confidence"] > 0.9
    four = images[labels < 4]
    assert first_line(checks.check_trained_dcgan, lambda: Replay(four), min_score=2.5,
                      min_classes=7).startswith("the digit classifier sees 4 digit classes")
    grey = torch.zeros(10, 1, 28, 28)
    assert first_line(checks.check_trained_dcgan, lambda: Replay(grey), min_score=2.5,
                      min_classes=7).startswith("the digit classifier gives G's samples an Inception Score of 1.00")
    assert first_line(checks.check_trained_dcgan, lambda: Replay(grey * float("nan")), min_score=2.5,
                      min_classes=7).startswith("G(z) contains NaN")
    assert first_line(checks.check_trained_dcgan, lambda: Replay(2 * images), min_score=2.5,
                      min_classes=7).startswith("G must end with tanh")

    def train_my_dcgan():
        return stub_named("train_step")()
    assert first_line(checks.check_trained_dcgan, train_my_dcgan, min_score=2.5,
                      min_classes=7) == "train_step " + NOT_IMPLEMENTED


# === Unit 06: evaluation metrics =============================================================

def sqrtm_fid(mu1, sigma1, mu2, sigma2):
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def eigen_fid(mu1, sigma1, mu2, sigma2, clip=True):
    eigenvalues = np.linalg.eigvals(sigma1 @ sigma2).real
    root = np.sqrt(np.clip(eigenvalues, 0, None) if clip else eigenvalues)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * root.sum())


def fid_parts(mean_term=lambda d: d @ d, sign=-2.0, trace=lambda s1, s2: np.trace(scipy.linalg.sqrtm(s1 @ s2).real)):
    """A Fréchet distance assembled from its parts, each replaceable by a mistake."""
    return lambda mu1, s1, mu2, s2: float(mean_term(mu1 - mu2) + np.trace(s1) + np.trace(s2) + sign * trace(s1, s2))


def complex_fid(mu1, sigma1, mu2, sigma2):
    diff = mu1 - mu2
    return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(scipy.linalg.sqrtm(sigma1 @ sigma2))


def inplace_fid(mu1, sigma1, mu2, sigma2):
    sigma1 += 0.0 * sigma1  # harmless, but in place
    mu1 -= mu2
    return float(mu1 @ mu1 + np.trace(sigma1) + np.trace(sigma2)
                 - 2 * np.trace(scipy.linalg.sqrtm(sigma1 @ sigma2).real))


@pytest.fixture
def quiet_sqrtm():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm warns about singular matrices
        yield


@pytest.mark.usefixtures("quiet_sqrtm")
def test_frechet_distance_reference_passes():
    checks.check_frechet_distance(metrics.frechet_distance)
    checks.check_frechet_distance(sqrtm_fid, seed=1)
    checks.check_frechet_distance(eigen_fid, seed=2)


def symmetric_root(s):
    lam, u = np.linalg.eigh(s)
    return (u * np.sqrt(lam)) @ u.T


@pytest.mark.usefixtures("quiet_sqrtm")
@pytest.mark.parametrize("fn, hint", [
    (fid_parts(sign=+2.0), "subtract twice the trace of the square root"),
    (fid_parts(mean_term=lambda d: np.sqrt(d @ d)), "the mean term is the squared norm ||mu1 - mu2||^2"),
    (fid_parts(mean_term=lambda d: 0.0), "add the mean term ||mu1 - mu2||^2"),
    (fid_parts(mean_term=lambda d: np.mean(d**2)), "sum the squared differences of the means, do not average them"),
    (fid_parts(sign=-1.0), "the trace term has a factor 2"),
    (fid_parts(trace=lambda s1, s2: np.trace(symmetric_root(s1) @ symmetric_root(s2))),
     "take the square root of the product, (sigma1 sigma2)^{1/2}, not the product of the square roots"),
    (fid_parts(trace=lambda s1, s2: np.trace(np.sqrt(s1 @ s2))), "use the matrix square root, scipy.linalg.sqrtm"),
    (lambda *args: np.sqrt(sqrtm_fid(*args)), "FID is the squared distance d^2: do not take the square root"),
    (complex_fid, "take the real part of the matrix square root"),
    (lambda *args: eigen_fid(*args, clip=False), "frechet_distance returned nan: take the matrix square root"),
    (inplace_fid, "frechet_distance must not modify its input arrays in place"),
    (lambda mu1, s1, mu2, s2: (mu1 - mu2) ** 2, "frechet_distance must return one number, got an array of shape (6,)"),
    (stub_named("frechet_distance"), "frechet_distance " + NOT_IMPLEMENTED),
])
def test_frechet_distance_mistakes(fn, hint):
    assert first_line(checks.check_frechet_distance, named(fn, "frechet_distance")).startswith(hint)


def my_inception_score(mistake=None):
    """The Inception Score from logits; ``mistake`` names one typical mistake."""
    def inception_score(logits, splits=10):
        if mistake == "probabilities as logits":
            p = logits
        elif mistake == "sigmoid":
            p = torch.sigmoid(logits)
        else:
            p = torch.softmax(logits, dim=1)
        n = len(p)
        parts = ([p[j::splits] for j in range(splits)] if mistake == "strided"
                 else [p] if mistake == "no splits" else p.tensor_split(splits))
        log = torch.log2 if mistake == "log2" else torch.log
        scores = []
        for part in parts:
            p_y = (p if mistake == "marginal of all" else part).mean(0, keepdim=True)
            if mistake == "reversed KL":
                kl = (p_y * (log(p_y) - log(part))).sum(1)
            else:
                terms = part * (log(part) - log(p_y))
                kl = terms.mean(1) if mistake == "mean over classes" else terms.sum(1)
            scores.append({"no exp": kl.mean(), "exp inside": kl.exp().mean()}.get(mistake, kl.mean().exp()))
        scores = torch.stack(scores)
        std = scores.std() if mistake == "ddof 1" else scores.std(correction=0)
        if mistake == "no splits":
            std = torch.zeros(())
        if mistake == "mean only":
            return scores.mean().item()
        if mistake == "swapped":
            return std.item(), scores.mean().item()
        assert n == len(p)
        return scores.mean().item(), std.item()
    return inception_score


def test_inception_score_reference_passes():
    checks.check_inception_score(lambda logits, splits: metrics.inception_score(logits, splits))
    checks.check_inception_score(my_inception_score(), seed=1)


@pytest.mark.parametrize("mistake, hint", [
    ("probabilities as logits", "inception_score returned nan: the inputs are logits"),
    ("sigmoid", "p(y|x) is the softmax of the logits over the classes"),
    ("strided", "cut the samples into splits consecutive parts"),
    ("no splits", "score each of the splits parts separately"),
    ("log2", "use the natural log"),
    ("marginal of all", "compute the marginal p(y) in each split"),
    ("reversed KL", "the KL goes from p(y|x) to the marginal"),
    ("mean over classes", "sum the KL over the classes y, do not average"),
    ("no exp", "IS = exp(mean_x KL(p(y|x) || p(y))): take the exponential of the mean KL"),
    ("exp inside", "take the exponential of the mean KL, exp(mean_x KL), not the mean of the exponentials"),
    ("ddof 1", "use the standard deviation with ddof = 0 over the splits"),
    ("mean only", "inception_score must return a pair (mean, std)"),
    ("swapped", "return (mean, std) in this order: you swapped them"),
])
def test_inception_score_mistakes(mistake, hint):
    assert first_line(checks.check_inception_score, named(my_inception_score(mistake), "inception_score")).startswith(hint)


def test_inception_score_in_place_and_stub():
    def inception_score(logits, splits=10):
        logits -= logits.max(1, keepdim=True).values  # a stable softmax, but in place
        return metrics.inception_score(logits, splits)

    assert first_line(checks.check_inception_score, inception_score).startswith(
        "inception_score must not modify the logits in place")
    assert first_line(checks.check_inception_score, stub_named("inception_score")) == \
        "inception_score " + NOT_IMPLEMENTED


def my_nearest_neighbours(mistake=None):
    """The k nearest reference images of each query; ``mistake`` names one typical mistake."""
    def nearest_neighbours(queries, reference, k=1):
        q = queries if mistake == "no flatten" else queries.flatten(1)
        r = q if mistake == "queries only" else reference if mistake == "no flatten" else reference.flatten(1)
        d = torch.cdist(q, r, p=1 if mistake == "L1" else 2)
        if mistake == "squared":
            d = d**2
        if mistake == "mean":
            d = d / math.sqrt(q.shape[1])
        distances, indices = d.topk(k, dim=1, largest=mistake == "farthest")
        if mistake == "unsorted":
            distances, indices = distances.flip(1), indices.flip(1)
        if mistake == "transposed":
            return distances.T, indices.T
        if mistake == "squeezed":
            return distances.squeeze(1), indices.squeeze(1)
        if mistake == "swapped":
            return indices, distances
        if mistake == "images":
            return distances, reference[indices]
        return distances, indices
    return nearest_neighbours


def test_nearest_neighbours_reference_passes():
    checks.check_nearest_neighbours(lambda q, r, k: metrics.nearest_neighbours(q, r, k))
    checks.check_nearest_neighbours(my_nearest_neighbours(), seed=1)


@pytest.mark.parametrize("mistake, hint", [
    ("squared", "return the Euclidean distance ||q - r||: take the square root"),
    ("mean", "sum the squared differences over the pixels, do not average them"),
    ("L1", "use the Euclidean distance"),
    ("farthest", "the nearest neighbours have the smallest distances"),
    ("unsorted", "sort each row by increasing distance"),
    ("queries only", "compare each query with the reference images, not with the other queries"),
    ("transposed", "return one row per query: shape (Q, k) = (6, 3), not (k, Q)"),
    ("squeezed", "keep the k dimension: return shape (Q, k) = (6, 1) even for k = 1"),
    ("swapped", "return (distances, indices) in this order"),
    ("images", "return the indices of the neighbours in reference (integers), not the images"),
    ("no flatten", "flatten the images to pixel vectors first"),
])
def test_nearest_neighbours_mistakes(mistake, hint):
    assert first_line(checks.check_nearest_neighbours, named(my_nearest_neighbours(mistake), "nearest_neighbours")).startswith(hint)


def test_nearest_neighbours_stub():
    assert first_line(checks.check_nearest_neighbours, stub_named("nearest_neighbours")) == \
        "nearest_neighbours " + NOT_IMPLEMENTED


def my_fid(mistake=None, frechet_distance=None):
    """FID of two feature matrices: fit the Gaussians, then a Fréchet distance; ``mistake`` names one."""
    distance = frechet_distance or sqrtm_fid

    def fid(real_features, fake_features):
        fits = []
        for features in (real_features, fake_features):
            f = features.double().numpy()
            fits += [f.mean(axis=0), np.cov(f, rowvar=False, ddof=0 if mistake == "biased" else 1)]
        return distance(*fits)
    return fid


@pytest.mark.usefixtures("quiet_sqrtm")
def test_model_scores():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 8, generator=g) * 3 + 1
    samples = {"close": (real[:200] + 0.1 * torch.randn(200, 8, generator=g), torch.randn(200, 5, generator=g)),
               "far": (2 * torch.randn(200, 8, generator=g) + 1, 3 * torch.randn(200, 5, generator=g))}
    scores = checks.check_model_scores(my_fid(), my_inception_score(), real, samples)
    assert scores["close"]["fid"] < scores["far"]["fid"]
    for name, (features, logits) in samples.items():
        assert scores[name]["fid"] == pytest.approx(metrics.fid(real, features), rel=1e-6)
        assert scores[name]["is"] == pytest.approx(metrics.inception_score(logits, 10), rel=1e-6)
    def hint(fid, score=None):
        return first_line(checks.check_model_scores, named(fid, "fid"), score or my_inception_score(),
                          real, samples)
    assert hint(my_fid("biased")).startswith("divide the covariance by N - 1, not N")
    assert hint(my_fid(frechet_distance=fid_parts(sign=2.0))).startswith("your fid gives")
    assert hint(my_fid(), my_inception_score("ddof 1")).startswith("your inception_score gives")
    assert hint(stub_named("fid")) == "fid " + NOT_IMPLEMENTED


def my_copy_ratio(mistake=None):
    """The copy ratio with a student's nearest neighbours; ``mistake`` names one typical mistake."""
    nearest = my_nearest_neighbours("squared" if mistake == "squared" else None)

    def copy_ratio(queries, train_images, test_images):
        rank = 1 if mistake == "second" else 0
        k = rank + 1
        q, t = nearest(queries, train_images, k)[0][:, rank], nearest(test_images, train_images, k)[0][:, rank]
        if mistake == "raw":
            return q.median().item()
        a, b = (q.mean(), t.mean()) if mistake == "mean" else (q.median(), t.median())
        return (b / a).item() if mistake == "inverted" else (a / b).item()
    return copy_ratio


def test_copy_ratio(test_digits):
    images = test_digits[0]
    train, test = images[:300], images[300:400]
    copies = (train[:50] + 0.05 * torch.randn(50, 1, 28, 28, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    queries = {"copies": copies, "new digits": images[400:450]}
    ratios = checks.check_copy_ratio(my_copy_ratio(), queries, train, test)
    assert ratios["copies"] < 0.3 < 0.7 < ratios["new digits"]
    for mistake, hint in [("inverted", "divide the queries' median by the test images' median"),
                          ("mean", "use the median of the nearest distances"),
                          ("second", "use the distance to the nearest training image"),
                          ("squared", "use Euclidean distances"),
                          ("raw", "divide by the test images' median distance")]:
        assert first_line(checks.check_copy_ratio, named(my_copy_ratio(mistake), "copy_ratio"), queries,
                          train, test).startswith(hint), mistake
    assert first_line(checks.check_copy_ratio, stub_named("copy_ratio"), queries, train, test) == \
        "copy_ratio " + NOT_IMPLEMENTED


# === all of Units 05-06 ======================================================================

def reference_train_step(G, D, opt_d, opt_g, x_real, z):
    return my_train_step()(G, D, opt_d, opt_g, x_real, z)


UNIT_05_TO_06_REFERENCES = [
    (checks.check_dcgan_generator, DCGen),
    (checks.check_dcgan_discriminator, DCDisc),
    (checks.check_dcgan_train_step, reference_train_step),
    (checks.check_frechet_distance, sqrtm_fid),
    (checks.check_inception_score, my_inception_score()),
    (checks.check_nearest_neighbours, my_nearest_neighbours()),
]


def test_unit_05_to_06_checks_leave_global_random_state_alone():
    torch.manual_seed(0)
    np.random.seed(0)
    state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    for check, reference in UNIT_05_TO_06_REFERENCES:
        check(reference)
    assert torch.equal(torch.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state)


@pytest.mark.parametrize("check, reference", UNIT_05_TO_06_REFERENCES,
                         ids=[c.__name__ for c, _ in UNIT_05_TO_06_REFERENCES])
def test_unit_05_to_06_checks_are_cheap(check, reference):
    assert_cheap(check, reference)


# === Unit 07: WGAN-GP =========================================================================


def _wgan_penalty(critic, real, fake, eps, weight=10.0):
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return weight * (grad.norm(dim=1) - 1).pow(2).mean()


def _penalty_variant(*, squared=False, no_graph=False, swap=False, ignore_weight=False, at_real=False,
                     batch_norm=False, total=False):
    def penalty(critic, real, fake, eps, weight=10.0):
        a, b = (fake, real) if swap else (real, fake)
        x_hat = (a.detach() if at_real else (eps * a + (1 - eps) * b).detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=not no_graph)
        norm = grad.norm() if batch_norm else (grad.pow(2).sum(1) if squared else grad.norm(dim=1))
        per = (norm - 1).pow(2)
        return (10.0 if ignore_weight else weight) * (per.sum() if total else per.mean())
    return penalty


def _wgan_critic_step(penalty=_wgan_penalty, *, detach=True, with_penalty=True):
    def critic_step(G, f, optimizer, x_real, z, eps, weight=10.0):
        fake = G(z).detach() if detach else G(z)
        loss = f(fake).mean() - f(x_real).mean()
        if with_penalty:
            loss = loss + penalty(f, x_real, fake, eps, weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return critic_step


def _wgan_generator_step(sign=-1.0):
    def generator_step(G, f, optimizer, z):
        loss = sign * f(G(z)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return generator_step


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unit_07_references_pass(seed):
    checks.check_critic_loss(losses.critic_loss, seed=seed)
    checks.check_gradient_penalty(_wgan_penalty, seed=seed)
    checks.check_critic_step(_wgan_critic_step(), seed=seed)
    checks.check_wgan_generator_step(_wgan_generator_step(), seed=seed)


@pytest.mark.parametrize("fn, hint", [
    (lambda r, f: r.mean() - f.mean(), "the distance estimate W_hat"),
    (lambda r, f: f.sum() - r.sum(), "do not sum"),
    (lambda r, f: f.mean() + r.mean(), "subtract the real scores"),
    (lambda r, f: torch.sigmoid(f).mean() - torch.sigmoid(r).mean(), "no sigmoid"),
])
def test_critic_loss_mistakes_get_their_hint(fn, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_critic_loss(fn)


@pytest.mark.parametrize("variant, hint", [
    ({"squared": True}, "not its squared norm"),
    ({"no_graph": True}, "create_graph=True"),
    ({"swap": True}, "eps on the real side"),
    ({"ignore_weight": True}, "use the weight argument"),
    ({"at_real": True}, "at the interpolates"),
    ({"batch_norm": True}, "one norm per sample"),
    ({"total": True}, "do not sum"),
])
def test_gradient_penalty_mistakes_get_their_hint(variant, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_gradient_penalty(_penalty_variant(**variant))


def test_penalty_without_a_leaf_interpolate_gets_its_hint():
    def penalty(critic, real, fake, eps, weight=10.0):
        x_hat = eps * real + (1 - eps) * fake
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return weight * (grad.norm(dim=1) - 1).pow(2).mean()
    with pytest.raises(AssertionError, match="leaf that requires grad"):
        checks.check_gradient_penalty(penalty)


@pytest.mark.parametrize("step, hint", [
    (_wgan_critic_step(with_penalty=False), "add the gradient penalty"),
    (_wgan_critic_step(detach=False), "detach the fakes"),
])
def test_critic_step_mistakes_get_their_hint(step, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_critic_step(step)


def test_wgan_generator_step_that_ascends_is_told_to_descend():
    with pytest.raises(AssertionError, match="descend G's loss"):
        checks.check_wgan_generator_step(_wgan_generator_step(sign=1.0))


def test_unit_07_stubs_say_not_implemented():
    def gradient_penalty(critic, real, fake, eps, weight=10.0):
        raise NotImplementedError()
    with pytest.raises(AssertionError, match="gradient_penalty is not implemented yet"):
        checks.check_gradient_penalty(gradient_penalty)
