"""The course in a real browser: JupyterLab driven by headless Chromium.

What a student does, done by a browser: open a lesson in JupyterLab, Run All, look at
the outputs, move a widget's slider; open an assignment, type an answer, run its check.
Headless kernels (nbval) cannot see what only the browser shows: whether a widget
rendered live or as a text repr, whether a failed check shows its hint or a traceback,
whether a notebook is marked modified the moment it opens.

One JupyterLab server (fast mode, ``GANLAB_FAST=1``) serves a temporary copy of
``notebooks/`` and ``assignments/`` for all the tests of this module, so running cells never
touches the committed files. Chromium and chromedriver come from Debian (``apt-get
install chromium chromium-driver``); selenium is pointed at them, so nothing is
downloaded. Without them these tests skip, except under ``CI=true``, where they must run.

Each executed page is saved to ``build/screenshots/`` (``make screenshots`` copies a few
into ``docs/images/`` for the README).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import PROJECT, require

pytestmark = pytest.mark.browser

LESSONS = sorted(p.name for p in (PROJECT / "notebooks").glob("[0-9]*.ipynb"))
ASSIGNMENTS = sorted(p.name for p in (PROJECT / "assignments").glob("[0-9]*.ipynb"))
SCREENSHOTS = PROJECT / "build" / "screenshots"
TOKEN = "ganlab-browser-test"
RUN_TIMEOUT = 600  # seconds for Run All on one notebook in fast mode (they take 5-90 s)

# the JupyterLab front end, as JupyterLab exposes it (--LabApp.expose_app_in_browser)
CURRENT = "const nb = window.jupyterapp.shell.currentWidget;"
IS_READY = CURRENT + """
return !!(nb && nb.context && nb.context.isReady && nb.context.path === arguments[0]
          && nb.sessionContext.session && nb.sessionContext.session.kernel
          && nb.sessionContext.kernelDisplayStatus === 'idle');"""
IS_IDLE = CURRENT + "return nb.sessionContext.kernelDisplayStatus === 'idle';"
IS_DIRTY = CURRENT + "return nb.context.model.dirty;"
OPEN = """
const done = arguments[arguments.length - 1];
window.jupyterapp.commands.execute('docmanager:open', {path: arguments[0]})
  .then(() => done(true), error => done(String(error)));"""
# started here, awaited by polling (a call that blocks for minutes would outlast selenium's
# own 120-second HTTP timeout on a busy machine)
RUN = """
window.ganlabCommand = null;
window.jupyterapp.commands.execute(arguments[0])
  .then(ok => { window.ganlabCommand = {ok: ok}; },
        error => { window.ganlabCommand = {error: String(error)}; });"""
COMMAND_DONE = "return window.ganlabCommand;"
CODE_CELLS = CURRENT + """
const cells = nb.content.model.cells, found = [];
for (let i = 0; i < cells.length; i++) {
  const cell = cells.get(i);
  if (cell.type === 'code') found.push({index: i, source: cell.sharedModel.getSource(),
      count: cell.executionCount, outputs: cell.outputs.toJSON()});
}
return found;"""
CELL_NODE = CURRENT + "return nb.content.widgets[arguments[0]].node;"
SELECT = CURRENT + "nb.content.activeCellIndex = arguments[0]; nb.content.mode = 'command';"
CLOSE = CURRENT + """
const done = arguments[arguments.length - 1];
nb.sessionContext.shutdown().then(() => { nb.context.model.dirty = false; nb.dispose(); done(true); });"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Lab:
    """A JupyterLab server on a free local port and a headless Chromium driving it."""

    def __init__(self, root: Path, log: Path):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.root, self.log = root, log
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        state = root.parent / "jupyter"  # settings and workspaces of this server only
        # no "would you like news?" toast over the pictures (and no news fetched offline)
        notification = state / "settings" / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        env = dict(os.environ, GANLAB_FAST="1", JUPYTER_CONFIG_DIR=str(state / "config"),
                   JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
                   f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
                   # offline: no news feed, no update check
                   "--LabApp.news_url=None",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # containers and CI run as root
        self.server = subprocess.Popen(command, env=env, stdout=log.open("w"),
                                       stderr=subprocess.STDOUT)
        try:
            _wait(self._server_up, 120, f"JupyterLab at {self.url} (log: {log})", 0.5)
            options = webdriver.ChromeOptions()
            options.binary_location = shutil.which("chromium")
            for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                        "--window-size=1400,1000", "--hide-scrollbars"):
                options.add_argument(arg)
            self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")),
                                           options=options)
        except BaseException:
            self.server.terminate()
            raise
        self.driver.set_script_timeout(RUN_TIMEOUT)
        self.executed: dict[str, dict] = {}  # path -> dirty_on_open and code cells after Run All
        self.tabs: dict[str, str] = {}  # path -> the id of its notebook tab

    def _server_up(self) -> bool:
        if self.server.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {self.server.returncode}:\n"
                                 + self.log.read_text()[-3000:])
        try:
            urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=2)
            return True
        except OSError:
            return False

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def open(self, path: str) -> bool:
        """Open ``path`` (relative to the root) in a new tab; return whether it is dirty.

        Every notebook stays open in its own tab, with its kernel, so that a later test
        can come back to an executed lesson (:meth:`activate`).
        """
        if not self.js("return !!window.jupyterapp"):
            self.driver.get(f"{self.url}/lab?token={TOKEN}")
            _wait(lambda: self.js("return !!window.jupyterapp"), 120, "JupyterLab to load")
            self.driver.execute_async_script(
                "window.jupyterapp.restored.then(arguments[arguments.length - 1]);")
        opened = self.driver.execute_async_script(OPEN, path)
        assert opened is True, f"JupyterLab could not open {path}: {opened}"
        _wait(lambda: self.js(IS_READY, path), 120, f"{path} to open with an idle kernel")
        time.sleep(1.0)  # let JupyterLab fill in what it fills in on open
        self.tabs[path] = self.js(CURRENT + "return nb.id;")
        return self.js(IS_DIRTY)

    def activate(self, path: str) -> None:
        self.js("window.jupyterapp.shell.activateById(arguments[0]);", self.tabs[path])
        _wait(lambda: self.js(CURRENT + "return nb.context.path;") == path, 10,
              f"the tab of {path}")

    def command(self, name: str) -> dict:
        """Run a JupyterLab command; wait for its promise and for the kernel to go idle."""
        self.js(RUN, name)
        _wait(lambda: self.js(COMMAND_DONE), RUN_TIMEOUT, f"JupyterLab's command {name}", 1.0)
        result = self.js(COMMAND_DONE)
        _wait(lambda: self.js(IS_IDLE), 60, f"the kernel to go idle after {name}")
        time.sleep(0.5)  # widget views render after the kernel's last message
        return result

    def cells(self) -> list[dict]:
        return self.js(CODE_CELLS)

    def cell(self, index: int):
        """The DOM node of cell ``index`` of the current notebook, scrolled into view."""
        node = self.js(CELL_NODE, index)
        self.driver.execute_script("arguments[0].scrollIntoView()", node)
        return node

    def run_cell(self, index: int) -> None:
        self.js(SELECT, index)
        self.command("notebook:run-cell")

    def run_all(self, path: str) -> list[dict]:
        """Open ``path``, Run All once per session, and return its code cells."""
        if path not in self.executed:
            dirty = self.open(path)
            result = self.command("notebook:run-all-cells")
            assert "error" not in result, f"Run All failed in {path}: {result['error']}"
            self.executed[path] = {"dirty_on_open": dirty, "cells": self.cells()}
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(SCREENSHOTS / f"{Path(path).stem}.png"))
        self.activate(path)
        return self.executed[path]["cells"]

    def close_notebook(self) -> None:
        """Shut down the current notebook's kernel and close its tab without saving."""
        path = self.js(CURRENT + "return nb.context.path;")
        self.driver.execute_async_script(CLOSE)
        self.tabs.pop(path, None)
        self.executed.pop(path, None)

    def kernels(self) -> list[str]:
        """The ids of the kernels this server runs."""
        with urllib.request.urlopen(f"{self.url}/api/kernels?token={TOKEN}", timeout=10) as reply:
            return [kernel["id"] for kernel in json.load(reply)]

    def quit(self) -> None:
        """Close the browser, shut down every kernel (a stopped server leaves its kernels running), stop."""
        try:
            self.driver.quit()
        finally:
            try:
                for kernel in self.kernels():
                    request = urllib.request.Request(f"{self.url}/api/kernels/{kernel}?token={TOKEN}",
                                                     method="DELETE")
                    urllib.request.urlopen(request, timeout=30).close()
            finally:
                self.server.terminate()
                try:
                    self.server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.server.kill()


