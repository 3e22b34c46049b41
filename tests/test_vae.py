import math

import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence
from torch.utils.data import TensorDataset

from ganlab.data import binarize, load_images
from ganlab.latent import lerp, slerp
from ganlab.models import VAE, LinearGaussian
from ganlab.models.linear_gaussian import gaussian_kl_full
from ganlab.train import train_vae

# --- binarised images for the Bernoulli likelihood ------------------------------------------

def test_binarize():
    x = torch.tensor([-1.0, -0.2, 0.0, 0.4, 1.0])
    assert binarize(x).tolist() == [0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match=r"expects images in \[-1, 1\]"):
        binarize(torch.tensor([0.0, 255.0]))


# --- the VAE ---------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_shapes(arch, likelihood):
    model = VAE(latent_dim=3, likelihood=likelihood, arch=arch, hidden=(32,), channels=4)
    x = torch.rand(5, 1, 28, 28)
    x = (x > 0.5).float() if likelihood == "bernoulli" else x * 2 - 1
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    terms = model.elbo(x)
    assert set(terms) == {"elbo", "log_likelihood", "kl"} and terms["elbo"].shape == (5,)
    assert torch.allclose(terms["elbo"], terms["log_likelihood"] - terms["kl"])
    assert (terms["kl"] >= 0).all()
    samples = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (7, 1, 28, 28) and samples.min() >= -1 and samples.max() <= 1


def test_vae_input_errors():
    bern, gauss = VAE(2, "bernoulli", hidden=(8,)), VAE(2, "gaussian", hidden=(8,))
    with pytest.raises(ValueError, match=r"Bernoulli decoder: pixels must be 0 or 1.*binarize"):
        bern.encode(torch.rand(2, 1, 28, 28) * 2 - 1)
    with pytest.raises(ValueError, match=r"Gaussian decoder for images in \[-1, 1\]"):
        gauss.encode(torch.rand(2, 1, 28, 28) * 255)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 28, 28\)"):
        bern.encode(torch.zeros(2, 784))
    with pytest.raises(ValueError, match=r"expected codes z of shape \(N, 2\)"):
        bern.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        VAE(2, "poisson")
    with pytest.raises(ValueError, match="unknown arch 'rnn'"):
        VAE(2, arch="rnn")
    with pytest.raises(ValueError, match="k >= 1"):
        bern.importance_log_likelihood(torch.zeros(1, 1, 28, 28), 0)


