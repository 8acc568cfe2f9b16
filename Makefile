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

.PHONY: install manifest dagster-home run dev lint fmt test test-unit test-integration focus-validate clean

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

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/sqlfluff fix dbt_project/models dbt_project/tests

test: manifest lint
	$(BIN)/python -m pytest

test-unit: manifest
	$(BIN)/python -m pytest tests/unit

test-integration: manifest
	$(BIN)/python -m pytest tests/integration

# the FinOps Foundation validator (own Python 3.12 venv: .venv-focus); fails on any failing rule
focus-validate:
	scripts/focus_validate.sh $(FOCUS_FILE)

clean:
	rm -rf data .dagster dbt_project/target dbt_project/logs .pytest_cache
