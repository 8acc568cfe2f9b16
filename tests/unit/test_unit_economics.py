"""Unit economics on a tiny warehouse with known answers."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from analytics.unit_economics import unit_economics

D1, D2 = "2026-11-01", "2026-11-02"
LINES = [
    # day, provider, model, team, feature, customer, cost, requests, input, cached, output
    (D1, "openai", "gpt-4o", "search", "search", "cus_1", 10.0, 100, 50_000, 10_000, 5_000),
    (D1, "openai", "gpt-4o", "search", "search", "cus_2", 30.0, 300, 150_000, 30_000, 15_000),
    (D1, "anthropic", "claude", "supp", "bot", "internal", 20.0, None, 100_000, 50_000, 10_000),
    # a seat: cost with no usage
    (D1, "cursor", "~", "eng", "ide", "unallocated", 40.0, None, None, None, None),
    (D2, "openai", "gpt-4o", "search", "search", "cus_1", 5.0, 50, 25_000, 0, 2_500),
]  # fmt: skip


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts; create schema intermediate")
    frame = pd.DataFrame(
        LINES,
        columns=["usage_date", "provider", "model", "team", "feature", "customer",
                 "billed_cost_reporting", "requests", "total_input_tokens",
                 "cached_input_tokens", "output_tokens"],
    )  # fmt: skip
    frame["usage_date"] = pd.to_datetime(frame["usage_date"]).dt.date
    con.register("f", frame)
    con.execute("create table marts.fct_ai_spend_allocated as select * from f")
    con.execute(
        """
        create table intermediate.int_telemetry__daily_usage as
        select * from (values
            (date '2026-11-01', 'openai', 'gpt-4o', 'search', 'search', 'cus_1', 80, 8, 4),
            (date '2026-11-01', 'openai', 'gpt-4o', 'search', 'search', null, 20, 2, 0)
        ) t(request_date, provider, model, team, feature, customer_id, requests, retries, errors)
        """
    )
    return con


def _row(frame: pd.DataFrame, period: str, dimension: str, value: str) -> pd.Series:
    hit = frame[
        (frame["period_start"] == date.fromisoformat(period))
        & (frame["dimension"] == dimension)
        & (frame["dimension_value"] == value)
    ]
    assert len(hit) == 1, (period, dimension, value)
    return hit.iloc[0]


def test_daily_ratios_divide_like_by_like(con: duckdb.DuckDBPyConnection) -> None:
    daily = unit_economics(con, date(2026, 11, 1), date(2026, 11, 3), "day")
    org = _row(daily, "2026-11-01", "org", "all")
    assert org["billed_cost"] == pytest.approx(100.0)
    # only lines with requests count toward cost per request: $40 / 400 requests
    assert org["cost_per_request"] == pytest.approx(0.10)
    assert org["unmetered_cost"] == pytest.approx(60.0)
    # cost per 1K tokens over lines with tokens: $60 / 330K tokens
    assert org["cost_per_1k_tokens"] == pytest.approx(60 / 330)
    # tokens per request over lines with requests: 220K / 400
    assert org["tokens_per_request"] == pytest.approx(550.0)
    assert org["cache_hit_rate"] == pytest.approx(90_000 / 300_000)
    assert org["output_input_ratio"] == pytest.approx(30_000 / 300_000)
    # two end customers with spend (internal and unallocated are not customers)
    assert org["active_customers"] == 2
    assert org["cost_per_active_customer"] == pytest.approx(20.0)
    # telemetry: 10 retries and 4 errors in 100 requests
    assert org["retry_share"] == pytest.approx(0.10)
    assert org["error_share"] == pytest.approx(0.04)

    model = _row(daily, "2026-11-01", "model", "gpt-4o")
    assert model["share_of_period_cost"] == pytest.approx(0.40)
    seat = _row(daily, "2026-11-01", "provider", "cursor")
    assert pd.isna(seat["cost_per_request"]) and pd.isna(seat["cache_hit_rate"])
    cus = _row(daily, "2026-11-01", "customer", "cus_1")
    assert cus["retry_share"] == pytest.approx(8 / 80)


def test_monthly_rows_carry_cogs_share_of_revenue(con: duckdb.DuckDBPyConnection) -> None:
    revenue = pd.DataFrame(
        {"month": [date(2026, 11, 1), date(2026, 11, 1)], "customer": [None, "cus_1"],
         "revenue": [900.0, 100.0]}
    )  # fmt: skip
    monthly = unit_economics(con, date(2026, 11, 1), date(2026, 12, 1), "month", revenue)
    org = _row(monthly, "2026-11-01", "org", "all")
    assert org["billed_cost"] == pytest.approx(105.0)
    assert org["revenue"] == pytest.approx(1000.0)
    assert org["cogs_share_of_revenue"] == pytest.approx(0.105)
    cus = _row(monthly, "2026-11-01", "customer", "cus_1")
    assert cus["cogs_share_of_revenue"] == pytest.approx(15 / 100)
    assert pd.isna(_row(monthly, "2026-11-01", "customer", "cus_2")["revenue"])


def test_without_telemetry_the_rates_are_null(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop table intermediate.int_telemetry__daily_usage")
    daily = unit_economics(con, date(2026, 11, 1), date(2026, 11, 3), "day")
    assert daily["retry_share"].isna().all()
    assert _row(daily, "2026-11-02", "org", "all")["cost_per_request"] == pytest.approx(0.1)
