"""Checks that teach: the helpers the check cells of the assignments call.

Each ``check_*`` function runs a student's function on seeded random inputs, compares it
with the reference implementation in this package and, when something is wrong, raises
an ``AssertionError`` whose **first line names the likely mistake and its fix** (a grader
reports only that line); the lines after it give the numbers. A student function whose
body still raises ``NotImplementedError`` gives one clear line,
``"<name> is not implemented yet: fill in the cell marked YOUR CODE HERE"``, instead of a
cascade of errors. An error raised inside the student's code is reported as what was
called and what it raised, with the original traceback chained below.

The checks are deterministic (their own seeded generators; the caller's global random
state is left untouched) and take well under a second each on a CPU.

Unit 01: :func:`check_autoencoder`, :func:`check_reconstruction_loss`,
:func:`check_add_noise`, :func:`check_contractive_penalty`,
:func:`check_trained_autoencoder`.

Unit 02: :func:`check_reparameterize`, :func:`check_gaussian_kl`, :func:`check_vae_loss`,
:func:`check_elbo_estimate`, :func:`check_trained_vae`.

Unit 03: :func:`check_discriminator_loss`, :func:`check_generator_loss`,
:func:`check_discriminator_step`, :func:`check_generator_step`,
:func:`check_gan_iteration`, :func:`check_trained_gan`.

Unit 04 (NumPy functions of densities on a grid): :func:`check_optimal_discriminator`,
:func:`check_kl_divergence`, :func:`check_js_divergence`, :func:`check_value_function`.

Unit 05 (DCGAN): :func:`check_dcgan_generator`, :func:`check_dcgan_discriminator`,
:func:`check_dcgan_train_step`, :func:`check_trained_dcgan`.

Unit 06 (metrics): :func:`check_frechet_distance`, :func:`check_inception_score`,
:func:`check_nearest_neighbours`, :func:`check_model_scores`, :func:`check_memorisation`.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping
from typing import NoReturn

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganlab import theory, toy
from ganlab.gan import discriminator_step as reference_discriminator_step
from ganlab.gan import generator_step as reference_generator_step
from ganlab.grading import evidence
from ganlab.losses import (
    LOG_2PI,
    bernoulli_log_likelihood,
    contractive_penalty,
    discriminator_loss,
    gaussian_kl,
    generator_loss,
    reconstruction_error,
    reparameterize,
)
from ganlab.models.autoencoders import add_noise as reference_add_noise
from ganlab.models.linear_gaussian import LinearGaussian

NOT_IMPLEMENTED = "{name} is not implemented yet: fill in the cell marked YOUR CODE HERE"
IMAGE_SHAPE = (1, 28, 28)
# modules whose own NotImplementedError is not a student's stub
_LIBRARY_MODULES = ("torch", "ganlab", "numpy", "builtins")


def fail(hint: str, *details: str) -> NoReturn:
    """Raise the AssertionError of a check: ``hint`` on the first line, ``details`` below."""
    __tracebackhide__ = True
    raise AssertionError("\n".join([hint, *details]))


def call(description: str, fn: Callable, *args, name: str,
         hints: Mapping[str, str] | None = None, **kwargs):
    """``fn(*args, **kwargs)``, turning the student's errors into one-line hints.

    ``NotImplementedError`` becomes :data:`NOT_IMPLEMENTED` for the function that raised
    it (``name`` if it cannot be told). Any other exception becomes an AssertionError
    ``"<description> raised <Type>: <message>"``, unless ``hints`` maps a fragment of its
    message to a better first line. ``description`` says what was called, e.g. ``"encode(x)"``.
    """
    __tracebackhide__ = True
    if not callable(fn):
        fail(f"{name} must be a function or a class, got {type(fn).__name__}: "
             "run the cell that defines it")
    return evidence.intercept(description, fn, args, kwargs,
                              lambda: _invoke(description, fn, args, kwargs, name, hints))


def _invoke(description: str, fn: Callable, args: tuple, kwargs: dict, name: str,
            hints: Mapping[str, str] | None):
    __tracebackhide__ = True
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        raise AssertionError(NOT_IMPLEMENTED.format(name=_raised_by(error) or name)) from None
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        said = f"{description} raised {type(error).__name__}" + (f": {message}" if message else "")
        hint = next((h for fragment, h in (hints or {}).items() if fragment in str(error)), None)
        raise AssertionError(f"{hint}\n{said}" if hint else said) from error


def _raised_by(error: BaseException) -> str | None:
    """The student function whose body raised ``error``: ``"add_noise"``, ``"Model.encode"``."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    frame = tb.tb_frame
    module = str(frame.f_globals.get("__name__", ""))
    function = frame.f_code.co_name
    owner = frame.f_locals.get("self")
    if function == "_forward_unimplemented" and owner is not None:  # nn.Module without forward
        return f"{type(owner).__name__}.forward"
    if module.split(".")[0] in _LIBRARY_MODULES or function.startswith("<"):
        return None
    if owner is None or isinstance(owner, type):
        return function
    cls = type(owner).__name__
    return cls if function == "__init__" else f"{cls}.{function}"


def _name(fn, default: str) -> str:
    name = getattr(fn, "__name__", "")
    return name if name and not name.startswith("<") else default


def _tensor(value, what: str) -> torch.Tensor:
    __tracebackhide__ = True
    if isinstance(value, (int, float)):
        fail(f"{what} must return a tensor, not a Python number: do not call .item() or "
             "float() (training needs a tensor to backpropagate through)")
    if not isinstance(value, torch.Tensor):
        fail(f"{what} must return a torch.Tensor, got {type(value).__name__}")
    return value


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _close(value: float, target: float, rel: float = 1e-4) -> bool:
    return math.isclose(value, target, rel_tol=rel, abs_tol=1e-9)


def _trained_generator(train: Callable[[], nn.Module]) -> tuple[nn.Module, int]:
    """Run the student's training function; it must return a generator with an int ``latent_dim``."""
    __tracebackhide__ = True
    name = _name(train, "the training run")
    G = call(f"{name}()", train, name=name)
    if not isinstance(G, nn.Module):
        fail(f"{name}() must return the trained generator, got {type(G).__name__}")
    latent_dim = getattr(G, "latent_dim", None)
    if not isinstance(latent_dim, int):
        fail(f"{name}() must return the generator G (a module with a latent_dim)")
    return G, latent_dim


def _images(n: int, generator: torch.Generator) -> torch.Tensor:
    """Image-like tensors ``(n, 1, 28, 28)`` in [-1, 1], mostly dark like MNIST digits."""
    x = 0.5 * torch.randn((n, *IMAGE_SHAPE), generator=generator) - 0.6
    return x.clamp(-1.0, 1.0)


# --- Unit 01: autoencoders ----------------------------------------------------------------


def _require_scalar(out: torch.Tensor, n: int, name: str, how: str) -> None:
    """Fail unless a loss returned one number; say so specially for one value per example."""
    if _shape(out) == (n,):
        fail(f"{name} must return one number: {how} (got one value per example, shape {_shape(out)})")
    if out.numel() != 1:
        fail(f"{name} must return one number (a 0-d tensor), got shape {_shape(out)}")

def _parameter_gradients(model: nn.Module, loss: Callable[[], torch.Tensor]
                         ) -> tuple[bool, list[str], list[str]]:
    """Backpropagate ``loss()`` into ``model``: (does it depend on the parameters, the names
    of frozen parameters, the names of parameters left without a gradient)."""
    model.zero_grad(set_to_none=True)
    value = loss()
    if not value.requires_grad:
        return False, [], []
    value.backward()
    frozen = [p for p, t in model.named_parameters() if not t.requires_grad]
    missing = [p for p, t in model.named_parameters() if t.grad is None]
    model.zero_grad(set_to_none=True)
    return True, frozen, missing


@evidence.graded
def check_autoencoder(make_model: Callable[..., nn.Module], *, latent_dim: int = 8,
                      hidden: int = 64, seed: int = 0) -> None:
    """Check an MLP autoencoder built by ``make_model(latent_dim=..., hidden=...)``.

    It must be an ``nn.Module`` with ``encode(x)``: images ``(N, 1, 28, 28)`` to codes
    ``(N, latent_dim)``; ``decode(z)``: codes back to images ``(N, 1, 28, 28)`` in
    ``[-1, 1]`` (so the decoder ends with ``tanh``); ``forward(x) = decode(encode(x))``;
    and every parameter must receive a gradient from the reconstruction loss.
    """
    __tracebackhide__ = True
    name = _name(make_model, "the autoencoder")
    n = 5
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = call(f"{name}(latent_dim={latent_dim}, hidden={hidden})", make_model,
                     latent_dim=latent_dim, hidden=hidden, name=name,
                     hints={"Module.__init__() call": "call super().__init__() first in "
                            "__init__, before creating any layer"})
    if not isinstance(model, nn.Module):
        fail(f"{name}(...) must give an nn.Module (a class deriving from torch.nn.Module), "
             f"got {type(model).__name__}")
    for method in ("encode", "decode"):
        if not callable(getattr(model, method, None)):
            fail(f"the autoencoder needs a method {method}(...): encode(x) gives the code z, "
                 "decode(z) the reconstruction")
    if not evidence.observe("the model has parameters",
                            lambda: any(True for _ in model.parameters())):
        fail("the autoencoder has no parameters: store its layers as attributes of the "
             "module (self.encoder = nn.Sequential(...))")
    model.eval()  # no dropout noise while comparing
    g = torch.Generator().manual_seed(seed)
    x = _images(n, g)

    z = _tensor(call("model.encode(x)", model.encode, x, name=f"{name}.encode", hints={
        "shapes cannot be multiplied": "encode(x) receives images (N, 1, 28, 28): flatten them "
        "to (N, 784) before the first Linear layer (nn.Flatten() or x.flatten(1))"}),
        "encode(x)")
    if _shape(z) == (n, hidden):
        fail(f"encode(x) stops at the hidden layer: add a last Linear(hidden, latent_dim) so "
             f"that codes have shape (N, latent_dim) = {(n, latent_dim)}")
    if _shape(z) != (n, latent_dim):
        fail(f"encode(x) must return codes of shape (N, latent_dim) = {(n, latent_dim)}, got "
             f"{_shape(z)} (for latent_dim={latent_dim}, hidden={hidden})")

    x_hat = _tensor(call("model.decode(z)", model.decode, z, name=f"{name}.decode", hints={
        "shapes cannot be multiplied": "decode(z) receives codes (N, latent_dim): its first "
        "layer must be Linear(latent_dim, hidden)"}), "decode(z)")
    if _shape(x_hat) == (n, math.prod(IMAGE_SHAPE)):
        fail(f"decode(z) must return images of shape (N, 1, 28, 28), got {_shape(x_hat)}: "
             "reshape at the end (nn.Unflatten(1, (1, 28, 28)) or .view(-1, 1, 28, 28))")
    if _shape(x_hat) != (n, *IMAGE_SHAPE):
        fail(f"decode(z) must return images of shape (N, 1, 28, 28) = {(n, *IMAGE_SHAPE)}, "
             f"got {_shape(x_hat)}")

    out = _tensor(call("model(x)", model, x, name=name), "model(x)")
    if _shape(out) != _shape(x_hat):
        fail("forward(x) must return decode(encode(x))",
             f"model(x) has shape {_shape(out)}, model.decode(model.encode(x)) {_shape(x_hat)}")
    if not torch.allclose(out, x_hat, atol=1e-5):
        fail("forward(x) must return decode(encode(x))", "model(x) differs from "
             f"model.decode(model.encode(x)) by up to {(out - x_hat).abs().max().item():.3g}")

    with torch.no_grad():  # large codes drive the output layer into its extreme values
        far = _tensor(call("model.decode(large codes)", model.decode,
                           40.0 * torch.randn((64, latent_dim), generator=g),
                           name=f"{name}.decode"), "decode(z)")
    low, high = min(far.min().item(), x_hat.min().item()), max(far.max().item(), x_hat.max().item())
    if low < -1 - 1e-6 or high > 1 + 1e-6:
        fail("the decoder must end with tanh: images are in [-1, 1]",
             f"decode(z) gave values in [{low:.3g}, {high:.3g}]")
    if low >= 0:
        fail("the decoder must end with tanh: images are in [-1, 1]",
             f"decode(z) never goes below 0 (values in [{low:.3g}, {high:.3g}]): a sigmoid "
             "or a ReLU at the end cannot give the dark background at -1")

    model.train()
    depends, frozen, missing = evidence.observe(
        "the parameters get gradients",
        lambda: _parameter_gradients(model, lambda: (model(x) - x).pow(2).mean()))
    if not depends:
        fail("the reconstruction does not depend on the parameters: do not use .detach(), "
             "torch.no_grad() or NumPy inside the model")
    if frozen:
        fail(f"parameter {frozen[0]} has requires_grad=False: every parameter must be trained")
    if missing:
        fail(f"parameter {missing[0]} gets no gradient: every layer you create must be used by "
             "encode or decode (and the graph must not be cut by .detach())",
             f"parameters without a gradient: {', '.join(missing)}")


