"""Running a trained network without training it: eval mode, no gradients, in batches.

Using a network (sampling ``G(z)``, classifying, drawing ``D(x)`` on a grid) must not
change it, nor the way it trains next:

* :func:`evaluating` puts modules in eval mode (batch norm uses its running statistics,
  dropout is off) with gradients off, and gives each module back the mode it came in
  with, even when the code inside raises;
* :func:`batched` applies a function to a large tensor in slices of ``batch_size`` rows
  moved to ``device``, without gradients, and returns the results joined on the CPU:

      batched(fn, x) = cat( fn(x[0:500]), fn(x[500:1000]), ... )

  so memory stays bounded whatever ``len(x)`` is.

For example, 2,000 digits of a generator in training, which stays in training mode::

    with evaluating(G):
        images = batched(G, torch.randn(2000, G.latent_dim), device=device)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def evaluating(*modules: nn.Module, grad: bool = False):
    """Put ``modules`` in eval mode (gradients off unless ``grad``); restore their modes after."""
    modes = [module.training for module in modules]
    for module in modules:
        module.eval()
    try:
        with torch.set_grad_enabled(grad):
            yield
    finally:
        for module, mode in zip(modules, modes, strict=True):
            module.train(mode)


@torch.no_grad()
def batched(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor, batch_size: int = 500,
            device="cpu") -> torch.Tensor:
    """``fn`` applied to ``tensors`` in batches of rows, without gradients; results on the CPU.

    With one tensor ``x``: ``fn(x[i:i + batch_size])`` for ``i = 0, batch_size, ...``; with
    several (e.g. codes and labels of a conditional generator), the same rows of each are
    passed together, ``fn(z[i:i + batch_size], y[i:i + batch_size])``. Each slice is moved
    to ``device`` first; the results are concatenated along the first axis.
    """
    if not tensors:
        raise ValueError("batched needs at least one tensor to slice")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"the tensors must have one length, got {[len(t) for t in tensors]}")
    return torch.cat([fn(*(t[i:i + batch_size].to(device) for t in tensors)).cpu()
                      for i in range(0, n, batch_size)])


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (the CPU for a module without parameters)."""
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
