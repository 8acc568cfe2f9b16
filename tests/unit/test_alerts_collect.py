"""Which rows of the analytics tables become alerts."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from alerts.collect import collect_alerts

AS_OF = date(2026, 11, 29)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema analytics")
    anomalies = pd.DataFrame(
        {
            "series_id": ["org", "team:search", "team:search"],
            "day": pd.to_datetime(["2026-10-01", "2026-11-25", "2026-11-26"]),
            "episode_start": pd.to_datetime(["2026-10-01", "2026-11-25", "2026-11-25"]),
            "expected": [100.0, 10.0, 10.0],
            "actual": [300.0, 40.0, 42.0],
            "impact_usd": [200.0, 30.0, 32.0],
            "impact_pct": [2.0, 3.0, 3.2],
            "direction": ["spike"] * 3,
            "severity": ["high", "medium", "medium"],
            "is_first_day": [True, True, False],
        }
    )
    drivers = pd.DataFrame(
        {"series_id": ["team:search"], "day": pd.to_datetime(["2026-11-25"]),
         "driver_kind": ["component"], "name": ["component"], "value": ["volume"],
         "impact_usd": [29.0], "share_of_change": [0.97], "rank": [1]}
    )  # fmt: skip
    crossings = pd.DataFrame(
        {
            "budget_id": ["b"] * 4 + ["old"],
            "month": [date(2026, 11, 1)] * 4 + [date(2026, 10, 1)],
            "threshold_pct": [50.0, 80.0, 100.0, 100.0, 50.0],
            "basis": ["actual", "actual", "actual", "forecast", "actual"],
            "crossed_on": [date(2026, 11, 5), date(2026, 11, 12), date(2026, 11, 20), None,
                           date(2026, 10, 9)],
            "threshold_amount": [50.0, 80.0, 100.0, 100.0, 50.0],
            "budget_amount_reporting": [100.0] * 5,
            "scope": ["org"] * 5,
            "scope_value": ["all"] * 5,
            "owner_email": [None] * 5,
        }
    )  # fmt: skip
    status = pd.DataFrame(
        {"budget_id": ["b"], "budget_name": ["B"], "series_id": ["org"],
         "month": [date(2026, 11, 1)], "is_current_month": [True], "actual_mtd": [120.0],
         "pct_used": [120.0], "budget_amount_reporting": [100.0]}
    )  # fmt: skip
    for name, frame in {
        "anomalies": anomalies,
        "anomaly_drivers": drivers,
        "budget_threshold_crossings": crossings,
        "budget_status": status,
    }.items():
        con.register("f", frame)
        con.execute(f"create table analytics.{name} as select * from f")
        con.unregister("f")
    return con


def test_recent_episode_first_days_and_the_highest_threshold_per_budget(con) -> None:
    ids = [a.alert_id for a in collect_alerts(con, AS_OF)]
    # the October episode is older than the 7-day lookback; day 2 of an episode never alerts
    assert ids == [
        "anomaly:team:search:2026-11-25",
        "budget:b:2026-11:actual:100",
        "budget:b:2026-11:forecast:100",
    ]
    anomaly = collect_alerts(con, AS_OF)[0]
    assert anomaly.details["drivers"][0]["value"] == "volume"


def test_a_longer_lookback_reaches_older_episodes(con) -> None:
    ids = [a.alert_id for a in collect_alerts(con, AS_OF, lookback_days=60)]
    assert "anomaly:org:2026-10-01" in ids


def test_failed_checks_lead_with_an_untrusted_data_alert(con) -> None:
    checks = [{"check_name": "reconciles", "asset": "marts/fct_ai_spend", "message": "off"}]
    alerts = collect_alerts(con, AS_OF, failed_checks=checks, run_id="r1")
    assert alerts[0].alert_id.startswith("untrusted_data:")
    assert alerts[0].data_trusted is False
    assert alerts[1].kind == "data_quality"
