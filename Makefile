# The two set-up commands of the README: `make demo` (main job) and `make test` (tests).
# Both work on a fresh machine: they create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Test processes: most tests wait on subprocesses, sockets and databases rather than the CPU,
# so three share two cores well. The device tests run after them, alone (tests/conftest.py).
TEST_PROCESSES ?= 3

.PHONY: demo test lint services
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# One stamp per set of extras, so `make demo` then `make test` installs the test extras too.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[$(subst +,$(comma),$*)]"
	touch $@
comma := ,

# The main job: a 200-take capture from the preset prior on the emulated board, into a
# SQLite catalog and FLAC store under ./var (embedded defaults; no hardware, no services).
demo: $(VENV)/.installed-hardware
	$(BIN)/jxdaq job run examples/job-prior.toml
	$(BIN)/jxdaq catalog verify

services:
	bash scripts/test-services.sh

test: services $(VENV)/.installed-hardware+training+s3+formats+dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadgroup -m "not devices"
	$(BIN)/pytest -m devices

lint: $(VENV)/.installed-hardware+training+s3+formats+dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/lint-imports
