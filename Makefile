# Two commands set up a fresh clone: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432

.PHONY: run install install-dev lint format typecheck audit test test-only fuzz postgres migrate clean browser painel pgbouncer image-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(DEV_STAMP): requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)
install-dev: $(DEV_STAMP)

## Serve the API on the configured database (the embedded SQLite file by default).
run: install
	$(BIN)/energy-api migrate
	$(BIN)/energy-api ensure-admin
	LOG_FORMAT=$${LOG_FORMAT:-console} $(BIN)/energy-api serve --host 127.0.0.1 --port 8000

migrate: install
	$(BIN)/energy-api migrate

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/actionlint .github/workflows/*.yml

typecheck: install-dev
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Start the local PostgreSQL cluster when it is installed but stopped; fail in one line when
## no PostgreSQL is reachable.
postgres:
	@$(BIN)/python scripts/ensure_postgres.py

## Known vulnerabilities in the locked dependencies (asks PyPI's vulnerability data).
audit: install-dev
	$(BIN)/pip-audit --requirement requirements.lock --no-deps --disable-pip --progress-spinner off
	$(BIN)/pip-audit --requirement requirements-dev.lock --no-deps --disable-pip --progress-spinner off

## Headless Chromium for the browser tests (Debian's package); fast when already installed.
## Without apt (or when it fails) the browser tests are skipped, saying so in one line.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  >/dev/null 2>&1; } || echo "chromium could not be installed: the browser tests will be skipped"

## PgBouncer for the tests that run the service behind a transaction pooler (Debian's package);
## fast when already installed. Without apt (or when it fails) those tests are skipped.
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer) \
	  >/dev/null 2>&1; } || echo "pgbouncer could not be installed: the PgBouncer tests will be skipped"

## Build the image with docker or podman and prove it against a throwaway PostgreSQL: migrate,
## /health/ready, a login, a write, the non-root user, SIGTERM within the grace. Not part of
## `make test` (it needs a container engine).
image-test: install-dev
	$(BIN)/python scripts/image_test.py

## Rebuild /painel/ (needs Node and npm): the OpenAPI document, its TypeScript types, a type
## check, and the bundle in src/energy_api/painel/static (committed, so `make run` needs no Node).
painel: install
	$(BIN)/python -m energy_api.painel.openapi > web/painel/openapi.json
	cd web/painel && npm ci --no-audit --no-fund && npm run types && npm run check && npm run build

## Lint, types, audit, and the whole suite on PostgreSQL and SQLite (browser tests included).
test: lint audit postgres browser pgbouncer
	$(BIN)/pytest

## The schemathesis run with 1000 examples per operation (`make test` runs 100).
fuzz: install-dev postgres
	FUZZ_EXAMPLES=1000 $(BIN)/pytest tests/resilience/test_fuzz.py

test-only: install-dev postgres browser pgbouncer
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache energy.db
