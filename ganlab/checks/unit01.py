"""Checks of Unit 01 (autoencoders).

See :mod:`ganlab.checks` for how the checks teach and how the grader uses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ganlab.checks.common import (
    IMAGE_SHAPE,
    _close,
    _images,
    _name,
    _parameter_gradients,
    _shape,
    _tensor,
    _trained_module,
    call,
    fail,
)
from ganlab.grading import evidence
from ganlab.losses import (
    contractive_penalty,
    reconstruction_error,
)
from ganlab.models.autoencoders import add_noise as reference_add_noise

# --- Unit 01: autoencoders ----------------------------------------------------------------


def _require_scalar(out: torch.Tensor, n: int, name: str, how: str) -> None:
    """Fail unless a loss returned one number; say so specially for one value per example."""
    if _shape(out) == (n,):
        fail(f"{name} must return one number: {how} (got one value per example, shape {_shape(out)})")
    if out.numel() != 1:
        fail(f"{name} must return one number (a 0-d tensor), got shape {_shape(out)}")

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
    model = _trained_module(train, "model")
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