@pytest.fixture(scope="module")  # one server for the browser tests, stopped (with its kernels) after them
def lab(tmp_path_factory):
    require(Path(shutil.which("chromium") or "/usr/bin/chromium"),
            "the browser tests need Debian's chromium (apt-get install chromium chromium-driver)")
    require(Path(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
            "the browser tests need Debian's chromium-driver (apt-get install chromium-driver)")
    pytest.importorskip("selenium", reason="pip install selenium (in the dev extra)")
    base = tmp_path_factory.mktemp("lab")
    root = base / "course"
    shutil.copytree(PROJECT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / "assignments").mkdir()
    for name in ASSIGNMENTS:
        shutil.copy(PROJECT / "assignments" / name, root / "assignments" / name)
    server = Lab(root, base / "jupyterlab.log")
    yield server
    server.quit()


def _errors(cells: list[dict]) -> list[str]:
    return [f"cell {c['index']}: {o['ename']}: {o['evalue']}"
            for c in cells for o in c["outputs"] if o["output_type"] == "error"]


def _stderr(cells: list[dict]) -> list[str]:
    """What a student sees in pink: text written to stderr (warnings, logging)."""
    return [f"cell {c['index']}: {''.join(o['text'])[:300]}"
            for c in cells for o in c["outputs"]
            if o["output_type"] == "stream" and o["name"] == "stderr"]


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_runs_in_jupyterlab(lab, name):
    path = f"notebooks/{name}"
    cells = lab.run_all(path)
    assert not _errors(cells), f"{name} shows errors:\n" + "\n".join(_errors(cells))
    unrun = [c["index"] for c in cells if c["count"] is None and c["source"].strip()]
    assert not unrun, f"{name}: Run All left code cells {unrun} unexecuted"
    assert not _stderr(cells), f"{name} writes to stderr:\n" + "\n".join(_stderr(cells))
    assert not lab.executed[path]["dirty_on_open"], (
        f"{name} is marked modified as soon as it opens: commit it with the metadata "
        "JupyterLab writes (language_info)")


def _view_cell(cells: list[dict], marker: str) -> dict:
    matches = [c for c in cells if marker in c["source"]
               and any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                       for o in c["outputs"])]
    assert matches, f"no cell with {marker!r} displays a widget"
    return matches[0]