@evidence.graded
def check_reconstruction_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                              seed: int = 0) -> None:
    """Check ``fn(x_hat, x)``: the per-pixel mean squared error, averaged over the batch.

    ``L = 1/(N D) sum_n sum_i (x'_ni - x_ni)^2``, a 0-d tensor, differentiable in ``x_hat``.
    """
    __tracebackhide__ = True
    name = _name(fn, "the reconstruction loss")
    n = 6
    g = torch.Generator().manual_seed(seed)
    x = _images(n, g)
    x_hat = (x + 0.2 + 0.3 * torch.randn(x.shape, generator=g)).requires_grad_(True)
    x_before = x.clone()
    out = _tensor(call(f"{name}(x_hat, x)", fn, x_hat, x, name=name), name)
    if not torch.equal(x, x_before):
        fail(f"{name} must not modify x in place: compute a new tensor")
    _require_scalar(out, n, name, "average over the images of the batch as well")

    value = out.item()
    with torch.no_grad():
        diff = x_hat - x
        expected = reconstruction_error(x_hat, x).mean().item()
        mistakes = [
            (diff.pow(2).sum(), "use the mean, not the sum: average the squared errors over "
             "pixels and images (reduction='mean')"),
            (diff.pow(2).flatten(1).sum(1).mean(), "average over the pixels too, not only "
             "over the batch: the loss is the mean squared error per pixel"),
            (diff.abs().mean(), "square the differences: this is the mean absolute error, not "
             "the mean squared error"),
            (diff.mean(), "square the differences: without squaring, positive and negative "
             "errors cancel out"),
            (diff.mean().pow(2), "square each difference, then average: you averaged first "
             "and squared the mean"),
            ((x_hat.pow(2) - x.pow(2)).mean(), "square the difference, (x_hat - x)**2, not "
             "the difference of the squares"),
            ((x.pow(2) - x_hat.pow(2)).mean(), "square the difference, (x_hat - x)**2, not "
             "the difference of the squares"),
            (diff.pow(2).mean().sqrt(), "do not take the square root: the loss is the mean "
             "squared error, not its root"),
        ]
    if not _close(value, expected):
        for wrong, hint in mistakes:
            if _close(value, wrong.item()):
                fail(hint, f"{name} returned {value:.6g}; expected {expected:.6g}")
        fail(f"{name} returned {value:.6g}, expected {expected:.6g}: the mean over pixels and "
             "images of (x_hat - x)**2")
    if not out.requires_grad:
        fail(f"{name} is not differentiable: compute it with torch operations on x_hat (no "
             ".item(), .detach(), NumPy or torch.no_grad())")
    call(f"{name}(x_hat, x).backward()", out.backward, name=name)
    if x_hat.grad is None or not torch.allclose(x_hat.grad, 2 * diff / diff.numel(), atol=1e-7):
        fail(f"the gradient of {name} is wrong: it must be 2 (x_hat - x) / (N D)")


@evidence.graded
def check_add_noise(fn: Callable[..., torch.Tensor], *, seed: int = 0) -> None:
    """Check the denoising corruption ``fn(x, std, generator)``.

    ``x~ = clip(x + std * eps, -1, 1)`` with ``eps ~ N(0, I)`` drawn from ``generator``,
    a new tensor of the shape of ``x`` (``x`` itself unchanged), as
    :func:`ganlab.models.add_noise`. Checked by the statistics of the noise, the range,
    and the reproducibility given a generator.
    """
    __tracebackhide__ = True
    name = _name(fn, "add_noise")

    def run(x, std, noise_seed):
        before = x.clone()
        out = _tensor(call(f"{name}(x, std={std}, generator)", fn, x, std,
                           torch.Generator().manual_seed(noise_seed), name=name, hints={
                               "must match the size": "draw eps with the shape of x: "
                               "torch.randn(x.shape, generator=generator)"}), name)
        if not torch.equal(x, before):
            fail(f"{name} must not modify x in place: return a new tensor (x + std * eps, "
                 "not x += ... or x.add_(...))")
        if _shape(out) != _shape(x):
            fail(f"{name} must return a tensor of the shape of x, {_shape(x)}, got "
                 f"{_shape(out)}: draw eps with torch.randn(x.shape, generator=generator)")
        return out.detach()

    g = torch.Generator().manual_seed(seed)
    # 1. real-looking images (a dark background at -1) and strong noise: clipping
    x = _images(64, g)
    out = run(x, 1.0, seed + 2)
    low, high = out.min().item(), out.max().item()
    if low < -1 - 1e-6 or high > 1 + 1e-6:
        fail("clip the corrupted image to [-1, 1] (.clamp(-1, 1)): images live in [-1, 1]",
             f"with std = 1 the values were in [{low:.3g}, {high:.3g}]")
    if low >= 0:
        fail("clip to [-1, 1], not [0, 1]: images live in [-1, 1]",
             f"with std = 1 the values were in [{low:.3g}, {high:.3g}]")
    if torch.corrcoef(torch.stack([out.flatten(), x.flatten()]))[0, 1] < 0.1:
        fail(f"{name} must return the corrupted image x + std * eps, not the noise alone")
    if not ((out == -1) | (out == 1)).any():
        fail("clip with .clamp(-1, 1) after adding the noise: x~ = clip(x + std * eps, -1, 1)",
             "no pixel ended at exactly -1 or 1, so the values were squashed, not clipped")

    # 2. the generator decides the noise, and std scales it
    if not torch.equal(out, run(x, 1.0, seed + 2)):
        fail("draw the noise from the generator argument (torch.randn(x.shape, "
             "generator=generator)): the same generator state must give the same noise")
    if torch.equal(out, run(x, 1.0, seed + 3)):
        fail("different generators must give different noise: do not seed inside "
             f"{name}, use the generator it receives")
    if torch.equal(out, run(x, 0.5, seed + 2)):
        fail("multiply the noise by std: x + std * eps with eps ~ N(0, I)",
             "std = 1 and std = 0.5 gave the same result")
    if not torch.equal(run(x, 0.0, seed + 4), x):
        fail(f"with std = 0, {name} must return x unchanged")

    # 3. images away from the edges and small noise: no clipping, the noise shows as is
    std = 0.1
    x = torch.rand((64, *IMAGE_SHAPE), generator=g) - 0.5
    noise = run(x, std, seed + 1) - x
    spread = noise.std().item()
    for scale, hint in [(std**2, "scale the noise by the standard deviation std, not the "
                         "variance std**2: x + std * eps"),
                        (std**0.5, "scale the noise by std, not sqrt(std): std is already a "
                         "standard deviation")]:
        if abs(spread - scale) < 0.15 * scale:
            fail(hint, f"with std = {std} the noise x~ - x had standard deviation {spread:.3g}")
    if abs(noise.mean().item()) > 0.2 * std:
        fail("the noise must have mean 0: use torch.randn (Gaussian), not torch.rand "
             "(uniform on [0, 1))", f"mean of x~ - x: {noise.mean().item():.3g}")
    if noise.flatten(1).std(dim=1).mean().item() < 0.5 * std:
        fail("draw one noise value per pixel: eps must have the shape of x "
             "(torch.randn(x.shape, generator=generator)), not one value per image")
    if abs(spread - std) > 0.1 * std:
        fail(f"the noise x~ - x has standard deviation {spread:.3g}, expected std = {std}: "
             "x~ = x + std * eps with eps ~ N(0, I)")

    # 4. the reference clips about half of the background pixels to exactly -1; the same
    # noise drawn another way (e.g. torch.normal) is fine, a different corruption is not
    x = _images(64, g)
    out = run(x, 1.0, seed + 5)
    reference = reference_add_noise(x, 1.0, torch.Generator().manual_seed(seed + 5))
    at_edge, expected_at_edge = ((out == -1).float().mean().item(),
                                 (reference == -1).float().mean().item())
    if abs(at_edge - expected_at_edge) > 0.05 or abs(out.mean() - reference.mean()).item() > 0.05:
        fail("clip with .clamp(-1, 1) after adding the noise: x~ = clip(x + std * eps, -1, 1)",
             f"{at_edge:.0%} of the pixels ended at exactly -1, expected about "
             f"{expected_at_edge:.0%}")


