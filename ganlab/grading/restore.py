"""Restoring a submission: the source's check cells (hidden tests included) put back, tampering noted.

A stage of ``python -m ganlab grade``: see :mod:`ganlab.grade`.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from ganlab.grading.sources import Assignment

MESSAGE_LIMIT = 300                # characters kept of a failure's first line


_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


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
