"""Sphinx configuration of the course website (`make site` builds it into build/site/).

`make site` stages this folder with the lessons (notebooks/), the released assignments
and the README into one source folder, laid out as in the repository (this folder's
files at its top), because Sphinx reads no document outside its source folder; links
between the notebooks and the READMEs then work as they do on GitHub.

The lessons are executed by myst-nb through jupyter-cache: a notebook whose code did
not change is not run again. Fast mode (GANLAB_FAST=1, which the kernel inherits)
changes the outputs but not the code, so the Makefile keeps one notebook cache and one
Sphinx environment per mode, and this file checks that it was given the right ones.
What Sphinx's settings cannot do (docstrings, MathJax, widgets) is in _ext/course_site.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ganlab import runtime

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

MODE = "fast" if runtime.fast_mode() else "default"
if os.environ.get("GANLAB_SITE_MODE", MODE) != MODE:
    raise RuntimeError(f"the Makefile prepared the {os.environ['GANLAB_SITE_MODE']} mode's caches "
                       f"but GANLAB_FAST={os.environ.get('GANLAB_FAST', '')!r} means {MODE} mode")

project = "ganlab"
author = "the ganlab authors"
copyright = "the ganlab authors, MIT licence"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "course_site",
]
exclude_patterns = [
    "README.md",  # the repository's README: included by index.md, not a page of its own
    "**/.ipynb_checkpoints",
]

# --- MyST and the notebooks --------------------------------------------------------------

myst_enable_extensions = ["dollarmath"]  # the lessons write their math as $...$ and $$...$$
myst_heading_anchors = 3                 # links such as assignments/README.md#grading-instructors

nb_execution_mode = "cache"
nb_execution_cache_path = f"build/.site-cache-{MODE}/jupyter_cache"  # the Makefile passes its own
nb_execution_timeout = -1            # no limit per cell: Unit 03 takes 13 minutes in default mode
nb_execution_raise_on_error = True   # a lesson that fails to run fails the build
nb_execution_show_tb = True
nb_execution_in_temp = True          # nothing a notebook writes lands among the site's sources
# The released assignments are blank templates: executed, every check cell would only say
# "not implemented yet". Running students' submissions is the grader's job.
nb_execution_excludepatterns = ["assignments/*"]
nb_merge_streams = True              # one block per cell for its printed lines, not one per print
# no ipywidgets JavaScript (from a CDN): course_site.py shows each widget as a static snapshot
nb_ipywidgets_js = {}

# --- the package reference ---------------------------------------------------------------

autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
autodoc_typehints = "description"  # signatures stay short; the types are listed below them
default_role = "py:obj"            # `name` in a docstring links to that object when it can

# --- HTML: the book theme, everything served from the site itself ------------------------

html_theme = "sphinx_book_theme"
html_title = "ganlab"
html_static_path = ["_static"]
html_theme_options = {
    "use_download_button": True,  # each lesson's .ipynb, to open in JupyterLab
    "show_toc_level": 2,
    "navigation_with_keys": True,
}
if MODE == "fast":
    html_theme_options["announcement"] = (
        "Built in fast mode (GANLAB_FAST=1): the lessons ran with tiny sizes, so their "
        "figures and numbers are not the course's results; “make site” builds the real ones.")

# MathJax 2 from the jupyter-server-mathjax package (course_site.py copies it into
# _static/), instead of Sphinx's default MathJax from a CDN: the site works offline.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
myst_update_mathjax = False  # it would write a MathJax 3+ configuration; this is MathJax 2's
mathjax2_config = {
    # Sphinx writes math as \(...\) and \[...\]; a dollar sign in the text stays a dollar
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processEscapes": False},
    # the package ships only the STIX web fonts (Jupyter's own MathJax 2 setup uses them too)
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web",
                 "imageFont": None},
}