def _jacobian(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``J[n, j, i] = dz_j / dx_i`` of ``encoder`` at each example (no graph kept)."""
    x = x.detach().requires_grad_(True)
    z = encoder(x)
    rows = [torch.autograd.grad(z[:, j].sum(), x, retain_graph=True)[0].flatten(1)
            for j in range(z.shape[1])]
    return torch.stack(rows, dim=1).detach()


@evidence.graded
def check_contractive_penalty(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                              seed: int = 0) -> None:
    """Check ``fn(z, x)``: the mean over the batch of ``||J_f(x)||_F^2``, differentiable.

    ``z = f(x)`` is computed from images ``x`` that require grad; the answer must match
    :func:`ganlab.losses.contractive_penalty` and backpropagate to the encoder's
    parameters (``torch.autograd.grad(..., create_graph=True)``).
    """
    __tracebackhide__ = True
    name = _name(fn, "the contractive penalty")
    n, latent_dim = 4, 3
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(36, 10), nn.Tanh(),
                                nn.Linear(10, latent_dim))
    x = torch.randn((n, 1, 6, 6), generator=torch.Generator().manual_seed(seed))

    x_ref = x.clone().requires_grad_(True)
    expected = contractive_penalty(encoder(x_ref), x_ref)
    params = list(encoder.parameters())
    expected_grads = torch.autograd.grad(expected, params, allow_unused=True)
    J = _jacobian(encoder, x)
    with torch.no_grad():
        J2 = J.pow(2)
        mistakes = [
            (J2.sum(), "average over the batch, do not sum: the penalty is the mean over "
             "examples of ||J_f(x)||_F^2"),
            (J.abs().sum((1, 2)).mean(), "square the Jacobian entries: ||J_f(x)||_F^2 = "
             "sum_j sum_i (dz_j / dx_i)**2"),
            (J.sum((1, 2)).mean(), "square the Jacobian entries: ||J_f(x)||_F^2 = "
             "sum_j sum_i (dz_j / dx_i)**2"),
            (J2.sum((1, 2)).sqrt().mean(), "use the squared norm ||J_f(x)||_F^2: do not take "
             "the square root"),
            (J2[:, 0].sum(1).mean(), "sum over every code dimension j (one torch.autograd.grad "
             "per column z[:, j]), not only the first"),
            (J.sum(1).pow(2).sum(1).mean(), "differentiate each code dimension z[:, j] "
             "separately: the gradient of z.sum() adds the rows of the Jacobian before squaring"),
            (J2.mean(), "sum the squared entries over pixels and code dimensions: average "
             "only over the batch"),
            (J2.mean(2).sum(1).mean(), "sum the squared entries over the pixels i, do not "
             "average them: average only over the batch"),
        ]

    x_in = x.clone().requires_grad_(True)
    z = encoder(x_in)
    out = _tensor(call(f"{name}(z, x)", fn, z, x_in, name=name, hints={
        "backward through the graph a second time": "pass create_graph=True to "
        "torch.autograd.grad: it keeps the graph for the next code dimension and makes the "
        "penalty differentiable"}), name)
    _require_scalar(out, n, name, "the mean over the batch")
    value = out.item()
    if not _close(value, expected.item()):
        for wrong, hint in mistakes:
            if _close(value, wrong.item()):
                fail(hint, f"{name} returned {value:.6g}; expected {expected.item():.6g}")
        fail(f"{name} returned {value:.6g}, expected {expected.item():.6g}: the mean over the "
             "batch of sum_j sum_i (dz_j / dx_i)**2")
    if out.grad_fn is None:
        fail(f"{name} is not differentiable: pass create_graph=True to torch.autograd.grad so "
             "that training can backpropagate through the penalty")
    grads = call(f"backpropagating through {name}", torch.autograd.grad, out, params,
                 allow_unused=True, name=name)
    for (param, t), got, want in zip(encoder.named_parameters(), grads, expected_grads,
                                     strict=True):
        # (the last bias does not change the Jacobian: its gradient is None or zero)
        got = torch.zeros_like(t) if got is None else got
        want = torch.zeros_like(t) if want is None else want
        if not torch.allclose(got, want, rtol=1e-3, atol=1e-6):
            fail(f"the gradient of {name} with respect to the encoder's {param} is wrong: keep "
                 "every step in the graph (create_graph=True, no .detach())")


@evidence.graded
def check_trained_autoencoder(train: Callable[[], nn.Module], test_images: torch.Tensor, *,
                              max_error: float) -> tuple[nn.Module, float]:
    """Run ``train()`` and check that the model it returns reconstructs ``test_images``.

    The test reconstruction error (per-pixel mean squared error on images the model never
    saw) must be below ``max_error``. Returns the trained model and its error.
    """
    __tracebackhide__ = True
    name = _name(train, "the training run")
    model = call(f"{name}()", train, name=name)
    if not isinstance(model, nn.Module):
        fail(f"{name}() must return the trained model, got {type(model).__name__}")
    model.eval()
    with torch.no_grad():
        errors = [(_tensor(call("model(x)", model, x, name="model"), "model(x)") - x)
                  .pow(2).mean().item() * len(x) for x in test_images.split(500)]
    error = sum(errors) / len(test_images)
    if not math.isfinite(error):
        fail(f"the test reconstruction error is {error}: training diverged (check the loss "
             "and the learning rate)")
    if error > max_error:
        fail(f"the test reconstruction error {error:.4f} is above {max_error}: the model did "
             "not learn; check train_step (optimizer.zero_grad(), loss.backward(), "
             "optimizer.step()) and that the loss compares the output with the clean x")
    return model, error


# --- shared by Units 02-04 ------------------------------------------------------------------


def _number(value, what: str) -> float:
    """``value`` as a Python float when it is one number (float, 0-d tensor or array)."""
    __tracebackhide__ = True
    if value is None:
        fail(f"{what} returned None: return the value (did you forget the return statement?)")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            fail(f"{what} must return one number, got a tensor of shape {_shape(value)}")
        return value.item()
    if isinstance(value, (bool, np.bool_)):
        fail(f"{what} must return a number, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.size != 1:
            fail(f"{what} must return one number (the integral), got an array of shape "
                 f"{value.shape}: integrate over x with np.trapezoid(integrand, x)")
        return float(value.reshape(()))
    fail(f"{what} must return a number, got {type(value).__name__}")


def _same_tensors(got: list[torch.Tensor], want: list[torch.Tensor], rtol: float = 1e-4,
                  atol: float = 1e-6) -> bool:
    return all(torch.allclose(a, b, rtol=rtol, atol=atol) for a, b in zip(got, want, strict=True))


def _first_match(value: torch.Tensor, mistakes, rtol: float = 1e-4, atol: float = 1e-6) -> str | None:
    """The hint of the first ``(wrong value, hint)`` that ``value`` equals, if any."""
    for wrong, hint in mistakes:
        wrong = torch.as_tensor(wrong, dtype=value.dtype)
        if wrong.shape == value.shape and torch.isfinite(wrong).all() \
                and torch.allclose(value, wrong, rtol=rtol, atol=atol):
            return hint
    return None


def _fmt(t) -> str:
    """A short rendering of a few numbers for the detail lines of a failure."""
    values = torch.as_tensor(t).flatten().tolist()
    shown = ", ".join(f"{v:.4g}" for v in values[:6])
    return f"[{shown}{', ...' if len(values) > 6 else ''}]"


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
    name = _name(train, "the training run")
    model = call(f"{name}()", train, name=name)
    if not isinstance(model, nn.Module):
        fail(f"{name}() must return the trained model, got {type(model).__name__}")
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
    was_training = G.training
    G.eval()
    with torch.no_grad():
        z = toy.noise(n, latent_dim, generator=torch.Generator().manual_seed(seed))
        fake = call("G(z)", G, z, name="G")
    G.train(was_training)
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


# --- Unit 04: the optimal discriminator and the JSD (NumPy, densities on a grid) -------------

_ZERO_LOG_ZERO = ("where a density is 0 its term is 0 (the convention 0 log 0 = 0): compute "
                  "the integrand only where the density is positive (np.where(p > 0, ..., 0) "
                  "or a mask), otherwise 0 * log(0) gives NaN")


def _grid(n: int = 1601, low: float = -8.0, high: float = 8.0) -> np.ndarray:
    return np.linspace(low, high, n)


def _triangle(x: np.ndarray, centre: float, half_width: float) -> np.ndarray:
    """A triangular density: exactly 0 outside ``[centre - half_width, centre + half_width]``."""
    return np.clip(1 - np.abs(x - centre) / half_width, 0, None) / half_width


def _smooth_pair(x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two smooth densities that overlap: a two-component mixture and a Gaussian."""
    rng = np.random.default_rng(seed)
    p = toy.GaussianMixture1D(means=[-1.5 + 0.3 * rng.normal(), 1.2 + 0.3 * rng.normal()],
                              stds=[0.6, 0.9], weights=[0.4, 0.6]).pdf(x)
    q = toy.Gaussian1D(mean=0.4 + 0.3 * rng.normal(), std=1.3).pdf(x)
    return p, q


def _array(value, what: str, shape: tuple[int, ...]) -> np.ndarray:
    __tracebackhide__ = True
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if value is None:
        fail(f"{what} returned None: return the array (did you forget the return statement?)")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{what} must return a NumPy array, got {type(value).__name__}")
    if array.shape != shape:
        fail(f"{what} must return one value per grid point, an array of shape {shape} like its "
             f"inputs, got shape {array.shape}")
    return array


def _call_numpy(description: str, fn: Callable, *arrays, name: str):
    """``fn(*arrays)`` on copies of NumPy arrays, failing if it changes them in place."""
    __tracebackhide__ = True
    copies = [a.copy() for a in arrays]
    with np.errstate(all="ignore"):
        out = call(description, fn, *copies, name=name)
    if not all(np.array_equal(a, c) for a, c in zip(arrays, copies, strict=True)):
        fail(f"{name} must not modify its input arrays in place: compute new arrays")
    return out


def _close_number(value: float, target: float) -> bool:
    return math.isclose(value, target, rel_tol=1e-6, abs_tol=1e-9)


def _integral_mistakes(expected: float, dx: float) -> list[tuple[float, str]]:
    """Wrong values every integral of this unit can take: log base, missing dx, sign."""
    return [
        (expected / math.log(2), "use the natural log np.log: divergences in this course are in "
         "nats (np.log2 gives bits)"),
        (expected / math.log(10), "use the natural log np.log, not np.log10"),
        (expected / dx, "integrate over x: np.trapezoid(integrand, x), or multiply the sum by the "
         "grid spacing dx (a plain sum ignores dx)"),
    ]


def _check_number(name: str, value: float, expected: float, mistakes, what: str) -> None:
    __tracebackhide__ = True
    if not math.isfinite(value):
        fail(f"{name} returned {value}: {_ZERO_LOG_ZERO}")
    if not _close_number(value, expected):
        for wrong, hint in mistakes:
            if math.isfinite(wrong) and math.isclose(value, wrong, rel_tol=1e-5, abs_tol=1e-9):
                fail(hint, f"{name} returned {value:.8g}; expected {expected:.8g}")
        fail(f"{name} returned {value:.8g}, expected {expected:.8g}: {what}")


@evidence.graded
def check_optimal_discriminator(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                                seed: int = 0) -> None:
    """Check ``fn(p_data, p_g)``: ``D*(x) = p_data / (p_data + p_g)`` at every grid point.

    ``1/2`` where both densities vanish; an array of the shape of the inputs, as
    :func:`ganlab.theory.optimal_discriminator`.
    """
    __tracebackhide__ = True
    name = _name(fn, "optimal_discriminator")
    x = _grid(1201, -6.0, 6.0)
    pairs = [_smooth_pair(x, seed),                                       # overlapping, no zeros
             (_triangle(x, -1.0, 2.0), _triangle(x, 1.0, 2.5))]           # exact zeros
    for p, q in pairs:
        out = _array(_call_numpy(f"{name}(p_data, p_g)", fn, p, q, name=name), name, x.shape)
        expected = theory.optimal_discriminator(p, q)
        live = (p + q) > 0
        if not np.allclose(out[live], expected[live], rtol=1e-6, atol=1e-12):
            with np.errstate(all="ignore"):
                mistakes = [
                    (q / (p + q), "D*(x) = p_data / (p_data + p_g) is the probability that x is "
                     "real: you returned p_g / (p_data + p_g), the probability that it is fake"),
                    (p / q, "divide by the sum p_data + p_g, not by p_g: D* is a probability, "
                     "between 0 and 1"),
                    (q / p, "D*(x) = p_data / (p_data + p_g): divide p_data by the sum of the "
                     "two densities"),
                    (p / (p + q).sum(), "divide point by point: D*(x) = p_data(x) / (p_data(x) + "
                     "p_g(x)) at every x, not by a sum over the grid"),
                ]
            for wrong, hint in mistakes:
                if np.allclose(out[live], wrong[live], rtol=1e-6, atol=1e-12, equal_nan=True):
                    fail(hint)
            worst = np.nanargmax(np.abs(out - expected) * live)
            fail(f"{name} differs from p_data / (p_data + p_g)",
                 f"at x = {x[worst]:.3g}: returned {out[worst]:.6g}, expected {expected[worst]:.6g}")
        if not live.all():
            dead = out[~live]
            if np.isnan(dead).any():
                fail("where p_data and p_g are both 0, D* = 0 / 0 is undefined: return 1/2 there "
                     "(np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0), "
                     "or np.where)")
            if not np.allclose(dead, 0.5):
                fail("where p_data and p_g are both 0, return D* = 1/2: V does not depend on D "
                     "there, and 1/2 is the value D* takes everywhere once p_g = p_data",
                     f"got values in [{dead.min():.3g}, {dead.max():.3g}] there")


@evidence.graded
def check_kl_divergence(fn: Callable[..., float], *, seed: int = 0) -> None:
    """Check ``fn(p, q, x)``: ``KL(P || Q) = integral p log(p / q) dx`` in nats.

    Trapezoid rule (or a sum times the grid spacing), ``0 log 0 = 0`` where ``p`` vanishes;
    one number, as :func:`ganlab.theory.kl_divergence`.
    """
    __tracebackhide__ = True
    name = _name(fn, "kl_divergence")
    x = _grid()
    dx = x[1] - x[0]
    p, q = _smooth_pair(x, seed)
    value = _number(_call_numpy(f"{name}(p, q, x)", fn, p, q, x, name=name), name)
    expected = theory.kl_divergence(p, q, x)
    with np.errstate(all="ignore"):
        mistakes = [
            (theory.kl_divergence(q, p, x), "KL(P || Q) integrates p log(p / q): you computed "
             "KL(Q || P) (the roles of p and q are swapped)"),
            (-expected, "KL(P || Q) = integral of p log(p / q) dx is never negative: you used "
             "log(q / p) (flip the ratio)"),
            *_integral_mistakes(expected, dx),
            (float(np.trapezoid(np.log(p / q), x)), "weight log(p / q) by p(x): KL = integral "
             "of p(x) log(p(x) / q(x)) dx"),
            (float(np.mean(p * np.log(p / q))), "integrate over x with np.trapezoid(integrand, "
             "x): averaging the integrand ignores the grid spacing"),
        ]
    _check_number(name, value, expected, mistakes, "KL(P || Q) = integral of p log(p / q) dx, "
                  "with np.trapezoid")
    itself = _number(_call_numpy(f"{name}(p, p, x)", fn, p, p, x, name=name), name)
    if abs(itself) > 1e-9:
        fail(f"KL(P || P) must be 0, got {itself:.6g}")
    # p vanishes outside its support: 0 log 0 = 0
    p0 = _triangle(x, 0.5, 2.0)
    value = _number(_call_numpy(f"{name}(p, q, x)", fn, p0, q, x, name=name), name)
    expected = theory.kl_divergence(p0, q, x)
    _check_number(name, value, expected, _integral_mistakes(expected, dx),
                  "where p = 0 the integrand is 0")


@evidence.graded
def check_js_divergence(fn: Callable[..., float], *, seed: int = 0) -> None:
    """Check ``fn(p, q, x)``: ``JSD = 1/2 KL(P || M) + 1/2 KL(Q || M)``, ``M = (P + Q) / 2``.

    In nats, between 0 and ``log 2``, symmetric, as :func:`ganlab.theory.js_divergence`.
    """
    __tracebackhide__ = True
    name = _name(fn, "js_divergence")
    x = _grid()
    dx = x[1] - x[0]
    p, q = _smooth_pair(x, seed)
    value = _number(_call_numpy(f"{name}(p, q, x)", fn, p, q, x, name=name), name)
    expected = theory.js_divergence(p, q, x)
    kl = theory.kl_divergence
    m = 0.5 * (p + q)
    mistakes = [
        *_integral_mistakes(expected, dx),
        (2 * expected, "JSD = 1/2 KL(P || M) + 1/2 KL(Q || M): you left out the factors 1/2"),
        (expected - math.log(2), "the mixture is M = (P + Q) / 2: P + Q is not a density "
         "(it integrates to 2)"),
        (0.5 * (kl(p, q, x) + kl(q, p, x)), "compare each density with the mixture "
         "M = (P + Q) / 2, not with the other density: the symmetrised KL is not the JSD"),
        (0.5 * kl(p, m, x), "add both halves: JSD = 1/2 KL(P || M) + 1/2 KL(Q || M)"),
        (kl(p, m, x), "JSD = 1/2 KL(P || M) + 1/2 KL(Q || M): both halves, each with its 1/2"),
        (0.5 * (kl(m, p, x) + kl(m, q, x)), "the KLs go from each density to the mixture: "
         "KL(P || M) and KL(Q || M), not KL(M || P)"),
    ]
    _check_number(name, value, expected, mistakes, "1/2 KL(P || M) + 1/2 KL(Q || M) with "
                  "M = (P + Q) / 2")
    # densities with disjoint supports: JSD = log 2 (up to the grid)
    p0, q0 = _triangle(x, -3.0, 1.5), _triangle(x, 3.0, 1.5)
    value = _number(_call_numpy(f"{name}(p, q, x)", fn, p0, q0, x, name=name), name)
    expected = theory.js_divergence(p0, q0, x)
    _check_number(name, value, expected, _integral_mistakes(expected, dx),
                  "for densities with disjoint supports the JSD is log 2")


@evidence.graded
def check_value_function(fn: Callable[..., float], *, seed: int = 0) -> None:
    """Check ``fn(D, p_data, p_g, x)``: ``V = integral [p_data log D + p_g log(1 - D)] dx``.

    ``D`` holds the discriminator's probabilities at the grid points; a term whose
    density is 0 contributes 0, even where ``log D`` or ``log(1 - D)`` is ``-inf``. One
    number, as :func:`ganlab.theory.value_function`.
    """
    __tracebackhide__ = True
    name = _name(fn, "value_function")
    x = _grid()
    dx = x[1] - x[0]
    p, q = _smooth_pair(x, seed)
    rng = np.random.default_rng(seed)
    logit = 1.5 * np.sin(0.7 * x + rng.uniform(0, 2 * np.pi)) + 0.3 * x
    D = 1 / (1 + np.exp(-logit))
    value = _number(_call_numpy(f"{name}(D, p_data, p_g, x)", fn, D, p, q, x, name=name), name)
    expected = theory.value_function(D, p, q, x)

    def integral(f):
        return float(np.trapezoid(f, x))

    mistakes = [
        (-expected, "V(D, G) = integral of [p_data log D + p_g log(1 - D)] dx is what D "
         "maximises: you flipped its sign"),
        (integral(p * np.log(D) + q * np.log(D)), "the second term is p_g(x) log(1 - D(x)): the "
         "log-probability that D calls a generated sample fake"),
        (integral(q * np.log(D) + p * np.log(1 - D)), "p_data goes with log D(x) and p_g with "
         "log(1 - D(x)): you swapped the two densities"),
        (integral(p * np.log(D) - q * np.log(1 - D)), "add the second term p_g log(1 - D), do "
         "not subtract it"),
        (integral(p * np.log(D)), "add the second term p_g(x) log(1 - D(x)): V has one term for "
         "real samples and one for generated ones"),
        *_integral_mistakes(expected, dx),
    ]
    _check_number(name, value, expected, mistakes, "integral of [p_data log D + p_g log(1 - D)] "
                  "dx with np.trapezoid")
    # D* of densities with disjoint parts is exactly 1 or 0 where one density vanishes
    p0, q0 = _triangle(x, -1.0, 2.0), _triangle(x, 1.5, 2.0)
    D0 = theory.optimal_discriminator(p0, q0)
    value = _number(_call_numpy(f"{name}(D, p_data, p_g, x)", fn, D0, p0, q0, x, name=name), name)
    expected = theory.value_function(D0, p0, q0, x)
    _check_number(name, value, expected, _integral_mistakes(expected, dx),
                  "where p_data = 0 the term p_data log D is 0, and where p_g = 0 the term "
                  "p_g log(1 - D) is 0")


# --- Unit 05: the DCGAN -----------------------------------------------------------------------

_WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Upsample)
#: The largest network (parameters) the Unit 05 checks accept: it must train in minutes on a CPU.
MAX_DCGAN_PARAMETERS = 2_000_000
_LAYER_HINTS = {
    "expected 2D or 3D input (got 4D input)": "use nn.BatchNorm2d after convolutions (4-D feature "
    "maps (N, C, H, W)); nn.BatchNorm1d is for the output (N, features) of a Linear layer",
    "expected 4D input (got 2D input)": "use nn.BatchNorm1d after a Linear layer (its output is "
    "(N, features)), or reshape to (N, C, H, W) first and then use nn.BatchNorm2d",
    "running_mean should contain": "give each batch norm the number of channels (or features) of "
    "the layer before it: nn.BatchNorm2d(C) after a convolution with C output channels",
    "Module.__init__() call": "call super().__init__() first in __init__, before creating any layer",
}


