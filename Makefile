# The two commands: `make run` (local stack) and `make test` (lint, types,
# tests, template validation). Both set up what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV       := .venv
TOOLS_VENV := .venv-tools
PY         := $(VENV)/bin/python
SAM        := $(TOOLS_VENV)/bin/sam
PIP_FLAGS  := --quiet --disable-pip-version-check
export PYTHONPATH := $(CURDIR)/layers/realtime_chat:$(CURDIR)
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help setup run test lint types unit validate bench chat token invoke build deploy clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/dev.txt layers/realtime_chat/requirements.txt
	@py=$$(scripts/find-python.sh) && echo "Creating $(VENV) with $$py" && \
	  { [ -x $(PY) ] || $$py -m venv $(VENV); }
	$(PY) -m pip install $(PIP_FLAGS) -r requirements/dev.txt
	@touch $@

$(TOOLS_VENV)/.installed: requirements/tools.txt
	@py=$$(scripts/find-python.sh) && { [ -x $(TOOLS_VENV)/bin/python ] || $$py -m venv $(TOOLS_VENV); }
	$(TOOLS_VENV)/bin/python -m pip install $(PIP_FLAGS) -r requirements/tools.txt
	@touch $@

setup: $(VENV)/.installed $(TOOLS_VENV)/.installed  ## create or refresh both venvs

run: $(VENV)/.installed  ## run the local stack (gateway, embedded AWS, Cognito, model)
	$(PY) -m local_stack

test: setup lint types unit validate  ## lint, type check, tests, template validation

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

types: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	$(PY) -m pytest

validate: $(VENV)/.installed $(TOOLS_VENV)/.installed  ## cfn-lint and sam validate --lint
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --region $(AWS_DEFAULT_REGION)

chat: $(VENV)/.installed  ## interactive client for the running local stack
	@$(PY) -m local_stack.chat

token: $(VENV)/.installed  ## print a fresh ID token of the local demo user
	@$(PY) -m local_stack.token

invoke: $(VENV)/.installed  ## FUNCTION=DefaultFunction EVENT=events/ping.json
	@$(PY) -m local_stack.invoke $(FUNCTION) $(EVENT)

bench: $(VENV)/.installed  ## cold-start imports and per-message cost
	$(PY) -m benchmarks

build: $(TOOLS_VENV)/.installed  ## sam build (no container; fetches arm64 wheels)
	PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" $(SAM) build

deploy: build  ## sam deploy with samconfig.toml (needs AWS credentials)
	$(SAM) deploy

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .aws-sam .mypy_cache .pytest_cache .ruff_cache .local
