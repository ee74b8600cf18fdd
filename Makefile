# JookSMS: `make run` installs and starts the platform; `make test` installs and tests.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
# The first Python 3.11+ on PATH.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && { echo $$p; break; }; done)

.PHONY: run test install install-dev lint typecheck pytest bench bench-delivery clean system-packages

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: JookSMS needs Python 3.11 or newer on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@ $(VENV)/.installed-dev $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Start the platform on the embedded default (SQLite under ./data/).
run: install
	$(BIN)/jooksms serve

## Lint, type-check and run the whole test suite.
test: system-packages install-dev lint typecheck pytest

## The SMPP peers of the interop tests (Kannel, Net::SMPP), where root can install them.
system-packages:
	bash scripts/system-packages.sh

lint: install-dev
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/pytest $(PYTEST_ARGS)

## Benchmarks (see bench/README.md).
bench: $(VENV)/.installed-bench
	$(BIN)/python bench/api.py

bench-delivery: $(VENV)/.installed-bench
	$(BIN)/python bench/delivery.py --all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
