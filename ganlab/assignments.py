"""Assignment notebooks: from the instructor's source to the student's version.

An instructor writes one notebook per unit in ``assignments/source/``, the single source
of truth. It holds the full solutions and is run under nbval like every lesson. Three
markings say what students must not see:

* in code cells, solutions sit between two lines ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` (at any indentation, several blocks per cell if needed);
* *check cells* carry the cell metadata ``{"ganlab": {"check": "<id>", "points": <int>}}``;
  they call the helpers of :mod:`ganlab.checks` and may end with hidden tests between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, used only for grading;
* markdown cells with ``{"ganlab": {"manual": "<id>", "points": <int>}}`` are written
  answers graded by hand; a model answer in them also goes between solution markers.

:func:`release` writes the student version of every source notebook to
``assignments/``: each solution block becomes ``# YOUR CODE HERE`` and
``raise NotImplementedError()`` at the block's indentation (``YOUR ANSWER HERE`` in
markdown), hidden tests disappear, outputs are cleared, and cell ids and metadata stay,
so a student's notebook can later be matched cell by cell with its source.
``python -m ganlab release`` runs it; ``--check`` only compares.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat

from ganlab.checkpoint import atomic_write_text

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = ("YOUR ANSWER HERE",)
PATTERN = "[0-9]*.ipynb"


def graded_cells(nb) -> list[dict]:
    """The graded cells of a notebook, in order: ``{"id", "kind", "points"}`` each.

    ``kind`` is ``"check"`` (a code cell run by the grader) or ``"manual"`` (a markdown
    answer graded by hand). Raises a ValueError naming the cell when the ``ganlab``
    metadata is malformed.
    """
    graded = []
    for index, cell in enumerate(nb.cells):
        info = cell.get("metadata", {}).get("ganlab")
        if info is None:
            continue
        where = _cell_name(cell, index)
        kinds = [k for k in ("check", "manual") if k in info]
        if len(kinds) != 1:
            raise ValueError(f"{where}: ganlab metadata needs exactly one of 'check' or "
                             f"'manual', got {dict(info)}")
        kind = kinds[0]
        expected_type = "code" if kind == "check" else "markdown"
        if cell.cell_type != expected_type:
            raise ValueError(f"{where}: a {kind!r} cell must be a {expected_type} cell, "
                             f"not {cell.cell_type}")
        name, points = info[kind], info.get("points")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: ganlab.{kind} must be a non-empty string id, got {name!r}")
        if not isinstance(points, int) or isinstance(points, bool) or points < 0:
            raise ValueError(f"{where}: ganlab.points must be an int >= 0, got {points!r}")
        graded.append({"id": name, "kind": kind, "points": points})
    names = [g["id"] for g in graded]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"graded cell ids must be unique; repeated: {duplicates}")
    return graded


def release_notebook(nb):
    """The student version of the instructor notebook ``nb`` (a new notebook; ``nb`` is unchanged).

    Solution blocks become stubs at their indentation, hidden-test blocks are removed,
    outputs and execution counts are cleared; cell ids and all metadata are kept.
    Raises a ValueError naming the cell on unbalanced or misplaced markers (a solution
    inside a check cell, hidden tests outside one) and on a cell without an id.
    """
    graded_cells(nb)  # validates the ganlab metadata
    out = copy.deepcopy(nb)
    for index, cell in enumerate(out.cells):
        if not cell.get("id"):
            raise ValueError(f"{_cell_name(cell, index)} has no id: give every cell a stable "
                             "id (nbformat 4.5), e.g. 'ae-encoder-check'")
        is_check = "check" in cell.get("metadata", {}).get("ganlab", {})
        stub = CODE_STUB if cell.cell_type == "code" else ANSWER_STUB
        cell.source = _release_source(cell.source, _cell_name(cell, index), stub, is_check)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def render(nb) -> str:
    """``nb`` as the exact text :func:`release` writes: nbformat's stable JSON and a newline."""
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as error:
        raise ValueError(f"the released notebook is not valid nbformat: {error.message}") from None
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def released_text(source: str | os.PathLike) -> str:
    """The text of the student version of the source notebook at ``source``."""
    try:
        nb = nbformat.read(source, as_version=4)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the notebook {source}: {error}") from None
    try:
        return render(release_notebook(nb))
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def source_notebooks(source_dir: str | os.PathLike = "assignments/source") -> list[Path]:
    """The instructor notebooks ``[0-9]*.ipynb`` in ``source_dir``, sorted."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise FileNotFoundError(f"no source folder {source_dir}: instructor notebooks live in "
                                "assignments/source/ (pass --source to use another)")
    return sorted(source_dir.glob(PATTERN))


def release(source_dir: str | os.PathLike = "assignments/source",
            out_dir: str | os.PathLike = "assignments") -> list[Path]:
    """Write the student version of every source notebook to ``out_dir``; return their paths.

    Writes are atomic, and a file that already holds the right text is left alone, so
    running it twice changes nothing (the output is byte-identical).
    """
    written = []
    for source in source_notebooks(source_dir):
        target = Path(out_dir) / source.name
        text = released_text(source)
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            atomic_write_text(target, text)
        written.append(target)
    return written


def stale(source_dir: str | os.PathLike = "assignments/source",
          out_dir: str | os.PathLike = "assignments") -> list[Path]:
    """The student notebooks that are missing or differ from what :func:`release` would write."""
    outdated = []
    for source in source_notebooks(source_dir):
        target = Path(out_dir) / source.name
        if not target.is_file() or target.read_text(encoding="utf-8") != released_text(source):
            outdated.append(target)
    return outdated


def _cell_name(cell, index: int) -> str:
    """How errors name a cell: by its id, else by its position."""
    return f"cell {cell['id']!r}" if cell.get("id") else f"cell #{index}"


def _release_source(source: str, where: str, stub: tuple[str, ...], is_check: bool) -> str:
    """Replace solution blocks by ``stub`` and drop hidden-test blocks, line by line."""
    lines = source.split("\n")
    kept: list[str] = []
    removed = False
    open_block: tuple[str, int] | None = None  # (marker, line number) of the block we are in
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if open_block is not None:
                raise ValueError(f"{where}, line {number}: {marker!r} inside the block opened "
                                 f"by {open_block[0]!r} on line {open_block[1]}")
            if marker == BEGIN_SOLUTION and is_check:
                raise ValueError(f"{where}, line {number}: a check cell cannot hold a solution; "
                                 "put the solution in the cell before it")
            if marker == BEGIN_HIDDEN and not is_check:
                raise ValueError(f"{where}, line {number}: hidden tests belong in a check cell "
                                 "(cell metadata ganlab.check)")
            open_block = (marker, number)
            removed = True
            indent = line[:len(line) - len(line.lstrip())]
        elif marker in (END_SOLUTION, END_HIDDEN):
            begin = BEGIN_SOLUTION if marker == END_SOLUTION else BEGIN_HIDDEN
            if open_block is None or open_block[0] != begin:
                raise ValueError(f"{where}, line {number}: {marker!r} without a matching {begin!r}")
            if marker == END_SOLUTION:
                kept += [indent + s for s in stub]
            open_block = None
        elif open_block is None:
            kept.append(line)
    if open_block is not None:
        end = END_SOLUTION if open_block[0] == BEGIN_SOLUTION else END_HIDDEN
        raise ValueError(f"{where}, line {open_block[1]}: {open_block[0]!r} is never closed "
                         f"by {end!r}")
    text = "\n".join(kept)
    # a block removed at the end of a cell must not leave blank lines behind
    return text.rstrip() + ("\n" if source.endswith("\n") else "") if removed else text
