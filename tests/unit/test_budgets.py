"""Budgets: the file is validated with file/line/field errors; status finds the crossing days."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.budgets import budget_status, load_budgets
from ingestion.config.allocation import ConfigFileError

HEADER = "budget_id,name,scope,scope_value,amount,currency,period,thresholds\n"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "budgets.csv"
    path.write_text(HEADER + body)
    return path


def test_a_valid_file_loads_with_default_thresholds(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "org,All,org,,45000,USD,monthly,\nsearch,Search,team,search,1_000.50,eur,,80|100\n",
    )
    org, search = load_budgets(path)
    assert org.series_id == "org" and org.thresholds == (50.0, 80.0, 100.0)
    assert search.series_id == "team:search"
    assert float(search.amount) == 1000.5 and search.currency == "EUR"
    assert search.thresholds == (80.0, 100.0)


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ("a,A,org,,,USD,,\n", 2, "amount"),
        ("a,A,org,,-5,USD,,\n", 2, "amount"),
        ("a,A,org,,ten,USD,,\n", 2, "amount"),
        ("a,A,org,,10,USD,,\nb,B,planet,x,10,USD,,\n", 3, "scope"),
        ("a,A,team,,10,USD,,\n", 2, "scope_value"),
        ("a,A,org,,10,dollars,,\n", 2, "currency"),
        ("a,A,org,,10,USD,weekly,\n", 2, "period"),
        ("a,A,org,,10,USD,,80|50\n", 2, "thresholds"),
        ("a,A,org,,10,USD,,80|lots\n", 2, "thresholds"),
        ("a,A,org,,10,USD,,\na,A,org,,20,USD,,\n", 3, "budget_id"),
    ],
)
def test_a_malformed_file_names_file_line_and_field(
    tmp_path: Path, body: str, line: int, field: str
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigFileError) as err:
        load_budgets(path)
    message = str(err.value)
    assert str(path) in message
    assert f"line {line}:" in message
    assert f": {field} " in message


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "budgets.csv"
    path.write_text("budget_id,scope,currency\na,org,USD\n")
    with pytest.raises(ConfigFileError, match=r"line 1: missing column\(s\) amount"):
        load_budgets(path)


def test_no_file_means_no_budgets(tmp_path: Path) -> None:
    assert load_budgets(tmp_path / "budgets.csv") == []


def _series(sid: str, start: str, values: list[float]) -> pd.DataFrame:
    days = pd.date_range(start, periods=len(values), freq="D")
    scope, _, value = sid.partition(":")
    return pd.DataFrame(
        {"series_id": sid, "scope": scope, "scope_value": value or "all", "day": days,
         "cost": values}
    )  # fmt: skip


def _forecast(sid: str, start: str, n: int, per_day: float) -> pd.DataFrame:
    days = pd.date_range(start, periods=n, freq="D")
    daily = pd.DataFrame(
        {"series_id": sid, "day": days, "yhat": per_day, "yhat_lower_80": per_day * 0.8,
         "yhat_upper_80": per_day * 1.2, "yhat_lower_95": per_day * 0.6,
         "yhat_upper_95": per_day * 1.4, "method": "prophet", "method_note": ""}
    )  # fmt: skip
    return daily


def test_crossing_days_on_actual_and_on_forecast(tmp_path: Path) -> None:
    # $100 a day on team:search from 1 Nov to 20 Nov; the run's data end on 20 Nov
    actuals = _series("team:search", "2026-11-01", [100.0] * 20)
    daily = _forecast("team:search", "2026-11-21", 10, 100.0)
    month_end = pd.DataFrame(
        {"series_id": ["team:search"], "month": [date(2026, 11, 1)], "actual_mtd": [2000.0],
         "forecast_rest": [1000.0], "projected": [3000.0], "projected_lower_80": [2800.0],
         "projected_upper_80": [3200.0], "projected_lower_95": [2600.0],
         "projected_upper_95": [3400.0], "method": ["prophet"]}
    )  # fmt: skip
    path = _write(
        tmp_path,
        "small,Small,team,search,1000,USD,,\nbig,Big,team,search,2500,USD,,\n"
        "huge,Huge,team,search,10000,USD,,\n",
    )
    status, crossings = budget_status(
        load_budgets(path), actuals, daily, month_end, as_of=date(2026, 11, 21),
        fx_rate=lambda currency, day: 1.0,
    )  # fmt: skip
    small = status.set_index("budget_id").loc["small"]
    # 50 % of $1,000 is reached on day 5, 80 % on day 8, 100 % on day 10
    assert small["status"] == "over_budget"
    assert small["actual_threshold_pct"] == 100
    assert small["actual_crossed_on"] == date(2026, 11, 10)
    assert small["pct_used"] == pytest.approx(200.0)
    days = crossings[crossings["budget_id"] == "small"].set_index("threshold_pct")["crossed_on"]
    assert days.to_dict() == {50.0: date(2026, 11, 5), 80.0: date(2026, 11, 8),
                              100.0: date(2026, 11, 10)}  # fmt: skip

    big = status.set_index("budget_id").loc["big"]
    # actual $2,000 = 80 % on 20 Nov; the forecast path ($100/day) reaches $2,500 on 25 Nov
    assert big["actual_threshold_pct"] == 80
    assert big["actual_crossed_on"] == date(2026, 11, 20)
    assert big["forecast_threshold_pct"] == 100
    assert big["forecast_crosses_budget_on"] == date(2026, 11, 25)
    assert big["status"] == "forecast_over_budget"
    fc = crossings[(crossings["budget_id"] == "big") & (crossings["basis"] == "forecast")]
    assert fc[["threshold_pct", "crossed_on"]].values.tolist() == [[100.0, date(2026, 11, 25)]]

    huge = status.set_index("budget_id").loc["huge"]
    assert huge["status"] == "ok"
    assert np.isnan(huge["actual_threshold_pct"]) and huge["forecast_crosses_budget_on"] is None
    assert huge["forecast_month_end"] == pytest.approx(3000.0)


def test_a_budget_in_another_currency_is_converted_at_the_month_rate(tmp_path: Path) -> None:
    actuals = _series("org", "2026-10-01", [100.0] * 31)
    path = _write(tmp_path, "eur,EUR budget,org,,2000,EUR,,\n")
    seen: list[tuple[str, date]] = []

    def fx(currency: str, day: date) -> float:
        seen.append((currency, day))
        return 1.10 if currency == "EUR" else 1.0

    status, _ = budget_status(
        load_budgets(path), actuals, None, None, as_of=date(2026, 11, 1), fx_rate=fx
    )
    row = status.iloc[0]
    assert row["budget_amount_reporting"] == pytest.approx(2200.0)
    assert row["pct_used"] == pytest.approx(100 * 3100 / 2200)
    # 100 % of $2,200 is reached on day 22
    assert row["actual_crossed_on"] == date(2026, 10, 22)
    assert ("EUR", date(2026, 10, 31)) in seen


def test_months_outside_a_budget_validity_are_skipped(tmp_path: Path) -> None:
    actuals = _series("org", "2026-09-01", [10.0] * 61)
    path = tmp_path / "budgets.csv"
    path.write_text(
        "budget_id,scope,amount,currency,valid_from,valid_to\nq4,org,100,USD,2026-10,2026-11\n"
    )
    status, _ = budget_status(
        load_budgets(path), actuals, None, None, as_of=date(2026, 11, 1),
        fx_rate=lambda c, d: 1.0,
    )  # fmt: skip
    assert status["month"].tolist() == [date(2026, 10, 1)]
