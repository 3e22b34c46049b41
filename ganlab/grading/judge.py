"""The judge: every check decided in a process that never ran the submission's code.

**The property.** A check's verdict is computed here, by the check's own code in
:mod:`ganlab.checks` with this package's references, in a fresh process started by the
grader outside the sandbox. From the submission it takes only data: the records its
kernel wrote (:mod:`ganlab.grading.evidence`), read with ``torch.load(weights_only=True)``.
Each record answers the check's calls of student code: what they returned, raised and
changed, for inputs that must match the ones drawn here from the run's secret seed.
Whatever the submission patches in its kernel (the checks, ``torch.allclose``, builtins,
IPython's exception handling) happens in another process: it can change what the kernel
*says*, never how a check here judges it. To pass, the recorded results must be right
for inputs nobody could know in advance, which is what solving the task means. (What a
check only *observes* of a student's object, such as the layers its network ran, is the
kernel's word; no points rest on it alone.)

The thresholds and data that check cells pass (``MIN_MODES``, the test images, ...) come
from the instructor's source notebook: its cells without solutions and checks run here
first, and a check cell's names that are no such value (the student's functions and
classes) become :class:`~ganlab.grading.evidence.Student` stand-ins whose calls are
replayed.

Run by the grader as ``python -m ganlab.grading.judge REQUEST.json``; the request names
the source notebook, the records folder, the seed and the output file.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

CHECK_PREFIX = "check_"


def given_cells(nb) -> list:
    """The code cells of a source notebook that hold neither a solution nor a check."""
    from ganlab import assignments

    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "ganlab" in cell.get("metadata", {}):
            continue
        if assignments.BEGIN_SOLUTION in cell.source:
            continue
        cells.append(cell)
    return cells


def check_statements(source: str) -> list[ast.stmt]:
    """The top-level statements of a check cell that call ``checks.check_*``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for statement in tree.body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "checks" \
                    and node.func.attr.startswith(CHECK_PREFIX):
                found.append(statement)
                break
    return found


def _defined_in_notebook(value) -> bool:
    return (callable(value) and getattr(value, "__module__", None) == "__main__")


def prepare(source_path: str | os.PathLike):
    """The source notebook and the namespace its given cells leave (the trusted values)."""
    import matplotlib

    matplotlib.use("Agg")
    import nbformat

    import ganlab.checks  # noqa: F401  (imported before any record is read)

    nb = nbformat.read(source_path, as_version=4)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    for cell in given_cells(nb):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                exec(compile(cell.source, f"<given cell {cell.get('id')}>", "exec"), namespace)
            except Exception:  # a given cell that needs the student's code: not needed here
                pass
    return nb, namespace


def check_cells(nb) -> list[tuple[str, object]]:
    """``(check id, cell)`` of every check cell of a source notebook, in order."""
    from ganlab import assignments

    ids = [g["id"] for g in assignments.graded_cells(nb) if g["kind"] == "check"]
    cells = {c.metadata["ganlab"]["check"]: c for c in nb.cells
             if "check" in c.get("metadata", {}).get("ganlab", {})}
    return [(check_id, cells[check_id]) for check_id in ids]


def group_records(records: list[dict]) -> dict[str, list[dict]]:
    """The records by the check cell the kernel was in when it wrote them."""
    by_cell: dict[str, list[dict]] = {}
    for record in records:
        by_cell.setdefault(str(record.get("cell")), []).append(record)
    return by_cell


def judge_cell(check_id: str, cell, namespace: dict, records: list[dict]) -> dict:
    """The verdict on one check cell: its check statements replayed from ``records``.

    ``{"passed", "message", "ran", "claimed"}``: ``ran`` is False when a check call found
    no record; ``claimed`` says whether the kernel's own checks said they passed
    (``None`` without a record).
    """
    from ganlab.grading import evidence

    replayer = evidence.Replayer(records)
    local = dict(namespace)
    verdict = {"passed": True, "message": None, "ran": True, "claimed": True}
    for statement in check_statements(cell.source):
        for node in ast.walk(statement):  # the student's names become stand-ins
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id not in local and hasattr(builtins, node.id):
                    continue
                value = local.get(node.id)
                if value is None or _defined_in_notebook(value):
                    local[node.id] = evidence.Student(node.id)
        code = compile(ast.Module(body=[statement], type_ignores=[]),
                       f"<check cell {check_id}>", "exec")
        try:
            with evidence.replaying(replayer), \
                    contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                exec(code, local)
        except Exception as error:
            verdict["passed"] = False
            verdict["message"] = _message(error)
        finally:
            current = replayer.current
            if current is None:
                verdict["ran"], verdict["claimed"] = False, None
            elif not (current.get("claim") or {}).get("passed") and verdict["claimed"]:
                verdict["claimed"] = False
        if not verdict["passed"]:
            break
    return verdict


def judge(source_path: str | os.PathLike, records_dir: str | os.PathLike,
          prepared=None) -> dict[str, dict]:
    """``{check id: verdict}`` (see :func:`judge_cell`) for every check of the source."""
    from ganlab.grading import evidence

    nb, namespace = prepared if prepared is not None else prepare(source_path)
    by_cell = group_records(evidence.load_records(records_dir))
    return {check_id: judge_cell(check_id, cell, namespace, by_cell.get(cell.id, []))
            for check_id, cell in check_cells(nb)}


def judge_while_running(prepared, records_dir, ready: Path, timeout: float) -> dict[str, dict]:
    """:func:`judge`, started while the notebook still runs: a check cell is decided as
    soon as a record of a later check cell shows that the kernel has moved past it, the
    rest once ``ready`` exists (the grader makes it when the run has ended)."""
    from ganlab.grading import evidence

    nb, namespace = prepared
    cells = check_cells(nb)
    verdicts: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while True:
        done = ready.exists()  # read before the records: all of them are there then
        by_cell = group_records(evidence.load_records(records_dir))
        later = [i for i, (_, cell) in enumerate(cells) if cell.id in by_cell]
        reached = len(cells) if done else (max(later) if later else 0)
        for check_id, cell in cells[:reached]:
            if check_id not in verdicts:
                verdicts[check_id] = judge_cell(check_id, cell, namespace,
                                                by_cell.get(cell.id, []))
        if done:
            return verdicts
        if time.monotonic() > deadline:
            raise TimeoutError("the notebook's run did not finish in time")
        time.sleep(0.05)


def _message(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(error, AssertionError):
        return first or "AssertionError (a test failed without a message)"
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    request = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    from ganlab.grading import evidence

    os.environ[evidence.SEED_ENV] = str(request["seed"])
    os.environ.pop(evidence.RECORDS_ENV, None)
    try:
        prepared = prepare(request["source"])
        if request.get("ready"):  # the grader makes it once the kernel has finished
            verdicts = judge_while_running(prepared, request["records"], Path(request["ready"]),
                                           float(request.get("timeout", 3600)))
        else:
            verdicts = judge(request["source"], request["records"], prepared)
        result = {"verdicts": verdicts, "error": None}
    except Exception as error:  # the report says the judge failed; the checks then earn 0
        result = {"verdicts": {}, "error": f"{type(error).__name__}: {error}"}
    from ganlab.checkpoint import atomic_write_text

    atomic_write_text(request["output"], json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # skip tearing down torch: the verdicts are written


if __name__ == "__main__":
    raise SystemExit(main())
