"""ganlab.losses: each loss against its formula (by hand, in closed form or with
torch.distributions), at extreme inputs, and the errors it raises."""

import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from ganlab import losses
from ganlab.losses import (
    contractive_penalty,
    critic_loss,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
    reconstruction_error,
    sgan_discriminator_loss,
    stochastic_contractive_penalty,
    wasserstein_generator_loss,
)
from ganlab.models import Autoencoder

# --- Unit 01: reconstruction and contractive penalties ----------------------------------------


def test_reconstruction_error():
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[2.0, 0.0], [0.0, 0.0]]]])
    assert reconstruction_error(x_hat, x).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="differs from the input shape"):
        reconstruction_error(x_hat[:, :, :1], x)


def test_contractive_penalty_matches_sigmoid_closed_form():
    # one sigmoid layer z = s(Wx + b): ||J||_F^2 = sum_j (z_j (1 - z_j))^2 sum_i W_ji^2
    torch.manual_seed(0)
    model = Autoencoder(6, hidden=(), image_shape=(1, 8, 8), code_activation="sigmoid")
    x = torch.randn(10, 1, 8, 8, requires_grad=True)
    z = model.encode(x)
    W = model.encoder[1].weight
    closed = ((z * (1 - z)) ** 2 * (W ** 2).sum(dim=1)).sum(dim=1).mean()
    assert torch.allclose(contractive_penalty(z, x), closed, rtol=1e-5)


def test_contractive_penalty_matches_full_jacobian_of_deep_encoder():
    torch.manual_seed(0)
    model = Autoencoder(3, hidden=(20,), image_shape=(1, 4, 4), activation="tanh")
    x = torch.randn(4, 1, 4, 4, requires_grad=True)
    penalty = contractive_penalty(model.encode(x), x)
    per_example = [torch.autograd.functional.jacobian(lambda v: model.encode(v[None])[0], x[i])
                   .pow(2).sum() for i in range(4)]
    assert torch.allclose(penalty, torch.stack(per_example).mean(), rtol=1e-5)
    penalty.backward()  # differentiable: the CAE trains through it
    assert model.encoder[1].weight.grad is not None


def test_contractive_penalty_input_checks():
    x = torch.randn(4, 1, 8, 8)
    with pytest.raises(ValueError, match="requires_grad_"):
        contractive_penalty(torch.zeros(4, 2), x)
    with pytest.raises(ValueError, match=r"z must have shape \(N, latent_dim\) with N = 4"):
        contractive_penalty(torch.zeros(3, 2), x.requires_grad_(True))


def test_stochastic_contractive_penalty_is_unbiased_for_a_linear_encoder():
    # f(x) = Wx + b: E||W eps||^2 / sigma^2 = ||W||_F^2 exactly, whatever sigma
    torch.manual_seed(0)
    model = Autoencoder.linear(5, image_shape=(1, 6, 6))
    x = torch.randn(64, 1, 6, 6)
    exact = (model.encoder[1].weight ** 2).sum()
    estimate = stochastic_contractive_penalty(model.encode, x, sigma=3.0, samples=50,
                                              generator=torch.Generator().manual_seed(0))
    assert abs(estimate.item() - exact.item()) < 0.05 * exact.item()
    with pytest.raises(ValueError, match="need sigma > 0"):
        stochastic_contractive_penalty(model.encode, x, sigma=0)


def test_stochastic_contractive_penalty_approaches_exact_for_small_noise():
    torch.manual_seed(0)
    model = Autoencoder(4, hidden=(32,), image_shape=(1, 6, 6), activation="tanh")
    x = torch.randn(200, 1, 6, 6, requires_grad=True)
    exact = contractive_penalty(model.encode(x), x)
    estimate = stochastic_contractive_penalty(model.encode, x, sigma=1e-3, samples=20,
                                              generator=torch.Generator().manual_seed(0))
    assert abs(estimate.item() - exact.item()) < 0.05 * exact.item()


# --- Unit 02: the pieces of the ELBO ----------------------------------------------------------


def test_gaussian_kl_closed_form_and_torch():
    torch.manual_seed(0)
    mu, logvar = torch.randn(6, 3), torch.randn(6, 3)
    by_hand = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(losses.gaussian_kl(mu, logvar), by_hand)
    assert torch.allclose(losses.gaussian_kl(mu, logvar), reference, atol=1e-6)
    assert losses.gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max() == 0  # q = p


def test_gaussian_kl_shape_errors():
    with pytest.raises(ValueError, match=r"mu and logvar must both have shape \(N, latent_dim\)"):
        losses.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="latent_dim"):
        losses.gaussian_kl(torch.zeros(3), torch.zeros(3))


