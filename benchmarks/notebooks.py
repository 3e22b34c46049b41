"""Time every notebook in fast and default mode and print a table.

    python benchmarks/notebooks.py                  # all notebooks, both modes
    python benchmarks/notebooks.py --modes fast     # fast mode only
    python benchmarks/notebooks.py notebooks/01_autoencoders.ipynb

Targets on the course's reference machine (2 CPU cores): fast mode <= 60 s and default
mode <= 10 min per notebook. Each run starts a fresh kernel on this interpreter, so the
kernel start-up (~2 s) is included.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = {"fast": 60, "default": 600}


def run(path: Path, mode: str) -> tuple[float, str]:
    """Execute ``path`` in ``mode``; return (seconds, "ok" or the error's first line)."""
    nb = nbformat.read(path, as_version=4)
    os.environ["GANLAB_FAST"] = "1" if mode == "fast" else "0"
    # the kernel must be this interpreter, whatever Jupyter finds first on PATH
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    client = NotebookClient(nb, timeout=3600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        status = "ok"
    except Exception as error:  # report and go on with the other notebooks
        status = f"FAILED: {str(error).strip().splitlines()[-1][:60]}"
    return time.perf_counter() - start, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--modes", nargs="+", default=["fast", "default"], choices=["fast", "default"])
    args = parser.parse_args()
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))

    rows = []
    for path in notebooks:
        for mode in args.modes:
            print(f"running {path.name} ({mode})...", file=sys.stderr, flush=True)
            seconds, status = run(path, mode)
            within = "yes" if seconds <= TARGET_SECONDS[mode] else "NO"
            rows.append((path.name, mode, f"{seconds:.1f}", f"<= {TARGET_SECONDS[mode]}", within, status))

    header = ("notebook", "mode", "seconds", "target", "within", "status")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))
    print(f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    return 0 if all(r[-1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
