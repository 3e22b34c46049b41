"""What the course website needs beyond Sphinx's and myst-nb's settings (see conf.py).

* The package's docstrings are written to be read as plain text: their formulas sit on
  indented lines, in the course's plain notation. A docstring hook shows those lines as
  written, as literal blocks, instead of reflowed prose.
* MathJax 2 is copied from the jupyter-server-mathjax package into the site, so that the
  lessons' math ($...$ in their Markdown) renders without a CDN.
* Widgets need a kernel. Each widget output becomes a static snapshot of the state the
  notebook left it in (progress bars, sliders, figures), built from the widget state the
  executed notebook saved, instead of ipywidgets' JavaScript from a CDN.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import jupyter_server_mathjax

# --- docstrings --------------------------------------------------------------------------


def literal_formula_blocks(app, what, name, obj, options, lines: list[str]) -> None:
    """Show the docstrings' indented blocks (formulas, commands) as plain-text code blocks.

    The docstrings write equations in plain notation on indented lines after a paragraph
    ("Closed form:" then "    KL(q || p) = ..."). reStructuredText would read such a block
    as a quotation, reflowed into one line, with ``*``, ``|`` and ``_`` taken for markup;
    a ``code-block:: text`` directive before it shows it as written, without colouring it
    as Python. Blocks the docstrings already mark with "::" are left as they are.
    """
    blocks = []        # (line index, indentation) where a code-block directive goes
    literal_at = None  # indentation of the paragraph whose literal block (or directive) we are in
    previous = None    # (index of the last line, indentation of the content) of the last paragraph
    for start, end in _paragraphs(lines):
        indent = _indent(lines[start])
        if literal_at is not None:
            if indent > literal_at:
                continue
            literal_at = None
        if previous is not None and indent > previous[1] and not _MARKUP.match(lines[start]):
            blocks.append((previous[0] + 1, previous[1]))
            literal_at = previous[1]
            continue
        item = _LIST_ITEM.match(lines[start])
        content = item.end() if item else indent
        if lines[end].endswith("::") or lines[start].lstrip().startswith(".."):
            literal_at = content  # what follows, indented, is a literal block or a directive's body
        previous = (end, content)
    for at, indent in reversed(blocks):
        lines[at:at] = ["", " " * indent + ".. code-block:: text"]


_MARKUP = re.compile(r"\s*([-*+] |\d+\. |>>>|\.\.|:\w)")  # lists, doctests, directives, fields
_LIST_ITEM = re.compile(r"\s*([-*+]|\d+\.) +")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _paragraphs(lines: list[str]):
    """(first, last) line index of each run of non-blank lines."""
    start = None
    for i, line in enumerate([*lines, ""]):
        if line.strip() and start is None:
            start = i
        elif not line.strip() and start is not None:
            yield start, i - 1
            start = None


def reread_api_when_changed(app, docname, source) -> None:
    # the hook above shapes the API pages: editing this file must rebuild them
    if docname.startswith("api/"):
        app.env.note_dependency(__file__)


# --- MathJax -----------------------------------------------------------------------------

MATHJAX = Path(jupyter_server_mathjax.__file__).parent / "static"


def copy_mathjax(app, exception) -> None:
    """Put MathJax 2 where conf.py's mathjax_path points: _static/mathjax/."""
    if exception is None and app.builder.format == "html":
        shutil.copytree(MATHJAX, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


# --- widgets -----------------------------------------------------------------------------

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>',
                         re.S)
SNAPSHOT_NOTE = ("A snapshot of an interactive widget, as the notebook left it: "
                 "run the notebook in JupyterLab to use it.")


def widget_snapshots(app, pagename, templatename, context, doctree) -> None:
    """Replace the page's widget outputs by snapshots, and drop the widget state they came from."""
    scripts = context.get("script_files", [])
    states = [js for js in scripts if getattr(js, "attributes", {}).get("type") == WIDGET_STATE]
    if not states or "body" not in context:
        return
    models = json.loads(states[0].attributes["body"])["state"]

    def snapshot(match: re.Match) -> str:
        model_id = json.loads(match.group(1))["model_id"]
        note = "" if _is_progress_bar(models, model_id) else f'<p class="note">{SNAPSHOT_NOTE}</p>'
        return f'<div class="widget-snapshot">{_widget(models, model_id)}{note}</div>'

    context["body"] = WIDGET_VIEW.sub(snapshot, context["body"])
    scripts[:] = [js for js in scripts if js not in states]


def _is_progress_bar(models: dict, model_id: str) -> bool:
    """tqdm's notebook bar: a box holding a progress bar and its text."""
    children = models[model_id]["state"].get("children", [])
    return any(models[child.removeprefix("IPY_MODEL_")]["model_name"].endswith("ProgressModel")
               for child in children)


def _widget(models: dict, model_id: str) -> str:
    """Static HTML for one widget model and its children (the kinds of widget the course uses)."""
    model = models[model_id.removeprefix("IPY_MODEL_")]
    kind, state = model["model_name"], model["state"]
    label = html.escape(state.get("description", ""))
    value = state.get("value")
    if kind in ("HBoxModel", "VBoxModel"):
        children = "".join(_widget(models, child) for child in state.get("children", []))
        return f'<div class="{kind[:4].lower()}">{children}</div>'
    if kind == "HTMLModel":
        return f"<span>{value}</span>"  # HTML the notebook made
    if kind == "LabelModel":
        return f"<span>{html.escape(value)}</span>"
    if kind == "ButtonModel":
        return f'<button type="button" disabled>{label}</button>'
    if kind in ("FloatProgressModel", "IntProgressModel"):
        return f'<progress value="{value}" max="{state["max"]}"></progress>'
    if kind in ("FloatSliderModel", "IntSliderModel"):
        return (f'<label>{label} <input type="range" min="{state["min"]}" max="{state["max"]}" '
                f'step="{state["step"]}" value="{value}" disabled> <b>{value:.3g}</b></label>')
    if kind in ("IntTextModel", "FloatTextModel"):
        return f"<label>{label} <b>{value}</b></label>"
    if kind == "ImageModel":
        data = next((b["data"] for b in model.get("buffers", []) if b["path"] == ["value"]), "")
        return f'<img alt="" src="data:image/{state["format"]};base64,{data}">' if data else ""
    if kind == "OutputModel":
        return "".join(_output(output) for output in state.get("outputs", []))
    return ""


def _output(output: dict) -> str:
    """An Output widget's figure or text."""
    data = output.get("data", {})
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            return f'<img alt="" src="data:{mime};base64,{data[mime]}">'
    text = output.get("text") or data.get("text/plain", "")
    return f"<pre>{html.escape(''.join(text))}</pre>" if text else ""


def setup(app):
    app.connect("autodoc-process-docstring", literal_formula_blocks)
    app.connect("source-read", reread_api_when_changed)
    app.connect("build-finished", copy_mathjax)
    app.connect("html-page-context", widget_snapshots)
    app.add_css_file("course-site.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
