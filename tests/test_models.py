import pytest
import torch

from ganlab.losses import contractive_penalty, reconstruction_error, stochastic_contractive_penalty
from ganlab.models import Autoencoder, ConvAutoencoder, add_noise


@pytest.mark.parametrize("model", [Autoencoder(8), Autoencoder(3, hidden=(64, 32)),
                                   Autoencoder.linear(5), ConvAutoencoder(6, channels=8)])
def test_shapes_and_output_range(model):
    x = torch.rand(7, 1, 28, 28) * 2 - 1
    z = model.encode(x)
    assert z.shape == (7, model.latent_dim)
    x_hat = model.decode(z)
    assert x_hat.shape == x.shape
    if not isinstance(model, Autoencoder) or model.decoder[-2].__class__ is torch.nn.Tanh:
        assert x_hat.abs().max() <= 1


def test_linear_autoencoder_has_no_nonlinearity():
    model = Autoencoder.linear(4)
    x = torch.randn(5, 1, 28, 28)
    y = torch.randn(5, 1, 28, 28)
    bias = model(torch.zeros(1, 1, 28, 28))
    # affine map: f(x + y) - f(0) = (f(x) - f(0)) + (f(y) - f(0))
    assert torch.allclose(model(x + y) - bias, (model(x) - bias) + (model(y) - bias), atol=1e-4)


@pytest.mark.parametrize("model, bad, expected", [
    (Autoencoder(8), torch.zeros(2, 3, 28, 28), r"expected images of shape \(N, 1, 28, 28\) or \(N, 784\), got \(2, 3, 28, 28\)"),
    (Autoencoder(8), torch.zeros(2, 1, 32, 32), r"\(N, 1, 28, 28\)"),
    (ConvAutoencoder(8), torch.zeros(2, 784), r"expected images of shape \(N, 1, 28, 28\), got \(2, 784\)"),
    (ConvAutoencoder(8), torch.zeros(1, 28, 28), r"got \(1, 28, 28\)"),
])
def test_bad_images_raise_with_expected_shape(model, bad, expected):
    with pytest.raises(ValueError, match=expected):
        model(bad)


def test_bad_codes_and_configs():
    with pytest.raises(ValueError, match=r"expected codes z of shape \(N, 8\), got \(4, 2\)"):
        Autoencoder(8).decode(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="height and width divisible by 4"):
        ConvAutoencoder(8, image_shape=(1, 30, 30))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        Autoencoder(8, activation="gelu")
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        Autoencoder(0)


def test_flat_input_accepted_by_mlp():
    model = Autoencoder(8)
    x = torch.randn(3, 1, 28, 28)
    assert torch.allclose(model(x), model(x.flatten(1)))


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


def test_reconstruction_error():
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[2.0, 0.0], [0.0, 0.0]]]])
    assert reconstruction_error(x_hat, x).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="differs from the input shape"):
        reconstruction_error(x_hat[:, :, :1], x)


def test_add_noise():
    x = torch.zeros(1000, 1, 4, 4)
    noisy = add_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
    assert abs(noisy.std().item() - 0.1) < 0.01
    assert torch.equal(add_noise(torch.ones(3, 2), 5.0).abs().max(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="noise std must be >= 0"):
        add_noise(x, -1)


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