def _run_layers(model: nn.Module, x: torch.Tensor, description: str, name: str,
                hints: Mapping[str, str]) -> tuple[object, list[nn.Module]]:
    """``model(x)`` and the leaf modules it ran, in the order they ran (forward hooks).

    The order of execution, not of definition, decides what follows what; layers applied
    as functions (``F.relu``, ``torch.tanh``) are invisible here.
    """
    __tracebackhide__ = True
    order: list[nn.Module] = []
    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(lambda module, args, out: order.append(module))
               for m in leaves]
    try:
        out = call(description, model, x, name=name, hints={**_LAYER_HINTS, **hints})
    finally:
        for handle in handles:
            handle.remove()
    kinds = evidence.observe(f"the layers {description} ran",
                             lambda: [_describe_layer(m) for m in order])
    if evidence.is_replaying():
        order = [_layer_stub(kind) for kind in kinds]
    return out, order


def _describe_layer(module: nn.Module) -> dict:
    """What the DCGAN checks read off a layer: its torch.nn type and stride."""
    kind = type(module).__name__ if type(module).__module__.startswith("torch.nn") else "custom"
    stride = getattr(module, "stride", None)
    return {"type": kind, "stride": list(stride) if isinstance(stride, (tuple, list)) else stride}


def _layer_stub(kind) -> nn.Module:
    """A stand-in of the layer :func:`_describe_layer` described (in the grader)."""
    cls = getattr(nn, str(kind.get("type")), None) if isinstance(kind, dict) else None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        return nn.Module()
    stub = cls.__new__(cls)
    nn.Module.__init__(stub)
    stride = kind.get("stride")
    if stride is not None:
        stub.stride = tuple(stride) if isinstance(stride, list) else stride
    return stub


def _build(make: Callable[..., nn.Module], description: str, name: str, who: str,
           seed: int, **kwargs) -> nn.Module:
    """The network ``make(**kwargs)``, built under a seeded global generator, checked for size."""
    __tracebackhide__ = True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = call(description, make, name=name, hints=_LAYER_HINTS, **kwargs)
    if not isinstance(model, nn.Module):
        fail(f"{description} must give an nn.Module (a class deriving from torch.nn.Module), "
             f"got {type(model).__name__}")
    size = evidence.observe(f"the parameters of {who}",
                            lambda: sum(p.numel() for p in model.parameters()))
    if size == 0:
        fail(f"{who} has no parameters: store its layers as attributes of the module "
             "(self.net = nn.Sequential(...))")
    if size > MAX_DCGAN_PARAMETERS:
        fail(f"{who} has {size:,} parameters, more than {MAX_DCGAN_PARAMETERS:,}: use fewer "
             "channels, so that a few epochs train in minutes on a CPU")
    return model


