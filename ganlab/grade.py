"""Grading submitted assignment notebooks: ``python -m ganlab grade``.

    python -m ganlab grade alice/01_autoencoders.ipynb bob/01_autoencoders.ipynb \\
        --json report.json --csv grades.csv --feedback feedback/ --jobs 2

For every submission the grader

1. **matches it to its source notebook** in ``--source`` (default ``assignments/source``)
   by file name: a submission named like a source notebook (``01_autoencoders.ipynb``)
   is graded against it; otherwise the source whose name without ``.ipynb``
   (``01_autoencoders``) appears in the submission's file name, the longest if several
   do (``alice-01_autoencoders.ipynb``, ``01_autoencoders (1).ipynb``). A file that
   matches none is reported with an ``error`` and graded 0.
2. **restores the check cells.** Every check cell of the source, found in the submission
   by its cell id (or, in a notebook saved without cell ids, by its ``ganlab.check``
   metadata), gets back the source's text *including the hidden tests*. A check cell the
   student **changed** (any text other than the released or the source version),
   **deleted** or **moved** (the official cell before it is not the one the source has
   before it) is listed in ``tampered``; a deleted or moved check is put back right after
   the cell that precedes it in the source, so it still runs and still counts. Tampering
   alone costs no points: the restored check decides, the instructor reviews the flag.
   All outputs are cleared and the metadata of the student's own cells is dropped (so
   nbval tags such as ``raises-exception`` cannot change how a check is judged).
3. **runs the restored notebook under nbval** in its own subprocess, in a temporary
   folder: ``python -m pytest submission.ipynb --nbval-lax --nbval-current-env
   --nbval-cell-timeout=T -p no:cacheprovider --junitxml=...``, with the environment of the
   grader (``GANLAB_FAST=1 python -m ganlab grade ...`` grades in fast mode), this
   checkout of ``ganlab`` first on ``PYTHONPATH``, and a wall-clock limit for the whole
   notebook. A small ``conftest.py`` written next to the notebook makes nbval judge every
   cell on its own after a timeout (nbval would otherwise mark all later cells as
   expected failures, without their messages), notices a dead kernel within a second
   instead of waiting for the cell timeout, and logs each cell's result as it finishes,
   so that a notebook stopped at the time limit keeps the results of its earlier cells.
4. **scores the checks**: nbval names its test items ``Cell <k>``, the k-th *code* cell,
   so the grader records the code-cell index of every check in the restored notebook and
   reads the outcome of that item from the JUnit XML. A check passes when its cell runs
   without an error and earns its points; otherwise it earns 0 and its ``message`` is the
   first line of the failure: the hint of :mod:`ganlab.checks` for an ``AssertionError``,
   ``"NameError: name 'f' is not defined"`` for other errors, ``"timed out after 600 s"``,
   ``"the kernel died while running this cell"``, ``"not run: the kernel died"`` ...

Report (``--json``, rewritten atomically after every graded submission)::

    {"complete": true, "fast_mode": false, "cell_timeout": 600.0, "notebook_timeout": 1800.0,
     "submissions": [
       {"path": "alice/01_autoencoders.ipynb", "source": "assignments/source/01_autoencoders.ipynb",
        "status": "graded",        # or "timed out", "kernel died", "error"
        "error": null,             # why the notebook could not be graded at all
        "score": 7, "max_score": 10,            # auto-graded checks only
        "tampered": ["ae-loss-check"],          # check ids, in the source's order
        "checks": [{"id": "ae-model-check", "points": 3, "max_points": 3, "passed": true,
                    "message": null, "tampered": null}, ...],   # tampered: "changed", ...
        "manual": [{"id": "why", "points": 2, "answer": "...", "answered": true}],
        "cell_errors": [{"cell": "ae-noise", "message": "timed out after 600 s"}],
        "seconds": 41.3}]}

``status`` is ``"error"`` when the submission could not be graded at all (see
``error``: not a notebook, no matching source, nbval could not start), ``"timed out"``
when a cell or the whole notebook ran past its limit, ``"kernel died"`` when the kernel
died (``os._exit``, a crash, out of memory), else ``"graded"``. ``manual`` lists the
written answers (markdown cells with ``ganlab.manual`` metadata) for grading by hand:
their points are not in ``score`` or ``max_score``. ``cell_errors`` lists the code cells
outside the checks that failed, which often explains a failing check.

``--csv`` writes one row per submission: path, source, status, score, max_score, the
points of every check id (empty when the check belongs to another assignment), tampered
(ids joined by ``;``) and error. ``--feedback DIR`` writes one markdown file per
submission (named like it, with ``.md``, led by its folders joined with ``__`` where two
submissions share a name: ``alice__01_autoencoders.md``) with each check's result and
hint, for the student.

Exit status: 0 when the report was written (every submission has an entry, whatever its
score or status); 2 (:data:`EXIT_USAGE`) for a usage error, before anything is graded:
a missing submission or source folder, a broken source notebook, nbval not installed,
a bad option; 130 when interrupted.

Student code runs with the grader's permissions: grade untrusted submissions in a
container or a throw-away account.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from ganlab import assignments
from ganlab.checkpoint import atomic_write_text

EXIT_OK = 0
EXIT_USAGE = 2
DEFAULT_CELL_TIMEOUT = 600.0       # seconds per cell, as `make test`
DEFAULT_NOTEBOOK_TIMEOUT = 1800.0  # seconds per submission, all cells together
NOTEBOOK = "submission.ipynb"      # the restored notebook's name in the temporary folder
MESSAGE_LIMIT = 300                # characters kept of a failure's first line

# The pytest plugin written next to the restored notebook (see the module docstring).
CONFTEST = '''\
"""Written by ganlab.grade next to the notebook it grades; see ganlab/grade.py."""
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
            text = text[:4000] + "\\n[...]\\n" + text[-30000:]
        entry = {"name": report.nodeid.rsplit("::", 1)[-1], "when": report.when,
                 "passed": report.passed, "text": text}
        with PROGRESS.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\\n")


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
'''
KERNEL_DIED = "GANLAB_KERNEL_DIED"
_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;?]*[A-Za-z]")
_EXCEPTION_LINE = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Iteration))(?:: ?(.*))?$")
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class UsageError(Exception):
    """A mistake in the command line or the source notebooks: nothing is graded."""


# --- the source notebooks -----------------------------------------------------------------


@dataclass
class Assignment:
    """A source notebook prepared for grading."""

    path: Path
    nb: nbformat.NotebookNode
    checks: list[dict]     # {"id", "points"} of each check cell, in order
    manual: list[dict]     # {"id", "points"} of each written answer, in order
    released: dict[str, str]  # graded cell id -> its text in the student version

    @property
    def max_score(self) -> int:
        return sum(c["points"] for c in self.checks)

    def cell(self, cell_id: str):
        return next(c for c in self.nb.cells if c.id == cell_id)


def load_assignments(source_dir: str | os.PathLike) -> list[Assignment]:
    """The source notebooks ``[0-9]*.ipynb`` of ``source_dir``; UsageError if none or broken."""
    try:
        paths = assignments.source_notebooks(source_dir)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    if not paths:
        raise UsageError(f"no source notebooks ({assignments.PATTERN}) in {source_dir}")
    loaded = []
    for path in paths:
        try:
            nb = nbformat.read(path, as_version=4)
            graded = assignments.graded_cells(nb)
            released = assignments.release_notebook(nb)
        except (OSError, ValueError) as error:
            raise UsageError(f"source notebook {path}: {error}") from None
        loaded.append(Assignment(
            path=path, nb=nb,
            checks=[{"id": g["id"], "points": g["points"]} for g in graded if g["kind"] == "check"],
            manual=[{"id": g["id"], "points": g["points"]} for g in graded if g["kind"] == "manual"],
            released={c.id: c.source for c in released.cells
                      if "ganlab" in c.get("metadata", {})}))
    return loaded


def match_assignment(path: str | os.PathLike, sources: list[Assignment]) -> Assignment:
    """The source notebook a submission answers, by file name (see the module docstring).

    Raises a ValueError naming the expected file names when none matches.
    """
    name = Path(path).name
    for source in sources:
        if source.path.name == name:
            return source
    found = [s for s in sources if s.path.stem in name]
    if found:
        return max(found, key=lambda s: len(s.path.stem))
    expected = ", ".join(s.path.name for s in sources)
    raise ValueError(f"cannot tell which assignment {name!r} answers: its file name must be or "
                     f"contain the name of a source notebook ({expected})")


# --- restoring the check cells ------------------------------------------------------------


def read_submission(path: str | os.PathLike) -> nbformat.NotebookNode:
    """The notebook at ``path``; a ValueError saying why when it is not a readable notebook."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    what = None
    try:
        data = json.loads(text)
    except ValueError as error:
        what = f"invalid JSON ({error})"
    else:
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            what = f"the file holds a JSON {type(data).__name__}, not a notebook with cells"
    if what is None:
        try:
            nb = nbformat.reads(text, as_version=4, capture_validation_error={})
            if not all(isinstance(c, dict) for c in nb["cells"]):
                raise ValueError("its cells are not all JSON objects")
        except Exception as error:  # nbformat raises many kinds on broken files
            what = (str(error).strip() or type(error).__name__).splitlines()[0]
    if what is not None:
        raise ValueError(f"not a Jupyter notebook (.ipynb JSON): {what[:MESSAGE_LIMIT]}")
    return nb


