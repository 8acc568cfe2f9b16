"""Daily spend forecasts per series with 80 %/95 % intervals, and the month-end projection.

Model: Prophet on `log1p(cost)` (weekly seasonality, linear trend, no yearly seasonality:
under two years of history it cannot be estimated), back-transformed with `expm1` and clipped
at 0. Working in log space makes the weekly pattern and the noise multiplicative, which is
how spend behaves (weekends are a share of weekdays, noise is a share of the level), and the
back-transform can never produce negative cost. The point forecast is the median (Prophet's
log-space mean back-transformed); the intervals are quantiles of Prophet's predictive samples.

Before fitting, persistent level shifts become step regressors (`level_shifts`); after a
first fit, outlier days (spikes) are left out and the model refitted; the sample paths get
the uncertainty of today's level and slope that Prophet's MAP fit leaves out
(`_trend_error`), so that intervals of sums over weeks are not too narrow.

A series with too little history, mostly zero days or no recent spend gets a seasonal-naive
forecast instead (the same weekday last week), with intervals from the empirical quantiles of
its lag-7 errors widened by √(weeks ahead); so does any series whose Prophet fit fails. Every
row says which (`method`) and why (`method_note`).

The month-end projection of a series is actual month-to-date + the sum of the daily forecasts
for the rest of the month; its interval comes from the predictive sample paths summed over
those days (not from adding daily bounds, which would overstate the width).

Series are fitted in a process pool (`parallel_map`, also used by analytics.backtest).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from analytics.series import iter_series

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
T = TypeVar("T")
R = TypeVar("R")

PROPHET = "prophet"
SEASONAL_NAIVE = "seasonal_naive"

#: Quantile levels of the 95 % and 80 % central intervals.
_LEVELS = (0.025, 0.1, 0.9, 0.975)

DAILY_COLUMNS: tuple[str, ...] = (
    "series_id",
    "day",
    "yhat",
    "yhat_lower_80",
    "yhat_upper_80",
    "yhat_lower_95",
    "yhat_upper_95",
    "method",
    "method_note",
)
MONTH_END_COLUMNS: tuple[str, ...] = (
    "series_id",
    "month",
    "actual_mtd",
    "forecast_rest",
    "projected",
    "projected_lower_80",
    "projected_upper_80",
    "projected_lower_95",
    "projected_upper_95",
    "days_observed",
    "days_in_month",
    "method",
    "method_note",
)


@dataclass(frozen=True)
class ForecastConfig:
    """How series are forecast.

    Defaults, chosen for daily cost rather than tuned to one data set:

    * `min_history_days=56`: eight weeks from the first day with spend; fewer weekly cycles
      give Prophet too little to separate trend from weekday pattern.
    * `changepoint_prior_scale=0.05`, `changepoint_range=0.8` (Prophet's defaults): the
      trend follows changes in growth without chasing a week of noise or a 1–2 day spike.
      Steps (a model switch, a new feature) are left to the level-shift regressors below. In
      the backtest 0.1–0.3 were worse (the trend chases noise, intervals widen); 0.02 is
      about the same.
    * `level_shift_ratio=1.2`, `level_shift_z=5`: a persistent step of at least 20 % between
      the two-week medians either side of a day (material for a budget) that is also at
      least 5 standard errors of the series' own noise (so noisy series do not see steps
      everywhere) becomes a step regressor (see `level_shifts`). Prophet's trend can only
      bend, so without it a step is fitted as a steep slope that is then extrapolated,
      exponentially in log space. `level_shift_ratio=0` turns this off.
    * `trend_window_share=0.5`: the uncertainty of today's level and slope, which Prophet's
      MAP fit leaves out, is added to every sample path as that of a line fitted to the last
      half of the history (see `_trend_error`; the changepoints let the trend bend, so it
      rests on the recent part, not on all of it). Half is where 7–28-day sums of a synthetic
      weekly series with i.i.d. noise get their nominal 80 %/95 % coverage; 0 turns it off
      (28-day sums are then covered about half the time instead of 80 %).
    * `outlier_z=4`, `max_outlier_share=0.1`: days more than 4 robust standard deviations off
      the first fit (a retry storm, a runaway loop) are left out and the model is fitted
      again, as Prophet's documentation advises; otherwise a spike inflates the noise and,
      in the last days, lifts the level of the whole forecast. Not if more than 10 % of the
      days would go (then they are the series, not outliers). `outlier_z=0` turns it off.
    * `max_zero_share=0.5`, `recent_zero_days=14`: a series that is mostly zero, or has
      stopped, is better described by "same as last week" than by a log-space trend.
    * `max_iter=2000`: the MAP fit of a few hundred days converges in far fewer L-BFGS
      iterations; the cap bounds a pathological fit, which then falls back to seasonal-naive.
    * `uncertainty_samples=500`: enough for stable 2.5 %/97.5 % quantiles, cheap to draw.
    * `max_growth=100`: no sample path may exceed 100× the largest day seen (guards expm1 of
      an exploding trend sample against overflow; never binding on ordinary series).
    """

    horizon_days: int = 90
    min_history_days: int = 56
    workers: int | None = None
    uncertainty_samples: int = 500
    seed: int = 0
    changepoint_prior_scale: float = 0.05
    changepoint_range: float = 0.8
    seasonality_prior_scale: float = 10.0
    max_zero_share: float = 0.5
    recent_zero_days: int = 14
    max_iter: int = 2000
    max_growth: float = 100.0
    level_shift_ratio: float = 1.2
    level_shift_z: float = 5.0
    outlier_z: float = 4.0
    max_outlier_share: float = 0.1
    trend_window_share: float = 0.5
    #: multiprocessing start method; None: "fork" on Linux when the caller runs no other
    #: thread (forking a threaded process can deadlock), else "forkserver" where available,
    #: else "spawn" (see `parallel_map`).
    mp_context: str | None = None

    def n_workers(self) -> int:
        """`workers`, or min(2, CPUs) when unset."""
        return max(1, self.workers if self.workers is not None else min(2, os.cpu_count() or 1))


@dataclass
class ForecastResult:
    """`daily`: one row per series and forecast day; `month_end`: one row per series."""

    daily: pd.DataFrame
    month_end: pd.DataFrame


# --------------------------------------------------------------------------------------------
# one series


def forecast_one(
    history: pd.Series, horizon: int, config: ForecastConfig = ForecastConfig()
) -> tuple[pd.DataFrame, np.ndarray]:
    """Forecast the `horizon` days after the last day of `history` (cost indexed by day, dense).

    Returns the daily frame (columns `day`, `yhat`, the four bounds, `method`, `method_note`)
    and the sample paths, shape (horizon, samples), in cost (≥ 0), for intervals of sums.
    """
    if history.empty:
        raise ValueError("forecast_one needs at least one day of history")
    y = _dense(history)
    start = y.index[-1] + pd.Timedelta(days=1)
    days = pd.date_range(start, periods=horizon, freq="D")
    reason = _naive_reason(y, config)
    method, note = SEASONAL_NAIVE, reason or ""
    if reason is None:
        try:
            with _quiet_stan(), warnings.catch_warnings():
                # Prophet 1.5 uses pandas APIs that pandas 3 deprecates: not ours to fix
                warnings.simplefilter("ignore", DeprecationWarning)
                point, paths = _prophet(y, days, config)
            method, note = PROPHET, ""
        except Exception as exc:  # any failure of the fit: fall back, say why
            note = f"prophet failed: {type(exc).__name__}: {exc}"[:300]
            log.warning(
                "%s; seasonal-naive instead", note, exc_info=log.isEnabledFor(logging.DEBUG)
            )
    if method == SEASONAL_NAIVE:
        point, bounds, paths = _seasonal_naive(y.to_numpy(np.float64), horizon, config)
    else:
        bounds = np.quantile(paths, _LEVELS, axis=1)
    daily = _daily_frame(days, point, bounds, method, note)
    return daily, paths


def seasonal_naive_point(history: pd.Series | np.ndarray, horizon: int) -> np.ndarray:
    """The same weekday last week: ŷ[T+h] = y[T+h−7k], k = ⌈h/7⌉ (mean of history if < 7 days)."""
    y = np.asarray(history, dtype=np.float64)
    if len(y) == 0:
        return np.zeros(horizon)
    if len(y) < 7:
        return np.full(horizon, float(y.mean()))
    return np.resize(y[-7:], horizon).astype(np.float64)


def _dense(history: pd.Series) -> pd.Series:
    """History as a gap-free daily float series (missing days are no spend: 0)."""
    if history.empty:
        return pd.Series([], index=pd.DatetimeIndex([]), dtype=np.float64)
    index = pd.DatetimeIndex(history.index).normalize()
    y = pd.Series(np.nan_to_num(history.to_numpy(np.float64)), index=index)
    y = y.groupby(level=0).sum()
    full = pd.date_range(y.index.min(), y.index.max(), freq="D")
    return y.reindex(full, fill_value=0.0).clip(lower=0.0)


def _active(y: pd.Series) -> pd.Series:
    """History from the first day with spend (leading zeros predate the series)."""
    nonzero = np.flatnonzero(y.to_numpy() > 0)
    return y.iloc[nonzero[0] :] if len(nonzero) else y.iloc[:0]


def _naive_reason(y: pd.Series, config: ForecastConfig) -> str | None:
    """Why this history gets the seasonal-naive forecast, or None for Prophet."""
    active = _active(y)
    if active.empty:
        return "no spend in history"
    if len(active) < config.min_history_days:
        return f"{len(active)} days of history < {config.min_history_days}"
    zero_share = float((active.to_numpy() == 0).mean())
    if zero_share > config.max_zero_share:
        return f"{zero_share:.0%} of days have no spend (> {config.max_zero_share:.0%})"
    if config.recent_zero_days > 0 and not (active.iloc[-config.recent_zero_days :] > 0).any():
        return f"no spend in the last {config.recent_zero_days} days"
    return None


def _prophet(
    y: pd.Series, days: pd.DatetimeIndex, config: ForecastConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Median forecast and sample paths (cost) from Prophet fitted on log1p(cost)."""
    active = _active(y)
    train = pd.DataFrame({"ds": active.index, "y": np.log1p(active.to_numpy())})
    future = pd.DataFrame({"ds": days})
    shifts = level_shifts(active, config) if config.level_shift_ratio > 0 else []
    for i, day in enumerate(shifts):
        train[f"level_shift_{i}"] = (train["ds"] >= day).astype(np.float64)
        future[f"level_shift_{i}"] = 1.0
    models = []
    try:
        models.append(_fit(train, config))
        residuals = train["y"].to_numpy() - _predict(models[-1], train)
        outliers = _outliers(residuals, config)
        if outliers.any():
            # Prophet's advice for outliers: leave the days out (a spike would otherwise
            # inflate the noise and, near the end, pull the level) and fit again
            train = train[~outliers]
            models.append(_fit(train, config))
            residuals = train["y"].to_numpy() - _predict(models[-1], train)
        model = models[-1]
        point_log = _predict(model, future)
        np.random.seed(config.seed)  # Prophet draws its samples from the global generator
        samples_log = np.asarray(model.predictive_samples(future)["yhat"], np.float64)
        samples_log = samples_log + _trend_error(residuals, samples_log.shape, config)
    finally:
        for fitted in models:
            _cleanup(fitted)
    cap = float(np.log1p(active.max() * config.max_growth))
    point = np.expm1(np.clip(point_log, None, cap)).clip(min=0.0)
    paths = np.expm1(np.clip(samples_log, None, cap)).clip(min=0.0)
    if not (np.isfinite(point).all() and np.isfinite(paths).all()):
        raise FloatingPointError("non-finite forecast")
    return point, paths


