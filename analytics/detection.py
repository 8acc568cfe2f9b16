"""How good the anomaly alerts are, measured against the simulator's injected incidents.

Daily grain. An alert (the first day of an episode) *matches* an incident when the incident
is active on the alert day and the alert's series contains the incident's spend that day: the
incident's API key (or, without a key, its project/workspace) has a line with cost > 0 in
that series' lines (org and provider series contain everything of their provider). An
incident is *detected* when at least one alert matches it; days-to-detect is the first
matching alert day minus the incident start (0 = on its first day). Precision = matched
alerts / alerts, recall = detected / incidents, and false alerts are normalised per 30
evaluated days per 100 series.

The simulator also cuts a list price inside the window (gpt-4.1 input/output −20 % on the
window's middle day), a real cost change that is not an incident. It is not excused: an alert
on that day that matches no incident counts as false like any other, and is also reported in
`price_change_alerts` so a reader sees why it fired.

`simulator_lines` builds the lines of the two providers that carry incidents (OpenAI,
Anthropic) straight from the simulator's generator, which makes a multi-seed evaluation take
seconds instead of a pipeline run per seed; its project totals equal the pipeline's to the
cent on seed 42 (tests/integration/test_detection_seeds.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analytics.anomalies import AnomalyConfig, key_series, score_series
from analytics.series import build_series, scope_values

log = logging.getLogger(__name__)

#: Anthropic's default workspace has no id in the API; the pipeline calls it this.
DEFAULT_WORKSPACE = "default"

QUALITY_COLUMNS: tuple[str, ...] = (
    "seed",
    "n_series",
    "n_days",
    "incidents",
    "detected",
    "detected_first_day",
    "alerts",
    "true_alerts",
    "precision",
    "recall",
    "mean_days_to_detect",
    "false_alerts_per_30d_per_100_series",
    "price_change_alerts",
)


def incident_frame(incidents: Iterable[Mapping[str, Any] | Any] | pd.DataFrame) -> pd.DataFrame:
    """Ground truth as a frame: dicts as in ground_truth.json, `Incident`s, or this frame."""
    cols = ["incident_id", "kind", "provider", "project_id", "api_key_id", "start", "end"]
    if isinstance(incidents, pd.DataFrame):
        return incidents[cols]
    rows = []
    for inc in incidents:
        d = dict(inc) if isinstance(inc, Mapping) else inc.as_dict()
        key = d.get("api_key_id")
        rows.append(
            {
                "incident_id": d["id"],
                "kind": d["kind"],
                "provider": d["provider"],
                "project_id": d.get("project_id") or DEFAULT_WORKSPACE,
                "api_key_id": key if isinstance(key, str) and key else None,
                "start": pd.Timestamp(d["start_date"]),
                "end": pd.Timestamp(d["end_date"]) if d.get("end_date") else pd.NaT,
            }
        )
    frame = pd.DataFrame(rows, columns=cols)
    frame["start"] = frame["start"].astype("datetime64[ns]")
    frame["end"] = frame["end"].astype("datetime64[ns]")
    return frame


def line_series_ids(lines: pd.DataFrame, scopes: Iterable[str]) -> pd.DataFrame:
    """(line index, series_id) for every scope: which series each line belongs to."""
    parts = []
    for scope in scopes:
        if scope == "api_key":
            known = lines["api_key_id"].astype("string") != "~"
            value = (lines["provider"].astype("string") + "/" + lines["api_key_id"])[known]
            sid = "api_key:" + value
        elif scope == "org":
            sid = pd.Series("org", index=lines.index, dtype="string")
        else:
            sid = scope + ":" + scope_values(lines, scope)
        parts.append(pd.DataFrame({"line": sid.index, "series_id": sid.astype("string")}))
    if not parts:
        return pd.DataFrame({"line": [], "series_id": pd.Series(dtype="string")})
    return pd.concat(parts, ignore_index=True)


def containment(
    lines: pd.DataFrame, incidents: pd.DataFrame, scopes: Iterable[str]
) -> pd.DataFrame:
    """(series_id, day, incident_id, start) where a series holds an active incident's spend."""
    scopes = list(scopes)
    days = pd.to_datetime(lines["day"]).astype("datetime64[ns]")
    parts = []
    for inc in incidents.itertuples(index=False):
        mask = (lines["provider"] == inc.provider) & (lines["cost"] > 0)
        if isinstance(inc.api_key_id, str) and inc.api_key_id:
            mask &= lines["api_key_id"] == inc.api_key_id
        else:
            mask &= lines["project_id"] == inc.project_id
        mask &= days >= inc.start
        if not pd.isna(inc.end):
            mask &= days < inc.end
        sub = lines[mask.fillna(False)]
        if sub.empty:
            continue
        ids = line_series_ids(sub, scopes)
        ids["day"] = days.loc[ids["line"]].to_numpy()
        ids["incident_id"] = inc.incident_id
        ids["start"] = inc.start
        parts.append(ids.drop(columns="line").drop_duplicates())
    if not parts:
        return pd.DataFrame(
            {
                "series_id": pd.Series(dtype="string"),
                "day": pd.Series(dtype="datetime64[ns]"),
                "incident_id": pd.Series(dtype="string"),
                "start": pd.Series(dtype="datetime64[ns]"),
            }
        )
    return pd.concat(parts, ignore_index=True)


