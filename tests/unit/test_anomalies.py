"""Anomaly detection on series with planted steps, spikes and drops (known answers)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest

from analytics.anomalies import (
    SCORED_COLUMNS,
    AnomalyConfig,
    alerts,
    anomalies,
    find_anomalies,
    key_series,
    score_series,
    severity,
)

START = pd.Timestamp("2026-01-05")  # a Monday
N_DAYS = 140


def spend(level: float = 1000.0, sigma: float = 0.05, seed: int = 0, n: int = N_DAYS) -> np.ndarray:
    """Weekday/weekend seasonality, 40 %/180 days growth and lognormal noise, like the org."""
    days = pd.date_range(START, periods=n, freq="D")
    rng = np.random.default_rng(seed)
    season = np.where(days.day_of_week >= 5, 0.45, 1.0)
    growth = 1 + 0.4 / 180 * np.arange(n)
    return level * season * growth * np.exp(rng.normal(0.0, sigma, n))


def frame(**costs: np.ndarray) -> pd.DataFrame:
    """A series-contract frame with one series per keyword (the id)."""
    parts = []
    for sid, cost in costs.items():
        days = pd.date_range(START, periods=len(cost), freq="D")
        parts.append(
            pd.DataFrame(
                {"series_id": sid, "scope": "team", "scope_value": sid, "day": days, "cost": cost}
            )
        )
    return pd.concat(parts, ignore_index=True)


def alert_days(scored: pd.DataFrame, sid: str) -> list[int]:
    rows = alerts(scored)
    return sorted((rows.loc[rows["series_id"] == sid, "day"] - START).dt.days.tolist())


def test_a_step_alerts_on_its_first_day_only():
    cost = spend(seed=1)
    cost[100:] *= 2.0  # day 100 is a Monday; the new level persists to the end
    scored = score_series(frame(step=cost))
    assert alert_days(scored, "step") == [100]
    flagged = anomalies(scored)
    first = flagged[flagged["is_first_day"]].iloc[0]
    assert first["direction"] == "spike"
    assert first["impact_usd"] == pytest.approx(first["actual"] - first["expected"])
    assert 0.7 < first["impact_pct"] < 1.3
    # the rest of the episode continues it (one episode id), and then it is the new normal
    assert flagged["episode_id"].nunique() == 1
    assert not flagged["is_first_day"].iloc[1:].any()
    assert flagged["level_shift"].any()
    late = scored[scored["day"] >= START + pd.Timedelta(days=120)]
    assert not late["is_anomaly"].any()
    assert late["impact_pct"].abs().max() < 0.3


def test_a_spike_and_a_drop_to_zero_are_both_flagged():
    cost = spend(seed=2)
    cost[80] *= 4.0  # one-day spike (a Thursday)
    cost[110:] = 0.0  # keys revoked: nothing from day 110 on
    scored = score_series(frame(s=cost))
    assert alert_days(scored, "s") == [80, 110]
    first = alerts(scored).set_index((alerts(scored)["day"] - START).dt.days)
    assert first.loc[80, "direction"] == "spike"
    assert first.loc[110, "direction"] == "drop"
    assert first.loc[110, "impact_pct"] == pytest.approx(-1.0)
    assert first.loc[110, "severity"] in ("high", "critical")
    # the outage is one episode; once accepted the baseline is zero and impact_pct is NaN
    last = scored.iloc[-1]
    assert last["expected"] == 0.0 and np.isnan(last["impact_pct"]) and not last["is_anomaly"]


def test_noise_and_changes_under_the_floor_flag_nothing():
    small = spend(level=3.0, sigma=0.15, seed=3)
    small[92] *= 2.0  # +100 % but about $4: under the $5 floor
    big = spend(level=1000.0, sigma=0.05, seed=4)
    big[95] *= 1.15  # +$150 but 15 %: under the 30 % floor
    scored = score_series(frame(small=small, big=big))
    assert not scored["is_anomaly"].any()
    # the same small spike is flagged once the floor allows it
    loose = AnomalyConfig(min_impact_usd=1.0)
    assert alert_days(score_series(frame(small=small), loose), "small") == [92]


def test_scores_are_causal_and_start_after_the_minimum_history():
    cost = np.concatenate([np.zeros(10), spend(seed=5, n=N_DAYS - 10)])
    full = score_series(frame(s=cost))
    changed = cost.copy()
    changed[100:] *= 5.0
    early = score_series(frame(s=changed))
    before = full["day"] < START + pd.Timedelta(days=100)
    pd.testing.assert_frame_equal(
        full[before].reset_index(drop=True),
        early[early["day"] < START + pd.Timedelta(days=100)].reset_index(drop=True),
    )
    assert (full["day"].min() - START).days == 10 + AnomalyConfig().min_history_days


def test_output_contract():
    scored = score_series(frame(a=spend(seed=6), b=spend(level=50.0, seed=7)))
    assert list(scored.columns) == list(SCORED_COLUMNS)
    assert scored.groupby("series_id").size().tolist() == [N_DAYS - 28, N_DAYS - 28]
    assert (scored["lower"] <= scored["expected"]).all()
    assert (scored["expected"] <= scored["upper"]).all()
    assert find_anomalies(scored).equals(anomalies(scored))
    empty = score_series(frame(a=spend(n=20)))
    assert empty.empty and list(empty.columns) == list(SCORED_COLUMNS)


def test_config_is_frozen_and_checked():
    cfg = AnomalyConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.z_alert = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        AnomalyConfig(z_continue=6.0)
    with pytest.raises(ValueError):
        AnomalyConfig(min_history_days=7)


def test_severity_tiers_by_dollars_capped_when_weak():
    impact = pd.Series([10.0, 100.0, 500.0, 5000.0, -5000.0])
    strong = pd.Series([20.0] * 5)
    assert severity(impact, strong).tolist() == ["low", "medium", "high", "critical", "critical"]
    assert severity(impact, strong / 3).tolist()[-1] == "medium"


def test_key_series_leave_unknown_keys_out():
    days = pd.date_range(START, periods=3, freq="D")
    lines = pd.DataFrame(
        {
            "day": np.repeat(days, 2),
            "provider": ["openai", "anthropic"] * 3,
            "api_key_id": ["key_a", "~"] * 3,
            "cost": [1.0, 2.0] * 3,
        }
    )
    out = key_series(lines, days[0], days[-1] + pd.Timedelta(days=2))
    assert out["series_id"].unique().tolist() == ["api_key:openai/key_a"]
    assert out["cost"].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_hundreds_of_series_score_in_seconds():
    n = 300
    costs = {f"s{i:03d}": spend(level=10.0 + i, seed=i, n=180) for i in range(n)}
    series = frame(**costs)
    t0 = time.perf_counter()
    scored = score_series(series)
    assert time.perf_counter() - t0 < 10.0
    assert scored["series_id"].nunique() == n
    # pure noise: (almost) nothing alerts
    assert len(alerts(scored)) <= 3
