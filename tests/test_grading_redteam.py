"""Red team: hostile submissions of Assignment 03 must not buy points, nor reach outside.

Each hostile notebook is built from the released (blank) or the solved notebook the way
a student who wants points without the work would, graded in one batch with the real
grader (sandboxed where bubblewrap works, which CI requires), and compared with its
honest twin: its score must be no higher, and the report must name what it tried
(``integrity`` kinds). Isolation is tested with *oracles*: a hostile cell makes a task
correct only if it could reach something it must not (a server on the grader's
127.0.0.1, a file of the grader's ``/tmp``, the grader's environment, the instructor's
source notebook), so a point earned would show the escape.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid

import nbformat
import pytest
from conftest import IN_CI, PROJECT
from nbformat.v4 import new_code_cell
from test_grade import cell, edit, run_grade, solved

from ganlab.assignments import release_notebook
from ganlab.grading import sandbox

SOURCE_DIR = PROJECT / "assignments" / "source"
SOURCE = SOURCE_DIR / "03_gan.ipynb"
TOKEN = uuid.uuid4().hex[:12]
SLEEP = f"{7000 + int(TOKEN[:3], 16)}.5"   # a detached process the hostile cell starts
CORRECT_LOSS = ("def discriminator_loss(real_logits, fake_logits):\n"
                "    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()\n")


def blank():
    return release_notebook(nbformat.read(SOURCE, as_version=4))


def honest():
    return solved(nbformat.read(SOURCE, as_version=4))


def extra(nb, source, after="imports", cell_id=None):
    """``nb`` with a new code cell holding ``source`` after the cell ``after``."""
    index = [c.id for c in nb.cells].index(after) + 1
    nb.cells.insert(index, new_code_cell(source, id=cell_id or f"extra-{index}-{len(nb.cells)}"))
    return nb


def wrong_answers(nb):
    """A typical mistake in task 2: the non-saturating loss with its sign flipped. Tasks 1
    and 3 stay right (4 points); the generator's step, the iteration and the run use it."""
    edit(nb, "gan-gloss", "return F.softplus(-fake_logits).mean()",
         "return -F.softplus(-fake_logits).mean()")
    return nb


