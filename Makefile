# mpqlab: `make quickstart` (set up + main job), `make test` (set up + tests), `make lab`, `make figures`, `make book`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/datasets)
export MPQLAB_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),$(HOME)/.cache/mpqlab/data)
export BROWSER_PATH ?= /usr/bin/chromium

.PHONY: setup system quickstart test test-fast figures book lab benchmarks clean

setup: system $(VENV)/.installed

# Debian packages: chromium (static figure export, browser test), dataset-fashion-mnist. Optional: without
# root or apt the kit still runs and says what is missing.
system:
	@bash scripts/system_deps.sh

# One pip command, torch and torchvision pinned together in pyproject.toml (and environment.yml).
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

quickstart: setup
	$(BIN)/mpqlab quickstart

# Tests run on min(cores, 4) pytest-xdist workers; tests that share a fixture or a port are grouped onto one worker.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --durations 15

test: setup
	$(PYTEST) tests

# The inner loop: everything but the end-to-end tests marked slow (real processes, papermill, the browser), with
# the quantizer kernels eager (small batches: compiling them costs more than it saves; `make test` covers them).
test-fast: setup
	MPQLAB_COMPILE=0 $(PYTEST) -m "not slow and not browser" tests

figures: setup
	$(BIN)/mpqlab figures

# The executed notebooks as a static site, offline and kernel-free: open runs/book/index.html in a browser.
book: setup
	$(BIN)/mpqlab book

# JupyterLab on the notebooks (start with 00_quickstart.ipynb); interactive runs write to runs/, not figures/.
# Works as root too (--allow-root is added for uid 0, the user a container or a fresh cloud machine gives you).
LAB_PORT ?= 8888
lab: setup
	@echo "JupyterLab on port $(LAB_PORT). On a remote machine, forward the port from your own first:"
	@echo "  ssh -N -L $(LAB_PORT):localhost:$(LAB_PORT) $${USER:-you}@$$(hostname)"
	@echo "then open the http://localhost:$(LAB_PORT)/lab?token=... address printed below in your browser."
	$(BIN)/jupyter lab notebooks/ --no-browser --port $(LAB_PORT) $(if $(filter 0,$(shell id -u)),--allow-root,)

benchmarks: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b; done

clean:
	rm -rf runs .pytest_cache
