# ganlab: two commands from a fresh clone.
#   make lab     set up .venv (first time only) and open the course in JupyterLab
#   make test    set up .venv (first time only) and run every test and notebook (fast mode)
#   make course  execute every notebook into build/ as .ipynb and .html (GANLAB_FAST=1 for a quick pass)
#   make site    the course as a static website in build/site/ (GANLAB_FAST=1 for a quick pass)
#   make screenshots  re-take the README's screenshots in a real browser (docs/images/)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ganlab-installed
# seconds one notebook cell may take under nbval (fast mode cells take a few seconds)
CELL_TIMEOUT ?= 600
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
# the instructor versions of the assignments (with solutions) run under nbval in `make test`
ASSIGNMENTS := $(sort $(wildcard assignments/source/[0-9]*.ipynb))
# extra arguments for `jupyter lab`; as root (containers) JupyterLab needs --allow-root
LAB_ARGS ?= $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

.PHONY: install lab test lint course site screenshots bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

install: $(STAMP)

lab: install
	$(BIN)/python -m ipykernel install --user --name ganlab --display-name "Python (ganlab)"
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab $(LAB_ARGS) notebooks/

test: install
	GANLAB_FAST=1 $(BIN)/python -m pytest tests $(NOTEBOOKS) $(ASSIGNMENTS) \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT)

lint: install
	$(BIN)/ruff check ganlab tests benchmarks docs

course: install
	mkdir -p build
	@set -e; for nb in $(NOTEBOOKS); do \
		echo "executing $$nb"; \
		PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter nbconvert --to notebook --execute \
			--ExecutePreprocessor.timeout=-1 --ExecutePreprocessor.kernel_name=python3 \
			--output-dir build "$$nb"; \
		$(BIN)/jupyter nbconvert --to html --output-dir build "build/$$(basename $$nb)"; \
	done

# `make site`: docs/ (Sphinx), the lessons, the released assignments and the README are staged
# into one source folder, as laid out in the repository, for Sphinx reads nothing outside it.
# Fast mode changes the notebooks' outputs but not their code, which is all the notebook cache
# looks at: each mode keeps its own cache and Sphinx environment, so neither serves the other's.
SITE_DIR   ?= build/site
SITE_SRC   ?= build/site-src
SITE_MODE  := $(if $(filter 1 true yes on,$(GANLAB_FAST)),fast,default)
SITE_CACHE ?= build/.site-cache-$(SITE_MODE)
SITE_OPTS  ?= -W --keep-going

site: install
	rm -rf $(SITE_SRC)
	mkdir -p $(SITE_SRC)/assignments
	cp -Rp docs/. README.md notebooks $(SITE_SRC)/
	cp -p assignments/README.md assignments/[0-9]*.ipynb $(SITE_SRC)/assignments/
	GANLAB_SITE_MODE=$(SITE_MODE) PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sphinx-build -b html $(SITE_OPTS) \
		-d $(SITE_CACHE)/doctrees -D nb_execution_cache_path=$(abspath $(SITE_CACHE))/jupyter_cache \
		$(SITE_SRC) $(SITE_DIR)
	@echo "the course website ($(SITE_MODE) mode): $(SITE_DIR)/index.html"

# the README's pictures, taken by the browser tests (tests/test_browser.py) in JupyterLab
SCREENSHOTS := widget-gan-lab-2d.png widget-latent-explorer.png dcgan-samples.png

screenshots: install
	rm -f $(addprefix build/screenshots/,$(SCREENSHOTS))
	CI=true GANLAB_FAST=1 $(BIN)/python -m pytest -q tests/test_browser.py \
		-k "gan-lab-2d or latent-explorer or dcgan_samples"
	mkdir -p docs/images
	cp $(addprefix build/screenshots/,$(SCREENSHOTS)) docs/images/

bench: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/notebooks.py

clean:
	rm -rf build .pytest_cache