def test_importance_bound_converges_to_exact_log_likelihood():
    # latent_dim 1 and 4 binary pixels: log p(x) = log integral p(x|z) N(z; 0, 1) dz by quadrature
    torch.manual_seed(0)
    model = VAE(1, "bernoulli", hidden=(16,), image_shape=(1, 2, 2)).double()
    x = torch.tensor([[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=torch.float64).reshape(3, 1, 2, 2)
    z = torch.linspace(-10, 10, 20001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        logits = model.decode(z)  # (Z, 1, 2, 2)
        log_joint = (Bernoulli(logits=logits[:, None]).log_prob(x).flatten(2).sum(-1)
                     + Normal(0.0, 1.0).log_prob(z))  # (Z, 3)
        exact = torch.logsumexp(log_joint, 0) + math.log(z[1, 0] - z[0, 0])
        g = torch.Generator().manual_seed(0)
        iwae = model.importance_log_likelihood(x, 20000, g)
        elbos = torch.stack([model.elbo(x, g)["elbo"] for _ in range(2000)]).mean(0)
    assert torch.allclose(iwae, exact, atol=0.01)
    assert (elbos < exact).all()  # the ELBO is a lower bound


@pytest.fixture(scope="module")
def trained_vae():
    train, test = load_images("digits", "train"), load_images("digits", "test")
    data = TensorDataset(binarize(train.tensors[0]), train.tensors[1])
    model = VAE(4, "bernoulli", hidden=(64,), image_shape=(1, 8, 8))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        history = train_vae(model, data, epochs=15, batch_size=64, lr=3e-3, progress=False)
    finally:
        torch.set_num_threads(threads)
    return model, history, binarize(test.tensors[0])


def test_training_raises_the_elbo(trained_vae):
    _, history, _ = trained_vae
    per_epoch = history.epoch_mean("elbo")
    assert per_epoch[-1] > per_epoch[0] + 5
    assert per_epoch[-1] > -64 * math.log(2) / 2  # well above a uniform guess (-44 nats)


def test_importance_bound_is_monotone_in_k(trained_vae):
    model, _, x = trained_vae
    x = x.repeat(10, 1, 1, 1)  # 10 draws per test digit: the L_K differ by tenths of a nat
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        elbo = model.elbo(x, g)["elbo"].mean().item()
        bounds = [model.importance_log_likelihood(x, k, g).mean().item() for k in (1, 10, 100)]
    assert abs(bounds[0] - elbo) < 1.0  # E[L_1] is the ELBO
    assert bounds[0] < bounds[1] < bounds[2]


# --- the linear-Gaussian model: the ELBO identity --------------------------------------------

@pytest.fixture
def linear_gaussian():
    model = LinearGaussian.random(D=6, d=3, sigma=0.7, seed=1)
    x, _ = model.sample(5, torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(3)
    q_mean = torch.randn(5, 3, generator=g, dtype=torch.float64)
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    return model, x, q_mean, A @ A.T + 0.1 * torch.eye(3, dtype=torch.float64)


def test_log_marginal_and_posterior_against_joint_gaussian(linear_gaussian):
    model, x, _, _ = linear_gaussian
    C = model.W @ model.W.T + model.sigma**2 * torch.eye(6, dtype=torch.float64)
    assert torch.allclose(model.log_marginal(x), MultivariateNormal(model.b, C).log_prob(x))
    # condition the joint Gaussian of (z, x): mean W^T C^-1 (x - b), cov I - W^T C^-1 W
    mean, cov = model.posterior(x)
    assert torch.allclose(mean, (x - model.b) @ torch.linalg.solve(C, model.W))
    assert torch.allclose(cov, torch.eye(3, dtype=torch.float64) - model.W.T @ torch.linalg.solve(C, model.W))


def test_elbo_identity_holds_for_arbitrary_q(linear_gaussian):
    model, x, q_mean, q_cov = linear_gaussian
    gap = model.kl_to_posterior(x, q_mean, q_cov)
    identity = model.log_marginal(x) - model.elbo(x, q_mean, q_cov)["elbo"] - gap
    assert identity.abs().max() < 1e-6
    assert (gap > 0).all()


def test_gap_vanishes_at_the_true_posterior(linear_gaussian):
    model, x, _, _ = linear_gaussian
    post_mean, post_cov = model.posterior(x)
    assert model.kl_to_posterior(x, post_mean, post_cov).abs().max() < 1e-10
    assert torch.allclose(model.elbo(x, post_mean, post_cov)["elbo"], model.log_marginal(x))


def test_monte_carlo_elbo_agrees_within_standard_errors(linear_gaussian):
    model, x, q_mean, q_cov = linear_gaussian
    estimate, se = model.elbo_monte_carlo(x, q_mean, q_cov, 20000, torch.Generator().manual_seed(0))
    assert ((estimate - model.elbo(x, q_mean, q_cov)["elbo"]).abs() < 4 * se).all()


def test_full_gaussian_kl_matches_torch():
    g = torch.Generator().manual_seed(0)
    A, B = (torch.randn(3, 3, generator=g, dtype=torch.float64) for _ in range(2))
    S0, S1 = A @ A.T + 0.1 * torch.eye(3), B @ B.T + 0.1 * torch.eye(3)
    m0, m1 = torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    expected = kl_divergence(MultivariateNormal(m0, S0), MultivariateNormal(m1, S1))
    assert torch.allclose(gaussian_kl_full(m0, S0, m1, S1), expected)


def test_linear_gaussian_errors():
    with pytest.raises(ValueError, match=r"need W of shape \(D, d\)"):
        LinearGaussian(torch.zeros(3, 2), torch.zeros(2), 1.0)
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 5\)"):
        LinearGaussian.random(5, 2).log_marginal(torch.zeros(3, 4))


# --- latent interpolation --------------------------------------------------------------------

def test_lerp_and_slerp():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    line, arc = lerp(z0, z1, 5), slerp(z0, z1, 5)
    for path in (line, arc):
        assert torch.allclose(path[0], z0) and torch.allclose(path[-1], z1, atol=1e-6)
    assert torch.allclose(arc.norm(dim=1), torch.full((5,), 3.0))   # stays on the circle
    assert line.norm(dim=1)[2] == pytest.approx(3 / math.sqrt(2))   # the chord dips inside
    assert torch.allclose(slerp(z0, 2 * z0, 3), lerp(z0, 2 * z0, 3))  # parallel: falls back
    with pytest.raises(ValueError, match="steps >= 2"):
        lerp(z0, z1, 1)
    with pytest.raises(ValueError, match="1-D codes of one shape"):
        slerp(z0, torch.zeros(3), 4)
