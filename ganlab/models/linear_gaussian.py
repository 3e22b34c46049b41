"""A linear-Gaussian latent-variable model: the ELBO checked where everything is exact.

    p(z)      = N(0, I_d)
    p(x | z)  = N(x; W z + b, sigma^2 I_D)

Everything a VAE can only bound or approximate has a closed form here (Bishop, PRML
§12.2, probabilistic PCA):

    p(x)      = N(x; b, C),               C = W W^T + sigma^2 I_D
    p(z | x)  = N(z; M^-1 W^T (x - b) / sigma^2,  M^-1),   M = I_d + W^T W / sigma^2

and for any Gaussian ``q(z) = N(m, S)`` the ELBO is closed-form too:

    ELBO(q) = E_q[log p(x|z)] - KL(q || p(z))
    E_q[log p(x|z)] = -D/2 log(2 pi sigma^2) - ( ||x - W m - b||^2 + tr(W S W^T) ) / (2 sigma^2)
    KL(q || p(z))   = 1/2 ( tr S + m^T m - d - log det S )

so the identity ``log p(x) = ELBO(q) + KL(q || p(z|x))`` can be checked to
floating-point precision for an arbitrary ``q``. Everything is float64.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl_full(m0: torch.Tensor, S0: torch.Tensor, m1: torch.Tensor,
                     S1: torch.Tensor) -> torch.Tensor:
    """``KL(N(m0, S0) || N(m1, S1))`` for full covariances, batched over leading dimensions.

        KL = 1/2 ( tr(S1^-1 S0) + (m1 - m0)^T S1^-1 (m1 - m0) - d + log det S1 - log det S0 )
    """
    d = m0.shape[-1]
    L1 = torch.linalg.cholesky(S1)
    diff = (m1 - m0).unsqueeze(-1)
    trace = torch.cholesky_solve(S0, L1).diagonal(dim1=-2, dim2=-1).sum(-1)
    mahalanobis = (diff * torch.cholesky_solve(diff, L1)).sum(dim=(-2, -1))
    logdet = torch.logdet(S1) - torch.logdet(S0)
    return 0.5 * (trace + mahalanobis - d + logdet)


class LinearGaussian:
    """``z ~ N(0, I_d)``, ``x | z ~ N(Wz + b, sigma^2 I_D)``: exact likelihood and posterior."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, sigma: float):
        W, b = torch.as_tensor(W, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
        if W.dim() != 2 or b.shape != (W.shape[0],) or sigma <= 0:
            raise ValueError(f"need W of shape (D, d), b of shape (D,) and sigma > 0; got "
                             f"W {tuple(W.shape)}, b {tuple(b.shape)}, sigma {sigma}")
        self.W, self.b, self.sigma = W, b, float(sigma)
        self.D, self.d = W.shape

    @classmethod
    def random(cls, D: int = 5, d: int = 2, sigma: float = 0.5, seed: int = 0) -> LinearGaussian:
        g = torch.Generator().manual_seed(seed)
        return cls(torch.randn(D, d, generator=g, dtype=torch.float64),
                   torch.randn(D, generator=g, dtype=torch.float64), sigma)

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.dim() != 2 or x.shape[1] != self.D:
            raise ValueError(f"expected x of shape (N, {self.D}), got {tuple(x.shape)}")
        return x

    def sample(self, n: int, generator: torch.Generator | None = None):
        """``(x, z)``: ``n`` draws of the generative process."""
        z = torch.randn(n, self.d, generator=generator, dtype=torch.float64)
        eps = torch.randn(n, self.D, generator=generator, dtype=torch.float64)
        return z @ self.W.T + self.b + self.sigma * eps, z

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = log N(x; b, W W^T + sigma^2 I)`` per example."""
        x = self._check_x(x)
        C = self.W @ self.W.T + self.sigma**2 * torch.eye(self.D, dtype=torch.float64)
        L = torch.linalg.cholesky(C)
        r = torch.linalg.solve_triangular(L, (x - self.b).T, upper=False)  # L^-1 (x - b)
        return -0.5 * (r.pow(2).sum(0) + 2 * torch.log(L.diagonal()).sum() + self.D * LOG_2PI)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``p(z|x) = N(mean, cov)``: ``mean`` is ``(N, d)``, ``cov`` is ``(d, d)`` (same for all x)."""
        x = self._check_x(x)
        M = torch.eye(self.d, dtype=torch.float64) + self.W.T @ self.W / self.sigma**2
        cov = torch.linalg.inv(M)
        mean = (x - self.b) @ self.W @ cov.T / self.sigma**2
        return mean, cov

    def elbo(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor) -> dict:
        """Closed-form ``ELBO(q)`` for ``q(z) = N(q_mean, q_cov)`` per example, with its two terms."""
        x = self._check_x(x)
        q_mean = torch.as_tensor(q_mean, dtype=torch.float64)
        q_cov = torch.as_tensor(q_cov, dtype=torch.float64)
        residual = x - q_mean @ self.W.T - self.b
        trace = (self.W @ q_cov @ self.W.T).diagonal(dim1=-2, dim2=-1).sum(-1)
        expected_log_lik = (-0.5 * self.D * math.log(2 * math.pi * self.sigma**2)
                            - (residual.pow(2).sum(1) + trace) / (2 * self.sigma**2))
        zeros = torch.zeros(self.d, dtype=torch.float64)
        kl_prior = gaussian_kl_full(q_mean, q_cov, zeros, torch.eye(self.d, dtype=torch.float64))
        return {"elbo": expected_log_lik - kl_prior, "log_likelihood": expected_log_lik,
                "kl": kl_prior}

    def elbo_monte_carlo(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor,
                         samples: int = 1000, generator: torch.Generator | None = None):
        """The same ELBO estimated by sampling ``z_s ~ q``: ``mean_s [log p(x, z_s) - log q(z_s)]``.

        Returns ``(estimate, standard_error)`` per example; a wide ``q`` makes the
        estimate noisy, which is why VAEs use one sample per step but many steps.
        """
        x = self._check_x(x)
        q_mean = torch.as_tensor(q_mean, dtype=torch.float64)
        q_cov = torch.as_tensor(q_cov, dtype=torch.float64)
        q = torch.distributions.MultivariateNormal(q_mean, covariance_matrix=q_cov)
        eps = torch.randn(samples, *q_mean.shape, generator=generator, dtype=torch.float64)
        z = q_mean + eps @ torch.linalg.cholesky(q_cov).mT
        log_lik = torch.distributions.Normal(z @ self.W.T + self.b, self.sigma).log_prob(x).sum(-1)
        log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        values = log_lik + log_prior - q.log_prob(z)
        return values.mean(0), values.std(0) / math.sqrt(samples)

    def kl_to_posterior(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor):
        """``KL(q || p(z|x))`` per example: the gap between ``log p(x)`` and the ELBO."""
        post_mean, post_cov = self.posterior(x)
        return gaussian_kl_full(torch.as_tensor(q_mean, dtype=torch.float64),
                                torch.as_tensor(q_cov, dtype=torch.float64), post_mean, post_cov)
