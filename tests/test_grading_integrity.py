"""Reading a submission's source for what it tries (ganlab.grading.integrity)."""

from __future__ import annotations

import pytest

from ganlab.grading import integrity

ANSWERS = {"gan-dloss-check": ["ganlab.losses.discriminator_loss"],
           "gan-gloss-check": ["ganlab.losses.generator_loss"],
           "gan-dstep-check": ["ganlab.gan.discriminator_step"]}


def findings(source):
    return [(f["kind"], f["detail"]) for f in integrity.scan([("cell", source)], ANSWERS)]


def test_ordinary_student_code_is_not_flagged():
    source = ("import torch\nimport torch.nn.functional as F\nimport matplotlib.pyplot as plt\n"
              "from ganlab import toy, plots\nfrom ganlab.models.gan import MLPGenerator\n"
              "def discriminator_loss(r, f):\n    return F.softplus(-r).mean() + F.softplus(f).mean()\n"
              "torch.backends.cudnn.benchmark = True\nplt.rcParams['figure.dpi'] = 80\n"
              "x = toy.noise(3, 2)\nG = MLPGenerator(latent_dim=2)\nG.latent_dim = 2\n"
              "%matplotlib inline\nclass Mine(torch.nn.Module):\n    pass\n")
    assert findings(source) == []


@pytest.mark.parametrize("source, kind, fragment", [
    ("from ganlab.losses import discriminator_loss as dl", "reference",
     "uses ganlab.losses.discriminator_loss"),
    ("import ganlab\nf = ganlab.losses.generator_loss", "reference", "ganlab.losses.generator_loss"),
    ("import ganlab.gan as g\nf = getattr(g, 'discriminator_step')", "reference",
     "getattr(g, 'discriminator_step')"),
    ("from ganlab import checks\nf = checks.discriminator_loss", "reference", "checks' internals"),
    ("from ganlab.checks import reference_generator_step", "reference", "checks' internals"),
    ("import ganlab.grading.evidence", "reference", "grading machinery"),
    ("import ganlab.losses as L\nf = getattr(L, 'discrim' + 'inator_loss')", "obfuscated",
     "computed name"),
    ("exec('import os')", "obfuscated", "exec"),
    ("import importlib\nm = importlib.import_module('ganlab.losses')", "obfuscated", "importlib"),
    ("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)", "patched",
     "set_custom_exc"),
    ("ip = get_ipython()\nip.set_custom_exc((Exception,), print)", "patched", "set_custom_exc"),
    ("import torch\ntorch.allclose = lambda *a, **k: True", "patched", "replaces torch.allclose"),
    ("import math as m\nm.isclose = lambda *a, **k: True", "patched", "replaces m.isclose"),
    ("from ganlab import checks\nchecks.check_discriminator_loss = print", "patched",
     "replaces checks.check_discriminator_loss"),
    ("import ganlab.checks\nsetattr(ganlab.checks, 'check_x', None)", "patched", "setattr"),
    ("import builtins\nbuiltins.abs = lambda x: 0", "patched", "builtins"),
    ("import sys\nsys.modules['ganlab.checks'] = None", "patched", "sys.modules"),
    ("import gc\nobjs = gc.get_objects()", "patched", "gc"),
    ("import os\nfolder = os.environ['GANLAB_GRADING_RECORDS']", "patched", "grader's own settings"),
    ("def f():\n    pass\nf.__code__ = (lambda: 1).__code__", "patched", "__code__"),
    ("import ganlab, pathlib\nroot = pathlib.Path(ganlab.__file__).parent", "instructor-files",
     "ganlab.__file__"),
    ("open('../assignments/source/03_gan.ipynb')", "instructor-files", "assignments/source"),
    ("!curl http://example.org", "escape", "shell command"),
    ("import subprocess\nsubprocess.Popen(['sleep', '100'])", "escape", "subprocess.Popen"),
    ("import socket\nsocket.create_connection(('127.0.0.1', 80))", "escape", "socket"),
])
def test_attempts_are_found_and_named(source, kind, fragment):
    found = findings(source)
    assert any(k == kind and fragment in detail for k, detail in found), found


def test_aliases_carry_over_cells():
    found = integrity.scan([("a", "import ganlab.losses as L"), ("b", "f = L.discriminator_loss")],
                           ANSWERS)
    assert [(f["kind"], f["cell"]) for f in found] == [("reference", "b")]


def test_a_cell_that_does_not_parse_is_skipped():
    assert integrity.scan([("a", "def (:")], ANSWERS) == []


def test_affected_checks():
    checks = ["gan-dloss-check", "gan-gloss-check", "gan-dstep-check"]
    cells = ["setup", "gan-dloss", "gan-dloss-check", "mine", "gan-gloss-check", "gan-dstep-check"]
    reference = {"kind": "reference", "cell": "gan-dloss", "answer": "ganlab.losses.generator_loss"}
    assert integrity.affected_checks(reference, checks, cells, ANSWERS) == ["gan-gloss-check"]
    patched = {"kind": "patched", "cell": "mine"}
    assert integrity.affected_checks(patched, checks, cells, ANSWERS) == [
        "gan-gloss-check", "gan-dstep-check"]
    escape = {"kind": "escape", "cell": "setup"}
    assert integrity.affected_checks(escape, checks, cells, ANSWERS) == []


def test_every_declared_answer_of_the_course_can_be_resolved():
    """A typo in a source notebook's ``ganlab.answers`` would silently allow that answer."""
    import nbformat
    from conftest import PROJECT

    for path in sorted((PROJECT / "assignments" / "source").glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        checks = [c for c in nb.cells if "check" in c.get("metadata", {}).get("ganlab", {})]
        assert checks
        for c in checks:
            names = c.metadata["ganlab"].get("answers")
            assert isinstance(names, list), f"{path.name}: {c.id} declares no answers"
            for name in names:
                assert integrity.resolve(name) is not None, f"{path.name}: {c.id}: {name}"
