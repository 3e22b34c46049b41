"""Unit 06 feature extractors: the small classifiers (two shipped) and the Inception-v3 pipeline."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from ganlab import features as fe
from ganlab import pretrained


def _images(n, size=28, channels=1, seed=0):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- the classifier -----------------------------------------------------------------------------

def test_classifier_shapes(one_thread):
    torch.manual_seed(0)
    model = fe.Classifier().eval()
    x = _images(5)
    feats, logits = model.features_and_logits(x)
    assert feats.shape == (5, 128) and logits.shape == (5, 10)
    assert (feats >= 0).all() and feats.abs().sum() > 0  # post-ReLU pool features
    assert torch.allclose(model(x), logits) and torch.allclose(model.features(x), feats)
    small = fe.Classifier(num_classes=3, channels=4, feature_dim=16).eval()
    assert small.features(x).shape == (5, 16) and small(x).shape == (5, 3)


@pytest.mark.parametrize("x, match", [
    (torch.zeros(5, 28, 28), r"unsqueeze\(1\)"),
    (torch.zeros(5, 3, 28, 28), r"\(N, 1, 28, 28\)"),
    (torch.zeros(5, 1, 32, 32), r"got \(5, 1, 32, 32\)"),
    (torch.zeros(0, 1, 28, 28), "empty"),
    (torch.zeros(5, 1, 28, 28, dtype=torch.uint8), "127.5"),
    (torch.full((5, 1, 28, 28), 255.0), r"\[-1, 1\]"),
    (torch.full((5, 1, 28, 28), -2.0), r"\[-1, 1\]"),
    (torch.zeros(5, 784).tolist(), "torch.Tensor"),
])
def test_classifier_rejects_bad_images(x, match):
    with pytest.raises(ValueError, match=match):
        fe.Classifier().eval()(x)


def test_classifier_rejects_bad_sizes():
    for kwargs in ({"channels": 0}, {"feature_dim": 2.5}, {"num_classes": 1}, {"dropout": 1.0}):
        with pytest.raises(ValueError, match="must be"):
            fe.Classifier(**kwargs)


def test_augment_is_seeded_small_and_keeps_black_background():
    x = _images(8)
    a = fe.augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, fe.augment(x, torch.Generator().manual_seed(3)))
    assert not torch.allclose(a, x) and a.min() >= -1 and a.max() <= 1
    black = -torch.ones(4, 1, 28, 28)  # what comes in from outside the image stays black
    assert torch.allclose(fe.augment(black, torch.Generator().manual_seed(0)), black)
    still = dict(max_shift=0.0, max_rotation=0.0, max_scale=0.0)
    assert torch.allclose(fe.augment(x, torch.Generator(), **still), x, atol=1e-5)
    flipped = fe.augment(x, torch.Generator().manual_seed(1), flip=True, **still)
    mirrored = torch.tensor([torch.allclose(flipped[i], x[i].flip(-1), atol=1e-5) for i in range(8)])
    kept = torch.tensor([torch.allclose(flipped[i], x[i], atol=1e-5) for i in range(8)])
    assert (mirrored | kept).all() and mirrored.any() and kept.any()


def test_train_classifier_runs_and_records(one_thread):
    from ganlab.data import load_images

    digits = load_images("mnist-5k", "train")
    data = TensorDataset(*(t[:256] for t in digits.tensors))
    torch.manual_seed(0)
    model = fe.Classifier(channels=4, feature_dim=16)
    before = [p.detach().clone() for p in model.parameters()]
    history = fe.train_classifier(model, data, epochs=1, batch_size=64, progress=False)
    assert len(history) == 4 and set(history.keys()) == {"loss", "accuracy"}
    assert torch.isfinite(torch.tensor(history["loss"])).all() and not model.training
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


# --- the shipped classifiers ----------------------------------------------------------------------

def test_shipped_digit_classifier_loads_offline_and_is_small():
    assert {"digit-classifier", "fashion-classifier"} <= set(pretrained.available())
    for name in ("digit-classifier", "fashion-classifier"):
        assert (pretrained.ASSETS / f"{name}.pt").stat().st_size < 1_000_000
        model = pretrained.load(name)
        assert isinstance(model, fe.Classifier) and not model.training
        meta = pretrained.info(name)
        assert meta["command"].startswith(f"python -m ganlab train {name}")
        assert meta["epochs"] == pretrained.RECIPES[name].epochs
        assert 0 < meta["test_accuracy"] <= 1


def test_digit_classifier_accuracy_on_mnist5k_test_matches_meta(one_thread):
    from ganlab.data import load_images

    acc = fe.accuracy(pretrained.load("digit-classifier"), load_images("mnist-5k", "test"))
    assert acc >= 0.97
    assert abs(acc - pretrained.info("digit-classifier")["test_accuracy"]) <= 0.002 + 1e-9


def test_digit_classifier_accuracy_on_real_mnist_test_set(mnist_t10k):
    t10k = fe.load_mnist_t10k(mnist_t10k)
    assert t10k.tensors[0].shape == (10000, 1, 28, 28) and t10k.tensors[1].bincount().min() > 800
    acc = fe.accuracy(pretrained.load("digit-classifier"), t10k)
    assert acc >= fe.DIGIT_T10K_TARGET
    assert abs(acc - pretrained.info("digit-classifier")["t10k_accuracy"]) <= 0.002


def test_fashion_classifier_accuracy(fashion_root):
    acc = fe.evaluate_fashion_classifier(pretrained.load("fashion-classifier"),
                                         root=fashion_root)["test_accuracy"]
    assert acc >= fe.FASHION_TEST_TARGET
    assert abs(acc - pretrained.info("fashion-classifier")["test_accuracy"]) <= 0.002


def test_load_mnist_t10k_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(fe.T10K_ENV, str(tmp_path))
    assert fe.t10k_folder() == tmp_path
    with pytest.raises(FileNotFoundError, match="GANLAB_MNIST_T10K"):
        fe.load_mnist_t10k()


def test_load_extractor_is_deterministic_and_batch_independent(one_thread):
    from ganlab.data import load_images

    x = load_images("mnist-5k", "test").tensors[0][:40]
    phi = fe.load_extractor("digits")
    feats, logits = phi(x)
    assert feats.shape == (40, 128) and logits.shape == (40, 10)
    assert not feats.requires_grad and feats.device.type == "cpu"
    assert torch.equal(feats, phi.features(x)) and torch.equal(logits, phi.logits(x))
    small_batches = fe.load_extractor("digits", batch_size=7)
    assert torch.allclose(small_batches.features(x), feats, atol=1e-5)
    assert fe.load_extractor("fashion").features(x).shape == (40, 128)
    with pytest.raises(ValueError, match="digits"):
        fe.load_extractor("cifar")
    with pytest.raises(ValueError, match="features_and_logits"):
        fe.FeatureExtractor(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        phi(x[0])


# --- the Inception-v3 pipeline (random weights: nothing is downloaded) ---------------------------

@pytest.fixture(scope="module")
def inception():
    """Random weights, and the three forward passes the tests share (each takes seconds)."""
    torch.manual_seed(0)
    net = fe.InceptionFeatures(weights="random")
    x = _images(2)
    feats, logits = net.features_and_logits(x)  # grey, a batch of two
    alone_rgb = net.features(x[1:].repeat(1, 3, 1, 1))  # the second image alone, as RGB
    return net, x, feats, logits, alone_rgb


def test_inception_pipeline_shapes_grey_to_rgb_and_batches(inception):
    net, x, feats, logits, alone_rgb = inception
    assert feats.shape == (2, 2048) and logits.shape == (2, 1008)
    assert (feats >= 0).all() and feats.mean() > 1e-3  # He init: not vanishing
    assert not torch.allclose(feats[0], feats[1], rtol=1e-3)
    # grey == the same grey in R, G and B; and in eval mode an image's features ignore its batch
    assert torch.allclose(alone_rgb[0], feats[1], rtol=1e-4, atol=1e-6)
    assert net.train().training is False and not any(p.requires_grad for p in net.parameters())


def test_inception_resizes_to_299():
    x = _images(3, size=28)
    big = fe.InceptionFeatures.prepare(x)
    assert big.shape == (3, 3, 299, 299) and big.min() >= -1 and big.max() <= 1
    assert torch.equal(big, fe.InceptionFeatures.prepare(x.repeat(1, 3, 1, 1)))  # grey -> RGB
    assert torch.allclose(big.mean((2, 3)), x.mean((2, 3)).expand(-1, 3), atol=0.02)
    x299 = _images(2, size=299, channels=3)
    assert torch.allclose(fe.InceptionFeatures.prepare(x299), x299, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 1\|3, H, W\)"):
        fe.InceptionFeatures.prepare(_images(2, channels=2))
    with pytest.raises(ValueError, match=r"2 \* x - 1"):
        fe.InceptionFeatures.prepare((x + 1) * 2)


def test_inception_matches_pytorch_fid(inception, monkeypatch):
    """Same weights, same features as pytorch-fid's InceptionV3 (which takes [0, 1] images)."""
    pfi = pytest.importorskip("pytorch_fid.inception")
    net, x, feats, _, _ = inception
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: net.net.state_dict())
    reference = pfi.InceptionV3([3]).eval()  # loads our state dict strictly: same layers
    with torch.no_grad():
        expected = reference((x[:1].repeat(1, 3, 1, 1) + 1) / 2)[0].flatten(1)
    assert torch.allclose(feats[:1], expected, rtol=1e-4, atol=1e-6)


def test_inception_weights_from_hub_cache_or_a_clear_error(inception, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pytorch-fid") as error:
        fe.InceptionFeatures()
    assert fe.FID_WEIGHTS_URL in str(error.value) and "weights='random'" in str(error.value)
    with pytest.raises(FileNotFoundError, match="no Inception weights at"):
        fe.InceptionFeatures(weights=tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="not an Inception-v3 state dict"):
        fe.InceptionFeatures(weights=bad)
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, bad)
    with pytest.raises(ValueError, match="does not fit Inception-v3 with 1008 classes"):
        fe.InceptionFeatures(weights=bad)
    cached = tmp_path / "hub" / "checkpoints" / fe.FID_WEIGHTS_FILE  # where pytorch-fid saves
    cached.parent.mkdir(parents=True)
    state = {k: v.half() if v.is_floating_point() else v
             for k, v in inception[0].net.state_dict().items()}  # fp16: half the disk traffic
    torch.save(state, cached)
    loaded = fe.InceptionFeatures()
    assert loaded.source == str(cached) and loaded.num_classes == 1008
    for key, value in loaded.net.state_dict().items():
        assert torch.equal(value, state[key].to(value.dtype)), key
