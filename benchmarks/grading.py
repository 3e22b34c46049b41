"""Grading throughput: notebooks graded per minute by ``python -m ganlab grade`` (issue 16).

    GANLAB_FAST=1 python benchmarks/grading.py                 # 2 of each unit, all configurations
    GANLAB_FAST=1 python benchmarks/grading.py --per-unit 1 --units 06 --configs sandbox:1   # smoke test
    python benchmarks/grading.py                                # default mode (much longer)

A class of submissions is made from the instructor notebooks (``assignments/source``):
each released as a student gets it, with the instructor's solutions typed into its
``YOUR CODE HERE`` cells, ``--per-unit`` students per assignment (the default 2 for the 7
units: 14 notebooks). The class is graded by ``ganlab.grade.grade``, the function behind
``python -m ganlab grade submissions/ --jobs N`` (the CLI adds only the report files), in
each configuration:

* ``sandbox:1`` / ``sandbox:2`` (``--jobs 1`` / ``--jobs 2``): bubblewrap on, the default
  where it works;
* ``nosandbox:1`` / ``nosandbox:2``: ``use_sandbox=False``, what ``--no-sandbox`` does.

The first table has the wall time of the whole ``grade`` call, notebooks per minute and
seconds per notebook; every submission must come back ``graded`` with full marks (the
"not full marks" column counts those that did not). The second has each unit's mean
seconds per notebook (the ``seconds`` of its report entries: one notebook's own wall
time, with the other job's notebook running beside it at ``--jobs 2``) and the estimate
for a class of 300 students of that unit, ``300 * seconds / jobs``: extrapolated, not
measured. ``paired`` grades every notebook twice in turn, with and without the sandbox
(alternating which goes first, ``--jobs 1``), so that the sandbox's overhead is a
difference of neighbouring runs, less exposed to other jobs on a shared machine than two
separate passes over the class.
GANLAB_FAST passes through to the graded notebooks (fast mode), as with the CLI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from ganlab import grade
from ganlab.assignments import BEGIN_SOLUTION, END_SOLUTION, release_notebook

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "assignments" / "source"
CONFIGS = {"sandbox:1": (True, 1), "sandbox:2": (True, 2), "nosandbox:1": (False, 1), "nosandbox:2": (False, 2)}
CLASS = 300
PAIRED = "paired"  # the sandbox's overhead, notebook by notebook


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def solved(source):
    """A student's submission: the released notebook with the instructor's solutions typed in."""
    student = release_notebook(source)
    for cell, original in zip(student.cells, source.cells, strict=True):
        if "ganlab" not in cell.metadata:  # solution cells, without the markers
            cell.source = "\n".join(line for line in original.source.split("\n")
                                    if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))
    return student


def make_class(folder: Path, per_unit: int, units: list[str] | None) -> list[Path]:
    """``per_unit`` submissions of every source notebook, one folder per student, interleaved by unit."""
    sources = sorted(SOURCE.glob("[0-9]*.ipynb"))
    if units:
        sources = [s for s in sources if any(s.stem.startswith(u) for u in units)]
    paths = []
    for student in range(per_unit):
        for source in sources:
            path = folder / f"student{student + 1:02d}" / source.name
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(solved(nbformat.read(source, as_version=4)), path)
            paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-unit", type=int, default=2, help="submissions per assignment (default: 2)")
    parser.add_argument("--units", nargs="*", help="only these units, e.g. 01 05 (default: all)")
    parser.add_argument("--configs", nargs="+", default=[*CONFIGS, PAIRED], choices=[*CONFIGS, PAIRED],
                        help="configurations to time, sandbox or not : jobs, and 'paired' (default: all)")
    args = parser.parse_args()
    configs = args.configs
    fast = os.environ.get("GANLAB_FAST", "0") not in ("", "0")
    with tempfile.TemporaryDirectory(prefix="ganlab-grading-bench-") as tmp:
        paths = make_class(Path(tmp), args.per_unit, args.units)
        print(f"grading {len(paths)} notebooks ({args.per_unit} per unit) in "
              f"{'fast' if fast else 'default'} mode; {os.cpu_count()} CPUs, "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
              f"bubblewrap {'available' if grade.sandbox.available() else 'NOT available'}")
        rows, per_unit = [], {}
        for config in (c for c in configs if c != PAIRED):
            use_sandbox, jobs = CONFIGS[config]
            if use_sandbox and not grade.sandbox.available():
                print(f"{config}: skipped, no bubblewrap here")
                continue
            before = load()
            start = time.perf_counter()
            entries = grade.grade(paths, SOURCE, jobs=jobs, seed=0, use_sandbox=use_sandbox)
            wall = time.perf_counter() - start
            bad = [e for e in entries if e["status"] != "graded" or e["score"] != e["max_score"]]
            rows.append((config, len(entries), wall, len(bad), f"{before} -> {load()}"))
            units = {}
            for e in entries:
                units.setdefault(Path(e["path"]).stem, []).append(e["seconds"])
            per_unit[config] = units
            print(f"  {config}: {wall:.0f} s, load average {rows[-1][4]}"
                  + "".join(f"\n    NOT FULL MARKS: {e['path']} {e['status']} {e['score']}/{e['max_score']} "
                            f"{e['error'] or ''}" for e in bad), flush=True)
        pairs = paired(paths) if PAIRED in configs else None

    if not rows:
        print_paired(pairs)
        return
    print(f"\n{'configuration':<22}{'notebooks':>10}{'wall s':>9}{'nb/min':>9}{'s/nb':>7}{'not full marks':>16}"
          f"   load average (before -> after)")
    for config, n, wall, bad, loads in rows:
        print(f"{config:<22}{n:>10}{wall:>9.0f}{60 * n / wall:>9.1f}{wall / n:>7.1f}{bad:>16}   {loads}")
    walls = {r[0]: r[2] for r in rows}
    for jobs in (1, 2):
        on, off = walls.get(f"sandbox:{jobs}"), walls.get(f"nosandbox:{jobs}")
        if on and off:
            print(f"sandbox overhead at --jobs {jobs}: {on - off:+.0f} s in all, "
                  f"{(on - off) / rows[0][1]:+.1f} s per notebook ({100 * (on / off - 1):+.0f}%)")

    units = sorted({u for c in per_unit.values() for u in c})
    shown = [c for c in per_unit if c.startswith("sandbox")] or list(per_unit)
    print(f"\nper unit: mean seconds per notebook (its report entries) and the time for {CLASS} "
          f"notebooks of that unit (extrapolated: {CLASS} x s / jobs)")
    print(f"{'unit':<34}" + "".join(f"{c + ' s/nb':>18}{f'{CLASS} nb':>10}" for c in shown))
    for unit in units:
        cells = ""
        for config in shown:
            seconds = statistics.mean(per_unit[config][unit])
            cells += f"{seconds:>18.1f}{CLASS * seconds / CONFIGS[config][1] / 60:>6.0f} min"
        print(f"{unit:<34}{cells}")
    print_paired(pairs)


def print_paired(pairs: list[tuple[str, float, float]] | None) -> None:
    if pairs:
        print("\nthe sandbox's overhead, paired: every notebook graded with and without it, one after the "
              "other\n(alternating which goes first), --jobs 1; seconds of grade_submission")
        print(f"{'unit':<34}{'sandbox s':>11}{'no sandbox s':>14}{'difference':>12}")
        for unit in sorted({u for u, _, _ in pairs}):
            on = [a for u, a, _ in pairs if u == unit]
            off = [b for u, _, b in pairs if u == unit]
            print(f"{unit:<34}{statistics.mean(on):>11.1f}{statistics.mean(off):>14.1f}"
                  f"{statistics.mean(on) - statistics.mean(off):>+12.1f}")
        diffs = [a - b for _, a, b in pairs]
        total_on, total_off = sum(a for _, a, _ in pairs), sum(b for _, _, b in pairs)
        print(f"{'all ' + str(len(pairs)) + ' notebooks':<34}{total_on / len(pairs):>11.1f}"
              f"{total_off / len(pairs):>14.1f}{(total_on - total_off) / len(pairs):>+12.1f}"
              f"   median difference {statistics.median(diffs):+.1f} s, "
              f"{100 * (total_on / total_off - 1):+.0f}% in all")


def paired(paths: list[Path]) -> list[tuple[str, float, float]]:
    """(unit, seconds with the sandbox, seconds without) for each notebook, graded both ways in turn."""
    sources = grade.load_assignments(SOURCE)
    env = grade.grading_env(1)
    before, out = load(), []
    for i, path in enumerate(paths):
        seconds = {}
        for use_sandbox in ((True, False) if i % 2 == 0 else (False, True)):
            start = time.perf_counter()
            entry = grade.grade_submission(path, sources, env=env, seed=0, use_sandbox=use_sandbox)
            seconds[use_sandbox] = time.perf_counter() - start
            if entry["status"] != "graded" or entry["score"] != entry["max_score"]:
                print(f"    NOT FULL MARKS ({'sandbox' if use_sandbox else 'no sandbox'}): {path} "
                      f"{entry['status']} {entry['score']}/{entry['max_score']} {entry['error'] or ''}")
        out.append((path.stem, seconds[True], seconds[False]))
    print(f"  {PAIRED}: {sum(a + b for _, a, b in out):.0f} s, load average {before} -> {load()}", flush=True)
    return out


if __name__ == "__main__":
    main()
