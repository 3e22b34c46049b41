"""Command line: ``python -m ganlab data ...``.

    python -m ganlab data list                       # which datasets are ready offline
    python -m ganlab data fetch mnist                # download with torchvision (internet)
    python -m ganlab data import fashion-mnist /usr/share/datasets/fashion-mnist
"""

from __future__ import annotations

import argparse
import sys

from ganlab import data


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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
