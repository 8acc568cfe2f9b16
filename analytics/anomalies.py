"""Daily spend anomalies: expected vs actual per series and day, in dollars, as alert episodes.

Baseline (causal: day t only reads days before t), on the log scale x = ln(max(cost, 0) + c),
c = `log_offset_usd`, so a drop to zero (revoked key, outage) stays finite:

* weekday profile: median of each weekday over the last `season_weeks` (8) weeks, centred;
* level: median of the last `level_days` (21) de-seasonalised days, which a 1–2 day spike
  barely moves, plus a damped trend (difference of the medians of the last two 21-day blocks
  × `trend_damping`), so steady growth (40 % a half-year here) does not read as a spike;
* expected = e^(level + trend + weekday of t) − c.

Scale: the series' own past one-step-ahead errors (the last `scale_days` (56) non-anomalous
days), 1.4826 × median |error|, floored at `min_scale` (5 %). Measured out of sample it
includes the baseline's own estimation error, so the score is a calibrated robust z (in-sample
residuals understated it by ~1.5×). The score is taken in two views, log ratio and relative
(actual / expected − 1), each over its own error scale, and is the smaller of the two: the
log view alone over-reacts to ordinary 90 % dips of series whose usage is drawn uniformly
(cloud exports), the relative view alone to ordinary doublings of tiny series.

Flag (noise floor, `AnomalyConfig`): a day *starts* an episode when |score| ≥ `z_alert` (5)
AND |actual − expected| ≥ `min_impact_usd` ($5) AND |impact| / expected ≥ `min_impact_pct`
(30 %). Following days that deviate the same way by |score| ≥ `z_continue` (2) continue it
(hysteresis), with up to `max_gap_days` (2) quiet days inside; only the first day is an alert
(`is_first_day`). Episode days are kept out of the baseline (their expected value stands in),
so it does not absorb the anomaly; once an episode has `shift_after_days` (7) days it is a
level shift: the earlier history is rebased by the episode's median log deviation and the
episode days enter it as they are, so the baseline is at the new level at once and no second
alert fires while it would otherwise catch up. A series is scored from `min_history_days` (28)
after its first spend.

Defaults were tuned on seed 42 (pipeline lines) and simulator seeds 7–14; seeds 1–6 were
only evaluated (scripts/detection_quality.py). All series are scored in one pass over the days
with (series × days) arrays: 60 series × 180 days take ~0.3 s.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from analytics.series import empty_series

log = logging.getLogger(__name__)

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

SCORED_COLUMNS: tuple[str, ...] = (
    "series_id",
    "scope",
    "scope_value",
    "day",
    "actual",
    "expected",
    "lower",
    "upper",
    "impact_usd",
    "impact_pct",
    "score",
    "direction",
    "is_anomaly",
    "is_first_day",
    "is_alert",
    "episode_id",
    "episode_start",
    "level_shift",
    "severity",
)

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class AnomalyConfig:
    """Baseline windows, thresholds and noise floor; defaults tuned on seed 42 and 7–14."""

    min_history_days: int = 28
    min_fit_days: int = 14
    season_weeks: int = 8
    level_days: int = 21
    scale_days: int = 56
    trend_damping: float = 0.5
    min_scale: float = 0.05
    log_offset_usd: float = 1.0
    z_alert: float = 5.0
    z_continue: float = 2.0
    min_impact_usd: float = 5.0
    min_impact_pct: float = 0.3
    max_gap_days: int = 2
    shift_after_days: int = 7
    #: |impact_usd| tiers for medium, high, critical
    severity_usd: tuple[float, float, float] = (50.0, 250.0, 1000.0)

    def __post_init__(self) -> None:
        if self.min_history_days < 14:
            raise ValueError("min_history_days must be at least 14 (two of each weekday)")
        if self.z_continue > self.z_alert:
            raise ValueError("z_continue must not exceed z_alert")
        if self.shift_after_days < 2:
            raise ValueError("shift_after_days must be at least 2")


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def _nanmean(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=1)


def score_series(series: pd.DataFrame, config: AnomalyConfig | None = None) -> pd.DataFrame:
    """Every series × evaluated day with expected, band, impact, score and episode columns.

    `series` is the contract's series frame (dense per series). Days before a series has
    `min_history_days` of history since its first spend are not returned.
    """
    cfg = config or AnomalyConfig()
    if series.empty:
        return _empty_scored()
    meta = (
        series[["series_id", "scope", "scope_value"]]
        .drop_duplicates("series_id")
        .sort_values("series_id")
        .reset_index(drop=True)
    )
    wide = series.pivot_table(index="series_id", columns="day", values="cost", aggfunc="sum")
    wide = wide.reindex(index=meta["series_id"])
    days = pd.DatetimeIndex(wide.columns)
    full = pd.date_range(days.min(), days.max(), freq="D")
    wide = wide.reindex(columns=full).fillna(0.0)
    actual = wide.to_numpy(dtype=np.float64)
    out = _score_arrays(actual, full, cfg)

    n_series, n_days = actual.shape
    frame = pd.DataFrame(
        {
            "series_id": np.repeat(meta["series_id"].to_numpy(), n_days),
            "scope": np.repeat(meta["scope"].to_numpy(), n_days),
            "scope_value": np.repeat(meta["scope_value"].to_numpy(), n_days),
            "day": np.tile(full.to_numpy(), n_series),
            **{name: values.reshape(-1) for name, values in out.items()},
        }
    )
    frame = frame[frame.pop("evaluated")].reset_index(drop=True)
    return _finish(frame, cfg)


def _score_arrays(
    actual: np.ndarray, days: pd.DatetimeIndex, cfg: AnomalyConfig
) -> dict[str, np.ndarray]:
    """The sequential pass: baseline, score and episode state for all series at once."""
    n_series, n_days = actual.shape
    c = cfg.log_offset_usd
    x = np.log(np.maximum(actual, 0.0) + c)
    season = 7 * cfg.season_weeks
    pad = max(season, 2 * cfg.level_days, cfg.scale_days)
    # history the baseline reads: actual log values, or the expected value on episode days
    hist = np.full((n_series, pad + n_days), np.nan)
    r_log = np.full((n_series, pad + n_days), np.nan)  # past one-step-ahead errors
    r_rel = np.full((n_series, pad + n_days), np.nan)
    spent = actual > 0
    first = np.where(spent.any(axis=1), spent.argmax(axis=1), n_days)

    res = {
        "evaluated": np.zeros((n_series, n_days), dtype=bool),
        "expected_log": np.full((n_series, n_days), np.nan),
        "scale": np.full((n_series, n_days), np.nan),
        "score": np.full((n_series, n_days), np.nan),
        "is_anomaly": np.zeros((n_series, n_days), dtype=bool),
        "is_first_day": np.zeros((n_series, n_days), dtype=bool),
        "episode_start_idx": np.full((n_series, n_days), -1, dtype=np.int64),
        "level_shift": np.zeros((n_series, n_days), dtype=bool),
    }
    ep_start = np.full(n_series, -1, dtype=np.int64)  # day index, -1 = no open episode
    ep_dir = np.zeros(n_series)
    ep_len = np.zeros(n_series, dtype=np.int64)
    ep_shifted = np.zeros(n_series, dtype=bool)
    ep_quiet = np.zeros(n_series, dtype=np.int64)
    rows = np.arange(n_series)
    k_of = np.arange(season) % 7  # weekday slot of each window column; 0 = day t's weekday
    lvl = cfg.level_days

    for t in range(n_days):
        h = t + pad  # column of day t in hist
        window = hist[:, h - season : h]
        prof = _nanmedian(window.reshape(n_series, cfg.season_weeks, 7), axis=1)
        centre = _nanmean(prof)
        prof = np.where(np.isnan(prof), 0.0, prof - centre[:, None])
        deseason = window - prof[:, k_of]
        recent = _nanmedian(deseason[:, -lvl:], axis=1)
        before = _nanmedian(deseason[:, -2 * lvl : -lvl], axis=1)
        slope = np.where(np.isnan(before), 0.0, (recent - before) / lvl)
        expected_log = recent + prof[:, 0] + cfg.trend_damping * slope * (lvl + 1) / 2
        predicted = (t - first >= cfg.min_fit_days) & ~np.isnan(expected_log)
        # scales: typical size of this series' own past one-step-ahead errors
        past_log = r_log[:, h - cfg.scale_days : h]
        past_rel = r_rel[:, h - cfg.scale_days : h]
        enough = np.sum(~np.isnan(past_log), axis=1) >= cfg.scale_days // 4
        scale_log = np.fmax(_MAD_TO_SIGMA * _nanmedian(np.abs(past_log), axis=1), cfg.min_scale)
        scale_rel = np.fmax(_MAD_TO_SIGMA * _nanmedian(np.abs(past_rel), axis=1), cfg.min_scale)

        exp_usd = np.maximum(np.exp(expected_log) - c, 0.0)
        dev_log = x[:, t] - expected_log
        with np.errstate(divide="ignore", invalid="ignore"):
            dev_rel = (actual[:, t] + c) / (exp_usd + c) - 1.0
        z_log = dev_log / scale_log
        z_rel = dev_rel / scale_rel
        # both views must agree; the smaller one is the score
        z = np.sign(z_log) * np.fmin(np.abs(z_log), np.where(z_log * z_rel > 0, np.abs(z_rel), 0))
        ok = predicted & enough & (t - first >= cfg.min_history_days)
        impact = actual[:, t] - exp_usd
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(exp_usd > 0, np.abs(impact) / exp_usd, np.inf)
        strict = (
            ok
            & (np.abs(z) >= cfg.z_alert)
            & (np.abs(impact) >= cfg.min_impact_usd)
            & (pct >= cfg.min_impact_pct)
        )
        open_ = ep_start >= 0
        cont = ok & open_ & (np.sign(z) == ep_dir) & (np.abs(z) >= cfg.z_continue)
        new = strict & ~cont
        anomalous = cont | new
        # an open episode survives up to `max_gap_days` quiet days (a noisy day mid-shift)
        ep_quiet = np.where(anomalous, 0, ep_quiet + 1)
        still_open = open_ & ~anomalous & (ep_quiet <= cfg.max_gap_days)
        ep_start = np.where(cont | still_open, ep_start, np.where(new, t, -1))
        ep_dir = np.where(new, np.sign(z), ep_dir)
        ep_len = np.where(cont, ep_len + 1, np.where(new, 1, np.where(still_open, ep_len, 0)))
        ep_shifted = np.where(cont | still_open, ep_shifted, False)

        hist[:, h] = x[:, t]
        keep_out = anomalous & ~ep_shifted
        hist[keep_out, h] = expected_log[keep_out]
        clean = predicted & ~anomalous
        r_log[:, h] = np.where(clean, dev_log, np.nan)
        r_rel[:, h] = np.where(clean, dev_rel, np.nan)
        # a long enough episode is a level shift: rebase the past to the new level
        accept = keep_out & (ep_len >= cfg.shift_after_days)
        for s in rows[accept]:
            e0 = int(ep_start[s])
            dev = x[s, e0 : t + 1] - np.append(res["expected_log"][s, e0:t], expected_log[s])
            hist[s, : e0 + pad] += float(np.median(dev))
            hist[s, e0 + pad : h + 1] = x[s, e0 : t + 1]
            log.debug("series %d: level shift accepted on day %d", s, t)
        ep_shifted = ep_shifted | accept

        res["evaluated"][:, t] = ok
        res["expected_log"][:, t] = expected_log
        res["scale"][:, t] = scale_log
        res["score"][:, t] = z
        res["is_anomaly"][:, t] = anomalous
        res["is_first_day"][:, t] = new
        res["episode_start_idx"][:, t] = np.where(anomalous, ep_start, -1)
        res["level_shift"][:, t] = anomalous & ep_shifted

    expected = np.maximum(np.exp(res["expected_log"]) - c, 0.0)
    expected = np.where(expected < 0.005, 0.0, expected)  # under half a cent is nothing
    band = cfg.z_alert * res["scale"]
    return {
        "evaluated": res["evaluated"],
        "actual": actual,
        "expected": expected,
        "lower": np.maximum(np.exp(res["expected_log"] - band) - c, 0.0),
        "upper": np.exp(res["expected_log"] + band) - c,
        "score": res["score"],
        "is_anomaly": res["is_anomaly"],
        "is_first_day": res["is_first_day"],
        "episode_start": np.where(
            res["episode_start_idx"] >= 0,
            days.to_numpy()[np.clip(res["episode_start_idx"], 0, None)],
            np.datetime64("NaT"),
        ),
        "level_shift": res["level_shift"],
    }


def _finish(frame: pd.DataFrame, cfg: AnomalyConfig) -> pd.DataFrame:
    """Derived columns: impact, direction, episode id, severity; contract dtypes."""
    frame["impact_usd"] = frame["actual"] - frame["expected"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["impact_pct"] = np.where(
            frame["expected"] > 0, frame["impact_usd"] / frame["expected"], np.nan
        )
    frame["direction"] = pd.Series(
        np.where(frame["impact_usd"] >= 0, "spike", "drop"), index=frame.index, dtype="string"
    )
    frame["is_alert"] = frame["is_anomaly"] & frame["is_first_day"]
    frame["episode_start"] = pd.to_datetime(frame["episode_start"])
    frame["episode_id"] = pd.Series(
        np.where(
            frame["is_anomaly"],
            frame["series_id"].astype(str) + "@" + frame["episode_start"].dt.strftime("%Y-%m-%d"),
            None,
        ),
        index=frame.index,
        dtype="string",
    )
    frame["severity"] = severity(frame["impact_usd"], frame["score"], cfg).where(
        frame["is_anomaly"]
    )
    for column in ("series_id", "scope", "scope_value"):
        frame[column] = frame[column].astype("string")
    frame["day"] = pd.to_datetime(frame["day"])
    return frame[list(SCORED_COLUMNS)]


def severity(
    impact_usd: pd.Series, score: pd.Series, config: AnomalyConfig | None = None
) -> pd.Series:
    """Tier by |dollar impact|; capped at `medium` when the score is under 2 × `z_alert`.

    Dollars decide what is worth someone's time; a barely significant deviation on a large
    series is kept from paging as high/critical.
    """
    cfg = config or AnomalyConfig()
    tier = np.searchsorted(np.asarray(cfg.severity_usd), np.abs(impact_usd.to_numpy()), "right")
    weak = np.abs(score.to_numpy()) < 2 * cfg.z_alert
    tier = np.where(weak, np.minimum(tier, 1), tier)
    return pd.Series(np.asarray(SEVERITIES, dtype=object)[tier], index=impact_usd.index).astype(
        "string"
    )


def anomalies(scored: pd.DataFrame) -> pd.DataFrame:
    """The anomalous rows of `score_series` output (alerts are those with `is_first_day`)."""
    flagged = scored[scored["is_anomaly"].astype(bool)]
    return flagged.sort_values(["day", "series_id"]).reset_index(drop=True)


def find_anomalies(scored: pd.DataFrame) -> pd.DataFrame:
    """Same as `anomalies` (the name the Dagster asset imports)."""
    return anomalies(scored)


def alerts(scored: pd.DataFrame) -> pd.DataFrame:
    """One row per episode: its first day, the alert to send."""
    flagged = anomalies(scored)
    return flagged[flagged["is_first_day"].astype(bool)].reset_index(drop=True)


def key_series(lines: pd.DataFrame, start: date | str, end: date | str) -> pd.DataFrame:
    """Dense daily series per API key (`api_key:<provider>/<api_key_id>`), unknown keys left out.

    A key's spike is often a few percent of its project (a retry storm on a $5/day key), so
    key-level series are what catches it; `analytics.series` has no key scope, hence this.
    """
    known = lines[lines["api_key_id"].astype("string") != "~"]
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D", inclusive="left")
    if known.empty:
        return empty_series()
    value = known["provider"].astype("string") + "/" + known["api_key_id"].astype("string")
    sums = known.groupby([value.rename("scope_value"), known["day"]])["cost"].sum()
    wide = sums.unstack("day").reindex(columns=days).fillna(0.0)
    out = wide.stack().rename("cost").reset_index()
    out.columns = ["scope_value", "day", "cost"]
    out.insert(0, "scope", "api_key")
    out.insert(0, "series_id", "api_key:" + out["scope_value"].astype(str))
    for column in ("series_id", "scope", "scope_value"):
        out[column] = out[column].astype("string")
    out["day"] = pd.to_datetime(out["day"])
    out["cost"] = out["cost"].astype("float64")
    return out.sort_values(["series_id", "day"]).reset_index(drop=True)


def _empty_scored() -> pd.DataFrame:
    base = {c: pd.Series(dtype="float64") for c in SCORED_COLUMNS}
    for column in ("series_id", "scope", "scope_value", "direction", "episode_id", "severity"):
        base[column] = pd.Series(dtype="string")
    for column in ("is_anomaly", "is_first_day", "is_alert", "level_shift"):
        base[column] = pd.Series(dtype="bool")
    base["day"] = pd.Series(dtype="datetime64[ns]")
    base["episode_start"] = pd.Series(dtype="datetime64[ns]")
    return pd.DataFrame(base)[list(SCORED_COLUMNS)]
