"""Command line: ``python -m ganlab data ...`` and ``python -m ganlab release``.

    python -m ganlab data list                       # which datasets are ready offline
    python -m ganlab data fetch mnist                # download with torchvision (internet)
    python -m ganlab data import fashion-mnist /usr/share/datasets/fashion-mnist
    python -m ganlab release                         # assignments/source/*.ipynb -> assignments/
    python -m ganlab release --check                 # exit 1 if a student notebook is out of date
"""

from __future__ import annotations

import argparse
import sys

from ganlab import assignments, data


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
    rel = commands.add_parser("release", help="write the student versions of the assignments")
    rel.add_argument("--source", default="assignments/source",
                     help="folder of instructor notebooks (default: assignments/source)")
    rel.add_argument("--out", default="assignments",
                     help="folder for the student notebooks (default: assignments)")
    rel.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 listing the student notebooks that differ")
    args = parser.parse_args(argv)

    if args.command == "release":
        return _release(args)
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


if __name__ == "__main__":
    sys.exit(main())
