import pytest
import torch

from ganlab import quality
from ganlab.data import load_images
from ganlab.features import load_extractor


@pytest.fixture(scope="module")
def digits():
    x, y = load_images("mnist-5k", "train").tensors
    return x, y


@pytest.fixture(scope="module")
def extractor():
    return load_extractor("digits")


def test_real_digits_score_as_real_digits(digits, extractor):
    x, _ = digits
    q = quality.score_images(x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:1000]],
                             extractor)
    assert q["n"] == 1000 and q["confidence"] > 0.97
    assert abs(sum(q["class_shares"]) - 1) < 1e-3 and quality.check_fair_shares(q, 0.07, 0.13) == []
    assert q["fid"] < 3 and q["inception_score"] > 8.5


def test_a_collapsed_generator_is_caught_by_its_class_shares(digits, extractor):
    x, y = digits
    threes = x[y == 3][:300]
    q = quality.score_images(threes, extractor)
    assert q["class_shares"][3] > 0.95 and q["confidence"] > 0.9       # confident, yet one class
    assert quality.check_fair_shares(q, 0.05, 0.16)[0] == "0: 0.0%"
    assert q["inception_score"] < 1.5 and q["fid"] > 50


def test_digit_quality_samples_a_generator_from_seeded_noise(extractor):
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(8, 784), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 28, 28)))
    G.latent_dim = 8
    a = quality.digit_quality(G, 200, seed=1, extractor=extractor)
    b = quality.digit_quality(G, 200, seed=1, extractor=extractor)
    assert a == b and a["n"] == 200 and a["fid"] > 50
    assert G.training                                    # left in the mode it came in
    line = quality.format_row("noise", a)
    assert line.startswith("noise") and len(line) == len(quality.format_header())
    with pytest.raises(ValueError, match="has no latent_dim"):
        quality.digit_quality(torch.nn.Linear(2, 2))


def test_judge_keeps_every_verdict_for_one_table():
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(8, 784), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 28, 28)))
    G.latent_dim = 8
    judge = quality.Judge(n=100, show=False)
    first = judge("noise A", G)
    judge("noise B", G)
    assert list(judge.results) == ["noise A", "noise B"] and judge.results["noise A"] == first
    lines = judge.table().splitlines()
    assert len(lines) == 3 and lines[1].startswith("noise A") and f"{first['fid']:.1f}" in lines[1]
