"""Detection quality against planted incidents: matching, precision, recall, days to detect."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from analytics.anomalies import score_series
from analytics.detection import (
    QUALITY_COLUMNS,
    evaluate,
    evaluate_lines,
    incident_frame,
    match_alerts,
    series_for,
    simulator_lines,
)

START = date(2026, 1, 5)  # a Monday
END = date(2026, 6, 4)  # 150 days
SCOPES = ("org", "provider", "project", "api_key")
KEYS = {"key_a": ("proj_1", 200.0), "key_b": ("proj_1", 150.0), "key_c": ("proj_2", 120.0)}
KEYS["key_d"] = ("proj_2", 40.0)


def day(i: int) -> str:
    return (pd.Timestamp(START) + pd.Timedelta(days=i)).date().isoformat()


INCIDENTS = [
    {"id": "spike", "kind": "retry_storm", "provider": "openai", "project_id": "proj_1",
     "api_key_id": "key_a", "model": None, "start_date": day(100), "end_date": day(101)},
    {"id": "shift", "kind": "model_switch", "provider": "openai", "project_id": "proj_2",
     "api_key_id": None, "model": None, "start_date": day(120), "end_date": None},
    {"id": "late", "kind": "retry_storm", "provider": "openai", "project_id": "proj_2",
     "api_key_id": "key_c", "model": None, "start_date": day(135), "end_date": day(136)},
]  # fmt: skip


def planted_lines() -> pd.DataFrame:
    """Four keys with weekly seasonality and noise; the incidents above, and one false spike:
    key_d x6 on day 80, which no incident explains."""
    rng = np.random.default_rng(11)
    rows = []
    for i, d in enumerate(pd.date_range(START, END, inclusive="left")):
        season = 0.45 if d.day_of_week >= 5 else 1.0
        for key, (project, size) in KEYS.items():
            k = season * np.exp(rng.normal(0.0, 0.05))
            if (key, i) in (("key_a", 100), ("key_c", 135)):
                k *= 5.0
            if project == "proj_2" and i >= 120:
                k *= 3.0
            if key == "key_d" and i == 80:
                k *= 6.0
            rows.append(
                {
                    "day": d,
                    "provider": "openai",
                    "project_id": project,
                    "api_key_id": key,
                    "model": "gpt-4o",
                    "team": "~",
                    "feature": "~",
                    "customer": "~",
                    "cost": size * k,
                    "list_cost": size * k,
                    "requests": 100 * size * k,
                    "input_tokens": 1e5 * size * k,
                    "cached_input_tokens": 0.0,
                    "output_tokens": 2e4 * size * k,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return planted_lines()


@pytest.fixture(scope="module")
def scored(lines: pd.DataFrame) -> pd.DataFrame:
    return score_series(series_for(lines, START, END, SCOPES))


def test_alerts_are_matched_to_the_incident_in_their_series(lines, scored):
    matched = match_alerts(scored, INCIDENTS, lines)
    by_day = matched.groupby(matched["day"].dt.strftime("%Y-%m-%d"))
    assert set(by_day.groups) == {day(80), day(100), day(120), day(135)}
    # the false spike matches nothing, each incident day matches its incident only
    assert matched.loc[matched["day"] == day(80), "incident_id"].isna().all()
    assert set(matched.loc[matched["day"] == day(100), "incident_id"]) == {"spike"}
    assert set(matched.loc[matched["day"] == day(120), "incident_id"]) == {"shift"}
    # proj_2 holds both the persisting shift and the later spike: the later one wins
    late = matched[matched["day"] == day(135)].set_index("series_id")["incident_id"]
    assert late["project:openai/proj_2"] == "late"
    assert late["api_key:openai/key_c"] == "late"
    assert (matched["days_to_detect"].dropna() == 0).all()


def test_quality_row(lines, scored):
    n_series, n_days = scored["series_id"].nunique(), scored["day"].nunique()
    table = evaluate(scored, INCIDENTS, lines, n_series, n_days, seed=7, price_change_days=[])
    assert list(table.columns) == list(QUALITY_COLUMNS)
    row = table.iloc[0]
    matched = match_alerts(scored, INCIDENTS, lines)
    false = int(matched["incident_id"].isna().sum())
    assert false >= 1
    counts = ["seed", "incidents", "detected", "detected_first_day"]
    assert row[counts].tolist() == [7, 3, 3, 3]
    assert row["alerts"] == len(matched) and row["true_alerts"] == len(matched) - false
    assert row["precision"] == pytest.approx(row["true_alerts"] / row["alerts"])
    assert row["recall"] == 1.0 and row["mean_days_to_detect"] == 0.0
    expected_rate = false / (n_series * n_days) * 30 * 100
    assert row["false_alerts_per_30d_per_100_series"] == pytest.approx(expected_rate)
    assert row["price_change_alerts"] == 0


def test_alerts_on_a_price_change_day_stay_false_but_are_counted(lines, scored):
    n_series, n_days = scored["series_id"].nunique(), scored["day"].nunique()
    table = evaluate(scored, INCIDENTS, lines, n_series, n_days, price_change_days=[day(80)])
    false = table.iloc[0]["alerts"] - table.iloc[0]["true_alerts"]
    assert table.iloc[0]["price_change_alerts"] == false
    assert "seed" not in table.columns  # the caller adds it


def test_missed_incidents_and_no_alerts(lines, scored):
    quiet = scored.assign(is_alert=False, is_first_day=False)
    table = evaluate(quiet, INCIDENTS, lines, 10, 100, seed=1)
    row = table.iloc[0]
    assert (row["alerts"], row["detected"], row["recall"]) == (0, 0, 0.0)
    assert np.isnan(row["precision"]) and np.isnan(row["mean_days_to_detect"])
    # an alert a day after the incident started is detected late, not on day one
    late = scored[(scored["series_id"] == "api_key:openai/key_c")].copy()
    late["is_alert"] = late["day"] == pd.Timestamp(day(136))
    table = evaluate(late, [{**INCIDENTS[2], "end_date": day(140)}], lines, 1, 100, seed=1)
    assert table.iloc[0]["detected"] == 1 and table.iloc[0]["detected_first_day"] == 0
    assert table.iloc[0]["mean_days_to_detect"] == 1.0


def test_evaluate_lines_in_one_call(lines):
    quality, matched = evaluate_lines(lines, INCIDENTS, START, END, SCOPES, seed=3)
    assert quality.iloc[0]["detected_first_day"] == 3
    assert quality.iloc[0]["n_series"] == 1 + 1 + 2 + 4
    assert len(matched) == quality.iloc[0]["alerts"]


def test_incident_frame_defaults_the_anthropic_default_workspace():
    frame = incident_frame(
        [
            {
                "id": "x",
                "kind": "prompt_growth",
                "provider": "anthropic",
                "project_id": None,
                "api_key_id": "apikey_1",
                "start_date": "2026-02-01",
                "end_date": None,
            },
        ]
    )
    assert frame.iloc[0]["project_id"] == "default"
    assert pd.isna(frame.iloc[0]["end"])
    assert incident_frame(frame).equals(frame)


def test_simulator_lines_carry_the_simulators_exact_totals():
    lines, org = simulator_lines(42, date(2026, 8, 20), date(2026, 9, 3))
    truth = {
        (row["provider"], row["date"]): Decimal(row["billed_cost_usd"])
        for row in org.daily_totals()
    }
    got = lines.groupby(["provider", lines["day"].dt.strftime("%Y-%m-%d")])["cost"].sum()
    assert len(got) == len(truth) == 28
    for key, cost in got.items():
        assert abs(Decimal(str(cost)) - truth[key]) < Decimal("0.005"), key
    assert lines.loc[lines["provider"] == "anthropic", "requests"].isna().all()
