"""DCGAN speed on this machine: the course trainer against a bare loop, and each preset's epoch.

    python benchmarks/dcgan.py                    # both tables (a few minutes on 2 cores)
    python benchmarks/dcgan.py --only trainer     # (a) only
    python benchmarks/dcgan.py --only presets     # (b) only
    python benchmarks/dcgan.py --only quality     # (c) only (~5 min for 40 epochs)

(a) ``ganlab.gan.train_gan`` (Algorithm 1 on ``ganlab.train.fit``: history, progress bar,
    NaN checks, gradient norms, per-epoch snapshots) against a hand-written PyTorch loop
    with the same ``cpu28`` models, optimisers, batch size and losses, on ``mnist-5k``.
    The two alternate epoch by epoch in one process so that both see the same machine
    state; throughput = real images consumed per second, median over the epochs.
    Target: trainer / bare >= 0.95.
(b) wall time of one epoch of ``mnist-5k`` (70 iterations of m = 64) for each preset,
    measured on a few iterations and extrapolated (``paper64`` on digits up-sampled to 64x64).
(c) sample quality over CPU time: ``cpu28`` trained by the course recipe, and every few
    epochs the FID, KID, Inception Score, precision and recall of 1,000 samples against
    the ``mnist-5k`` test split, in the shipped digit classifier's feature space (Unit 06).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from ganlab import features, metrics
from ganlab.data import load_images
from ganlab.gan import make_optimizer, seconds_per_iteration, train_gan
from ganlab.losses import discriminator_loss, generator_loss
from ganlab.models.dcgan import PRESETS, DCGANDiscriminator, DCGANGenerator

M = 64


def bare_epoch(G, D, opt_d, opt_g, images: torch.Tensor, generator: torch.Generator) -> None:
    """One epoch of Algorithm 1 (k = 1) written out by hand: no history, no checks, no snapshots."""
    order = torch.randperm(len(images), generator=generator)
    for b in range(len(images) // M):
        x = images[order[b * M:(b + 1) * M]]
        with torch.no_grad():
            fake = G(torch.randn(M, G.latent_dim))
        loss_d = discriminator_loss(D(x), D(fake))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = generator_loss(D(G(torch.randn(M, G.latent_dim))), "non_saturating")
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()


def trainer_vs_bare(epochs: int) -> None:
    data = load_images("mnist-5k", "train")
    images = data.tensors[0]
    used = (len(images) // M) * M
    torch.manual_seed(0)
    G_t, D_t = DCGANGenerator("cpu28"), DCGANDiscriminator("cpu28")
    G_b, D_b = DCGANGenerator("cpu28"), DCGANDiscriminator("cpu28")
    opt_d, opt_g = make_optimizer(D_b), make_optimizer(G_b)
    shuffle = torch.Generator().manual_seed(0)
    bare_epoch(G_b, D_b, opt_d, opt_g, images, shuffle)  # warm-up: first-call allocations
    rates = {"trainer": [], "bare loop": []}
    for epoch in range(epochs):
        start = time.perf_counter()
        train_gan(G_t, D_t, data, epochs=1, m=M, seed=epoch, progress=False)
        rates["trainer"].append(used / (time.perf_counter() - start))
        start = time.perf_counter()
        G_b.train()
        D_b.train()
        bare_epoch(G_b, D_b, opt_d, opt_g, images, shuffle)
        rates["bare loop"].append(used / (time.perf_counter() - start))
    print(f"\n(a) cpu28 on mnist-5k, m = {M}, {epochs} alternating epochs, {torch.get_num_threads()} threads")
    print(f"{'loop':<12}{'images/s (median)':>20}{'min':>10}{'max':>10}")
    for name, r in rates.items():
        print(f"{name:<12}{statistics.median(r):>20.0f}{min(r):>10.0f}{max(r):>10.0f}")
    ratio = statistics.median(rates["trainer"]) / statistics.median(rates["bare loop"])
    print(f"trainer / bare loop = {ratio:.3f} (target >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})")


def preset_epochs(repeats: int) -> None:
    data = load_images("mnist-5k", "train")
    x28 = data.tensors[0][:M]
    x64 = F.interpolate(x28, size=64, mode="bilinear", align_corners=False)
    iterations = len(data) // M
    print(f"\n(b) one epoch of mnist-5k ({iterations} iterations of m = {M}), "
          f"{torch.get_num_threads()} threads, median of {repeats} timed iterations")
    print(f"{'preset':<12}{'G params':>11}{'D params':>11}{'s/iteration':>13}{'s/epoch':>10}")
    for preset in PRESETS:
        torch.manual_seed(0)
        G, D = DCGANGenerator(preset), DCGANDiscriminator(preset)
        seconds = seconds_per_iteration(G, D, x64 if preset == "paper64" else x28, repeats=repeats)
        print(f"{preset:<12}{sum(p.numel() for p in G.parameters()):>11,}"
              f"{sum(p.numel() for p in D.parameters()):>11,}{seconds:>13.3f}{seconds * iterations:>10.1f}")


def quality_over_time(epochs: int, every: int) -> None:
    data = load_images("mnist-5k", "train")
    extractor = features.load_extractor("digits")
    reference = extractor.features(load_images("mnist-5k", "test").tensors[0])
    z = torch.randn(1000, 64, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    G, D = DCGANGenerator("cpu28"), DCGANDiscriminator("cpu28")
    clock = {"train": 0.0, "start": time.process_time()}
    print(f"\n(c) cpu28 on mnist-5k: quality of 1,000 samples vs training CPU time, "
          f"{torch.get_num_threads()} threads")
    print(f"{'epoch':>6}{'CPU min':>9}{'FID':>8}{'KID':>8}{'IS':>7}{'precision':>11}{'recall':>8}")

    def report(epoch: int, history) -> None:
        if (epoch + 1) % every and epoch + 1 != epochs:
            return
        clock["train"] += time.process_time() - clock["start"]
        G.eval()
        with torch.no_grad():
            samples = G(z)
        G.train()
        f = extractor.features(samples)
        precision, recall = metrics.precision_recall(reference, f, k=3)
        print(f"{epoch + 1:>6}{clock['train'] / 60:>9.1f}{metrics.fid(reference, f):>8.1f}"
              f"{metrics.kid(reference, f, subsets=20, subset_size=500)[0]:>8.3f}"
              f"{metrics.inception_score(extractor.logits(samples))[0]:>7.2f}"
              f"{precision:>11.2f}{recall:>8.2f}", flush=True)
        clock["start"] = time.process_time()

    train_gan(G, D, data, epochs=epochs, m=M, seed=0, progress=False, on_epoch_end=report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["trainer", "presets", "quality"])
    parser.add_argument("--epochs", type=int, default=5, help="alternating epochs for (a)")
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per preset for (b)")
    parser.add_argument("--quality-epochs", type=int, default=40, help="training epochs for (c)")
    parser.add_argument("--every", type=int, default=5, help="epochs between measurements in (c)")
    args = parser.parse_args()
    if args.only in (None, "trainer"):
        trainer_vs_bare(args.epochs)
    if args.only in (None, "presets"):
        preset_epochs(args.repeats)
    if args.only in (None, "quality"):
        quality_over_time(args.quality_epochs, args.every)


if __name__ == "__main__":
    main()
