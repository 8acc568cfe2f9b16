"""Unit economics: what a request, a thousand tokens, a customer and a feature cost.

Computed in the warehouse (DuckDB or PostgreSQL, one portable SQL statement) over
`marts.fct_ai_spend_allocated` (the bill split to team, feature and customer) and the
applications' telemetry (`intermediate.int_telemetry__daily_usage`, for retries and errors),
for each day and each month, at one grain per dimension: the whole organisation, each
provider, model, team, feature and customer.

Ratios only divide like by like: cost per request divides the cost of lines that report
requests by those requests (seats, storage and cloud lines without usage are left out of the
numerator, and their share is shown as `unmetered_cost`); cost per 1K tokens likewise only
uses lines with tokens. A ratio with no denominator is NULL, never 0.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import duckdb

    from orchestration.warehouse import Connection

DIMENSIONS: tuple[str, ...] = ("org", "provider", "model", "team", "feature", "customer")

#: Customers that are not end customers: requests with no customer, and spend no rule claims.
NOT_A_CUSTOMER: tuple[str, ...] = ("internal", "unallocated")

_GROUPING_SETS = """
    grouping sets (
        (period_start),
        (period_start, provider),
        (period_start, model),
        (period_start, team),
        (period_start, feature),
        (period_start, customer)
    )
"""

_DIMENSION_CASE = """
    case
        when grouping(provider) = 0 then 'provider'
        when grouping(model) = 0 then 'model'
        when grouping(team) = 0 then 'team'
        when grouping(feature) = 0 then 'feature'
        when grouping(customer) = 0 then 'customer'
        else 'org'
    end as dimension,
    coalesce(provider, model, team, feature, customer, 'all') as dimension_value
"""


def _sql(period: str) -> str:
    trunc = "usage_date" if period == "day" else "date_trunc('month', usage_date)"
    ttrunc = "request_date" if period == "day" else "date_trunc('month', request_date)"
    excluded = ", ".join(f"'{c}'" for c in NOT_A_CUSTOMER)
    return f"""
with

lines as (
    select
        cast({trunc} as date) as period_start,
        provider,
        coalesce(model, '~') as model,
        team,
        feature,
        customer,
        cast(billed_cost_reporting as double precision) as cost,
        cast(requests as double precision) as requests,
        cast(total_input_tokens as double precision) as input_tokens,
        cast(cached_input_tokens as double precision) as cached_input_tokens,
        cast(output_tokens as double precision) as output_tokens
    from marts.fct_ai_spend_allocated
    where usage_date >= ? and usage_date < ?
),

spend as (
    select
        period_start,
        {_DIMENSION_CASE},
        sum(cost) as billed_cost,
        coalesce(sum(cost) filter (where coalesce(requests, 0) = 0), 0) as unmetered_cost,
        sum(cost) filter (where requests > 0) as metered_cost,
        sum(requests) filter (where requests > 0) as requests,
        sum(cost) filter (where coalesce(input_tokens, 0) + coalesce(output_tokens, 0) > 0)
            as tokened_cost,
        sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))
            filter (where coalesce(input_tokens, 0) + coalesce(output_tokens, 0) > 0)
            as total_tokens,
        sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))
            filter (where requests > 0) as tokens_of_requests,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(output_tokens) as output_tokens,
        count(distinct customer) filter (where customer not in ({excluded}) and cost > 0)
            as active_customers,
        sum(cost) filter (where customer not in ({excluded})) as customer_cost
    from lines
    group by {_GROUPING_SETS}
),

telemetry as (
    select
        cast({ttrunc} as date) as period_start,
        provider,
        coalesce(model, '~') as model,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        coalesce(customer_id, 'internal') as customer,
        cast(requests as double precision) as requests,
        cast(retries as double precision) as retries,
        cast(errors as double precision) as errors
    from intermediate.int_telemetry__daily_usage
    where request_date >= ? and request_date < ?
),

telemetry_rates as (
    select
        period_start,
        {_DIMENSION_CASE},
        sum(requests) as telemetry_requests,
        sum(retries) as telemetry_retries,
        sum(errors) as telemetry_errors
    from telemetry
    group by {_GROUPING_SETS}
),

