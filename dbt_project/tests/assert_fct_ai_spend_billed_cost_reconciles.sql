-- Invariant 1 (nothing lost), OpenAI and Anthropic APIs: per provider and UTC day, the fact's billed cost equals the
-- providers' raw cost feeds to the cent. Returns the provider-days that differ.
{{ config(meta={'dagster': {'ref': {'name': 'fct_ai_spend'}}}) }}

with

fact as (

    select
        provider,
        usage_date,
        sum(billed_cost) as fact_cost
    from {{ ref('fct_ai_spend') }}
    -- the API providers whose raw feeds are read below; export providers have their own tests
    where provider in ('openai', 'anthropic')
    group by 1, 2

),

feeds as (

    select
        'openai' as provider,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        sum(amount_value) as feed_cost
    from {{ source_or_empty('raw_openai', 'costs', raw_columns__raw_openai__costs()) }}
    group by 1, 2

    union all

    select
        'anthropic' as provider,
        {{ unix_to_utc_date('bucket_start') }} as usage_date,
        sum(amount_cents) / 100 as feed_cost
    from {{ source_or_empty('raw_anthropic', 'cost_report', raw_columns__raw_anthropic__cost_report()) }}
    group by 1, 2

),

compared as (

    select
        coalesce(fact.provider, feeds.provider) as provider,
        coalesce(fact.usage_date, feeds.usage_date) as usage_date,
        coalesce(fact.fact_cost, 0) as fact_cost,
        coalesce(feeds.feed_cost, 0) as feed_cost
    from fact
    full outer join feeds
        on fact.provider = feeds.provider and fact.usage_date = feeds.usage_date

)

select *
from compared
where abs(fact_cost - feed_cost) >= {{ var('reconciliation_tolerance_usd') }}
