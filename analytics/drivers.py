"""Why a flagged day cost what it did: the dollar change split into volume, intensity and
price/mix, and the API keys, models, projects, teams, features and customers that moved most.

Baseline: the series' lines on the same weekday of the previous `reference_weeks` weeks (days
the series was anomalous left out, as in the detector's baseline), averaged, then scaled by
one factor so their total equals the detector's expected value for the day. Scaling every
line alike is a pure volume change, so the decomposition explains exactly `impact_usd`
(actual − expected) and the baseline keeps the mix of models, keys and customers of the
reference weeks.

Decomposition (LMDI-I, log-mean Divisia), per unit = API key (provider × project × key, the
series' lines of it): C = A × (T/A) × (C/T) with A = activity
(requests; when the source has none, as Anthropic's cost report, output tokens stand in for
it: they follow the number of calls, not prompt size), T = input + output tokens, so

    ΔC = Σ L(C1, C0) · [ln(A1/A0) + ln(I1/I0) + ln(P1/P0)],  L(a, b) = (a − b)/(ln a − ln b)

is exact per unit. Model is left out of the unit on purpose: a move from haiku to opus is a
higher cost per token (price/mix), not a volume loss on one line and a gain on another; so are
team, feature and customer: they split a key's usage by telemetry, and their daily reshuffle
would read as volume and new/vanished lines. Units
that cannot be decomposed are explicit components, so the five always add up to the change:
`new/vanished` (no cost on one side), `unmetered` (cost without usable requests/tokens on a
side: seats, storage, credits, cloud lines without usage).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.series import lines_in_series

log = logging.getLogger(__name__)

COMPONENTS: tuple[str, ...] = ("volume", "intensity", "price_mix", "new/vanished", "unmetered")
#: Dimensions ranked by dollar change; `project` is provider/project_id as in the series.
RANK_DIMENSIONS: tuple[str, ...] = (
    "api_key_id",
    "model",
    "project",
    "team",
    "feature",
    "customer",
)
UNIT_KEYS: tuple[str, ...] = ("provider", "project_id", "api_key_id")
LINE_KEYS: tuple[str, ...] = (*UNIT_KEYS, "model", "team", "feature", "customer")
DRIVER_COLUMNS: tuple[str, ...] = (
    "series_id",
    "day",
    "driver_kind",
    "name",
    "value",
    "impact_usd",
    "share_of_change",
    "rank",
    "baseline_usd",
    "actual_usd",
)
_MEASURES = ("cost", "requests", "input_tokens", "output_tokens")


def series_mask(lines: pd.DataFrame, sid: str) -> pd.Series:
    """Lines of series `sid`; also knows the `api_key:<provider>/<key>` series."""
    if sid.startswith("api_key:"):
        key = lines["provider"].astype("string") + "/" + lines["api_key_id"].astype("string")
        return (key == sid.removeprefix("api_key:")).fillna(False)
    return lines_in_series(lines, sid)


def _log_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L(a, b) = (a − b)/(ln a − ln b), = a when a == b; a, b > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / (np.log(a) - np.log(b))
    return np.where(np.isclose(a, b, rtol=1e-12, atol=0.0), a, out)


def decompose(base: pd.DataFrame, current: pd.DataFrame) -> pd.Series:
    """Dollar change from `base` lines to `current` lines by component (sums to the change)."""
    keys = [k for k in UNIT_KEYS if k in base.columns and k in current.columns]
    b = _line_sums(base, keys)
    c = _line_sums(current, keys)
    both = b.add_suffix("0").join(c.add_suffix("1"), how="outer")
    c0 = both["cost0"].fillna(0.0).to_numpy()
    c1 = both["cost1"].fillna(0.0).to_numpy()
    a0, a1, t0, t1 = _activity(both)
    metered = (c0 > 0) & (c1 > 0) & (a0 > 0) & (a1 > 0) & (t0 > 0) & (t1 > 0)
    one_sided = ~metered & ((c0 == 0) | (c1 == 0))
    out = dict.fromkeys(COMPONENTS, 0.0)
    if metered.any():
        m = metered
        weight = _log_mean(c1[m], c0[m])
        out["volume"] = float(np.sum(weight * np.log(a1[m] / a0[m])))
        out["intensity"] = float(np.sum(weight * np.log((t1[m] / a1[m]) / (t0[m] / a0[m]))))
        out["price_mix"] = float(np.sum(weight * np.log((c1[m] / t1[m]) / (c0[m] / t0[m]))))
    out["new/vanished"] = float(np.sum(c1[one_sided] - c0[one_sided]))
    rest = ~metered & ~one_sided
    out["unmetered"] = float(np.sum(c1[rest] - c0[rest]))
    return pd.Series(out, dtype="float64")


def _activity(both: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(A0, A1, T0, T1): requests, else output tokens, else tokens; tokens, else activity."""

    def col(name: str) -> np.ndarray:
        return both[name].to_numpy(dtype=np.float64)

    t0 = np.nan_to_num(col("input_tokens0")) + np.nan_to_num(col("output_tokens0"))
    t1 = np.nan_to_num(col("input_tokens1")) + np.nan_to_num(col("output_tokens1"))
    r0, r1 = col("requests0"), col("requests1")
    o0, o1 = col("output_tokens0"), col("output_tokens1")
    use_req = (r0 > 0) & (r1 > 0)
    use_out = ~use_req & (o0 > 0) & (o1 > 0)
    a0 = np.where(use_req, r0, np.where(use_out, o0, t0))
    a1 = np.where(use_req, r1, np.where(use_out, o1, t1))
    # requests without tokens (images, audio seconds): cost per request is the price
    no_tokens = (t0 <= 0) | (t1 <= 0)
    t0 = np.where(no_tokens, a0, t0)
    t1 = np.where(no_tokens, a1, t1)
    return np.nan_to_num(a0), np.nan_to_num(a1), np.nan_to_num(t0), np.nan_to_num(t1)


