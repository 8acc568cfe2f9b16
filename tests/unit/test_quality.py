"""Freshness and date completeness per provider, on a tiny fact table."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from orchestration.quality import missing_days, stale_providers

START, END = date(2026, 11, 1), date(2026, 11, 11)  # last day 11-10


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.fct_ai_spend (provider varchar, usage_date date)")
    rows = []
    for i in range(10):
        day = START + timedelta(days=i)
        rows.append(("openai", day))  # every day
        if day != date(2026, 11, 4):
            rows.append(("anthropic", day))  # a hole on 11-04
        if day <= date(2026, 11, 6):
            rows.append(("aws_bedrock", day))  # stops 4 days before the end
        if day <= date(2026, 11, 7):
            rows.append(("gcp_vertex", day))  # 3 days old: within the export delay
    con.executemany("insert into marts.fct_ai_spend values (?, ?)", rows)
    return con


def test_a_provider_behind_its_usual_delay_is_stale(con) -> None:
    providers = ["openai", "anthropic", "aws_bedrock", "gcp_vertex", "cursor", "telemetry"]
    stale = stale_providers(con, providers, START, END)
    assert set(stale) == {"aws_bedrock", "cursor"}
    assert "latest day 2026-11-06, expected 2026-11-07 or later" in stale["aws_bedrock"]
    assert stale["cursor"].startswith("no spend at all")


def test_a_hole_between_first_and_last_day_is_reported(con) -> None:
    holes = missing_days(con, ["openai", "anthropic", "aws_bedrock"], START, END)
    assert holes == {"anthropic": [date(2026, 11, 4)]}


def test_a_day_the_cost_api_reported_as_empty_is_not_a_hole(con) -> None:
    """A bucket the provider sent with no results was read: nothing to bill, not a lost day.
    An empty bucket of a usage endpoint does not count (costs are the bill)."""
    con.execute("create schema raw_anthropic")
    con.execute(
        "create table raw_anthropic.reported_buckets "
        "(endpoint varchar, bucket_start bigint, results bigint)"
    )
    hole = 1_793_750_400  # 2026-11-04 00:00 UTC
    con.execute(
        "insert into raw_anthropic.reported_buckets values "
        "('/v1/organizations/usage_report/messages', ?, 0)",
        [hole],
    )
    assert missing_days(con, ["anthropic"], START, END) == {"anthropic": [date(2026, 11, 4)]}
    con.execute(
        "insert into raw_anthropic.reported_buckets values ('/v1/organizations/cost_report', ?, 0)",
        [hole],
    )
    assert missing_days(con, ["anthropic"], START, END) == {}
