"""Loss functions of the course, each with the formula it computes.

Unit 01 (autoencoders): :func:`reconstruction_error`, :func:`contractive_penalty`,
:func:`stochastic_contractive_penalty`.

Unit 02 (VAE): :func:`gaussian_kl`, :func:`reparameterize`,
:func:`bernoulli_log_likelihood`, :func:`gaussian_log_likelihood`,
:func:`standard_normal_log_prob`, :func:`diagonal_normal_log_prob`. All
log-likelihoods are in nats, one number per example, summed over its dimensions.

Units 03-05 (GANs): :func:`discriminator_loss`, :func:`generator_loss`.

Unit 07 (WGAN-GP): :func:`critic_loss`, :func:`wasserstein_generator_loss`,
:func:`gradient_penalty`; (semi-supervised GAN): :func:`sgan_discriminator_loss`,
:func:`feature_matching_loss`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


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


# --- Unit 02: the pieces of the ELBO -----------------------------------------------------

def _check_mu_logvar(mu: torch.Tensor, logvar: torch.Tensor) -> None:
    if mu.shape != logvar.shape or mu.dim() != 2:
        raise ValueError(f"mu and logvar must both have shape (N, latent_dim); got "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag exp(logvar)) || N(0, I))`` per example, summed over latent dimensions.

    Closed form, for ``q = N(mu, diag sigma^2)`` with ``logvar = log sigma^2``:

        KL(q || p) = 1/2 * sum_j ( mu_j^2 + sigma_j^2 - 1 - log sigma_j^2 )

    Shape ``(N,)``, in nats. It takes the *log-variance*: passing a standard deviation
    (or a variance) where ``logvar`` is expected is a classic silent bug.
    """
    _check_mu_logvar(mu, logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The reparameterised sample ``z = mu + sigma * eps``, ``eps ~ N(0, I)``, ``sigma = exp(logvar / 2)``.

    The randomness lives in ``eps``, which does not depend on the encoder's parameters,
    so gradients flow from ``z`` back into ``mu`` and ``logvar``.
    """
    _check_mu_logvar(mu, logvar)
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``log p(x | z) = sum_i [x_i log s(l_i) + (1 - x_i) log(1 - s(l_i))]`` per example.

    ``logits`` ``l`` are the decoder's raw outputs (``s`` is the sigmoid, applied inside,
    stably, by ``binary_cross_entropy_with_logits``); ``x`` holds binary pixels in {0, 1}.
    """
    if logits.shape != x.shape:
        raise ValueError(f"logits shape {tuple(logits.shape)} differs from x shape {tuple(x.shape)}")
    if ((x != 0) & (x != 1)).any():
        raise ValueError(f"a Bernoulli likelihood needs binary pixels in {{0, 1}}, got values in "
                         f"[{x.min().item():.3g}, {x.max().item():.3g}]; binarise images in "
                         "[-1, 1] with ganlab.data.binarize(x)")
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def gaussian_log_likelihood(mean: torch.Tensor, x: torch.Tensor,
                            log_sigma: torch.Tensor | float) -> torch.Tensor:
    """``log N(x; mean, sigma^2 I) = -1/2 sum_i [ (x_i - mean_i)^2 / sigma^2 + log 2 pi sigma^2 ]``.

    A *density* of continuous pixels, so it can be positive and is not comparable with
    a Bernoulli likelihood of binarised pixels. ``log_sigma`` is a scalar (tensor or float).
    """
    if mean.shape != x.shape:
        raise ValueError(f"mean shape {tuple(mean.shape)} differs from x shape {tuple(x.shape)}")
    log_sigma = torch.as_tensor(log_sigma, dtype=x.dtype, device=x.device)
    per_pixel = 0.5 * ((x - mean) * torch.exp(-log_sigma)).pow(2) + log_sigma + 0.5 * LOG_2PI
    return -per_pixel.flatten(1).sum(dim=1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I) = -1/2 sum_j (z_j^2 + log 2 pi)`` per example (the prior ``p(z)``)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(dim=1)


def diagonal_normal_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, diag exp(logvar))`` per example (the encoder's ``q_phi(z|x)``)."""
    _check_mu_logvar(mu, logvar)
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(dim=1)


# --- Units 03-05: the GAN game -----------------------------------------------------------
#
# Discriminators in this course return *logits* l, with D(x) = s(l) the probability that
# x is real. Every loss below is written with the softplus function
# softplus(l) = log(1 + e^l), using the identities
#
#     log D(x)       = log s(l)     = -softplus(-l)
#     log(1 - D(x))  = log s(-l)    = -softplus(l)
#
# which are exact and never evaluate log(0): computing s(l) first and then log(s(l))
# returns -inf as soon as s(l) rounds to 0 (l < -104 in float32), and the gradient of
# log through a saturated sigmoid is lost to rounding long before that.

GENERATOR_LOSSES = ("minimax", "non_saturating", "maximum_likelihood")


def _check_logits(*logits: torch.Tensor) -> None:
    for t in logits:
        if t.dim() not in (1, 2) or (t.dim() == 2 and t.shape[1] != 1):
            raise ValueError(f"discriminator logits must have shape (N,) or (N, 1), got {tuple(t.shape)}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_label: float = 1.0) -> torch.Tensor:
    """The loss D descends: minus the minibatch estimate of ``V(D, G)``.

        L_D = -( (1/m) sum_i log D(x_i) + (1/m) sum_i log(1 - D(G(z_i))) )
            = mean softplus(-l_real) + mean softplus(l_fake)

    This is the binary cross-entropy with label 1 for real and 0 for fake samples,
    summed over the two halves. Takes logits, not probabilities.

    ``real_label = y < 1`` is *one-sided label smoothing* (Salimans et al., 2016): the
    real half becomes the cross-entropy with target ``y``,
    ``mean [ y softplus(-l_real) + (1 - y) softplus(l_real) ]``, so D is never pushed to
    be certain about real data; the fakes' target stays 0.
    """
    _check_logits(real_logits, fake_logits)
    real = F.softplus(-real_logits)
    if real_label != 1.0:
        real = real_label * real + (1 - real_label) * F.softplus(real_logits)
    return real.mean() + F.softplus(fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, x_real: torch.Tensor, gamma: float) -> torch.Tensor:
    """The R1 penalty (Mescheder et al., 2018) on D's logits at the real data.

        R1 = (gamma / 2) (1/m) sum_i || d/dx_i  sum_j l(x_j) ||^2

    ``real_logits`` are ``l(x_j) = D(x_j)``, computed from ``x_real`` with
    ``x_real.requires_grad`` set, so the penalty reuses D's forward pass. For a D that treats
    samples independently the inner gradient is ``grad_x l(x_i)``, and the penalty is
    ``gamma / 2`` times the mean squared norm of D's gradient at real points: it flattens
    D around the data, where at the game's equilibrium D is constant, and so damps the
    oscillation of D and G around it. (With batch norm in D the sum also carries each
    sample's effect on the others through the batch statistics.) Added to ``L_D``; the
    gradient is kept in the graph, so the penalty is differentiable in D's parameters.
    For a linear D, ``l(x) = w . x + b``, it is exactly ``gamma / 2 ||w||^2``.
    """
    _check_logits(real_logits)
    if not isinstance(x_real, torch.Tensor) or not x_real.requires_grad or len(x_real) != len(real_logits):
        raise ValueError("x_real must be the batch the real logits were computed from, one row per logit, "
                         "with requires_grad set (x = x.detach().requires_grad_(True) before D(x))")
    if gamma < 0:
        raise ValueError(f"the R1 weight gamma must be >= 0, got {gamma}")
    (grad,) = torch.autograd.grad(real_logits.sum(), x_real, create_graph=True)
    return gamma / 2 * grad.flatten(1).pow(2).sum(1).mean()


def check_loss_kind(kind: str) -> str:
    """Return ``kind`` if it names a generator cost of :data:`GENERATOR_LOSSES`; else a ValueError listing them.

    ``kind`` is the second argument of :func:`generator_loss` (and the ``loss`` option of
    ``ganlab.gan.train_gan``).
    """
    if kind not in GENERATOR_LOSSES:
        raise ValueError(f"unknown generator loss {kind!r}; choose from {GENERATOR_LOSSES}")
    return kind


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """The loss G descends, for three choices of generator cost (Goodfellow, 2016, §3.2):

    * ``"minimax"``: ``mean log(1 - D(G(z))) = -mean softplus(l)``, the term of ``V`` that
      depends on G. Its gradient vanishes when D confidently rejects the fakes
      (``D(G(z)) -> 0``), which is exactly the situation early in training.
    * ``"non_saturating"``: ``-mean log D(G(z)) = mean softplus(-l)``. Same fixed point,
      strong gradient when the fakes are rejected. The default in practice.
    * ``"maximum_likelihood"``: ``-1/2 mean exp(s^-1(D(G(z)))) = -1/2 mean exp(l)``; with an
      optimal D its expected gradient equals that of ``KL(p_data || p_g)``. Its gradient
      is concentrated on the few samples D already believes are real.
    """
    _check_logits(fake_logits)
    check_loss_kind(kind)
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()
    return -0.5 * torch.exp(fake_logits).mean()  # maximum_likelihood


# --- Unit 07: the Wasserstein GAN ---------------------------------------------------------
#
# A WGAN's critic f returns *scores*, any real number, not logits of a probability:
# there is no sigmoid and no cross-entropy. By the Kantorovich-Rubinstein duality
#
#     W(p_data, p_g) = sup_{||f||_L <= 1}  E_{x ~ p_data} f(x) - E_{z ~ p_z} f(G(z)),
#
# so a critic that maximises the gap between its mean score on real and on fake samples,
# while staying 1-Lipschitz, estimates the Wasserstein-1 distance between them.

def _check_scores(*scores: torch.Tensor) -> None:
    for t in scores:
        if not isinstance(t, torch.Tensor) or t.dim() not in (1, 2) or (t.dim() == 2 and t.shape[1] != 1):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"critic scores must have shape (N,) or (N, 1), one per sample, got {shape}")


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The loss the critic descends, without its penalty: ``L_f = mean f(G(z)) - mean f(x)``.

    Minus the minibatch estimate of the duality's objective, so ``-L_f`` estimates
    ``W(p_data, p_g)`` once ``f`` is (close to) the best 1-Lipschitz critic. Takes raw
    scores ``(N,)`` or ``(N, 1)``; real and fake batches may differ in size.
    """
    _check_scores(real_scores, fake_scores)
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The loss G descends against a critic: ``L_G = -mean f(G(z))``.

    The only term of the critic's objective that depends on G. Its gradient is that of
    the critic's score, which does not saturate: a 1-Lipschitz ``f`` has gradient norm
    close to 1 almost everywhere between the two distributions.
    """
    _check_scores(fake_scores)
    return -fake_scores.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0,
                     generator: torch.Generator | None = None,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al., 2017): ``weight * mean_i (||grad f(x_hat_i)||_2 - 1)^2``.

    Each ``x_hat_i = eps_i x_i + (1 - eps_i) x~_i`` is a random point on the segment between
    the real sample ``x_i`` and the fake ``x~_i`` (``eps_i ~ U[0, 1]``, one per sample). The
    best critic has gradient norm 1 on such segments, so the penalty pulls ``f`` towards
    the 1-Lipschitz critics of the duality without clipping its weights. The gradient is
    taken per sample (the critic must treat samples independently: no batch norm) and
    kept in the graph (``create_graph=True``), so the penalty is differentiable in the
    critic's parameters.

    For a linear critic ``f(x) = w . x + b`` the gradient is ``w`` everywhere and the
    penalty is exactly ``weight * (||w|| - 1)^2``. ``eps`` (shape ``(N, 1, ...)``, values in
    [0, 1]) fixes the interpolation weights instead of drawing them, for checks.
    """
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor) or real.shape != fake.shape:
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in (real, fake)]
        raise ValueError(f"real and fake batches must have the same shape (N, ...), got {shapes[0]} "
                         f"and {shapes[1]}")
    if weight < 0:
        raise ValueError(f"the penalty weight must be >= 0, got {weight}")
    shape = (len(real),) + (1,) * (real.dim() - 1)
    if eps is None:
        eps = torch.rand(shape, generator=generator, dtype=real.dtype).to(real.device)
    elif tuple(eps.shape) != shape or eps.min() < 0 or eps.max() > 1:
        raise ValueError(f"eps must hold one interpolation weight in [0, 1] per sample, shape {shape}, "
                         f"got shape {tuple(eps.shape)}")
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    if not isinstance(scores, torch.Tensor) or scores.numel() != len(real) or scores.dim() > 2:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"the critic must return one score per sample, shape ({len(real)},) or "
                         f"({len(real)}, 1), got {shape}")
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return weight * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


# --- Unit 07: the semi-supervised GAN ----------------------------------------------------------
#
# The SGAN's D has K + 1 outputs: logits l_1..l_K for the real classes and l_{K+1} for
# "fake", with p(k | x) = softmax(l)_k. In log space, with lse = logsumexp,
#
#     log p(fake | x)     = l_{K+1} - lse(l_1..l_{K+1})
#     log p(real | x)     = lse(l_1..l_K) - lse(l_1..l_{K+1})     (the K real classes together)


def _check_class_logits(logits: torch.Tensor, n_classes: int | None = None) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[1] < 2 or (
            n_classes is not None and logits.shape[1] != n_classes):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        want = f"(N, {n_classes})" if n_classes is not None else "(N, K + 1)"
        raise ValueError(f"SGAN logits must have shape {want}: K real classes, then 'fake'; got {shape}")


def sgan_discriminator_loss(labelled_logits: torch.Tensor, labels: torch.Tensor,
                            real_logits: torch.Tensor, fake_logits: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The two halves of the semi-supervised D's loss (Salimans et al., 2016, §5), as ``(supervised, unsupervised)``.

        L_supervised   = -mean_{(x, y) labelled} log p(y | x)                  (cross-entropy, K + 1 classes)
        L_unsupervised = -mean_{x unlabelled} log p(real | x) - mean_z log p(fake | G(z))

    The unsupervised half is the vanilla GAN's discriminator loss with
    ``D(x) = p(real | x) = 1 - p(fake | x)``: it teaches the K class outputs from unlabelled
    digits and fakes. D descends their sum.
    """
    for logits in (labelled_logits, real_logits, fake_logits):
        _check_class_logits(logits, labelled_logits.shape[1] if isinstance(labelled_logits, torch.Tensor) else None)
    n_real = labelled_logits.shape[1] - 1
    if labels.shape != (len(labelled_logits),) or labels.is_floating_point() or (
            len(labels) and (labels.min() < 0 or labels.max() >= n_real)):
        raise ValueError(f"labels must be {len(labelled_logits)} integer classes in [0, {n_real}) "
                         f"(class {n_real} is 'fake'), got shape {tuple(labels.shape)}")
    supervised = F.cross_entropy(labelled_logits, labels)
    log_real = torch.logsumexp(real_logits[:, :n_real], 1) - torch.logsumexp(real_logits, 1)
    log_fake = fake_logits[:, n_real] - torch.logsumexp(fake_logits, 1)
    return supervised, -(log_real.mean() + log_fake.mean())


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """G's feature-matching cost (Salimans et al., 2016): ``|| mean_x h(x) - mean_z h(G(z)) ||_2^2``.

    ``h`` is an intermediate layer of D. Instead of fooling D's current output, G matches
    the statistics D finds useful, which keeps the game stable and (in the paper, and in
    Unit 07) gives the better semi-supervised classifier.
    """
    if real_features.dim() < 2 or real_features.shape[1:] != fake_features.shape[1:]:
        raise ValueError(f"features must have matching shapes (N, ...), got {tuple(real_features.shape)} "
                         f"and {tuple(fake_features.shape)}")
    return (real_features.flatten(1).mean(0) - fake_features.flatten(1).mean(0)).pow(2).sum()
