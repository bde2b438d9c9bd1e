# The two commands of the quick start: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean-venv

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (or run: make PY=python3 ...)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/python ai_trading_lab.py $(ARGS)

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff, the layer contracts of ARCHITECTURE.md (an upward import fails), and the type checker.
lint: $(VENV)/.dev
	$(BIN)/python -m ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m mypy src ai_brain scripts

bench: $(VENV)/.dev
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/run_all.py
