"""Feature extractors for the sample-quality metrics of Unit 06 (FID, KID, precision/recall, IS).

Every metric of Unit 06 compares *real* and *generated* images through a fixed network
``phi``: FID, KID and precision/recall look at its penultimate activations ("pool
features" ``phi(x)``), the Inception Score at its class probabilities
``p(y | x) = softmax(logits(x))``. Two kinds of ``phi`` live here:

* :class:`Classifier`, a small CNN trained on the domain itself. Two are shipped in
  ``ganlab/assets`` (see :mod:`ganlab.pretrained`) and load offline:

  ======================  ==========================================  ======================
  ``load_extractor``      model (``pretrained.load``)                  trained on
  ======================  ==========================================  ======================
  ``"digits"``            ``"digit-classifier"``                       mnist-5k train (4,500)
  ``"fashion"``           ``"fashion-classifier"``                     Fashion-MNIST (60,000)
  ======================  ==========================================  ======================

  Their numbers are only comparable with numbers computed with the *same* classifier
  (a "digit FID" is not the FID of the literature), but they measure what a 28x28
  greyscale generator actually has to get right, and they run in seconds on a CPU.

* :class:`InceptionFeatures`, the standard FID network of the literature (Heusel et al.
  2017): Inception-v3 with the TensorFlow weights of 2015-12-05, 2048-d pool3 features
  and 1008-way logits. Its weights are *not* shipped (about 92 MB) and never downloaded
  by this module; see :class:`InceptionFeatures` for how to get them.

Both map images ``x`` of shape ``(N, C, H, W)`` with values in ``[-1, 1]`` (what the
course's generators and ``ganlab.data.load_images`` produce) to ``(features, logits)``;
:class:`FeatureExtractor` does that for a whole set of images in batches without
gradients::

    >>> from ganlab.features import load_extractor
    >>> phi = load_extractor("digits")
    >>> feats, logits = phi(images)          # (N, 128) and (N, 10), float32 on the CPU
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from ganlab.validate import check_pixel_range

#: Where the real MNIST test set (t10k, 10,000 digits) lives next to the project for tests
#: and CI; students do not have it. ``$GANLAB_MNIST_T10K`` points elsewhere.
T10K_ENV = "GANLAB_MNIST_T10K"
SHARED_T10K = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-t10k"

#: The accuracies the shipped classifiers must reach (``tests/test_features.py`` checks them).
DIGIT_T10K_TARGET = 0.97
FASHION_TEST_TARGET = 0.90


# --- the small domain classifier -------------------------------------------------------------


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True), nn.MaxPool2d(2)]


class Classifier(nn.Module):
    """A small CNN for 28x28 greyscale images in [-1, 1]: pool features and class logits.

    Layers (``c = channels``, ``d = feature_dim``)::

        x (N, 1, 28, 28)
        -> [conv3x3(1 -> c)   - BN - ReLU - maxpool 2]   (N, c, 14, 14)
        -> [conv3x3(c -> 2c)  - BN - ReLU - maxpool 2]   (N, 2c, 7, 7)
        -> [conv3x3(2c -> 4c) - BN - ReLU - maxpool 2]   (N, 4c, 3, 3)
        -> flatten -> linear(36c -> d) - BN - ReLU       (N, d)   = features(x)
        -> dropout -> linear(d -> num_classes)           (N, K)   = forward(x), the logits

    ``features(x)`` plays the role of Inception's pool3 activations (FID, KID,
    precision/recall); ``softmax(forward(x))`` that of its class probabilities (IS).
    Use it in eval mode for features: BatchNorm then uses its running statistics, so the
    features of an image do not depend on the rest of its batch.

    The defaults (``c = 16``, ``d = 128``: 98,682 parameters, about 200 kB in float16) are
    what both shipped classifiers use: small enough to embed 10,000 images in seconds on
    a laptop CPU, large enough for ~99% on MNIST from 4,500 training digits.
    """

    def __init__(self, num_classes: int = 10, channels: int = 16, feature_dim: int = 128,
                 dropout: float = 0.2):
        super().__init__()
        for name, value in (("num_classes", num_classes), ("channels", channels),
                            ("feature_dim", feature_dim)):
            if not isinstance(value, int) or value < 1 or (name == "num_classes" and value < 2):
                raise ValueError(f"{name} must be a positive int (num_classes >= 2), got {value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.num_classes, self.channels, self.feature_dim = num_classes, channels, feature_dim
        c = channels
        self.body = nn.Sequential(*_conv_block(1, c), *_conv_block(c, 2 * c),
                                  *_conv_block(2 * c, 4 * c), nn.Flatten())
        self.pool = nn.Sequential(nn.Linear(4 * c * 3 * 3, feature_dim, bias=False),
                                  nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate activations ``phi(x)``, shape ``(N, feature_dim)``, all >= 0."""
        check_pixel_range(x, who="Classifier")
        return self.pool(self.body(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features(x), forward(x))`` in one pass."""
        h = self.features(x)
        return h, self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(N, num_classes)``; ``softmax`` gives ``p(y | x)``."""
        return self.head(self.features(x))


# --- augmentation and the training recipes ----------------------------------------------------


def augment(x: torch.Tensor, generator: torch.Generator, *, max_shift: float = 2.0,
            max_rotation: float = 10.0, max_scale: float = 0.1,
            flip: bool = False) -> torch.Tensor:
    """Small random affine distortions of a batch of images in [-1, 1], drawn from ``generator``.

    Each image gets its own rotation ``a ~ U(-max_rotation, max_rotation)`` degrees, scale
    ``s ~ U(1 - max_scale, 1 + max_scale)``, shift ``t ~ U(-max_shift, max_shift)`` pixels
    per axis and (with ``flip``) a left-right mirror with probability 1/2. The output
    pixel at normalised position ``p`` is read, bilinearly, at ``A p + t`` in the input
    (``F.affine_grid``/``F.grid_sample``), with ``A = s R(a)`` and one pixel = ``2 / W``
    in normalised units. Pixels from outside the image are background: the warp works on
    ``x + 1`` with zero padding, then subtracts 1 again, so they come out as -1 (black),
    not 0 (grey). The random numbers are drawn on the CPU, so a seeded ``generator``
    gives the same distortions on every device.
    """
    n, _, h, w = x.shape
    u = torch.rand(n, 5, generator=generator)
    angle = torch.deg2rad((2 * u[:, 0] - 1) * max_rotation)
    scale = 1 + (2 * u[:, 1] - 1) * max_scale
    shift = (2 * u[:, 2:4] - 1) * max_shift * torch.tensor([2.0 / w, 2.0 / h])
    mirror = torch.where(u[:, 4] < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
    theta = torch.stack([torch.stack([cos * mirror, -sin, shift[:, 0]], 1),
                         torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    warped = F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    return (warped - 1).clamp(-1, 1)


def train_classifier(model: Classifier, data: TensorDataset, *, epochs: int, batch_size: int = 128,
                     lr: float = 2e-3, weight_decay: float = 1e-4, seed: int = 0, device="cpu",
                     progress: bool = True, desc: str | None = None, **augment_kwargs):
    """Train ``model`` with cross-entropy on augmented batches; returns ``ganlab.train.History``.

    AdamW (``lr``, ``weight_decay``) with the learning rate annealed by a cosine from
    ``lr`` to 0 over all steps; every batch is distorted by :func:`augment` (keyword
    arguments ``augment_kwargs``) with its own seeded generator. Records ``loss`` and the
    (augmented) training ``accuracy`` of every step.
    """
    from ganlab.train import fit

    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(data) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    distort = torch.Generator().manual_seed(seed + 1)

    def step(batch):
        x, y = batch
        logits = model(augment(x, distort, **augment_kwargs))
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == y).float().mean()}

    return fit(step, data, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
               state={"model": model, "optimizer": optimizer, "schedule": schedule},
               progress=progress, desc=desc)


#: The architecture of both shipped classifiers (``Classifier(**CLASSIFIER_KWARGS)``).
CLASSIFIER_KWARGS = {"num_classes": 10, "channels": 16, "feature_dim": 128}


def _run_info(history) -> dict:
    return {"final_loss": round(float(history.epoch_mean("loss")[-1]), 4),
            "final_train_accuracy": round(float(history.epoch_mean("accuracy")[-1]), 4)}


def train_digit_classifier(seed, epochs, device, progress):
    """Recipe ``digit-classifier``: :class:`Classifier` on the mnist-5k train split only.

    4,500 digits, batches of 64, random shifts (2 px), rotations (10 degrees) and scalings
    (10%). The MNIST test set is never used for training (only by the evaluation).
    """
    from ganlab.data import load_images
    from ganlab.runtime import seed_everything

    seed_everything(seed)
    model = Classifier(**CLASSIFIER_KWARGS)
    history = train_classifier(model, load_images("mnist-5k", "train"), epochs=epochs,
                               batch_size=64, seed=seed, device=device, progress=progress,
                               desc="digit-classifier")
    return model, dict(CLASSIFIER_KWARGS), _run_info(history)


def train_fashion_classifier(seed, epochs, device, progress):
    """Recipe ``fashion-classifier``: :class:`Classifier` on the 60,000 Fashion-MNIST train images.

    Batches of 256 with random left-right mirrors only: with 60,000 images and a few epochs
    the model under- rather than over-fits, and stronger distortions cost accuracy.
    Needs Fashion-MNIST in the data root (``python -m ganlab data import fashion-mnist
    /usr/share/datasets/fashion-mnist``, see ``ganlab.data``).
    """
    from ganlab.data import load_images
    from ganlab.runtime import seed_everything

    seed_everything(seed)
    model = Classifier(**CLASSIFIER_KWARGS)
    history = train_classifier(model, load_images("fashion-mnist", "train"), epochs=epochs,
                               batch_size=256, lr=3e-3, seed=seed, device=device,
                               progress=progress, desc="fashion-classifier", max_shift=0.0,
                               max_rotation=0.0, max_scale=0.0, flip=True)
    return model, dict(CLASSIFIER_KWARGS), _run_info(history)


@torch.no_grad()
def accuracy(model: nn.Module, data: TensorDataset, *, batch_size: int = 1000,
             device="cpu") -> float:
    """Fraction of ``data``'s images whose arg-max logit is their label (model in eval mode)."""
    images, labels = data.tensors[:2]
    logits = FeatureExtractor(model, batch_size=batch_size, device=device).logits(images)
    return (logits.argmax(1) == labels).float().mean().item()


def t10k_folder() -> Path:
    """Where the real MNIST test set is looked for: ``$GANLAB_MNIST_T10K``, else ``../shared``."""
    return Path(os.environ.get(T10K_ENV) or SHARED_T10K)


def load_mnist_t10k(folder=None) -> TensorDataset:
    """The original MNIST test set (10,000 digits) as ``TensorDataset(images in [-1, 1], labels)``.

    Read with ``ganlab.data.read_idx`` from ``folder`` (default :func:`t10k_folder`),
    which holds ``t10k-images-idx3-ubyte(.gz)`` and ``t10k-labels-idx1-ubyte(.gz)``.
    For evaluation only: nothing in the course trains on it.
    """
    from ganlab.data import read_idx

    folder = Path(folder) if folder is not None else t10k_folder()
    paths = []
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        found = [p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()]
        if not found:
            raise FileNotFoundError(
                f"{folder} has neither {stem}.gz nor {stem}: the real MNIST test set is kept "
                f"in ../shared/data/mnist-t10k for tests and CI (or set ${T10K_ENV} to a folder "
                "with the t10k files). The same 10,000 digits are load_images('mnist', 'test') "
                "once `python -m ganlab data fetch mnist` has downloaded MNIST.")
        paths.append(found[0])
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.shape != (10000, 28, 28) or labels.shape != (10000,):
        raise ValueError(f"{folder}: expected 10,000 images of 28x28 and 10,000 labels, got "
                         f"{images.shape} and {labels.shape}")
    x = torch.from_numpy(images.astype("float32")).unsqueeze(1) * (2.0 / 255.0) - 1.0
    return TensorDataset(x, torch.from_numpy(labels.astype("int64")))


def evaluate_digit_classifier(model: nn.Module) -> dict:
    """``test_accuracy`` on the mnist-5k test split (500 digits) and, where the real MNIST
    test set is found (:func:`t10k_folder`), ``t10k_accuracy`` on its 10,000 digits."""
    from ganlab.data import load_images

    metrics = {"test_accuracy": round(accuracy(model, load_images("mnist-5k", "test")), 4)}
    try:
        t10k = load_mnist_t10k()
    except FileNotFoundError:
        return metrics
    metrics["t10k_accuracy"] = round(accuracy(model, t10k), 4)
    return metrics


def evaluate_fashion_classifier(model: nn.Module, root=None) -> dict:
    """``test_accuracy`` on the 10,000 Fashion-MNIST test images (data root ``root``)."""
    from ganlab.data import load_images

    return {"test_accuracy": round(accuracy(model, load_images("fashion-mnist", "test",
                                                               root=root)), 4)}


# --- batched extraction and the shipped extractors ----------------------------------------------


class FeatureExtractor:
    """``phi(images) -> (features, logits)`` for a whole set of images, in batches, no gradients.

    ``model`` is a :class:`Classifier` or an :class:`InceptionFeatures` (anything with
    ``features_and_logits``); it is put in eval mode on ``device``. Results are float32
    on the CPU, in the order of the images.
    """

    def __init__(self, model: nn.Module, *, batch_size: int = 500, device="cpu", name: str = ""):
        if not hasattr(model, "features_and_logits"):
            raise ValueError(f"model must have a features_and_logits method (Classifier or "
                             f"InceptionFeatures), got {type(model).__name__}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.model = model.to(device).eval()
        self.batch_size, self.device, self.name = batch_size, torch.device(device), name

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"expected images of shape (N, C, H, W) in [-1, 1], got {shape}")
        self.model.eval()
        feats, logits = [], []
        for i in range(0, len(images), self.batch_size):
            f, y = self.model.features_and_logits(images[i:i + self.batch_size].to(self.device))
            feats.append(f.float().cpu())
            logits.append(y.float().cpu())
        return torch.cat(feats), torch.cat(logits)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The pool features, ``(N, feature_dim)``."""
        return self(images)[0]

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The class logits, ``(N, num_classes)``."""
        return self(images)[1]

    def __repr__(self) -> str:
        return f"FeatureExtractor({self.name or type(self.model).__name__}, device={self.device})"


#: ``load_extractor`` names -> shipped pretrained models (``ganlab.pretrained``).
EXTRACTORS = {"digits": "digit-classifier", "fashion": "fashion-classifier"}


def load_extractor(name: str, *, batch_size: int = 500, device="cpu",
                   folder=None) -> FeatureExtractor:
    """The shipped classifier for ``name`` (``"digits"`` or ``"fashion"``) as a :class:`FeatureExtractor`.

    Offline: the weights come from ``ganlab/assets`` via ``ganlab.pretrained.load``
    (``folder`` overrides where). For the standard Inception network use
    ``FeatureExtractor(InceptionFeatures(weights=...))``.
    """
    from ganlab import pretrained

    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; choose from {sorted(EXTRACTORS)} "
                         "(for Inception-v3: FeatureExtractor(InceptionFeatures(weights=PATH)))")
    model = pretrained.load(EXTRACTORS[name], folder=folder, device=device)
    return FeatureExtractor(model, batch_size=batch_size, device=device, name=EXTRACTORS[name])


# --- the standard FID network: Inception-v3 -------------------------------------------------------

#: The standard FID weights: TensorFlow's Inception of 2015-12-05 (the network of the
#: original FID and IS code), ported to PyTorch by pytorch-fid. 1008 classes.
FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   + FID_WEIGHTS_FILE)
#: torchvision's ImageNet Inception-v3 (1000 classes); NOT the FID network.
TORCHVISION_WEIGHTS_FILE = "inception_v3_google-0cc3c7bd.pth"


