# ganlab: two commands from a fresh clone.
#   make lab     set up .venv (first time only) and open the course in JupyterLab
#   make test    set up .venv (first time only) and run every test and notebook (fast mode)
#   make course  execute every notebook into build/ as .ipynb and .html (GANLAB_FAST=1 for a quick pass)

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

.PHONY: install lab test lint course bench clean

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
	$(BIN)/ruff check ganlab tests benchmarks

course: install
	mkdir -p build
	@set -e; for nb in $(NOTEBOOKS); do \
		echo "executing $$nb"; \
		PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter nbconvert --to notebook --execute \
			--ExecutePreprocessor.timeout=-1 --ExecutePreprocessor.kernel_name=python3 \
			--output-dir build "$$nb"; \
		$(BIN)/jupyter nbconvert --to html --output-dir build "build/$$(basename $$nb)"; \
	done

bench: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/notebooks.py

clean:
	rm -rf build .pytest_cache