def _scaled_last_layer(model: nn.Module, last: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` with the weights of its layer ``last`` multiplied by 1000 (on a copy).

    Whatever comes after that layer then sees huge inputs: a tanh saturates at -1 and 1, a
    sigmoid at 0 and 1, while a logit or a linear output grows far beyond them.
    """
    index = next(i for i, m in enumerate(model.modules()) if m is last)
    scaled = copy.deepcopy(model)
    layer = list(scaled.modules())[index]
    with torch.no_grad():
        layer.weight.mul_(1000.0)
        return scaled(x)


def _check_all_parameters_learn(model: nn.Module, out: torch.Tensor, who: str) -> None:
    __tracebackhide__ = True
    depends, frozen, missing = evidence.observe(
        f"the parameters of {who} get gradients",
        lambda: _parameter_gradients(model, lambda: out.float().pow(2).mean()))
    if not depends:
        fail(f"{who}'s output does not depend on its parameters: do not use .detach(), "
             "torch.no_grad() or NumPy inside forward")
    if frozen:
        fail(f"parameter {frozen[0]} of {who} has requires_grad=False: every parameter must be "
             "trained")
    if missing:
        fail(f"parameter {missing[0]} of {who} gets no gradient: every layer you create must be "
             "used in forward", f"parameters without a gradient: {', '.join(missing)}")


@evidence.graded
def check_dcgan_generator(make_generator: Callable[..., nn.Module], *, latent_dim: int = 64,
                          seed: int = 0) -> None:
    """Check a DCGAN generator built by ``make_generator(latent_dim=...)`` for 28x28 images.

    It must be an ``nn.Module`` with the attribute ``latent_dim``, mapping ``z`` of shape
    ``(N, latent_dim)`` to images ``(N, 1, 28, 28)`` in ``[-1, 1]``, and follow the DCGAN
    guidelines that can be read off the layers it runs: one ``nn.Linear`` at most (the
    projection of ``z``), upsampling by transposed convolutions with stride 2 (no pooling,
    no ``nn.Upsample``), batch norm in the hidden layers but not after the last weighted
    layer, and a tanh output (checked by saturating that layer). Every parameter gets a
    gradient, the output depends on ``z``, and the network stays under
    :data:`MAX_DCGAN_PARAMETERS` parameters.
    """
    __tracebackhide__ = True
    name = _name(make_generator, "the generator")
    n = 8
    G = _build(make_generator, f"{name}(latent_dim={latent_dim})", name, "G", seed,
               latent_dim=latent_dim)
    if getattr(G, "latent_dim", None) != latent_dim:
        fail("store the size of z as an attribute, self.latent_dim = latent_dim: the training "
             "loop draws z of shape (m, G.latent_dim)",
             f"G.latent_dim is {getattr(G, 'latent_dim', None)!r}, expected {latent_dim}")
    G.train()
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent_dim, generator=g)
    out, order = _run_layers(G, z, "G(z)", f"{name}.forward", hints={
        "shapes cannot be multiplied": "G's first layer receives z of shape (N, latent_dim): "
        "project it with nn.Linear(latent_dim, C * 7 * 7), then reshape to (N, C, 7, 7)",
        "to conv_transpose2d": "reshape the projection of z to feature maps (N, C, 7, 7) before "
        "the transposed convolutions (nn.Unflatten(1, (C, 7, 7)) or .view(-1, C, 7, 7))",
        "to conv2d": "reshape the projection of z to feature maps (N, C, 7, 7) before the "
        "convolutions (nn.Unflatten(1, (C, 7, 7)) or .view(-1, C, 7, 7))"})
    x = _tensor(out, "G(z)")
    if _shape(x) == (n, math.prod(IMAGE_SHAPE)):
        fail(f"G(z) must return images of shape (N, 1, 28, 28), got {_shape(x)}: end with "
             "transposed convolutions, not a Linear layer")
    if _shape(x) != (n, *IMAGE_SHAPE):
        if x.dim() == 4 and x.shape[1] == 1:
            fail(f"G(z) must return images of shape (N, 1, 28, 28), got {_shape(x)}: check the "
                 "kernel sizes, strides and paddings; a transposed convolution maps H to "
                 "(H - 1) * stride - 2 * padding + kernel, so kernel 4, stride 2, padding 1 "
                 "doubles it (7 -> 14 -> 28)")
        fail(f"G(z) must return images of shape (N, 1, 28, 28) = {(n, *IMAGE_SHAPE)}, got "
             f"{_shape(x)}")

    weighted = [i for i, m in enumerate(order) if isinstance(m, _WEIGHTED)]
    if any(isinstance(m, _POOLING) for m in order) or not any(
            isinstance(m, nn.ConvTranspose2d) and max(m.stride) > 1 for m in order):
        fail("upsample with transposed convolutions, nn.ConvTranspose2d(..., stride=2): the "
             "DCGAN learns its upsampling (no pooling, no nn.Upsample)")
    if sum(isinstance(m, nn.Linear) for m in order) > 1:
        fail("use one Linear layer only, to project z: the DCGAN has no fully connected hidden "
             "layers, the rest of G is transposed convolutions")
    norms = [i for i, m in enumerate(order) if isinstance(m, _BATCH_NORMS)]
    if not norms:
        fail("add batch norm to G's hidden layers (nn.BatchNorm1d after the projection, "
             "nn.BatchNorm2d after each hidden transposed convolution): it lets a deep "
             "generator start learning and keeps its samples from collapsing to one point")
    if norms[-1] > weighted[-1]:
        fail("no batch norm on G's output layer: the last transposed convolution goes straight "
             "into tanh (the DCGAN paper: batch norm on every layer made the samples oscillate)")

    with torch.no_grad():
        other = _tensor(call("G(other z)", G, torch.randn(n, latent_dim, generator=g),
                             name=f"{name}.forward"), "G(z)")
    if torch.allclose(other, x.detach(), atol=1e-6):
        fail("G(z) must depend on z: different noise vectors must give different images")
    saturated = evidence.observe("G(z) with its last layer scaled up",
                                 lambda: _scaled_last_layer(G, order[weighted[-1]], z))
    low, high = saturated.min().item(), saturated.max().item()
    if not math.isfinite(low) or not math.isfinite(high) or low < -1 - 1e-6 or high > 1 + 1e-6:
        fail("G must end with tanh: images are in [-1, 1]",
             f"with a large last layer G(z) gave values in [{low:.3g}, {high:.3g}]")
    if low >= 0:
        fail("G must end with tanh, not a sigmoid or a ReLU: images are in [-1, 1], with a "
             f"dark background at -1 (values in [{low:.3g}, {high:.3g}])")
    _check_all_parameters_learn(G, x, "G")


@evidence.graded
def check_dcgan_discriminator(make_discriminator: Callable[..., nn.Module], *,
                              seed: int = 0) -> None:
    """Check a DCGAN discriminator built by ``make_discriminator()`` for 28x28 images.

    ``D(x)`` maps images ``(N, 1, 28, 28)`` to one **logit** per image, shape ``(N,)`` (not
    ``(N, 1)``: the losses of Unit 03 take ``(N,)``), and follows the DCGAN guidelines that
    can be read off the layers it runs: downsampling by strided convolutions (no
    pooling), batch norm in the hidden layers but not on the input layer (between the
    first and the second weighted layer), LeakyReLU rather than ReLU, one ``nn.Linear`` at
    most (the final logit), and no sigmoid at the end (checked by saturating the last
    layer). Every parameter gets a gradient; the network stays under
    :data:`MAX_DCGAN_PARAMETERS` parameters.
    """
    __tracebackhide__ = True
    name = _name(make_discriminator, "the discriminator")
    n = 8
    D = _build(make_discriminator, f"{name}()", name, "D", seed)
    D.train()
    x = _images(n, torch.Generator().manual_seed(seed))
    out, order = _run_layers(D, x, "D(x)", f"{name}.forward", hints={
        "shapes cannot be multiplied": "flatten the last feature maps (nn.Flatten()) and give "
        "the final nn.Linear their number of features: C * 7 * 7 for C channels of 7x7"})
    logits = _tensor(out, "D(x)")
    if _shape(logits) == (n, 1):
        fail("D(x) must return one logit per image, shape (N,): squeeze the last dimension "
             "(.squeeze(1) or .flatten()), as the losses of Unit 03 expect",
             f"got shape {_shape(logits)}")
    if _shape(logits) != (n,):
        fail(f"D(x) must return one logit per image, shape (N,) = {(n,)}, got {_shape(logits)}")
    weighted = [i for i, m in enumerate(order) if isinstance(m, _WEIGHTED)]
    if any(isinstance(m, nn.Sigmoid) for m in order):
        fail("D must return logits, not probabilities: drop the final sigmoid (the losses "
             "apply it themselves, exactly: F.binary_cross_entropy_with_logits)")
    saturated = evidence.observe("D(x) with its last layer scaled up",
                                 lambda: _scaled_last_layer(D, order[weighted[-1]], x))
    if ((saturated >= 0) & (saturated <= 1)).all():
        fail("D must return logits, not probabilities: drop the final sigmoid (the losses "
             "apply it themselves, exactly: F.binary_cross_entropy_with_logits)")
    if any(isinstance(m, _POOLING) for m in order) or not any(
            isinstance(m, nn.Conv2d) and max(m.stride) > 1 for m in order):
        fail("downsample with strided convolutions, nn.Conv2d(..., stride=2), not pooling: the "
             "DCGAN's discriminator learns its own downsampling")
    if any(isinstance(m, nn.Linear) for m in order[:weighted[-1]]):
        fail("no fully connected hidden layers in D: flatten the last feature maps straight "
             "into one nn.Linear(..., 1) that gives the logit")
    norms = [i for i, m in enumerate(order) if isinstance(m, _BATCH_NORMS)]
    if not norms:
        fail("add batch norm (nn.BatchNorm2d) after D's hidden convolutions, all but the first")
    if len(weighted) < 2 or norms[0] < weighted[1]:
        fail("no batch norm on D's input layer: the first convolution goes straight into "
             "LeakyReLU (the DCGAN paper: batch norm on every layer made training unstable)")
    if any(isinstance(m, nn.ReLU) for m in order):
        fail("use nn.LeakyReLU(0.2) in D, not ReLU: D's gradients must flow for negative "
             "inputs too, they are all that G learns from")
    _check_all_parameters_learn(D, logits, "D")


class _TinyGenerator(nn.Module):
    """``G(z)``: ``(N, 3)`` -> tiny images ``(N, 1, 4, 4)`` in [-1, 1], with batch norm."""

    latent_dim = 3

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(),
                                 nn.Linear(16, 16), nn.Tanh(), nn.Unflatten(1, (1, 4, 4)))

    def forward(self, z):
        return self.net(z)


class _TinyDiscriminator(nn.Module):
    """``D(x)``: tiny images ``(N, 1, 4, 4)`` -> logits ``(N,)``, batch norm after layer 2."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.LeakyReLU(0.2),
                                 nn.Linear(8, 8, bias=False), nn.BatchNorm1d(8),
                                 nn.LeakyReLU(0.2), nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


class _StepLog(torch.optim.SGD):
    """SGD that notes each ``step()`` in a shared log, and whether ``watched`` then held
    gradients other than the stale ones it started with (a leak from the other loss)."""

    def __init__(self, params, lr: float, log: list, tag: str, watched: nn.Module,
                 stale: list[torch.Tensor]):
        super().__init__(params, lr=lr)
        self.log, self.tag, self.watched, self.stale = log, tag, watched, stale

    def step(self, closure=None):
        leaked = any(p.grad is not None and p.grad.abs().max() > 0 and not torch.equal(p.grad, s)
                     for p, s in zip(self.watched.parameters(), self.stale, strict=True))
        self.log.append((self.tag, leaked))
        return super().step(closure)


def _gradients(loss: torch.Tensor, module: nn.Module) -> list[torch.Tensor]:
    """``d loss / d parameters`` of ``module``, keeping the graph for the next alternative."""
    return list(torch.autograd.grad(loss, list(module.parameters()), retain_graph=True))


@evidence.graded
def check_dcgan_train_step(fn: Callable[..., object], *, seed: int = 0) -> None:
    """Check ``fn(G, D, opt_d, opt_g, x_real, z)``: one DCGAN training step.

    First D: one optimizer step on ``discriminator_loss(D(x_real), D(fake.detach()))``,
    with ``fake = G(z)`` and D called separately on the real batch and on the fakes (batch
    norm sees one kind of image at a time); then G: one optimizer step on the
    non-saturating loss ``mean softplus(-D(fake))`` through the *updated* D, which is not
    stepped again. Gradients are cleared before each backward pass; the fakes of D's step
    leave no gradient in G. Returns the two losses ``(d_loss, g_loss)`` as numbers.

    Checked against one step of SGD with small batch-norm networks, replayed from copies,
    with typical mistakes recognised by where the parameters end up.
    """
    __tracebackhide__ = True
    name = _name(fn, "train_step")
    m, lr = 16, 0.05
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = _TinyGenerator(), _TinyDiscriminator()
    x_real = (0.5 * torch.randn(m, 1, 4, 4, generator=g) + 0.3).clamp(-1, 1)
    z = torch.randn(m, G.latent_dim, generator=g)
    sp = F.softplus

    # the reference step and the steps of typical mistakes, on copies
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    fake = G_ref(z)
    real_logits, fake_logits = D_ref(x_real), D_ref(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits)
    d_grads = _gradients(d_loss, D_ref)
    both = D_ref(torch.cat([x_real, fake.detach()]))
    d_alternatives = [
        (_gradients(sp(real_logits).mean() + sp(-fake_logits).mean(), D_ref), "real images get "
         "label 1 and fakes label 0 in D's loss: mean softplus(-D(x_real)) + mean "
         "softplus(D(fake)) (you swapped them)"),
        (_gradients(d_loss / 2, D_ref), "add the two terms of D's loss, do not average them: "
         "BCE on the real batch + BCE on the fakes"),
        (_gradients(discriminator_loss(both[:m], both[m:]), D_ref), "call D separately on the "
         "real batch and on the fakes, not on torch.cat([x_real, fake]): batch norm must "
         "normalise each kind of image with its own statistics"),
    ]
    g_loss_old_d = generator_loss(D_ref(fake), "non_saturating")
    g_grads_old_d = _gradients(g_loss_old_d, G_ref)
    mixed = [a + b for a, b in zip(d_grads, _gradients(g_loss_old_d, D_ref), strict=True)]
    mixed_hint = ("finish D's step (zero_grad, backward, step) before G's loss is "
                  "backpropagated: D moved with the gradients of G's loss too")
    d_alternatives.append((mixed, mixed_hint))
    with torch.no_grad():
        for p, grad in zip(D_ref.parameters(), d_grads, strict=True):
            p -= lr * grad
    new_logits = D_ref(fake)
    g_loss = generator_loss(new_logits, "non_saturating")
    g_grads = _gradients(g_loss, G_ref)
    g_alternatives = [
        (_gradients(generator_loss(new_logits, "minimax"), G_ref), "use the non-saturating loss "
         "for G, -mean log D(G(z)) = mean softplus(-D(fake)), not the minimax mean log(1 - "
         "D(G(z))): it gives G strong gradients while D still rejects its fakes"),
        (_gradients(sp(new_logits).mean(), G_ref), "G's fakes get label 1 in G's loss: G wants D "
         "to call them real, BCE(D(fake), 1) = mean softplus(-D(fake))"),
        (g_grads_old_d, "compute G's loss with D after its update: call D(fake) again after "
         "opt_d.step()"),
    ]

    # the student's step, with stale gradients left in both networks by a previous step
    stale_d, stale_g = _stale_gradients(D, g), _stale_gradients(G, g)
    D_before, G_before = _snapshot(D), _snapshot(G)
    inputs_before = (x_real.clone(), z.clone())
    log: list = []
    opt_d = _StepLog(D.parameters(), lr, log, "d_step", watched=G, stale=stale_g)
    opt_g = _StepLog(G.parameters(), lr, log, "g_step", watched=G, stale=stale_g)
    out = call(f"{name}(G, D, opt_d, opt_g, x_real, z)", fn, G, D, opt_d, opt_g, x_real, z,
               name=name, hints={
                   "backward through the graph a second time": "detach the fakes in D's loss, "
                   "D(fake.detach()): D's backward pass must leave G's graph alone, so that G's "
                   "loss can backpropagate through it afterwards",
                   "modified by an inplace operation": "compute G's loss from a new D(fake) "
                   "after D's step: logits computed before opt_d.step() belong to the old D, "
                   "whose weights the step changed in place"})
    if not (torch.equal(x_real, inputs_before[0]) and torch.equal(z, inputs_before[1])):
        fail(f"{name} must not modify x_real or z in place")
    tags = [tag for tag, _ in log]
    if "d_step" not in tags:
        fail("update D: call opt_d.zero_grad(), d_loss.backward() and opt_d.step() "
             "(opt_d never stepped)")
    if "g_step" not in tags:
        fail("update G after D: call opt_g.zero_grad(), g_loss.backward() and opt_g.step() "
             "(opt_g never stepped)")
    if tags.index("g_step") < tags.index("d_step"):
        fail("update D first, then G: G's step uses the discriminator that was just improved")
    if tags.count("d_step") > 1:
        fail("step D once, before G's loss: after G's loss only opt_g steps (opt_d.step() "
             "there moves D with G's gradients)")
    if tags.count("g_step") > 1:
        fail(f"step G once per call of {name}, after D's step")
    if log[tags.index("d_step")][1]:
        if _same_tensors(_snapshot(D), [p - lr * grad for p, grad in zip(D_before, mixed,
                                                                          strict=True)]):
            fail(mixed_hint)
        fail("detach the fakes in D's loss, D(fake.detach()): D's loss must not backpropagate "
             "into G", "G's parameters held new gradients when opt_d stepped")
    _check_update("D", D, D_before, d_grads, stale_d, lr, alternatives=d_alternatives)
    _check_update("G", G, G_before, g_grads, stale_g, lr, alternatives=g_alternatives,
                  no_gradient="G's parameters got no gradient: do not detach the fakes in G's "
                  "loss (no .detach(), no torch.no_grad()): G learns only from the gradient that "
                  "flows back through D")

    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"{name} must return the two losses as a pair (d_loss.item(), g_loss.item())",
             f"got {type(out).__name__}")
    d_value, g_value = _number(out[0], "d_loss"), _number(out[1], "g_loss")
    if _close(d_value, g_loss.item(), rel=1e-4) and _close(g_value, d_loss.item(), rel=1e-4):
        fail("return the losses in the order (d_loss, g_loss): you swapped them")
    if not _close(d_value, d_loss.item(), rel=1e-4):
        fail("return D's loss of this step first (d_loss.item(), computed before D's update)",
             f"returned {d_value:.6g}; D's loss was {d_loss.item():.6g}")
    if not _close(g_value, g_loss.item(), rel=1e-4):
        fail("return G's loss of this step second (g_loss.item(), through the updated D)",
             f"returned {g_value:.6g}; G's loss was {g_loss.item():.6g}")


@evidence.graded
def check_trained_dcgan(train: Callable[[], nn.Module], *, min_score: float, min_classes: int,
                        n: int = 500, seed: int = 0) -> tuple[nn.Module, dict]:
    """Run ``train()`` and check that the shipped digit classifier recognises G's samples.

    ``n`` samples ``G(z)``, ``z ~ N(0, I)`` from a seeded generator (G in eval mode), are
    classified by ``ganlab.features.load_extractor("digits")``. Their Inception Score under
    that classifier (one split; real test digits score about 9.3, a generator that has not
    learned about 1) must reach ``min_score``, and at least ``min_classes`` digit classes
    must each be the classifier's answer for 2% of the samples or more. Returns G and
    ``{"inception_score", "classes", "counts", "confidence"}`` (``confidence``: the mean
    probability of the classifier's answer).
    """
    __tracebackhide__ = True
    from ganlab import metrics
    from ganlab.features import load_extractor

    G, latent_dim = _trained_generator(train)
    G.eval()
    with torch.no_grad():
        z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
        x = _tensor(call("G(z)", G, z, name="G"), "G(z)")
    if _shape(x) != (n, *IMAGE_SHAPE):
        fail(f"G(z) must return images of shape (N, 1, 28, 28), got {_shape(x)}")
    if not torch.isfinite(x).all():
        fail("G(z) contains NaN or inf: training diverged (check the losses and the learning rate)")
    if x.min() < -1 - 1e-3 or x.max() > 1 + 1e-3:
        fail("G must end with tanh: images are in [-1, 1]")
    logits = load_extractor("digits").logits(x)
    probabilities = logits.softmax(1)
    counts = torch.bincount(probabilities.argmax(1), minlength=logits.shape[1])
    classes = int((counts >= 0.02 * n).sum())
    score = metrics.inception_score(logits, splits=1)[0]
    confidence = probabilities.max(1).values.mean().item()
    details = (f"Inception Score {score:.2f} (real digits about 9.3, an untrained generator "
               f"about 1); samples per digit class {counts.tolist()}; mean confidence "
               f"{confidence:.2f}")
    if score < min_score:
        fail(f"the digit classifier gives G's samples an Inception Score of {score:.2f}, "
             f"expected at least {min_score}: G did not learn to draw digits; check train_step "
             "(D's step on detached fakes, then G's step through the updated D)", details)
    if classes < min_classes:
        fail(f"the digit classifier sees {classes} digit classes among G's samples, expected at "
             f"least {min_classes}: G makes too few kinds of digits (mode collapse)", details)
    return G, {"inception_score": score, "classes": classes, "counts": counts,
               "confidence": confidence}


# --- Unit 06: evaluation metrics ---------------------------------------------------------------


def _covariance(rng: np.random.Generator, d: int, n: int | None = None) -> np.ndarray:
    """A random covariance matrix ``(d, d)``: well conditioned, or of rank ``n - 1 < d`` when
    estimated from ``n`` samples (as FID's covariances are when ``N <= d``)."""
    if n is None:
        a = rng.normal(size=(d, d))
        return a @ a.T / d + 0.2 * np.eye(d)
    return np.cov(rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d), rowvar=False)


def _singular_pair(rng: np.random.Generator, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Two covariances of rank 3 (4 samples in ``d`` dimensions) whose product trips up the
    naive square roots: the first of 50 draws where ``scipy.linalg.sqrtm`` is complex and
    ``np.linalg.eigvals`` has a negative eigenvalue (else the last draw)."""
    import warnings

    import scipy.linalg

    for _ in range(50):
        t1, t2 = _covariance(rng, d, n=4), _covariance(rng, d, n=4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Matrix is singular": that is the point
            root = scipy.linalg.sqrtm(t1 @ t2)
        if np.iscomplexobj(root) and np.linalg.eigvals(t1 @ t2).real.min() < 0:
            break
    return t1, t2


def _is_complex(value) -> bool:
    return (isinstance(value, (complex, np.complexfloating))
            or (isinstance(value, np.ndarray) and np.iscomplexobj(value))
            or (isinstance(value, torch.Tensor) and value.is_complex()))


def _fid_value(fn: Callable, name: str, mu1, sigma1, mu2, sigma2) -> float:
    __tracebackhide__ = True
    out = _call_numpy(f"{name}(mu1, sigma1, mu2, sigma2)", fn, mu1, sigma1, mu2, sigma2, name=name)
    if _is_complex(out):
        fail("take the real part of the matrix square root: scipy.linalg.sqrtm(sigma1 @ sigma2) "
             "can come back complex, with tiny imaginary parts from rounding; drop them "
             "(covmean.real) before the trace", f"{name} returned {out!r}")
    if isinstance(out, (np.ndarray, torch.Tensor)) and np.size(out) != 1:
        fail(f"{name} must return one number, got an array of shape {tuple(np.shape(out))}: "
             "add up the mean term and the trace term")
    value = _number(out, name)
    if math.isnan(value):
        fail(f"{name} returned nan: take the matrix square root with scipy.linalg.sqrtm (np.sqrt "
             "works entry by entry), and in the eigenvalue route clip tiny negative eigenvalues "
             "at 0 before their square roots")
    if not math.isfinite(value):
        fail(f"{name} returned {value}: the distance between two Gaussians is finite")
    return value


@evidence.graded
def check_frechet_distance(fn: Callable[..., float], *, seed: int = 0) -> None:
    """Check ``fn(mu1, sigma1, mu2, sigma2)``: the Fréchet distance between two Gaussians,

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}),

    one real number, on NumPy float64 inputs (means ``(d,)``, covariances ``(d, d)``),
    which it must not modify. Compared with :func:`ganlab.metrics.frechet_distance` on
    random Gaussians (the usual mistakes recognised by their values), then on the closed
    forms (equal covariances: ``||mu1 - mu2||^2``; equal Gaussians: 0) and on singular
    covariances, where ``scipy.linalg.sqrtm`` returns a complex matrix.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    name = _name(fn, "frechet_distance")
    rng = np.random.default_rng(seed)
    d = 6
    mu1 = rng.normal(size=d)
    mu2 = mu1 + rng.normal(size=d)
    s1, s2 = _covariance(rng, d), 1.5 * _covariance(rng, d)
    value = _fid_value(fn, name, mu1, s1, mu2, s2)
    expected = metrics.frechet_distance(mu1, s1, mu2, s2)

    def root(s):  # the symmetric square root of a covariance
        lam, u = np.linalg.eigh(s)
        return (u * np.sqrt(lam)) @ u.T

    diff = mu1 - mu2
    traces = np.trace(s1) + np.trace(s2)
    covmean = expected - diff @ diff - traces  # = -2 Tr (s1 s2)^{1/2}
    with np.errstate(invalid="ignore"):
        mistakes = [
            (diff @ diff + traces - covmean, "subtract twice the trace of the square root: "
             "Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}) (you added it)"),
            (math.sqrt(diff @ diff) + traces + covmean, "the mean term is the squared norm "
             "||mu1 - mu2||^2 (the sum of the squared differences), not the norm"),
            (traces + covmean, "add the mean term ||mu1 - mu2||^2: two Gaussians with different "
             "means are far apart even with equal covariances"),
            (np.mean(diff**2) + traces + covmean, "sum the squared differences of the means, do "
             "not average them: ||mu1 - mu2||^2"),
            (diff @ diff + traces + covmean / 2, "the trace term has a factor 2: subtract "
             "2 Tr((sigma1 sigma2)^{1/2})"),
            (diff @ diff + traces - 2 * np.trace(root(s1) @ root(s2)), "take the square root of "
             "the product, (sigma1 sigma2)^{1/2}, not the product of the square roots "
             "sigma1^{1/2} sigma2^{1/2} (they differ unless the matrices commute)"),
            (diff @ diff + traces - 2 * np.sum(np.sqrt(np.diag(s1 @ s2))), "use the matrix "
             "square root, scipy.linalg.sqrtm(sigma1 @ sigma2): np.sqrt takes the square root "
             "of each entry"),
            (math.sqrt(expected), "FID is the squared distance d^2: do not take the square root"),
        ]
    _check_number(name, value, expected, mistakes, "||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - "
                  "2 (sigma1 sigma2)^{1/2})")

    # closed forms: equal covariances leave the mean term only; equal Gaussians are at 0
    same = _fid_value(fn, name, mu1, s1, mu2, s1.copy())
    if not math.isclose(same, diff @ diff, rel_tol=1e-6, abs_tol=1e-8):
        fail(f"with equal covariances the trace term vanishes and FID = ||mu1 - mu2||^2 = "
             f"{diff @ diff:.8g}, but {name} returned {same:.8g}")
    zero = _fid_value(fn, name, mu1, s1, mu1.copy(), s1.copy())
    if abs(zero) > 1e-8 * np.trace(s1):
        fail(f"the distance of a Gaussian to itself must be 0, but {name} returned {zero:.3g}")

    # singular covariances, estimated from fewer samples than dimensions: a pair whose product
    # has eigenvalues that rounding makes slightly negative, so that scipy's sqrtm comes back
    # complex and unclipped square roots of eigenvalues are NaN
    t1, t2 = _singular_pair(rng, d)
    value = _fid_value(fn, name, mu1, t1, mu2, t2)
    expected = metrics.frechet_distance(mu1, t1, mu2, t2)
    if not math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-8):
        fail(f"{name} is off on singular covariances (estimated from fewer samples than "
             "dimensions, as FID's are for small N): use scipy.linalg.sqrtm and keep the real "
             "part, or the eigenvalue route with tiny negative eigenvalues clipped at 0",
             f"returned {value:.8g}; expected {expected:.8g}")


def _inception_variant(logits: torch.Tensor, splits: int, *, probabilities: str = "softmax",
                       kl: str = "forward", marginal: str = "split", order: str = "consecutive",
                       exp: str = "after", classes: str = "sum", log=torch.log,
                       ddof: int = 0) -> tuple[float, float]:
    """The Inception Score computed right, or with one named mistake (for the hints)."""
    p = torch.sigmoid(logits) if probabilities == "sigmoid" else torch.softmax(logits, 1)
    n = len(p)
    parts = [p[j::splits] if order == "strided" else p[j * n // splits:(j + 1) * n // splits]
             for j in range(splits)]
    scores = []
    for part in parts:
        p_y = (p if marginal == "all" else part).mean(0, keepdim=True)
        terms = p_y * (log(p_y) - log(part)) if kl == "reverse" else part * (log(part) - log(p_y))
        per_x = terms.mean(1) if classes == "mean" else terms.sum(1)
        if exp == "none":
            scores.append(per_x.mean())
        elif exp == "inside":
            scores.append(per_x.exp().mean())
        else:
            scores.append(per_x.mean().exp())
    scores = torch.stack(scores)
    return scores.mean().item(), scores.std(correction=ddof).item() if splits > 1 else 0.0


def _score_pair(out, name: str) -> tuple[float, float]:
    __tracebackhide__ = True
    if isinstance(out, (torch.Tensor, np.ndarray)) and np.size(out) == 2:
        out = tuple(np.asarray(out.detach().cpu() if isinstance(out, torch.Tensor) else out)
                    .reshape(2))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        detail = f"got {type(out).__name__}"
        fail(f"{name} must return a pair (mean, std): the mean and the standard deviation of "
             "the scores of the splits", detail)
    values = (_number(out[0], f"{name}'s mean"), _number(out[1], f"{name}'s std"))
    if math.isnan(values[0]) or math.isnan(values[1]):
        fail(f"{name} returned nan: the inputs are logits, so turn them into probabilities "
             "first, p(y|x) = softmax(logits) (torch.softmax(logits, dim=1))")
    return values


@evidence.graded
def check_inception_score(fn: Callable[..., tuple[float, float]], *, seed: int = 0) -> None:
    """Check ``fn(logits, splits)``: the Inception Score from a classifier's **logits**.

    ``p(y|x) = softmax(logits)``; the ``N`` rows are cut, in order, into ``splits``
    consecutive parts; on each, ``IS = exp(mean_x KL(p(y|x) || p(y)))`` with the
    marginal ``p(y)`` of that part; returns ``(mean, std)`` over the parts, the std with
    ``ddof = 0``. Compared with :func:`ganlab.metrics.inception_score` (the usual mistakes
    recognised by their values) and with the closed forms: equal logits give ``(1, 0)``,
    confident predictions spread evenly over ``C`` classes give ``C``.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    name = _name(fn, "inception_score")
    g = torch.Generator().manual_seed(seed)
    n, c, splits = 200, 10, 10
    # classes roughly sorted along the rows: consecutive parts each see a few classes only
    labels = (torch.arange(n) * c // n + torch.randint(0, 3, (n,), generator=g)) % c
    logits = 1.5 * torch.randn(n, c, generator=g, dtype=torch.float64)
    logits[torch.arange(n), labels] += 3.0
    before = logits.clone()
    out = call(f"{name}(logits, splits={splits})", fn, logits, splits, name=name)
    if not torch.equal(logits, before):
        fail(f"{name} must not modify the logits in place")
    mean, std = _score_pair(out, name)
    expected = metrics.inception_score(logits, splits)
    if not _close(mean, expected[0], rel=1e-6):
        mistakes = [
            ((expected[1], expected[0]), "return (mean, std) in this order: you swapped them"),
            (_inception_variant(logits, splits, exp="none"), "IS = exp(mean_x KL(p(y|x) || p(y))): "
             "take the exponential of the mean KL"),
            (_inception_variant(logits, splits, exp="inside"), "take the exponential of the mean "
             "KL, exp(mean_x KL), not the mean of the exponentials"),
            (_inception_variant(logits, splits, kl="reverse"), "the KL goes from p(y|x) to the "
             "marginal: KL(p(y|x) || p(y)) = sum_y p(y|x) log(p(y|x) / p(y)) (yours is reversed)"),
            (_inception_variant(logits, splits, marginal="all"), "compute the marginal p(y) in "
             "each split, from that split's samples only (not from all N)"),
            (_inception_variant(logits, splits, order="strided"), "cut the samples into splits "
             "consecutive parts, rows j N / splits to (j + 1) N / splits, in order: no striding "
             "(logits[j::splits]) or shuffling"),
            (_inception_variant(logits, splits, classes="mean"), "sum the KL over the classes y, "
             "do not average: KL = sum_y p(y|x) log(p(y|x) / p(y))"),
            (_inception_variant(logits, splits, probabilities="sigmoid"), "p(y|x) is the softmax "
             "of the logits over the classes (torch.softmax(logits, dim=1)), not a sigmoid per "
             "class"),
            (_inception_variant(logits, splits, log=torch.log2), "use the natural log: the KL is "
             "in nats and IS = exp(KL)"),
            (metrics.inception_score(logits, 1), "score each of the splits parts separately and "
             "return the mean and the std over them (you scored all N samples at once)"),
        ]
        for (wrong_mean, wrong_std), hint in mistakes:
            if _close(mean, wrong_mean, rel=1e-6) and _close(std, wrong_std, rel=1e-4):
                fail(hint, f"{name} returned ({mean:.6g}, {std:.6g}); expected "
                     f"({expected[0]:.6g}, {expected[1]:.6g})")
        fail(f"{name} returned a mean of {mean:.6g}, expected {expected[0]:.6g}: on each split, "
             "exp(mean_x KL(p(y|x) || p(y))) with p(y|x) = softmax(logits)")
    if not _close(std, expected[1], rel=1e-4):
        if _close(std, _inception_variant(logits, splits, ddof=1)[1], rel=1e-4):
            fail("use the standard deviation with ddof = 0 over the splits: np.std's default, "
                 "torch's .std(correction=0) (torch's .std() divides by splits - 1)")
        fail(f"{name} returned a std of {std:.6g}, expected {expected[1]:.6g}: the standard "
             "deviation (ddof = 0) of the scores of the splits")

    # closed forms: an undecided classifier scores 1; confident, even answers score C
    flat = _score_pair(call(f"{name}(equal logits, splits=5)", fn, torch.zeros(50, c,
                            dtype=torch.float64), 5, name=name), name)
    if not (_close(flat[0], 1.0, rel=1e-9) and abs(flat[1]) < 1e-9):
        fail(f"equal logits (p(y|x) = p(y) for every x) must give IS = 1 with std 0, got {flat}")
    sure = 30.0 * F.one_hot(torch.arange(100) % c, c).double()
    confident = _score_pair(call(f"{name}(confident logits, splits=1)", fn, sure, 1, name=name),
                            name)
    want = metrics.inception_score(sure, 1)[0]
    if not _close(confident[0], want, rel=1e-6):
        fail(f"confident predictions spread evenly over the {c} classes must give IS = {want:.6g} "
             f"(about C = {c}), got {confident[0]:.6g}")


def _neighbour_output(out, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    __tracebackhide__ = True
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"{name} must return a pair (distances, indices), each of shape (Q, k)",
             f"got {type(out).__name__}")
    distances, indices = (torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor)
                          else v.detach().cpu() for v in out)
    if indices.is_floating_point() and not distances.is_floating_point():
        fail("return (distances, indices) in this order: you swapped them")
    if indices.dim() > 2:
        fail("return the indices of the neighbours in reference (integers), not the images")
    if indices.is_floating_point():
        fail("the indices must be integers, the positions of the neighbours in reference "
             "(torch.topk(...).indices or argsort)")
    return distances.double(), indices.long()


def _same_distances(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Equal distances up to float32 rounding, compared as squares: a distance computed as
    ``sqrt(|q|^2 + |r|^2 - 2 q.r)`` in float32 is off by up to ~0.02 near 0 (an exact copy)."""
    return bool(((got.double().pow(2) - want.pow(2)).abs() <= 1e-4 * want.pow(2) + 1e-3).all())


@evidence.graded
def check_nearest_neighbours(fn: Callable[..., tuple], *, seed: int = 0) -> None:
    """Check ``fn(queries, reference, k)``: the ``k`` nearest reference images of each query.

    Images ``(Q, 1, 28, 28)`` and ``(R, 1, 28, 28)`` (flattened to pixel vectors), the
    Euclidean distance ``||q - r||``; returns ``(distances, indices)``, both ``(Q, k)``
    (also for ``k = 1``), each row sorted by increasing distance, as
    :func:`ganlab.metrics.nearest_neighbours`. One query is an exact copy of a reference
    image: its first neighbour is that image, at distance 0.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    name = _name(fn, "nearest_neighbours")
    g = torch.Generator().manual_seed(seed)
    reference, queries = _images(40, g), _images(6, g)
    queries[2] = reference[17]  # an exact copy
    q = len(queries)
    hints = {"must match the size of tensor": "flatten the images to pixel vectors first, "
             "x.flatten(1) of shape (N, 784): torch.cdist compares the rows of two matrices"}
    for k in (3, 1):
        before = (queries.clone(), reference.clone())
        out = call(f"{name}(queries, reference, k={k})", fn, queries, reference, k, name=name,
                   hints=hints)
        if not (torch.equal(queries, before[0]) and torch.equal(reference, before[1])):
            fail(f"{name} must not modify queries or reference in place")
        distances, indices = _neighbour_output(out, name)
        if _shape(indices) != (q, k) or _shape(distances) != (q, k):
            got = f"got distances {_shape(distances)} and indices {_shape(indices)}"
            if _shape(indices) == (k, q) and k > 1:
                fail(f"return one row per query: shape (Q, k) = {(q, k)}, not (k, Q)", got)
            if _shape(indices) == (q,):
                fail(f"keep the k dimension: return shape (Q, k) = {(q, k)} even for k = 1", got)
            fail(f"{name} must return distances and indices of shape (Q, k) = {(q, k)}: the k "
                 f"nearest reference images of each of the Q queries", got)
        want_d, want_i = metrics.nearest_neighbours(queries, reference, k)
        flat_q, flat_r = queries.flatten(1).double(), reference.flatten(1).double()
        all_d = torch.cdist(flat_q, flat_r)
        if not torch.equal(indices, want_i):
            if indices.min() >= 0 and indices.max() < q and indices.dim() == 2 \
                    and torch.equal(indices[:, 0], torch.arange(q)):
                fail("compare each query with the reference images, not with the other queries: "
                     "every query came out as its own nearest neighbour")
            farthest = all_d.topk(k, dim=1, largest=True).indices
            if torch.equal(indices, farthest):
                fail("the nearest neighbours have the smallest distances: sort in increasing "
                     "order (torch.topk(..., largest=False) or argsort)")
            if torch.equal(indices.sort(1).values, want_i.sort(1).values):
                fail("sort each row by increasing distance: the nearest neighbour comes first")
            l1 = torch.cdist(flat_q, flat_r, p=1).topk(k, dim=1, largest=False).indices
            if torch.equal(indices, l1):
                fail("use the Euclidean distance, the square root of the sum of squared pixel "
                     "differences, not the sum of absolute differences")
            fail(f"{name} did not find the k reference images nearest to each query (Euclidean "
                 "distance between the flattened images)",
                 f"indices of query 0: {indices[0].tolist()}, expected {want_i[0].tolist()}")
        if not _same_distances(distances, want_d):
            for wrong, hint in [
                (want_d**2, "return the Euclidean distance ||q - r||: take the square root of "
                 "the sum of squared differences"),
                (want_d / math.sqrt(flat_q.shape[1]), "sum the squared differences over the "
                 "pixels, do not average them: ||q - r|| = sqrt(sum_i (q_i - r_i)^2)"),
            ]:
                if _same_distances(distances, wrong):
                    fail(hint)
            fail(f"{name} returned the right neighbours at the wrong distances: return the "
                 "Euclidean distances ||q - r|| of the neighbours",
                 f"distances of query 0: {_fmt(distances[0])}, expected {_fmt(want_d[0])}")


@evidence.graded
def check_model_scores(frechet_distance: Callable[..., float],
                       inception_score: Callable[..., tuple[float, float]],
                       real_features: torch.Tensor,
                       samples: Mapping[str, tuple[torch.Tensor, torch.Tensor]], *,
                       splits: int = 10) -> dict[str, dict]:
    """Score sample sets with the student's FID and IS, and check them against ganlab.metrics.

    ``real_features`` are classifier features ``(N, d)`` of real images; ``samples`` maps a
    model's name to the ``(features, logits)`` of its samples. FID fits a Gaussian to each
    set (:func:`ganlab.metrics.gaussian_statistics`, NumPy float64) and calls
    ``frechet_distance``; IS calls ``inception_score(logits, splits)``. Returns
    ``{name: {"fid": float, "is": (mean, std)}}``, computed by the student's functions.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    mu_r, sigma_r = (t.numpy() for t in metrics.gaussian_statistics(real_features))
    scores = {}
    for model, (features, logits) in samples.items():
        mu, sigma = (t.numpy() for t in metrics.gaussian_statistics(features))
        fid = _fid_value(frechet_distance, _name(frechet_distance, "frechet_distance"),
                         mu_r, sigma_r, mu, sigma)
        want = metrics.frechet_distance(mu_r, sigma_r, mu, sigma)
        if not math.isclose(fid, want, rel_tol=1e-5, abs_tol=1e-6):
            fail(f"your frechet_distance gives {fid:.6g} for {model}, ganlab.metrics "
                 f"{want:.6g}: on {mu.shape[0]}-dimensional features the covariances can be "
                 "nearly singular; keep the real part of sqrtm, or clip tiny negative "
                 "eigenvalues at 0")
        name = _name(inception_score, "inception_score")
        pair = _score_pair(call(f"{name}(logits, splits={splits})", inception_score,
                                logits.clone(), splits, name=name), name)
        want_is = metrics.inception_score(logits, splits)
        if not (_close(pair[0], want_is[0], rel=1e-5) and _close(pair[1], want_is[1], rel=1e-3)):
            fail(f"your inception_score gives {pair[0]:.6g} ± {pair[1]:.3g} for {model}, "
                 f"ganlab.metrics {want_is[0]:.6g} ± {want_is[1]:.3g}: do the logits of the "
                 "classifier (float32) need a step yours skips?")
        scores[model] = {"fid": fid, "is": pair}
    return scores


@evidence.graded
def check_memorisation(nearest_neighbours: Callable[..., tuple], queries: torch.Tensor,
                       train_images: torch.Tensor, *, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the student's ``nearest_neighbours(queries, train_images, k)`` on real images.

    Checks the distances against :func:`ganlab.metrics.nearest_neighbours` (the indices too,
    except between neighbours at nearly equal distances, which float32 may order either
    way) and returns ``(distances, indices)``, both ``(Q, k)``.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    name = _name(nearest_neighbours, "nearest_neighbours")
    out = call(f"{name}(queries, train_images, k={k})", nearest_neighbours, queries,
               train_images, k, name=name)
    distances, indices = _neighbour_output(out, name)
    want_d, want_i = metrics.nearest_neighbours(queries, train_images, k)
    if _shape(distances) != _shape(want_d) or _shape(indices) != _shape(want_i):
        fail(f"{name} must return distances and indices of shape (Q, k) = {_shape(want_d)}")
    if not _same_distances(distances, want_d):
        fail(f"{name} gives other distances than ganlab.metrics.nearest_neighbours on these "
             "images", f"distances of query 0: {_fmt(distances[0])}, expected {_fmt(want_d[0])}")
    gaps = torch.cat([want_d.diff(dim=1), torch.full((len(want_d), 1), math.inf,
                                                      dtype=want_d.dtype)], 1)
    clear = (gaps > 0.05) & torch.cat([torch.full((len(want_d), 1), True), gaps[:, :-1] > 0.05], 1)
    if not torch.equal(indices[clear], want_i[clear]):
        fail(f"{name} finds other neighbours than ganlab.metrics.nearest_neighbours on these "
             "images")
    return distances.float(), indices
