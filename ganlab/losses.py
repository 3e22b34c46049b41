"""Loss functions of the course, each with the formula it computes.

Unit 01 (autoencoders): :func:`reconstruction_error`, :func:`contractive_penalty`.
"""

from __future__ import annotations

import torch


def reconstruction_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-example mean squared error ``L(x, x') = ||x - x'||^2 / D``, shape ``(N,)``.

    ``D`` is the number of pixels, so the value does not grow with the image size.
    """
    if x_hat.shape != x.shape:
        raise ValueError(f"reconstruction shape {tuple(x_hat.shape)} differs from the "
                         f"input shape {tuple(x.shape)}")
    return (x_hat - x).pow(2).flatten(1).mean(dim=1)


def contractive_penalty(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``||J_f(x)||_F^2 = sum_j sum_i (dz_j / dx_i)^2``.

    ``J_f(x)`` is the Jacobian of the encoder ``z = f_theta(x)`` at each example; the
    contractive autoencoder (Rifai et al., 2011) adds ``lambda * ||J_f(x)||_F^2`` to the
    reconstruction loss so that the code changes little when ``x`` moves off the data.

    ``z`` must have been computed from ``x`` with ``x.requires_grad_(True)``. The
    Jacobian is built row by row (one backward pass per code dimension, kept in the
    graph so the penalty can itself be differentiated), which is exact and cheap for
    the small codes of this course. It assumes each code depends on its own example
    only (no batch norm in training mode inside the encoder).

    For one sigmoid layer ``z = s(Wx + b)`` the penalty has the closed form
    ``sum_j (z_j (1 - z_j))^2 sum_i W_ji^2``; the tests check the two agree.
    """
    if not x.requires_grad:
        raise ValueError("x must require grad: call x.requires_grad_(True) before encoding it")
    if z.dim() != 2 or z.shape[0] != x.shape[0]:
        raise ValueError(f"z must have shape (N, latent_dim) with N = {x.shape[0]}, "
                         f"got {tuple(z.shape)}")
    total = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
    for j in range(z.shape[1]):
        (row,) = torch.autograd.grad(z[:, j].sum(), x, create_graph=True)
        total = total + row.pow(2).flatten(1).sum(dim=1)
    return total.mean()


def stochastic_contractive_penalty(encode, x: torch.Tensor, sigma: float = 0.01,
                                   samples: int = 1,
                                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean over the batch of ``E ||f(x + eps) - f(x)||^2 / sigma^2``, ``eps ~ N(0, sigma^2 I)``.

    The stochastic contractive penalty replaces the analytic Jacobian by how far the
    code moves under small input noise. To first order ``f(x + eps) = f(x) + J eps`` and
    ``E ||J eps||^2 = sigma^2 ||J||_F^2``, so for small ``sigma`` this estimates
    :func:`contractive_penalty` without second derivatives (exactly, in expectation,
    for a linear encoder). ``samples`` noise draws are averaged. Differentiable.
    """
    if sigma <= 0 or samples < 1:
        raise ValueError(f"need sigma > 0 and samples >= 1, got sigma={sigma}, samples={samples}")
    z = encode(x)
    total = 0.0
    for _ in range(samples):
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        total = total + (encode(x + sigma * eps) - z).pow(2).flatten(1).sum(dim=1)
    return (total / samples).mean() / sigma**2
