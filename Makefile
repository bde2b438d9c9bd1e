# The two commands of the quick start: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench soak soak-short clean-venv

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

# The real bot on the fake exchange, faults and kill -9: 30 wall minutes (about 112 market days at 5400x).
soak: $(VENV)/.dev
	SOAK_WALL_S=$${SOAK_WALL_S:-1800} $(BIN)/python -m pytest -s -m soak tests/soak

soak-short: $(VENV)/.dev
	$(BIN)/python -m pytest -s -m soak tests/soak

# ruff, the layer contracts of ARCHITECTURE.md (an upward import fails), and the type checker.
lint: $(VENV)/.dev
	$(BIN)/python -m ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m mypy src ai_brain scripts

bench: $(VENV)/.dev
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/run_all.py
