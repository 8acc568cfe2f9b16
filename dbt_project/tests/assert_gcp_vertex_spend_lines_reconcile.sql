-- Invariant 1 (nothing lost), Vertex AI: per UTC day and billing currency, the spend lines'
-- billed cost equals the raw billing-export AI rows' net cost (cost + credits, credits
-- negative) plus the FOCUS AI rows attributed to Google, to the cent. Returns the days that differ.
with

lines as (

    select
        usage_date,
        billing_currency,
        sum(billed_cost) as lines_cost
    from {{ ref('int_gcp_vertex__spend_lines') }}
    group by 1, 2

),

feeds as (

    select
        cast(left(usage_start_time, 10) as date) as usage_date,
        upper(currency) as billing_currency,
        cost + coalesce(credits_total, 0) as feed_cost
    from {{ source_or_empty('raw_gcp_billing', 'billing_export', raw_columns__raw_gcp_billing__billing_export()) }}
    where service_description in ('Vertex AI', 'Generative Language API') or service_description ilike '%claude%'

    union all

    select
        cast(left(charge_period_start, 10) as date) as usage_date,
        upper(billing_currency) as billing_currency,
        billed_cost as feed_cost
    from {{ source_or_empty('raw_focus', 'focus_rows', raw_columns__raw_focus__focus_rows()) }}
    where service_category = 'AI and Machine Learning' and provider_name in ('Google Cloud', 'Google', 'GCP')

),

feed_totals as (

    select
        usage_date,
        billing_currency,
        sum(feed_cost) as feed_cost
    from feeds
    group by 1, 2

),

compared as (

    select
        coalesce(lines.usage_date, feed_totals.usage_date) as usage_date,
        coalesce(lines.billing_currency, feed_totals.billing_currency) as billing_currency,
        coalesce(lines.lines_cost, 0) as lines_cost,
        coalesce(feed_totals.feed_cost, 0) as feed_cost
    from lines
    full outer join feed_totals
        on lines.usage_date = feed_totals.usage_date and lines.billing_currency = feed_totals.billing_currency

)

select *
from compared
where abs(lines_cost - feed_cost) >= {{ var('reconciliation_tolerance_usd') }}
