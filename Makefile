# Two commands for a fresh machine (only Python 3.10+ needed):
#   make lab    set everything up and open the course in JupyterLab
#   make test   set everything up and run the whole test suite (unit tests + every notebook, quick mode)
# For contributors:
#   make test-fast   the unit tests only (no notebooks, kernels, browser or installs), about a minute
#   make lint        ruff, with the configuration in pyproject.toml
# Both create (or reuse) a virtual environment in .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8888
LAB_ARGS ?=
# The test suite runs notebooks in quick mode (small sizes); `make test QUICK=0` runs them at full size.
QUICK ?= 1

.PHONY: lab test test-fast lint install student-notebooks clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || \
		{ echo "error: the course needs Python 3.10 or newer (found: $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

lab: install
	$(BIN)/jupyter lab --port=$(PORT) --notebook-dir=notebooks $(LAB_ARGS)

test: install
	$(BIN)/ruff check course_utils course_tools tests
	$(BIN)/python -m course_tools.notebooks check
	$(BIN)/python -m course_tools.colab check
	COURSE_QUICK=$(QUICK) MPLBACKEND=Agg $(BIN)/python -m pytest

test-fast: install
	MPLBACKEND=Agg $(BIN)/python -m pytest -m "not slow" -q tests

lint: install
	$(BIN)/ruff check course_utils course_tools tests

# Regenerate notebooks/*.ipynb from notebooks/solutions/*.ipynb (the source of truth).
student-notebooks: install
	$(BIN)/python -m course_tools.notebooks build

clean:
	rm -rf $(VENV) build *.egg-info test-artifacts
