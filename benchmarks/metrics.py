"""Time the Unit 06 metrics of ``ganlab.metrics`` and print a table.

    python benchmarks/metrics.py                 # everything (a few minutes on 2 cores)
    python benchmarks/metrics.py --skip-scipy    # leave out pytorch-fid's sqrtm (~30 s a call)

FID at d = 2048 (Inception pool features): ganlab's eigen route against
``pytorch_fid.fid_score.calculate_frechet_distance`` (``scipy.linalg.sqrtm``), with their
relative difference, on covariances from N = 10,000 samples (full rank) and from
N = 1,000 samples (rank 999, singular). Then precision/recall (k = 3) and KID (100 subsets
of 1,000) at N = 5,000 real and 5,000 fake features, d = 64 and 2048. The features are
correlated Gaussians, the fake ones shifted by 0.1 (FID) or 0.05 (the others) in every
coordinate; timings do not depend on the values.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch

from ganlab import metrics


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def correlated_features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """``n`` draws of ``N(shift, A^T A)``: one fixed mixing ``A``, the draws from ``seed``."""
    mixing = torch.randn(d, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ (mixing / d**0.5) + shift


def frechet_rows(skip_scipy: bool) -> list[tuple]:
    rows = []
    for n in (10_000, 1_000):
        mu1, s1 = metrics.gaussian_statistics(correlated_features(n, 2048, seed=1))
        mu2, s2 = metrics.gaussian_statistics(correlated_features(n, 2048, seed=2, shift=0.1))
        case = f"frechet_distance d=2048, covariances of N={n:,}" + (" (singular)" if n < 2048 else "")
        ours_s, ours = timed(metrics.frechet_distance, mu1, s1, mu2, s2)
        if skip_scipy:
            rows.append((case, f"{ours_s:.2f}", "skipped", "", f"FID {ours:.6f}"))
            continue
        from pytorch_fid.fid_score import calculate_frechet_distance

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_s, ref = timed(calculate_frechet_distance, *(t.numpy() for t in (mu1, s1, mu2, s2)))
        rows.append((case, f"{ours_s:.2f}", f"{ref_s:.2f}", f"{abs(ours - ref) / abs(ref):.1e}",
                     f"FID {ours:.6f} vs {ref:.6f}"))
    return rows


def sample_rows() -> list[tuple]:
    rows = []
    for d in (64, 2048):
        real = correlated_features(5000, d, seed=3)
        fake = correlated_features(5000, d, seed=4, shift=0.05)
        pr_s, (precision, recall) = timed(metrics.precision_recall, real, fake, k=3)
        rows.append((f"precision_recall N=5,000 d={d} k=3", f"{pr_s:.2f}", "", "",
                     f"P={precision:.3f} R={recall:.3f}"))
        kid_s, (mean, std) = timed(metrics.kid, real, fake, subsets=100, subset_size=1000)
        rows.append((f"kid N=5,000 d={d} 100x1,000", f"{kid_s:.2f}", "", "",
                     f"KID={mean:.2e} ± {std:.1e}"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-scipy", action="store_true", help="do not time pytorch-fid (sqrtm)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), numpy {np.__version__}",
          flush=True)
    rows = frechet_rows(args.skip_scipy) + sample_rows()
    header = ("case", "ganlab s", "pytorch-fid s", "rel. diff", "values")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