def _images(node) -> list[str]:
    return [img.get_attribute("src") for img in node.find_elements("css selector", "img")]


def _press(node, label: str) -> None:
    buttons = [b for b in node.find_elements("css selector", "button") if b.text == label]
    assert buttons, f"no button {label!r} in the view; buttons: " + str(
        [b.text for b in node.find_elements("css selector", "button")])
    buttons[0].click()


def _nudge_slider(node) -> None:
    from selenium.webdriver.common.keys import Keys

    handle = node.find_element("css selector", ".widget-slider .noUi-handle")
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)


# (lesson, the code that builds the view, how a student interacts with it)
VIEWS = {
    "latent-explorer": ("01_autoencoders.ipynb", "LatentExplorer(", _nudge_slider),
    "gan-lab-2d": ("03_gan.ipynb", "GANLab2D(", lambda node: _press(node, "one D step")),
    "figure-1": ("04_optimal_discriminator_jsd.ipynb", "Figure1View(", _nudge_slider),
    "latent-walk": ("05_dcgan.ipynb", "LatentWalk(", _nudge_slider),
    "real-or-fake": ("06_evaluation.ipynb", "quiz = RealOrFake(",
                     lambda node: _press(node, "show next image")),
}


def _screenshot(element, name: str) -> None:
    """Save one element, scrolled to the top of the page so that nothing covers it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    element.parent.execute_script("arguments[0].scrollIntoView({block: 'start'});", element)
    element.screenshot(str(SCREENSHOTS / name))


@pytest.mark.parametrize("view", VIEWS)
def test_widget_is_live_and_responds(lab, view):
    lesson, marker, interact = VIEWS[view]
    cell = _view_cell(lab.run_all(f"notebooks/{lesson}"), marker)
    node = lab.cell(cell["index"])
    output = node.find_element("css selector", ".jp-Cell-outputArea")
    assert output.find_elements("css selector", ".jupyter-widgets"), (
        f"{view} did not render as a live widget; the page shows: {output.text[:300]!r}")
    assert "Error displaying widget" not in output.text, output.text[:300]
    before = _images(output)
    assert before, f"{view} shows no image"
    interact(output)
    _wait(lambda: _images(output) != before, 60, f"{view}'s image to change after the interaction")
    _screenshot(output, f"widget-{view}.png")


def test_training_progress_is_a_widget_bar(lab):
    cells = lab.run_all("notebooks/01_autoencoders.ipynb")
    trained = [c for c in cells if "fit(" in c["source"] or "train_" in c["source"]]
    bars = [c["index"] for c in trained
            if lab.cell(c["index"]).find_elements("css selector", ".widget-hprogress")]
    assert bars, "no training cell of Unit 01 shows tqdm's widget progress bar"


def test_dcgan_samples_screenshot(lab):
    """The shipped DCGAN's samples, as the README shows them (Unit 05, fast mode loads them)."""
    cells = lab.run_all("notebooks/05_dcgan.ipynb")
    shipped = [c for c in cells if 'pretrained.load("dcgan-cpu28"' in c["source"]]
    assert shipped, "Unit 05 no longer loads the shipped dcgan-cpu28"
    node = lab.cell(shipped[0]["index"])
    images = node.find_elements("css selector", ".jp-Cell-outputArea img")
    assert images, "the cell that loads the shipped DCGAN shows no samples"
    _screenshot(images[0], "dcgan-samples.png")


