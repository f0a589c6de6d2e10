# Two commands for a fresh machine (only Python 3.10+ needed):
#   make lab    set everything up and open the course in JupyterLab
#   make test   set everything up and run the whole test suite (unit tests + every notebook, quick mode)
# For contributors:
#   make test-fast   the unit tests only (no notebooks, kernels, browser, installs or training runs), under a minute
#   make lint        ruff, with the configuration in pyproject.toml
#   make lock        rewrite .ci/constraints.txt, the dev environment CI installs
# For instructors (the student edition has no course_tools/, so these targets exist only here):
#   make student-notebooks            regenerate notebooks/*.ipynb from notebooks/solutions/
#   make release OUT=DIR [FORCE=1] [DRAFT=1]   build the student edition in DIR and tag the release (INSTRUCTORS.md)
#   make gpu-wheels                   the wheels a GPU machine without network needs for `bash .ci/gpu-check`
# All of them create (or reuse) a virtual environment in .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8888
LAB_ARGS ?=
# The test suite runs notebooks in quick mode (small sizes); `make test QUICK=0` runs them at full size.
QUICK ?= 1
# course_tools/ (student copies, Colab cells, releases, grading) is in the instructor's repository only.
TOOLS := $(wildcard course_tools)

.PHONY: lab test test-fast lint lock install student-notebooks release gpu-wheels clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || \
		{ echo "error: the course needs Python 3.10 or newer (found: $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# JupyterLab 4 greets every new user with "Would you like to get notified about official Jupyter news?",
# a popup that covers the notebook's sliders. .jupyter/labconfig/page_config.json switches its plugin
# (@jupyterlab/apputils-extension:announcements: news and update checks) off for the JupyterLab started
# here, through JUPYTER_CONFIG_PATH; nothing is written to your settings or to the environment.
lab: install
	JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
		$(BIN)/jupyter lab --port=$(PORT) --notebook-dir=notebooks $(LAB_ARGS)

test: install
	$(BIN)/ruff check course_utils $(TOOLS) tests
ifneq ($(TOOLS),)
	$(BIN)/python -m course_tools.notebooks check
	$(BIN)/python -m course_tools.colab check
endif
	COURSE_QUICK=$(QUICK) MPLBACKEND=Agg $(BIN)/python -m pytest

# test-fast runs no notebook, so it leaves out the nbval plugin (and the nbval options of pyproject's addopts):
# importing it costs each of the two test processes about 3 s.
test-fast: install
	MPLBACKEND=Agg OMP_NUM_THREADS=1 $(BIN)/python -m pytest -p no:nbval -o addopts="-p no:cacheprovider" \
		-m "not slow" -q -n 2 tests

lint: install
	$(BIN)/ruff check course_utils $(TOOLS) tests

# Regenerate notebooks/*.ipynb from notebooks/solutions/*.ipynb (the source of truth).
ifneq ($(TOOLS),)
student-notebooks: install
	$(BIN)/python -m course_tools.notebooks build

# The student edition, from this commit, into OUT (INSTRUCTORS.md, "Releasing the student edition").
release: install
	@test -n "$(OUT)" || { echo "usage: make release OUT=folder [FORCE=1] [DRAFT=1]"; exit 2; }
	$(BIN)/python -m course_tools.release "$(OUT)" $(if $(FORCE),--force) $(if $(DRAFT),--draft)

# Rewrite .ci/constraints.txt, the lock of the dev environment that CI installs: torch and torchvision at
# the versions CI's machine keeps on disk, everything else as installed in .venv now. The project itself
# declares only floors (pyproject.toml), so students, Colab and conda keep their own versions.
lock: install
	{ echo "# The dev environment's lock, used by CI (PIP_CONSTRAINT in .ci/run) and by contributors who want CI's"; \
	  echo "# versions: PIP_CONSTRAINT=\$$PWD/.ci/constraints.txt make install. Written by 'make lock' (Python 3.11)."; \
	  echo "torch==2.14.1"; echo "torchvision==0.29.1"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -i -E '^(torch|torchvision|nvidia-|triton|cuda-)'; \
	} > .ci/constraints.txt

# The Jupyter stack that .ci/gpu-check needs and a lent GPU machine lacks (it has torch, matplotlib, numpy, tqdm,
# pytest and their needs, on Python 3.12, and no network), as wheels at the versions of .ci/constraints.txt.
GPU_PYTHON ?= 3.12
GPU_WHEELS := asttokens comm debugpy executing fastjsonschema ipykernel ipython ipython-pygments-lexers ipywidgets \
	jedi jsonschema jsonschema-specifications jupyter-client jupyter-core jupyterlab-widgets matplotlib-inline \
	nbclient nbformat nbval nest-asyncio2 parso pexpect platformdirs prompt-toolkit ptyprocess pure-eval pyzmq \
	referencing rpds-py stack-data tornado traitlets tzdata wcwidth widgetsnbextension
gpu-wheels: install
	rm -rf .whl
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		--python-version $(GPU_PYTHON) --implementation cp $(foreach n,17 27 28,--platform manylinux_2_$(n)_x86_64) \
		-c .ci/constraints.txt -d .whl $(GPU_WHEELS)
	@echo "$$(ls .whl | wc -l) wheels, $$(du -sh .whl | cut -f1), in .whl/: carry it to the GPU machine with the repository"
else
student-notebooks release lock gpu-wheels:
	@echo "error: this is the student edition (no course_tools/): $@ is run in the instructor's repository"; exit 2
endif

clean:
	rm -rf $(VENV) build .whl *.egg-info test-artifacts
