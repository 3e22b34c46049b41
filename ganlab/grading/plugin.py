"""The pytest plugin that the grader copies next to the notebook nbval runs (as conftest.py).

* After a timeout nbval marks every later cell as an expected failure, which hides its
  message: the grader judges each cell on its own.
* Each finished cell's result is appended to ``progress.jsonl`` at once, so that a run
  stopped at the notebook's time limit keeps the results of its earlier cells.
* nbval waits the whole cell timeout for a kernel that died (``os._exit``, a crash, out
  of memory); this notices within a second and says so.

It runs in the sandbox, in the pytest process (not in the kernel), and only reports:
the grader decides every check itself (:mod:`ganlab.grading.judge`).
"""
import json
import time
from pathlib import Path
from queue import Empty

import pytest

PROGRESS = Path(__file__).with_name("progress.jsonl")
KERNEL_DIED = "GANLAB_KERNEL_DIED"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # after a timeout nbval marks every later cell as an expected failure, which hides
    # its message: the grader judges each cell on its own
    if getattr(item.parent, "timed_out", False):
        item.parent.timed_out = False


def pytest_runtest_logreport(report):
    # one line per finished cell, so that a run stopped at the time limit keeps them
    if report.when == "call" or report.failed:
        text = "" if report.passed else str(report.longrepr)
        if len(text) > 40000:
            text = text[:4000] + "\n[...]\n" + text[-30000:]
        entry = {"name": report.nodeid.rsplit("::", 1)[-1], "when": report.when,
                 "passed": report.passed, "text": text}
        with PROGRESS.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def _notice_dead_kernels():
    # nbval waits the whole cell timeout for a kernel that died (os._exit, a crash)
    try:
        from nbval.kernel import RunningKernel
    except ImportError:
        return
    original = getattr(RunningKernel, "await_reply", None)
    if original is None:
        return

    def await_reply(self, msg_id, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            try:
                return original(self, msg_id, timeout=max(0.0, min(1.0, left)))
            except Empty:
                if not self.is_alive():
                    raise RuntimeError(KERNEL_DIED) from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    RunningKernel.await_reply = await_reply


_notice_dead_kernels()
