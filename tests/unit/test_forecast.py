"""Forecasts: Prophet on log1p(cost) with nested, non-negative intervals, a month-end
projection whose interval comes from summed sample paths, and a seasonal-naive fallback that
says why it was used."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

import analytics.forecast as fc
from analytics.forecast import (
    DAILY_COLUMNS,
    MONTH_END_COLUMNS,
    ForecastConfig,
    forecast_one,
    forecast_series,
    level_shifts,
    seasonal_naive_point,
)

SERIAL = ForecastConfig(workers=1, uncertainty_samples=300)
BOUNDS = ("yhat_lower_95", "yhat_lower_80", "yhat", "yhat_upper_80", "yhat_upper_95")


def weekly(
    days: int,
    start: str = "2026-01-05",
    level: float = 100.0,
    weekend: float = 0.45,
    noise: float = 0.08,
    growth: float = 0.0,
    seed: int = 1,
) -> pd.Series:
    """Daily cost: `level` on weekdays, `weekend`× on Sat/Sun, lognormal noise, linear growth."""
    index = pd.date_range(start, periods=days, freq="D")
    rng = np.random.default_rng(seed)
    pattern = np.where(index.day_of_week >= 5, weekend, 1.0)
    trend = level * (1.0 + growth * np.arange(days) / days)
    return pd.Series(trend * pattern * np.exp(rng.normal(0.0, noise, days)), index=index)


def frame(**series: pd.Series) -> pd.DataFrame:
    """A series frame (analytics.series contract) from named series; '__' stands for ':'."""
    parts = []
    for name, values in series.items():
        sid = name.replace("__", ":")
        scope, _, value = sid.partition(":")
        parts.append(
            pd.DataFrame(
                {
                    "series_id": sid,
                    "scope": scope,
                    "scope_value": value or "all",
                    "day": values.index,
                    "cost": values.to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def assert_nested_non_negative(daily: pd.DataFrame) -> None:
    values = daily[list(BOUNDS)].to_numpy()
    assert np.isfinite(values).all()
    assert (values >= 0).all()
    assert (np.diff(values, axis=1) >= -1e-9).all(), "95 ⊇ 80 ⊇ yhat must hold on every day"


def test_weekly_series_forecast_keeps_the_pattern_and_projects_the_month() -> None:
    history = weekly(140, start="2026-01-05", growth=0.2)  # to 2026-05-24
    as_of = date(2026, 5, 15)
    result = forecast_series(frame(org=history), as_of=as_of, config=SERIAL)
    daily, month = result.daily, result.month_end
    assert list(daily.columns) == list(DAILY_COLUMNS)
    assert list(month.columns) == list(MONTH_END_COLUMNS)
    assert len(daily) == 90 and daily["day"].iloc[0] == pd.Timestamp(as_of)
    assert set(daily["method"]) == {"prophet"} and set(daily["method_note"]) == {""}
    assert_nested_non_negative(daily)

    # the weekly pattern and level are those of the data (weekday ~118-120 by mid-May)
    weekend = daily["day"].dt.day_of_week >= 5
    first4 = daily["day"] < pd.Timestamp("2026-06-12")
    ratio = daily.loc[weekend & first4, "yhat"].mean() / daily.loc[~weekend & first4, "yhat"].mean()
    assert ratio == pytest.approx(0.45, abs=0.06)
    assert daily.loc[~weekend & first4, "yhat"].mean() == pytest.approx(119.0, rel=0.08)
    # uncertainty grows with the horizon
    width = daily["yhat_upper_80"] / daily["yhat_lower_80"]
    assert width.iloc[-7:].mean() > width.iloc[:7].mean()

    row = month.iloc[0]
    assert row["month"] == date(2026, 5, 1)
    assert row["days_observed"] == 14 and row["days_in_month"] == 31
    mtd = history[(history.index >= "2026-05-01") & (history.index < "2026-05-15")].sum()
    assert row["actual_mtd"] == pytest.approx(mtd)
    rest = daily[daily["day"] < pd.Timestamp("2026-06-01")]
    assert row["forecast_rest"] == pytest.approx(rest["yhat"].sum())
    assert row["projected"] == pytest.approx(row["actual_mtd"] + row["forecast_rest"])
    lows = row[["projected_lower_95", "projected_lower_80", "projected"]].to_numpy(float)
    highs = row[["projected", "projected_upper_80", "projected_upper_95"]].to_numpy(float)
    assert (np.diff(lows) >= 0).all() and (np.diff(highs) >= 0).all()
    assert row["projected_lower_95"] >= row["actual_mtd"]
    # the interval of the sum is narrower than the sum of the daily intervals
    summed_daily = (rest["yhat_upper_80"] - rest["yhat_lower_80"]).sum()
    assert row["projected_upper_80"] - row["projected_lower_80"] < 0.7 * summed_daily


def test_month_end_from_the_first_of_the_month_is_the_whole_month() -> None:
    history = weekly(100, start="2026-01-21")  # to 2026-04-30
    result = forecast_series(frame(org=history), config=SERIAL)  # as_of = 2026-05-01
    row = result.month_end.iloc[0]
    assert row["month"] == date(2026, 5, 1)
    assert row["actual_mtd"] == 0.0 and row["days_observed"] == 0
    may = result.daily[result.daily["day"] < pd.Timestamp("2026-06-01")]
    assert len(may) == 31
    assert row["projected"] == pytest.approx(may["yhat"].sum())
    assert row["projected_lower_80"] < row["projected"] < row["projected_upper_80"]


def test_horizon_reaches_month_end_when_it_is_later_than_horizon_days() -> None:
    history = weekly(70, start="2026-01-01")  # to 2026-03-11
    config = ForecastConfig(workers=1, horizon_days=10, uncertainty_samples=200)
    result = forecast_series(frame(org=history), config=config)
    assert result.daily["day"].max() == pd.Timestamp("2026-03-31")
    assert len(result.daily) == 20


def test_data_on_or_after_as_of_are_ignored() -> None:
    history = weekly(100, start="2026-01-01")
    spiked = history.copy()
    spiked[spiked.index >= "2026-03-20"] *= 50
    a = forecast_series(frame(org=history), as_of=date(2026, 3, 20), config=SERIAL)
    b = forecast_series(frame(org=spiked), as_of=date(2026, 3, 20), config=SERIAL)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.month_end, b.month_end)


def test_short_history_uses_seasonal_naive_and_says_why() -> None:
    history = weekly(20, start="2026-03-01")
    daily, paths = forecast_one(history, 28, SERIAL)
    assert set(daily["method"]) == {"seasonal_naive"}
    assert set(daily["method_note"]) == {"20 days of history < 56"}
    # same weekday last week, repeated
    np.testing.assert_allclose(daily["yhat"].to_numpy(), np.tile(history.to_numpy()[-7:], 4))
    assert paths.shape == (28, 300) and (paths >= 0).all()
    assert_nested_non_negative(daily)


def test_history_is_counted_from_the_first_day_with_spend() -> None:
    history = weekly(90, start="2026-01-01")
    history.iloc[:50] = 0.0  # 40 days of real history
    daily, _ = forecast_one(history, 14, SERIAL)
    assert daily["method_note"].iloc[0] == "40 days of history < 56"


def test_seasonal_naive_repeats_a_noise_free_week_exactly_with_zero_width() -> None:
    week = np.array([5.0, 7.0, 9.0, 11.0, 13.0, 2.0, 1.0])
    history = pd.Series(np.tile(week, 6), index=pd.date_range("2026-02-02", periods=42))
    np.testing.assert_array_equal(seasonal_naive_point(history, 10), np.resize(week, 10))
    daily, paths = forecast_one(history, 21, SERIAL)
    assert daily["method"].iloc[0] == "seasonal_naive"
    np.testing.assert_array_equal(daily["yhat"].to_numpy(), np.tile(week, 3))
    np.testing.assert_array_equal(daily["yhat_upper_95"].to_numpy(), np.tile(week, 3))
    np.testing.assert_array_equal(paths, np.broadcast_to(np.tile(week, 3)[:, None], paths.shape))


def test_seasonal_naive_intervals_widen_with_the_square_root_of_weeks_ahead() -> None:
    rng = np.random.default_rng(3)
    history = pd.Series(1000 + rng.normal(0, 10, 40), index=pd.date_range("2026-01-01", periods=40))
    daily, _ = forecast_one(history, 28, SERIAL)
    width = (daily["yhat_upper_80"] - daily["yhat_lower_80"]).to_numpy()
    assert width[21] == pytest.approx(2.0 * width[0])  # √4 weeks
    assert width[7] == pytest.approx(np.sqrt(2.0) * width[0])


def test_declining_series_is_never_forecast_negative() -> None:
    index = pd.date_range("2026-01-01", periods=100)
    rng = np.random.default_rng(5)
    linear = np.linspace(100.0, 3.0, 100) * np.exp(rng.normal(0, 0.1, 100))
    daily, paths = forecast_one(pd.Series(linear, index=index), 90, SERIAL)
    assert daily["method"].iloc[0] == "prophet"
    assert_nested_non_negative(daily)
    assert (paths >= 0).all()
    assert daily["yhat"].iloc[-1] < daily["yhat"].iloc[0] < 5.0


def test_all_zero_series_forecasts_zero() -> None:
    history = pd.Series(0.0, index=pd.date_range("2026-01-01", periods=120))
    result = forecast_series(frame(team__idle=history), config=SERIAL)
    assert (result.daily[list(BOUNDS)].to_numpy() == 0).all()
    row = result.month_end.iloc[0]
    assert row["method"] == "seasonal_naive" and row["method_note"] == "no spend in history"
    assert row[["projected", "projected_lower_95", "projected_upper_95"]].tolist() == [0, 0, 0]


def test_mostly_zero_and_stopped_series_use_seasonal_naive() -> None:
    index = pd.date_range("2026-01-01", periods=120)
    sparse = pd.Series(np.where(index.day_of_week == 2, 50.0, 0.0), index=index)
    daily, _ = forecast_one(sparse, 14, SERIAL)
    assert daily["method_note"].iloc[0] == "85% of days have no spend (> 50%)"
    stopped = weekly(120, start="2026-01-01")
    stopped.iloc[-20:] = 0.0
    daily, _ = forecast_one(stopped, 14, SERIAL)
    assert daily["method_note"].iloc[0] == "no spend in the last 14 days"
    assert (daily["yhat"] == 0).all()


def test_a_failing_prophet_fit_falls_back_with_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("optimizer exploded")

    monkeypatch.setattr(fc, "_prophet", boom)
    result = forecast_series(frame(org=weekly(100)), config=SERIAL)
    assert set(result.daily["method"]) == {"seasonal_naive"}
    note = result.month_end["method_note"].iloc[0]
    assert note == "prophet failed: RuntimeError: optimizer exploded"
    assert_nested_non_negative(result.daily)


def test_a_level_shift_is_found_and_the_forecast_stays_at_the_new_level() -> None:
    history = weekly(120, start="2026-01-05", noise=0.05)
    history[history.index >= "2026-04-20"] *= 3.0  # 15 days before the end
    assert level_shifts(history) == [pd.Timestamp("2026-04-20")]
    daily, _ = forecast_one(history, 28, SERIAL)
    weekdays = daily[daily["day"].dt.day_of_week < 5]
    # the new level (300 on weekdays), not a slope extrapolated from the step
    assert weekdays["yhat"].iloc[-5:].mean() == pytest.approx(300.0, rel=0.1)


def test_a_spike_just_before_the_forecast_does_not_lift_it() -> None:
    history = weekly(120, start="2026-01-05", noise=0.05)
    history.iloc[-3:-1] *= 8.0  # a two-day runaway loop, ending the day before the last
    daily, _ = forecast_one(history, 14, SERIAL)
    weekdays = daily[daily["day"].dt.day_of_week < 5]
    assert weekdays["yhat"].mean() == pytest.approx(100.0, rel=0.06)
    assert daily["yhat_upper_95"].max() < 150.0


def test_spikes_and_noise_are_not_level_shifts() -> None:
    spiky = weekly(120, start="2026-01-05", noise=0.05)
    spiky.iloc[60:62] *= 8.0
    assert level_shifts(spiky) == []
    noisy = weekly(120, start="2026-01-05", noise=0.6, seed=9)
    assert level_shifts(noisy) == []


def test_parallel_workers_give_the_same_numbers_as_one() -> None:
    data = frame(
        org=weekly(90, growth=0.3),
        team__search=weekly(90, level=20.0, seed=2),
        team__new=weekly(90, level=5.0, seed=4).where(lambda s: s.index >= "2026-03-10", 0.0),
    )
    seen: list[tuple[int, int]] = []
    serial = forecast_series(data, config=SERIAL)
    parallel = forecast_series(
        data,
        config=ForecastConfig(workers=2, uncertainty_samples=300),
        progress=lambda done, total: seen.append((done, total)),
    )
    pd.testing.assert_frame_equal(serial.daily, parallel.daily)
    pd.testing.assert_frame_equal(serial.month_end, parallel.month_end)
    assert seen[-1] == (3, 3) and len(seen) == 3
    assert serial.month_end.set_index("series_id")["method"].to_dict() == {
        "org": "prophet",
        "team:new": "seasonal_naive",
        "team:search": "prophet",
    }


def test_empty_frame_gives_empty_tables() -> None:
    empty = frame(org=weekly(1)).iloc[:0]
    result = forecast_series(empty, config=SERIAL)
    assert result.daily.empty and list(result.daily.columns) == list(DAILY_COLUMNS)
    assert result.month_end.empty and list(result.month_end.columns) == list(MONTH_END_COLUMNS)
