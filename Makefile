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
# (retries backing off, poll intervals, processes starting) rather than computes.
WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 2)')

# Every feature, each long run in its short variant.
test: lint
	$(BIN)/pytest -q -n $(WORKERS) -m "not slow"

# Everything, the long variants too (a 3-minute AWS outage, 200 poll ticks and 20 seeds under
# faults, 5,000 peerings).
test-all: lint
	$(BIN)/pytest -q -n $(WORKERS)

bench: $(STAMP_TEST)
	$(BIN)/python -m tests.bench

# The README's screenshots, from the real dashboard on a fresh sandbox (PNGs need rsvg-convert).
docs: $(STAMP_TEST)
	$(BIN)/python -m tests.docs_screenshots

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
