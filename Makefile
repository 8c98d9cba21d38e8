# Self-documenting: `make help`.
# Python 3.13, the interpreter of Glue 6.0 and of the Lambda images: the first of
# python3.13 on PATH, pyenv's newest 3.13, /usr/local or /usr that really runs 3.13 (a pyenv
# shim for a version not selected is on PATH but fails, so each candidate is run).
PYTHON ?= $(shell for p in python3.13 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -1) /usr/local/bin/python3.13 /usr/bin/python3.13; do "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
NEED_PYTHON = $(if $(PYTHON),,$(error no Python 3.13 found (python3.13 on PATH, pyenv, /usr/local/bin or /usr/bin): install one, or run make PYTHON=/path/to/python3.13))
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
INFRA  := $(VENV)/.installed-infra
BROWSER := $(VENV)/.installed-browser
JAVA   := $(VENV)/.installed-java
ARGS   ?=
PYTEST_TMP ?= /tmp/udp-pytest-$(shell id -u)
ENV    ?= dev
APPROVAL ?= broadening
# Every install goes through the lock (docs/develop/dependencies.md): a fresh clone gets exactly the
# versions CI tested. `make lock` regenerates it.
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c constraints.txt
CDK    := $(VENV)/cdk-cli/node_modules/.bin/cdk

.DEFAULT_GOAL := help
.PHONY: help demo test lint typecheck fix bench clean synth infra-check bootstrap deploy diff lock

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(NEED_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e ".[dev]"
	@touch $(STAMP)

# Tools only the tests and the infrastructure need (CDK, cfn-lint, checkov, ASL validator).
$(INFRA): $(STAMP) infra/requirements-checkov.txt infra/constraints-checkov.txt infra/package-lock.json
	$(PIP_INSTALL) -e ".[dev,infra]"
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet -c infra/constraints-checkov.txt -r infra/requirements-checkov.txt
	@# the pinned CDK CLI and the ASL structural validator come from npm (skipped without npm)
	command -v npm >/dev/null && mkdir -p $(VENV)/cdk-cli && cp infra/package.json infra/package-lock.json $(VENV)/cdk-cli/ && npm ci --silent --no-audit --no-fund --prefix $(VENV)/cdk-cli || true
	command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix $(VENV)/asl-validator asl-validator@4.0.0 || true
	@touch $(INFRA)

# Debian's Chromium for the report's browser test (tests/functional/test_report_browser.py);
# installed with apt-get when missing (CI runs as root on a fresh Debian machine).
$(BROWSER): $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	@touch $(BROWSER)

# A Java that runs Spark 4.1: 17+ with the jdk.incubator.vector module (local_aws/glue/java.py
# says why); Debian's headless OpenJDK 17 is installed with apt-get when none is found.
$(JAVA): $(STAMP)
	$(BIN)/python -m local_aws.glue.java >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless)
	$(BIN)/python -m local_aws.glue.java
	@touch $(JAVA)

demo: $(STAMP) $(JAVA) ## run a full local nightly pipeline on generated data (no AWS needed)
	$(BIN)/udp demo $(ARGS)

test: $(INFRA) $(BROWSER) $(JAVA) ## lint, check the import layers, type-check and run every test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy .
	$(BIN)/actionlint
	@# the embedded PostgreSQL runs as its own user: its data folders under pytest's temp
	@# folder must be reachable, which /tmp/pytest-of-root (mode 0700) is not when run as root
	mkdir -p $(PYTEST_TMP) && chmod 755 $(PYTEST_TMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --basetemp=$(PYTEST_TMP)/run $(ARGS)

lint: $(STAMP) ## ruff only
	$(BIN)/ruff check .

typecheck: $(STAMP) ## mypy only
	$(BIN)/mypy .

fix: $(STAMP) ## apply ruff's safe fixes
	$(BIN)/ruff check --fix .

# RECORD=1 stores each script's figures (bench/_figures.py writes the figures page).
bench: $(STAMP) $(JAVA) ## run every benchmark under bench/ (prints side-by-side ratios)
	@for b in bench/[!_]*.py; do echo "== $$b"; \
	  flag=$$( [ -n "$(RECORD)" ] && grep -q add_record_flag $$b && echo --record ); \
	  $(BIN)/python $$b $$flag || exit 1; done

clean: ## remove local state (.udp) and caches; keeps the virtualenv
	rm -rf .udp .pytest_cache .mypy_cache .ruff_cache .hypothesis

synth: $(INFRA) ## synthesize the AWS stack for ENV (default dev) into cdk.out/ (offline)
	$(BIN)/python -m infra.app --env $(ENV) --out cdk.out

infra-check: synth ## cfn-lint + checkov (offline) on the synthesized template of ENV
	$(BIN)/python -m infra.checks cdk.out/udp-$(ENV).template.json

bootstrap: synth ## once per AWS account/region: cdk bootstrap for ENV
	$(CDK) bootstrap --app cdk.out

deploy: synth ## deploy ENV to AWS, e.g. `make deploy ENV=prod` (see README checklist)
	$(CDK) deploy --app cdk.out udp-$(ENV) --require-approval $(APPROVAL)

diff: synth ## what a deploy of ENV would change (reads the deployed stack; AWS credentials)
	@# --method template: compares with the deployed template through the bootstrap lookup role
	@# (read-only), so the PR workflow needs no deploy rights
	$(CDK) diff --app cdk.out udp-$(ENV) --method template

# A throwaway venv resolves pyproject.toml's ranges afresh (newest allowed versions) and
# its freeze becomes the lock; then run `make test` and commit both (docs/develop/dependencies.md).
lock: ## re-resolve Python dependencies to the newest allowed; rewrite constraints*.txt
	$(NEED_PYTHON)
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-lock/bin/python -m pip install --quiet -e ".[dev,infra]"
	{ echo "# Generated by \`make lock\` (pip freeze of a fresh .[dev,infra] install); do not edit."; \
	  echo "# Python $$($(VENV)-lock/bin/python -c 'import platform; print(platform.python_version())') on $$(uname -sm)."; \
	  $(VENV)-lock/bin/python -m pip freeze --exclude-editable; } > constraints.txt
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet -r infra/requirements-checkov.txt
	{ echo "# Generated by \`make lock\` (pip freeze of checkov's own venv); do not edit."; \
	  echo "# Python $$($(VENV)-lock/bin/python -c 'import platform; print(platform.python_version())') on $$(uname -sm)."; \
	  $(VENV)-lock/bin/python -m pip freeze --exclude-editable; } > infra/constraints-checkov.txt
	rm -rf $(VENV)-lock
	@echo "constraints.txt rewritten: review \`git diff constraints.txt\`, then \`make test\`"
