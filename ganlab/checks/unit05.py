"""Checks of Unit 05 (the DCGAN).

See :mod:`ganlab.checks` for how the checks teach and how the grader uses them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.checks.common import (
    IMAGE_SHAPE,
    _close,
    _images,
    _name,
    _number,
    _parameter_gradients,
    _same_tensors,
    _shape,
    _tensor,
    _trained_generator,
    call,
    fail,
)
from ganlab.checks.unit03 import _check_update, _snapshot, _stale_gradients
from ganlab.grading import evidence
from ganlab.losses import (
    discriminator_loss,
    generator_loss,
)

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


