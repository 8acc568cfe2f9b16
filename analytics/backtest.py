"""Rolling-origin backtest of the spend forecast: how far to trust each series' forecast.

For every series, `n_origins` origins spaced `spacing_days` apart, the last one
`horizon_days` before the end of the data. At each origin the production model
(analytics.forecast.forecast_one, with its seasonal-naive fallback) is fitted on the days
before the origin and forecasts the next `horizon_days` (28: a month-end horizon); the
forecasts are compared with what happened. Metrics per series, over all test points of all
origins:

* `mape`: mean |actual − yhat| / actual over points with actual ≠ 0 (a fraction; NaN if none).
* `mase`: MAE of the forecast ÷ MAE of the seasonal-naive forecast (ŷ[T+h] = y[T+h−7k],
  k = ⌈h/7⌉, from the same origin) over the same points. Below 1 = better than repeating
  last week. 0/0 (both exact) is 1; x/0 is inf.
* `mase_insample`: the textbook (Hyndman) MASE: each absolute error divided by the in-sample
  MAE of the lag-7 naive forecast on that origin's training data, averaged over all points
  (points of an origin whose training data have no lag-7 variation are left out; NaN if all).
* `coverage_80`, `coverage_95`: share of actuals inside the 80 % / 95 % interval.
* `total_coverage_80`, `total_coverage_95`: share of origins whose actual total over the
  horizon lies inside the interval of the summed sample paths: how far to trust the interval
  of a month-end projection.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.forecast import (
    ForecastConfig,
    Progress,
    forecast_one,
    parallel_map,
    seasonal_naive_point,
)
from analytics.series import iter_series

log = logging.getLogger(__name__)

BACKTEST_COLUMNS: tuple[str, ...] = (
    "series_id",
    "scope",
    "method",
    "n_origins",
    "n_points",
    "mae",
    "mae_seasonal_naive",
    "mape",
    "mase",
    "mase_insample",
    "coverage_80",
    "coverage_95",
    "total_coverage_80",
    "total_coverage_95",
    "horizon_days",
    "origins",
)


@dataclass(frozen=True)
class BacktestConfig:
    """Origins and horizon. Five origins two weeks apart span ten weeks of recent history
    (different weekdays of the month, one level shift or spike rarely dominates), and 28 days
    is the longest stretch a month-end projection forecasts."""

    n_origins: int = 5
    spacing_days: int = 14
    horizon_days: int = 28
    #: origins with fewer training days are skipped (seasonal-naive needs two weeks)
    min_train_days: int = 14


def origins_for(days: pd.DatetimeIndex, config: BacktestConfig) -> list[pd.Timestamp]:
    """Origins (first test day) oldest first; each test window ends within the data."""
    if len(days) == 0:
        return []
    first, end = days.min(), days.max() + pd.Timedelta(days=1)
    last = end - pd.Timedelta(days=config.horizon_days)
    out = [last - pd.Timedelta(days=config.spacing_days * i) for i in range(config.n_origins)]
    return sorted(o for o in out if (o - first).days >= config.min_train_days)


def backtest_one(
    history: pd.Series,
    config: BacktestConfig = BacktestConfig(),
    forecast_config: ForecastConfig | None = None,
) -> dict[str, Any]:
    """Backtest one dense daily series; the metrics row without series_id/scope."""
    forecast_config = forecast_config or ForecastConfig()
    y = history.astype(np.float64).groupby(level=0).sum().sort_index()
    if len(y):  # dense: a missing day is a day without spend
        y = y.reindex(pd.date_range(y.index.min(), y.index.max(), freq="D"), fill_value=0.0)
    origins = origins_for(pd.DatetimeIndex(y.index), config)
    actual_parts, fc_parts, naive_parts, scaled_parts, methods = [], [], [], [], []
    totals: list[tuple[bool, bool]] = []
    for origin in origins:
        train = y[y.index < origin]
        test = y[(y.index >= origin)].iloc[: config.horizon_days].to_numpy()
        daily, paths = forecast_one(train, len(test), forecast_config)
        lo95, lo80, hi80, hi95 = np.quantile(paths.sum(axis=0), (0.025, 0.1, 0.9, 0.975))
        total = float(test.sum())
        totals.append((bool(lo80 <= total <= hi80), bool(lo95 <= total <= hi95)))
        naive = seasonal_naive_point(train.to_numpy(), len(test))
        values = train.to_numpy()
        scale = float(np.abs(values[7:] - values[:-7]).mean()) if len(values) > 7 else np.nan
        err = np.abs(test - daily["yhat"].to_numpy())
        actual_parts.append(test)
        fc_parts.append(daily)
        naive_parts.append(np.abs(test - naive))
        scaled_parts.append(err / scale if scale > 0 else np.full(len(err), np.nan))
        methods.append(str(daily["method"].iloc[0]))
    if not origins:
        return _empty_row(config)
    actual = np.concatenate(actual_parts)
    fc = pd.concat(fc_parts, ignore_index=True)
    yhat = fc["yhat"].to_numpy()
    err = np.abs(actual - yhat)
    naive_err = np.concatenate(naive_parts)
    nonzero = actual != 0
    mae, mae_naive = float(err.mean()), float(naive_err.mean())
    inside80 = (actual >= fc["yhat_lower_80"]) & (actual <= fc["yhat_upper_80"])
    inside95 = (actual >= fc["yhat_lower_95"]) & (actual <= fc["yhat_upper_95"])
    scaled = np.concatenate(scaled_parts)
    finite = bool(np.isfinite(scaled).any())
    return {
        "method": Counter(methods).most_common(1)[0][0],
        "n_origins": len(origins),
        "n_points": len(actual),
        "mae": mae,
        "mae_seasonal_naive": mae_naive,
        "mape": float((err[nonzero] / np.abs(actual[nonzero])).mean()) if nonzero.any() else np.nan,
        "mase": _ratio(mae, mae_naive),
        "mase_insample": float(scaled[np.isfinite(scaled)].mean()) if finite else np.nan,
        "coverage_80": float(inside80.mean()),
        "coverage_95": float(inside95.mean()),
        "total_coverage_80": float(np.mean([t[0] for t in totals])),
        "total_coverage_95": float(np.mean([t[1] for t in totals])),
        "horizon_days": config.horizon_days,
        "origins": ",".join(o.date().isoformat() for o in origins),
    }


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 1.0 if num == 0 else float("inf")


def _empty_row(config: BacktestConfig) -> dict[str, Any]:
    return {
        "method": None,
        "n_origins": 0,
        "n_points": 0,
        "mae": np.nan,
        "mae_seasonal_naive": np.nan,
        "mape": np.nan,
        "mase": np.nan,
        "mase_insample": np.nan,
        "coverage_80": np.nan,
        "coverage_95": np.nan,
        "total_coverage_80": np.nan,
        "total_coverage_95": np.nan,
        "horizon_days": config.horizon_days,
        "origins": "",
    }


def _task(task: tuple[str, str, pd.Series, BacktestConfig, ForecastConfig]) -> dict[str, Any]:
    sid, scope, history, config, forecast_config = task
    return {"series_id": sid, "scope": scope, **backtest_one(history, config, forecast_config)}


def backtest_all(
    frame: pd.DataFrame,
    config: BacktestConfig = BacktestConfig(),
    forecast_config: ForecastConfig | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Backtest every series of a series frame (analytics.series), one row per series, fitted
    in the forecast's process pool (`forecast_config.workers`)."""
    forecast_config = forecast_config or ForecastConfig()
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in BACKTEST_COLUMNS})
    scopes = frame.drop_duplicates("series_id").set_index("series_id")["scope"].astype(str)
    tasks = [
        (sid, str(scopes.get(sid, sid.partition(":")[0])), history, config, forecast_config)
        for sid, history in iter_series(frame)
    ]
    rows = parallel_map(_task, tasks, forecast_config, progress)
    out = pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))
    log.info("backtest of %d series: %s", len(out), summarize(out))
    return out


