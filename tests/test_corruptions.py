"""Image corruptions used to test that metrics respond monotonically (Unit 06)."""

import pytest
import torch

from ganlab import corruptions
from ganlab.data import load_images


@pytest.fixture(scope="module")
def digits():
    return load_images("mnist-5k", "test").tensors[0][:20]


@pytest.mark.parametrize("name", sorted(corruptions.CORRUPTIONS))
def test_strength_zero_is_identity_and_damage_grows(name, digits):
    corrupt = corruptions.CORRUPTIONS[name]
    assert torch.equal(corrupt(digits, 0.0), digits)
    damage = [(corrupt(digits, s) - digits).pow(2).mean().item() for s in (0.1, 0.4, 1.0)]
    assert 0 < damage[0] < damage[1] < damage[2]
    out = corrupt(digits, 0.7)
    assert out.shape == digits.shape and out.min() >= -1 and out.max() <= 1
    assert torch.equal(corrupt(digits, 0.5, seed=1), corrupt(digits, 0.5, seed=1))


def test_occlusion_covers_the_requested_area(digits):
    out = corruptions.occlude(torch.full((4, 1, 28, 28), -1.0), 0.25)
    assert (out == 0).float().mean(dim=(1, 2, 3)).tolist() == pytest.approx([196 / 784] * 4)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="strength must be in"):
        corruptions.blur(torch.zeros(1, 1, 8, 8), 1.5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        corruptions.noise(torch.zeros(8, 8), 0.1)