def _alert_rows(flagged: pd.DataFrame) -> pd.DataFrame:
    """The alerts (episode first days) of `score_series` or `find_anomalies` output."""
    column = "is_alert" if "is_alert" in flagged.columns else "is_first_day"
    out = flagged[flagged[column].astype(bool)].copy()
    out["series_id"] = out["series_id"].astype("string")
    out["day"] = pd.to_datetime(out["day"]).astype("datetime64[ns]")
    return out.reset_index(drop=True)


def match_alerts(
    flagged: pd.DataFrame,
    incidents: Iterable[Mapping[str, Any] | Any] | pd.DataFrame,
    lines: pd.DataFrame,
) -> pd.DataFrame:
    """The alerts of `flagged` with `incident_id` (NA = false alert) and `days_to_detect`.

    When several active incidents are in the series (a persisting model switch and a later
    runaway loop both in `org`), the alert goes to the one that started last.
    """
    out = _alert_rows(flagged)
    scopes = sorted({str(s).partition(":")[0] for s in out["series_id"]})
    held = containment(lines, incident_frame(incidents), scopes)
    held = held.sort_values("start").drop_duplicates(["series_id", "day"], keep="last")
    merged = out.merge(held, on=["series_id", "day"], how="left")
    merged["incident_id"] = merged["incident_id"].astype("string")
    merged["days_to_detect"] = (merged["day"] - merged["start"]).dt.days
    return merged.drop(columns="start")


def evaluate(
    flagged: pd.DataFrame,
    incidents: Iterable[Mapping[str, Any] | Any] | pd.DataFrame,
    lines: pd.DataFrame,
    n_series: int,
    n_days: int,
    seed: int | None = None,
    price_change_days: Sequence[date] | None = None,
) -> pd.DataFrame:
    """One row of detection quality for the alerts in `flagged` (anomalies or scored rows).

    `n_series` × `n_days` are the scored series-days the false-alert rate is normalised by.
    The `seed` column comes first when a seed is given; `price_change_alerts` (a float so the
    row has no pandas NA) is NaN when no price-change days are given.
    """
    matched = match_alerts(flagged, incidents, lines)
    n_inc = len(incident_frame(incidents))
    n_alerts = len(matched)
    true_alerts = int(matched["incident_id"].notna().sum())
    first = matched.dropna(subset=["incident_id"]).groupby("incident_id")["days_to_detect"].min()
    series_days = n_series * n_days
    row: dict[str, Any] = {
        "seed": seed,
        "n_series": int(n_series),
        "n_days": int(n_days),
        "incidents": n_inc,
        "detected": len(first),
        "detected_first_day": int((first == 0).sum()),
        "alerts": n_alerts,
        "true_alerts": true_alerts,
        "precision": true_alerts / n_alerts if n_alerts else np.nan,
        "recall": len(first) / n_inc if n_inc else np.nan,
        "mean_days_to_detect": float(first.mean()) if len(first) else np.nan,
        "false_alerts_per_30d_per_100_series": (
            (n_alerts - true_alerts) / series_days * 30 * 100 if series_days else np.nan
        ),
        "price_change_alerts": np.nan,
    }
    if price_change_days is not None:
        change = pd.DatetimeIndex([pd.Timestamp(d) for d in price_change_days])
        on_change = matched["incident_id"].isna() & matched["day"].isin(change)
        row["price_change_alerts"] = int(on_change.sum())
    table = pd.DataFrame([row], columns=list(QUALITY_COLUMNS))
    if seed is None:
        table = table.drop(columns="seed")
    return table


def series_for(lines: pd.DataFrame, start: date, end: date, scopes: Sequence[str]) -> pd.DataFrame:
    """The series of `scopes` (the contract's scopes plus `api_key`) over `[start, end)`."""
    base = [s for s in scopes if s != "api_key"]
    parts = [build_series(lines, start, end, base)] if base else []
    if "api_key" in scopes:
        parts.append(key_series(lines, pd.Timestamp(start), pd.Timestamp(end)))
    return pd.concat(parts, ignore_index=True)


