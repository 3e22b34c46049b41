"""The sandbox a submission runs in (ganlab.grading.sandbox and ganlab.grading.inside).

These run a small Python program, not a notebook, in the sandbox exactly as the grader
does, and read what :mod:`ganlab.grading.inside` reports. Under ``CI=true`` bubblewrap
must be there (``.ci/run`` installs it): the tests fail instead of skipping.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid

import pytest
from conftest import IN_CI, PROJECT

from ganlab import grade
from ganlab.grading import sandbox


@pytest.fixture
def bwrap():
    if not sandbox.available():
        if IN_CI:
            pytest.fail("CI must test the sandbox: install bubblewrap (apt-get install bubblewrap)")
        pytest.skip("bubblewrap is not available here")


def run_inside(tmp_path, program: str, memory_limit: int = sandbox.DEFAULT_MEMORY_LIMIT):
    """Run ``program`` in the sandbox as the grader runs nbval: (its report, its output)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "program.py").write_text(textwrap.dedent(program))
    inner = [sys.executable, "-m", "ganlab.grading.inside", "--memory-limit", str(memory_limit),
             "--scan", "/tmp", "--log", "out.log", "--", sys.executable, "program.py"]
    env = sandbox.environment({"PATH": "/usr/bin:/bin", "GANLAB_SECRET": "x"}, sandbox.WORK, {})
    done = subprocess.run(sandbox.command(inner, work, env), cwd=work, capture_output=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return report, (work / "out.log").read_text()


def test_isolation(bwrap, tmp_path):
    token = uuid.uuid4().hex[:8]
    secret = tmp_path / f"grader-secret-{token}"
    secret.write_text("only the grader may read this")
    report, out = run_inside(tmp_path, f"""
        import os, pathlib, socket, subprocess
        print("uid", os.getuid())
        print("home", os.environ["HOME"], sorted(os.listdir(os.environ["HOME"])))
        print("tmp", sorted(n for n in os.listdir("/tmp")  # but a checkout kept in /tmp
                            if not {str(PROJECT)!r}.startswith("/tmp/" + n)))
        print("secret visible", os.path.exists({str(secret)!r}))
        print("sources visible", os.path.exists({str(PROJECT / "assignments" / "source")!r}))
        print("package visible", os.path.exists({str(PROJECT / "ganlab" / "__init__.py")!r}))
        print("env", sorted(k for k in os.environ if "SECRET" in k))
        try:
            socket.create_connection(("127.0.0.1", 22), timeout=2)
            print("network yes")
        except OSError as error:
            print("network no")
        for path in ("/etc/x-{token}", {str(PROJECT / "ganlab" / f"x-{token}")!r}):
            try:
                open(path, "w").write("x")
                print("wrote", path)
            except OSError:
                print("read-only", path)
        pathlib.Path(os.environ["HOME"], "left-{token}").write_text("x")
        pathlib.Path("/tmp/left-{token}").write_text("x")
        subprocess.Popen(["sleep", "600"], start_new_session=True)
        import ganlab
        print("import ok")
    """)
    assert "uid 65534" in out
    assert "home /home/student []" in out and "tmp []" in out
    assert "secret visible False" in out and "sources visible False" in out
    assert "package visible True" in out and "import ok" in out
    assert "env []" in out
    assert "network no" in out
    assert "wrote" not in out and out.count("read-only") == 2
    assert report["exit_code"] == 0
    assert report["home_files"] == [f"/home/student/left-{token}"]
    assert report["tmp_files"] == [f"/tmp/left-{token}"]
    assert [p["command"] for p in report["lingering"]] == ["sleep 600"]
    assert not (PROJECT / "ganlab" / f"x-{token}").exists()


def test_memory_limit(bwrap, tmp_path):
    _, out = run_inside(tmp_path, """
        try:
            hog = bytearray(3 * 2**30)
            print("allocated")
        except MemoryError:
            print("MemoryError")
    """, memory_limit=2 * 2**30)
    assert "MemoryError" in out


def test_without_a_sandbox_the_grader_warns_or_refuses(tmp_path, monkeypatch, capsys):
    source = tmp_path / "source"
    source.mkdir()
    (source / "01_x.ipynb").write_text((PROJECT / "assignments" / "source" /
                                        "04_optimal_discriminator_jsd.ipynb").read_text())
    with pytest.raises(grade.UsageError, match="--require-sandbox: bubblewrap is not available"):
        grade.grade([source / "01_x.ipynb"], source, require_sandbox=True, use_sandbox=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(grade.UsageError, match="--memory-limit"):
        grade.grade([source / "01_x.ipynb"], source, use_sandbox=False, memory_limit=-1)
    assert "warning: no sandbox" in capsys.readouterr().err


def test_info_describes_the_sandbox(bwrap):
    info = sandbox.info(2**30)
    assert info["kind"] == "bubblewrap" and info["network"] is False
    assert info["memory_limit"] == 2**30 and info["writable"] == [sandbox.WORK]
