from datetime import date, timedelta
from pathlib import Path

import pytest

from orchestration.settings import ConfigError, load_settings, today_utc


def test_defaults_are_180_days_to_today_and_every_source():
    s = load_settings({})
    assert s.end_date == today_utc()
    assert s.start_date == today_utc() - timedelta(days=180)
    assert s.providers == (
        "openai",
        "anthropic",
        "cursor",
        "aws_bedrock",
        "gcp_vertex",
        "azure_openai",
        "focus",
        "telemetry",
    )
    assert s.warehouse.is_absolute()
    assert s.warehouse.name == "warehouse.duckdb"


def test_explicit_values(tmp_path: Path):
    s = load_settings(
        {
            "AISPEND_WAREHOUSE": str(tmp_path / "w.duckdb"),
            "AISPEND_START_DATE": "2026-01-01",
            "AISPEND_END_DATE": "2026-02-01",
            "AISPEND_PROVIDERS": " Anthropic ,",
            "AISPEND_LOOKBACK_DAYS": "5",
        }
    )
    assert (s.start_date, s.end_date) == (date(2026, 1, 1), date(2026, 2, 1))
    assert s.providers == ("anthropic",)
    assert s.lookback_days == 5
    assert s.warehouse == tmp_path / "w.duckdb"


def test_relative_warehouse_resolves_once_to_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings({"AISPEND_WAREHOUSE": "sub/w.duckdb"})
    assert s.warehouse == tmp_path / "sub" / "w.duckdb"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AISPEND_START_DATE": "2026-13-01"}, "AISPEND_START_DATE"),
        ({"AISPEND_END_DATE": "yesterday"}, "AISPEND_END_DATE"),
        (
            {"AISPEND_START_DATE": "2026-02-01", "AISPEND_END_DATE": "2026-02-01"},
            "AISPEND_START_DATE",
        ),
        ({"AISPEND_PROVIDERS": "openai,bard"}, "AISPEND_PROVIDERS"),
        ({"AISPEND_LOOKBACK_DAYS": "-1"}, "AISPEND_LOOKBACK_DAYS"),
        ({"AISPEND_LOOKBACK_DAYS": "three"}, "AISPEND_LOOKBACK_DAYS"),
        ({"AISPEND_CURRENCY": "euro"}, "AISPEND_CURRENCY"),
    ],
)
def test_bad_values_name_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_reporting_currency_defaults_to_usd_and_is_upper_cased():
    assert load_settings({}).reporting_currency == "USD"
    assert load_settings({"AISPEND_CURRENCY": " eur "}).reporting_currency == "EUR"


def test_every_duckdb_connection_gets_the_memory_limit(tmp_path):
    import duckdb

    from orchestration.settings import duckdb_config
    from orchestration.warehouse import connect

    assert duckdb_config({}) == {"memory_limit": "3GB"}
    assert duckdb_config({"AISPEND_DUCKDB_MEMORY_LIMIT": " 1.5GiB "}) == {"memory_limit": "1.5GiB"}
    with pytest.raises(ConfigError, match="AISPEND_DUCKDB_MEMORY_LIMIT='lots'"):
        load_settings({"AISPEND_DUCKDB_MEMORY_LIMIT": "lots"})
    settings = load_settings(
        {"AISPEND_WAREHOUSE": str(tmp_path / "w.duckdb"), "AISPEND_DUCKDB_MEMORY_LIMIT": "512MB"}
    )
    assert settings.dbt_env()["AISPEND_DUCKDB_MEMORY_LIMIT"] == "512MB"
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISPEND_DUCKDB_MEMORY_LIMIT", "512MB")
        with connect(settings) as con:
            (limit,) = con.execute("select current_setting('memory_limit')").fetchone()
    assert limit == "488.2 MiB"  # 512 MB