def test_reparameterize_statistics_and_gradient():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0)]], requires_grad=True)
    z = losses.reparameterize(mu.expand(20000, 2), logvar.expand(20000, 2),
                              generator=torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.05)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), atol=0.05)
    z.mean().backward()  # the sample is a differentiable function of mu and logvar
    assert torch.allclose(mu.grad, torch.tensor([[0.5, 0.5]]))
    assert logvar.grad.abs().sum() > 0
    g = lambda: torch.Generator().manual_seed(3)
    assert torch.equal(losses.reparameterize(mu, logvar, g()), losses.reparameterize(mu, logvar, g()))


def test_log_likelihoods_match_torch_distributions():
    torch.manual_seed(0)
    logits = torch.randn(4, 1, 3, 3) * 3
    x = (torch.rand(4, 1, 3, 3) > 0.5).float()
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(losses.bernoulli_log_likelihood(logits, x), expected, atol=1e-5)
    mean, xc = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    expected = Normal(mean, 0.3).log_prob(xc).flatten(1).sum(1)
    assert torch.allclose(losses.gaussian_log_likelihood(mean, xc, math.log(0.3)), expected, atol=1e-5)
    z, mu, logvar = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    assert torch.allclose(losses.standard_normal_log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(1))
    assert torch.allclose(losses.diagonal_normal_log_prob(z, mu, logvar),
                          Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(1), atol=1e-5)


def test_bernoulli_likelihood_refuses_images_in_minus_one_one():
    x = torch.rand(2, 1, 3, 3) * 2 - 1
    with pytest.raises(ValueError, match=r"binary pixels in \{0, 1\}.*ganlab.data.binarize"):
        losses.bernoulli_log_likelihood(torch.zeros_like(x), x)
    with pytest.raises(ValueError, match="logits shape"):
        losses.bernoulli_log_likelihood(torch.zeros(2, 9), x)


def input_gradient_by_finite_differences(f, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """d f(x) / dx for one example ``x`` (f takes a batch of one), by central differences."""
    grad = torch.zeros(x.numel(), dtype=torch.float64)
    for i in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=torch.float64)
        step[i] = h
        up, down = (x.flatten() + step).view(1, *x.shape), (x.flatten() - step).view(1, *x.shape)
        grad[i] = (f(up) - f(down)).item() / (2 * h)
    return grad


def weight_gradient_by_finite_differences(value_of, weight: torch.Tensor, h: float = 1e-6) -> float:
    """d value_of() / d weight[0, 0], by central differences."""
    def at(delta):
        with torch.no_grad():
            weight[0, 0] += delta
        result = value_of().item()
        with torch.no_grad():
            weight[0, 0] -= delta
        return result
    return (at(h) - at(-h)) / (2 * h)


# --- Units 03-05: the GAN game ----------------------------------------------------------------


def _logits(n=64, seed=0, scale=4.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g, dtype=torch.float64) * scale


def test_discriminator_loss_is_minus_the_value_estimate():
    real, fake = _logits(seed=0), _logits(seed=1)
    D_real, D_fake = torch.sigmoid(real), torch.sigmoid(fake)
    by_hand = -(torch.log(D_real).mean() + torch.log(1 - D_fake).mean())
    assert torch.allclose(discriminator_loss(real, fake), by_hand)
    # = binary cross-entropy with label 1 for real, 0 for fake
    bce = torch.nn.functional.binary_cross_entropy
    assert torch.allclose(discriminator_loss(real, fake),
                          bce(D_real, torch.ones_like(D_real)) + bce(D_fake, torch.zeros_like(D_fake)))


@pytest.mark.parametrize("kind, formula", [
    ("minimax", lambda D: torch.log(1 - D).mean()),
    ("non_saturating", lambda D: -torch.log(D).mean()),
    ("maximum_likelihood", lambda D: -0.5 * (D / (1 - D)).mean()),  # exp(logit(D)) = D / (1 - D)
])
def test_generator_losses_match_their_formulas(kind, formula):
    fake = _logits(seed=2, scale=2.0)
    assert torch.allclose(generator_loss(fake, kind), formula(torch.sigmoid(fake)))


def test_losses_stay_finite_at_extreme_logits():
    real = torch.tensor([50.0, -50.0, 0.0], requires_grad=True)
    fake = torch.tensor([-50.0, 50.0, 0.0], requires_grad=True)
    d = discriminator_loss(real, fake)
    d.backward()
    assert torch.isfinite(d) and torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()
    # at -104 the naive way, log(sigmoid(l)), is -inf in float32; the softplus form is not
    assert torch.isfinite(discriminator_loss(torch.tensor([-104.0]), torch.tensor([104.0])))
    for kind in ("minimax", "non_saturating", "maximum_likelihood"):
        f = torch.tensor([-50.0, 50.0, 0.0], requires_grad=True)
        loss = generator_loss(f, kind)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(f.grad).all(), kind