final as (
    select
        '{period}' as period,
        spend.period_start,
        spend.dimension,
        spend.dimension_value,
        spend.billed_cost,
        spend.unmetered_cost,
        spend.requests,
        spend.input_tokens,
        spend.cached_input_tokens,
        spend.output_tokens,
        spend.metered_cost / nullif(spend.requests, 0) as cost_per_request,
        1000 * spend.tokened_cost / nullif(spend.total_tokens, 0) as cost_per_1k_tokens,
        spend.tokens_of_requests / nullif(spend.requests, 0) as tokens_per_request,
        spend.input_tokens / nullif(spend.requests, 0) as input_tokens_per_request,
        spend.output_tokens / nullif(spend.input_tokens, 0) as output_input_ratio,
        spend.cached_input_tokens / nullif(spend.input_tokens, 0) as cache_hit_rate,
        spend.billed_cost / nullif(
            sum(spend.billed_cost) filter (where spend.dimension = 'org')
                over (partition by spend.period_start),
            0
        ) as share_of_period_cost,
        telemetry_rates.telemetry_requests,
        telemetry_rates.telemetry_retries / nullif(telemetry_rates.telemetry_requests, 0)
            as retry_share,
        telemetry_rates.telemetry_errors / nullif(telemetry_rates.telemetry_requests, 0)
            as error_share,
        spend.active_customers,
        spend.customer_cost / nullif(spend.active_customers, 0) as cost_per_active_customer
    from spend
    left join telemetry_rates
        on spend.period_start = telemetry_rates.period_start
        and spend.dimension = telemetry_rates.dimension
        and spend.dimension_value = telemetry_rates.dimension_value
)

select * from final
order by period_start, dimension, dimension_value
"""


def _has_table(con: Connection | duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def unit_economics(
    con: Connection | duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    period: str = "day",
    revenue: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Unit economics per `period` ('day' or 'month') and dimension over `[start, end)`.

    `revenue` (optional; columns month, customer, revenue in the reporting currency, customer
    NULL for revenue not split by customer) adds `revenue` and `cogs_share_of_revenue` (AI
    cost ÷ revenue) to the monthly org and customer rows.
    """
    if period not in ("day", "month"):
        raise ValueError(f"period must be 'day' or 'month', not {period!r}")
    sql = _sql(period)
    if not _has_table(con, "intermediate", "int_telemetry__daily_usage"):
        sql = sql.replace(
            "from intermediate.int_telemetry__daily_usage\n    where request_date >= ? "
            "and request_date < ?",
            "from (select null::date as request_date, null::varchar as provider, null::varchar "
            "as model, null::varchar as team, null::varchar as feature, null::varchar as "
            "customer_id, 0 as requests, 0 as retries, 0 as errors) as no_telemetry\n"
            "    where request_date >= ? and request_date < ?",
        )
    frame = con.execute(sql, [start, end, start, end]).df()
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    frame["revenue"] = float("nan")
    frame["cogs_share_of_revenue"] = float("nan")
    if period == "month" and revenue is not None and not revenue.empty:
        frame = _add_revenue(frame, revenue)
    return frame


def _add_revenue(frame: pd.DataFrame, revenue: pd.DataFrame) -> pd.DataFrame:
    rev = revenue.copy()
    rev["month"] = pd.to_datetime(rev["month"]).dt.date
    org = rev.groupby("month")["revenue"].sum()
    by_customer = rev.dropna(subset=["customer"]).groupby(["month", "customer"])["revenue"].sum()
    out = frame.copy()
    is_org = out["dimension"] == "org"
    out.loc[is_org, "revenue"] = out.loc[is_org, "period_start"].map(org).astype("float64")
    is_customer = out["dimension"] == "customer"
    keys = list(
        zip(
            out.loc[is_customer, "period_start"],
            out.loc[is_customer, "dimension_value"],
            strict=True,
        )
    )
    out.loc[is_customer, "revenue"] = [float(by_customer.get(k, float("nan"))) for k in keys]
    out["cogs_share_of_revenue"] = out["billed_cost"] / out["revenue"].where(out["revenue"] > 0)
    return out
