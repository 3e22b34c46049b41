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
3. **runs the restored notebook under nbval in a sandbox** (:mod:`ganlab.grading.sandbox`:
   bubblewrap, no network, private ``HOME`` and ``/tmp``, read-only system, memory limit,
   every process killed at the end), in its own subprocess and work folder:
   ``python -m pytest submission.ipynb --nbval-lax --nbval-current-env
   --nbval-cell-timeout=T -p no:cacheprovider --junitxml=...``, with a small environment
   (``GANLAB_FAST`` passes through: ``GANLAB_FAST=1 python -m ganlab grade ...`` grades in
   fast mode), and a wall-clock limit for the whole notebook. The grader's pytest plugin
   (:mod:`ganlab.grading.plugin`) next to the notebook makes nbval judge every cell on its
   own after a timeout, notices a dead kernel within a second and logs each cell's result
   as it finishes. A first cell installs an audit hook (:mod:`ganlab.grading.audit`), and
   each check cell records what it asked of the student's code
   (:mod:`ganlab.grading.evidence`), with inputs drawn from the run's secret ``--seed``.
4. **judges every check outside the kernel** (:mod:`ganlab.grading.judge`): a process of
   its own, which never runs the submission's code, replays the records through the same
   checks with the package's references. A check passes when its cell ran without an
   error under nbval *and* the judge passes it *and* no integrity finding costs it; it
   then earns its points. Otherwise it earns 0 and its ``message`` is the first line of
   the failure: the hint of :mod:`ganlab.checks`, ``"NameError: name 'f' is not defined"``
   for other errors, ``"timed out after 600 s"``, ``"the kernel died while running this
   cell"``, ``"not run: the kernel died"``, ``"0 points (reference): uses ..."`` ...
5. **reads what the submission tried** (:mod:`ganlab.grading.integrity`): answers taken
   from the package, patched checks or comparisons, code built at run time, the
   instructor's files (all read from its source), and escapes (the audit log, files left
   in ``HOME`` and ``/tmp``, processes left running). Each is an ``integrity`` finding;
   those that could have bought points cost the checks they could reach.

**What a grade guarantees.** Nothing the submission runs can change whether a check
passes: the checks run in the judge's process, on data. A check passes only when the
student's code computed the right results on inputs drawn at grading time. The
threat model, and what the grader does *not* guarantee, is in ``assignments/README.md``.
Check cells made of plain ``assert``s (no ``ganlab.checks`` call) are judged by the
kernel alone, so they are only as trustworthy as the submission.

Report (``--json``, rewritten atomically after every graded submission)::

    {"complete": true, "fast_mode": false, "cell_timeout": 600.0, "notebook_timeout": 1800.0,
     "seed": 1734526519,           # the seed of the checks' inputs (--seed)
     "sandbox": {"kind": "bubblewrap", "version": "bubblewrap 0.8.0", "network": false, ...},
     "submissions": [
       {"path": "alice/01_autoencoders.ipynb", "source": "assignments/source/01_autoencoders.ipynb",
        "status": "graded",        # or "timed out", "kernel died", "error"
        "error": null,             # why the notebook could not be graded at all
        "score": 7, "max_score": 10,            # auto-graded checks only
        "tampered": ["ae-loss-check"],          # check ids, in the source's order
        "integrity": [{"kind": "patched", "cell": "my-cell", "detail": "replaces torch.allclose",
                       "checks": ["ae-loss-check", ...]}],   # the checks it cost
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

``"sandbox"`` is ``null`` where no sandbox was used. ``--csv`` writes one row per
submission: path, source, status, score, max_score, the points of every check id (empty
when the check belongs to another assignment), tampered (ids joined by ``;``), integrity
and error. ``--gradescope DIR`` writes a Gradescope ``results.json`` per submission
(``DIR/<name>/results.json``, one test per check), ``--canvas FILE`` a gradebook CSV for
Canvas's import. ``--feedback DIR`` writes one markdown file per
submission (named like it, with ``.md``, led by its folders joined with ``__`` where two
submissions share a name: ``alice__01_autoencoders.md``) with each check's result and
hint, for the student.

Exit status: 0 when the report was written (every submission has an entry, whatever its
score or status); 2 (:data:`EXIT_USAGE`) for a usage error, before anything is graded:
a missing submission or source folder, a broken source notebook, nbval not installed,
a bad option; 130 when interrupted.

Without bubblewrap (macOS, Windows) submissions run with the grader's permissions: the
grader says so on stderr and in the report, and ``--require-sandbox`` refuses instead.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import io
import json
import os
import re
import secrets
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
from ganlab.grading import evidence, integrity, judge, sandbox

EXIT_OK = 0
EXIT_USAGE = 2
DEFAULT_CELL_TIMEOUT = 600.0       # seconds per cell, as `make test`
DEFAULT_NOTEBOOK_TIMEOUT = 1800.0  # seconds per submission, all cells together
NOTEBOOK = "submission.ipynb"      # the restored notebook's name in the temporary folder
MESSAGE_LIMIT = 300                # characters kept of a failure's first line

# The pytest plugin written next to the restored notebook (see the module docstring).
PLUGIN = Path(__file__).with_name("grading") / "plugin.py"
AUDIT_CELL = "ganlab-grading-audit"   # the cell the grader puts first: the audit hook
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
    answers: dict[str, list[str]]  # check id -> the package objects that answer its task
    given: dict[str, str]     # id -> text of the cells without solutions or checks

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
                      if "ganlab" in c.get("metadata", {})},
            answers={c.metadata["ganlab"]["check"]: list(c.metadata["ganlab"].get("answers", []))
                     for c in nb.cells if "check" in c.get("metadata", {}).get("ganlab", {})},
            given={c.id: c.source for c in judge.given_cells(nb)}))
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


