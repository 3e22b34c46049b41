"""Running a restored submission: nbval in the sandbox, the judge beside it, and what each cell did.

A stage of ``python -m ganlab grade``: see :mod:`ganlab.grade`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from ganlab.checks.common import FAILED_HEADER
from ganlab.grading import evidence, integrity, sandbox
from ganlab.grading.restore import MESSAGE_LIMIT, Restored
from ganlab.grading.sources import Assignment

DEFAULT_CELL_TIMEOUT = 600.0       # seconds per cell, as `make test`


NOTEBOOK = "submission.ipynb"      # the restored notebook's name in the temporary folder


PLUGIN = Path(__file__).with_name("plugin.py")


AUDIT_CELL = "ganlab-grading-audit"   # the cell the grader puts first: the audit hook


KERNEL_DIED = "GANLAB_KERNEL_DIED"


_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;?]*[A-Za-z]")


_EXCEPTION_LINE = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Iteration))(?:: ?(.*))?$")


def grading_env(jobs: int = 1) -> dict[str, str]:
    """The environment of the nbval subprocesses: ours, with this ``ganlab`` importable.

    With several jobs, ``OMP_NUM_THREADS`` (if unset) shares the cores between them.
    """
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


@dataclass
class CellResult:
    """What happened to one code cell."""

    passed: bool
    message: str | None = None   # first line of the failure
    event: str | None = None     # "timed out" or "kernel died" when that happened here


@dataclass
class Run:
    """What running one restored submission gave."""

    results: list[CellResult]   # one per code cell of the restored notebook (nbval's word)
    verdicts: dict[str, dict]   # check id -> the judge's verdict (see ganlab.grading.judge)
    judge_error: str | None     # why the judge could not decide, if it could not
    events: list[dict]          # escape findings: audit log and what the run left behind


def grading_notebook(restored: Restored) -> nbformat.NotebookNode:
    """The notebook the kernel runs: the audit hook first, each check cell marked."""
    nb = copy.deepcopy(restored.nb)
    for cell in nb.cells:
        if cell.id in restored.checks:
            cell.source = (f"__import__('ganlab.grading.evidence').grading.evidence."
                           f"begin_cell({cell.id!r})\n" + cell.source)
    nb.cells.insert(0, new_code_cell(
        "__import__('ganlab.grading.audit').grading.audit.install()", id=AUDIT_CELL))
    return nb


def run_notebook(restored: Restored, assignment: Assignment, *, cell_timeout: float,
                 notebook_timeout: float, env: dict[str, str], seed: int,
                 memory_limit: int = sandbox.DEFAULT_MEMORY_LIMIT,
                 use_sandbox: bool = True) -> Run:
    """Run ``restored`` under nbval (in the sandbox if ``use_sandbox``), then judge it.

    Raises a RuntimeError when nbval could not run the notebook at all.
    """
    with tempfile.TemporaryDirectory(prefix="ganlab-grade-", ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        work = folder / "work"
        (work / "records").mkdir(parents=True)
        (work / ".state" / "tmp").mkdir(parents=True)
        (work / NOTEBOOK).write_text(nbformat.writes(grading_notebook(restored)), encoding="utf-8")
        (work / "conftest.py").write_text(PLUGIN.read_text(encoding="utf-8"), encoding="utf-8")
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        pytest = [sys.executable, "-m", "pytest", NOTEBOOK, "--nbval-lax", "--nbval-current-env",
                  f"--nbval-cell-timeout={cell_timeout:g}", "-p", "no:cacheprovider",
                  "--junitxml=junit.xml", "-c", "pytest.ini", "--color=no", "-q"]
        inner = [sys.executable, "-m", "ganlab.grading.inside", "--memory-limit",
                 str(int(memory_limit or 0)), "--log", "pytest.log", "--", *pytest]
        if use_sandbox:
            inside = sandbox.WORK
            run_env = sandbox.environment(env, inside, {
                evidence.RECORDS_ENV: f"{inside}/records", evidence.SEED_ENV: str(seed),
                "TMPDIR": f"{inside}/.state/tmp"})
            inner[inner.index("--log"):inner.index("--log")] = ["--scan", "/tmp"]
            command, popen_env = sandbox.command(inner, work, run_env), {"PATH": os.defpath}
        else:
            (work / ".home").mkdir()
            run_env = sandbox.environment(env, str(work), {
                evidence.RECORDS_ENV: str(work / "records"), evidence.SEED_ENV: str(seed),
                "HOME": str(work / ".home"), "TMPDIR": str(work / ".state" / "tmp")})
            command, popen_env = inner, run_env
        judge_process = _start_judge(assignment, work / "records", folder, seed=seed, env=env,
                                     timeout=notebook_timeout + 120)
        process = subprocess.Popen(command, cwd=work, env=popen_env, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            out, _ = process.communicate(timeout=notebook_timeout)
            code = process.returncode
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            out, code = b"", None
        except BaseException:
            _kill_tree(process)
            judge_process.kill()
            raise
        (folder / "judge-ready").touch()
        left = _inside_report(out)
        if code is not None and left is not None:
            code = left.get("exit_code", code)
        junit = work / "junit.xml"
        if code is not None and junit.is_file():
            raw = _junit_results(junit)
        else:
            raw = _progress_results(work / "progress.jsonl")
        if code is not None and not raw:
            log = work / "pytest.log"
            tail = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
            lines = [line for line in _ANSI.sub("", tail).splitlines() if line.strip()]
            why = lines[-1] if lines else "no output"
            raise RuntimeError(f"nbval could not run the notebook (pytest exit code {code}): "
                               f"{why[:MESSAGE_LIMIT]}")
        results = _interpret({i - 1: r for i, r in raw.items() if i > 0},
                             len(restored.code_cells), stopped=code is None,
                             cell_timeout=cell_timeout, notebook_timeout=notebook_timeout)
        events = _audit_events(work / "audit.jsonl", restored) + _left_behind(left)
        verdicts, judge_error = _judge_result(judge_process, folder, timeout=notebook_timeout)
    return Run(results=results, verdicts=verdicts, judge_error=judge_error, events=events)


def _inside_report(out: bytes) -> dict | None:
    """The JSON line that :mod:`ganlab.grading.inside` printed last, if any."""
    for line in reversed(out.decode("utf-8", errors="replace").splitlines()):
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and "exit_code" in report:
            return report
    return None


def _left_behind(report: dict | None) -> list[dict]:
    if not report:
        return []
    events = []
    processes = [p.get("command", "?") for p in report.get("lingering", [])]
    if processes:
        events.append({"kind": integrity.ESCAPE, "cell": None, "detail": "left processes "
                       "running after its run (the grader killed them): " + "; ".join(processes)})
    for where, key in (("its home folder", "home_files"), ("the temporary folder", "tmp_files")):
        if report.get(key):
            events.append({"kind": integrity.ESCAPE, "cell": None, "detail": f"wrote into "
                           f"{where} (thrown away): " + ", ".join(map(str, report[key][:5]))})
    return events


def _audit_events(path: Path, restored: Restored) -> list[dict]:
    """Escape findings from the kernel's audit log (see :mod:`ganlab.grading.audit`)."""
    if not path.is_file():
        return []
    events, seen = [], set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:500]:
        try:
            event = json.loads(line)
            execution = event.get("execution")
            detail = str(event.get("detail", ""))[:300]
        except (ValueError, AttributeError):
            continue
        # execution count k ran the k-th code cell; the first is the grader's audit cell
        index = execution - 2 if isinstance(execution, int) else None
        cell = restored.code_cells[index] if index is not None and \
            0 <= index < len(restored.code_cells) else None
        key = (cell, detail)
        if key not in seen:
            seen.add(key)
            events.append({"kind": integrity.ESCAPE, "cell": cell, "detail": detail})
    return events[:50]


