import pytest
import torch
from torch.utils.data import TensorDataset

from ganlab.gan import train_gan
from ganlab.models.dcgan import IMAGE_SIZE, LATENT_DIM, PRESETS, DCGANDiscriminator, DCGANGenerator

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_produce_documented_shapes_and_ranges(preset):
    G, D = DCGANGenerator(preset), DCGANDiscriminator(preset)
    G.eval()
    z = torch.randn(3, LATENT_DIM[preset])
    images = G(z)
    size = IMAGE_SIZE[preset]
    assert images.shape == (3, 1, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert D(images).shape == (3,)
    assert G.latent_dim == LATENT_DIM[preset]


@pytest.mark.parametrize("preset", PRESETS)
def test_weights_follow_the_paper_initialisation(preset):
    torch.manual_seed(0)
    for net in (DCGANGenerator(preset), DCGANDiscriminator(preset)):
        convs = [m.weight for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        weights = torch.cat([w.flatten() for w in convs])
        assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.002
        for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            assert abs(bn.weight.mean().item() - 1.0) < 0.02 and bn.bias.abs().max() == 0


def test_tutorial28_follows_the_course_notes():
    G, D = DCGANGenerator("tutorial28"), DCGANDiscriminator("tutorial28")
    dense = G.net[0]
    assert isinstance(dense, torch.nn.Linear) and dense.out_features == 7 * 7 * 256 and dense.bias is None
    transposed = [m for m in G.net if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in transposed] == [
        (128, (5, 5), (1, 1)), (64, (5, 5), (2, 2)), (1, (5, 5), (2, 2))]
    convs = [m for m in D.net if isinstance(m, torch.nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in convs] == [(64, (5, 5), (2, 2)), (128, (5, 5), (2, 2))]
    assert [m.p for m in D.net if isinstance(m, torch.nn.Dropout)] == [0.3, 0.3]
    assert isinstance(D.net[-1], torch.nn.Linear)
    slopes = {m.negative_slope for net in (G, D) for m in net.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.3}, "the notes' Keras LeakyReLU() has slope 0.3"


def test_paper64_has_the_pytorch_examples_widths():
    G, D = DCGANGenerator("paper64"), DCGANDiscriminator("paper64")
    assert [m.out_channels for m in G.net if isinstance(m, torch.nn.ConvTranspose2d)] == [512, 256, 128, 64, 1]
    assert [m.out_channels for m in D.net if isinstance(m, torch.nn.Conv2d)] == [64, 128, 256, 512, 1]
    assert {m.negative_slope for m in D.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.2}


def test_cpu28_deep_adds_one_3x3_layer_per_stage_at_twice_cpu28s_flops():
    from torch.utils.flop_counter import FlopCounterMode

    G, D = DCGANGenerator("cpu28-deep"), DCGANDiscriminator("cpu28-deep")
    G_convs = [(type(m).__name__, m.out_channels, m.kernel_size[0], m.stride[0]) for m in G.net
               if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert G_convs == [("ConvTranspose2d", 96, 7, 1), ("Conv2d", 96, 3, 1), ("ConvTranspose2d", 64, 4, 2),
                       ("Conv2d", 48, 3, 1), ("ConvTranspose2d", 1, 4, 2)]
    assert [(m.out_channels, m.kernel_size[0]) for m in D.net if isinstance(m, torch.nn.Conv2d)] == [
        (32, 4), (64, 4), (64, 3), (1, 7)]
    # parameters from the layer formulas: c_in * c_out * k^2 weights (+ biases), 2c per batch norm
    g = 64 * 96 * 49 + 96 * 96 * 9 + 96 * 64 * 16 + 64 * 48 * 9 + 48 * 1 * 16 + 1 + 2 * (96 + 96 + 64 + 48)
    d = (1 * 32 * 16 + 32) + 32 * 64 * 16 + 64 * 64 * 9 + (64 * 49 + 1) + 2 * (64 + 64)
    assert sum(p.numel() for p in G.parameters()) == g and sum(p.numel() for p in D.parameters()) == d

    def flops(net, x):
        with FlopCounterMode(display=False) as counter:
            net(x)
        return counter.get_total_flops()

    z, x = torch.randn(4, 64), torch.zeros(4, 1, 28, 28)
    ratio_G = flops(G, z) / flops(DCGANGenerator("cpu28"), z)
    ratio_D = flops(D, x) / flops(DCGANDiscriminator("cpu28"), x)
    assert 1.9 < ratio_G < 2.3 and 1.9 < ratio_D < 2.3, (ratio_G, ratio_D)


def test_paper64_has_no_batchnorm_on_g_output_or_d_input():
    G, D = DCGANGenerator("paper64"), DCGANDiscriminator("paper64")
    assert isinstance(G.net[-1], torch.nn.Tanh) and isinstance(G.net[-2], torch.nn.ConvTranspose2d)
    assert isinstance(D.net[0], torch.nn.Conv2d) and isinstance(D.net[1], torch.nn.LeakyReLU)
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)) for m in [*G.modules(), *D.modules()])


@pytest.mark.parametrize("preset", PRESETS)
def test_wrong_shapes_name_the_expected_ones(preset):
    size, z = IMAGE_SIZE[preset], LATENT_DIM[preset]
    with pytest.raises(ValueError, match=rf"expects z of shape \(N, {z}\), got \(2, 7\)"):
        DCGANGenerator(preset)(torch.randn(2, 7))
    with pytest.raises(ValueError, match=rf"expects images of shape \(N, 1, {size}, {size}\), got \(2, 1, 32, 32\)"):
        DCGANDiscriminator(preset)(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="unknown DCGAN preset 'dcgan'"):
        DCGANGenerator("dcgan")


def test_the_gan_trainer_drives_a_dcgan_unchanged():
    torch.manual_seed(0)
    data = TensorDataset(torch.rand(64, 1, 28, 28) * 2 - 1)
    G, D = DCGANGenerator("cpu28"), DCGANDiscriminator("cpu28")
    run = train_gan(G, D, data, epochs=1, m=16, k=2, progress=False, n_snapshots=4)
    assert len(run.history) == 2 and run.snapshots[0].shape == (4, 1, 28, 28)


def test_guidelines_are_checked_from_the_layers():
    from ganlab.models.dcgan import guidelines
    from ganlab.models.gan import MLPDiscriminator, MLPGenerator

    def verdicts(G, D):
        return {row["guideline"].split(":")[0].split(" (")[0]: (row["G"], row["D"]) for row in guidelines(G, D)}

    for preset in ("paper64", "cpu28", "cpu28-deep"):
        assert all(v is not False for pair in verdicts(DCGANGenerator(preset), DCGANDiscriminator(preset)).values()
                   for v in pair)
    tutorial = verdicts(DCGANGenerator("tutorial28"), DCGANDiscriminator("tutorial28"))
    assert tutorial["ReLU in G with a tanh output"] == (False, None)       # LeakyReLU in G
    assert tutorial["batch norm in both, but not on G's output nor D's input layer"] == (True, False)
    mlp = verdicts(MLPGenerator(), MLPDiscriminator())
    assert mlp["no pooling"] == (False, False)
    assert mlp["no fully connected hidden layers"] == (False, False)


def test_seconds_per_iteration_times_without_training_the_models(one_thread):
    from ganlab.gan import seconds_per_iteration

    G, D = DCGANGenerator("cpu28"), DCGANDiscriminator("cpu28")
    before = [p.detach().clone() for p in G.parameters()]
    seconds = seconds_per_iteration(G, D, torch.rand(8, 1, 28, 28) * 2 - 1, repeats=1)
    assert 0 < seconds < 10
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters(), strict=True))
    with pytest.raises(ValueError, match="repeats"):
        seconds_per_iteration(G, D, torch.zeros(2, 1, 28, 28), repeats=0)