@dataclass
class Run:
    """What running one restored submission gave."""

    results: list[CellResult]   # one per code cell of the restored notebook (nbval's word)
    verdicts: dict[str, dict]   # check id -> the judge's verdict (see ganlab.grading.judge)
    judge_error: str | None     # why the judge could not decide, if it could not
    events: list[dict]          # escape findings: audit log and what the run left behind


def grading_notebook(restored: Restored) -> nbformat.NotebookNode:
    """The notebook the kernel runs: the audit hook first, each check cell marked."""
    nb = copy.deepcopy(restored.nb)
    for cell in nb.cells:
        if cell.id in restored.checks:
            cell.source = (f"__import__('ganlab.grading.evidence').grading.evidence."
                           f"begin_cell({cell.id!r})\n" + cell.source)
    nb.cells.insert(0, new_code_cell(
        "__import__('ganlab.grading.audit').grading.audit.install()", id=AUDIT_CELL))
    return nb


def run_notebook(restored: Restored, assignment: Assignment, *, cell_timeout: float,
                 notebook_timeout: float, env: dict[str, str], seed: int,
                 memory_limit: int = sandbox.DEFAULT_MEMORY_LIMIT,
                 use_sandbox: bool = True) -> Run:
    """Run ``restored`` under nbval (in the sandbox if ``use_sandbox``), then judge it.

    Raises a RuntimeError when nbval could not run the notebook at all.
    """
    with tempfile.TemporaryDirectory(prefix="ganlab-grade-", ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        work = folder / "work"
        (work / "records").mkdir(parents=True)
        (work / ".state" / "tmp").mkdir(parents=True)
        (work / NOTEBOOK).write_text(nbformat.writes(grading_notebook(restored)), encoding="utf-8")
        (work / "conftest.py").write_text(PLUGIN.read_text(encoding="utf-8"), encoding="utf-8")
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        pytest = [sys.executable, "-m", "pytest", NOTEBOOK, "--nbval-lax", "--nbval-current-env",
                  f"--nbval-cell-timeout={cell_timeout:g}", "-p", "no:cacheprovider",
                  "--junitxml=junit.xml", "-c", "pytest.ini", "--color=no", "-q"]
        inner = [sys.executable, "-m", "ganlab.grading.inside", "--memory-limit",
                 str(int(memory_limit or 0)), "--log", "pytest.log", "--", *pytest]
        if use_sandbox:
            inside = sandbox.WORK
            run_env = sandbox.environment(env, inside, {
                evidence.RECORDS_ENV: f"{inside}/records", evidence.SEED_ENV: str(seed),
                "TMPDIR": f"{inside}/.state/tmp"})
            inner[inner.index("--log"):inner.index("--log")] = ["--scan", "/tmp"]
            command, popen_env = sandbox.command(inner, work, run_env), {"PATH": os.defpath}
        else:
            (work / ".home").mkdir()
            run_env = sandbox.environment(env, str(work), {
                evidence.RECORDS_ENV: str(work / "records"), evidence.SEED_ENV: str(seed),
                "HOME": str(work / ".home"), "TMPDIR": str(work / ".state" / "tmp")})
            command, popen_env = inner, run_env
        judge_process = _start_judge(assignment, work / "records", folder, seed=seed, env=env,
                                     timeout=notebook_timeout + 120)
        process = subprocess.Popen(command, cwd=work, env=popen_env, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            out, _ = process.communicate(timeout=notebook_timeout)
            code = process.returncode
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            out, code = b"", None
        except BaseException:
            _kill_tree(process)
            judge_process.kill()
            raise
        (folder / "judge-ready").touch()
        left = _inside_report(out)
        if code is not None and left is not None:
            code = left.get("exit_code", code)
        junit = work / "junit.xml"
        if code is not None and junit.is_file():
            raw = _junit_results(junit)
        else:
            raw = _progress_results(work / "progress.jsonl")
        if code is not None and not raw:
            log = work / "pytest.log"
            tail = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
            lines = [line for line in _ANSI.sub("", tail).splitlines() if line.strip()]
            why = lines[-1] if lines else "no output"
            raise RuntimeError(f"nbval could not run the notebook (pytest exit code {code}): "
                               f"{why[:MESSAGE_LIMIT]}")
        results = _interpret({i - 1: r for i, r in raw.items() if i > 0},
                             len(restored.code_cells), stopped=code is None,
                             cell_timeout=cell_timeout, notebook_timeout=notebook_timeout)
        events = _audit_events(work / "audit.jsonl", restored) + _left_behind(left)
        verdicts, judge_error = _judge_result(judge_process, folder, timeout=notebook_timeout)
    return Run(results=results, verdicts=verdicts, judge_error=judge_error, events=events)


def _inside_report(out: bytes) -> dict | None:
    """The JSON line that :mod:`ganlab.grading.inside` printed last, if any."""
    for line in reversed(out.decode("utf-8", errors="replace").splitlines()):
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and "exit_code" in report:
            return report
    return None


def _left_behind(report: dict | None) -> list[dict]:
    if not report:
        return []
    events = []
    processes = [p.get("command", "?") for p in report.get("lingering", [])]
    if processes:
        events.append({"kind": integrity.ESCAPE, "cell": None, "detail": "left processes "
                       "running after its run (the grader killed them): " + "; ".join(processes)})
    for where, key in (("its home folder", "home_files"), ("the temporary folder", "tmp_files")):
        if report.get(key):
            events.append({"kind": integrity.ESCAPE, "cell": None, "detail": f"wrote into "
                           f"{where} (thrown away): " + ", ".join(map(str, report[key][:5]))})
    return events


def _audit_events(path: Path, restored: Restored) -> list[dict]:
    """Escape findings from the kernel's audit log (see :mod:`ganlab.grading.audit`)."""
    if not path.is_file():
        return []
    events, seen = [], set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:500]:
        try:
            event = json.loads(line)
            execution = event.get("execution")
            detail = str(event.get("detail", ""))[:300]
        except (ValueError, AttributeError):
            continue
        # execution count k ran the k-th code cell; the first is the grader's audit cell
        index = execution - 2 if isinstance(execution, int) else None
        cell = restored.code_cells[index] if index is not None and \
            0 <= index < len(restored.code_cells) else None
        key = (cell, detail)
        if key not in seen:
            seen.add(key)
            events.append({"kind": integrity.ESCAPE, "cell": cell, "detail": detail})
    return events[:50]


def _start_judge(assignment: Assignment, records: Path, folder: Path, *, seed: int,
                 env: dict[str, str], timeout: float) -> subprocess.Popen:
    """Start :mod:`ganlab.grading.judge` in a process of its own, outside the sandbox: it
    prepares while the notebook runs and decides once ``folder/judge-ready`` exists."""
    request = folder / "judge-request.json"
    request.write_text(json.dumps({
        "source": str(assignment.path), "records": str(records), "seed": seed,
        "output": str(folder / "judge-verdicts.json"), "ready": str(folder / "judge-ready"),
        "timeout": timeout}), encoding="utf-8")
    judge_env = {k: v for k, v in env.items() if k not in (evidence.RECORDS_ENV, "OMP_NUM_THREADS")}
    judge_env["OMP_NUM_THREADS"] = "1"  # it replays small checks while the notebook runs
    return subprocess.Popen([sys.executable, "-m", "ganlab.grading.judge", str(request)],
                            env=judge_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _judge_result(process: subprocess.Popen, folder: Path, *,
                  timeout: float) -> tuple[dict[str, dict], str | None]:
    """The verdicts the judge wrote (``{}`` and why, when it did not)."""
    try:
        process.wait(timeout=timeout)
        result = json.loads((folder / "judge-verdicts.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        process.kill()
        return {}, f"the judge failed: {type(error).__name__}: {error}"
    return result.get("verdicts") or {}, result.get("error")


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
    try:
        os.killpg(process.pid, 9)
    except OSError:
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


def student_cells(assignment: Assignment, restored: Restored) -> list[tuple[str, str]]:
    """The code cells the student wrote or changed: all but checks and untouched given cells."""
    cells = []
    for cell in restored.nb.cells:
        if cell.cell_type != "code" or cell.id in restored.checks:
            continue
        given = assignment.given.get(cell.id)
        if given is not None and _normalise(given) == _normalise(cell.source):
            continue
        cells.append((cell.id, cell.source))
    return cells


def grade_submission(path: str | os.PathLike, sources: list[Assignment], *,
                     cell_timeout: float = DEFAULT_CELL_TIMEOUT,
                     notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT,
                     env: dict[str, str] | None = None, seed: int = 0,
                     memory_limit: int = sandbox.DEFAULT_MEMORY_LIMIT,
                     use_sandbox: bool | None = None) -> dict:
    """Grade one submission; never raises for a problem of the submission (see ``error``).

    ``use_sandbox`` defaults to whether bubblewrap works here.
    """
    start = time.monotonic()
    if use_sandbox is None:
        use_sandbox = sandbox.available()
    entry = {"path": str(path), "source": None, "status": "error", "error": None, "score": 0,
             "max_score": 0, "tampered": [], "integrity": [], "checks": [], "manual": [],
             "cell_errors": [], "seconds": 0.0}
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
        findings = integrity.scan(student_cells(assignment, restored), assignment.answers)
        run = run_notebook(restored, assignment, cell_timeout=cell_timeout,
                           notebook_timeout=notebook_timeout,
                           env=env if env is not None else grading_env(), seed=seed,
                           memory_limit=memory_limit, use_sandbox=use_sandbox)
    except Exception as error:  # whatever the submission holds, the other ones get graded
        expected = (ValueError, RuntimeError, OSError, subprocess.SubprocessError)
        entry["error"] = (str(error) if isinstance(error, expected) else
                          f"the grader failed on this notebook: {type(error).__name__}: {error}")
        entry["seconds"] = round(time.monotonic() - start, 1)
        return entry

    results = run.results
    check_ids = [c["id"] for c in assignment.checks]
    cell_order = [c.id for c in restored.nb.cells]
    check_cells = set(restored.checks.values())
    failed_cells = [(i, restored.code_cells[i], r.message) for i, r in enumerate(results)
                    if not r.passed and i not in check_cells]
    for check in entry["checks"]:
        result = results[restored.checks[check["id"]]]
        verdict = run.verdicts.get(check["id"]) or {
            "passed": False, "ran": None, "claimed": None,
            "message": run.judge_error or "the grader could not judge this check"}
        if result.passed and not verdict["passed"] and (verdict.get("claimed") or
                                                          verdict.get("ran") is False):
            detail = ("its check cell ran without an error, but the checks in it never ran in "
                      "the kernel (were they replaced or skipped?)" if verdict.get("ran") is False
                      else "the check passed in the kernel but failed when the grader judged "
                      "the kernel's results itself (was the check or what it relies on "
                      f"changed?): {verdict['message']}")
            findings.append({"kind": integrity.PATCHED, "cell": check["id"], "detail": detail,
                             "judged": True})
    findings += run.events
    zeroed: dict[str, str] = {}
    for finding in findings:
        if finding.pop("judged", False):
            finding["checks"] = [finding["cell"]]
            continue
        finding["checks"] = integrity.affected_checks(finding, check_ids, cell_order,
                                                      assignment.answers)
        for check_id in finding["checks"]:
            zeroed.setdefault(check_id, f"0 points ({finding['kind']}): {finding['detail']} "
                                        f"(cell '{finding['cell'] or 'the run'}')")
    for finding in findings:
        finding.pop("answer", None)
    entry["integrity"] = findings

    for check in entry["checks"]:
        index = restored.checks[check["id"]]
        result = results[index]
        verdict = run.verdicts.get(check["id"]) or {
            "passed": False, "message": run.judge_error or "the grader could not judge this check"}
        passed = result.passed and bool(verdict["passed"]) and check["id"] not in zeroed
        if not result.passed:
            message = result.message
            earlier = [f for f in failed_cells if f[0] < index]
            if message and "is not defined" in message and earlier:  # say why it is not defined
                message += f" (cell '{earlier[-1][1]}' failed before it: {earlier[-1][2]})"
        elif not verdict["passed"]:
            message = verdict["message"]
        else:
            message = zeroed.get(check["id"])
        check.update(passed=passed, message=message,
                     points=check["max_points"] if passed else 0,
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


def new_seed() -> int:
    """A seed for the hidden inputs of one grading run, unknown in advance."""
    return secrets.randbelow(2**31)


def grade(paths: list[str | os.PathLike], source_dir: str | os.PathLike = "assignments/source", *,
          cell_timeout: float = DEFAULT_CELL_TIMEOUT,
          notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT, jobs: int = 1,
          on_result=None, seed: int | None = None,
          memory_limit: int = sandbox.DEFAULT_MEMORY_LIMIT,
          require_sandbox: bool = False, use_sandbox: bool | None = None) -> list[dict]:
    """Grade ``paths`` (``jobs`` at a time); the entries in the order of ``paths``.

    ``on_result(entries, entry)`` is called after each submission with the entries so far
    (``None`` for those not graded yet) and the new one. ``seed`` (random by default) draws
    the checks' inputs. Without bubblewrap the submissions run unisolated, with a warning
    on stderr, unless ``require_sandbox``, which raises a UsageError instead. Raises
    UsageError before grading anything.
    """
    if use_sandbox is None:
        use_sandbox = sandbox.available()
    if not use_sandbox:
        if require_sandbox:
            raise UsageError("--require-sandbox: bubblewrap is not available here (Debian: "
                             "apt-get install bubblewrap), so submissions cannot be isolated")
        print("warning: no sandbox (bubblewrap is not available): submissions run with your "
              "permissions, network and files; the report says \"sandbox\": null",
              file=sys.stderr)
    if memory_limit is not None and memory_limit < 0:
        raise UsageError("--memory-limit must be a number of bytes >= 0 (0: no limit)")
    if seed is None:
        seed = new_seed()
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
                               notebook_timeout=notebook_timeout, env=env, seed=seed,
                               memory_limit=memory_limit, use_sandbox=use_sandbox): i
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


def report(entries: list[dict | None], *, cell_timeout: float, notebook_timeout: float,
           seed: int | None = None, sandbox_info: dict | None = None) -> dict:
    """The JSON report (see the module docstring); entries still ``None`` are left out."""
    from ganlab.runtime import fast_mode

    done = [e for e in entries if e is not None]
    return {"complete": len(done) == len(entries), "fast_mode": fast_mode(),
            "cell_timeout": float(cell_timeout), "notebook_timeout": float(notebook_timeout),
            "seed": seed, "sandbox": sandbox_info, "submissions": done}


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
                     "integrity", "error"])
    for entry in entries:
        points = {c["id"]: c["points"] for c in entry["checks"]}
        writer.writerow([entry["path"], entry["source"] or "", entry["status"], entry["score"],
                         entry["max_score"], *[points.get(i, "") for i in check_ids],
                         ";".join(entry["tampered"]), integrity_text(entry),
                         entry["error"] or ""])
    return out.getvalue()


def integrity_text(entry: dict) -> str:
    """The integrity findings of a submission on one line: ``kind (cell): detail; ...``."""
    return "; ".join(f"{f['kind']} ({f['cell'] or 'run'}): {f['detail']}"
                     for f in entry.get("integrity", []))


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
    if entry.get("integrity"):
        lines += ["**What the grader noticed** (your instructor sees this too):", ""]
        for finding in entry["integrity"]:
            costs = (f" Checks scored 0 for it: {', '.join(f'`{c}`' for c in finding['checks'])}."
                     if finding.get("checks") else "")
            lines.append(f"- {finding['kind']} in cell `{finding['cell'] or '(the run)'}`: "
                         f"{_cell_text(finding['detail'])}.{costs}")
        lines.append("")
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
                  cell_timeout: float, notebook_timeout: float, seed: int | None = None,
                  sandbox_info: dict | None = None, gradescope_dir=None,
                  canvas_path=None) -> None:
    """Write the JSON report, and with all entries done the CSV, the feedback files and
    the Gradescope and Canvas exports."""
    write_json(json_path, report(entries, cell_timeout=cell_timeout,
                                 notebook_timeout=notebook_timeout, seed=seed,
                                 sandbox_info=sandbox_info))
    if any(e is None for e in entries):
        return
    if csv_path:
        atomic_write_text(csv_path, csv_text(entries))
    if feedback_dir:
        for entry, name in zip(entries, feedback_names(entries), strict=True):
            atomic_write_text(Path(feedback_dir) / name, feedback_text(entry))
    if gradescope_dir:
        for entry, name in zip(entries, feedback_names(entries), strict=True):
            write_json(Path(gradescope_dir) / name.removesuffix(".md") / "results.json",
                       gradescope_results(entry))
    if canvas_path:
        atomic_write_text(canvas_path, canvas_csv(entries))


def gradescope_results(entry: dict) -> dict:
    """A Gradescope ``results.json`` for one submission: one test per check, visible."""
    tests = []
    for check in entry["checks"]:
        output = "passed" if check["passed"] else (check["message"] or "failed")
        tests.append({"name": check["id"], "score": check["points"],
                      "max_score": check["max_points"], "output": output,
                      "visibility": "visible"})
    summary = [f"Automatic checks: {entry['score']} / {entry['max_score']}."]
    if entry["error"]:
        summary.append(f"Your notebook could not be graded: {entry['error']}")
    if entry.get("integrity"):
        summary.append("The grader noticed: " + integrity_text(entry))
    if entry["manual"]:
        summary.append("Written answers are graded by hand: " + ", ".join(
            m["id"] for m in entry["manual"]) + ".")
    return {"score": entry["score"], "execution_time": int(round(entry["seconds"])),
            "output": "\n".join(summary), "visibility": "visible", "tests": tests}


def student_name(path: str) -> str:
    """Who handed a submission in, read off its path: the folder ``alice/``, else the part
    of the file name around the assignment's name (``alice-01_autoencoders.ipynb``)."""
    p = Path(path)
    stem = re.sub(r"[0-9]{2}_[a-z_]+", "", p.stem).strip("-_ .")
    if stem:
        return stem
    return p.parent.name if p.parent.name not in ("", ".") else p.stem


def canvas_csv(entries: list[dict]) -> str:
    """A gradebook for Canvas's import: the columns Canvas expects, a column per assignment
    with the automatic score. Canvas matches rows by ID: fill those in (or match by name)."""
    assignments_seen = []
    for entry in entries:
        name = Path(entry["source"]).stem if entry["source"] else None
        if name and name not in assignments_seen:
            assignments_seen.append(name)
    rows: dict[str, dict[str, int]] = {}
    for entry in entries:
        who = student_name(entry["path"])
        if entry["source"]:
            rows.setdefault(who, {})[Path(entry["source"]).stem] = entry["score"]
        else:
            rows.setdefault(who, {})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                     *assignments_seen])
    writer.writerow(["Points Possible", "", "", "", "", *[
        next(e["max_score"] for e in entries if e["source"] and Path(e["source"]).stem == a)
        for a in assignments_seen]])
    for who, scores in rows.items():
        writer.writerow([who, "", "", "", "", *[scores.get(a, "") for a in assignments_seen]])
    return out.getvalue()


def summary_line(entry: dict) -> str:
    """One line for the terminal: path, score, status, tampering, error."""
    line = f"{entry['path']}: {entry['score']}/{entry['max_score']} ({entry['status']})"
    if entry["tampered"]:
        line += f", tampered: {', '.join(entry['tampered'])}"
    if entry.get("integrity"):
        line += f", flagged: {', '.join(sorted({f['kind'] for f in entry['integrity']}))}"
    if entry["error"]:
        line += f", error: {entry['error']}"
    return line
