"""Alert builders: stable ids, wording, money/percent formats, and what the dedup hash covers."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from alerts.model import (
    Alert,
    anomaly_alert,
    budget_alert,
    check_alert,
    fmt_money,
    fmt_pct,
    run_failure_alert,
    untrusted_data_alert,
)


def _row(**over: object) -> dict[str, object]:
    """An `analytics.anomalies` row as `DataFrame.to_dict("records")` gives it."""
    row: dict[str, object] = {
        "series_id": "team:search",
        "scope": "team",
        "scope_value": "search",
        "day": pd.Timestamp("2024-05-03"),
        "actual": np.float64(4123.0),
        "expected": np.float64(1000.0),
        "impact_usd": np.float64(3123.0),
        "impact_pct": np.float64(3.123),
        "score": np.float64(9.5),
        "direction": "spike",
        "episode_id": "team:search@2024-05-02",
        "episode_start": pd.Timestamp("2024-05-02"),
        "is_first_day": True,
        "level_shift": pd.NA,
        "severity": "critical",
    }
    row.update(over)
    return row


DRIVERS = [
    {
        "series_id": "team:search",
        "driver_kind": "component",
        "name": "component",
        "value": "volume",
        "impact_usd": 2500.0,
        "share_of_change": 0.8,
    },
    {
        "series_id": "team:search",
        "driver_kind": "component",
        "name": "component",
        "value": "price_mix",
        "impact_usd": 623.0,
        "share_of_change": 0.2,
    },
    {
        "series_id": "team:search",
        "driver_kind": "component",
        "name": "component",
        "value": "unmetered",
        "impact_usd": 0.0,
        "share_of_change": 0.0,
    },
    {
        "series_id": "team:search",
        "driver_kind": "dimension",
        "name": "api_key_id",
        "value": "key_7",
        "impact_usd": np.nan,
        "share_of_change": np.nan,
    },
    {
        "series_id": "team:search",
        "driver_kind": "dimension",
        "name": "model",
        "value": "gpt-4o",
        "impact_usd": 3000.0,
        "share_of_change": 0.96,
    },
    {
        "series_id": "org",
        "driver_kind": "dimension",
        "name": "model",
        "value": "other",
        "impact_usd": 1.0,
        "share_of_change": 0.1,
    },
]
FORECAST = {
    "series_id": "team:search",
    "month": pd.Timestamp("2024-05-01"),
    "projected": 52000.0,
    "projected_lower_80": 48000.0,
    "projected_upper_80": 57000.0,
    "method": "prophet",
}
BUDGET = {
    "budget_id": "search",
    "budget_name": "Search",
    "budget_amount_reporting": 60000.0,
    "actual_mtd": 20000.0,
    "pct_used": 33.3333,
    "forecast_month_end": 52000.0,
}


@pytest.mark.parametrize(
    ("value", "signed", "expected"),
    [
        (1234.5, False, "$1,234.50"),
        (-12.0, False, "-$12.00"),
        (3.1, True, "+$3.10"),
        (0.0, True, "+$0.00"),
        (None, False, "n/a"),
    ],
)
def test_money_format(value: float | None, signed: bool, expected: str) -> None:
    assert fmt_money(value, signed=signed) == expected


def test_money_in_another_currency_and_percent_format() -> None:
    assert fmt_money(1234.5, "eur") == "1,234.50 EUR"
    assert fmt_pct(3.12) == "+312%"
    assert fmt_pct(-0.5) == "-50%"
    assert fmt_pct(0.045) == "+4.5%"
    assert fmt_pct(1.0, signed=False) == "100%"
    assert fmt_pct(None) == "n/a"


def test_anomaly_alert_from_a_dataframe_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISPEND_DAGSTER_URL", "https://dagster.example.com/")
    alert = anomaly_alert(_row(), DRIVERS, FORECAST, BUDGET)
    assert alert.alert_id == "anomaly:team:search:2024-05-02"  # the episode, not the day
    assert (alert.kind, alert.severity, alert.occurred_on) == (
        "anomaly",
        "critical",
        date(2024, 5, 3),
    )
    assert alert.title == "Spend spike on team:search: +312%"
    assert alert.summary == (
        "team:search spent $4,123.00 on 2024-05-03 vs $1,000.00 expected: +$3,123.00 (+312%)."
    )
    assert alert.link == "https://dagster.example.com/assets/analytics/anomalies"
    d = alert.details
    assert (d["expected"], d["actual"], d["impact_usd"], d["impact_pct"]) == (
        1000,
        4123,
        3123,
        3.123,
    )
    # components first (zero ones dropped), then movers; NaN rows and other series left out
    assert [x["name"] for x in d["drivers"]] == ["volume", "price_mix", "model=gpt-4o"]
    assert d["drivers"][0] | {} == {
        "name": "volume",
        "kind": "component",
        "dimension": None,
        "value": "volume",
        "impact_usd": 2500.0,
        "share": 0.8,
    }
    assert d["forecast"] == {
        "month": "2024-05-01",
        "projected": 52000.0,
        "lower_80": 48000.0,
        "upper_80": 57000.0,
        "method": "prophet",
    }
    assert d["budget"]["pct_used"] == 33.3333 and d["level_shift"] is None
    json.dumps(d)  # plain JSON types only: no numpy, no timestamps


def test_anomaly_alert_fills_impact_and_link_base() -> None:
    alert = anomaly_alert(
        {"series_id": "org", "day": "2024-05-03", "expected": 200.0, "actual": 50.0},
        link_base="http://dagster:3000",
    )
    assert alert.alert_id == "anomaly:org:2024-05-03"
    assert alert.details["impact_usd"] == -150.0 and alert.details["impact_pct"] == -0.75
    assert alert.details["direction"] == "drop" and alert.severity == "medium"
    assert alert.title == "Spend drop on org: -75%"
    assert alert.link == "http://dagster:3000/assets/analytics/anomalies"
    with pytest.raises(ValueError, match="series_id and day"):
        anomaly_alert({"series_id": "org", "day": pd.NaT})


def test_untrusted_anomaly_does_not_claim_an_anomaly() -> None:
    alert = anomaly_alert(_row(), DRIVERS, data_trusted=False)
    assert not alert.data_trusted
    assert "not trustworthy" in alert.title and "spike" not in alert.title.lower()
    assert "data checks failed" in alert.summary and "+$3,123.00 (+312%)" in alert.summary
    assert alert.payload_hash() != anomaly_alert(_row(), DRIVERS).payload_hash()


def test_payload_hash_ignores_context_but_not_restated_numbers() -> None:
    base = anomaly_alert(_row(), DRIVERS, FORECAST, BUDGET)
    later = anomaly_alert(
        _row(),
        DRIVERS,
        FORECAST | {"projected": 61000.0},
        BUDGET | {"actual_mtd": 30000.0},
        link_base="http://elsewhere:3000",
    )
    assert later.payload_hash() == base.payload_hash()  # a persisting anomaly
    restated = anomaly_alert(_row(actual=3900.0, impact_usd=2900.0, impact_pct=2.9), DRIVERS)
    assert restated.alert_id == base.alert_id
    assert restated.payload_hash() != base.payload_hash()
    assert anomaly_alert(_row(severity="high"), DRIVERS).payload_hash() != base.payload_hash()


CROSSING = {
    "budget_id": "openai",
    "month": pd.Timestamp("2024-05-01"),
    "threshold_pct": 80.0,
    "basis": "forecast",
    "crossed_on": date(2024, 5, 24),
    "threshold_amount": 8000.0,
    "budget_amount_reporting": 10000.0,
    "scope": "provider",
    "scope_value": "openai",
    "owner_email": "ml-lead@example.com",
}
STATUS = {
    "budget_id": "openai",
    "budget_name": "OpenAI",
    "month": date(2024, 5, 1),
    "actual_mtd": 4000.0,
    "pct_used": 40.0,
    "forecast_month_end": 9500.0,
    "forecast_lower_80": 8700.0,
    "forecast_upper_80": 10400.0,
    "days_observed": 14,
    "forecast_crosses_budget_on": None,
    "reporting_currency": "USD",
}


def test_budget_alert_forecast_basis() -> None:
    alert = budget_alert(CROSSING, STATUS, "http://d:3000")
    assert alert.alert_id == "budget:openai:2024-05:forecast:80"
    assert (alert.kind, alert.severity, alert.occurred_on) == (
        "budget",
        "medium",
        date(2024, 5, 14),
    )
    assert alert.title == "Budget OpenAI: forecast to reach 80% in May 2024"
    assert alert.summary == (
        "provider openai is forecast to spend $9,500.00 (80%: $8,700.00\u2013$10,400.00) "
        "in May 2024 against a $10,000.00 budget: 80% ($8,000.00) reached around 2024-05-24."
    )
    assert alert.link == "http://d:3000/assets/analytics/budget_status"
    assert alert.details["status"]["projected_crossing_on"] == "2024-05-24"
    # tomorrow's forecast moves the projected day and numbers: the same alert, not an update
    moved = budget_alert(
        CROSSING | {"crossed_on": date(2024, 5, 22)},
        STATUS | {"forecast_month_end": 9900.0, "days_observed": 15},
    )
    assert moved.payload_hash() == alert.payload_hash()


def test_budget_alert_actual_basis_severity() -> None:
    crossing = CROSSING | {
        "basis": "actual",
        "threshold_pct": 100.0,
        "crossed_on": "2024-05-20",
        "threshold_amount": 10000.0,
    }
    alert = budget_alert(crossing, STATUS | {"actual_mtd": 10250.0, "pct_used": 102.5})
    assert alert.alert_id == "budget:openai:2024-05:actual:100"
    assert (alert.severity, alert.occurred_on) == ("critical", date(2024, 5, 20))
    assert (
        "crossed 100% ($10,000.00) of its $10,000.00 May 2024 budget on 2024-05-20" in alert.summary
    )
    assert "Month to date $10,250.00 of $10,000.00 (102%)" in alert.summary
    assert budget_alert(crossing | {"basis": "forecast"}).severity == "high"
    assert budget_alert(crossing | {"threshold_pct": 50.0}).severity == "low"
    with pytest.raises(ValueError, match="basis"):
        budget_alert(crossing | {"basis": "guess"})


def test_check_run_failure_and_untrusted_alerts() -> None:
    check = check_alert(
        {
            "check_name": "reconciles_with_invoice",
            "asset": ["marts", "fct_ai_spend"],
            "message": "billed $1,200.00 vs invoice $1,000.00",
            "day": "2024-05-03",
        },
        "http://d:3000",
    )
    assert check.alert_id == "check:marts/fct_ai_spend:reconciles_with_invoice:2024-05-03"
    assert (check.kind, check.severity, check.data_trusted) == ("data_quality", "high", True)
    assert check.link == "http://d:3000/assets/marts/fct_ai_spend"

    run = run_failure_alert(
        {
            "run_id": "9f1c2d3e-aaaa",
            "job": "daily",
            "step": "dlt_openai",
            "error": "401 from https://api.openai.com/v1/costs?key=abc Bearer sk-live-12345678"
            "\nTrace",
            "failed_at": pd.Timestamp("2024-05-04 06:10", tz="UTC"),
        },
        "http://d:3000",
    )
    assert (
        run.alert_id == "run_failure:9f1c2d3e-aaaa"
        and run.link == "http://d:3000/runs/9f1c2d3e-aaaa"
    )
    assert (
        run.summary
        == "Run 9f1c2d3e of daily failed at step dlt_openai: 401 from https://api.openai.com "
        "Bearer <redacted>"
    )
    assert "sk-live" not in json.dumps(run.details) and run.occurred_on == date(2024, 5, 4)

    failed = [
        {
            "check": "freshness",
            "asset": "raw_openai/costs",
            "message": "last load 3 days ago",
            "day": date(2024, 5, 3),
        },
        {
            "check_name": "reconciles",
            "asset": "marts/fct_ai_spend",
            "message": "off by 20%",
            "severity": "critical",
        },
    ]
    untrusted = untrusted_data_alert(failed, "run-1", "http://d:3000")
    assert untrusted.alert_id == "untrusted_data:2024-05-03"
    assert (untrusted.kind, untrusted.severity, untrusted.data_trusted) == (
        "data_quality",
        "critical",
        False,
    )
    assert untrusted.title == "Spend data not trustworthy: 2 checks failed"
    assert "anomaly alerts are withheld" in untrusted.summary
    assert untrusted.link == "http://d:3000/runs/run-1"
    # the run that noticed it is context: the next run with the same failures is no update
    assert untrusted_data_alert(failed, "run-2").payload_hash() == untrusted.payload_hash()


def test_alert_validates_kind_and_severity() -> None:
    with pytest.raises(ValueError, match="kind"):
        Alert("x", "weather", "low", "t", "s", date(2024, 1, 1))
    with pytest.raises(ValueError, match="severity"):
        Alert("x", "anomaly", "urgent", "t", "s", date(2024, 1, 1))
