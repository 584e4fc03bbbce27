# modelops: run `make help` for the targets.
SHELL := bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Toolkit Python (always linted) and team Python (linted with TEAM=1; see docs/team-code.md).
TOOLKIT_PY := src/modelops tests bench
TEAM_PY = $(wildcard src/models tests/examples)
TEAM ?=

.PHONY: help install demo test test-fast lint reference bench stack clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	# torch==2.13.0 is pinned in pyproject.toml: pip takes the local CPU wheel.
	# The spark extra: `predict --engine spark` and its tests (tests/integration/test_spark.py).
	$(BIN)/python -m pip install --quiet -e ".[spark]" --group dev
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the toolkit with its dev tools

demo: $(STAMP) ## run the whole model loop offline on every model in pipelines/
	$(BIN)/modelops demo

test: $(STAMP) ## run the full test suite (unit, integration, workflows)
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## unit tests only
	$(BIN)/python -m pytest tests/unit -q

lint: $(STAMP) ## ruff and mypy on the toolkit, the workflow linters; TEAM=1 also lints src/models
	$(BIN)/ruff check --extend-exclude tests/examples $(TOOLKIT_PY)
	$(BIN)/ruff format --check --extend-exclude tests/examples $(TOOLKIT_PY)
	$(BIN)/mypy
	$(BIN)/python -m modelops.schemadoc --check
	$(BIN)/actionlint
	$(BIN)/zizmor --offline --min-severity medium .github/workflows actions
	@if [ -n "$(TEAM)" ] && [ -n "$(TEAM_PY)" ]; then \
		echo "team code: $(TEAM_PY)"; \
		$(BIN)/ruff check $(TEAM_PY) && $(BIN)/ruff format --check $(TEAM_PY); \
	fi

reference: $(STAMP) ## regenerate docs/reference.md from the JSON Schemas
	$(BIN)/python -m modelops.schemadoc

bench: $(STAMP) ## run the benchmarks (~15 min) and write bench/RESULTS.md (clean tree only)
	$(BIN)/python bench/run.py

stack: $(STAMP) ## start a local MLflow server + S3 endpoint on 127.0.0.1 (Ctrl-C stops)
	$(BIN)/python -m modelops.localstack

clean: ## remove the venv and the embedded state
	rm -rf $(VENV) .modelops