def _fit(train: pd.DataFrame, config: ForecastConfig) -> Any:
    """A Prophet model fitted to `train` (log1p cost; level_shift_* columns are steps)."""
    from prophet import Prophet

    model = Prophet(
        growth="linear",
        yearly_seasonality=False,
        weekly_seasonality=True,
        daily_seasonality=False,
        changepoint_prior_scale=config.changepoint_prior_scale,
        changepoint_range=config.changepoint_range,
        seasonality_prior_scale=config.seasonality_prior_scale,
        uncertainty_samples=config.uncertainty_samples,
    )
    for name in train.columns:
        if name.startswith("level_shift_"):
            # a binary step (not standardised): its coefficient is the log of the level ratio
            model.add_regressor(name, standardize=False)
    return model.fit(train, iter=config.max_iter, seed=config.seed)


def _predict(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """Prophet's point forecast (log space) without drawing samples for intervals."""
    samples = model.uncertainty_samples
    model.uncertainty_samples = 0
    try:
        return model.predict(frame)["yhat"].to_numpy(np.float64)
    finally:
        model.uncertainty_samples = samples


def _outliers(residuals: np.ndarray, config: ForecastConfig) -> np.ndarray:
    """Days whose residual is more than `outlier_z` robust standard deviations out, if they
    are few (at most `max_outlier_share` of the days); otherwise none."""
    none = np.zeros(len(residuals), dtype=bool)
    if config.outlier_z <= 0 or len(residuals) == 0:
        return none
    centre = float(np.median(residuals))
    sigma = 1.4826 * float(np.median(np.abs(residuals - centre)))
    if sigma == 0:
        return none
    out = np.abs(residuals - centre) > config.outlier_z * sigma
    return out if out.sum() <= config.max_outlier_share * len(residuals) else none


def _trend_error(
    residuals: np.ndarray, shape: tuple[int, int], config: ForecastConfig
) -> np.ndarray:
    """Per-path draws of the error of today's level and slope, in log space, shape (h, paths).

    Prophet's MAP fit treats its trend as known: its paths vary only by daily noise and by
    future changepoints. That leaves the daily intervals a little narrow and the interval of
    a sum over many days (the month-end projection) far too narrow: over 28 days the level
    error dominates. Each path gets the error of a least-squares line through the last
    L = `trend_window_share`·n days instead: Var(level at its centre) = σ²/L and
    Var(slope) = 12σ²/(L(L²−1)), independent, with σ the residual standard deviation
    inflated for autocorrelated residuals (the variance of a mean of correlated values:
    × 1 + 2·Σ(1 − k/L)·ρ_k over a week of lags, at least 1).
    """
    horizon, n_paths = shape
    n = len(residuals)
    sigma = float(np.std(residuals)) if n > 2 else 0.0
    if config.trend_window_share <= 0 or sigma == 0:
        return np.zeros(shape)
    window = max(14, round(config.trend_window_share * n))
    centred = residuals - residuals.mean()
    denominator = float(centred @ centred)
    inflation = 1.0
    for lag in range(1, min(8, n - 1)):
        rho = float(centred[lag:] @ centred[:-lag]) / denominator
        inflation += 2.0 * (1.0 - lag / window) * rho
    variance = sigma**2 * max(1.0, inflation)
    rng = np.random.default_rng(config.seed + 1)
    level = rng.normal(0.0, np.sqrt(variance / window), n_paths)
    slope = rng.normal(0.0, np.sqrt(12.0 * variance / (window * (window**2 - 1))), n_paths)
    distance = (window - 1) / 2.0 + np.arange(1, horizon + 1)
    return level[None, :] + distance[:, None] * slope[None, :]


def _cleanup(model: Any) -> None:
    """Remove the fit's cmdstan files (CSV, console output) and its then empty directory;
    cmdstanpy would only remove them when the process exits."""
    backend = getattr(model, "stan_backend", None)
    if backend is None or not hasattr(backend, "cleanup"):
        return
    fit = getattr(backend, "stan_fit", None)
    backend.cleanup()
    output_dir = getattr(getattr(fit, "runset", None), "_output_dir", None)
    if output_dir:
        with contextlib.suppress(OSError):
            os.rmdir(output_dir)  # only if empty


def level_shifts(
    history: pd.Series, config: ForecastConfig = ForecastConfig(), window: int = 14
) -> list[pd.Timestamp]:
    """Days where a persistent step in the level starts (at most three, largest first).

    In log1p space, with the weekday pattern removed, the step at day t is the median of the
    `window` days from t (at least 7) minus the median of the `window` days before. It counts
    when it is at least log(`level_shift_ratio`) and at least `level_shift_z` standard errors,
    the noise being estimated robustly (MAD of day-to-day changes). Medians make a 1–2 day
    spike invisible; the noise test keeps very noisy small series from seeing steps everywhere.
    """
    y = history.astype(np.float64)
    n = len(y)
    if n < window + 7 or config.level_shift_ratio <= 1.0:
        return []
    z = np.log1p(y.clip(lower=0.0).to_numpy())
    weekday = pd.DatetimeIndex(y.index).day_of_week.to_numpy()
    weekly = pd.Series(z).rolling(7, center=True, min_periods=7).mean().to_numpy()
    residual = z - weekly
    effect = np.zeros(7)
    for k in range(7):
        values = residual[(weekday == k) & np.isfinite(residual)]
        effect[k] = np.median(values) if len(values) else 0.0
    zd = z - effect[weekday]
    diffs = np.diff(zd)
    sigma = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / np.sqrt(2.0)
    step = np.zeros(n)
    score = np.zeros(n)
    for t in range(window, n - 6):
        after = min(window, n - t)
        step[t] = np.median(zd[t : t + after]) - np.median(zd[t - window : t])
        se = 1.2533 * sigma * np.sqrt(1.0 / window + 1.0 / after)  # s.e. of a median difference
        score[t] = abs(step[t]) / se if se > 0 else (np.inf if step[t] else 0.0)
    size = np.where(
        (np.abs(step) >= np.log(config.level_shift_ratio)) & (score >= config.level_shift_z),
        np.abs(step),
        0.0,
    )
    out: list[pd.Timestamp] = []
    for _ in range(3):
        t = int(np.argmax(size))
        if size[t] <= 0:
            break
        out.append(pd.Timestamp(y.index[_refine(zd, t, window)]))
        size[max(0, t - window) : t + window] = 0.0
    return out


def _refine(zd: np.ndarray, t: int, window: int) -> int:
    """The split near `t` that best separates two levels (least absolute deviation)."""
    lo, hi = max(1, t - window // 2), min(len(zd) - 1, t + window // 2)
    best, best_cost = t, np.inf
    for s in range(lo, hi + 1):
        left, right = zd[max(0, s - window) : s], zd[s : s + window]
        cost = np.abs(left - np.median(left)).sum() + np.abs(right - np.median(right)).sum()
        if cost < best_cost:
            best, best_cost = s, cost
    return best


def _seasonal_naive(
    y: np.ndarray, horizon: int, config: ForecastConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seasonal-naive point, daily bounds and sample paths.

    Bounds: point + the empirical quantiles of the lag-7 errors × √k, k = weeks ahead (the
    seasonal random walk's h-step error). Paths simulate that random walk by resampling the
    errors, so sums over several days get their own interval.
    """
    point = seasonal_naive_point(y, horizon)
    n_samples = max(1, config.uncertainty_samples)
    nonzero = np.flatnonzero(y > 0)
    active = y[nonzero[0] :] if len(nonzero) else y[:0]  # leading zeros would look exact
    if len(active) >= 8:
        errors = active[7:] - active[:-7]
    elif len(active):
        errors = active - active.mean()
    else:
        errors = np.zeros(1)
    weeks = np.arange(horizon) // 7 + 1
    bounds = point[None, :] + np.quantile(errors, _LEVELS)[:, None] * np.sqrt(weeks)[None, :]
    rng = np.random.default_rng(config.seed)
    draws = rng.choice(errors, size=(horizon, n_samples), replace=True)
    paths = np.empty((horizon, n_samples))
    for h in range(horizon):
        base = paths[h - 7] if h >= 7 else point[h]
        paths[h] = base + draws[h]
    # each path keeps its own level (no clipping inside the walk); cost is clipped at the end
    return point.clip(min=0.0), bounds.clip(min=0.0), paths.clip(min=0.0)


def _daily_frame(
    days: pd.DatetimeIndex, point: np.ndarray, bounds: np.ndarray, method: str, note: str
) -> pd.DataFrame:
    """The daily frame with nested bounds: lower_95 ≤ lower_80 ≤ yhat ≤ upper_80 ≤ upper_95."""
    lo95, lo80, hi80, hi95 = (np.asarray(b, np.float64) for b in bounds)
    lo80 = np.minimum(lo80, point)
    lo95 = np.minimum(lo95, lo80)
    hi80 = np.maximum(hi80, point)
    hi95 = np.maximum(hi95, hi80)
    return pd.DataFrame(
        {
            "day": days,
            "yhat": point,
            "yhat_lower_80": lo80.clip(min=0.0),
            "yhat_upper_80": hi80,
            "yhat_lower_95": lo95.clip(min=0.0),
            "yhat_upper_95": hi95,
            "method": method,
            "method_note": note,
        }
    )


def month_end_row(
    history: pd.Series, daily: pd.DataFrame, paths: np.ndarray, as_of: date
) -> dict[str, Any]:
    """Actual month-to-date + forecast rest of `as_of`'s month, interval from summed paths.

    `daily`/`paths` must start at `as_of` and cover the month. The point is actual + the sum
    of the daily medians; the bounds are actual + quantiles of the per-path sums (widened to
    include the point if the sum's skew puts it outside, which only very noisy series do).
    """
    month = as_of.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    days_in_month = (next_month - month).days
    days_observed = as_of.day - 1
    observed = history[
        (history.index >= pd.Timestamp(month)) & (history.index < pd.Timestamp(as_of))
    ]
    actual = float(np.nan_to_num(observed.to_numpy(np.float64)).sum())
    rest = (next_month - as_of).days
    forecast_rest = float(daily["yhat"].iloc[:rest].sum())
    if rest > 0 and paths.shape[0] >= rest:
        lo95, lo80, hi80, hi95 = np.quantile(paths[:rest].sum(axis=0), _LEVELS)
    else:
        lo95 = lo80 = hi80 = hi95 = forecast_rest
    lo80 = min(lo80, forecast_rest)
    lo95 = min(lo95, lo80)
    hi80 = max(hi80, forecast_rest)
    hi95 = max(hi95, hi80)
    return {
        "month": month,
        "actual_mtd": actual,
        "forecast_rest": forecast_rest,
        "projected": actual + forecast_rest,
        "projected_lower_80": actual + float(lo80),
        "projected_upper_80": actual + float(hi80),
        "projected_lower_95": actual + float(lo95),
        "projected_upper_95": actual + float(hi95),
        "days_observed": days_observed,
        "days_in_month": days_in_month,
        "method": str(daily["method"].iloc[0]) if len(daily) else SEASONAL_NAIVE,
        "method_note": str(daily["method_note"].iloc[0]) if len(daily) else "",
    }


# --------------------------------------------------------------------------------------------
# all series


def forecast_series(
    frame: pd.DataFrame,
    as_of: date | None = None,
    config: ForecastConfig = ForecastConfig(),
    progress: Progress | None = None,
) -> ForecastResult:
    """Forecast every series of a series frame (analytics.series) from `as_of`.

    `as_of` is the first day forecast (default: the day after the frame's last day); data on
    or after it are ignored. The horizon runs to the later of its month end and
    `config.horizon_days` days.
    """
    if frame.empty:
        return ForecastResult(_empty(DAILY_COLUMNS), _empty(MONTH_END_COLUMNS))
    days = pd.to_datetime(frame["day"])
    if as_of is None:
        as_of = (days.max() + pd.Timedelta(days=1)).date()
    as_of = pd.Timestamp(as_of).date()
    month_end = (as_of.replace(day=1) + timedelta(days=32)).replace(day=1)
    horizon = max(config.horizon_days, (month_end - as_of).days)
    kept = frame[days < pd.Timestamp(as_of)].assign(day=days[days < pd.Timestamp(as_of)])
    first = kept["day"].min() if len(kept) else pd.Timestamp(as_of)
    tasks = [
        (sid, _history_to(history, first, as_of), as_of, horizon, config)
        for sid, history in iter_series(kept)
    ]
    # series present in the frame but without a day before as_of get no-history forecasts
    seen = {t[0] for t in tasks}
    for sid in sorted(set(frame["series_id"].astype(str)) - seen):
        empty = pd.Series(dtype=np.float64)
        tasks.append((sid, _history_to(empty, first, as_of), as_of, horizon, config))
    # heaviest first: Prophet's cost grows with the days of spend; naive series cost ~nothing
    weights = [float((t[1].to_numpy() > 0).sum()) for t in tasks]
    results = parallel_map(_forecast_task, tasks, config, progress, weights=weights)
    daily = pd.concat([r[0] for r in results], ignore_index=True)
    month = pd.DataFrame([r[1] for r in results], columns=list(MONTH_END_COLUMNS))
    daily = daily.sort_values(["series_id", "day"], ignore_index=True)
    month = month.sort_values("series_id", ignore_index=True)
    counts = month["method"].value_counts().to_dict()
    log.info("forecast %d series from %s, %d days: %s", len(month), as_of, horizon, counts)
    return ForecastResult(daily=daily[list(DAILY_COLUMNS)], month_end=month)


def _history_to(history: pd.Series, first: pd.Timestamp, as_of: date) -> pd.Series:
    """History reindexed to every day from the frame's first day to the day before `as_of`."""
    days = pd.date_range(first, pd.Timestamp(as_of), freq="D", inclusive="left")
    if history.empty:
        return pd.Series(0.0, index=days)
    return history.groupby(level=0).sum().reindex(days, fill_value=0.0).astype(np.float64)


def _forecast_task(
    task: tuple[str, pd.Series, date, int, ForecastConfig],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One series' daily frame and month-end row (runs in a worker)."""
    sid, history, as_of, horizon, config = task
    if history.empty:
        daily, paths = _empty_history_forecast(as_of, horizon, config)
    else:
        daily, paths = forecast_one(history, horizon, config)
    daily.insert(0, "series_id", sid)
    row = {"series_id": sid, **month_end_row(history, daily, paths, as_of)}
    return daily, row


def _empty_history_forecast(
    as_of: date, horizon: int, config: ForecastConfig
) -> tuple[pd.DataFrame, np.ndarray]:
    days = pd.date_range(pd.Timestamp(as_of), periods=horizon, freq="D")
    zeros = np.zeros(horizon)
    daily = _daily_frame(days, zeros, np.zeros((4, horizon)), SEASONAL_NAIVE, "no history")
    return daily, np.zeros((horizon, max(1, config.uncertainty_samples)))


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


# --------------------------------------------------------------------------------------------
# process pool


def parallel_map(
    func: Callable[[T], R],
    tasks: Sequence[T],
    config: ForecastConfig,
    progress: Progress | None = None,
    weights: Sequence[float] | None = None,
) -> list[R]:
    """`[func(t) for t in tasks]` in a process pool of `config.n_workers()` (in-process for 1).

    Starting workers must cost little next to fits of a fraction of a second each:

    * "fork" (the default on Linux when this process runs no other thread): Prophet is
      imported here, once, and the workers are forked ready to fit (milliseconds). They are
      forked for this call and stopped at its end, since each keeps a copy-on-write image of
      this process; the garbage collector is frozen around the fork so that they neither
      copy pages by collecting nor finalise this process' objects (say an open connection).
    * "forkserver" (when threads are live, or asked for): a fork server that imports
      pandas, cmdstanpy and Prophet takes ~1.7 s of CPU to start, as much as six to eight
      fits of a 120-day series, so that pool is started once per process and reused by
      later calls (`forecast_series`, then `backtest_all`); `shutdown_pool()` stops it.

    Tasks are handed out heaviest first by `weights` (e.g. days of history), so that a long
    fit does not start last while the other worker idles. Workers silence cmdstanpy/Prophet
    logging; `progress(done, total)` is called as tasks finish. Results keep the order of
    `tasks`, and are the same numbers as in-process.
    """
    total = len(tasks)
    results: list[Any] = [None] * total
    workers = config.n_workers()
    if min(workers, total) <= 1:
        with _quiet_stan():
            for i, task in enumerate(tasks):
                results[i] = func(task)
                if progress is not None:
                    progress(i + 1, total)
        return results
    pool = _running_pool(workers, config.mp_context)
    forked = None
    if pool is None:
        method = _start_method(config.mp_context)
        log.debug("starting %d %s workers for %d tasks", min(workers, total), method, total)
        if method == "fork":
            pool = forked = _forked_pool(min(workers, total))
        else:
            pool = _pool(workers, config.mp_context, method)
    try:
        futures = {pool.submit(func, tasks[i]): i for i in _heaviest_first(total, weights)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(done, total)
    except BaseException:
        # a worker died (BrokenProcessPool), or the caller was interrupted with tasks queued:
        # do not hand this pool to the next call
        if forked is None:
            shutdown_pool(wait=False)
        raise
    finally:
        if forked is not None:
            forked.shutdown(wait=True, cancel_futures=True)
    return results


def _start_method(name: str | None) -> str:
    """`name`, or the default: "fork" on Linux if no other thread is running here, else
    "forkserver" where available, else "spawn"."""
    if name is not None:
        return name
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _forked_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes forked from this one now, with Prophet imported."""
    with _quiet_stan():
        pass  # import Prophet here, once: the workers inherit it
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(True,),
    )
    # the objects of this process stay out of the workers' collections (unless the caller
    # froze some itself: then it manages freezing)
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        try:
            # the first task forks every worker (before the pool's own threads start)
            started = pool.submit(int)
        finally:
            if freeze:
                gc.unfreeze()
        started.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    return pool


def _heaviest_first(total: int, weights: Sequence[float] | None) -> list[int]:
    """Task indices by descending weight; equal weights (or none) keep their order."""
    if weights is None:
        return list(range(total))
    if len(weights) != total:
        raise ValueError(f"{len(weights)} weights for {total} tasks")
    return sorted(range(total), key=lambda i: -float(weights[i]))


_pool_lock = threading.Lock()
#: this process' pool: the executor, its (workers, mp_context) and the pid that started it
_pool_state: dict[str, Any] = {}


def _running_pool(workers: int, mp_context: str | None) -> ProcessPoolExecutor | None:
    """The pool a previous call left running for these settings, if any."""
    with _pool_lock:
        if _pool_state.get("pid") != os.getpid():
            _pool_state.clear()  # inherited through a fork: that pool belongs to the parent
        if _pool_state.get("key") == (workers, mp_context):
            pool: ProcessPoolExecutor | None = _pool_state.get("pool")
            return pool
        return None


def _pool(workers: int, mp_context: str | None, method: str) -> ProcessPoolExecutor:
    """This process' lasting worker pool of `workers` processes started by `method`,
    reused by later calls with the same settings; one with other settings replaces it."""
    key = (workers, mp_context)
    with _pool_lock:
        if _pool_state.get("pid") != os.getpid():
            _pool_state.clear()
        pool: ProcessPoolExecutor | None = _pool_state.get("pool")
        if pool is not None and _pool_state.get("key") == key:
            return pool
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        pool = ProcessPoolExecutor(workers, mp_context=_context(method), initializer=_init_worker)
        _pool_state.update(pool=pool, key=key, pid=os.getpid())
        return pool


def shutdown_pool(wait: bool = True) -> None:
    """Stop this process' worker pool, if one is running (the next `parallel_map` starts a new
    one). At interpreter exit concurrent.futures stops it anyway."""
    with _pool_lock:
        pool: ProcessPoolExecutor | None = _pool_state.get("pool")
        _pool_state.clear()
    if pool is not None:
        pool.shutdown(wait=wait, cancel_futures=True)


def _context(name: str) -> multiprocessing.context.BaseContext:
    """The lasting pool's context. The fork server imports pandas/NumPy/cmdstanpy/Prophet
    once, and each worker is forked from it ready to fit; a spawned worker would import them
    itself (seconds each)."""
    context = multiprocessing.get_context(name)
    if name == "forkserver":
        # only effective before the process' fork server starts; harmless afterwards (the
        # workers then import Prophet in _init_worker). Importing analytics.forecast first
        # installs the filter that keeps Prophet's import-time plotly notice quiet.
        context.set_forkserver_preload(["analytics.forecast", "cmdstanpy", "prophet"])
    return context


_STAN_LOGGERS = ("cmdstanpy", "prophet", "prophet.plot", "prophet.models")


class _NoPlotlyNotice(logging.Filter):
    """Drops the error Prophet logs when it is imported without plotly (we never plot with
    Prophet): the fork server imports Prophet before any worker can silence its loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Importing plotly failed")


_plot_logger = logging.getLogger("prophet.plot")
if not any(type(f).__name__ == _NoPlotlyNotice.__name__ for f in _plot_logger.filters):
    _plot_logger.addFilter(_NoPlotlyNotice())


def _init_worker(forked: bool = False) -> None:
    """Import Prophet once per worker and silence it (cmdstanpy sets its logger up on import,
    so this must come after the import). A forked worker also drops the log handlers it
    inherited (they may hold the caller's files or connections): like a fork server's worker,
    it reports warnings on stderr."""
    if forked:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
    logging.getLogger("prophet.plot").disabled = True  # "plotly failed" on import
    import cmdstanpy
    import prophet  # noqa: F401

    cmdstanpy.disable_logging()
    for name in _STAN_LOGGERS:
        logging.getLogger(name).disabled = True


@contextlib.contextmanager
def _quiet_stan() -> Iterator[None]:
    """Silence cmdstanpy/Prophet in this process for a while, then restore their loggers."""
    loggers = [logging.getLogger(name) for name in _STAN_LOGGERS]
    before = [lg.disabled for lg in loggers]
    try:
        logging.getLogger("prophet.plot").disabled = True
        import cmdstanpy  # noqa: F401
        import prophet  # noqa: F401

        for lg in loggers:
            lg.disabled = True
        yield
    finally:
        for lg, was in zip(loggers, before, strict=True):
            lg.disabled = was