@dataclass
class Restored:
    """A submission with its check cells restored, ready for nbval."""

    nb: nbformat.NotebookNode
    code_cells: list[str]    # the name (cell id) of each code cell, in nbval's order
    checks: dict[str, int]   # check id -> index of its code cell ("Cell <index>" in nbval)
    tampered: dict[str, str]  # check id -> "changed", "deleted", "moved", "changed and moved"


def restore(assignment: Assignment, student: nbformat.NotebookNode) -> Restored:
    """Put the source's check cells, hidden tests included, into the student's notebook.

    See the module docstring for what counts as tampering. ``student`` is unchanged.
    """
    source_ids = [c.id for c in assignment.nb.cells]
    order = {cell_id: i for i, cell_id in enumerate(source_ids)}
    check_ids = [c["id"] for c in assignment.checks]
    cells = _clean_cells(student.cells)
    # the student's cell of each check: by id, else (notebooks saved without cell ids) by metadata
    found = {}
    for cell, _ in cells:
        if cell.id in check_ids and cell.id not in found:
            found[cell.id] = cell
    for cell, meta in cells:
        name = meta.get("check")
        if isinstance(name, str) and name in check_ids and name not in found \
                and cell.id not in order:
            cell.id = name
            found[name] = cell
    cells = [cell for cell, _ in cells]
    present = {c.id for c in cells}

    tampered = {}
    for name in check_ids:
        cell = found.get(name)
        if cell is None:
            tampered[name] = "deleted"
            continue
        reasons = []
        allowed = {_normalise(assignment.released[name]), _normalise(assignment.cell(name).source)}
        if cell.cell_type != "code" or _normalise(cell.source) not in allowed:
            reasons.append("changed")
        index = next(i for i, c in enumerate(cells) if c is cell)
        before = next((c.id for c in reversed(cells[:index]) if c.id in order), None)
        if before != _anchor(name, source_ids, present):
            reasons.append("moved")
        if reasons:
            tampered[name] = " and ".join(reasons)

    restored = []
    for cell in cells:
        if cell.id in found and found[cell.id] is cell:
            if "moved" not in tampered.get(cell.id, ""):
                restored.append(_official(assignment, cell.id))
        else:
            restored.append(cell)
    for name in check_ids:  # deleted and moved checks go back after their source neighbour
        if not any(c.id == name for c in restored):
            anchor = _anchor(name, source_ids, {c.id for c in restored})
            at = 0 if anchor is None else 1 + next(
                i for i, c in enumerate(restored) if c.id == anchor)
            restored.insert(at, _official(assignment, name))

    nb = new_notebook(cells=restored, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.validate(nb)
    code_cells = [c.id for c in restored if c.cell_type == "code"]
    return Restored(nb=nb, code_cells=code_cells,
                    checks={name: code_cells.index(name) for name in check_ids},
                    tampered={n: tampered[n] for n in check_ids if n in tampered})


def manual_answers(assignment: Assignment, student: nbformat.NotebookNode) -> list[dict]:
    """The student's written answers: ``{"id", "points", "answer", "answered"}`` each.

    ``answer`` is the text of the markdown cell with that id (or ``ganlab.manual``
    metadata), ``""`` when the cell was deleted; ``answered`` is False while it still
    holds the released text.
    """
    answers = []
    for item in assignment.manual:
        cell = next((c for c in student.cells if c.get("id") == item["id"]), None) or next(
            (c for c in student.cells if _ganlab_meta(c).get("manual") == item["id"]), None)
        text = _text(cell.get("source", "")) if cell is not None else ""
        answered = _normalise(text) not in ("", _normalise(assignment.released[item["id"]]))
        answers.append({"id": item["id"], "points": item["points"], "answer": text,
                        "answered": answered})
    return answers


def _clean_cells(cells) -> list[tuple[nbformat.NotebookNode, dict]]:
    """New cells with the student's text only, unique valid ids, and their ``ganlab`` metadata."""
    out, seen = [], set()
    for index, cell in enumerate(cells):
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not _CELL_ID.match(cell_id) or cell_id in seen:
            cell_id = f"submitted-cell-{index}"
        seen.add(cell_id)
        source = _text(cell.get("source", ""))
        kind = cell.get("cell_type")
        make = {"code": new_code_cell, "markdown": new_markdown_cell}.get(kind, new_raw_cell)
        out.append((make(source, id=cell_id), _ganlab_meta(cell)))
    return out


def _ganlab_meta(cell) -> dict:
    meta = cell.get("metadata")
    info = meta.get("ganlab") if isinstance(meta, dict) else None
    return info if isinstance(info, dict) else {}


def _text(source) -> str:
    if isinstance(source, list):
        return "".join(str(s) for s in source)
    return source if isinstance(source, str) else str(source)


def _official(assignment: Assignment, name: str):
    cell = assignment.cell(name)
    return new_code_cell(cell.source, id=name, metadata=copy.deepcopy(dict(cell.metadata)))


def _anchor(name: str, source_ids: list[str], present: set[str]) -> str | None:
    """The nearest cell before ``name`` in the source that is in ``present``."""
    before = source_ids[:source_ids.index(name)]
    return next((i for i in reversed(before) if i in present), None)


def _normalise(text: str) -> str:
    """Text compared without trailing spaces and surrounding blank lines."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


# --- running a notebook under nbval -------------------------------------------------------


@dataclass
class CellResult:
    """What happened to one code cell."""

    passed: bool
    message: str | None = None   # first line of the failure
    event: str | None = None     # "timed out" or "kernel died" when that happened here


def run_notebook(restored: Restored, *, cell_timeout: float, notebook_timeout: float,
                 env: dict[str, str]) -> list[CellResult]:
    """Run ``restored`` under nbval in a subprocess; one result per code cell.

    Raises a RuntimeError when nbval could not run the notebook at all.
    """
    with tempfile.TemporaryDirectory(prefix="ganlab-grade-", ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        (folder / NOTEBOOK).write_text(nbformat.writes(restored.nb), encoding="utf-8")
        (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        junit = folder / "junit.xml"
        command = [sys.executable, "-m", "pytest", NOTEBOOK, "--nbval-lax",
                   "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout:g}",
                   "-p", "no:cacheprovider", f"--junitxml={junit}", "-c", "pytest.ini",
                   "--color=no", "-q"]
        with open(folder / "pytest.log", "wb") as log:
            process = subprocess.Popen(command, cwd=folder, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                code = process.wait(timeout=notebook_timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(process)
                code = None
        if code is not None and junit.is_file():
            raw = _junit_results(junit)
        else:
            raw = _progress_results(folder / "progress.jsonl")
        if code is not None and not raw:
            tail = (folder / "pytest.log").read_text(encoding="utf-8", errors="replace")
            lines = [line for line in _ANSI.sub("", tail).splitlines() if line.strip()]
            why = lines[-1] if lines else "no output"
            raise RuntimeError(f"nbval could not run the notebook (pytest exit code {code}): "
                               f"{why[:MESSAGE_LIMIT]}")
    return _interpret(raw, len(restored.code_cells), stopped=code is None,
                      cell_timeout=cell_timeout, notebook_timeout=notebook_timeout)


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill pytest and everything it started (the kernel runs in a session of its own)."""
    try:
        import psutil

        children = psutil.Process(process.pid).children(recursive=True)
    except Exception:  # psutil missing or the process already gone
        children = []
    for child in children:
        try:
            child.kill()
        except Exception:
            pass
    process.kill()
    process.wait()


def _junit_results(path: Path) -> dict[int, tuple[bool, str]]:
    """``{cell index: (passed, failure text)}`` from nbval's JUnit XML."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return {}
    results = {}
    for case in root.iter("testcase"):
        index = _cell_index(case.get("name", ""))
        if index is None:
            continue
        passed, text = True, ""
        for child in case:
            message = child.get("message", "")
            if child.tag in ("failure", "error") and not message.startswith("failed on teardown"):
                passed, text = False, child.text or message
            elif child.tag == "skipped":
                passed, text = False, "skipped: " + message
        results[index] = (passed, text)
    return results


def _progress_results(path: Path) -> dict[int, tuple[bool, str]]:
    """``{cell index: (passed, failure text)}`` from the log of our conftest."""
    results = {}
    if not path.is_file():
        return results
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the last line of a killed run may be cut
        index = _cell_index(entry.get("name", ""))
        if index is None or entry.get("when") == "teardown":
            continue
        if not entry.get("passed"):
            results[index] = (False, entry.get("text", ""))
        elif index not in results:
            results[index] = (True, "")
    return results


def _cell_index(name: str) -> int | None:
    match = re.fullmatch(r"Cell (\d+)", name.strip())
    return int(match.group(1)) if match else None


def _interpret(raw: dict[int, tuple[bool, str]], n_cells: int, *, stopped: bool,
               cell_timeout: float, notebook_timeout: float) -> list[CellResult]:
    """One :class:`CellResult` per code cell, with messages that say what happened."""
    results = []
    kernel_gone = None  # why later cells could not run
    for index in range(n_cells):
        if index not in raw:
            if stopped and kernel_gone is None:
                kernel_gone = f"not run: the notebook was stopped after {notebook_timeout:g} s"
                results.append(CellResult(False, f"timed out: the notebook ran longer than "
                                          f"{notebook_timeout:g} s in all", "timed out"))
            else:
                results.append(CellResult(False, kernel_gone or "not run: nbval gave no result"))
            continue
        passed, text = raw[index]
        if passed:
            results.append(CellResult(True))
            continue
        message, event = failure_message(text, cell_timeout)
        if event == "kernel dead":  # nbval found no kernel when this cell started
            message, event = kernel_gone or "not run: the kernel died", None
        elif event == "kernel died":
            kernel_gone = "not run: the kernel died"
        elif event == "timed out" and message.endswith("was stopped"):
            kernel_gone = "not run: the kernel was stopped after an earlier cell timed out"
        results.append(CellResult(False, message, event))
    return results


def failure_message(text: str, cell_timeout: float = DEFAULT_CELL_TIMEOUT) -> tuple[str, str | None]:
    """The first line of an nbval failure, and ``"timed out"`` / ``"kernel died"`` if so.

    nbval wraps the cell's traceback ("Notebook cell execution failed / Cell 3: ... /
    Input: ... / Traceback: ..."); for an exception the message is the line of its last
    ``SomeError: ...`` header, reduced to the message itself for an AssertionError (the
    hint of :mod:`ganlab.checks`). ANSI colours (also as JUnit's ``#x1B``) are removed.
    """
    text = _ANSI.sub("", text)
    if KERNEL_DIED in text:
        return "the kernel died while running this cell", "kernel died"
    if "Kernel dead on test start" in text:
        return "not run: the kernel died", "kernel dead"
    if "Timeout of" in text:
        if "Failed to interrupt kernel" in text:
            return (f"timed out after {cell_timeout:g} s; the kernel could not be interrupted "
                    "and was stopped", "timed out")
        if "waiting for output" in text:
            return "timed out waiting for the cell's output; the kernel was stopped", "timed out"
        return f"timed out after {cell_timeout:g} s", "timed out"
    lines = text.split("Traceback:", 1)[-1].splitlines()
    found = [(i, m) for i, line in enumerate(lines) if (m := _EXCEPTION_LINE.match(line.strip()))]
    # IPython puts a blank line before "SomeError: message"; the message may go on below
    # over several lines, so a later "Name: ..." line is not taken unless a blank precedes it
    headers = [m for i, m in found if i > 0 and not lines[i - 1].strip()]
    found = (headers or [m for _, m in found] or [None])[-1]
    if found is not None:
        name, message = found.group(1), (found.group(2) or "").strip()
        if name == "AssertionError":
            line = message or "AssertionError (a test failed without a message)"
        else:
            line = f"{name}: {message}" if message else name
        return line[:MESSAGE_LIMIT], None
    for line in text.splitlines():
        line = line.strip()
        if line and line != "Notebook cell execution failed":
            return line.removeprefix("pytest plugin exception: ")[:MESSAGE_LIMIT], None
    return "failed without a message", None


# --- grading ------------------------------------------------------------------------------


def grading_env(jobs: int = 1) -> dict[str, str]:
    """The environment of the nbval subprocesses: ours, with this ``ganlab`` importable.

    With several jobs, ``OMP_NUM_THREADS`` (if unset) shares the cores between them.
    """
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


def grade_submission(path: str | os.PathLike, sources: list[Assignment], *,
                     cell_timeout: float = DEFAULT_CELL_TIMEOUT,
                     notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT,
                     env: dict[str, str] | None = None) -> dict:
    """Grade one submission; never raises for a problem of the submission (see ``error``)."""
    start = time.monotonic()
    entry = {"path": str(path), "source": None, "status": "error", "error": None, "score": 0,
             "max_score": 0, "tampered": [], "checks": [], "manual": [], "cell_errors": [],
             "seconds": 0.0}
    try:
        assignment = match_assignment(path, sources)
    except ValueError as error:
        entry["error"] = str(error)
        return entry
    entry["source"] = str(assignment.path)
    entry["max_score"] = assignment.max_score
    entry["checks"] = [{"id": c["id"], "points": 0, "max_points": c["points"], "passed": False,
                        "message": "not run: the notebook could not be graded", "tampered": None}
                       for c in assignment.checks]
    try:
        student = read_submission(path)
        entry["manual"] = manual_answers(assignment, student)
        restored = restore(assignment, student)
        entry["tampered"] = list(restored.tampered)
        results = run_notebook(restored, cell_timeout=cell_timeout,
                               notebook_timeout=notebook_timeout,
                               env=env if env is not None else grading_env())
    except Exception as error:  # whatever the submission holds, the other ones get graded
        expected = (ValueError, RuntimeError, OSError, subprocess.SubprocessError)
        entry["error"] = (str(error) if isinstance(error, expected) else
                          f"the grader failed on this notebook: {type(error).__name__}: {error}")
        entry["seconds"] = round(time.monotonic() - start, 1)
        return entry

    check_cells = set(restored.checks.values())
    failed_cells = [(i, restored.code_cells[i], r.message) for i, r in enumerate(results)
                    if not r.passed and i not in check_cells]
    for check in entry["checks"]:
        index = restored.checks[check["id"]]
        result = results[index]
        message = result.message
        earlier = [f for f in failed_cells if f[0] < index]
        if message and "is not defined" in message and earlier:  # say why it is not defined
            message += f" (cell '{earlier[-1][1]}' failed before it: {earlier[-1][2]})"
        check.update(passed=result.passed, message=message,
                     points=check["max_points"] if result.passed else 0,
                     tampered=restored.tampered.get(check["id"]))
    entry["cell_errors"] = [{"cell": name, "message": message} for _, name, message in failed_cells]
    events = {r.event for r in results}
    entry["status"] = ("timed out" if "timed out" in events else
                       "kernel died" if "kernel died" in events else "graded")
    entry["score"] = sum(c["points"] for c in entry["checks"])
    entry["seconds"] = round(time.monotonic() - start, 1)
    return entry


def find_submissions(paths: list[str | os.PathLike]) -> list[Path]:
    """The notebooks named: files as given, folders searched for ``*.ipynb`` (sorted)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"no submission at {path}")
    if not found:
        raise UsageError(f"no notebooks (.ipynb) in {', '.join(map(str, paths))}")
    return found


def grade(paths: list[str | os.PathLike], source_dir: str | os.PathLike = "assignments/source", *,
          cell_timeout: float = DEFAULT_CELL_TIMEOUT,
          notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT, jobs: int = 1,
          on_result=None) -> list[dict]:
    """Grade ``paths`` (``jobs`` at a time); the entries in the order of ``paths``.

    ``on_result(entries, entry)`` is called after each submission with the entries so far
    (``None`` for those not graded yet) and the new one. Raises UsageError before grading
    anything.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if cell_timeout <= 0 or notebook_timeout <= 0:
        raise UsageError("timeouts must be positive numbers of seconds")
    if importlib.util.find_spec("nbval") is None:
        raise UsageError("grading needs nbval: pip install -e '.[dev]'")
    submissions = find_submissions(paths)
    sources = load_assignments(source_dir)
    env = grading_env(jobs)
    entries: list[dict | None] = [None] * len(submissions)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_submission, path, sources, cell_timeout=cell_timeout,
                               notebook_timeout=notebook_timeout, env=env): i
                   for i, path in enumerate(submissions)}
        try:
            for future in as_completed(futures):
                entry = entries[futures[future]] = future.result()
                if on_result is not None:
                    on_result(list(entries), entry)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return entries


# --- reports ------------------------------------------------------------------------------


def report(entries: list[dict | None], *, cell_timeout: float, notebook_timeout: float) -> dict:
    """The JSON report (see the module docstring); entries still ``None`` are left out."""
    from ganlab.runtime import fast_mode

    done = [e for e in entries if e is not None]
    return {"complete": len(done) == len(entries), "fast_mode": fast_mode(),
            "cell_timeout": float(cell_timeout), "notebook_timeout": float(notebook_timeout),
            "submissions": done}


def write_json(path: str | os.PathLike, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def csv_text(entries: list[dict]) -> str:
    """One row per submission: path, source, status, score, max_score, each check, tampered, error."""
    check_ids = []
    for entry in entries:
        check_ids += [c["id"] for c in entry["checks"] if c["id"] not in check_ids]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", "source", "status", "score", "max_score", *check_ids, "tampered",
                     "error"])
    for entry in entries:
        points = {c["id"]: c["points"] for c in entry["checks"]}
        writer.writerow([entry["path"], entry["source"] or "", entry["status"], entry["score"],
                         entry["max_score"], *[points.get(i, "") for i in check_ids],
                         ";".join(entry["tampered"]), entry["error"] or ""])
    return out.getvalue()


def feedback_text(entry: dict) -> str:
    """The markdown feedback for the student of one submission."""
    lines = [f"# Feedback on {Path(entry['path']).name}", ""]
    assignment = f"Assignment `{Path(entry['source']).name}`. " if entry["source"] else ""
    lines += [f"{assignment}Score of the automatic checks: **{entry['score']} / "
              f"{entry['max_score']}**.", ""]
    if entry["error"]:
        lines += [f"**Your notebook could not be graded:** {entry['error']}", ""]
    if entry["checks"] and not entry["error"]:
        lines += ["| check | points | result |", "|---|---|---|"]
        for check in entry["checks"]:
            result = "passed" if check["passed"] else check["message"]
            lines.append(f"| `{check['id']}` | {check['points']} / {check['max_points']} | "
                         f"{_cell_text(result)} |")
        lines.append("")
    if entry["tampered"]:
        how = ", ".join(f"`{c['id']}` ({c['tampered']})" for c in entry["checks"] if c["tampered"])
        lines += ["**Check cells you changed, deleted or moved:** " + how + ". The grader put "
                  "the original check cells back and ran them; your instructor sees this note.", ""]
    if entry["cell_errors"]:
        lines += ["Other cells that failed (they may explain a failing check):", ""]
        lines += [f"- `{e['cell']}`: {e['message']}" for e in entry["cell_errors"]] + [""]
    if entry["manual"]:
        lines += ["Written answers, graded by hand: " + ", ".join(
            f"`{m['id']}` ({m['points']} points{'' if m['answered'] else ', not answered'})"
            for m in entry["manual"]) + ".", ""]
    return "\n".join(lines)


def _cell_text(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def feedback_names(entries: list[dict]) -> list[str]:
    """A file name per entry: the submission's name with ``.md``, led by as many of its
    folders as it takes to tell it from the others (``alice__01_autoencoders.md``)."""
    parts = [Path(e["path"]).resolve().with_suffix(".md").parts[1:] for e in entries]
    names, used = [], set()
    for path in parts:
        keep = 1
        while keep < len(path) and sum(p[-keep:] == path[-keep:] for p in parts) > 1:
            keep += 1
        name = stem = "__".join(path[-keep:])
        n = 2
        while name in used:  # the same file given twice
            name, n = f"{stem[:-3]}-{n}.md", n + 1
        used.add(name)
        names.append(name)
    return names


def write_reports(entries: list[dict | None], *, json_path, csv_path=None, feedback_dir=None,
                  cell_timeout: float, notebook_timeout: float) -> None:
    """Write the JSON report, and with all entries done the CSV and the feedback files."""
    write_json(json_path, report(entries, cell_timeout=cell_timeout,
                                 notebook_timeout=notebook_timeout))
    if any(e is None for e in entries):
        return
    if csv_path:
        atomic_write_text(csv_path, csv_text(entries))
    if feedback_dir:
        for entry, name in zip(entries, feedback_names(entries), strict=True):
            atomic_write_text(Path(feedback_dir) / name, feedback_text(entry))


def summary_line(entry: dict) -> str:
    """One line for the terminal: path, score, status, tampering, error."""
    line = f"{entry['path']}: {entry['score']}/{entry['max_score']} ({entry['status']})"
    if entry["tampered"]:
        line += f", tampered: {', '.join(entry['tampered'])}"
    if entry["error"]:
        line += f", error: {entry['error']}"
    return line