def test_minimax_gradient_vanishes_where_non_saturating_does_not():
    # D confidently rejects the fake: D(G(z)) = s(-10) ~ 4.5e-5
    grads = {}
    for kind in ("minimax", "non_saturating"):
        f = torch.tensor([-10.0], requires_grad=True)
        generator_loss(f, kind).backward()
        grads[kind] = f.grad.abs().item()
    assert grads["minimax"] < 1e-4 and grads["non_saturating"] > 0.99


def test_loss_errors():
    with pytest.raises(ValueError, match="unknown generator loss 'wasserstein'"):
        generator_loss(torch.zeros(3), "wasserstein")
    with pytest.raises(ValueError, match=r"logits must have shape \(N,\) or \(N, 1\)"):
        discriminator_loss(torch.zeros(3, 2), torch.zeros(3))


def test_one_sided_label_smoothing_is_the_cross_entropy_with_target_y():
    real, fake = _logits(seed=3), _logits(seed=4)
    y = 0.9
    bce = torch.nn.functional.binary_cross_entropy
    by_hand = bce(torch.sigmoid(real), torch.full_like(real, y)) + bce(torch.sigmoid(fake), torch.zeros_like(fake))
    assert torch.allclose(discriminator_loss(real, fake, real_label=y), by_hand)
    # its minimum over a real logit is at D(x) = y, not at D(x) -> 1: zero slope at logit(y)
    for d_real, sign in [(y, 0), (0.5, -1), (0.99, 1)]:
        logit = torch.logit(torch.tensor([d_real], dtype=torch.float64)).requires_grad_(True)
        discriminator_loss(logit, torch.zeros(1, dtype=torch.float64), real_label=y).backward()
        assert torch.sign(torch.round(logit.grad, decimals=9)).item() == sign, d_real


@pytest.mark.parametrize("gamma", [1.0, 10.0, 0.0])
def test_r1_of_a_linear_discriminator_is_exactly_half_gamma_times_the_squared_weight_norm(gamma):
    torch.manual_seed(0)
    D = nn.Linear(5, 1).double()
    x = torch.randn(16, 5, dtype=torch.float64).requires_grad_(True)
    expected = gamma / 2 * D.weight.pow(2).sum()                  # grad_x l = w at every point
    assert r1_penalty(D(x), x, gamma).item() == pytest.approx(expected.item(), rel=1e-12)


def test_r1_matches_finite_differences_and_is_differentiable_in_d():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    x = torch.randn(4, 1, 2, 3, dtype=torch.float64)

    def penalty():
        x_in = x.clone().requires_grad_(True)
        return r1_penalty(D(x_in), x_in, 3.0)

    value = penalty()
    squared = [input_gradient_by_finite_differences(D, xi).pow(2).sum() for xi in x]
    assert value.item() == pytest.approx(3.0 / 2 * torch.stack(squared).mean().item(), rel=1e-6)

    (g,) = torch.autograd.grad(value, D[1].weight)
    assert g[0, 0].item() == pytest.approx(weight_gradient_by_finite_differences(penalty, D[1].weight), rel=1e-4)


def test_r1_errors_name_what_was_expected():
    D = nn.Linear(3, 1)
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty(D(x), x, 1.0)                                  # x was not marked before D(x)
    x = x.requires_grad_(True)
    with pytest.raises(ValueError, match=">= 0"):
        r1_penalty(D(x), x, -1.0)
    with pytest.raises(ValueError, match=r"shape \(N,\) or \(N, 1\)"):
        r1_penalty(nn.Linear(3, 2)(x), x, 1.0)
    with pytest.raises(ValueError, match="one row per logit"):
        r1_penalty(D(x)[:3], x, 1.0)


# --- Unit 07: the Wasserstein GAN -------------------------------------------------------------


def test_critic_loss_is_mean_fake_minus_mean_real():
    real, fake = torch.tensor([1.0, 2.0, 6.0]), torch.tensor([[-1.0], [0.5]])
    assert critic_loss(real, fake).item() == pytest.approx(-0.25 - 3.0)
    assert wasserstein_generator_loss(fake).item() == pytest.approx(0.25)


@pytest.mark.parametrize("bad", [torch.zeros(4, 2), torch.zeros(2, 2, 1), 3.0])
def test_critic_losses_reject_scores_that_are_not_one_per_sample(bad):
    with pytest.raises(ValueError, match="one per sample"):
        critic_loss(bad, torch.zeros(4))
    with pytest.raises(ValueError, match="one per sample"):
        wasserstein_generator_loss(bad)


