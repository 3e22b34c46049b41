"""Releasing assignments: solutions out, hidden tests out, outputs cleared, ids kept; the
committed student notebooks are what ``python -m ganlab release`` writes. (That their check
cells say "not implemented yet" rather than failing in a cascade is tested in test_grade.py,
on the released notebooks the grader runs.)"""

from __future__ import annotations

import copy
import json

import nbformat
import pytest
from conftest import PROJECT
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ganlab import assignments
from ganlab.__main__ import main
from ganlab.assignments import graded_cells, release, release_notebook, render

SOURCE_DIR = PROJECT / "assignments" / "source"
STUDENT_DIR = PROJECT / "assignments"
LESSON_DIR = PROJECT / "notebooks"
# what ipykernel's kernel_info reply says of the language, and JupyterLab writes into a notebook
LANGUAGE_INFO_KEYS = {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter",
                      "pygments_lexer", "version"}

SOLUTION_CELL = """\
import torch

def f(x):
    y = 2 * x
    ### BEGIN SOLUTION
    return y + 1
    ### END SOLUTION

class Model:
    def g(self):
        if True:
            ### BEGIN SOLUTION
            return 3
            ### END SOLUTION

### BEGIN SOLUTION
answer = 42
### END SOLUTION"""

RELEASED_SOLUTION_CELL = """\
import torch

def f(x):
    y = 2 * x
    # YOUR CODE HERE
    raise NotImplementedError()

class Model:
    def g(self):
        if True:
            # YOUR CODE HERE
            raise NotImplementedError()

# YOUR CODE HERE
raise NotImplementedError()"""

CHECK_CELL = """\
assert f(1) == 3
print("f passes")

### BEGIN HIDDEN TESTS
assert f(2) == 5
### END HIDDEN TESTS"""


def check_meta(name, points):
    return {"ganlab": {"check": name, "points": points}, "tags": ["keep-me"]}


def make_source():
    solved = new_code_cell(SOLUTION_CELL, id="solve-f", execution_count=3,
                           outputs=[new_output("stream", name="stdout", text="hi\n")])
    check = new_code_cell(CHECK_CELL, id="f-check", metadata=check_meta("f-check", 2),
                          execution_count=4)
    manual = new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                               id="why", metadata={"ganlab": {"manual": "why", "points": 1}})
    plain = new_markdown_cell("# Title", id="title")
    return new_notebook(cells=[plain, solved, check, manual],
                        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                 "language": "python"},
                                  "language_info": {"name": "python", "version": "3.11.7",
                                                    "pygments_lexer": "ipython3"}})


def test_release_replaces_solutions_and_removes_hidden_tests():
    source = make_source()
    original = copy.deepcopy(source)
    student = release_notebook(source)
    assert source == original  # the source notebook is left alone
    title, solved, check, manual = student.cells
    assert solved.source == RELEASED_SOLUTION_CELL
    assert check.source == 'assert f(1) == 3\nprint("f passes")'
    assert manual.source == "Why?\n\nYOUR ANSWER HERE"  # kept: students write there
    assert title.source == "# Title"
    for cell in (solved, check):
        assert cell.outputs == [] and cell.execution_count is None
    assert [c.id for c in student.cells] == ["title", "solve-f", "f-check", "why"]
    assert [c.metadata for c in student.cells] == [c.metadata for c in original.cells]
    assert student.metadata == original.metadata
    compile(solved.source, "released", "exec")  # still valid Python


def test_release_is_idempotent_and_stable():
    once = release_notebook(make_source())
    assert release_notebook(once) == once
    assert render(once) == render(release_notebook(make_source()))
    assert render(once).endswith("}\n")


def test_graded_cells():
    assert graded_cells(make_source()) == [{"id": "f-check", "kind": "check", "points": 2},
                                           {"id": "why", "kind": "manual", "points": 1}]


def one_cell(source, *, check=False, cell_id="the-cell"):
    meta = check_meta(cell_id, 1) if check else {}
    return new_notebook(cells=[new_code_cell(source, id=cell_id, metadata=meta)])


