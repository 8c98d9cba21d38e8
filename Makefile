# Self-documenting: `make help`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
INFRA  := $(VENV)/.installed-infra
BROWSER := $(VENV)/.installed-browser
ARGS   ?=
ENV    ?= dev
CDK    := $(VENV)/cdk-cli/node_modules/.bin/cdk

.DEFAULT_GOAL := help
.PHONY: help demo test lint typecheck fix bench clean synth infra-check bootstrap deploy

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# Tools only the tests and the infrastructure need (CDK, cfn-lint, checkov, ASL validator).
$(INFRA): $(STAMP) infra/requirements-checkov.txt infra/package-lock.json
	$(BIN)/python -m pip install --quiet -e ".[dev,infra]"
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet -r infra/requirements-checkov.txt
	@# the pinned CDK CLI and the ASL structural validator come from npm (skipped without npm)
	command -v npm >/dev/null && mkdir -p $(VENV)/cdk-cli && cp infra/package.json infra/package-lock.json $(VENV)/cdk-cli/ && npm ci --silent --no-audit --no-fund --prefix $(VENV)/cdk-cli || true
	command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix $(VENV)/asl-validator asl-validator@4.0.0 || true
	@touch $(INFRA)

# Debian's Chromium for the report's browser test (tests/functional/test_report_browser.py);
# installed with apt-get when missing (CI runs as root on a fresh Debian machine).
$(BROWSER): $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	@touch $(BROWSER)

demo: $(STAMP) ## run a full local nightly pipeline on generated data (no AWS needed)
	$(BIN)/udp demo $(ARGS)

test: $(INFRA) $(BROWSER) ## lint, check the import layers, type-check and run every test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy .
	$(BIN)/python -m pytest -n 2 --dist loadfile $(ARGS)

lint: $(STAMP) ## ruff only
	$(BIN)/ruff check .

typecheck: $(STAMP) ## mypy only
	$(BIN)/mypy .

fix: $(STAMP) ## apply ruff's safe fixes
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## run every benchmark under bench/ (prints side-by-side ratios)
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## remove local state (.udp) and caches; keeps the virtualenv
	rm -rf .udp .pytest_cache .mypy_cache .ruff_cache .hypothesis

synth: $(INFRA) ## synthesize the AWS stack for ENV (default dev) into cdk.out/ (offline)
	$(BIN)/python -m infra.app --env $(ENV) --out cdk.out

infra-check: synth ## cfn-lint + checkov (offline) on the synthesized template of ENV
	$(BIN)/python -m infra.checks cdk.out/udp-$(ENV).template.json

bootstrap: synth ## once per AWS account/region: cdk bootstrap for ENV
	$(CDK) bootstrap --app cdk.out

deploy: synth ## deploy ENV to AWS, e.g. `make deploy ENV=prod` (see README checklist)
	$(CDK) deploy --app cdk.out udp-$(ENV) --require-approval broadening