@pytest.mark.parametrize("weight", [10.0, 1.0, 0.0])
def test_penalty_of_a_linear_critic_is_exactly_weight_times_norm_gap_squared(weight):
    torch.manual_seed(0)
    critic = nn.Linear(5, 1).double()
    real, fake = torch.randn(32, 5, dtype=torch.float64), torch.randn(32, 5, dtype=torch.float64)
    expected = weight * (critic.weight.norm() - 1) ** 2       # grad f = w at every interpolate
    assert gradient_penalty(critic, real, fake, weight).item() == pytest.approx(expected.item(), rel=1e-12)


def test_penalty_matches_finite_differences_and_is_differentiable_in_the_critic():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    real, fake = torch.randn(4, 1, 2, 3, dtype=torch.float64), torch.randn(4, 1, 2, 3, dtype=torch.float64)
    penalty = gradient_penalty(critic, real, fake, 10.0, generator=torch.Generator().manual_seed(1))

    # the same interpolates, by hand: eps from the same seeded generator
    eps = torch.rand((4, 1, 1, 1), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    norms = [input_gradient_by_finite_differences(critic, x).norm() for x in x_hat]
    by_hand = 10.0 * ((torch.stack(norms) - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert torch.equal(gradient_penalty(critic, real, fake, 10.0, eps=eps), penalty)   # eps given, not drawn

    # differentiable in the critic's parameters: compare with a finite difference in one weight
    (g,) = torch.autograd.grad(penalty, critic[1].weight)
    def penalty_again():
        return gradient_penalty(critic, real, fake, 10.0, generator=torch.Generator().manual_seed(1))
    assert g[0, 0].item() == pytest.approx(weight_gradient_by_finite_differences(penalty_again, critic[1].weight),
                                           rel=1e-4)


def test_penalty_errors_name_what_was_expected():
    critic = nn.Linear(3, 1)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, torch.zeros(4, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match=">= 0"):
        gradient_penalty(critic, torch.zeros(4, 3), torch.zeros(4, 3), weight=-1.0)
    with pytest.raises(ValueError, match="one score per sample"):
        gradient_penalty(nn.Linear(3, 2), torch.zeros(4, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"one interpolation weight in \[0, 1\] per sample, shape \(4, 1\)"):
        gradient_penalty(critic, torch.zeros(4, 3), torch.zeros(4, 3), eps=torch.rand(4))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        gradient_penalty(critic, torch.zeros(4, 3), torch.zeros(4, 3), eps=torch.full((4, 1), 1.5))


# --- Unit 07: the semi-supervised GAN ---------------------------------------------------------


def test_sgan_loss_against_a_hand_computation():
    # K = 2 real classes and "fake"; one example in each batch, logits chosen by hand
    labelled = torch.tensor([[2.0, 0.0, 1.0]])
    real = torch.tensor([[0.0, 1.0, 3.0]])
    fake = torch.tensor([[1.0, 1.0, 0.0]])
    supervised, unsupervised = sgan_discriminator_loss(labelled, torch.tensor([0]), real, fake)

    def p(logits):
        e = [math.exp(v) for v in logits]
        return [v / sum(e) for v in e]

    assert supervised.item() == pytest.approx(-math.log(p([2, 0, 1])[0]))
    p_real_of_real = p([0, 1, 3])[0] + p([0, 1, 3])[1]          # p(real | x) = p(class 1) + p(class 2)
    p_fake_of_fake = p([1, 1, 0])[2]
    assert unsupervised.item() == pytest.approx(-math.log(p_real_of_real) - math.log(p_fake_of_fake))


def test_sgan_loss_is_stable_for_extreme_logits():
    big = torch.tensor([[200.0, -200.0, -200.0]])
    sure_fake = torch.tensor([[-200.0, -200.0, 200.0]])
    supervised, unsupervised = sgan_discriminator_loss(big, torch.tensor([0]), big, sure_fake)
    assert torch.isfinite(supervised) and torch.isfinite(unsupervised)
    assert unsupervised.item() == pytest.approx(0.0, abs=1e-6)   # certain and right about both


def test_sgan_loss_errors_name_the_expected_shapes():
    logits = torch.zeros(4, 11)
    with pytest.raises(ValueError, match=r"\(N, 11\)"):
        sgan_discriminator_loss(logits, torch.zeros(4, dtype=torch.long), torch.zeros(4, 10), logits)
    with pytest.raises(ValueError, match=r"in \[0, 10\)"):
        sgan_discriminator_loss(logits, torch.full((4,), 10), logits, logits)   # 10 is "fake"


def test_feature_matching_is_the_squared_distance_of_the_feature_means():
    real, fake = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    # means (2, 3) and (0, 1): squared distance 4 + 4
    assert feature_matching_loss(real, fake).item() == pytest.approx(8.0)
    with pytest.raises(ValueError, match="matching shapes"):
        feature_matching_loss(real, torch.zeros(2, 3))
