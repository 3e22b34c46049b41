"""Grading submissions (``python -m ganlab grade``): check cells restored with their hidden
tests and tampering flagged, every notebook run under nbval in its own subprocess, each
check's points and first failure line reported; broken, hanging, exiting and crashing
submissions get a clear status and the grader carries on.

Most sample submissions are built here from a source notebook by explicit edits, so they
follow the source; ``tests/submissions/`` holds the raw ones (broken files). The slow
part is three ``grade`` calls, each grading several notebooks at once (``--jobs 2``), in
module-scoped fixtures; the tests then read their reports.
"""

from __future__ import annotations

import copy
import csv
import json
import threading

import nbformat
import pytest
from conftest import PROJECT
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ganlab import assignments, grade
from ganlab.__main__ import main
from ganlab.assignments import BEGIN_SOLUTION, END_SOLUTION, graded_cells, release_notebook

SOURCE_DIR = PROJECT / "assignments" / "source"
RAW = PROJECT / "tests" / "submissions"
SOURCES = sorted(SOURCE_DIR.glob("[0-9]*.ipynb"))
NOT_IMPLEMENTED = "is not implemented yet: fill in the cell marked YOUR CODE HERE"


# --- building sample submissions ----------------------------------------------------------


def solved(source):
    """The notebook of a student who wrote exactly the instructor's solutions."""
    student = release_notebook(source)
    for cell, original in zip(student.cells, source.cells, strict=True):
        if "ganlab" not in cell.metadata:  # solution cells, without the markers
            cell.source = "\n".join(line for line in original.source.split("\n")
                                    if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))
    return student


def cell(nb, cell_id):
    return next(c for c in nb.cells if c.id == cell_id)


def edit(nb, cell_id, old, new):
    """Replace ``old`` by ``new`` in cell ``cell_id``, which must hold ``old``."""
    target = cell(nb, cell_id)
    assert old in target.source, f"cell {cell_id} no longer holds {old!r}: update this sample"
    target.source = target.source.replace(old, new)
    return nb