class Server:
    """A TCP server on the grader's loopback that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def hostile_notebooks(server_port: int, secret_file: str, pwned_file: str) -> dict:
    """``{name: (notebook, honest twin's name)}``."""
    custom_exc = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"
    noop_checks = ("import ganlab.checks\n"
                   "for name in dir(ganlab.checks):\n"
                   "    if name.startswith('check_'):\n"
                   "        setattr(ganlab.checks, name, lambda *a, **k: (None, {}))")
    patched_compare = ("import math\nimport torch\n"
                       "torch.allclose = lambda *a, **k: True\n"
                       "torch.equal = lambda *a, **k: True\n"
                       "math.isclose = lambda *a, **k: True")
    delegate = edit(edit(edit(edit(edit(blank(), "gan-dloss", "    # YOUR CODE HERE\n    raise NotImplementedError()",
                                        "    from ganlab.losses import discriminator_loss as reference\n"
                                        "    return reference(real_logits, fake_logits)"),
                                   "gan-gloss", "    # YOUR CODE HERE\n    raise NotImplementedError()",
                                   "    import ganlab\n    return ganlab.losses.generator_loss(fake_logits, kind)"),
                              "gan-dstep", "    # YOUR CODE HERE\n    raise NotImplementedError()",
                              "    import ganlab.gan as g\n"
                              "    return getattr(g, 'discriminator_step')(G, D, optimizer, x_real, z)['d_loss']"),
                         "gan-gstep", "    # YOUR CODE HERE\n    raise NotImplementedError()",
                         "    from ganlab import checks as c\n"
                         "    return c.reference_generator_step(G, D, optimizer, z, kind)['g_loss']"),
                    "gan-iteration", "    # YOUR CODE HERE\n    raise NotImplementedError()",
                    "    import ganlab.gan as g\n    step = getattr(g, 'discriminator' + '_step')\n"
                    "    raise NotImplementedError()")
    steal_source = (
        "import json, pathlib\n"
        f"path = pathlib.Path({str(SOURCE)!r})\n"
        "for c in json.loads(path.read_text())['cells']:\n"
        "    if c['cell_type'] == 'code' and 'ganlab' not in c.get('metadata', {}):\n"
        "        exec(''.join(c['source']))")
    steal_via_package = (
        "import ganlab, json, pathlib\n"
        "root = pathlib.Path(ganlab.__file__).resolve().parents[1]\n"
        "for c in json.loads((root / 'assignments' / 'source' / '03_gan.ipynb').read_text())['cells']:\n"
        "    if c['cell_type'] == 'code' and 'ganlab' not in c.get('metadata', {}):\n"
        "        exec(''.join(c['source']))")
    escape = (
        "import os, pathlib, socket, subprocess\n"
        f"for folder in (pathlib.Path.home(), pathlib.Path('/tmp'), pathlib.Path('/var/tmp')):\n"
        f"    try:\n        (folder / 'redteam-{TOKEN}').write_text('was here')\n"
        "    except OSError:\n        pass\n"
        f"subprocess.Popen(['sleep', {SLEEP!r}], start_new_session=True)\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {server_port}), timeout=2).close()\n"
        "except OSError:\n    pass")
    net_oracle = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {server_port}), timeout=2).close()\n"
        + "".join("    " + line + "\n" for line in CORRECT_LOSS.splitlines()) +
        "except OSError:\n    pass")
    file_oracle = (f"import os\nif os.path.exists({secret_file!r}):\n"
                   + "".join("    " + line + "\n" for line in CORRECT_LOSS.splitlines()))
    env_oracle = ("import os\nif os.environ.get('GANLAB_REDTEAM_SECRET') == 'open sesame':\n"
                  + "".join("    " + line + "\n" for line in CORRECT_LOSS.splitlines()))
    forged_records = (
        "import os, torch\n"
        "folder = os.environ.get('GANLAB_GRADING_RECORDS', '.')\n"
        "for i, cell in enumerate(['gan-dloss-check', 'gan-gloss-check', 'gan-dstep-check']):\n"
        "    record = {'version': 1, 'check': 'check_discriminator_loss', 'seed': 0, 'cell': cell,\n"
        "              'claim': {'passed': True, 'message': None},\n"
        "              'entries': [{'kind': 'call', 'description': 'x', 'sketch': None,\n"
        "                           'outcome': 'returned', 'result': 1.0, 'effects': []}]}\n"
        "    torch.save(record, os.path.join(folder, f'0-{i:05d}.pt'))\n"
        "class Payload:\n"
        "    def __reduce__(self):\n"
        f"        return (os.system, ('touch {pwned_file}',))\n"
        "torch.save({'entries': [Payload()]}, os.path.join(folder, '0-99999.pt'))")
    fake_checks = ("import types\n"
                   "checks = types.SimpleNamespace(**{name: (lambda *a, **k: (None, {'modes_covered': 2, "
                   "'high_quality_fraction': 1.0})) for name in ['check_discriminator_loss', "
                   "'check_generator_loss', 'check_discriminator_step', 'check_generator_step', "
                   "'check_gan_iteration', 'check_trained_gan']})")
    grading_machinery = ("import ganlab.grading.evidence as e\n"
                         "e.intercept = lambda description, fn, args, kwargs, run: None")
    helper_and_plot = honest()
    edit(helper_and_plot, "gan-dloss", "    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()",
         "    return bce_from_logits(real_logits, 1) + bce_from_logits(fake_logits, 0)")
    extra(helper_and_plot, "def bce_from_logits(logits, label):\n"
                           "    # my own helper: the mean binary cross-entropy for one label\n"
                           "    return F.softplus(-logits).mean() if label == 1 else F.softplus(logits).mean()",
          cell_id="my-helper")
    extra(helper_and_plot, "plt.figure(figsize=(3, 2))\nplt.plot([1, 2, 3])\nplt.title('my own plot')\nplt.show()",
          after="gan-training-check", cell_id="my-plot")
    warns = edit(honest(), "gan-dloss", "    return F.softplus",
                 "    import warnings\n    warnings.warn('a PyTorch-style warning', UserWarning)\n"
                 "    return F.softplus")
    return {
        "honest": (honest(), "honest"),
        "blank": (blank(), "blank"),
        "wrong": (wrong_answers(honest()), "wrong"),
        "custom-exc": (extra(blank(), custom_exc), "blank"),
        "custom-exc-alias": (extra(blank(), "shell = get_ipython()\n"
                                   "shell.set_custom_exc((Exception,), lambda *a, **k: None)"), "blank"),
        "noop-checks": (extra(blank(), noop_checks), "blank"),
        "fake-checks": (extra(blank(), fake_checks, after="gan-dloss"), "blank"),
        "patched-compare": (extra(wrong_answers(honest()), patched_compare), "wrong"),
        "patched-builtins": (extra(wrong_answers(honest()), "import builtins\n"
                                   "builtins.isinstance = lambda *a: True\nbuiltins.all = lambda *a: True"), "wrong"),
        "grading-machinery": (extra(blank(), grading_machinery), "blank"),
        "delegate": (delegate, "blank"),
        "exec-obfuscated": (extra(blank(), "exec('from ganlab.losses import ' + 'discriminator_loss')",
                                  after="gan-dloss"), "blank"),
        "steal-source": (extra(blank(), steal_source, after="gan-iteration"), "blank"),
        "steal-via-package": (extra(blank(), steal_via_package, after="gan-iteration"), "blank"),
        "forged-records": (extra(blank(), forged_records), "blank"),
        "escape": (extra(honest(), escape), "honest"),
        "net-oracle": (extra(blank(), net_oracle, after="gan-dloss"), "blank"),
        "file-oracle": (extra(blank(), file_oracle, after="gan-dloss"), "blank"),
        "env-oracle": (extra(blank(), env_oracle, after="gan-dloss"), "blank"),
        "memory-hog": (extra(honest(), "hog = bytearray(64 * 2**30)"), "honest"),
        "helper-and-plot": (helper_and_plot, "honest"),
        "warning": (warns, "honest"),
    }


