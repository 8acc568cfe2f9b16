"""A small synthetic warehouse with every table and column the daily report reads.

It documents that contract in one place and lets the report be previewed and tested without
running the pipeline: `python -m reports.sample OUT_DIR [AS_OF]` writes a sample report.
`hostile=True` gives teams, features and budgets names full of markup, to prove escaping.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

HOSTILE_TEAM = '<img src=x onerror="alert(1)">'
HOSTILE_FEATURE = "R&D <script>alert('x')</script>"
HOSTILE_MODEL = 'gpt-"quoted"-<b>bold</b>'

ANALYTICS = (
    "forecast_daily",
    "forecast_month_end",
    "budget_status",
    "anomalies",
    "anomaly_drivers",
    "unit_economics_daily",
    "unit_economics_monthly",
    "forecast_backtest",
    "detection_quality",
)


def build_sample_warehouse(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    *,
    analytics: Collection[str] = ANALYTICS,
    hostile: bool = False,
    days: int = 120,
) -> None:
    """Create `marts.*` and the named `analytics.*` tables for `days` days before `as_of`.

    Anthropic spikes to three times its level on `as_of - 3` and `as_of - 2` (an open
    anomaly episode); the org is forecast over its budget, one team is over budget already."""
    rng = np.random.default_rng(7)
    team_a = HOSTILE_TEAM if hostile else "research"
    feature_a = HOSTILE_FEATURE if hostile else "summarize"
    model_b = HOSTILE_MODEL if hostile else "gpt-4o"
    lines = [
        # provider, model, team, feature, base daily cost, requests per $, tokens per request
        ("anthropic", "claude-sonnet-4-5", team_a, feature_a, 420.0, 60.0, 2400.0),
        ("anthropic", "claude-haiku-4-5", "support", "helpdesk", 90.0, 400.0, 1200.0),
        ("openai", model_b, "support", "helpdesk", 260.0, 150.0, 1500.0),
        ("openai", "gpt-4o-mini", "growth", feature_a, 60.0, 900.0, 900.0),
        ("aws_bedrock", "claude-3-haiku", "platform", "search", 45.0, 700.0, 800.0),
    ]
    start = as_of - timedelta(days=days)
    rows = []
    for i in range(days):
        day = start + timedelta(days=i)
        weekday = 0.55 if day.weekday() >= 5 else 1.0
        trend = 1 + 0.25 * i / days
        for provider, model, team, feature, base, req_per_usd, tokens in lines:
            cost = base * weekday * trend * rng.uniform(0.9, 1.1)
            if provider == "anthropic" and (as_of - day).days in (2, 3):
                cost *= 3.0
            requests = cost * req_per_usd
            rows.append(
                {
                    "usage_date": day,
                    "provider": provider,
                    "model": model,
                    "project_id": f"proj_{provider[:3]}",
                    "team": team,
                    "feature": feature,
                    "customer": "internal",
                    "reporting_currency": "USD",
                    "billed_cost_reporting": cost,
                    "billed_cost_usd": cost,
                    "list_cost_usd": cost * 1.02,
                    "caching_savings_usd": cost * 0.18,
                    "batch_savings_usd": cost * 0.02 if provider == "openai" else 0.0,
                    "discount_savings_usd": cost * 0.02 - (3.0 if provider == "aws_bedrock" else 0),
                    "requests": requests,
                    "tokens": requests * tokens,
                    "cached_input_tokens": requests * tokens * 0.3,
                }
            )
    spend = pd.DataFrame(rows)
    spend["usage_date"] = pd.to_datetime(spend["usage_date"]).dt.date
    con.execute("create schema if not exists marts")
    con.execute("create schema if not exists analytics")
    _table(con, "marts.fct_ai_spend", spend.drop(columns=["team", "feature", "customer"]))
    _table(con, "marts.fct_ai_spend_allocated", spend)
    savings_cols = [
        "usage_date",
        "provider",
        "model",
        "team",
        "feature",
        "billed_cost_usd",
        "list_cost_usd",
        "caching_savings_usd",
        "batch_savings_usd",
        "discount_savings_usd",
    ]
    _table(con, "marts.fct_ai_savings", spend[savings_cols])

    builders = {
        "forecast_daily": lambda: _forecast_daily(spend, as_of, team_a),
        "forecast_month_end": lambda: _forecast_month_end(spend, as_of, team_a),
        "budget_status": lambda: _budget_status(spend, as_of, team_a),
        "anomalies": lambda: _anomalies(as_of),
        "anomaly_drivers": lambda: _drivers(as_of, model_b),
        "unit_economics_daily": lambda: _unit_economics(spend, "day"),
        "unit_economics_monthly": lambda: _unit_economics(spend, "month"),
        "forecast_backtest": lambda: pd.DataFrame(
            {
                "series_id": ["org", "provider:openai"],
                "mase": [0.82, 0.95],
                "coverage_80": [0.8, 0.7],
            }
        ),
        "detection_quality": lambda: pd.DataFrame({"precision": [0.9], "recall": [0.75]}),
    }
    for name in ANALYTICS:
        if name in analytics:
            _table(con, f"analytics.{name}", builders[name]())


def _table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    con.register("_sample_frame", frame)
    con.execute(f"create or replace table {name} as select * from _sample_frame")
    con.unregister("_sample_frame")


def _month_bounds(as_of: date) -> tuple[date, date]:
    first = (as_of - timedelta(days=1)).replace(day=1)
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt


def _daily(spend: pd.DataFrame, mask: pd.Series) -> pd.Series:
    return spend[mask].groupby("usage_date")["billed_cost_reporting"].sum()


def _series_masks(spend: pd.DataFrame, team_a: str) -> dict[str, pd.Series]:
    return {
        "org": pd.Series(True, index=spend.index),
        "provider:openai": spend["provider"] == "openai",
        f"team:{team_a}": spend["team"] == team_a,
    }


def _forecast_daily(spend: pd.DataFrame, as_of: date, team_a: str) -> pd.DataFrame:
    rows = []
    for sid, mask in _series_masks(spend, team_a).items():
        recent = _daily(spend, mask).tail(14).mean()
        for i in range(40):
            day = as_of + timedelta(days=i)
            yhat = recent * (0.6 if day.weekday() >= 5 else 1.1)
            rows.append(
                {
                    "series_id": sid,
                    "day": pd.Timestamp(day),
                    "yhat": yhat,
                    "yhat_lower_80": yhat * 0.85,
                    "yhat_upper_80": yhat * 1.15,
                    "method": "prophet",
                }
            )
    return pd.DataFrame(rows)


def _projection(spend: pd.DataFrame, mask: pd.Series, as_of: date) -> tuple[float, float]:
    first, nxt = _month_bounds(as_of)
    daily = _daily(spend, mask)
    mtd = float(daily[[d >= first for d in daily.index]].sum())
    recent = float(daily.tail(14).mean())
    rest = sum(
        recent * (0.6 if (as_of + timedelta(days=i)).weekday() >= 5 else 1.1)
        for i in range((nxt - as_of).days)
    )
    return mtd, rest


def _forecast_month_end(spend: pd.DataFrame, as_of: date, team_a: str) -> pd.DataFrame:
    first, _ = _month_bounds(as_of)
    rows = []
    for sid, mask in _series_masks(spend, team_a).items():
        mtd, rest = _projection(spend, mask, as_of)
        rows.append(
            {
                "series_id": sid,
                "month": first,
                "actual_mtd": mtd,
                "projected": mtd + rest,
                "projected_lower_80": mtd + rest * 0.88,
                "projected_upper_80": mtd + rest * 1.12,
                "method": "prophet",
            }
        )
    return pd.DataFrame(rows)


def _budget_status(spend: pd.DataFrame, as_of: date, team_a: str) -> pd.DataFrame:
    first, _ = _month_bounds(as_of)
    masks = _series_masks(spend, team_a)
    rows = []
    specs = [
        ("org-monthly", "All AI spend", "org", "all", "org", 0.95),
        ("openai-monthly", "OpenAI", "provider", "openai", "provider:openai", 1.6),
        ("team-a", f"Team {team_a}", "team", team_a, f"team:{team_a}", 0.5),
    ]
    for budget_id, name, scope, value, sid, ratio in specs:
        mtd, rest = _projection(spend, masks[sid], as_of)
        projected = mtd + rest
        amount = round(projected * ratio, -2)
        if mtd >= amount:
            status, crosses = "over_budget", as_of - timedelta(days=4)
        elif projected >= amount:
            status, crosses = "forecast_over_budget", as_of + timedelta(days=9)
        else:
            status, crosses = "ok", None
        rows.append(
            {
                "budget_id": budget_id,
                "budget_name": name,
                "scope": scope,
                "scope_value": value,
                "month": first,
                "is_current_month": True,
                "status": status,
                "actual_mtd": mtd,
                "budget_amount_reporting": amount,
                "pct_used": 100 * mtd / amount,
                "forecast_month_end": projected,
                "forecast_lower_80": mtd + rest * 0.88,
                "forecast_upper_80": mtd + rest * 1.12,
                "pct_forecast": 100 * projected / amount,
                "forecast_crosses_budget_on": crosses,
            }
        )
    return pd.DataFrame(rows)


def _anomalies(as_of: date) -> pd.DataFrame:
    spike, older = as_of - timedelta(days=3), as_of - timedelta(days=20)
    rows = []
    for sid, expected, day, n, severity in (
        ("provider:anthropic", 560.0, spike, 2, "critical"),
        ("org", 1010.0, spike, 2, "high"),
        ("feature:search", 48.0, older, 1, "low"),
    ):
        for k in range(n):
            actual = expected * (2.9 if sid != "feature:search" else 1.6)
            rows.append(
                {
                    "series_id": sid,
                    "day": pd.Timestamp(day + timedelta(days=k)),
                    "expected": expected,
                    "actual": actual,
                    "impact_usd": actual - expected,
                    "impact_pct": actual / expected - 1,
                    "severity": severity,
                    "direction": "spike",
                    "is_anomaly": True,
                    "is_first_day": k == 0,
                    "episode_id": f"{sid}@{day.isoformat()}",
                }
            )
    return pd.DataFrame(rows)


def _drivers(as_of: date, model: str) -> pd.DataFrame:
    """As analytics.drivers writes them: components, then the top movers per dimension."""
    spike = pd.Timestamp(as_of - timedelta(days=3))
    rows = []
    for sid, impact in (("provider:anthropic", 1064.0), ("org", 1919.0)):
        for kind, name, value, share, rank in (
            ("component", "component", "volume", 0.7, 1),
            ("component", "component", "price_mix", 0.3, 2),
            ("component", "component", "intensity", 0.0, 3),
            ("dimension", "api_key_id", "key_<prod>", 0.65, 1),
            ("dimension", "model", "claude-sonnet-4-5", 0.6, 1),
            ("dimension", "model", model, 0.05, 2),
            ("dimension", "team", "support", 0.1, 1),
        ):
            rows.append(
                {
                    "series_id": sid,
                    "day": spike,
                    "driver_kind": kind,
                    "name": name,
                    "value": value,
                    "impact_usd": impact * share,
                    "share_of_change": share,
                    "rank": rank,
                }
            )
    return pd.DataFrame(rows)


def _unit_economics(spend: pd.DataFrame, period: str) -> pd.DataFrame:
    frame = spend.assign(
        period_start=pd.to_datetime(spend["usage_date"]).dt.to_period(
            "D" if period == "day" else "M"
        )
    )
    frame["period_start"] = frame["period_start"].dt.start_time.dt.date
    parts = []
    for dimension in ("org", "provider"):
        keys = ["period_start"] + ([] if dimension == "org" else ["provider"])
        sums = frame.groupby(keys)[
            ["billed_cost_reporting", "requests", "tokens", "cached_input_tokens"]
        ].sum()
        sums = sums.reset_index()
        sums["dimension"] = dimension
        sums["dimension_value"] = "all" if dimension == "org" else sums["provider"]
        sums["billed_cost"] = sums["billed_cost_reporting"]
        sums["cost_per_request"] = sums["billed_cost"] / sums["requests"]
        sums["cost_per_1k_tokens"] = 1000 * sums["billed_cost"] / sums["tokens"]
        sums["tokens_per_request"] = sums["tokens"] / sums["requests"]
        sums["cache_hit_rate"] = sums["cached_input_tokens"] / sums["tokens"]
        parts.append(
            sums[
                [
                    "period_start",
                    "dimension",
                    "dimension_value",
                    "billed_cost",
                    "cost_per_request",
                    "cost_per_1k_tokens",
                    "tokens_per_request",
                    "cache_hit_rate",
                ]
            ]
        )
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str]) -> int:
    """Write a sample report: `python -m reports.sample OUT_DIR [AS_OF]`."""
    from reports.daily import render_daily_report

    if not argv:
        sys.stderr.write("usage: python -m reports.sample OUT_DIR [YYYY-MM-DD]\n")
        return 2
    as_of = date.fromisoformat(argv[1]) if len(argv) > 1 else date.today()
    with duckdb.connect() as con:
        build_sample_warehouse(con, as_of)
        result = render_daily_report(con, as_of, Path(argv[0]))
    sys.stdout.write(f"{result.path} ({result.bytes:,} bytes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