def evaluate_lines(
    lines: pd.DataFrame,
    incidents: Iterable[Mapping[str, Any] | Any] | pd.DataFrame,
    start: date,
    end: date,
    scopes: Sequence[str],
    config: AnomalyConfig | None = None,
    seed: int | None = None,
    price_change_days: Sequence[date] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the series, score them, evaluate: (quality row, matched alerts) for one seed."""
    scored = score_series(series_for(lines, start, end, scopes), config)
    n_series = int(scored["series_id"].nunique())
    n_days = int(scored["day"].nunique())
    quality = evaluate(scored, incidents, lines, n_series, n_days, seed, price_change_days)
    return quality, match_alerts(scored, incidents, lines)


# ---------------------------------------------------------------------- simulator lines

_ANTHROPIC_TOKEN_INDEX = {
    "uncached_input_tokens": 6,
    "cache_creation.ephemeral_5m_input_tokens": 7,
    "cache_creation.ephemeral_1h_input_tokens": 8,
    "cache_read_input_tokens": 9,
    "output_tokens": 10,
}


def simulator_lines(seed: int, start: date, end: date) -> tuple[pd.DataFrame, Any]:
    """(lines, SyntheticOrg) for OpenAI and Anthropic, from the generator, at key × model grain.

    OpenAI cost lines carry project and key; Anthropic's carry only the workspace, so each one
    is split over the workspace's keys by their tokens of the same model, token type, tier and
    context (web search by searches), as the pipeline's allocation does: project totals are
    exact. Team, feature and customer are unknown ('~'); Anthropic requests are NaN as in the
    pipeline's lines.
    """
    from ingestion.simulator.org import SyntheticOrg

    org = SyntheticOrg(seed, start, end)
    rows: list[tuple[Any, ...]] = []
    for day in org.days():
        data = org.day(day)
        assert data is not None
        stamp = pd.Timestamp(day)
        rows += [(stamp, "openai", *r) for r in _openai_day(data)]
        rows += [(stamp, "anthropic", *r) for r in _anthropic_day(data)]
    cols = ["day", "provider", "project_id", "api_key_id", "model", "cost"]
    measures = ["requests", "input_tokens", "cached_input_tokens", "output_tokens"]
    frame = pd.DataFrame(rows, columns=cols + measures)
    for column in ("team", "feature", "customer"):
        frame[column] = "~"
    frame["list_cost"] = frame["cost"]
    frame.loc[frame["provider"] == "anthropic", "requests"] = np.nan
    for column in ("provider", "project_id", "api_key_id", "model", "team", "feature", "customer"):
        frame[column] = frame[column].astype("string")
    order = [*cols[:5], "team", "feature", "customer", "cost", "list_cost", *measures]
    return frame[order], org


def _openai_day(data: Any) -> list[tuple[Any, ...]]:
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0] * 5)
    for project, key, item, _qty, amount in data.openai_costs:
        model = item.split(",")[0] if "," in item else "~"
        acc[(project, key or "~", model)][0] += float(amount)
    for project, key, model, _batch, req, uncached, cached, write, output in data.openai_day:
        a = acc[(project, key, model)]
        a[1] += req
        a[2] += uncached + cached + write
        a[3] += cached
        a[4] += output
    for extra in data.openai_extras:
        grain = (
            extra.dim("project_id"),
            extra.dim("api_key_id") or "~",
            extra.dim("model") or "~",
        )
        a = acc[grain]
        a[1] += extra.metric("num_model_requests")
        a[2] += extra.metric("input_tokens")
    return [(*k, *v) for k, v in acc.items()]


def _anthropic_day(data: Any) -> list[tuple[Any, ...]]:
    usage: dict[tuple[Any, ...], dict[Any, int]] = defaultdict(dict)
    searches: dict[Any, dict[Any, int]] = defaultdict(dict)
    acc: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0] * 5)
    for r in data.anthropic_day:
        ws, key, model, tier, ctx, geo = r[:6]
        for token_type, i in _ANTHROPIC_TOKEN_INDEX.items():
            cell = usage[(ws, model, token_type, tier, ctx, geo)]
            cell[key] = cell.get(key, 0) + r[i]
        searches[ws][key] = searches[ws].get(key, 0) + r[11]
        a = acc[(ws, key, model)]
        a[2] += r[6] + r[7] + r[8] + r[9]
        a[3] += r[9]
        a[4] += r[10]
    for ws, _desc, cost_type, model, token_type, tier, ctx, geo, cents in data.anthropic_costs:
        tokens = cost_type == "tokens"
        shares = usage[(ws, model, token_type, tier, ctx, geo)] if tokens else searches[ws]
        total = sum(shares.values())
        for key, qty in shares.items():
            if qty:
                acc[(ws, key, model if tokens else "~")][0] += float(cents) / 100 * qty / total
    return [(ws or DEFAULT_WORKSPACE, key or "~", model, *v) for (ws, key, model), v in acc.items()]


def simulator_window() -> tuple[date, date]:
    """The pipeline's default window: 180 days ending 2026-11-28 (inclusive)."""
    end = date(2026, 11, 29)
    return end - timedelta(days=180), end