@pytest.fixture(scope="module")
def redteam(tmp_path_factory):
    """Every hostile notebook and its twins, graded in one call: ``(report, names, files)``."""
    if IN_CI and not sandbox.available():
        pytest.fail("CI must run the red-team suite in the sandbox: install bubblewrap")
    folder = tmp_path_factory.mktemp("redteam")
    secret_file = str(tmp_path_factory.mktemp("grader-only") / f"secret-{TOKEN}")
    open(secret_file, "w").close()
    pwned_file = f"/tmp/pwned-{TOKEN}"
    server = Server()
    try:
        notebooks = hostile_notebooks(server.port, secret_file, pwned_file)
        paths = []
        for name, (nb, _) in notebooks.items():
            paths.append(folder / f"{name}-03_gan.ipynb")
            nbformat.write(nb, paths[-1])
        code = run_grade([*paths, "--source", SOURCE_DIR, "--json", folder / "report.json",
                          "--feedback", folder / "feedback", "--jobs", 2, "--timeout", 60],
                         {"GANLAB_FAST": "1", "GANLAB_REDTEAM_SECRET": "open sesame"})
    finally:
        server.close()
        for leftover in (os.path.expanduser(f"~/redteam-{TOKEN}"), f"/tmp/redteam-{TOKEN}",
                         f"/var/tmp/redteam-{TOKEN}"):
            if not sandbox.available() and os.path.exists(leftover):
                os.remove(leftover)
    assert code == 0
    report = json.loads((folder / "report.json").read_text())
    entries = {e["path"].rsplit("/", 1)[-1].removesuffix("-03_gan.ipynb"): e
               for e in report["submissions"]}
    return {"report": report, "entries": entries, "twins": {k: v[1] for k, v in notebooks.items()},
            "server": server, "pwned": pwned_file, "folder": folder}


def kinds(entry):
    return {f["kind"] for f in entry["integrity"]}


def test_twins_score_as_expected(redteam):
    entries = redteam["entries"]
    assert entries["honest"]["score"] == 10 and not entries["honest"]["integrity"]
    assert entries["blank"]["score"] == 0 and not entries["blank"]["integrity"]
    assert entries["wrong"]["score"] == 4, entries["wrong"]["checks"]
    assert redteam["report"]["sandbox"] == (sandbox.info(sandbox.DEFAULT_MEMORY_LIMIT)
                                            if sandbox.available() else None)
    assert isinstance(redteam["report"]["seed"], int)


EXPECTED_KINDS = {
    "custom-exc": {"patched"}, "custom-exc-alias": {"patched"}, "noop-checks": {"patched"},
    "fake-checks": {"patched"}, "patched-compare": {"patched"}, "patched-builtins": {"patched"},
    "grading-machinery": {"reference"}, "delegate": {"reference", "obfuscated"},
    "exec-obfuscated": {"obfuscated"}, "steal-source": {"instructor-files"},
    "steal-via-package": {"instructor-files"}, "forged-records": {"patched"}, "escape": {"escape"},
    "net-oracle": {"escape"}, "file-oracle": set(), "env-oracle": set(), "memory-hog": set(),
}


