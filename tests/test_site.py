"""`make site`: the course website, built in fast mode as CI builds it, then read as a browser would.

One build (the lessons executed by myst-nb through jupyter-cache) serves every test here;
it goes into a temporary folder with its own cache, so it says nothing about, and does
not touch, a site the developer built in build/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in ROOT.glob("notebooks/[0-9]*.ipynb"))
ASSIGNMENTS = sorted(p.stem for p in ROOT.glob("assignments/[0-9]*.ipynb"))


def make_site(folder: Path, *make_variables: str, **env) -> subprocess.CompletedProcess:
    """`make site` in fast mode into ``folder``, with this interpreter's environment as the venv."""
    if shutil.which("make") is None:
        pytest.skip("`make` is not installed")
    command = ["make", "--no-print-directory", "--assume-old=install", "site",
               f"VENV={sys.prefix}", f"SITE_DIR={folder / 'site'}", f"SITE_SRC={folder / 'src'}",
               f"SITE_CACHE={folder / 'cache'}", *make_variables]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "GANLAB_FAST": "1", **env})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    result = make_site(folder)
    assert result.returncode == 0, f"make site failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return folder, result.stdout + result.stderr


@pytest.fixture(scope="module")
def site(built) -> Path:
    return built[0] / "site"


class Page(HTMLParser):
    """The ids, links (href and src) and images of one HTML page."""

    def __init__(self, path: Path):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (tag, url)
        self.images: list[str] = []
        self.scripts: list[str] = []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append((tag, attrs[key]))
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.scripts.append(attrs.get("href", ""))


def pages(site: Path) -> dict[Path, Page]:
    return {path: Page(path) for path in sorted(site.rglob("*.html"))
            if "_modules" not in path.parts and "_static" not in path.parts}


def test_every_lesson_assignment_and_reference_page_exists(site):
    expected = ["index.html", "search.html", "genindex.html", "py-modindex.html",
                "assignments/README.html", "api/index.html",
                *(f"notebooks/{name}.html" for name in LESSONS),
                *(f"assignments/{name}.html" for name in ASSIGNMENTS)]
    missing = [name for name in expected if not (site / name).is_file()]
    assert not missing, f"pages missing from the site: {missing}"
    assert len(LESSONS) == 7 and len(ASSIGNMENTS) == 7
    home = (site / "index.html").read_text(encoding="utf-8")
    # the README's story and its unit table open the site
    assert "taught by code that runs" in home and "Every claim" in home
    for unit in ("Autoencoders", "DCGAN"):
        assert unit in home
    # each page links to every lesson: the navigation between units
    lesson = (site / "notebooks" / f"{LESSONS[2]}.html").read_text(encoding="utf-8")
    for name in LESSONS:
        assert f"{name}.html" in lesson, f"the lesson page has no link to {name}"


@pytest.mark.parametrize("name", LESSONS)
def test_every_lesson_page_shows_its_figures(built, site, name):
    """Each figure the executed lesson drew is on its page, as an image file of the site."""
    executed = json.loads((built[0] / "jupyter_execute" / "notebooks" / f"{name}.ipynb").read_text())
    figures = sum("image/png" in output.get("data", {})
                  for cell in executed["cells"] for output in cell.get("outputs", []))
    assert figures >= 2, f"{name} drew {figures} figures when executed"
    page = Page(site / "notebooks" / f"{name}.html")
    shown = [src for src in page.images if "_images/" in src]
    assert len(shown) >= figures, f"{name}: {figures} figures drawn, {len(shown)} on the page"
    for src in shown:
        assert (site / "notebooks" / unquote(src)).resolve().is_file(), src
    # the lesson was executed without an error in any cell
    html = (site / "notebooks" / f"{name}.html").read_text(encoding="utf-8")
    assert "Traceback" not in html


def test_no_internal_link_is_broken(site):
    """Every relative href and src leads to a file of the site, and every #fragment to an id."""
    found = pages(site)
    broken = []
    for path, page in found.items():
        for tag, url in page.links:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)}: <{tag}> {url}")
            elif parts.fragment and target.suffix == ".html":
                ids = found[target].ids if target in found else Page(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(site)}: <{tag}> {url} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_site_loads_nothing_from_the_network(site):
    """No script or stylesheet from a CDN: the site works offline, MathJax included."""
    remote = [f"{path.relative_to(site)}: {url}" for path, page in pages(site).items()
              for url in page.scripts if urlsplit(url).scheme or url.startswith("//")]
    assert not remote, "pages load from the network:\n" + "\n".join(remote)
    assert (site / "_static" / "mathjax" / "MathJax.js").is_file()
    lesson = (site / "notebooks" / "02_vae_elbo.html").read_text(encoding="utf-8")  # $...$ math
    assert "_static/mathjax/MathJax.js" in lesson


def text_of(html: str) -> str:
    """What a reader sees of some HTML: its text, tags removed, entities decoded."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_the_reference_shows_the_docstrings_equations(site):
    """Formulas in plain notation stay as written, in literal blocks, in every module."""
    losses = (site / "api" / "losses-theory.html").read_text(encoding="utf-8")
    assert 'id="ganlab.losses.discriminator_loss"' in losses
    assert "L(x, x') = ||x - x'||^2 / D" in text_of(losses)  # reconstruction_error, inline
    # an indented formula block: one literal block, line breaks and all, not reflowed prose
    blocks = [text_of(block) for block in
              re.findall(r'<div class="highlight-text[^>]*>(.*?)</div>', losses, re.S)]
    assert any("L_D = -( (1/m) sum_i log D(x_i) + (1/m) sum_i log(1 - D(G(z_i))) )\n"
               "    = mean softplus(-l_real) + mean softplus(l_fake)" in block for block in blocks)
    page = (site / "api" / "runtime-data-training.html").read_text(encoding="utf-8")
    toy = page.split('id="module-ganlab.toy"')[1].split('id="module-ganlab.')[0]
    toy_blocks = [text_of(block) for block in
                  re.findall(r'<div class="highlight-text[^>]*>(.*?)</div>', toy, re.S)]
    assert any("D*(x) = p_data(x) / (p_data(x) + p_g(x))" in block for block in toy_blocks)
    assert any("min_count_k = max(1, ceil(n w_k / 5))" in block for block in toy_blocks)
    assert "$" not in text_of(toy) and "\\frac" not in text_of(toy)


def test_an_unchanged_lesson_is_not_executed_again(built, tmp_path):
    """A second build with the same notebook cache runs no notebook, even with Sphinx's state gone."""
    folder, first_log = built
    assert first_log.count("Executing notebook") == len(LESSONS)
    shutil.rmtree(folder / "cache" / "doctrees")
    result = make_site(folder)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "Executing notebook" not in log
    assert log.count("Using cached notebook") == len(LESSONS)


def test_a_cache_of_the_other_mode_is_refused(tmp_path):
    """The default mode's build never reuses fast-mode outputs (or the other way round)."""
    result = make_site(tmp_path, "SITE_MODE=fast", GANLAB_FAST="0")
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the Makefile prepared the fast mode's caches" in log
    assert "Executing notebook" not in log   # refused before anything runs