@pytest.mark.parametrize("source, check, message", [
    ("### BEGIN SOLUTION\nx = 1", False, "'### BEGIN SOLUTION' is never closed"),
    ("x = 1\n### END SOLUTION", False, "'### END SOLUTION' without a matching"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", False, "inside the block opened"),
    ("### BEGIN HIDDEN TESTS\nx = 1\n### END SOLUTION", True, "without a matching"),
    ("### BEGIN HIDDEN TESTS\nassert True", True, "'### BEGIN HIDDEN TESTS' is never closed"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", True, "a check cell cannot hold a solution"),
    ("### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS", False,
     "hidden tests belong in a check cell"),
])
def test_bad_markers_raise_naming_the_cell(source, check, message):
    with pytest.raises(ValueError, match="cell 'the-cell'") as info:
        release_notebook(one_cell(source, check=check))
    assert message in str(info.value)


def test_bad_metadata_and_missing_ids_raise():
    nb = one_cell("x = 1")
    nb.cells[0].metadata = {"ganlab": {"check": "c", "points": -1}}
    with pytest.raises(ValueError, match="cell 'the-cell': ganlab.points must be an int >= 0"):
        release_notebook(nb)
    nb = one_cell("x = 1")
    nb.cells.append(new_code_cell("y = 2", id="other"))
    for cell in nb.cells:
        cell.metadata = {"ganlab": {"check": "same", "points": 1}}
    with pytest.raises(ValueError, match="repeated: \\['same'\\]"):
        release_notebook(nb)
    nb = one_cell("x = 1")
    del nb.cells[0]["id"]
    with pytest.raises(ValueError, match="cell #0 has no id"):
        release_notebook(nb)


def test_release_writes_atomically_and_idempotently(tmp_path, capsys):
    src, out = tmp_path / "source", tmp_path / "student"
    src.mkdir()
    nbformat.write(make_source(), src / "07_demo.ipynb")
    nbformat.write(make_source(), src / "notes.ipynb")  # not an assignment: ignored
    assert main(["release", "--check", "--source", str(src), "--out", str(out)]) == 1
    assert f"out of date: {out / '07_demo.ipynb'}" in capsys.readouterr().out
    assert not out.exists()  # --check writes nothing

    assert release(src, out) == [out / "07_demo.ipynb"]
    first = (out / "07_demo.ipynb").read_bytes()
    mtime = (out / "07_demo.ipynb").stat().st_mtime_ns
    assert main(["release", "--source", str(src), "--out", str(out)]) == 0
    assert (out / "07_demo.ipynb").read_bytes() == first
    assert (out / "07_demo.ipynb").stat().st_mtime_ns == mtime  # unchanged file left alone
    assert sorted(p.name for p in out.iterdir()) == ["07_demo.ipynb"]  # no temporary files
    assert main(["release", "--check", "--source", str(src), "--out", str(out)]) == 0

    (out / "07_demo.ipynb").write_text("{}")  # a stale student notebook
    assert assignments.stale(src, out) == [out / "07_demo.ipynb"]
    assert main(["release", "--source", str(tmp_path / "missing")]) == 2
    assert "no source folder" in capsys.readouterr().err


def test_committed_student_notebooks_are_released():
    sources = assignments.source_notebooks(SOURCE_DIR)
    assert [p.name for p in sources] == sorted(p.name for p in sources) and sources
    assert main(["release", "--check", "--source", str(SOURCE_DIR), "--out", str(STUDENT_DIR)]) == 0
    for source in sources:
        nb = nbformat.read(source, as_version=4)
        assert all(c.get("id") for c in nb.cells)
        assert not any(c.get("outputs") for c in nb.cells), f"{source.name}: commit it without outputs"
        assert sum(g["points"] for g in graded_cells(nb)) == 10


def test_committed_notebooks_carry_the_kernels_language_info():
    """JupyterLab fills in ``metadata.language_info`` from the kernel when a notebook opens:
    a notebook committed with less is marked modified before the student touches it."""
    folders = (LESSON_DIR, SOURCE_DIR, STUDENT_DIR)
    paths = [path for folder in folders for path in sorted(folder.glob("[0-9]*.ipynb"))]
    assert all(any(p.parent == folder for p in paths) for folder in folders)
    infos = []
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        name = path.relative_to(PROJECT)
        assert nb["metadata"]["kernelspec"] == {"display_name": "Python 3 (ipykernel)",
                                                "language": "python", "name": "python3"}, name
        info = nb["metadata"].get("language_info", {})
        assert set(info) == LANGUAGE_INFO_KEYS, f"{name}: language_info has only {sorted(info)}"
        assert (info["name"], info["pygments_lexer"], info["codemirror_mode"]) == (
            "python", "ipython3", {"name": "ipython", "version": 3}), name
        assert not any(c.get("outputs") for c in nb["cells"]), f"{name}: commit it without outputs"
        infos.append(info)
    assert all(info == infos[0] for info in infos), "the notebooks disagree on language_info"