NEEDS_SANDBOX = {"net-oracle", "file-oracle"}  # without isolation these do reach out


@pytest.mark.parametrize("name", sorted(EXPECTED_KINDS))
def test_hostile_submission_scores_no_more_than_its_honest_twin(redteam, name):
    if name in NEEDS_SANDBOX and not sandbox.available():
        pytest.skip("bubblewrap is not available here (CI installs it)")
    entry, twin = redteam["entries"][name], redteam["entries"][redteam["twins"][name]]
    assert entry["score"] <= twin["score"], [(c["id"], c["points"], c["message"])
                                             for c in entry["checks"]]
    assert EXPECTED_KINDS[name] <= kinds(entry), entry["integrity"]


def test_patched_comparisons_cannot_pass_wrong_answers(redteam):
    checks = {c["id"]: c for c in redteam["entries"]["patched-compare"]["checks"]}
    assert checks["gan-gloss-check"]["points"] == 0
    assert redteam["entries"]["patched-compare"]["score"] == 0  # every check after the patch


def test_answers_taken_from_the_package_earn_zero_and_say_so(redteam):
    entry = redteam["entries"]["delegate"]
    assert entry["score"] == 0
    details = " ".join(f["detail"] for f in entry["integrity"])
    for name in ("ganlab.losses.discriminator_loss", "ganlab.losses.generator_loss",
                 "ganlab.gan.discriminator_step"):
        assert name in details
    assert "checks' internals" in details
    dloss = next(c for c in entry["checks"] if c["id"] == "gan-dloss-check")
    assert dloss["message"].startswith("0 points (reference): uses ganlab.losses.discriminator_loss")


def test_nothing_escapes_the_sandbox(redteam):
    if not sandbox.available():
        pytest.skip("bubblewrap is not available here (CI installs it)")
    entries = redteam["entries"]
    assert redteam["server"].accepted == 0  # no connection reached the grader's loopback
    assert entries["net-oracle"]["score"] == 0
    assert entries["file-oracle"]["score"] == 0   # the grader's /tmp is not visible
    assert entries["env-oracle"]["score"] == 0    # nor the grader's environment
    assert entries["steal-source"]["score"] == 0  # nor the instructor's notebooks
    assert entries["steal-via-package"]["score"] == 0
    for folder in (os.path.expanduser("~"), "/tmp", "/var/tmp"):
        assert not os.path.exists(os.path.join(folder, f"redteam-{TOKEN}"))
    import psutil

    assert not [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or []) == ["sleep", SLEEP]]
    escape = " ".join(f["detail"] for f in entries["escape"]["integrity"])
    assert "left processes running" in escape and "sleep" in escape
    assert "home folder" in escape and "temporary folder" in escape
    assert "connects to" in escape and "starts" in escape
    assert entries["escape"]["score"] == 10  # its answers are its own: the escape is reported


def test_forged_records_and_pickles_do_nothing(redteam):
    assert redteam["entries"]["forged-records"]["score"] == 0
    assert not os.path.exists(redteam["pwned"])  # the judge never unpickles code


def test_memory_limit_stops_a_hog_and_grades_the_rest(redteam):
    entry = redteam["entries"]["memory-hog"]
    assert entry["score"] == 10
    assert any("MemoryError" in e["message"] for e in entry["cell_errors"]), entry["cell_errors"]


def test_legitimate_helpers_plots_and_warnings_are_not_flagged(redteam):
    for name in ("helper-and-plot", "warning"):
        entry = redteam["entries"][name]
        assert entry["score"] == 10, entry["checks"]
        assert entry["integrity"] == []


def test_hidden_tests_do_not_leak_into_feedback(redteam):
    source = nbformat.read(SOURCE, as_version=4)
    hidden = []
    for c in source.cells:
        if "### BEGIN HIDDEN TESTS" in c.source:
            block = c.source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS")[0]
            hidden += [line.strip() for line in block.splitlines() if line.strip()]
    assert hidden
    for path in (redteam["folder"] / "feedback").glob("*.md"):
        text = path.read_text()
        assert "HIDDEN" not in text
        for line in hidden:
            assert line not in text, (path.name, line)
    assert cell(blank(), "gan-dloss-check")  # the released notebook keeps its check cells
