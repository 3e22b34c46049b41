import gzip

import numpy as np
import pytest
import torch
from PIL import Image

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


# --- folders of your own images ----------------------------------------------------------


def _x(pixel) -> torch.Tensor:
    """The documented scaling of a 0..255 pixel value: x = 2 * pixel / 255 - 1."""
    return (torch.as_tensor(pixel, dtype=torch.float32) - 127.5) / 127.5


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


@pytest.fixture
def pets(tmp_path):
    """Two classes: RGB PNGs (cats) and grayscale JPEGs (dogs, one in a nested folder), mixed sizes."""
    root = tmp_path / "pets"
    _save(root / "cats" / "b.png", Image.new("RGB", (40, 30), (255, 0, 0)))
    _save(root / "cats" / "a.PNG", Image.new("RGB", (30, 50), (0, 0, 255)))
    _save(root / "cats" / "c.png", Image.new("RGB", (64, 64), (0, 255, 0)))
    _save(root / "dogs" / "x.jpg", Image.new("L", (50, 20), 200))
    _save(root / "dogs" / "puppies" / "y.JPEG", Image.new("L", (33, 33), 30))
    (root / "dogs" / "notes.txt").write_text("not an image")
    _save(root / ".ipynb_checkpoints" / "z.png", Image.new("RGB", (8, 8)))   # hidden: skipped
    return root


def test_folder_shape_dtype_range_and_labels_from_subfolders(pets):
    images, labels = load_images(f"folder:{pets}", "all", size=28, channels=3).tensors
    assert images.shape == (5, 3, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 0, 0, 1, 1]
    assert images.min() >= -1 and images.max() <= 1
    index = data.scan_image_folder(pets)
    assert index.classes == ["cats", "dogs"]
    assert [p.relative_to(pets).as_posix() for p in index.files] == [
        "cats/a.PNG", "cats/b.png", "cats/c.png", "dogs/puppies/y.JPEG", "dogs/x.jpg"]
    # plain colours survive resizing exactly: a.PNG blue, b.png red, c.png green
    for i, rgb in enumerate([(0, 0, 255), (255, 0, 0), (0, 255, 0)]):
        assert torch.equal(images[i], _x(rgb)[:, None, None].expand(3, 28, 28))
    # grey replicated into R = G = B (JPEG may move a flat grey by a level or so)
    assert torch.equal(images[3, 0], images[3, 1]) and torch.equal(images[3, 0], images[3, 2])
    assert torch.allclose(images[3:, 0, 0, 0], _x([30, 200]), atol=2 / 127.5)


def test_folder_default_size_is_64_and_path_objects_work(pets):
    images = load_images(pets, "all", channels=1).tensors[0]
    assert images.shape == (5, 1, 64, 64)
    assert torch.equal(images, load_images(f"folder:{pets}", "all", channels=1).tensors[0])


def test_folder_load_is_deterministic(pets):
    first, second = (load_images(f"folder:{pets}", "all", size=16, channels=3).tensors
                     for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_centre_crop_without_resizing_follows_the_closed_form(tmp_path):
    # shorter side already 32: no resampling, so output pixel (i, j) = input (top + i, left + j)
    rows = np.arange(49, dtype=np.uint8)[:, None] * 5 + np.zeros((1, 32), np.uint8)  # 32 x 49 (w x h)
    _save(tmp_path / "tall" / "rows.png", Image.fromarray(rows))
    cols = rows.T.copy()                                                              # 49 x 32
    _save(tmp_path / "wide" / "cols.png", Image.fromarray(cols))
    images = load_images(f"folder:{tmp_path}", "all", size=32, channels=1).tensors[0]
    top = left = (49 - 32) // 2                                                       # = 8
    i = torch.arange(32, dtype=torch.float32)
    assert torch.equal(images[0, 0], _x(5 * (top + i))[:, None].expand(32, 32))      # tall: rows 8..39
    assert torch.equal(images[1, 0], _x(5 * (left + i))[None, :].expand(32, 32))     # wide: columns 8..39


def test_resize_then_centre_crop_keeps_the_centre(tmp_path):
    # 200 x 100: blue | red (middle half) | blue. Shorter side 100 -> 50 makes it 100 x 50 and the
    # central 50 columns (25..74) are exactly the red half; only the bicubic filter's reach
    # (2 output pixels at this 2x shrink) blends in blue at the crop's left and right edges.
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:, :, 2] = 255
    pixels[:, 50:150] = (255, 0, 0)
    _save(tmp_path / "flag.png", Image.fromarray(pixels))
    image = load_images(f"folder:{tmp_path}", "all", size=50, channels=3).tensors[0][0]
    red = _x([255, 0, 0])[:, None, None]
    assert torch.equal(image[:, :, 3:-3], red.expand(3, 50, 44))
    assert image[2, :, 0].min() > -1 and image[2, :, -1].min() > -1   # some blue at both edges
    assert (image[0] > 0).all()                                       # but red dominates everywhere


