"""How good are a generator's digits? The four numbers every GAN recipe of the course reports.

For ``n`` samples ``x_1..x_n = G(z_i)``, ``z_i ~ N(0, I)``, and the course's digit
classifier ``p(y | x)`` (Unit 06, 98.8% accurate on unseen MNIST digits):

* ``confidence = (1/n) sum_i max_y p(y | x_i)``: do the samples look like *some* digit?
  (0.985 on real digits; a stroke that is half a 3 and half an 8 scores low; but an
  image unlike every digit, such as a collapsed GAN's blob, can still score near 1, so
  read it beside the class shares and the FID);
* ``class_shares[c] = (1/n) #{i : argmax_y p(y | x_i) = c}``: are all ten digits made,
  in fair shares? (about 10% each on real data; mode collapse shows as 0% and 50%);
* ``fid``: the Fréchet distance between Gaussians fitted to the classifier's features of
  the samples and of the 500 held-out ``mnist-5k`` test digits (``ganlab.metrics.fid``);
* ``inception_score``: ``exp E_x KL(p(y|x) || p(y))`` with the same classifier
  (``ganlab.metrics.inception_score``), at most 10.

The same classifier, the same noise (seeded) and the same reference set for every model,
so numbers are comparable across units, recipes and training steps.
"""

from __future__ import annotations

import torch
from torch import nn

from ganlab import metrics
from ganlab.inference import batched, evaluating

N_SAMPLES = 2000


def check_fair_shares(quality: dict, low: float, high: float) -> list[str]:
    """The digits whose share of the samples lies outside ``[low, high]``, as readable strings."""
    return [f"{c}: {share:.1%}" for c, share in enumerate(quality["class_shares"])
            if not low <= share <= high]


def reference_images() -> torch.Tensor:
    """The 500 held-out ``mnist-5k`` test digits every FID here is measured against."""
    from ganlab.data import load_images

    return load_images("mnist-5k", "test").tensors[0]


def score_images(images: torch.Tensor, extractor=None, reference_features=None) -> dict:
    """The four numbers of the module docstring for a batch of images ``(N, 1, 28, 28)`` in [-1, 1]."""
    from ganlab.features import load_extractor

    extractor = extractor if extractor is not None else load_extractor("digits")
    if reference_features is None:
        reference_features = extractor.features(reference_images())
    features, logits = extractor(images)
    probabilities = torch.softmax(logits, dim=1)
    confidence, label = probabilities.max(dim=1)
    shares = torch.bincount(label, minlength=probabilities.shape[1]).float() / len(images)
    return {"n": len(images), "confidence": confidence.mean().item(),
            "class_shares": [round(s, 4) for s in shares.tolist()],
            "fid": metrics.fid(reference_features, features),
            "inception_score": metrics.inception_score(logits, splits=10)[0]}


def sample(model: nn.Module, n: int = N_SAMPLES, *, seed: int = 0, device="cpu") -> torch.Tensor:
    """``n`` images of ``model`` (a generator, or anything ``pretrained.as_generator`` takes) from seeded noise."""
    from ganlab.pretrained import as_generator

    if not hasattr(model, "latent_dim"):
        raise ValueError(f"{type(model).__name__} has no latent_dim: pass a generator, an "
                         "autoencoder or a VAE")
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    with evaluating(model):
        return batched(as_generator(model), z, device=device)


def digit_quality(model: nn.Module, n: int = N_SAMPLES, *, seed: int = 0, device="cpu",
                  extractor=None, reference_features=None) -> dict:
    """The four numbers of the module docstring for ``n`` samples of ``model`` (noise seeded by ``seed``)."""
    return score_images(sample(model, n, seed=seed, device=device), extractor, reference_features)


def evaluate_generator(model: nn.Module) -> dict:
    """What ``ganlab.pretrained`` records about a shipped generator: :func:`digit_quality` at 2,000 samples."""
    q = digit_quality(model)
    return {"quality_samples": q["n"], "confidence": round(q["confidence"], 4),
            "class_shares": q["class_shares"], "fid": round(q["fid"], 2),
            "inception_score": round(q["inception_score"], 3)}


def format_row(label: str, quality: dict, width: int = 34) -> str:
    """One line of a quality table: confidence, smallest and largest class share, FID, IS."""
    shares = quality["class_shares"]
    return (f"{label:<{width}}{quality['confidence']:>11.3f}{min(shares):>8.1%}{max(shares):>8.1%}"
            f"{quality['fid']:>9.1f}{quality['inception_score']:>7.2f}")


def format_header(width: int = 34) -> str:
    """The header line that matches :func:`format_row`."""
    return f"{'':<{width}}{'confidence':>11}{'min %':>8}{'max %':>8}{'FID':>9}{'IS':>7}"


class Judge:
    """The digit classifier's verdict on a series of generators: shown one by one, kept for one table.

    ``judge(label, G)`` scores ``n`` samples of ``G`` (:func:`digit_quality`), draws 24 of
    them beside the class shares (``ganlab.plots.show_quality``), prints the numbers and
    keeps them in ``judge.results[label]``; ``judge.table()`` lists every result so far.
    The classifier and the reference features are loaded once.
    """

    def __init__(self, n: int = N_SAMPLES, device="cpu", show: bool = True):
        from ganlab.features import load_extractor

        self.n, self.device, self.show = n, device, show
        self.extractor = load_extractor("digits", device=device)
        self.reference_features = self.extractor.features(reference_images())
        self.results: dict[str, dict] = {}

    def __call__(self, label: str, model: nn.Module) -> dict:
        result = digit_quality(model, self.n, device=self.device, extractor=self.extractor,
                               reference_features=self.reference_features)
        self.results[label] = result
        if self.show:
            import matplotlib.pyplot as plt

            from ganlab.plots import show_quality

            show_quality(label, sample(model, 24, seed=1, device=self.device), result)
            plt.show()
            print(format_header(0) + "\n" + format_row("", result, 0))
        return result

    def table(self, width: int = 34) -> str:
        """Every result so far, one row each, under :func:`format_header`."""
        return "\n".join([format_header(width)] + [format_row(label[:width - 1], q, width)
                                                   for label, q in self.results.items()])
