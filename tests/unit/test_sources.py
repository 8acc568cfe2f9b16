"""The dlt sources on their own (no Dagster, no dbt), against the hand-written server."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import dlt
import duckdb
import pytest

from ingestion._common import SourceDataError, natural_key, to_decimal
from ingestion.anthropic import anthropic_source
from ingestion.openai import openai_source
from tests.support.fake_provider_api import ANTHROPIC_KEY, OPENAI_KEY, FakeProviderAPI

DAY1_UNIX = 1772323200  # 2026-03-01
DAY2_UNIX = 1772409600  # 2026-03-02


def pipeline(tmp_path: Path, name: str) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name=f"raw_{name}",
        pipelines_dir=str(tmp_path / "pl"),
    )


def starts(api: FakeProviderAPI, path_end: str, field: str) -> list[str]:
    return [
        r["query"][field][0]
        for r in api.requests
        if r["path"].endswith(path_end) and "page" not in r["query"]
    ]


def test_openai_cursor_rereads_the_lookback_and_merge_keeps_one_copy(tmp_path):
    with FakeProviderAPI() as api:
        p = pipeline(tmp_path, "openai")

        def source(**kw):
            return openai_source(
                api_key=OPENAI_KEY,
                base_url=f"{api.url}/v1",
                start_date=date(2026, 2, 20),
                end_date=date(2026, 3, 3),
                lookback_days=1,
                **kw,
            )

        p.run(source())
        p.run(source())
        p.run(source(backfill=True))

    first, second, backfill = starts(api, "/completions", "start_time")
    assert first == str(1771545600)  # the window start, 2026-02-20: nothing loaded yet
    assert second == str(DAY1_UNIX)  # last bucket (2 March) minus the one-day lookback
    assert backfill == first  # a backfill ignores the cursor and reads the whole window
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw_openai.completions_usage").fetchone() == (3,)
        assert con.execute("select count(*) from raw_openai.costs").fetchone() == (5,)
        total = con.execute("select sum(amount_value) from raw_openai.costs").fetchone()[0]
        assert total == Decimal("1.9768456789")
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw_openai' and table_name = 'costs'"
            ).fetchall()
        )
    assert types["amount_value"] == "DECIMAL(38,12)"
    # declared columns exist even when the API never sent a value
    assert "quantity_unit" in types


def test_anthropic_amount_in_cents_is_parsed_exactly(tmp_path):
    with FakeProviderAPI() as api:
        p = pipeline(tmp_path, "anthropic")
        p.run(
            anthropic_source(
                api_key=ANTHROPIC_KEY,
                base_url=api.url,
                start_date=date(2026, 3, 1),
                end_date=date(2026, 3, 3),
            )
        )
    headers = next(r["headers"] for r in api.requests)
    assert headers["anthropic-version"] == "2023-06-01"
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select amount_raw, amount_cents, bucket_start from raw_anthropic.cost_report "
            "order by amount_cents"
        ).fetchall()
        usage = con.execute(
            "select count(*), sum(cache_creation__ephemeral_5m_input_tokens) "
            "from raw_anthropic.messages_usage"
        ).fetchone()
    assert rows == [
        ("7.5", Decimal("7.5"), DAY1_UNIX),
        ("14.0", Decimal("14"), DAY1_UNIX),
        ("144.6339", Decimal("144.6339"), DAY1_UNIX),
    ]
    assert usage == (2, 100)


def test_wrong_key_fails_with_the_http_status(tmp_path):
    with FakeProviderAPI() as api:
        p = pipeline(tmp_path, "openai")
        with pytest.raises(Exception, match="401"):
            p.run(
                openai_source(
                    api_key="sk-admin-wrong",
                    base_url=f"{api.url}/v1",
                    start_date=date(2026, 3, 1),
                    end_date=date(2026, 3, 3),
                )
            )


def test_to_decimal_keeps_the_shortest_repr_and_names_the_field():
    assert to_decimal(0.1845, source="s", field="f") == Decimal("0.1845")
    assert to_decimal("144.6339", source="s", field="f") == Decimal("144.6339")
    assert to_decimal(None, source="s", field="f") is None
    with pytest.raises(SourceDataError, match=r"openai costs: field 'amount\.value'"):
        to_decimal("n/a", source="openai costs", field="amount.value")


def test_natural_key_distinguishes_null_from_text_null():
    assert natural_key(1, None) != natural_key(1, "None")
    assert natural_key(1, None, "a") == natural_key(1, None, "a")