def test_colour_to_grey_is_itu_601_luma_and_alpha_is_dropped(tmp_path):
    colours = {"a": (255, 0, 0), "b": (0, 255, 0), "c": (0, 0, 255), "d": (200, 100, 50)}
    for name, rgb in colours.items():
        _save(tmp_path / f"{name}.png", Image.new("RGB", (4, 4), rgb))
    _save(tmp_path / "e.png", Image.new("RGBA", (4, 4), (10, 20, 30, 0)))
    grey = load_images(f"folder:{tmp_path}", "all", size=4, channels=1).tensors[0]
    luma = [round(r * 299 / 1000 + g * 587 / 1000 + b * 114 / 1000) for r, g, b in colours.values()]
    assert luma == [76, 150, 29, 124]
    assert torch.equal(grey[:4, 0, 0, 0], _x(luma))
    rgb = load_images(f"folder:{tmp_path}", "all", size=4, channels=3).tensors[0]
    assert torch.equal(rgb[4, :, 0, 0], _x([10, 20, 30]))          # RGBA -> RGB drops alpha
    assert torch.equal(grey[4, 0, 0, 0], _x(round(10 * .299 + 20 * .587 + 30 * .114)))


def test_grey_16_bit_and_palette_images_are_scaled_not_clipped(tmp_path):
    _save(tmp_path / "a16.png", Image.fromarray(np.full((4, 4), 257 * 100, np.uint16)))
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([12, 34, 56] + [0, 0, 0] * 255)
    _save(tmp_path / "b.png", palette)
    grey = load_images(f"folder:{tmp_path}", "all", size=4, channels=3).tensors[0]
    assert torch.equal(grey[0, :, 0, 0], _x([100, 100, 100]))
    assert torch.equal(grey[1, :, 0, 0], _x([12, 34, 56]))


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)    # 40 wide: left half red, right half blue
    pixels[:, :20, 0] = 255
    pixels[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6                            # "rotate 90 degrees clockwise to view"
    Image.fromarray(pixels).save(tmp_path / "phone.png", exif=exif)
    image = load_images(f"folder:{tmp_path}", "all", size=20, channels=3).tensors[0][0]
    # upright it is 20 x 40 with red on top; the central 20 rows are 10 red then 10 blue
    assert torch.equal(image[:, :10], _x([255, 0, 0])[:, None, None].expand(3, 10, 20))
    assert torch.equal(image[:, 10:], _x([0, 0, 255])[:, None, None].expand(3, 10, 20))


def test_flat_folder_is_one_class_and_split_is_every_10th(tmp_path):
    for k in range(23):                          # values 0, 10, ..., 220 in file order
        _save(tmp_path / "faces" / f"{k:03d}.png", Image.new("L", (6, 6), 10 * k))
    folder = f"folder:{tmp_path / 'faces'}"
    train, test, every = (load_images(folder, s, size=6).tensors for s in ("train", "test", "all"))
    assert every[0].shape == (23, 1, 6, 6) and every[1].tolist() == [0] * 23
    assert data.scan_image_folder(tmp_path / "faces").classes == ["faces"]
    assert torch.equal(test[0][:, 0, 0, 0], _x([0, 100, 200]))   # images 0, 10, 20
    assert len(train[0]) == 20 and _x(100) not in train[0][:, 0, 0, 0]


def test_split_is_stratified_per_class(pets):
    test = load_images(f"folder:{pets}", "test", size=8, channels=3)
    assert test.tensors[1].tolist() == [0, 1]                       # first image of each class
    assert len(load_images(f"folder:{pets}", "train", size=8, channels=3)) == 3


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"image folder {tmp_path / 'nowhere'} does not exist"):
        load_images(f"folder:{tmp_path / 'nowhere'}")
    (tmp_path / "photo.png").write_bytes(b"")
    with pytest.raises(ValueError, match="is a file, not a folder of images"):
        load_images(f"folder:{tmp_path / 'photo.png'}")


