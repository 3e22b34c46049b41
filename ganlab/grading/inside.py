"""The program that runs a submission, inside the sandbox (or as a plain process).

    python -m ganlab.grading.inside --memory-limit BYTES --log pytest.log -- python -m pytest ...

It becomes the *subreaper* of everything it starts (so processes that detach from the
kernel still end up as its children), applies the memory limit to them, runs the
command with its output in ``--log``, and then, on its own standard output, which the
submission's processes never hold, prints one JSON line: the command's exit code, the
processes still running (which it then kills) and the files left in ``HOME`` and the
temporary folder. Run by :mod:`ganlab.grade`; see :mod:`ganlab.grading.sandbox`.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
MAX_LISTED = 20


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass


def _limit_memory(limit: int) -> None:
    if limit > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _descendants() -> list[int]:
    """Every process below this one (orphans included, this being their subreaper)."""
    try:
        import psutil
    except ImportError:
        return []
    try:
        return [p.pid for p in psutil.Process().children(recursive=True)]
    except psutil.Error:
        return []


def _describe(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        text = ""
    if not text:
        try:
            import psutil

            text = " ".join(psutil.Process(pid).cmdline()) or psutil.Process(pid).name()
        except Exception:
            text = "?"
    return text[:200]


def _mounts() -> set[str]:
    """The sandbox's mount points and the folders made to hold them (not the submission's)."""
    points = set()
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            while point not in ("/", ""):
                points.add(point)
                point = os.path.dirname(point)
    except (OSError, IndexError):
        pass
    return points


def _files(folder: str | None, skip: set[str]) -> list[str]:
    """Up to :data:`MAX_LISTED` files and folders in ``folder`` (but ``skip``)."""
    if not folder or not os.path.isdir(folder):
        return []
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip
                   or not os.path.ismount(os.path.join(root, d))]
        for name in dirs + files:
            path = os.path.join(root, name)
            if path not in skip:
                found.append(path)
            if len(found) >= MAX_LISTED:
                return found
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlab.grading.inside")
    parser.add_argument("--memory-limit", type=int, default=0)
    parser.add_argument("--log", required=True)
    parser.add_argument("--scan", action="append", default=[],
                        help="a private folder (besides HOME) to list what was left in")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    _become_subreaper()
    home = os.environ.get("HOME")
    with open(args.log, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL,
                                   preexec_fn=lambda: _limit_memory(args.memory_limit))
        code = process.wait()
    deadline = time.monotonic() + 5.0  # let the kernel and processes that were exiting finish
    while time.monotonic() < deadline and any(
            "ipykernel" in _describe(pid) for pid in _descendants()):
        time.sleep(0.1)
    time.sleep(0.2)
    lingering = [{"pid": pid, "command": _describe(pid)} for pid in _descendants()]
    for item in lingering:
        try:
            os.kill(item["pid"], signal.SIGKILL)
        except OSError:
            pass
    mounts = _mounts()
    report = {"exit_code": code, "lingering": lingering[:MAX_LISTED],
              "home_files": _files(home, mounts),
              "tmp_files": [f for folder in args.scan for f in _files(folder, mounts)]}
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