def mini_source():
    """A tiny assignment (no torch), for the cases that do not depend on the notebook."""
    def task(name, body):
        return new_code_cell(f"def {name}(x):\n    {BEGIN_SOLUTION}\n    {body}\n    {END_SOLUTION}",
                             id=name)

    def check(name, points, test, hidden=""):
        if hidden:
            test += f"\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS"
        return new_code_cell(test, id=f"{name}-check",
                             metadata={"ganlab": {"check": f"{name}-check", "points": points}})

    return new_notebook(cells=[
        new_markdown_cell("# A tiny assignment", id="intro"),
        new_code_cell("import os, signal, sys, time", id="setup"),
        task("double", "return 2 * x"),
        check("double", 2, "assert double(2) == 4, 'double(2) must be 4: multiply by 2'",
              hidden="assert double(-1) == -2, 'double(-1) must be -2'"),
        task("square", "return x * x"),
        check("square", 1, "assert square(3) == 9, 'square(3) must be 9'"),
        new_markdown_cell(f"Why?\n\n{BEGIN_SOLUTION}\nBecause.\n{END_SOLUTION}", id="why",
                          metadata={"ganlab": {"manual": "why", "points": 2}}),
        task("inc", "return x + 1"),
        check("inc", 1, "assert inc(1) == 2, 'inc(1) must be 2'"),
        task("half", "return x / 2"),
        check("half", 1, "assert half(4) == 2, 'half(4) must be 2'"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def mini_assignment(tmp_path):
    folder = tmp_path / "mini-source"
    folder.mkdir(exist_ok=True)
    nbformat.write(mini_source(), folder / "01_mini.ipynb")
    return grade.load_assignments(folder)[0]


def unit01_samples():
    """Student notebooks of Unit 01: name -> notebook (built from the source by edits)."""
    source = nbformat.read(SOURCE_DIR / "01_autoencoders.ipynb", as_version=4)

    # partially correct: three typical mistakes, each caught by its check's hint
    mistakes = solved(source)
    edit(mistakes, "ae-model", "nn.Tanh()", "nn.Sigmoid()")  # images are in [-1, 1]
    edit(mistakes, "ae-loss", "(x_hat - x).pow(2).mean()", "(x_hat - x).pow(2).sum()")
    edit(mistakes, "ae-contractive", "create_graph=True", "retain_graph=True")

    # other correct answers, add_noise without its clamp, and tampered check cells
    tampered = solved(source)
    edit(tampered, "ae-loss", "return (x_hat - x).pow(2).mean()",
         "return nn.functional.mse_loss(x_hat, x)")
    edit(tampered, "ae-noise", "return (x + std * eps).clamp(-1.0, 1.0)", "return x + std * eps")
    edit(tampered, "ae-contractive",
         "    total = torch.zeros(x.shape[0])\n"
         "    for j in range(z.shape[1]):\n"
         "        (row,) = torch.autograd.grad(z[:, j].sum(), x, create_graph=True)\n"
         "        total = total + row.pow(2).flatten(1).sum(dim=1)\n"
         "    return total.mean()",
         "    rows = [torch.autograd.grad(z[:, j].sum(), x, create_graph=True)[0]\n"
         "            for j in range(z.shape[1])]\n"
         "    return torch.stack(rows, dim=1).pow(2).flatten(1).sum(dim=1).mean()")
    edit(tampered, "ae-training", "loss = reconstruction_loss(model(add_noise(x, noise_std)), x)",
         "noisy = add_noise(x, noise_std)\n    loss = reconstruction_loss(model(noisy), x)")
    cell(tampered, "ae-noise-check").source = "pass"                 # changed
    tampered.cells.remove(cell(tampered, "ae-loss-check"))           # deleted
    model_check = cell(tampered, "ae-model-check")                   # moved to the end
    tampered.cells.remove(model_check)
    tampered.cells.append(model_check)

    return {"mistakes": mistakes, "tampered": tampered}


# --- unit tests: matching, restoring, messages, reports -----------------------------------


def test_match_assignment_by_file_name(tmp_path):
    sources = [grade.Assignment(tmp_path / name, new_notebook(), [], [], {}, {}, {})
               for name in ("01_autoencoders.ipynb", "02_vae.ipynb", "02_vae_extra.ipynb")]
    assert grade.match_assignment("x/01_autoencoders.ipynb", sources) is sources[0]
    assert grade.match_assignment("alice-01_autoencoders (1).ipynb", sources) is sources[0]
    assert grade.match_assignment("bob_02_vae_extra.ipynb", sources) is sources[2]  # longest
    assert grade.match_assignment("02_vae.ipynb", sources) is sources[1]
    with pytest.raises(ValueError, match="cannot tell which assignment 'essay.ipynb' answers: "
                       "its file name must be or contain the name of a source notebook "
                       r"\(01_autoencoders.ipynb, 02_vae.ipynb, 02_vae_extra.ipynb\)"):
        grade.match_assignment("essay.ipynb", sources)


def check_sources(restored):
    return {name: restored.nb.cells[[c.id for c in restored.nb.cells].index(name)].source
            for name in restored.checks}


def test_restore_puts_hidden_tests_back_and_maps_cells(tmp_path):
    assignment = mini_assignment(tmp_path)
    for student in (release_notebook(assignment.nb), assignment.nb):  # released, or the source
        restored = grade.restore(assignment, student)
        assert restored.tampered == {}
        assert "assert double(-1) == -2" in check_sources(restored)["double-check"]
        assert [c.id for c in restored.nb.cells] == [c.id for c in assignment.nb.cells]
        # nbval's "Cell k" is the k-th code cell
        assert restored.checks == {"double-check": 2, "square-check": 4, "inc-check": 6,
                                   "half-check": 8}
        for name, index in restored.checks.items():
            assert restored.code_cells[index] == name
    assert grade.manual_answers(assignment, release_notebook(assignment.nb)) == [
        {"id": "why", "points": 2, "answer": "Why?\n\nYOUR ANSWER HERE", "answered": False}]


def test_restore_flags_and_repairs_tampering(tmp_path):
    assignment = mini_assignment(tmp_path)
    student = solved(assignment.nb)
    cell(student, "double-check").source = "pass"                    # changed
    student.cells.remove(cell(student, "square-check"))              # deleted
    inc_check = cell(student, "inc-check")                           # moved to the top
    student.cells.remove(inc_check)
    student.cells.insert(0, inc_check)
    cell(student, "half-check").cell_type = "markdown"               # turned into text
    student.cells.insert(4, new_code_cell("print(double(21))", id="my-try",  # the student's own
                                          metadata={"tags": ["raises-exception"]}))
    cell(student, "double").outputs = [nbformat.v4.new_output("stream", text="old output")]
    cell(student, "why").source = "Why?\n\nBecause doubling is linear."
    original = copy.deepcopy(student)

    restored = grade.restore(assignment, student)
    assert student == original  # the submission itself is left alone
    assert restored.tampered == {"double-check": "changed", "square-check": "deleted",
                                 "inc-check": "moved", "half-check": "changed"}
    # every check is back at its place, with its source text and hidden tests
    assert [c.id for c in restored.nb.cells] == [
        "intro", "setup", "double", "my-try", "double-check", "square", "square-check", "why",
        "inc", "inc-check", "half", "half-check"]
    for name, text in check_sources(restored).items():
        assert text == cell(assignment.nb, name).source
        assert restored.code_cells[restored.checks[name]] == name
    # outputs cleared, the student's own metadata dropped (no nbval tags), checks keep theirs
    assert all(c.get("outputs") in (None, []) for c in restored.nb.cells)
    assert cell(restored.nb, "my-try").metadata == {}
    assert cell(restored.nb, "half-check").metadata == cell(assignment.nb, "half-check").metadata
    assert grade.manual_answers(assignment, student)[0]["answered"] is True


def test_restore_finds_checks_by_metadata_in_notebooks_without_ids(tmp_path):
    assignment = mini_assignment(tmp_path)
    student = solved(assignment.nb)
    for index, c in enumerate(student.cells):
        c.id = f"saved-elsewhere-{index}"  # e.g. an old Jupyter that drops cell ids
    restored = grade.restore(assignment, student)
    assert restored.tampered == {}
    assert sorted(restored.checks) == sorted(c["id"] for c in assignment.checks)
    assert sum(c.id.endswith("-check") for c in restored.nb.cells) == 4  # none run twice


@pytest.mark.parametrize("name, message", [
    ("invalid-json-01_autoencoders.ipynb", "invalid JSON (Expecting ',' delimiter: line 6 column 45"),
    ("not-a-notebook-01_autoencoders.ipynb", "the file holds a JSON list, not a notebook with cells"),
])
def test_read_submission_rejects_broken_files(name, message):
    with pytest.raises(ValueError) as info:
        grade.read_submission(RAW / name)
    assert str(info.value).startswith(f"not a Jupyter notebook (.ipynb JSON): {message}")


NBVAL_FAILURE = (
    "#x1B[91mNotebook cell execution failed#x1B[0m\n#x1B[94mCell 3: Cell execution caused an "
    "exception\n\nInput:\n#x1B[0mchecks.check_reconstruction_loss(reconstruction_loss)\n\n"
    "#x1B[94mTraceback:#x1B[0m\n\n#x1B[31m-----------#x1B[39m\n#x1B[31mValueError#x1B[39m"
    "                 Traceback (most recent call last)\nCell In[1], line 1\n\n"
    "#x1B[31mValueError#x1B[39m: the cause\n\nThe above exception was the direct cause of the "
    "following exception:\n\n\x1b[31mAssertionError\x1b[39m          Traceback (most recent "
    "call last)\n----> 1 checks.check_reconstruction_loss(reconstruction_loss)\n\n"
    "\x1b[31mAssertionError\x1b[39m: use the mean, not the sum: average the squared errors\n"
    "KeyError: a detail line of the message, not a new exception\n")


CHECK_FAILURE = (  # a failing check of ganlab.checks, as the notebook shows it (no traceback)
    "#x1B[94mCell 3: Cell execution caused an exception\n\nInput:\n#x1B[0m"
    "checks.check_autoencoder(MyAutoencoder)\n\n#x1B[94mTraceback:#x1B[0m\n\n"
    "#x1B[1;31mCheck failed:#x1B[0m #x1B[1mthe decoder must end with tanh: images are in "
    "[-1, 1]#x1B[0m\nValueError: a detail line\n#x1B[2m(run %tb in a new cell to see the full "
    "traceback)#x1B[0m\n")


@pytest.mark.parametrize("text, message, event", [
    (NBVAL_FAILURE, "use the mean, not the sum: average the squared errors", None),
    (CHECK_FAILURE, "the decoder must end with tanh: images are in [-1, 1]", None),
    ("Cell 4: Cell execution caused an exception\nTraceback:\n---\nNameError    Traceback "
     "(most recent call last)\n\nNameError: name 'add_noise' is not defined\n",
     "NameError: name 'add_noise' is not defined", None),
    ("Cell 4: Cell execution caused an exception\nTraceback:\nAn exception has occurred, use "
     "%tb to see the full traceback.\n\nSystemExit: bye\n", "SystemExit: bye", None),
    ("Cell 2: Cell execution caused an exception\nTraceback:\n----> 3 assert f(2) == 5\n\n"
     "AssertionError: \n", "AssertionError (a test failed without a message)", None),
    ("Cell 4: Timeout of 7 seconds exceeded executing cell\nTraceback:\n\nKeyboardInterrupt: \n",
     "timed out after 7 s", "timed out"),
    ("Cell 4: Timeout of 7 seconds exceeded while executing cell. Failed to interrupt kernel in "
     "5 seconds, so failing without traceback.",
     "timed out after 7 s; the kernel could not be interrupted and was stopped", "timed out"),
    ("pytest plugin exception: GANLAB_KERNEL_DIED", "the kernel died while running this cell",
     "kernel died"),
    ("pytest plugin exception: Kernel dead on test start", "not run: the kernel died",
     "kernel dead"),
])
def test_failure_message_is_the_first_line_that_matters(text, message, event):
    assert grade.failure_message(text, cell_timeout=7) == (message, event)


def test_interpret_says_why_later_cells_did_not_run():
    died = "pytest plugin exception: Kernel dead on test start"
    raw = {0: (True, ""), 1: (False, "pytest plugin exception: GANLAB_KERNEL_DIED"),
           2: (False, died)}
    results = grade._interpret(raw, 3, stopped=False, cell_timeout=9, notebook_timeout=60)
    assert [(r.passed, r.message, r.event) for r in results] == [
        (True, None, None), (False, "the kernel died while running this cell", "kernel died"),
        (False, "not run: the kernel died", None)]
    results = grade._interpret({0: (True, "")}, 3, stopped=True, cell_timeout=9,
                               notebook_timeout=60)
    assert [r.message for r in results] == [
        None, "timed out: the notebook ran longer than 60 s in all",
        "not run: the notebook was stopped after 60 s"]


def fake_entry(path, score, checks, **extra):
    entry = {"path": path, "source": "src/01_mini.ipynb", "status": "graded", "error": None,
             "score": score, "max_score": 3, "tampered": [], "integrity": [], "manual": [],
             "cell_errors": [],
             "seconds": 1.0, "checks": [
                 {"id": name, "points": points, "max_points": top, "passed": points == top,
                  "message": None if points == top else "use | the mean", "tampered": None}
                 for name, points, top in checks]}
    entry.update(extra)
    return entry


def test_csv_and_feedback(tmp_path):
    entries = [fake_entry(str(tmp_path / "alice" / "01_mini.ipynb"), 3, [("a", 2, 2), ("b", 1, 1)]),
               fake_entry(str(tmp_path / "bob" / "01_mini.ipynb"), 2, [("a", 2, 2), ("b", 0, 1)],
                          tampered=["b"], cell_errors=[{"cell": "b-task", "message": "boom"}],
                          integrity=[{"kind": "patched", "cell": "mine", "checks": ["b"],
                                      "detail": "replaces torch.allclose"}])]
    entries[1]["checks"][1]["tampered"] = "changed"
    rows = list(csv.reader(grade.csv_text(entries).splitlines()))
    assert rows[0] == ["path", "source", "status", "score", "max_score", "a", "b", "tampered",
                       "integrity", "error"]
    assert rows[2][3:] == ["2", "3", "2", "0", "b", "patched (mine): replaces torch.allclose", ""]
    assert grade.feedback_names(entries) == ["alice__01_mini.md", "bob__01_mini.md"]
    text = grade.feedback_text(entries[1])
    assert "**2 / 3**" in text and "| `b` | 0 / 1 | use \\| the mean |" in text
    assert "`b` (changed)" in text and "- `b-task`: boom" in text
    assert "- patched in cell `mine`: replaces torch.allclose. Checks scored 0 for it: `b`." in text
    grade.write_reports(entries, json_path=tmp_path / "r.json", csv_path=tmp_path / "g.csv",
                        feedback_dir=tmp_path / "fb", cell_timeout=5, notebook_timeout=9,
                        seed=7, gradescope_dir=tmp_path / "gs", canvas_path=tmp_path / "c.csv")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["submissions"] == entries and report["seed"] == 7 and report["sandbox"] is None
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == grade.feedback_names(entries)
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # no temp files
        "c.csv", "fb", "g.csv", "gs", "r.json"]
    results = json.loads((tmp_path / "gs" / "bob__01_mini" / "results.json").read_text())
    assert results["score"] == 2 and results["visibility"] == "visible"
    assert [(t["name"], t["score"], t["max_score"]) for t in results["tests"]] == [
        ("a", 2, 2), ("b", 0, 1)]
    assert results["tests"][1]["output"] == "use | the mean"
    assert "replaces torch.allclose" in results["output"]
    canvas = list(csv.reader((tmp_path / "c.csv").read_text().splitlines()))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_mini"]
    assert canvas[1][0] == "Points Possible" and canvas[1][-1] == "3"
    assert [(row[0], row[-1]) for row in canvas[2:]] == [("alice", "3"), ("bob", "2")]


def test_usage_errors_exit_2_and_grade_nothing(tmp_path, capsys):
    report = tmp_path / "report.json"
    for argv, message in [
        (["grade", str(tmp_path / "missing.ipynb")], "no submission at"),
        (["grade", str(RAW), "--source", str(tmp_path / "nowhere")], "no source folder"),
        (["grade", str(RAW), "--jobs", "0"], "--jobs must be at least 1"),
        (["grade", str(tmp_path)], "no notebooks (.ipynb) in"),
    ]:
        assert main([*argv, "--json", str(report)]) == grade.EXIT_USAGE
        assert message in capsys.readouterr().err
    broken = tmp_path / "broken-source"
    broken.mkdir()
    nb = mini_source()
    cell(nb, "inc-check").metadata["ganlab"]["points"] = -1
    nbformat.write(nb, broken / "01_mini.ipynb")
    assert main(["grade", str(RAW), "--source", str(broken), "--json", str(report)]) == 2
    assert "ganlab.points must be an int >= 0" in capsys.readouterr().err
    assert not report.exists()
    with pytest.raises(SystemExit) as info:  # argparse: --json is required
        main(["grade", str(RAW)])
    assert info.value.code == 2


# --- grading runs ---------------------------------------------------------------------------


def run_grade(args, env):
    """``python -m ganlab grade ARGS`` in this process (the notebooks run in subprocesses)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return main(["grade", *map(str, args)])


def by_name(report):
    return {entry["path"].rsplit("/", 1)[-1].split("-01_")[0]: entry
            for entry in report["submissions"]}


def checks_of(entry):
    return {c["id"]: (c["points"], c["message"]) for c in entry["checks"]}


@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    """Every source and released notebook, the Unit 01 samples and the raw files, graded
    in one call in fast mode: ``(exit code, report, folder)``."""
    folder = tmp_path_factory.mktemp("course")
    for sub in ("source", "released", "samples"):
        (folder / sub).mkdir()
    paths = []  # the longest runs first, so that the two jobs end together
    for source in SOURCES:
        paths.append(folder / "source" / source.name)
        paths[-1].write_bytes(source.read_bytes())
    for name, nb in unit01_samples().items():
        paths.append(folder / "samples" / f"{name}-01_autoencoders.ipynb")
        nbformat.write(nb, paths[-1])
    for source in SOURCES:
        paths.append(folder / "released" / source.name)  # as `python -m ganlab release` writes it
        paths[-1].write_text(assignments.released_text(source), encoding="utf-8")
    essay = folder / "samples" / "essay.ipynb"
    nbformat.write(new_notebook(), essay)
    paths += [RAW / "invalid-json-01_autoencoders.ipynb",
              RAW / "not-a-notebook-01_autoencoders.ipynb", essay]
    code = run_grade([*paths, "--source", SOURCE_DIR, "--json", folder / "report.json",
                      "--csv", folder / "grades.csv", "--feedback", folder / "feedback",
                      "--jobs", 2], {"GANLAB_FAST": "1"})
    return code, json.loads((folder / "report.json").read_text()), folder


@pytest.fixture(scope="module")
def mini_runs(tmp_path_factory):
    """Misbehaving notebooks of the tiny assignment, graded with 5 s per cell:
    ``{name: entry}``. The one printing forever runs alongside, in a call of its own with
    a 20 s limit per notebook."""
    folder = tmp_path_factory.mktemp("mini")
    (folder / "source").mkdir()
    source = mini_source()
    nbformat.write(source, folder / "source" / "01_mini.ipynb")

    misbehaving = solved(source)
    edit(misbehaving, "double", "    return 2 * x",
         "    print('x' * 5_000_000)  # megabytes of output\n    return 2 * x")
    edit(misbehaving, "square", "return x * x", "sys.exit('done')")
    edit(misbehaving, "inc", "return x + 1", "os._exit(1)")  # kills the kernel
    edit(misbehaving, "why", "YOUR ANSWER HERE", "Because doubling is linear.")
    loop = edit(solved(source), "square", "def square(x):",
                "while True:  # left over from debugging\n    pass\n\n\ndef square(x):")
    stubborn = edit(solved(source), "square", "return x * x",  # cannot be interrupted
                    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass")
    chatty = edit(solved(source), "double", "return 2 * x",
                  "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                  "    while True:\n        print('still here')\n        time.sleep(0.05)")
    for name, nb in [("misbehaving", misbehaving), ("loop", loop), ("stubborn", stubborn),
                     ("chatty", chatty)]:
        nbformat.write(nb, folder / f"{name}-01_mini.ipynb")

    def call(names, report, *limits):
        paths = [folder / f"{name}-01_mini.ipynb" for name in names]
        return run_grade([*paths, "--source", folder / "source", "--json", folder / report,
                          *limits], {})

    chatty_call = threading.Thread(target=call, args=(["chatty"], "chatty.json",
                                                      "--notebook-timeout", 20))
    chatty_call.start()
    assert call(["loop", "stubborn", "misbehaving"], "report.json", "--timeout", 5,
                "--jobs", 2) == 0
    chatty_call.join()
    entries = {}
    for report in ("report.json", "chatty.json"):
        entries.update(by_name(json.loads((folder / report).read_text())))
    return entries


def entry_for(report, path_end):
    return next(e for e in report["submissions"] if e["path"].endswith(path_end))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_source_notebook_gets_full_score(course_run, source):
    code, report, _ = course_run
    assert code == 0 and report["complete"] and report["fast_mode"]
    entry = entry_for(report, f"source/{source.name}")
    points = sum(g["points"] for g in graded_cells(nbformat.read(source, as_version=4))
                 if g["kind"] == "check")
    assert entry["source"] == str(source)
    assert (entry["status"], entry["error"], entry["tampered"]) == ("graded", None, [])
    assert entry["score"] == entry["max_score"] == points, checks_of(entry)
    assert entry["cell_errors"] == []


# the stub each check cell of a fresh student notebook names, in the order of the cells
RELEASED_STUBS = {
    "01_autoencoders": ["MyAutoencoder", "reconstruction_loss", "add_noise", "contractive_penalty",
                        "MyAutoencoder"],
    "02_vae_elbo": ["reparameterize", "gaussian_kl", "vae_loss", "elbo_estimate", "train_step"],
    "03_gan": ["discriminator_loss", "generator_loss", "discriminator_step", "generator_step",
               "gan_iteration", "train_my_gan"],
    "04_optimal_discriminator_jsd": ["optimal_discriminator", "kl_divergence", "js_divergence",
                                     "value_function", "smoothed_discriminator"],
    "05_dcgan": ["Generator", "Discriminator", "train_step", "Generator"],
    "06_metrics": ["frechet_distance", "inception_score", "nearest_neighbours", "fid", "copy_ratio"],
    "07_beyond_gan": ["critic_loss", "gradient_penalty", "critic_step", "generator_step", "critic_step"],
}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_released_notebook_says_not_implemented(course_run, source):
    """A fresh student notebook, as `python -m ganlab release` writes it (and as committed in
    assignments/, see test_assignments.py), run in a kernel: every check cell fails with one
    line naming the stub (ganlab.checks turns the stubs' NotImplementedError into it), not
    with a NameError cascade, and no other cell fails. Graded, it gets 0 and is not flagged."""
    _, report, _ = course_run
    entry = entry_for(report, f"released/{source.name}")
    assert (entry["status"], entry["score"], entry["tampered"]) == ("graded", 0, [])
    assert entry["max_score"] > 0
    assert [check["message"] for check in entry["checks"]] == [
        f"{name} {NOT_IMPLEMENTED}" for name in RELEASED_STUBS[source.stem]]
    assert entry["cell_errors"] == []


def test_typical_mistakes_get_the_hint_of_their_check(course_run):
    _, report, _ = course_run
    entry = by_name(report)["mistakes"]
    checks = checks_of(entry)
    assert checks["ae-model-check"] == (0, "the decoder must end with tanh: images are in [-1, 1]")
    assert checks["ae-loss-check"] == (0, "use the mean, not the sum: average the squared errors "
                                          "over pixels and images (reduction='mean')")
    assert checks["ae-noise-check"] == (1, None)
    assert checks["ae-contractive-check"] == (
        0, "contractive_penalty is not differentiable: pass create_graph=True to "
           "torch.autograd.grad so that training can backpropagate through the penalty")
    points, message = checks["ae-training-check"]
    assert points == 0 and message.startswith("the test reconstruction error ")
    assert (entry["score"], entry["max_score"], entry["status"]) == (1, 10, "graded")


def test_tampered_checks_are_restored_run_and_flagged(course_run):
    _, report, _ = course_run
    entry = by_name(report)["tampered"]
    assert entry["tampered"] == ["ae-model-check", "ae-loss-check", "ae-noise-check"]
    assert {c["id"]: c["tampered"] for c in entry["checks"]} == {
        "ae-model-check": "moved", "ae-loss-check": "deleted", "ae-noise-check": "changed",
        "ae-contractive-check": None, "ae-training-check": None}
    # the check edited to `pass` ran again and caught the missing clamp; the deleted and the
    # moved ones ran at their place and count
    assert checks_of(entry) == {
        "ae-model-check": (3, None), "ae-loss-check": (1, None),
        "ae-noise-check": (0, "clip the corrupted image to [-1, 1] (.clamp(-1, 1)): images "
                              "live in [-1, 1]"),
        "ae-contractive-check": (3, None), "ae-training-check": (2, None)}
    assert (entry["score"], entry["status"]) == (9, "graded")


def test_broken_files_get_an_error_and_zero(course_run):
    code, report, _ = course_run
    assert code == 0
    for name in ("invalid-json-01_autoencoders.ipynb", "not-a-notebook-01_autoencoders.ipynb"):
        entry = entry_for(report, name)
        assert (entry["status"], entry["score"], entry["max_score"]) == ("error", 0, 10)
        assert entry["error"].startswith("not a Jupyter notebook (.ipynb JSON): ")
        assert {c["message"] for c in entry["checks"]} == {"not run: the notebook could not be graded"}
    entry = entry_for(report, "essay.ipynb")
    assert (entry["status"], entry["source"], entry["checks"]) == ("error", None, [])
    assert entry["error"].startswith("cannot tell which assignment 'essay.ipynb' answers")


def test_course_run_writes_csv_and_feedback(course_run):
    _, report, folder = course_run
    rows = list(csv.DictReader((folder / "grades.csv").open()))
    assert [r["path"] for r in rows] == [e["path"] for e in report["submissions"]]
    tampered = next(r for r in rows if r["path"].endswith("tampered-01_autoencoders.ipynb"))
    assert (tampered["score"], tampered["ae-noise-check"], tampered["ae-model-check"]) == ("9", "0", "3")
    assert tampered["tampered"] == "ae-model-check;ae-loss-check;ae-noise-check"
    names = sorted(p.name for p in (folder / "feedback").iterdir())
    assert "source__01_autoencoders.md" in names and "released__01_autoencoders.md" in names
    feedback = (folder / "feedback" / "mistakes-01_autoencoders.md").read_text()
    assert "**1 / 10**" in feedback and "use the mean, not the sum" in feedback
    assert len(list((folder / "feedback").iterdir())) == len(report["submissions"])


def test_exit_crash_and_huge_output(mini_runs):
    entry = mini_runs["misbehaving"]
    assert checks_of(entry) == {
        "double-check": (2, None),  # megabytes of output do not matter
        "square-check": (0, "SystemExit: done"),
        "inc-check": (0, "the kernel died while running this cell"),  # os._exit
        "half-check": (0, "not run: the kernel died")}
    assert (entry["score"], entry["max_score"], entry["status"]) == (2, 5, "kernel died")
    assert entry["manual"] == [{"id": "why", "points": 2, "answered": True,
                                "answer": "Why?\n\nBecause doubling is linear."}]


def test_endless_loop_times_out_and_others_are_graded(mini_runs):
    entry = mini_runs["loop"]
    assert entry["cell_errors"] == [{"cell": "square", "message": "timed out after 5 s"}]
    # the loop was interrupted before square was defined: its check fails and says why
    assert checks_of(entry) == {
        "double-check": (2, None),
        "square-check": (0, "NameError: name 'square' is not defined (cell 'square' failed "
                            "before it: timed out after 5 s)"),
        "inc-check": (1, None), "half-check": (1, None)}
    assert (entry["score"], entry["status"], entry["tampered"]) == (4, "timed out", [])


def test_uninterruptible_loop_stops_the_kernel(mini_runs):
    entry = mini_runs["stubborn"]
    stopped = "not run: the kernel was stopped after an earlier cell timed out"
    assert checks_of(entry) == {
        "double-check": (2, None),
        "square-check": (0, "timed out after 5 s; the kernel could not be interrupted and "
                            "was stopped"),
        "inc-check": (0, stopped), "half-check": (0, stopped)}
    assert entry["status"] == "timed out"


def test_endless_output_hits_the_notebook_limit(mini_runs):
    entry = mini_runs["chatty"]
    assert (entry["status"], entry["score"], entry["error"]) == ("timed out", 0, None)
    messages = [c["message"] for c in entry["checks"]]
    assert messages[-1] == "not run: the notebook was stopped after 20 s"
    everything = messages + [e["message"] for e in entry["cell_errors"]]
    # the cell running at the limit says so (normally double-check: the earlier ones are quick)
    assert everything.count("timed out: the notebook ran longer than 20 s in all") == 1
    assert entry["seconds"] < 20 + 15