def _start_judge(assignment: Assignment, records: Path, folder: Path, *, seed: int,
                 env: dict[str, str], timeout: float) -> subprocess.Popen:
    """Start :mod:`ganlab.grading.judge` in a process of its own, outside the sandbox: it
    prepares while the notebook runs and decides once ``folder/judge-ready`` exists."""
    request = folder / "judge-request.json"
    request.write_text(json.dumps({
        "source": str(assignment.path), "records": str(records), "seed": seed,
        "output": str(folder / "judge-verdicts.json"), "ready": str(folder / "judge-ready"),
        "timeout": timeout}), encoding="utf-8")
    judge_env = {k: v for k, v in env.items() if k not in (evidence.RECORDS_ENV, "OMP_NUM_THREADS")}
    judge_env["OMP_NUM_THREADS"] = "1"  # it replays small checks while the notebook runs
    return subprocess.Popen([sys.executable, "-m", "ganlab.grading.judge", str(request)],
                            env=judge_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _judge_result(process: subprocess.Popen, folder: Path, *,
                  timeout: float) -> tuple[dict[str, dict], str | None]:
    """The verdicts the judge wrote (``{}`` and why, when it did not)."""
    try:
        process.wait(timeout=timeout)
        result = json.loads((folder / "judge-verdicts.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        process.kill()
        return {}, f"the judge failed: {type(error).__name__}: {error}"
    return result.get("verdicts") or {}, result.get("error")


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill pytest and everything it started (the kernel runs in a session of its own)."""
    try:
        import psutil

        children = psutil.Process(process.pid).children(recursive=True)
    except Exception:  # psutil missing or the process already gone
        children = []
    for child in children:
        try:
            child.kill()
        except Exception:
            pass
    try:
        os.killpg(process.pid, 9)
    except OSError:
        pass
    process.kill()
    process.wait()


def _junit_results(path: Path) -> dict[int, tuple[bool, str]]:
    """``{cell index: (passed, failure text)}`` from nbval's JUnit XML."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return {}
    results = {}
    for case in root.iter("testcase"):
        index = _cell_index(case.get("name", ""))
        if index is None:
            continue
        passed, text = True, ""
        for child in case:
            message = child.get("message", "")
            if child.tag in ("failure", "error") and not message.startswith("failed on teardown"):
                passed, text = False, child.text or message
            elif child.tag == "skipped":
                passed, text = False, "skipped: " + message
        results[index] = (passed, text)
    return results


def _progress_results(path: Path) -> dict[int, tuple[bool, str]]:
    """``{cell index: (passed, failure text)}`` from the log of our conftest."""
    results = {}
    if not path.is_file():
        return results
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the last line of a killed run may be cut
        index = _cell_index(entry.get("name", ""))
        if index is None or entry.get("when") == "teardown":
            continue
        if not entry.get("passed"):
            results[index] = (False, entry.get("text", ""))
        elif index not in results:
            results[index] = (True, "")
    return results


def _cell_index(name: str) -> int | None:
    match = re.fullmatch(r"Cell (\d+)", name.strip())
    return int(match.group(1)) if match else None


def _interpret(raw: dict[int, tuple[bool, str]], n_cells: int, *, stopped: bool,
               cell_timeout: float, notebook_timeout: float) -> list[CellResult]:
    """One :class:`CellResult` per code cell, with messages that say what happened."""
    results = []
    kernel_gone = None  # why later cells could not run
    for index in range(n_cells):
        if index not in raw:
            if stopped and kernel_gone is None:
                kernel_gone = f"not run: the notebook was stopped after {notebook_timeout:g} s"
                results.append(CellResult(False, f"timed out: the notebook ran longer than "
                                          f"{notebook_timeout:g} s in all", "timed out"))
            else:
                results.append(CellResult(False, kernel_gone or "not run: nbval gave no result"))
            continue
        passed, text = raw[index]
        if passed:
            results.append(CellResult(True))
            continue
        message, event = failure_message(text, cell_timeout)
        if event == "kernel dead":  # nbval found no kernel when this cell started
            message, event = kernel_gone or "not run: the kernel died", None
        elif event == "kernel died":
            kernel_gone = "not run: the kernel died"
        elif event == "timed out" and message.endswith("was stopped"):
            kernel_gone = "not run: the kernel was stopped after an earlier cell timed out"
        results.append(CellResult(False, message, event))
    return results


def failure_message(text: str, cell_timeout: float = DEFAULT_CELL_TIMEOUT) -> tuple[str, str | None]:
    """The first line of an nbval failure, and ``"timed out"`` / ``"kernel died"`` if so.

    nbval wraps the cell's traceback ("Notebook cell execution failed / Cell 3: ... /
    Input: ... / Traceback: ..."); for an exception the message is the line of its last
    ``SomeError: ...`` header, reduced to the message itself for an AssertionError. A
    failing check of :mod:`ganlab.checks` shows no traceback but ``Check failed: <hint>``
    (:class:`ganlab.checks.CheckFailed`): its message is the hint. ANSI colours (also as
    JUnit's ``#x1B``) are removed. Only the message depends on what the kernel printed:
    any error fails the cell, whatever its name or rendering.
    """
    text = _ANSI.sub("", text)
    if KERNEL_DIED in text:
        return "the kernel died while running this cell", "kernel died"
    if "Kernel dead on test start" in text:
        return "not run: the kernel died", "kernel dead"
    if "Timeout of" in text:
        if "Failed to interrupt kernel" in text:
            return (f"timed out after {cell_timeout:g} s; the kernel could not be interrupted "
                    "and was stopped", "timed out")
        if "waiting for output" in text:
            return "timed out waiting for the cell's output; the kernel was stopped", "timed out"
        return f"timed out after {cell_timeout:g} s", "timed out"
    lines = text.split("Traceback:", 1)[-1].splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith(FAILED_HEADER):  # a check's failure, shown as its hint alone
        message = first.removeprefix(FAILED_HEADER).strip()
        return (message or "a check failed without a message")[:MESSAGE_LIMIT], None
    found = [(i, m) for i, line in enumerate(lines) if (m := _EXCEPTION_LINE.match(line.strip()))]
    # IPython puts a blank line before "SomeError: message"; the message may go on below
    # over several lines, so a later "Name: ..." line is not taken unless a blank precedes it
    headers = [m for i, m in found if i > 0 and not lines[i - 1].strip()]
    found = (headers or [m for _, m in found] or [None])[-1]
    if found is not None:
        name, message = found.group(1), (found.group(2) or "").strip()
        if name == "AssertionError":
            line = message or "AssertionError (a test failed without a message)"
        else:
            line = f"{name}: {message}" if message else name
        return line[:MESSAGE_LIMIT], None
    for line in text.splitlines():
        line = line.strip()
        if line and line != "Notebook cell execution failed":
            return line.removeprefix("pytest plugin exception: ")[:MESSAGE_LIMIT], None
    return "failed without a message", None
