"""Freshness and date completeness of the spend fact, per provider: plain functions the
blocking Dagster checks (orchestration/defs/checks.py) call.

A provider is fresh when its latest day with spend is no older than the run's last day minus
the provider's usual delay (the Costs APIs settle within a day; cloud billing exports lag up
to a few days). A provider is complete when no day between its first and its last day in the
window is missing: a hole means a failed or skipped load, not a day without spend, because
every billing source reports the days it has (usage, seats or commitments).

The SQL is portable: `con` is a `orchestration.warehouse.Connection` on either target (a plain
DuckDB connection works too).
"""

from __future__ import annotations

from datetime import date, timedelta

from orchestration.warehouse import Connection

#: Days a provider's data may lag the run's last day before it is stale.
FRESHNESS_LAG_DAYS: dict[str, int] = {
    "openai": 2,
    "anthropic": 2,
    "cursor": 2,
    "aws_bedrock": 3,
    "gcp_vertex": 3,
    "azure_openai": 3,
}
BILLING_PROVIDERS = tuple(FRESHNESS_LAG_DAYS)


def _days_by_provider(
    con: Connection, providers: list[str], start: date, end: date
) -> dict[str, list[date]]:
    rows = con.execute(
        "select distinct provider, cast(usage_date as date) from marts.fct_ai_spend "
        "where usage_date >= ? and usage_date < ? order by 1, 2",
        [start, end],
    ).fetchall()
    out: dict[str, list[date]] = {}
    for provider, day in rows:
        if provider in providers:
            out.setdefault(provider, []).append(day)
    return out


def stale_providers(
    con: Connection, providers: list[str], start: date, end: date
) -> dict[str, str]:
    """{provider: why} for each billing provider whose latest day is too old (or absent)."""
    wanted = [p for p in providers if p in FRESHNESS_LAG_DAYS]
    days = _days_by_provider(con, wanted, start, end)
    last_day = end - timedelta(days=1)
    out = {}
    for provider in wanted:
        latest = days[provider][-1] if days.get(provider) else None
        due = max(start, last_day - timedelta(days=FRESHNESS_LAG_DAYS[provider]))
        if latest is None:
            out[provider] = f"no spend at all in {start}..{last_day}"
        elif latest < due:
            out[provider] = (
                f"latest day {latest}, expected {due} or later "
                f"(allowed delay {FRESHNESS_LAG_DAYS[provider]} days)"
            )
    return out


#: provider -> (raw dataset, cost endpoint) whose reported buckets say a day was read as empty
REPORTED_COST_ENDPOINTS = {
    "openai": ("raw_openai", "/organization/costs"),
    "anthropic": ("raw_anthropic", "/v1/organizations/cost_report"),
}


def reported_empty_days(con: Connection, provider: str) -> set[date]:
    """Days the provider's cost API reported as an empty bucket on its latest read."""
    if provider not in REPORTED_COST_ENDPOINTS:
        return set()
    dataset, endpoint = REPORTED_COST_ENDPOINTS[provider]
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = ? and table_name = 'reported_buckets'",
        [dataset],
    ).fetchone()
    if not exists or not exists[0]:
        return set()
    rows = con.execute(
        f"select distinct cast(to_timestamp(bucket_start) at time zone 'UTC' as date) "
        f"from {dataset}.reported_buckets where endpoint = ? and results = 0",
        [endpoint],
    ).fetchall()
    return {r[0] for r in rows}


def missing_days(
    con: Connection, providers: list[str], start: date, end: date
) -> dict[str, list[date]]:
    """{provider: days missing between its first and last day in the window}."""
    wanted = [p for p in providers if p in FRESHNESS_LAG_DAYS]
    out = {}
    for provider, days in _days_by_provider(con, wanted, start, end).items():
        have = set(days) | reported_empty_days(con, provider)
        span = (days[-1] - days[0]).days + 1
        holes = [d for d in (days[0] + timedelta(days=i) for i in range(span)) if d not in have]
        if holes:
            out[provider] = holes
    return out
