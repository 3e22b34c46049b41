"""The checks of ganlab.checks pass the reference and name each typical mistake on line one."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlab import checks
from ganlab.losses import contractive_penalty, reconstruction_error
from ganlab.models import Autoencoder, add_noise

NOT_IMPLEMENTED = "is not implemented yet: fill in the cell marked YOUR CODE HERE"


pytestmark = pytest.mark.usefixtures("one_thread")


def first_line(check, *args, **kwargs) -> str:
    """The first line of the AssertionError the check raises (what a grader shows)."""
    with pytest.raises(AssertionError) as info:
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
