import pytest
import torch

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


def test_add_noise():
    x = torch.zeros(1000, 1, 4, 4)
    noisy = add_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
    assert abs(noisy.std().item() - 0.1) < 0.01
    assert torch.equal(add_noise(torch.ones(3, 2), 5.0).abs().max(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="noise std must be >= 0"):
        add_noise(x, -1)

