# The project's commands; see README.md.
SHELL := /bin/bash
PYTHON ?= $(shell PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| python3 -c 'import sys; print(sys.executable)')
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
# samconfig.toml environment of `make deploy`: default or prod.
ENV ?= default
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
# The offline targets need some region for boto3; build and deploy use the profile's (or the one you export).
run invoke test test-fast bench burst load: export AWS_DEFAULT_REGION ?= us-east-1
export PY313 := $(PYTHON)
# pytest's shared /tmp/pytest-of-<user> is pruned by any other run on the machine; each checkout keeps its own.
PYTEST := $(PY) -m pytest --basetemp=/tmp/pytest-rt-$(shell printf '%s' "$(CURDIR)" | cksum | cut -d' ' -f1)

.PHONY: run invoke test test-fast lint typecheck bench burst load build deploy clean venv sam-venv checkov-venv client client-test

venv: $(VENV)/.installed
sam-venv: $(SAM_VENV)/.installed
checkov-venv: $(CHECKOV_VENV)/.installed

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	@"$(PYTHON)" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	"$(PYTHON)" -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# aws-sam-cli pins its own pydantic, so the SAM toolchain lives apart from the application.
$(SAM_VENV)/.installed: requirements-sam.txt
	"$(PYTHON)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

# checkov pins its own dependencies too.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	"$(PYTHON)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

## make run [DEMO=1]: the whole system locally (embedded Postgres, API, schedules, alert delivery); DEMO=1 adds traffic
run: venv
	$(PY) -m local run $(if $(filter 1 yes true,$(DEMO)),--demo)

## make invoke FN=<LogicalId> EVENT=events/<file>.json: one handler, in process
invoke: venv
	@test -n "$(FN)" || { echo "usage: make invoke FN=<LogicalId> EVENT=events/<file>.json"; exit 2; }
	$(PY) -m local invoke $(FN) $(if $(EVENT),--event $(EVENT))

## make test: lint, types, the browser client's tests and every tier of tests (unit, integration, e2e, build), as CI runs them
test: venv sam-venv checkov-venv lint typecheck client-test
	$(PYTEST)

## make test-fast: the unit and integration tiers only (no browser, no local server, no SAM)
test-fast: venv
	$(PYTEST) tests/unit tests/integration

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

CLIENT := clients/js
CLIENT_SOURCES := $(wildcard $(CLIENT)/src/*.ts) $(CLIENT)/scripts/build.mjs $(CLIENT)/tsconfig.json $(CLIENT)/package.json

## make client: the browser client, clients/js/dist/index.js and react.js (prints their sizes; fails over budget)
client: $(CLIENT)/dist/index.js

$(CLIENT)/node_modules/.installed: $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CLIENT)/dist/index.js: $(CLIENT)/node_modules/.installed $(CLIENT_SOURCES)
	cd $(CLIENT) && npm run --silent build

# The browser tests (tests/e2e) run in pytest; these are the client's own, in Node, and its format check.
client-test: client
	cd $(CLIENT) && npm run --silent format && npm test --silent

## make bench [BENCH_SIZE=large]: benchmarks against a real Postgres, written to docs/PERFORMANCE.md
bench: venv
	$(PY) -m bench $(if $(BENCH_SIZE),--size $(BENCH_SIZE))

## make burst [BENCH_SIZE=large]: a burst of concurrent clients against the local stack, direct then queued ingest on the same Postgres: events/s, p99, peak connections, backlog; figures to docs/PERFORMANCE.md
burst: venv
	$(PY) -m bench.burst $(if $(BENCH_SIZE),--size $(BENCH_SIZE))

## make load [LOAD_SECONDS=60 LOAD_USERS=8]: locust against the local stack, steady and through a Postgres crash; every acknowledged event checked stored once; figures to docs/RELIABILITY.md
load: venv
	$(PY) -m load

## make build / make deploy [ENV=prod]: sam build (no Docker needed) and sam deploy --guided (docs/DEPLOY.md)
build: sam-venv
	$(SAM_VENV)/bin/sam build --language-extensions

# Fn::ForEach in template.yaml needs the language extensions in every SAM command that reads it.
# deploy/ adds ConfigurationHash, so a change of parameters alone publishes new versions too.
# PARAMS='Name="value" ...' changes parameters without typing them at the guided questions.
deploy: build
	$(SAM_VENV)/bin/python -m deploy --config-env $(ENV) --parameters '$(PARAMS)'

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache $(CLIENT)/dist
