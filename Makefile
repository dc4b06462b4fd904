PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test test-all bench lint docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[sandbox]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/peering-tui

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# pytest-xdist workers: two more than the cores, since a fair share of the suite waits
# (retries backing off, poll intervals, processes starting) rather than computes. Units of
# work are dealt as tests/scheduling.py says (heavy tests alone and first, modules whole).
WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 2)')
XDIST = -n $(WORKERS) --dist loadgroup

# Some machines set PYTHONDONTWRITEBYTECODE: every process the suite starts (30 peering-tui
# commands for the secrets test alone, four workers, the benchmarks' servers) would compile
# the project's modules again. __pycache__ is ignored by git.
unexport PYTHONDONTWRITEBYTECODE

# Every feature, each long run in its short variant.
test: lint
	$(BIN)/pytest -q $(XDIST) -m "not slow"

# Everything, the long variants too (a 3-minute AWS outage, 200 poll ticks and 20 seeds under
# faults, 5,000 peerings).
test-all: lint
	$(BIN)/pytest -q $(XDIST)

bench: $(STAMP_TEST)
	$(BIN)/python -m tests.bench

# The README's screenshots, from the real dashboard on a fresh sandbox (PNGs need rsvg-convert).
docs: $(STAMP_TEST)
	$(BIN)/python -m tests.docs_screenshots

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
