"""What a submission's kernel does beyond its work folder, noted with a Python audit hook.

The grader runs :func:`install` in the kernel before the student's first cell. The hook
(:func:`sys.addaudithook`, which cannot be removed once added) appends one JSON line to
``audit.jsonl`` in the work folder for each attempt to connect a socket, start a
process, or open a file for writing outside the work folder, with the execution count of
the cell that made it. It is evidence, not a barrier (the sandbox is the barrier), and
code that runs in the same process could disturb it; the grader reads it as *escape*
findings (see :mod:`ganlab.grading.integrity`).
"""

from __future__ import annotations

import json
import os
import sys

LOG = "audit.jsonl"
MAX_EVENTS = 200
# programs that libraries start on their own (font lists, library lookups)
QUIET_PROGRAMS = ("fc-list", "ldconfig", "uname", "gcc", "cc", "ld", "objdump", "lscpu",
                  "nvidia-smi", "/sbin/ldconfig", "/usr/bin/fc-list")


def install(work: str | None = None) -> None:
    """Start noting events (once per process)."""
    if getattr(sys, "_ganlab_audit", False):
        return
    sys._ganlab_audit = True
    work = os.path.realpath(work or os.getcwd())
    log = open(os.path.join(work, LOG), "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    count = [0]
    busy = [False]

    def cell() -> int | None:
        try:
            shell = sys.modules["IPython"].get_ipython()
            return int(shell.execution_count)
        except Exception:
            return None

    def note(kind: str, detail: str) -> None:
        if count[0] >= MAX_EVENTS:
            return
        count[0] += 1
        log.write(json.dumps({"kind": kind, "detail": detail[:300], "execution": cell()}) + "\n")

    def hook(event, args):
        if busy[0]:
            return
        busy[0] = True
        try:
            if event == "socket.connect":
                note("network", f"connects to {args[1]!r}")
            elif event in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.spawn"):
                program = str(args[0]) if args else "?"
                if os.path.basename(program) not in QUIET_PROGRAMS and program not in QUIET_PROGRAMS:
                    shown = args[1] if len(args) > 1 else program
                    note("process", f"starts {shown!r}"[:300])
            elif event == "os.system":
                note("process", f"runs {args[0]!r}")
            elif event == "os.fork":
                note("process", "forks")
            elif event == "open" and len(args) > 1 and isinstance(args[0], str):
                mode = args[1] if isinstance(args[1], str) else ""
                if any(m in mode for m in "wax+"):
                    path = os.path.realpath(args[0])
                    if not path.startswith((work + os.sep, "/dev/")):
                        note("write", f"writes {args[0]}")
        except Exception:
            pass
        finally:
            busy[0] = False

    sys.addaudithook(hook)
