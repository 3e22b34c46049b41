import gzip

import numpy as np
import pytest
import torch

from ganlab import data
from ganlab.data import load_images


@pytest.mark.parametrize("split, n, per_class", [("train", 4500, 450), ("test", 500, 50),
                                                 ("all", 5000, 500)])
def test_mnist_5k_sizes_ranges_and_balance(split, n, per_class):
    images, labels = load_images("mnist-5k", split).tensors
    assert images.shape == (n, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert images.min() == -1.0 and images.max() == 1.0
    assert torch.bincount(labels, minlength=10).tolist() == [per_class] * 10


def test_mnist_5k_split_is_deterministic_disjoint_and_complete():
    train, test, everything = (load_images("mnist-5k", s).tensors[0] for s in ("train", "test", "all"))
    assert torch.equal(test, load_images("mnist-5k", "test").tensors[0])
    # train + test is exactly "all" as a multiset of images: compare sorted row fingerprints
    probe = torch.randn(28 * 28, dtype=torch.float64)
    fingerprint = lambda x: torch.sort(x.flatten(1).double() @ probe).values
    assert torch.allclose(fingerprint(torch.cat([train, test])), fingerprint(everything))
    mask = data.stratified_test_mask(np.repeat(np.arange(10), 500))
    assert mask.sum() == 500 and mask[::10].all()


def test_mnist_5k_is_real_mnist_pixels():
    # MNIST digits are mostly background: the mean pixel in [0, 255] is about 33
    images = load_images("mnist-5k", "all").tensors[0]
    mean_pixel = ((images + 1) / 2 * 255).mean().item()
    assert 25 < mean_pixel < 40


def test_digits():
    images, labels = load_images("digits", "all").tensors
    assert images.shape == (1797, 1, 8, 8)
    assert images.min() == -1.0 and images.max() == 1.0
    train, test = (load_images("digits", s) for s in ("train", "test"))
    assert len(train) + len(test) == 1797
    assert set(test.tensors[1].tolist()) == set(range(10))


@pytest.mark.parametrize("name, split, match", [
    ("mnist5k", "train", "unknown dataset 'mnist5k'; available: mnist-5k, digits, mnist, fashion-mnist"),
    ("mnist-5k", "valid", "unknown split 'valid'; available: train, test, all"),
])
def test_unknown_name_or_split_lists_what_exists(name, split, match):
    with pytest.raises(ValueError, match=match):
        load_images(name, split)


def test_bad_root(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        load_images("mnist", root=not_a_folder)
    with pytest.raises(ValueError, match="root must be a folder path"):
        load_images("mnist", root=42)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_missing_full_dataset_names_folder_and_commands(tmp_path, name, folder):
    with pytest.raises(FileNotFoundError) as info:
        load_images(name, root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / folder / "raw") in message
    assert f"python -m ganlab data fetch {name}" in message
    assert "train-images-idx3-ubyte" in message


def test_root_defaults_to_env_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("GANLAB_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    monkeypatch.delenv("GANLAB_DATA")
    assert data.data_root().parts[-2:] == (".cache", "ganlab")


def test_fashion_mnist_through_torchvision(fashion_root, debian_fashion_mnist):
    train = load_images("fashion-mnist", "train", root=fashion_root)
    test = load_images("fashion-mnist", "test", root=fashion_root)
    assert train.tensors[0].shape == (60000, 1, 28, 28)
    assert test.tensors[0].shape == (10000, 1, 28, 28)
    assert torch.bincount(train.tensors[1]).tolist() == [6000] * 10
    # the pixels torchvision gave us are the pixels in Debian's files, rescaled
    raw = data.read_idx(debian_fashion_mnist / "t10k-images-idx3-ubyte.gz")
    expected = torch.from_numpy(raw.astype(np.float32) * (2 / 255) - 1).unsqueeze(1)
    assert torch.equal(test.tensors[0], expected)
    assert len(load_images("fashion-mnist", "all", root=fashion_root)) == 70000
    assert data.CLASS_NAMES["fashion-mnist"][9] == "Ankle boot"


def test_read_idx_real_mnist_test_set(mnist_t10k):
    images = data.read_idx(mnist_t10k / "t10k-images-idx3-ubyte.gz")
    labels = data.read_idx(mnist_t10k / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and np.bincount(labels).sum() == 10000
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the famous first test digits


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(bad)
    truncated = tmp_path / "t.gz"
    header = bytes([0, 0, 0x08, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    truncated.write_bytes(gzip.compress(header + bytes(100)))
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(truncated)


def test_import_refuses_incomplete_folder_and_writes_nothing(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        data.import_idx_folder("mnist", source, tmp_path / "root")
    assert not (tmp_path / "root" / "MNIST" / "raw").exists() or not any(
        (tmp_path / "root" / "MNIST" / "raw").iterdir())


def test_import_refuses_corrupt_file_and_leaves_no_partial_file(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for f in data.IDX_FILES:
        (source / f).write_bytes(b"garbage")
    root = tmp_path / "root"
    with pytest.raises(ValueError, match="not an IDX file"):
        data.import_idx_folder("mnist", source, root)
    assert list((root / "MNIST" / "raw").iterdir()) == []
