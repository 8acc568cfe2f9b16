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

import hashlib
import logging
import os
import pickle
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
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


#: a Monday: origins fall on it and every `spacing_days` from it (a multiple of 7 keeps them
#: on Mondays)
ORIGIN_GRID = pd.Timestamp("2024-01-01")


def origins_for(days: pd.DatetimeIndex, config: BacktestConfig) -> list[pd.Timestamp]:
    """Origins (first test day) oldest first; each test window ends within the data.

    Origins lie on a fixed grid: Mondays `spacing_days` apart, counted from ORIGIN_GRID
    (with the default 14 days, every other Monday). The last is the latest grid day whose test
    window ends within the data, the others `spacing_days` apart before it. So the origins stay
    the same for `spacing_days`, and when they move, only the newest is new: the others are
    the same days as before, and a daily run re-uses their results (`cache_dir` of
    backtest_all) instead of refitting every series at every origin. Anchoring on the end of
    the data instead (the latest Monday) moved all of them by a week every other week: a
    refit of every series at every origin, on up to all of its history."""
    if len(days) == 0:
        return []
    first, end = days.min(), days.max() + pd.Timedelta(days=1)
    last = end - pd.Timedelta(days=config.horizon_days)
    last -= pd.Timedelta(days=(last - ORIGIN_GRID).days % config.spacing_days)
    out = [last - pd.Timedelta(days=config.spacing_days * i) for i in range(config.n_origins)]
    return sorted(o for o in out if (o - first).days >= config.min_train_days)


def backtest_one(
    history: pd.Series,
    config: BacktestConfig = BacktestConfig(),
    forecast_config: ForecastConfig | None = None,
    cache_dir: Path | None = None,
    used: list[str] | None = None,
) -> dict[str, Any]:
    """Backtest one dense daily series; the metrics row without series_id/scope. With
    `cache_dir`, an origin whose data and settings were backtested before is read back (the
    keys read or written are appended to `used`)."""
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
        key = _origin_key(origin, train, test, config, forecast_config) if cache_dir else ""
        done = _cached(cache_dir, key) if cache_dir else None
        if done is None:
            done = _one_origin(train, test, forecast_config)
            if cache_dir:
                _store(cache_dir, key, done)
        if cache_dir and used is not None:
            used.append(key)
        daily, inside, naive_err, scaled = done
        totals.append(inside)
        actual_parts.append(test)
        fc_parts.append(daily)
        naive_parts.append(naive_err)
        scaled_parts.append(scaled)
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


CACHE_KEYS = "_cache_keys"
OriginResult = tuple[pd.DataFrame, tuple[bool, bool], np.ndarray, np.ndarray]
# bump when what an origin's result means changes (metrics, forecast model): old entries then
# simply stop matching
CACHE_VERSION = "1"


def _one_origin(
    train: pd.Series, test: np.ndarray, forecast_config: ForecastConfig
) -> OriginResult:
    """Forecast `len(test)` days from `train`: the daily forecast, whether the test total lies
    inside the 80 %/95 % interval of the summed paths, the seasonal-naive absolute errors and
    the errors scaled by the in-sample lag-7 MAE."""
    daily, paths = forecast_one(train, len(test), forecast_config)
    lo95, lo80, hi80, hi95 = np.quantile(paths.sum(axis=0), (0.025, 0.1, 0.9, 0.975))
    total = float(test.sum())
    inside = (bool(lo80 <= total <= hi80), bool(lo95 <= total <= hi95))
    naive = seasonal_naive_point(train.to_numpy(), len(test))
    values = train.to_numpy()
    scale = float(np.abs(values[7:] - values[:-7]).mean()) if len(values) > 7 else np.nan
    err = np.abs(test - daily["yhat"].to_numpy())
    scaled = err / scale if scale > 0 else np.full(len(err), np.nan)
    return daily, inside, np.abs(test - naive), scaled


def _origin_key(
    origin: pd.Timestamp,
    train: pd.Series,
    test: np.ndarray,
    config: BacktestConfig,
    forecast_config: ForecastConfig,
) -> str:
    """Everything an origin's result depends on: the data before and after it, the settings
    (not the worker count) and the cache version."""
    h = hashlib.sha256()
    settings = repr((config, replace(forecast_config, workers=None), CACHE_VERSION))
    h.update(settings.encode())
    h.update(origin.isoformat().encode())
    h.update(str(train.index.min() if len(train) else "").encode())
    h.update(np.ascontiguousarray(train.to_numpy(dtype=np.float64)).tobytes())
    h.update(b"|")
    h.update(np.ascontiguousarray(test, dtype=np.float64).tobytes())
    return h.hexdigest()


def _cached(cache_dir: Path, key: str) -> OriginResult | None:
    path = cache_dir / f"{key}.pkl"
    try:
        with path.open("rb") as fh:
            # our own cache, written by this module beside the warehouse
            result: OriginResult = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
    return result


def _store(cache_dir: Path, key: str, result: OriginResult) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
    with partial.open("wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, cache_dir / f"{key}.pkl")  # atomic: workers write side by side


def prune_cache(cache_dir: Path, keep: set[str]) -> int:
    """Remove the entries whose key is not in `keep` (what this run used); how many went."""
    removed = 0
    for path in cache_dir.glob("*.pkl") if cache_dir.exists() else ():
        if path.stem not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


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


Task = tuple[str, str, pd.Series, BacktestConfig, ForecastConfig, Path | None]


def _task(task: Task) -> dict[str, Any]:
    sid, scope, history, config, forecast_config, cache_dir = task
    used: list[str] = []
    row = backtest_one(history, config, forecast_config, cache_dir, used)
    return {"series_id": sid, "scope": scope, **row, CACHE_KEYS: used}


def backtest_all(
    frame: pd.DataFrame,
    config: BacktestConfig = BacktestConfig(),
    forecast_config: ForecastConfig | None = None,
    progress: Progress | None = None,
    cache_dir: Path | None = None,
) -> pd.DataFrame:
    """Backtest every series of a series frame (analytics.series), one row per series, fitted
    in the forecast's process pool (`forecast_config.workers`).

    `cache_dir`: keep each (series, origin) result there and re-use it while its data and
    settings are unchanged (origins move once a week, see origins_for), so the daily run fits
    only what is new; entries this run did not use are removed at the end."""
    forecast_config = forecast_config or ForecastConfig()
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in BACKTEST_COLUMNS})
    scopes = frame.drop_duplicates("series_id").set_index("series_id")["scope"].astype(str)
    tasks = [
        (
            sid,
            str(scopes.get(sid, sid.partition(":")[0])),
            history,
            config,
            forecast_config,
            cache_dir,
        )
        for sid, history in iter_series(frame)
    ]
    rows = parallel_map(_task, tasks, forecast_config, progress)
    used = {key for row in rows for key in row.pop(CACHE_KEYS)}
    out = pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))
    if cache_dir is not None:
        removed = prune_cache(cache_dir, used)
        log.info("backtest cache %s: %d entries, %d stale removed", cache_dir, len(used), removed)
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
