"""The config files and the price book land through dlt with declared types, before dbt reads
them (orchestration/defs/reference.py); a bad file fails the load naming file, line and field."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingestion.config import ConfigFileError
from ingestion.config.source import config_resources
from ingestion.prices import price_book_rows
from ingestion.prices.source import price_book_records, price_book_resource
from orchestration.defs.reference import config_ingest, price_book
from orchestration.warehouse import dlt_pipeline

CONFIG = Path(__file__).resolve().parents[2] / "config"
RULES_HEADER = (
    "rule_id,priority,match_type,provider,match_value,team,feature,customer,cost_center,"
    "split_by,valid_from,valid_to,note\n"
)


def columns(warehouse: Path, schema: str, table: str) -> dict[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    return dict(rows)


def rows(warehouse: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    for name in ("allocation_rules.csv", "teams.csv", "price_overrides.csv", "budgets.csv"):
        shutil.copy(CONFIG / name, folder / name)
    monkeypatch.setenv("AISPEND_CONFIG_DIR", str(folder))
    monkeypatch.setenv("AISPEND_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("AISPEND_TARGET", raising=False)
    return folder


def test_a_bad_rule_fails_before_anything_loads(config: Path):
    rules = config / "allocation_rules.csv"
    rules.write_text(RULES_HEADER + "r1,10,apikey,openai,key_1,search,,,,none,,,\n")
    with pytest.raises(ConfigFileError, match=r"allocation_rules.csv line 2: match_type 'apikey'"):
        config_resources(config)


def test_config_lands_with_declared_types_even_when_a_column_is_empty(config: Path, tmp_path: Path):
    # no rule has dates, a note or a customer: the columns keep their types all the same
    (config / "allocation_rules.csv").write_text(
        RULES_HEADER
        + "r1,10,api_key,openai,key_1,search,,,,none,,,\n"
        + "r2,,project,*,proj_*,,,,CC-1,telemetry,,,\n"
    )
    warehouse = tmp_path / "w.duckdb"
    pipeline = dlt_pipeline("config", warehouse, tmp_path / "pipelines")
    pipeline.run(config_resources(config))
    types = columns(warehouse, "raw_config", "allocation_rules")
    assert types["valid_from"] == "DATE" and types["valid_to"] == "DATE"
    assert types["priority"] == "BIGINT" and types["source_line"] == "BIGINT"
    assert types["note"] == "VARCHAR" and types["customer"] == "VARCHAR"
    assert rows(
        warehouse,
        "select rule_id, priority, split_by, source_line from raw_config.allocation_rules "
        "order by rule_id",
    ) == [("r1", 10, "none", 2), ("r2", 100, "telemetry", 3)]

    # an emptied file empties its table (replace), the table and its types stay
    (config / "teams.csv").write_text("team,cost_center,name,owner_email\n")
    pipeline.run(config_resources(config))
    assert rows(warehouse, "select count(*) from raw_config.teams") == [(0,)]
    assert columns(warehouse, "raw_config", "teams")["cost_center"] == "VARCHAR"


def test_the_price_book_lands_exact_decimals_and_dates(tmp_path: Path):
    observed = [("openai", "gpt-4o-mini-2024-07-18"), ("cursor", "default")]
    records = price_book_records(observed)
    assert records and all(r["model"] != "default" for r in records)  # unpriced: no rows
    warehouse = tmp_path / "w.duckdb"
    dlt_pipeline("reference", warehouse, tmp_path / "pipelines").run(price_book_resource(records))
    types = columns(warehouse, "raw_reference", "price_book")
    assert types["usd_per_million"] == "DECIMAL(38,12)"
    assert types["valid_from"] == "DATE" and types["tier_min_input_tokens"] == "BIGINT"
    landed = rows(
        warehouse,
        "select usd_per_million from raw_reference.price_book where token_class = 'input' "
        "and service_tier = 'standard' order by valid_from limit 1",
    )
    expected = next(
        r["usd_per_million"]
        for r in price_book_rows(observed)
        if r["token_class"] == "input" and r["service_tier"] == "standard"
    )
    assert landed == [(Decimal(expected).quantize(Decimal("1e-12")),)]


def test_the_config_asset_fails_naming_file_line_and_field(config: Path):
    rules = config / "allocation_rules.csv"
    lines = rules.read_text().splitlines()
    lines[3] = lines[3].replace(",api_key,", ",apikey,", 1)
    rules.write_text("\n".join(lines) + "\n")
    result = dg.materialize([config_ingest], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert f"{rules} line 4: match_type 'apikey'" in failure.step_failure_data.error.message


def test_the_assets_land_config_and_price_the_observed_models(config: Path, tmp_path: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    result = dg.materialize([config_ingest])
    assert result.success
    assert rows(warehouse, "select count(*) from raw_config.teams")[0][0] > 0

    with duckdb.connect(str(warehouse)) as con:  # what dbt builds before the price book runs
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_models_observed as select * from (values "
            "('openai', 'gpt-4o-2024-08-06'), ('openai', 'acme-llm-9000'), "
            "('cursor', 'default')) as t(provider, model)"
        )
    result = dg.materialize([price_book])
    assert result.success
    metadata = result.asset_materializations_for_node("raw_reference__price_book")[0].metadata
    assert metadata["observed_models"].value == 3
    # neither genai-prices nor the shipped overrides price these two: no rows, `unpriced`
    assert metadata["unpriced_models"].value == "cursor/default, openai/acme-llm-9000"
    priced = rows(warehouse, "select distinct model from raw_reference.price_book")
    assert priced == [("gpt-4o-2024-08-06",)]
