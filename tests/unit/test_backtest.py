"""Rolling-origin backtest: origins, MASE against seasonal-naive on the same points, the
textbook in-sample MASE, interval coverage, and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analytics.backtest import (
    BACKTEST_COLUMNS,
    BacktestConfig,
    backtest_all,
    backtest_one,
    origins_for,
    summarize,
)
from analytics.forecast import ForecastConfig

SERIAL = ForecastConfig(workers=1, uncertainty_samples=300)
NAIVE_ONLY = ForecastConfig(workers=1, uncertainty_samples=300, min_history_days=10_000)


def periodic(days: int, noise: float, seed: int = 0, start: str = "2026-01-05") -> pd.Series:
    """A pure weekly pattern (weekends ×0.45) times lognormal noise."""
    index = pd.date_range(start, periods=days, freq="D")
    week = np.array([100.0, 104.0, 98.0, 102.0, 96.0, 45.0, 44.0])
    rng = np.random.default_rng(seed)
    return pd.Series(week[index.day_of_week] * np.exp(rng.normal(0, noise, days)), index=index)


def test_origins_are_spaced_back_from_the_end_and_need_training_days() -> None:
    days = pd.date_range("2026-01-01", "2026-04-30", freq="D")
    config = BacktestConfig(n_origins=5, spacing_days=14, horizon_days=28, min_train_days=60)
    origins = origins_for(days, config)
    # last origin: the grid Monday (every other Monday from 2024-01-01) on or before 28 days
    # before the end (Fri 2026-04-03 -> Mon 03-23); then every 14 days back while ≥ 60
    # training days
    assert [o.date().isoformat() for o in origins] == ["2026-03-09", "2026-03-23"]


def test_origins_stay_for_two_weeks_and_then_only_one_is_new() -> None:
    config = BacktestConfig()
    seen = {
        tuple(origins_for(pd.date_range("2026-01-01", end, freq="D"), config))
        # data through Sunday 05-03 ... Saturday 05-16: the window ends Monday 05-04 ... Sunday
        # 05-17, its last origin on or before 04-06 ... 04-19
        for end in pd.date_range("2026-05-03", "2026-05-16", freq="D")
    }
    assert len(seen) == 1
    (origins,) = seen
    assert len(origins) == 5 and all(o.day_of_week == 0 for o in origins)
    nxt = origins_for(pd.date_range("2026-01-01", "2026-05-17", freq="D"), config)
    # the origins move on by one: four are the same days (their cached fits are re-used)
    assert nxt[-1] - origins[-1] == pd.Timedelta(days=14)
    assert nxt[:-1] == list(origins[1:])


def test_prophet_on_a_noisy_weekly_series_is_calibrated_and_beats_seasonal_naive() -> None:
    row = backtest_one(periodic(168, noise=0.1, seed=11), BacktestConfig(), SERIAL)
    assert row["method"] == "prophet"
    assert row["n_origins"] == 5 and row["n_points"] == 5 * 28
    # 2026-06-21 + 1 - 28 days = Mon 05-25, back to the grid (every other Monday from 2024-01-01)
    assert row["origins"].split(",")[-1] == "2026-05-18"
    # seasonal-naive's error is the difference of two noisy days (sqrt 2 sigma), the
    # model's about sigma
    assert 0.5 < row["mase"] < 0.9
    assert np.isfinite(row["mase_insample"]) and row["mase_insample"] < 1.0
    assert 0.68 <= row["coverage_80"] <= 0.92
    assert 0.85 <= row["coverage_95"] <= 1.0
    assert row["coverage_95"] > row["coverage_80"]
    assert row["mape"] == pytest.approx(0.08, abs=0.03)  # E|N(0, 0.1)| ≈ 0.08


def test_intervals_of_four_week_totals_cover_about_as_often_as_they_say() -> None:
    # what a month-end projection's interval rests on: the summed sample paths must carry the
    # uncertainty of the level, not only the daily noise (that alone covers ~half the time)
    config = BacktestConfig(n_origins=2, spacing_days=28)
    rows = [backtest_one(periodic(140, noise=0.1, seed=s), config, SERIAL) for s in range(8)]
    assert np.mean([r["total_coverage_80"] for r in rows]) >= 0.65
    assert np.mean([r["total_coverage_95"] for r in rows]) >= 0.85


def test_seasonal_naive_against_itself_has_mase_one() -> None:
    row = backtest_one(periodic(120, noise=0.1, seed=2), BacktestConfig(), NAIVE_ONLY)
    assert row["method"] == "seasonal_naive"
    assert row["mase"] == pytest.approx(1.0)
    assert row["mae"] == pytest.approx(row["mae_seasonal_naive"])


def test_noise_free_weekly_series_is_forecast_exactly() -> None:
    row = backtest_one(periodic(120, noise=0.0), BacktestConfig(), NAIVE_ONLY)
    assert row["mae"] == 0.0 and row["mape"] == 0.0
    assert row["mase"] == 1.0  # 0/0: as good as seasonal-naive
    assert row["coverage_80"] == 1.0 and row["coverage_95"] == 1.0
    assert row["total_coverage_80"] == 1.0
    assert np.isnan(row["mase_insample"])  # no in-sample lag-7 variation to scale by


def test_in_sample_mase_on_a_ramp_has_a_known_value() -> None:
    # y = 1, 2, 3, ...: the lag-7 naive's in-sample error is 7 on every day; forecasting
    # day h of the test window it repeats the value 7k days back (k = ⌈h/7⌉): error 7k,
    # mean over 28 days 7 * 2.5 = 17.5, so the textbook MASE is 2.5
    ramp = pd.Series(np.arange(1.0, 101.0), index=pd.date_range("2026-01-01", periods=100))
    row = backtest_one(ramp, BacktestConfig(n_origins=3), NAIVE_ONLY)
    assert row["mase_insample"] == pytest.approx(2.5)
    assert row["mase"] == pytest.approx(1.0)
    assert row["mae"] == pytest.approx(17.5)


def test_zero_actuals_are_left_out_of_mape() -> None:
    series = periodic(120, noise=0.0)
    series[series.index.day_of_week == 6] = 0.0  # no spend on Sundays
    row = backtest_one(series, BacktestConfig(), NAIVE_ONLY)
    assert row["mape"] == 0.0
    zero = pd.Series(0.0, index=pd.date_range("2026-01-01", periods=120))
    assert np.isnan(backtest_one(zero, BacktestConfig(), NAIVE_ONLY)["mape"])


def test_backtest_all_in_parallel_matches_serial_and_summarizes() -> None:
    a, b = periodic(110, noise=0.1, seed=3), periodic(110, noise=0.2, seed=4) * 3
    frame = pd.concat(
        [
            pd.DataFrame(
                {"series_id": sid, "scope": scope, "day": s.index, "cost": s.to_numpy()}
            ).assign(scope_value=sid.partition(":")[2] or "all")
            for sid, scope, s in [("org", "org", a), ("team:x", "team", b)]
        ],
        ignore_index=True,
    )
    config = BacktestConfig(n_origins=3)
    serial = backtest_all(frame, config, SERIAL)
    parallel = backtest_all(frame, config, ForecastConfig(workers=2, uncertainty_samples=300))
    pd.testing.assert_frame_equal(serial, parallel)
    assert list(serial.columns) == list(BACKTEST_COLUMNS)
    assert serial["series_id"].tolist() == ["org", "team:x"]
    assert serial["scope"].tolist() == ["org", "team"]
    summary = summarize(serial)
    assert summary["n_series"] == 2
    assert summary["median_mase"] == pytest.approx(serial["mase"].median())
    assert summary["mean_coverage_80"] == pytest.approx(serial["coverage_80"].mean())
    assert set(summary["by_scope"]) == {"org", "team"}


def test_summary_has_known_numbers() -> None:
    table = pd.DataFrame(
        {
            "series_id": ["org", "team:a", "team:b", "team:c"],
            "scope": ["org", "team", "team", "team"],
            "method": ["prophet", "prophet", "seasonal_naive", None],
            "n_points": [100, 100, 50, 0],
            "mase": [0.5, 0.9, float("inf"), np.nan],
            "mase_insample": [0.6, 1.0, 2.0, np.nan],
            "mape": [0.1, 0.2, 0.3, np.nan],
            "coverage_80": [0.9, 0.7, 0.4, np.nan],
            "coverage_95": [1.0, 0.9, 0.8, np.nan],
        }
    )
    summary = summarize(table)
    assert summary["n_series"] == 3  # the series without test points is left out
    assert summary["median_mase"] == 0.9  # inf (naive exact, model not) ranks worst
    assert summary["median_mase_insample"] == 1.0
    assert summary["mean_coverage_80"] == pytest.approx(2.0 / 3.0)
    assert summary["pooled_coverage_80"] == pytest.approx((90 + 70 + 20) / 250)
    assert summary["n_seasonal_naive"] == 1
    assert summary["by_scope"]["team"]["median_mase"] == pytest.approx(np.inf)
    assert summary["by_scope"]["org"]["mean_coverage_95"] == 1.0


def test_the_cache_re_uses_unchanged_origins_and_refits_changed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import analytics.backtest as bt

    fits: list[int] = []
    real = bt.forecast_one

    def counting(train: pd.Series, horizon: int, config: ForecastConfig) -> Any:
        fits.append(len(train))
        return real(train, horizon, config)

    monkeypatch.setattr(bt, "forecast_one", counting)
    frame = pd.concat(
        [
            pd.DataFrame({"series_id": f"team:{name}", "scope": "team", "day": s.index, "cost": s})
            for name, s in (("a", periodic(120, 0.1, seed=1)), ("b", periodic(120, 0.1, seed=2)))
        ],
        ignore_index=True,
    )
    cache = tmp_path / "cache"
    config = ForecastConfig(workers=1)
    first = backtest_all(frame, forecast_config=config, cache_dir=cache)
    n_fits = len(fits)
    assert n_fits > 0 and len(list(cache.glob("*.pkl"))) == n_fits
    again = backtest_all(frame, forecast_config=config, cache_dir=cache)
    assert len(fits) == n_fits  # nothing refitted
    pd.testing.assert_frame_equal(first, again)
    # one day of series b restated: only the origins whose data include that day are refitted
    # (the day is in their training or test window), and the stale entries are pruned
    changed = frame.copy()
    rows_b = changed.index[changed["series_id"] == "team:b"]
    origins = origins_for(pd.DatetimeIndex(changed.loc[rows_b, "day"]), BacktestConfig())
    day = origins[-1] + pd.Timedelta(days=1)
    changed.loc[rows_b[changed.loc[rows_b, "day"] == day], "cost"] += 50.0
    touched = sum(day < o + pd.Timedelta(days=BacktestConfig().horizon_days) for o in origins)
    assert 0 < touched < 2 * len(origins)
    cached = backtest_all(changed, forecast_config=config, cache_dir=cache)
    assert len(fits) == n_fits + touched
    assert len(list(cache.glob("*.pkl"))) == n_fits
    pd.testing.assert_frame_equal(cached, backtest_all(changed, forecast_config=config))
