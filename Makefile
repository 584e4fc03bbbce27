# modelops: run `make help` for the targets.
SHELL := bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install demo test test-fast lint bench stack clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	# torch==2.13.0 is pinned in pyproject.toml: pip takes the local CPU wheel.
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the toolkit with its dev tools

demo: $(STAMP) ## run the whole model loop offline on the two example models
	$(BIN)/modelops demo

test: $(STAMP) ## run the full test suite (unit, integration, workflows)
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## unit tests only
	$(BIN)/python -m pytest tests/unit -q

lint: $(STAMP) ## ruff, mypy, and the workflow linters
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/actionlint
	$(BIN)/zizmor --offline --min-severity medium .github/workflows actions

bench: $(STAMP) ## run the benchmarks (~15 min) and write bench/RESULTS.md (clean tree only)
	$(BIN)/python bench/run.py

stack: $(STAMP) ## start a local MLflow server + S3 endpoint on 127.0.0.1 (Ctrl-C stops)
	$(BIN)/python -m modelops.localstack

clean: ## remove the venv and the embedded state
	rm -rf $(VENV) .modelops