def _check_cells(path: Path) -> list[int]:
    nb = json.loads(path.read_text())
    return [i for i, c in enumerate(nb["cells"]) if "check" in c["metadata"].get("ganlab", {})]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_released_assignment_runs_to_its_first_blank(lab, name):
    """Run All on a fresh assignment stops at the first check, with its hint alone."""
    path = f"assignments/{name}"
    cells = lab.run_all(path)
    try:
        errors = [c for c in cells if any(o["output_type"] == "error" for o in c["outputs"])]
        assert errors, f"{name}: Run All on the blank assignment raised nothing"
        first = errors[0]
        assert first["index"] == _check_cells(PROJECT / path)[0], (
            f"{name}: the first error is in cell {first['index']}, not the first check cell: "
            + "\n".join(_errors(cells)))
        shown = lab.cell(first["index"]).find_element("css selector", ".jp-Cell-outputArea").text
        assert "not implemented yet" in shown, f"{name}: the first check shows {shown!r}"
        assert "Traceback" not in shown and "File " not in shown, (
            f"{name}: the failed check shows a traceback, not its hint alone:\n{shown}")
        assert not lab.executed[path]["dirty_on_open"], f"{name} is modified as soon as it opens"
    finally:
        lab.close_notebook()


def test_a_student_answers_one_task(lab):
    """Open Assignment 01, type the reconstruction loss, run its check, read that it passes."""
    path = "assignments/01_autoencoders.ipynb"
    released = json.loads((PROJECT / path).read_text())["cells"]
    solutions = {c["id"]: "".join(c["source"]) for c in
                 json.loads((PROJECT / "assignments/source/01_autoencoders.ipynb").read_text())["cells"]}
    answer = next(i for i, c in enumerate(released)
                  if "def reconstruction_loss" in "".join(c["source"]))
    check = answer + 1
    assert released[check]["metadata"]["ganlab"]["check"] == "ae-loss-check"
    lab.open(path)
    try:
        for index, cell in enumerate(released[:answer]):  # the given setup cells
            if cell["cell_type"] == "code" and "ganlab" not in cell["metadata"]:
                lab.run_cell(index)
        lab.run_cell(answer)
        lab.run_cell(check)
        output = lab.cell(check).find_element("css selector", ".jp-Cell-outputArea")
        assert "reconstruction_loss is not implemented yet" in output.text, output.text

        # the student clicks into the cell, selects everything and types the answer
        from selenium.webdriver.common.keys import Keys
        editor = lab.cell(answer).find_element("css selector", ".cm-content")
        editor.click()
        editor.send_keys(Keys.CONTROL, "a")
        lab.driver.execute_cdp_cmd("Input.insertText", {"text": solutions[released[answer]["id"]]})
        typed = lab.js(CURRENT + "return nb.content.widgets[arguments[0]].model.sharedModel"
                       ".getSource();", answer)
        assert typed == solutions[released[answer]["id"]], typed

        lab.run_cell(answer)
        lab.run_cell(check)
        output = lab.cell(check).find_element("css selector", ".jp-Cell-outputArea")
        _wait(lambda: "passes" in output.text, 30, "the check's message")
        assert "reconstruction_loss passes the checks" in output.text, output.text
        lab.driver.save_screenshot(str(SCREENSHOTS / "assignment-01-answered.png"))
    finally:
        lab.close_notebook()
