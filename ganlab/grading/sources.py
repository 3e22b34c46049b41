"""The source notebooks: loading the instructor's assignments and matching a submission to one.

A stage of ``python -m ganlab grade``: see :mod:`ganlab.grade`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ganlab import assignments
from ganlab.grading import judge


class UsageError(Exception):
    """A mistake in the command line or the source notebooks: nothing is graded."""


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