def _cached_fid_weights() -> Path:
    """Where PyTorch's hub cache keeps the FID weights after pytorch-fid downloaded them once."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_FILE


def _missing_weights_message() -> str:
    return "\n".join([
        "InceptionFeatures needs weights and never downloads them; none were given and "
        f"{_cached_fid_weights()} does not exist. The standard FID network is TensorFlow's "
        f"Inception of 2015-12-05 as ported by pytorch-fid ({FID_WEIGHTS_FILE}, ~92 MB). "
        "Get it once, with internet, by one of:",
        "  pip install pytorch-fid && python -c \"from pytorch_fid.inception import "
        "fid_inception_v3; fid_inception_v3()\"     # saves it in the torch hub cache above",
        f"  download {FID_WEIGHTS_URL}",
        "then call InceptionFeatures() (finds the hub cache) or InceptionFeatures(weights=PATH). "
        f"torchvision's ImageNet weights ({TORCHVISION_WEIGHTS_FILE}) also load, but their "
        "FIDs are not comparable with published ones. For tests only: weights='random'.",
    ])


def _branch_pool_tf(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pooling divides by the number of *real* pixels in the window,
    # not by 9 (torchvision's default counts the zero padding).
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _fid_inception_blocks():
    """The Inception blocks of the 2015 TensorFlow graph, where they differ from torchvision's."""
    from torchvision.models import inception as tv

    class FIDInceptionA(tv.InceptionA):
        def _forward(self, x):
            b5 = self.branch5x5_2(self.branch5x5_1(x))
            b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            return [self.branch1x1(x), b5, b3, self.branch_pool(_branch_pool_tf(x))]

    class FIDInceptionC(tv.InceptionC):
        def _forward(self, x):
            b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            bd = x
            for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                          self.branch7x7dbl_4, self.branch7x7dbl_5):
                bd = layer(bd)
            return [self.branch1x1(x), b7, bd, self.branch_pool(_branch_pool_tf(x))]

    class FIDInceptionE(tv.InceptionE):
        def __init__(self, in_channels, max_pool=False):
            super().__init__(in_channels)
            self.max_pool = max_pool  # Mixed_7c of the 2015 graph max-pools this branch

        def _forward(self, x):
            b3 = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
            bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
            pooled = (F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool
                      else _branch_pool_tf(x))
            return [self.branch1x1(x), b3, bd, self.branch_pool(pooled)]

    return FIDInceptionA, FIDInceptionC, FIDInceptionE