def reference_days(
    scored: pd.DataFrame, sid: str, day: pd.Timestamp, reference_weeks: int = 4
) -> list[pd.Timestamp]:
    """Same weekday of the previous weeks, without the series' anomalous days."""
    day = pd.Timestamp(day)
    candidates = [day - pd.Timedelta(weeks=w) for w in range(1, reference_weeks + 1)]
    rows = scored[(scored["series_id"] == sid) & scored["is_anomaly"]]
    bad = set(pd.to_datetime(rows["day"]))
    clean = [d for d in candidates if d not in bad]
    if clean:
        return clean
    log.info("%s %s: every reference day was anomalous; using them anyway", sid, day.date())
    return candidates


def baseline_lines(
    lines: pd.DataFrame,
    scored: pd.DataFrame,
    sid: str,
    day: pd.Timestamp,
    reference_weeks: int = 4,
) -> pd.DataFrame:
    """The series' reference lines averaged per line and scaled to the expected total."""
    day = pd.Timestamp(day)
    days = reference_days(scored, sid, day, reference_weeks)
    own = lines[series_mask(lines, sid)]
    ref = own[own["day"].isin(days)]
    keys = [k for k in LINE_KEYS if k in lines.columns]
    avg = _line_sums(ref, keys) / len(days)
    row = scored[(scored["series_id"] == sid) & (scored["day"] == day)]
    total = float(avg["cost"].sum())
    if len(row) and total > 0:
        avg = avg * (float(row["expected"].iloc[0]) / total)
    return avg.reset_index()


def _line_sums(lines: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Measures summed by `keys` (model etc. summed over when absent); all-NaN stays NaN."""
    frame = lines[[*keys, *_MEASURES]].copy()
    for k in keys:
        frame[k] = frame[k].astype("string").fillna("~")
    return frame.groupby(list(keys), dropna=False)[list(_MEASURES)].sum(min_count=1)


def explain(
    lines: pd.DataFrame,
    scored: pd.DataFrame,
    sid: str,
    day: pd.Timestamp,
    top_n: int = 5,
    reference_weeks: int = 4,
) -> pd.DataFrame:
    """Components and top movers (per dimension) of one (series, day), as a tidy frame."""
    day = pd.Timestamp(day)
    base = baseline_lines(lines, scored, sid, day, reference_weeks)
    own = lines[series_mask(lines, sid)]
    keys = [k for k in LINE_KEYS if k in lines.columns]
    cur = _line_sums(own[own["day"] == day], keys).reset_index()
    components = decompose(base, cur)
    change = float(cur["cost"].sum() - base["cost"].sum())
    rows = [
        {
            "driver_kind": "component",
            "name": "component",
            "value": name,
            "impact_usd": value,
            "baseline_usd": np.nan,
            "actual_usd": np.nan,
        }
        for name, value in components.items()
    ]
    comp = pd.DataFrame(rows)
    comp["rank"] = comp["impact_usd"].abs().rank(ascending=False, method="first").astype(int)
    parts = [comp]
    for dim in RANK_DIMENSIONS:
        parts.append(_movers(base, cur, dim, top_n))
    out = pd.concat(parts, ignore_index=True)
    out["share_of_change"] = out["impact_usd"] / change if change else np.nan
    out.insert(0, "day", day)
    out.insert(0, "series_id", sid)
    return _typed(out)


def _movers(base: pd.DataFrame, cur: pd.DataFrame, dim: str, top_n: int) -> pd.DataFrame:
    def by(frame: pd.DataFrame) -> pd.Series:
        if dim == "project":
            key = frame["provider"].astype("string") + "/" + frame["project_id"].astype("string")
        else:
            key = frame[dim].astype("string")
        return frame["cost"].groupby(key.fillna("~")).sum()

    b, c = by(base), by(cur)
    both = pd.concat([b.rename("baseline_usd"), c.rename("actual_usd")], axis=1).fillna(0.0)
    both["impact_usd"] = both["actual_usd"] - both["baseline_usd"]
    both = both.reindex(both["impact_usd"].abs().sort_values(ascending=False).index)
    top = both.head(top_n).reset_index(names="value")
    top["driver_kind"] = "dimension"
    top["name"] = dim
    top["rank"] = np.arange(1, len(top) + 1)
    return top


def explain_anomalies(
    lines: pd.DataFrame,
    flagged: pd.DataFrame,
    scored: pd.DataFrame,
    top_n: int = 5,
    reference_weeks: int = 4,
    first_days_only: bool = True,
) -> pd.DataFrame:
    """`explain` for each alert (episode first day) in `flagged`, or each of its rows.

    `scored` (all of `score_series` output) supplies the expected values and the anomalous
    days the baseline leaves out.
    """
    rows = flagged[flagged["is_first_day"].astype(bool)] if first_days_only else flagged
    parts = [
        explain(lines, scored, str(r.series_id), r.day, top_n, reference_weeks)
        for r in rows.itertuples(index=False)
    ]
    if not parts:
        return _typed(pd.DataFrame(columns=list(DRIVER_COLUMNS)))
    return pd.concat(parts, ignore_index=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("series_id", "driver_kind", "name", "value"):
        frame[column] = frame[column].astype("string")
    frame["day"] = pd.to_datetime(frame["day"])
    for column in ("impact_usd", "share_of_change", "baseline_usd", "actual_usd"):
        frame[column] = frame[column].astype("float64")
    frame["rank"] = frame["rank"].astype("int64")
    return frame[list(DRIVER_COLUMNS)].reset_index(drop=True)
