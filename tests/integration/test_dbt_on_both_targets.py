"""Every dbt model and test runs on DuckDB and on a real PostgreSQL server, with equal results.

The same raw data (the simulator's week, loaded by dlt into a DuckDB file and into a new
database on a throwaway server), the config files and the price book landed by the reference
assets (orchestration/defs/reference.py), then `dbt build` on each target, in the order the
daily job runs them: models up to int_models_observed, the price book, everything. The fact must
agree row for row, to the last decimal, so the totals per provider and day are equal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from orchestration.defs.reference import config_ingest, price_book
from orchestration.settings import Settings, load_settings
from orchestration.sources import SOURCES, open_inputs
from orchestration.warehouse import connect, dlt_pipeline
from tests.conftest import AISPEND_ENV
from tests.support.dbt import run_dbt
from tests.support.postgres import (  # noqa: F401  (fixtures)
    PostgresServer,
    postgres_fixture,
)

pytestmark = pytest.mark.integration

START, END = "2026-08-01", "2026-08-08"
PG_ENV = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


@dataclass
class Built:
    settings: Settings
    results: list[dict[str, Any]]
    seconds: float


def _build(env: dict[str, str], root: Path) -> Built:
    with pytest.MonkeyPatch.context() as mp:
        for name in (*AISPEND_ENV, *PG_ENV, "AISPEND_TARGET", "AISPEND_CONFIG_DIR"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        settings = load_settings()
        with open_inputs(settings) as inputs:
            for name in SOURCES:
                pipeline = dlt_pipeline(name, settings, settings.dlt_pipelines_dir)
                pipeline.run(inputs.build(name, settings))
        assert dg.materialize([config_ingest]).success
        run_dbt(settings, root, "build", "--select", "+int_models_observed")
        assert dg.materialize([price_book]).success
        started = time.monotonic()
        results = run_dbt(settings, root, "build")
        return Built(settings, results, time.monotonic() - started)


@pytest.fixture(scope="module")
def built(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Built]]:
    server = postgres.create_database("dbt_both_targets")
    out = {}
    for target in ("duckdb", "postgres"):
        root = tmp_path_factory.mktemp(target)
        env = {
            "AISPEND_TARGET": target,
            "AISPEND_WAREHOUSE": str(root / "warehouse.duckdb"),
            "AISPEND_START_DATE": START,
            "AISPEND_END_DATE": END,
        }
        if target == "postgres":
            env |= server.env()
        out[target] = _build(env, root)
    yield out


def _query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    with connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def _exact(value: Any) -> Any:
    """One spelling per number (DuckDB sums bigints to int, PostgreSQL to numeric)."""
    if isinstance(value, int | Decimal):
        return Decimal(value).normalize()
    return value


def _rows(settings: Settings, sql: str) -> dict[Any, tuple[Any, ...]]:
    return {r[0]: tuple(map(_exact, r[1:])) for r in _query(settings, sql)}


def test_every_model_and_test_passes_on_both_targets(built: dict[str, Built]):
    for target, run in built.items():
        failed = [r["unique_id"] for r in run.results if r["status"] not in ("success", "pass")]
        assert not failed, (target, failed)
    names = {t: {r["unique_id"] for r in run.results} for t, run in built.items()}
    assert names["duckdb"] == names["postgres"]
    assert any(n.startswith("unit_test.") for n in names["postgres"])
    print(
        "dbt build: "
        + ", ".join(
            f"{t} {run.seconds:.1f} s ({len(run.results)} nodes)" for t, run in built.items()
        )
    )


def test_fact_totals_per_provider_and_day_are_equal_to_the_last_decimal(built: dict[str, Built]):
    sql = (
        "select provider || ' ' || cast(usage_date as varchar), sum(billed_cost), "
        "sum(billed_cost_usd), sum(input_tokens), sum(cached_input_tokens), "
        "sum(cache_write_tokens), sum(output_tokens), sum(requests), sum(list_cost_usd) "
        "from marts.fct_ai_spend group by provider, usage_date"
    )
    duck, pg = (_rows(built[t].settings, sql) for t in ("duckdb", "postgres"))
    providers = {key.split(" ")[0] for key in duck}
    assert providers == {
        "openai",
        "anthropic",
        "cursor",
        "aws_bedrock",
        "gcp_vertex",
        "azure_openai",
    }
    assert duck == pg


def test_every_fact_row_is_the_same_on_both_targets(built: dict[str, Built]):
    """Keys included: they hash dates, tags (the GCP labels merged in DuckDB's form) and every
    grain column, so any difference in how a dialect spells a value shows up here."""
    sql = (
        "select spend_key, provider, model, service_tier, charge_type, tags, pricing_status, "
        "billed_cost_usd, list_cost_usd, estimated_cost_usd, caching_savings_usd, "
        "batch_savings_usd, discount_savings_usd, total_input_tokens, output_tokens "
        "from marts.fct_ai_spend"
    )
    duck, pg = (_rows(built[t].settings, sql) for t in ("duckdb", "postgres"))
    assert len(duck) > 100
    assert duck == pg


def test_allocation_and_the_other_marts_agree(built: dict[str, Built]):
    """Allocation shares are floating point, so parts may differ in the 12th decimal; per
    provider, day and team the allocated bill is equal to the cent, and so is every mart's."""
    checks = {
        "allocated": (
            "select provider || ' ' || cast(usage_date as varchar) || ' ' || team, "
            "round(sum(billed_cost_usd), 2) from marts.fct_ai_spend_allocated "
            "group by provider, usage_date, team"
        ),
        "allocated_exact": (
            "select provider || ' ' || cast(usage_date as varchar), sum(billed_cost_usd) "
            "from marts.fct_ai_spend_allocated group by provider, usage_date"
        ),
        "savings": (
            "select provider || ' ' || model, round(sum(total_savings_usd), 2) "
            "from marts.fct_ai_savings group by provider, model"
        ),
        "developer_tools": (
            "select usage_key, requests, output_tokens, billed_cost_usd "
            "from marts.fct_developer_tool_usage"
        ),
        "dim_model": "select model_key, model_family, pricing_status from marts.dim_model",
        "dim_api_key": "select api_key_key, project_id, first_seen_date from marts.dim_api_key",
        "focus": (
            'select "x_Provider" || \' \' || "InvoiceId", round(sum("BilledCost"), 2) '
            'from marts.focus_ai_spend group by "x_Provider", "InvoiceId"'
        ),
    }
    for name, sql in checks.items():
        duck, pg = (_rows(built[t].settings, sql) for t in ("duckdb", "postgres"))
        assert duck, name
        assert duck == pg, name
