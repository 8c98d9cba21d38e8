# Self-documenting: `make help`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATE   ?=
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help demo test check lint typecheck fix bench clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# ASL structural validator (npm); skipped where no node/npm exists
	command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix $(VENV)/asl-validator asl-validator@4.0.0 || true
	@touch $(STAMP)

demo: $(STAMP) ## run a full local nightly pipeline on generated data (no AWS needed)
	$(BIN)/udp demo $(ARGS)

test: $(STAMP) ## lint, type-check and run every test (unit, functional, end-to-end)
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/python -m pytest -n 2 --dist loadfile $(ARGS)

lint: $(STAMP) ## ruff only
	$(BIN)/ruff check .

typecheck: $(STAMP) ## mypy only
	$(BIN)/mypy .

fix: $(STAMP) ## apply ruff's safe fixes
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## run every benchmark under bench/ (prints side-by-side ratios)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## remove local state (.udp) and caches; keeps the virtualenv
	rm -rf .udp .pytest_cache .mypy_cache .ruff_cache .hypothesis