def test_empty_folder_and_folder_without_images(tmp_path):
    with pytest.raises(ValueError, match=f"image folder {tmp_path} is empty"):
        load_images(f"folder:{tmp_path}")
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.TXT").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.gif").write_bytes(b"GIF89a")
    (tmp_path / ".hidden.png").write_bytes(b"")
    with pytest.raises(ValueError) as info:
        load_images(f"folder:{tmp_path}")
    message = str(info.value)
    assert "no images (.png, .jpg, .jpeg, .bmp, .webp, any case)" in message
    assert "found 3 other files (1 .gif, 2 .txt) and 1 hidden entries (skipped)" in message


@pytest.mark.parametrize("channels", [None, 3])
def test_corrupt_files_are_named(tmp_path, channels):
    _save(tmp_path / "good.png", Image.new("RGB", (8, 8)))
    (tmp_path / "garbage.jpg").write_bytes(b"this is not a JPEG")
    png = tmp_path / "truncated.png"
    _save(png, Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)))
    png.write_bytes(png.read_bytes()[:300])       # a valid header, then the data stops
    with pytest.raises(ValueError) as info:
        load_images(f"folder:{tmp_path}", "all", channels=channels)
    message = str(info.value)
    assert "could not be read: garbage.jpg (UnidentifiedImageError: cannot identify image file" in message
    assert "Delete or re-save them" in message
    if channels == 3:  # decoded: the truncated one is caught too ("None" stops at the headers)
        assert message.startswith(f"2 of 3 image files in {tmp_path} could not be read")
        assert "truncated.png (OSError:" in message


def test_mixed_grey_and_colour_needs_channels(pets):
    with pytest.raises(ValueError) as info:
        load_images(f"folder:{pets}", "all")
    message = str(info.value)
    assert "mix grayscale and colour modes: 3 RGB (e.g. cats/a.PNG), 2 L (e.g. dogs/puppies/y.JPEG)" in message
    assert "channels=3 converts all to RGB" in message and "channels=1 to grayscale" in message


def test_all_colour_or_all_grey_folders_need_no_channels(pets):
    assert load_images(f"folder:{pets / 'cats'}", "all", size=8).tensors[0].shape == (3, 3, 8, 8)
    assert load_images(f"folder:{pets / 'dogs' / 'puppies'}", "all", size=8).tensors[0].shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="1 images directly in it"):   # dogs/x.jpg beside puppies/
        load_images(f"folder:{pets / 'dogs'}")


def test_images_both_on_top_and_in_subfolders_are_refused(pets):
    _save(pets / "stray.png", Image.new("RGB", (8, 8)))
    with pytest.raises(ValueError, match=r"1 images directly in it \(e.g. stray.png\) and 5 in "
                                         r"subfolders \(cats, dogs\)"):
        load_images(f"folder:{pets}", channels=3)


def test_empty_train_split_says_why(tmp_path):
    _save(tmp_path / "a" / "1.png", Image.new("L", (8, 8)))
    _save(tmp_path / "b" / "1.png", Image.new("L", (8, 8)))
    with pytest.raises(ValueError, match="the 'train' split of .* is empty: each of its 2 classes has 1 image"):
        load_images(f"folder:{tmp_path}", "train")
    assert len(load_images(f"folder:{tmp_path}", "test")) == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 0}, "size must be a positive integer"),
    ({"size": 6.5}, "size must be a positive integer"),
    ({"channels": 4}, "channels must be 1 .*, 3 .* or None"),
    ({"root": "/tmp"}, "root= and download= are for the named datasets"),
    ({"download": True}, "never downloaded"),
])
def test_bad_folder_arguments(pets, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_images(f"folder:{pets}", "all", **kwargs)


def test_folder_name_mistakes(tmp_path):
    with pytest.raises(ValueError, match="'folder:' needs a path after it"):
        load_images("folder:")
    with pytest.raises(ValueError, match=f"is a folder: did you mean 'folder:{tmp_path}'"):
        load_images(str(tmp_path))
    with pytest.raises(ValueError, match="size= and channels= are for image folders"):
        load_images("mnist-5k", size=64)


def test_folders_are_not_listed_as_named_datasets():
    # `python -m ganlab data list` iterates DATASETS and checks each: a folder is not one of them
    assert data.DATASETS == ("mnist-5k", "digits", "mnist", "fashion-mnist")
    assert set(data.CLASS_NAMES) == set(data.DATASETS)
