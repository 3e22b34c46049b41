"""Sample quality against CPU-minutes for every step of the Unit 03 and Unit 05 GAN recipes.

    python benchmarks/gan_recipes.py                        # both recipes, every step (~1.5 h)
    python benchmarks/gan_recipes.py --only mlp-gan         # one recipe
    python benchmarks/gan_recipes.py --only mlp-gan --steps 0 4 --seed 1
    python benchmarks/gan_recipes.py --json build/gan_recipes.json

Each step of ``ganlab.recipes.STEPS`` is trained from scratch with its own epochs on
``mnist-5k`` (one thread, as the notebooks' small networks run best), then its sampling
generator (the EMA one where the step keeps it) is judged on 2,000 samples by
``ganlab.quality``: the digit classifier's mean confidence, the smallest and largest
class share, FID against the 500 held-out test digits, and the Inception Score. The
last row of each recipe is the shipped model's recipe; the targets of the shipped
models are checked at the end (mlp-gan: confidence >= 0.85, shares 5-16%; dcgan-cpu28:
>= 0.93, 6-14%; each <= 6 CPU-minutes).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ganlab import quality, recipes
from ganlab.features import load_extractor

TARGETS = {"mlp-gan": (0.85, 0.05, 0.16), "dcgan-cpu28": (0.93, 0.06, 0.14)}
CPU_MINUTES = 6.0


def measure(name: str, index: int, seed: int, extractor, reference) -> dict:
    step = recipes.STEPS[name][index]
    start, cpu_start = time.perf_counter(), time.process_time()
    G, _, run = recipes.train(step, seed=seed, progress=False)
    row = {"recipe": name, "step": index, "change": step.change, "kept": step.kept,
           "epochs": step.epochs, "minutes": (time.perf_counter() - start) / 60,
           "cpu_minutes": (time.process_time() - cpu_start) / 60}
    row.update(quality.digit_quality(recipes.sampler(G, run), extractor=extractor,
                                     reference_features=reference))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(recipes.STEPS))
    parser.add_argument("--steps", type=int, nargs="*", help="step indices (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    extractor = load_extractor("digits")
    reference = extractor.features(quality.reference_images())
    rows = []
    width = 44
    print(f"{'step':<{width}}{'epochs':>7}{'CPU min':>9}" + quality.format_header(0))
    for name in [args.only] if args.only else list(recipes.STEPS):
        print(f"-- {name}")
        indices = args.steps if args.steps else range(len(recipes.STEPS[name]))
        for index in indices:
            row = measure(name, index, args.seed, extractor, reference)
            rows.append(row)
            label = f"{index}. {'' if row['kept'] else '(not kept) '}{row['change']}"
            print(f"{label[:width - 1]:<{width}}{row['epochs']:>7}{row['cpu_minutes']:>9.1f}"
                  + quality.format_row("", row, 0), flush=True)
        last = len(recipes.STEPS[name]) - 1
        final = [r for r in rows if r["recipe"] == name and r["step"] == last]
        if final:
            low_conf, low, high = TARGETS[name]
            r = final[0]
            outside = quality.check_fair_shares(r, low, high)
            verdict = ("meets" if r["confidence"] >= low_conf and not outside
                       and r["cpu_minutes"] <= CPU_MINUTES else "MISSES")
            print(f"   shipped recipe {verdict} its target: confidence {r['confidence']:.3f} "
                  f"(>= {low_conf}), shares {low:.0%}-{high:.0%}"
                  f"{' (outside: ' + ', '.join(outside) + ')' if outside else ''}, "
                  f"{r['cpu_minutes']:.1f} CPU-min (<= {CPU_MINUTES:.0f})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1))
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