def summarize(backtest: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers: median MASE (vs seasonal-naive and in-sample), mean and pooled
    (point-weighted) interval coverage, series count, fallbacks, and the same per scope."""
    done = backtest[backtest["n_points"].fillna(0) > 0]

    def numbers(part: pd.DataFrame) -> dict[str, Any]:
        weights = part["n_points"].astype(float)
        total = float(weights.sum())
        return {
            "n_series": len(part),
            "median_mase": _median(part["mase"]),
            "median_mase_insample": _median(part["mase_insample"]),
            "median_mape": _median(part["mape"]),
            "mean_coverage_80": _mean(part["coverage_80"]),
            "mean_coverage_95": _mean(part["coverage_95"]),
            "pooled_coverage_80": float((part["coverage_80"] * weights).sum() / total)
            if total
            else float("nan"),
            "pooled_coverage_95": float((part["coverage_95"] * weights).sum() / total)
            if total
            else float("nan"),
            "mean_total_coverage_80": _mean(part.get("total_coverage_80", pd.Series())),
            "mean_total_coverage_95": _mean(part.get("total_coverage_95", pd.Series())),
            "n_seasonal_naive": int((part["method"] == "seasonal_naive").sum()),
        }

    summary = numbers(done)
    summary["by_scope"] = {
        str(scope): numbers(part) for scope, part in done.groupby("scope", sort=True)
    }
    return summary


def _median(values: pd.Series) -> float:
    """Median of the non-NaN values (an inf MASE ranks as the worst, so it is kept)."""
    raw = pd.to_numeric(values, errors="coerce").dropna()
    return float(np.median(raw)) if len(raw) else float("nan")


def _mean(values: pd.Series) -> float:
    raw = pd.to_numeric(values, errors="coerce").dropna()
    return float(raw.mean()) if len(raw) else float("nan")
