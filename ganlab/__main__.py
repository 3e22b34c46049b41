"""Command line: ``python -m ganlab data ...`` and ``python -m ganlab release``.

    python -m ganlab data list                       # which datasets are ready offline
    python -m ganlab data fetch mnist                # download with torchvision (internet)
    python -m ganlab data import fashion-mnist /usr/share/datasets/fashion-mnist
    python -m ganlab grade subs/*.ipynb --json report.json   # grade submitted assignments
    python -m ganlab release                         # assignments/source/*.ipynb -> assignments/
    python -m ganlab release --check                 # exit 1 if a student notebook is out of date
    python -m ganlab train dcgan-cpu28               # re-create a shipped pretrained model
    torchrun --nproc_per_node 2 -m ganlab train dcgan-cpu28   # the same on 2 processes (GPUs)
"""

from __future__ import annotations

import argparse
import sys

from ganlab import assignments, data, grade


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    data_cmd = commands.add_parser("data", help="list, fetch or import datasets")
    actions = data_cmd.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", help="which datasets are available offline")
    fetch = actions.add_parser("fetch", help="download a full dataset with torchvision")
    fetch.add_argument("name", choices=sorted(data.TORCHVISION_FOLDER))
    imp = actions.add_parser("import", help="copy IDX files (.gz or not) from a folder")
    imp.add_argument("name", choices=sorted(data.TORCHVISION_FOLDER))
    imp.add_argument("source", help="folder holding train-images-idx3-ubyte(.gz) etc.")
    for p in (ls, fetch, imp):
        p.add_argument("--root", default=None,
                       help="dataset folder (default: $GANLAB_DATA or ~/.cache/ganlab)")
    grd = commands.add_parser("grade", help="grade submitted assignment notebooks with nbval",
                              description=grade.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    grd.add_argument("submissions", nargs="+",
                     help="student notebooks (.ipynb), or folders searched for them")
    grd.add_argument("--source", default="assignments/source",
                     help="folder of instructor notebooks (default: assignments/source)")
    grd.add_argument("--json", required=True, dest="json_path", metavar="REPORT",
                     help="write the report here (JSON)")
    grd.add_argument("--csv", dest="csv_path", metavar="FILE",
                     help="also write one row per submission here")
    grd.add_argument("--feedback", dest="feedback_dir", metavar="DIR",
                     help="also write a markdown feedback file per submission here")
    grd.add_argument("--timeout", type=float, default=grade.DEFAULT_CELL_TIMEOUT,
                     metavar="SECONDS", help="limit per cell (default: %(default)g)")
    grd.add_argument("--notebook-timeout", type=float, default=grade.DEFAULT_NOTEBOOK_TIMEOUT,
                     metavar="SECONDS",
                     help="limit per submission, all cells together (default: %(default)g)")
    grd.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="grade N submissions at a time (default: 1)")
    grd.add_argument("--seed", type=int, default=None,
                     help="seed of the checks' hidden inputs (default: a random one, recorded "
                          "in the report)")
    grd.add_argument("--memory-limit", type=_bytes, default=grade.sandbox.DEFAULT_MEMORY_LIMIT,
                     metavar="SIZE", help="address space per process of a submission, e.g. 8G "
                                          "(default: 8G; 0: no limit)")
    grd.add_argument("--require-sandbox", action="store_true",
                     help="refuse to grade where bubblewrap cannot isolate the submissions")
    grd.add_argument("--no-sandbox", action="store_true",
                     help="run submissions without bubblewrap even where it is available")
    grd.add_argument("--gradescope", metavar="DIR",
                     help="also write a Gradescope results.json per submission under DIR")
    grd.add_argument("--canvas", metavar="FILE",
                     help="also write a Canvas gradebook CSV (one column for this assignment)")
    rel = commands.add_parser("release", help="write the student versions of the assignments")
    rel.add_argument("--source", default="assignments/source",
                     help="folder of instructor notebooks (default: assignments/source)")
    rel.add_argument("--out", default="assignments",
                     help="folder for the student notebooks (default: assignments)")
    rel.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 listing the student notebooks that differ")
    trn = commands.add_parser("train", help="re-create a shipped pretrained model")
    trn.add_argument("name", help="a name from ganlab.pretrained.RECIPES, or 'all'")
    trn.add_argument("--seed", type=int, default=0)
    trn.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    trn.add_argument("--out", default=None, help="folder for NAME.pt (default: ganlab/assets)")
    trn.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    trn.add_argument("--threads", type=int, default=None,
                     help="CPU threads for torch (default: torch's; the small GANs run fastest on 1)")
    args = parser.parse_args(argv)

    if args.command == "grade":
        return _grade(args)
    if args.command == "release":
        return _release(args)
    if args.command == "train":
        return _train(args)
    try:
        if args.action == "list":
            root = data.data_root(args.root)
            print(f"data root: {root}")
            for name in data.DATASETS:
                if name in data.TORCHVISION_FOLDER:
                    missing = data.missing_files(name, root)
                    status = "ready" if not missing else f"missing {len(missing)} files"
                else:
                    status = "ready (bundled with the installed packages)"
                print(f"  {name:<14} {status}")
        elif args.action == "fetch":
            print(f"{args.name} ready in {data.fetch(args.name, args.root)}")
        else:
            folder = data.import_idx_folder(args.name, args.source, args.root)
            print(f"{args.name} ready in {folder}")
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _bytes(text: str) -> int:
    """``8G``, ``512M``, ``1000000``: a size in bytes, for ``--memory-limit``."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    text = text.strip().upper().removesuffix("B")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 8G, 512M or 0, got {text!r}") from None


def _grade(args) -> int:
    """Grade the submissions, write the reports; 0 when written, 2 for usage errors."""
    limits = {"cell_timeout": args.timeout, "notebook_timeout": args.notebook_timeout}
    seed = args.seed if args.seed is not None else grade.new_seed()
    use_sandbox = grade.sandbox.available() and not args.no_sandbox
    sandbox_info = grade.sandbox.info(args.memory_limit) if use_sandbox else None

    def progress(entries, entry):  # the JSON report after every submission, then the rest
        done = sum(e is not None for e in entries)
        print(f"[{done}/{len(entries)}] " + grade.summary_line(entry), flush=True)
        grade.write_reports(entries, json_path=args.json_path, csv_path=args.csv_path,
                            feedback_dir=args.feedback_dir, seed=seed, sandbox_info=sandbox_info,
                            gradescope_dir=args.gradescope, canvas_path=args.canvas, **limits)

    try:
        grade.grade(args.submissions, args.source, jobs=args.jobs, on_result=progress, seed=seed,
                    memory_limit=args.memory_limit, require_sandbox=args.require_sandbox,
                    use_sandbox=use_sandbox, **limits)
    except grade.UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return grade.EXIT_USAGE
    except OSError as error:  # the report could not be written
        print(f"error: {error}", file=sys.stderr)
        return grade.EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: the report holds the submissions graded so far", file=sys.stderr)
        return 130
    print(f"report written to {args.json_path}")
    return grade.EXIT_OK


def _release(args) -> int:
    try:
        if args.check:
            outdated = assignments.stale(args.source, args.out)
            for path in outdated:
                print(f"out of date: {path}")
            if outdated:
                print("run `python -m ganlab release` to update them", file=sys.stderr)
                return 1
            print(f"student notebooks in {args.out} are up to date")
        else:
            released = assignments.release(args.source, args.out)
            for path in released:
                print(f"released {path}")
            if not released:
                print(f"no instructor notebooks ({assignments.PATTERN}) in {args.source}")
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _train(args) -> int:
    import torch

    from ganlab import distributed, pretrained, runtime

    names = sorted(pretrained.RECIPES) if args.name == "all" else [args.name]
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be >= 1, got {args.threads}")
            torch.set_num_threads(args.threads)
        device = runtime.pick_device(args.device)
        for name in names:
            path = pretrained.train(name, seed=args.seed, epochs=args.epochs, folder=args.out,
                                    device=device)
            if not distributed.is_main():
                continue  # under torchrun rank 0 reports
            meta = pretrained.info(name, path.parent)
            print(f"{name}: wrote {path} ({path.stat().st_size / 1e6:.2f} MB) in "
                  f"{meta['train_seconds']} s")
            for key, value in meta.items():
                if key.startswith(("final_", "test_", "accuracy", "confidence", "class_shares",
                                   "fid", "inception_score")):
                    print(f"  {key} = {value}")
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
