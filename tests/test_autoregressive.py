import math

import pytest
import torch
from torch.utils.data import TensorDataset

from ganlab.data import load_images
from ganlab.models.autoregressive import MADE, MaskedLinear, made_step
from ganlab.train import fit


def all_binary_images(shape):
    """Every one of the ``2^D`` binary images of ``shape``, as float64 ``(2^D, *shape)``."""
    d = math.prod(shape)
    codes = torch.arange(2**d)[:, None]
    bits = (codes >> torch.arange(d)) & 1
    return bits.double().view(-1, *shape)


def sharpened(model, factor=4.0):
    """``model`` with every parameter scaled: sharper, strongly dependent conditionals."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model


def test_masked_linear_computes_masked_product():
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    layer = MaskedLinear(mask)
    x = torch.randn(4, 3)
    expected = x @ (mask * layer.weight).T + layer.bias
    assert torch.allclose(layer(x), expected)
    assert "mask" in dict(layer.named_buffers())
    assert "mask" not in dict(layer.named_parameters())


def test_logit_i_depends_only_on_earlier_pixels():
    torch.manual_seed(0)
    model = MADE((1, 3, 3), hidden=(32, 32), seed=3).double()
    x = torch.randint(0, 2, (1, 1, 3, 3)).double()
    jac = torch.autograd.functional.jacobian(lambda v: model(v).flatten(), x).reshape(9, 9)
    # jac[i, j] = d l_i / d x_j: zero on and above the diagonal (j >= i) ...
    assert torch.all(jac.triu() == 0)
    # ... and not zero below it: the logits do use the earlier pixels
    assert (jac.tril(-1) != 0).sum() >= 20  # of the 36 entries below the diagonal
    # the masks alone leave a path from every x_j to every l_i with j < i
    paths = torch.eye(9)
    for layer in model.masked_layers():
        paths = layer.mask.float() @ paths
    assert torch.equal(paths > 0, torch.ones(9, 9).tril(-1).bool())


def test_probabilities_of_all_images_sum_to_one():
    torch.manual_seed(0)
    model = sharpened(MADE((1, 3, 3), hidden=(16, 16), seed=1).double())
    p = model.log_prob(all_binary_images((1, 3, 3))).exp()
    assert p.shape == (512,)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert p.max() > 5 / 512  # far from uniform, so the sum is a real check


def test_log_prob_is_the_chain_rule_product():
    torch.manual_seed(0)
    model = MADE((1, 4, 4), hidden=(24,), seed=0).double()
    x = torch.randint(0, 2, (1, 1, 4, 4)).double()
    flat = x.flatten()
    log_p = 0.0
    for i in range(16):
        # p(x_i | x_<i): pixels i.. are replaced by random bits, which must not matter
        context = flat.clone()
        context[i:] = torch.randint(0, 2, (16 - i,)).double()
        p_one = torch.sigmoid(model(context.view(1, 1, 4, 4)).flatten()[i])
        log_p += math.log(p_one.item() if flat[i] == 1 else 1 - p_one.item())
    assert model.log_prob(x).item() == pytest.approx(log_p, abs=1e-10)


def test_samples_follow_the_model_distribution():
    torch.manual_seed(0)
    model = sharpened(MADE((1, 2, 2), hidden=(32,), seed=0))
    images = all_binary_images((1, 2, 2)).float()
    p = model.log_prob(images).exp().detach().double()
    # the pixels are strongly dependent: a sampler that drew each pixel from its
    # marginal (or ignored the context) would be far off
    marginals = (p[:, None] * images.flatten(1).double()).sum(0)
    independent = torch.prod(torch.where(images.flatten(1).bool(), marginals, 1 - marginals), 1)
    assert (p - independent).abs().sum() > 0.2

    n = 20_000
    samples = model.sample(n, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (n, 1, 2, 2) and samples.dtype == torch.float32
    assert set(samples.unique().tolist()) <= {0.0, 1.0}
    index = (samples.flatten(1).long() << torch.arange(4)).sum(1)  # same code as all_binary_images
    freq = torch.bincount(index, minlength=16).double() / n
    assert (freq - p).abs().max() < 0.01  # ~4 standard errors

    again = model.sample(n, generator=torch.Generator().manual_seed(0))
    assert torch.equal(samples, again)
    other = model.sample(n, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(samples, other)


@pytest.fixture
def one_thread():
    """Run on one CPU thread: these matrices are tiny, and on a shared, busy CPU (CI)
    several threads wait on each other and make training ~8x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_made_learns_binarised_digits(one_thread):
    train, test = load_images("digits", "train"), load_images("digits", "test")
    x_train = (train.tensors[0] > 0).float()
    x_test = (test.tensors[0] > 0).float()
    torch.manual_seed(0)
    model = MADE((1, 8, 8), hidden=(128,), seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(made_step(model, optimizer), TensorDataset(x_train, train.tensors[1]),
                  epochs=10, batch_size=64, state={"model": model, "optimizer": optimizer},
                  progress=False)
    assert len(history) == 260
    with torch.no_grad():
        nll = -model.log_prob(x_test).mean().item()
    uniform = 64 * math.log(2)  # 44.4 nats: every image equally likely
    # observed: 18.6 nats (0.42 bits/dim) after these 260 steps
    assert nll < 25.0 < uniform
    assert history.epoch_mean("nll")[-1] < history.epoch_mean("nll")[0]


@pytest.mark.parametrize("bad, expected", [
    (torch.zeros(2, 1, 4, 4), r"expected binary images of shape \(N, 1, 3, 3\), got \(2, 1, 4, 4\)"),
    (torch.zeros(2, 9), r"expected binary images of shape \(N, 1, 3, 3\), got \(2, 9\)"),
    (torch.zeros(1, 3, 3), r"got \(1, 3, 3\)"),
    (torch.full((2, 1, 3, 3), 0.5), r"pixel values must be 0 or 1"),
    (torch.full((2, 1, 3, 3), -1.0), r"binarise images in \[-1, 1\] with \(x > 0\)\.float\(\)"),
])
def test_bad_input_raises(bad, expected):
    model = MADE((1, 3, 3), hidden=(8,))
    with pytest.raises(ValueError, match=expected):
        model(bad)
    with pytest.raises(ValueError, match=expected):
        model.log_prob(bad)


def test_bad_configuration_raises():
    with pytest.raises(ValueError, match=r"image_shape must be \(C, H, W\)"):
        MADE((28, 28))
    with pytest.raises(ValueError, match="hidden must be a non-empty tuple"):
        MADE((1, 3, 3), hidden=())
    with pytest.raises(ValueError, match="n must be a positive int"):
        MADE((1, 3, 3), hidden=(8,)).sample(0)


def test_same_seed_same_masks():
    def masks(seed, global_seed):
        torch.manual_seed(global_seed)  # the masks must not depend on the global RNG
        return [m.mask for m in MADE((1, 5, 5), hidden=(20, 20), seed=seed).masked_layers()]

    first, second, other = masks(7, 0), masks(7, 1), masks(8, 0)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
