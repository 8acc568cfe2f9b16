"""Driver decomposition: known splits into volume, intensity and price/mix that add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.anomalies import alerts, score_series
from analytics.drivers import (
    COMPONENTS,
    DRIVER_COLUMNS,
    decompose,
    explain,
    explain_anomalies,
    series_mask,
)
from analytics.series import build_series

DAY = pd.Timestamp("2026-03-30")  # a Monday
REFERENCE = [DAY - pd.Timedelta(weeks=w) for w in range(1, 5)]
HAIKU, OPUS = "claude-haiku-4-5", "claude-opus-4-1"


def line(
    day: pd.Timestamp,
    key: str,
    model: str,
    requests: float,
    tokens: float,
    cost: float,
    provider: str = "openai",
    customer: str = "cus_1",
    output_share: float = 0.2,
) -> dict:
    return {
        "day": day,
        "provider": provider,
        "project_id": "proj_a",
        "api_key_id": key,
        "model": model,
        "team": "search",
        "feature": "chat",
        "customer": customer,
        "cost": cost,
        "list_cost": cost,
        "requests": requests,
        "input_tokens": tokens * (1 - output_share),
        "cached_input_tokens": 0.0,
        "output_tokens": tokens * output_share,
    }


def base_lines(day: pd.Timestamp) -> list[dict]:
    return [
        line(day, "key_a", "gpt-4o", 1000, 2_000_000, 20.0),
        line(day, "key_b", "gpt-4o-mini", 4000, 4_000_000, 2.0),
        line(day, "key_c", "gpt-4.1", 500, 1_000_000, 5.0, customer="cus_2"),
    ]


def scored_for(sid: str, expected: float, anomalous: tuple[pd.Timestamp, ...] = ()) -> pd.DataFrame:
    """The `score_series` columns `explain` reads: expected on DAY, anomalies on references."""
    days = [*REFERENCE, DAY]
    return pd.DataFrame(
        {
            "series_id": sid,
            "day": days,
            "expected": [np.nan] * 4 + [expected],
            "is_anomaly": [d in anomalous for d in days],
            "is_first_day": [False] * 4 + [True],
        }
    )


def scaled(row: dict, k: float, *measures: str) -> dict:
    return {**row, **{m: row[m] * k for m in measures}}


def unmetered(day: pd.Timestamp, cost: float) -> dict:
    """A line with cost but no usage (seats, storage, a credit)."""
    row = line(day, "~", "~", np.nan, np.nan, cost)
    return {**row, "input_tokens": np.nan, "output_tokens": np.nan}


def components(out: pd.DataFrame) -> pd.Series:
    comp = out[out["driver_kind"] == "component"]
    return comp.set_index("value")["impact_usd"]


def run(today: list[dict], expected: float | None = None) -> pd.DataFrame:
    ref = [r for d in REFERENCE for r in base_lines(d)]
    lines = pd.DataFrame(ref + today)
    total = sum(r["cost"] for r in base_lines(DAY))
    return explain(lines, scored_for("org", expected or total), "org", DAY)


def test_pure_volume_change_is_volume():
    today = [
        scaled(r, 3, "cost", "requests", "input_tokens", "output_tokens") for r in base_lines(DAY)
    ]
    comp = components(run(today))
    change = comp.sum()
    assert change == pytest.approx(54.0)
    assert comp["volume"] / change >= 0.95


def test_pure_intensity_change_is_intensity():
    # tokens per request x3 at the same price per token: cost x3, requests unchanged
    today = [scaled(r, 3, "cost", "input_tokens", "output_tokens") for r in base_lines(DAY)]
    comp = components(run(today))
    assert comp["intensity"] / comp.sum() >= 0.95


def test_model_switch_is_price_mix():
    lines = pd.DataFrame(
        [line(d, "key_a", HAIKU, 1000, 2e6, 4.0, provider="anthropic") for d in REFERENCE]
        + [line(DAY, "key_a", OPUS, 1000, 2e6, 60.0, provider="anthropic")]
    )
    out = explain(lines, scored_for("org", 4.0), "org", DAY)
    comp = components(out)
    assert comp.sum() == pytest.approx(56.0)
    assert comp["price_mix"] / comp.sum() >= 0.95
    # the model ranking says who moved: opus up, haiku down
    models = out[out["name"] == "model"].set_index("value")["impact_usd"]
    assert models[OPUS] == pytest.approx(60.0) and models[HAIKU] == pytest.approx(-4.0)


def test_prompt_growth_without_request_counts_is_intensity():
    # Anthropic's cost lines carry no requests: output tokens stand in for them
    def anth(day: pd.Timestamp, input_tokens: float, cost: float) -> dict:
        row = line(day, "key_a", HAIKU, np.nan, 0.0, cost, provider="anthropic")
        return {**row, "input_tokens": input_tokens, "output_tokens": 1e5}

    lines = pd.DataFrame([anth(d, 1e6, 1.5) for d in REFERENCE] + [anth(DAY, 3e6, 3.5)])
    comp = components(explain(lines, scored_for("org", 1.5), "org", DAY))
    assert comp.sum() == pytest.approx(2.0)
    assert comp["intensity"] > 0.5 * comp.sum()
    assert abs(comp["volume"]) < 1e-9


def test_components_add_up_exactly_with_new_vanished_and_unmetered_lines():
    ref = [r for d in REFERENCE for r in base_lines(d)]
    ref += [unmetered(d, 3.0) for d in REFERENCE]
    today = [
        line(DAY, "key_a", "gpt-4o", 1500, 2_400_000, 26.0),  # volume, intensity, price
        line(DAY, "key_a", "o3", 100, 500_000, 9.0),  # a new model of a key: price/mix
        line(DAY, "key_d", "gpt-4o", 300, 600_000, 6.0),  # a new key
        # key_b vanished, key_c changed customer (a unit is the key, not the customer)
        line(DAY, "key_c", "gpt-4.1", 600, 1_300_000, 6.5, customer="cus_9"),
        unmetered(DAY, -1.0),  # a credit where the seats were
    ]
    lines = pd.DataFrame(ref + today)
    expected = 33.0  # the reference average is 30: scaled up by 10 %
    out = explain(lines, scored_for("org", expected), "org", DAY)
    comp = components(out)
    actual = sum(r["cost"] for r in today)
    assert set(comp.index) == set(COMPONENTS)
    assert comp.sum() == pytest.approx(actual - expected, abs=1e-9)
    assert comp["new/vanished"] == pytest.approx(6.0 - 2.0 * 1.1)
    assert comp["unmetered"] == pytest.approx(-1.0 - 3.0 * 1.1)
    assert list(out.columns) == list(DRIVER_COLUMNS)
    shares = out.loc[out["driver_kind"] == "component", "share_of_change"]
    assert shares.sum() == pytest.approx(1.0)
    keys = out[out["name"] == "api_key_id"].sort_values("rank")
    assert keys["value"].iloc[0] == "key_a"  # +13 = 26 + 9 - 20 * 1.1, the largest move
    assert keys["impact_usd"].iloc[0] == pytest.approx(35.0 - 22.0)


def test_anomalous_reference_days_are_left_out():
    ref = [r for d in REFERENCE for r in base_lines(d)]
    spiked = [{**r, "cost": r["cost"] * 10} for r in base_lines(REFERENCE[0])]
    lines = pd.DataFrame([r for r in ref if r["day"] != REFERENCE[0]] + spiked + base_lines(DAY))
    scored = scored_for("org", 27.0, anomalous=(REFERENCE[0],))
    out = explain(lines, scored, "org", DAY)
    keys = out[out["name"] == "api_key_id"].set_index("value")
    assert keys.loc["key_a", "baseline_usd"] == pytest.approx(20.0)  # not pulled up by the spike


def test_decompose_directly_and_series_masks():
    base = pd.DataFrame(base_lines(REFERENCE[0]))
    measures = ["cost", "requests", "input_tokens", "output_tokens"]
    now = base.assign(**{m: base[m] * 2 for m in measures})
    comp = decompose(base, now)
    assert comp["volume"] == pytest.approx(27.0)
    assert comp.drop("volume").abs().max() < 1e-9
    lines = pd.DataFrame(base_lines(DAY))
    assert series_mask(lines, "api_key:openai/key_b").tolist() == [False, True, False]
    assert series_mask(lines, "customer:cus_2").tolist() == [False, False, True]


def test_explain_anomalies_end_to_end_matches_impact():
    days = pd.date_range("2026-01-05", periods=100, freq="D")
    rng = np.random.default_rng(3)
    rows = []
    for i, day in enumerate(days):
        season = 0.45 if day.day_of_week >= 5 else 1.0
        for key, size in (("key_a", 300.0), ("key_b", 100.0)):
            k = season * np.exp(rng.normal(0, 0.05)) * (8.0 if (key == "key_b" and i == 80) else 1)
            rows.append(line(day, key, "gpt-4o", size * k, 2000 * size * k, size / 10 * k))
    lines = pd.DataFrame(rows)
    series = build_series(lines, days[0], days[-1] + pd.Timedelta(days=1), ("org", "project"))
    scored = score_series(series)
    flagged = alerts(scored)
    assert set(flagged["day"]) == {days[80]}
    drivers = explain_anomalies(lines, flagged, scored)
    for sid, group in drivers.groupby("series_id"):
        comp = components(group)
        impact = flagged.loc[flagged["series_id"] == sid, "impact_usd"].iloc[0]
        assert comp.sum() == pytest.approx(impact, rel=1e-9)
        assert comp["volume"] / impact >= 0.95
        top = group[(group["name"] == "api_key_id") & (group["rank"] == 1)]
        assert top["value"].iloc[0] == "key_b"
    empty = explain_anomalies(lines, flagged.iloc[0:0], scored)
    assert empty.empty and list(empty.columns) == list(DRIVER_COLUMNS)
