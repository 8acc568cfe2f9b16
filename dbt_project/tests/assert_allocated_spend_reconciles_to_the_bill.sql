-- Allocation is complete: per provider, UTC day and billing currency, the allocated billed cost
-- (unallocated parts included) equals the fact's billed cost, which the other reconciliation
-- tests tie to what the provider reported. Parts are split exactly, so the sums must match to
-- the cent in the billing currency, in US dollars and in the reporting currency.
{{ config(meta={'dagster': {'ref': {'name': 'fct_ai_spend_allocated'}}}) }}

with

fact as (

    select
        provider,
        usage_date,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(billed_cost_usd) as billed_cost_usd,
        sum(billed_cost_reporting) as billed_cost_reporting
    from {{ ref('fct_ai_spend') }}
    group by 1, 2, 3

),

allocated as (

    select
        provider,
        usage_date,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(billed_cost_usd) as billed_cost_usd,
        sum(billed_cost_reporting) as billed_cost_reporting
    from {{ ref('fct_ai_spend_allocated') }}
    group by 1, 2, 3

),

compared as (

    select
        coalesce(fact.provider, allocated.provider) as provider,
        coalesce(fact.usage_date, allocated.usage_date) as usage_date,
        coalesce(fact.billing_currency, allocated.billing_currency) as billing_currency,
        fact.billed_cost as fact_billed_cost,
        allocated.billed_cost as allocated_billed_cost,
        fact.billed_cost_usd as fact_billed_cost_usd,
        allocated.billed_cost_usd as allocated_billed_cost_usd,
        fact.billed_cost_reporting as fact_billed_cost_reporting,
        allocated.billed_cost_reporting as allocated_billed_cost_reporting
    from fact
    full outer join allocated
        on
            fact.provider = allocated.provider
            and fact.usage_date = allocated.usage_date
            and fact.billing_currency = allocated.billing_currency

)

select *
from compared
where
    fact_billed_cost is null
    or allocated_billed_cost is null
    or round(fact_billed_cost, 2) != round(allocated_billed_cost, 2)
    or round(fact_billed_cost_usd, 2) != round(allocated_billed_cost_usd, 2)
    or round(fact_billed_cost_reporting, 2) != round(allocated_billed_cost_reporting, 2)
