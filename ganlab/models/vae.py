"""The variational autoencoder (Unit 02; Kingma & Welling, 2014).

A latent-variable model with an amortised approximate posterior:

    p(z)            = N(0, I)                                    prior
    p_theta(x | z)  = Bernoulli(x; s(l_theta(z)))                binary pixels, or
                    = N(x; m_theta(z), sigma^2 I)                pixels in [-1, 1]
    q_phi(z | x)    = N(z; mu_phi(x), diag exp(logvar_phi(x)))   encoder

It is trained by maximising the evidence lower bound, per example, in nats:

    ELBO(x) = E_{q_phi(z|x)}[ log p_theta(x | z) ]  -  KL( q_phi(z|x) || p(z) )
            = log p_theta(x) - KL( q_phi(z|x) || p_theta(z|x) )  <=  log p_theta(x)

The first term (reconstruction) is estimated with one reparameterised sample
``z = mu + sigma * eps``; the second (regularisation) is in closed form
(:func:`ganlab.losses.gaussian_kl`). :meth:`VAE.importance_log_likelihood` tightens
the bound with ``K`` importance samples (Burda et al., 2016).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganlab import losses
from ganlab.models.layers import conv_decoder, conv_encoder, mlp
from ganlab.validate import check_codes, check_image_shape

LIKELIHOODS = ("bernoulli", "gaussian")
ARCHITECTURES = ("mlp", "conv")


class VAE(nn.Module):
    """A VAE for images of shape ``image_shape``, with an MLP or convolutional body.

    ``likelihood="bernoulli"``: the decoder outputs one logit per pixel and the data
    must be binary (``ganlab.data.binarize``). ``likelihood="gaussian"``: the decoder
    outputs a mean in [-1, 1] (tanh) and ``sigma`` is one learned scalar (or fixed, if
    ``sigma`` is given); the data are images in [-1, 1].
    """

    def __init__(self, latent_dim: int = 16, likelihood: str = "bernoulli",
                 arch: str = "mlp", hidden: tuple[int, ...] = (512, 256), channels: int = 32,
                 image_shape: tuple[int, ...] = (1, 28, 28), sigma: float | None = None):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; choose from {LIKELIHOODS}")
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown arch {arch!r}; choose from {ARCHITECTURES}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim, self.likelihood, self.arch = latent_dim, likelihood, arch
        self.image_shape = tuple(image_shape)
        out = None if likelihood == "bernoulli" else "tanh"  # logits, or a mean in [-1, 1]
        if arch == "mlp":
            dims = [math.prod(self.image_shape), *hidden]
            self.encoder = nn.Sequential(nn.Flatten(), *mlp(dims, "relu", "relu"),
                                         nn.Linear(dims[-1], 2 * latent_dim))
            self.decoder = nn.Sequential(*mlp([latent_dim, *hidden[::-1], dims[0]], "relu", out),
                                         nn.Unflatten(1, self.image_shape))
        else:
            self.encoder = conv_encoder(self.image_shape, channels, 2 * latent_dim)
            self.decoder = conv_decoder(self.image_shape, channels, latent_dim, out)
        if likelihood == "gaussian":
            log_sigma = torch.tensor(math.log(sigma if sigma is not None else 0.3))
            if sigma is None:
                self.log_sigma = nn.Parameter(log_sigma)
            else:
                self.register_buffer("log_sigma", log_sigma)

    # --- the two networks ------------------------------------------------------------------

    def check_data(self, x: torch.Tensor) -> None:
        """Raise a ValueError unless ``x`` has this model's shape and pixel range."""
        check_image_shape(x, self.image_shape)
        if self.likelihood == "bernoulli" and ((x != 0) & (x != 1)).any():
            raise ValueError("this VAE has a Bernoulli decoder: pixels must be 0 or 1, got values "
                             f"in [{x.min().item():.3g}, {x.max().item():.3g}]; binarise images "
                             "in [-1, 1] with ganlab.data.binarize(x)")
        if self.likelihood == "gaussian" and (x.min() < -1 or x.max() > 1):
            raise ValueError("this VAE has a Gaussian decoder for images in [-1, 1], got values "
                             f"in [{x.min().item():.3g}, {x.max().item():.3g}]")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q_phi(z|x)``: ``(mu, logvar)``, each of shape ``(N, latent_dim)``."""
        self.check_data(x)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``p_theta(x|z)``'s parameters: logits (Bernoulli) or the mean (Gaussian), image-shaped."""
        check_codes(z, self.latent_dim)
        return self.decoder(z)

    def log_likelihood(self, x: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        """``log p_theta(x | z)`` per example, given ``decoded = decode(z)``."""
        if self.likelihood == "bernoulli":
            return losses.bernoulli_log_likelihood(decoded, x)
        return losses.gaussian_log_likelihood(decoded, x, self.log_sigma)

    def mean_image(self, z: torch.Tensor) -> torch.Tensor:
        """``E[x | z]`` as an image in [-1, 1], for display (``2 s(l) - 1`` for Bernoulli)."""
        decoded = self.decode(z)
        return 2 * torch.sigmoid(decoded) - 1 if self.likelihood == "bernoulli" else decoded

    # --- the bound ---------------------------------------------------------------------------

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Per-example ``ELBO = log p(x|z) - KL(q(z|x) || p(z))`` with one sample ``z ~ q``.

        Returns a dict of ``(N,)`` tensors in nats: ``elbo``, ``log_likelihood`` (the
        reconstruction term) and ``kl`` (the regularisation term).
        """
        mu, logvar = self.encode(x)
        z = losses.reparameterize(mu, logvar, generator)
        log_likelihood = self.log_likelihood(x, self.decode(z))
        kl = losses.gaussian_kl(mu, logvar)
        return {"elbo": log_likelihood - kl, "log_likelihood": log_likelihood, "kl": kl}

    @torch.no_grad()
    def importance_log_likelihood(self, x: torch.Tensor, k: int,
                                  generator: torch.Generator | None = None) -> torch.Tensor:
        """The importance-weighted bound ``L_K`` on ``log p(x)``, per example, in nats.

            L_K(x) = log (1/K) sum_{k=1}^K  p(x | z_k) p(z_k) / q(z_k | x),   z_k ~ q(z | x)

        ``E[L_1]`` is the ELBO, ``E[L_K]`` grows with ``K`` and tends to ``log p(x)``
        (Burda, Grosse & Salakhutdinov, 2016). Computed with log-sum-exp.
        """
        if k < 1:
            raise ValueError(f"need k >= 1 importance samples, got {k}")
        mu, logvar = self.encode(x)
        log_weights = []
        for _ in range(k):
            z = losses.reparameterize(mu, logvar, generator)
            log_weights.append(self.log_likelihood(x, self.decode(z))
                               + losses.standard_normal_log_prob(z)
                               - losses.diagonal_normal_log_prob(z, mu, logvar))
        return torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(k)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images ``E[x | z]`` for ``z ~ p(z) = N(0, I)``, in [-1, 1]."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.mean_image(z)
