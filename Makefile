# aispend: `make run` (whole pipeline on the embedded simulator) and `make test`.
# Everything installs into .venv from the package registry; no other setup is needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export DAGSTER_HOME ?= $(CURDIR)/.dagster
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export RUNTIME__DLTHUB_TELEMETRY := false
export DO_NOT_TRACK := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

# a FOCUS 1.2 CostAndUsage export (CSV or Parquet) for `make focus-validate`
FOCUS_FILE ?= data/exports/focus/focus_ai_spend.csv

# PostgreSQL (README "Running on PostgreSQL"): the warehouse (AISPEND_TARGET=postgres) and
# Dagster's storage on the server named by libpq's PG* variables, defaults filled in (Dagster's
# instance settings need every one of them set; PGPASSWORD may be empty). A DAGSTER_HOME of its
# own, so the DuckDB one is left as it is.
PG_DAGSTER_HOME ?= $(CURDIR)/.dagster-postgres
PG_ENV = AISPEND_TARGET=postgres DAGSTER_HOME=$(PG_DAGSTER_HOME) \
	PGHOST="$${PGHOST:-127.0.0.1}" PGPORT="$${PGPORT:-5432}" PGUSER="$${PGUSER:-aispend}" \
	PGPASSWORD="$${PGPASSWORD:-}" PGDATABASE="$${PGDATABASE:-aispend}"
# `make postgres-up`: a throwaway local server in .postgres/ (then `. .postgres/env`)
PG_LOCAL_PORT ?= 5433

.PHONY: install manifest dagster-home run dev lint fmt test test-unit test-integration focus-validate clean \
	bench bench-quick \
	dagster-home-postgres run-postgres dev-postgres test-postgres postgres-up postgres-down

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# dagster-dbt reads dbt's manifest when the code loads
manifest: install
	cd dbt_project && ../$(BIN)/dbt parse --quiet --no-partial-parse

dagster-home:
	@mkdir -p $(DAGSTER_HOME)
	@cp -n orchestration/dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true

run: manifest dagster-home
	$(BIN)/aispend run

dev: manifest dagster-home
	$(BIN)/dagster dev -w workspace.yaml

dagster-home-postgres:
	@mkdir -p $(PG_DAGSTER_HOME)
	@cp -n orchestration/dagster-postgres.yaml $(PG_DAGSTER_HOME)/dagster.yaml 2>/dev/null || true

run-postgres: manifest dagster-home-postgres
	$(PG_ENV) $(BIN)/aispend run

dev-postgres: manifest dagster-home-postgres
	$(PG_ENV) $(BIN)/dagster dev -w workspace.yaml

postgres-up: install
	@mkdir -p .postgres
	$(BIN)/python -m tests.support.postgres start .postgres/server --port $(PG_LOCAL_PORT) > .postgres/env
	@chmod 600 .postgres/env
	@echo "PostgreSQL on 127.0.0.1:$(PG_LOCAL_PORT); now: . .postgres/env && make run-postgres"

postgres-down:
	$(BIN)/python -m tests.support.postgres stop .postgres/server
	rm -rf .postgres

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests
	$(BIN)/python scripts/check_portable_sql.py

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/sqlfluff fix dbt_project/models dbt_project/tests

# on both cores (pytest-xdist): most tests spend about one core on an in-process pipeline run.
# Whole modules go to a worker (their tests share module-scoped runs), the longest first
# (tests/conftest.py LONGEST_FIRST; xdist's own reorder, by test count, is off).
PYTEST_WORKERS ?= 2

test: manifest lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder

test-unit: manifest
	$(BIN)/python -m pytest tests/unit

test-integration: manifest
	$(BIN)/python -m pytest tests/integration

# the tests that start their own PostgreSQL server (Debian's `postgresql` package)
test-postgres: manifest
	$(BIN)/python -m pytest tests/integration/test_warehouse_targets.py tests/integration/test_dbt_on_both_targets.py \
		tests/integration/test_pipeline_on_both_targets.py tests/e2e/test_dagster_on_postgres.py

# README "Benchmark (`make bench`)": timings beside same-run baselines, a table and
# bench/results/<commit>-<scale>.json. SCALE=medium|large needs the simulator's scale knob.
SCALE ?= small
BENCH_ARGS ?=

bench: manifest
	$(BIN)/python scripts/bench.py --scale $(SCALE) $(BENCH_ARGS)

# the CI smoke run: short windows, a few forecast series, no thresholds
bench-quick: manifest
	$(BIN)/python scripts/bench.py --scale $(SCALE) --quick $(BENCH_ARGS)

# the FinOps Foundation validator (own Python 3.12 venv: .venv-focus); fails on any failing rule
focus-validate:
	scripts/focus_validate.sh $(FOCUS_FILE)

clean:
	rm -rf data .dagster .dagster-postgres dbt_project/target dbt_project/logs .pytest_cache
