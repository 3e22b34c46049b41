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

import importlib.util
import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ganlab.grading import integrity, sandbox

# the stages of grading, each in ganlab.grading, are also this module's API (the CLI and tests)
from ganlab.grading.report import (  # noqa: F401
    canvas_csv,
    csv_text,
    feedback_names,
    feedback_text,
    gradescope_results,
    integrity_text,
    report,
    student_name,
    summary_line,
    write_json,
    write_reports,
)
from ganlab.grading.restore import (  # noqa: F401
    MESSAGE_LIMIT,
    Restored,
    manual_answers,
    read_submission,
    restore,
    student_cells,
)
from ganlab.grading.run import (  # noqa: F401
    AUDIT_CELL,
    DEFAULT_CELL_TIMEOUT,
    KERNEL_DIED,
    NOTEBOOK,
    PLUGIN,
    CellResult,
    Run,
    _interpret,
    failure_message,
    grading_env,
    grading_notebook,
    run_notebook,
)
from ganlab.grading.sources import Assignment, UsageError, load_assignments, match_assignment  # noqa: F401

EXIT_OK = 0
EXIT_USAGE = 2
DEFAULT_NOTEBOOK_TIMEOUT = 1800.0  # seconds per submission, all cells together


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
    unjudged = {"passed": False, "ran": None, "claimed": None,
                "message": run.judge_error or "the grader could not judge this check"}
    verdicts = {i: run.verdicts.get(i) or unjudged for i in check_ids}
    zeroed: dict[str, str] = {}
    for finding in findings + run.events:  # what the code tried costs the checks it reaches
        finding["checks"] = integrity.affected_checks(finding, check_ids, cell_order,
                                                      assignment.answers)
        finding.pop("answer", None)
        for check_id in finding["checks"]:
            zeroed.setdefault(check_id, f"0 points ({finding['kind']}): {finding['detail']} "
                                        f"(cell '{finding['cell'] or 'the run'}')")
    judged = []  # a check that passed in the kernel, but not in the judge or never ran there
    for check_id in check_ids:
        verdict = verdicts[check_id]
        if results[restored.checks[check_id]].passed and not verdict["passed"] and (
                verdict.get("claimed") or verdict.get("ran") is False):
            detail = ("its check cell ran without an error, but the checks in it never ran in "
                      "the kernel (were they replaced or skipped?)" if verdict.get("ran") is False
                      else "the check passed in the kernel but failed when the grader judged "
                      "the kernel's results itself (was the check or what it relies on "
                      f"changed?): {verdict['message']}")
            judged.append({"kind": integrity.PATCHED, "cell": check_id, "detail": detail,
                           "checks": [check_id]})
    entry["integrity"] = findings + judged + run.events

    for check in entry["checks"]:
        index = restored.checks[check["id"]]
        result = results[index]
        verdict = verdicts[check["id"]]
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
