-- Invariant 1 (nothing lost), Azure OpenAI: per UTC day and billing currency, the spend lines'
-- billed cost equals the raw cost-details Azure OpenAI rows (EA and MCA) plus the FOCUS AI
-- rows of Microsoft billing accounts, to the cent. Returns the days that differ.
with

lines as (

    select
        usage_date,
        billing_currency,
        sum(billed_cost) as lines_cost
    from {{ ref('int_azure_openai__spend_lines') }}
    group by 1, 2

),

feeds as (

    select
        date as usage_date,
        upper(billing_currency) as billing_currency,
        cost_in_billing_currency as feed_cost
    from {{ source_or_empty('raw_azure_cost', 'cost_details', raw_columns__raw_azure_cost__cost_details()) }}
    where
        (meter_category = 'Cognitive Services' and meter_sub_category ilike 'Azure OpenAI%')
        or product_name ilike 'Azure OpenAI%'

    union all

    select
        cast(left(charge_period_start, 10) as date) as usage_date,
        upper(billing_currency) as billing_currency,
        billed_cost as feed_cost
    from {{ source_or_empty('raw_focus', 'focus_rows', raw_columns__raw_focus__focus_rows()) }}
    where
        service_category = 'AI and Machine Learning'
        and provider_name in ('Microsoft', 'Azure', 'Microsoft Azure')

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