def _inception(num_classes: int) -> nn.Module:
    """Inception-v3 without auxiliary head: torchvision's (1000) or the FID graph's (1008)."""
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=False, init_weights=False,
                       num_classes=num_classes, transform_input=False)
    if num_classes == 1008:
        A, C, E = _fid_inception_blocks()
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = A(192, 32), A(256, 64), A(288, 64)
        net.Mixed_6b, net.Mixed_6c = C(768, channels_7x7=128), C(768, channels_7x7=160)
        net.Mixed_6d, net.Mixed_6e = C(768, channels_7x7=160), C(768, channels_7x7=192)
        net.Mixed_7b, net.Mixed_7c = E(1280), E(2048, max_pool=True)
    return net


def _random_inception() -> nn.Module:
    """The FID architecture with He-normal weights (from torch's global RNG), for tests.

    He initialisation (``std = sqrt(2 / fan_in)``) keeps the activations' scale through the
    ~100 ReLU layers (PyTorch's default would shrink them to ~1e-8), so pipeline tests see
    features of order 0.1 and not rounding noise.
    """
    net = _inception(1008)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return net


_INCEPTION_LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1",
                     "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c",
                     "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                     "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool")


class InceptionFeatures(nn.Module):
    """Inception-v3 pool3 features (2048-d) and logits, the network of FID, KID and IS.

    ``weights``:

    * ``None`` (default): the standard FID weights from PyTorch's hub cache,
      ``torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth``, where
      pytorch-fid puts them; if they are not there, a FileNotFoundError says how to get
      them. Nothing is ever downloaded.
    * a path to a state dict: ``pt_inception-2015-12-05-*.pth`` (the **standard** FID
      network: TensorFlow's 2015 Inception with 1008 classes, ported by pytorch-fid, with
      TensorFlow's pooling quirks reproduced; FIDs comparable with published ones) or
      torchvision's ImageNet ``inception_v3_google-*.pth`` (1000 classes, a different
      training run: FIDs are *not* comparable with published ones). The kind is read off
      the size of the final layer.
    * ``"random"``: the FID architecture with random He-normal weights drawn from torch's
      global RNG (seed it with ``torch.manual_seed``), for tests of the pipeline only;
      its features mean nothing.

    Input: images ``(N, 1 or 3, H, W)`` with values in ``[-1, 1]``. Greyscale is repeated
    to the three RGB channels, then every image is resized to 299x299 by bilinear
    interpolation (``F.interpolate``, ``align_corners=False``, no antialiasing: what
    pytorch-fid does; TensorFlow's original resize differs slightly). Both sets of
    weights expect each channel as ``(pixel - 0.5) / 0.5`` for pixels in ``[0, 1]``, i.e.
    exactly ``[-1, 1]``, so no further normalisation is applied (torchvision's
    ``transform_input`` is for ImageNet-normalised inputs and is off).

    Output: ``features(x)`` is the global average pool of ``Mixed_7c``, ``(N, 2048)``;
    ``forward(x)`` the logits ``(N, 1008)`` (FID weights; the Inception Score's ``p(y|x)``
    is their softmax) or ``(N, 1000)``. The module always stays in eval mode (BatchNorm
    with running statistics, no dropout), so an image's features do not depend on its
    batch, and its parameters do not require gradients.
    """

    def __init__(self, weights: str | os.PathLike | None = None):
        super().__init__()
        if isinstance(weights, str) and weights == "random":
            self.net, self.source = _random_inception(), "random"
        else:
            path = Path(weights) if weights is not None else _cached_fid_weights()
            if not path.is_file():
                if weights is None:
                    raise FileNotFoundError(_missing_weights_message())
                raise FileNotFoundError(f"no Inception weights at {path}.\n"
                                        + _missing_weights_message())
            self.net, self.source = self._load(path), str(path)
        self.num_classes = self.net.fc.out_features
        self.feature_dim = 2048
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def _load(path: Path) -> nn.Module:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        fc = state.get("fc.weight") if isinstance(state, dict) else None
        if fc is None or tuple(fc.shape) not in ((1008, 2048), (1000, 2048)):
            raise ValueError(f"{path} is not an Inception-v3 state dict (expected an "
                             "'fc.weight' of shape (1008, 2048) for the FID weights or "
                             "(1000, 2048) for torchvision's)")
        net = _inception(fc.shape[0])
        state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
        try:
            net.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"{path} does not fit Inception-v3 with {fc.shape[0]} classes: "
                             f"{error}") from None
        return net

    def train(self, mode: bool = True):
        """Stays in eval mode whatever ``mode`` says: this is a fixed feature extractor."""
        return super().train(False)

    @staticmethod
    def prepare(x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 1|3, H, W)`` in [-1, 1] -> what the network eats: ``(N, 3, 299, 299)``."""
        check_pixel_range(x, channels=(1, 3), size=None, who="InceptionFeatures")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return F.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pool3 features (N, 2048), logits (N, num_classes))`` in one pass."""
        h = self.prepare(x)
        for name in _INCEPTION_LAYERS:
            h = getattr(self.net, name)(h)
        h = torch.flatten(h, 1)
        return h, self.net.fc(h)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pool3 features, ``(N, 2048)``, all >= 0."""
        return self.features_and_logits(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits, ``(N, 1008)`` for the FID weights or ``(N, 1000)`` for torchvision's."""
        return self.features_and_logits(x)[1]