# --- paper64 in RGB (Unit 05 on your own faces) --------------------------------------------

def _paper64_parameters(channels: int) -> tuple[int, int]:
    """Parameter counts of paper64's layout, from the layer formulas.

    A k x k (transposed) convolution from c_in to c_out maps has c_in * c_out * k^2 weights
    (+ c_out biases where it has them); a batch norm over c maps has 2c (scale, shift).
    G: z = 100 -> 512 -> 256 -> 128 -> 64 -> channels, 4x4 kernels, no biases, BN on the 4
    hidden layers. D: channels -> 64 -> 128 -> 256 -> 512 -> 1, 4x4 kernels, no biases but
    the logit's one, BN on the 3 middle layers (none on the input layer).
    """
    g_widths, d_widths = [100, 512, 256, 128, 64, channels], [channels, 64, 128, 256, 512, 1]
    pairs = lambda w: sum(a * b for a, b in zip(w[:-1], w[1:], strict=True))
    g = 4 * 4 * pairs(g_widths) + 2 * sum(g_widths[1:-1])
    d = 4 * 4 * pairs(d_widths) + 1 + 2 * sum(d_widths[2:-1])
    return g, d


def test_paper64_rgb_shapes_guidelines_and_parameter_counts():
    from ganlab.models.dcgan import guidelines

    torch.manual_seed(0)
    G, D = DCGANGenerator("paper64", channels=3), DCGANDiscriminator("paper64", channels=3)
    G.eval()
    images = G(torch.randn(2, 100))
    assert images.shape == (2, 3, 64, 64) and images.min() >= -1 and images.max() <= 1
    assert D(images).shape == (2,)
    assert all(row[net] is not False for row in guidelines(G, D) for net in ("G", "D"))
    count = lambda net: sum(p.numel() for p in net.parameters())
    assert (count(G), count(D)) == _paper64_parameters(3)
    assert (count(DCGANGenerator("paper64")), count(DCGANDiscriminator("paper64"))) == _paper64_parameters(1)
    # only G's output layer and D's input layer grow: by (3 - 1) * 64 * 4 * 4 weights each
    assert count(G) - count(DCGANGenerator("paper64")) == 2 * 64 * 16
    assert count(D) - count(DCGANDiscriminator("paper64")) == 2 * 64 * 16
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 3, 64, 64\), got \(2, 1, 64, 64\)"):
        D(torch.randn(2, 1, 64, 64))
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        DCGANGenerator("paper64", channels=0)


def test_paper64_rgb_trains_a_step_on_a_folder_of_images(tmp_path):
    import numpy as np
    from PIL import Image

    from ganlab.data import load_images

    rng = np.random.default_rng(0)
    for k in range(8):  # 8 photos of assorted sizes and aspect ratios
        w, h = rng.integers(40, 120, size=2)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"{k}.jpg")
    data = load_images(f"folder:{tmp_path}", "all", size=64, channels=3)
    assert data.tensors[0].shape == (8, 3, 64, 64)
    torch.manual_seed(0)
    G, D = DCGANGenerator("paper64", channels=3), DCGANDiscriminator("paper64", channels=3)
    run = train_gan(G, D, data, epochs=1, m=4, progress=False, n_snapshots=2)
    assert len(run.history) == 2 and run.snapshots[0].shape == (2, 3, 64, 64)
    for key in ("d_loss", "g_loss"):
        assert np.isfinite(run.history[key]).all(), key
