import pytest
import torch

from ganlab.diffaugment import check_policy, cutout, diff_augment, translation


def _digits(n=16, seed=0):
    x = torch.full((n, 1, 28, 28), -1.0)
    g = torch.Generator().manual_seed(seed)
    x[:, :, 8:20, 10:18] = torch.rand(n, 1, 12, 8, generator=g)   # a bright patch on background
    return x


def test_translation_moves_each_image_by_an_integer_offset_within_the_ratio():
    torch.manual_seed(0)
    x = _digits()
    y = translation(x, ratio=0.125)                      # up to round(3.5) = 4 pixels
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), value=-1)
    offsets = []
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if torch.equal(y[i], padded[i, :, 4 - dy:32 - dy, 4 - dx:32 - dx])]
        assert found, f"image {i} is not a shifted copy"
        offsets.append(found[0])
    assert len(set(offsets)) > 1, "every image gets its own shift"


def test_cutout_erases_one_square_of_half_the_size_to_background():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28) * 2 - 1 + 1e-3            # no pixel is background already
    y = cutout(x, ratio=0.5)
    erased = (y != x)
    assert ((y == -1) == erased).all()
    for mask in erased[:, 0]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        area = mask.sum().item()
        assert area == len(rows) * len(cols) and len(rows) <= 14 and len(cols) <= 14   # one rectangle
    assert erased.flatten(1).sum(1).max() == 14 * 14           # squares fully inside are 14x14


def test_diff_augment_is_differentiable_and_follows_the_global_seed():
    x = _digits().requires_grad_(True)
    torch.manual_seed(3)
    a = diff_augment(x)
    torch.manual_seed(3)
    b = diff_augment(x)
    assert torch.equal(a, b)
    a.sum().backward()
    assert x.grad is not None and (x.grad != 0).any()
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}        # each pixel is moved or dropped


def test_policy_errors():
    assert check_policy("translation, cutout") == ("translation", "cutout")
    assert check_policy(None) == ()
    with pytest.raises(ValueError, match="unknown DiffAugment transformation"):
        check_policy("translation,color")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        diff_augment(torch.zeros(3, 784))
