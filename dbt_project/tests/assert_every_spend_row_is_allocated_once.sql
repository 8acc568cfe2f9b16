-- Nothing lost, nothing doubled: every fact row is split into parts whose shares add up to one
-- and whose billed costs add up to the row exactly.
{{ config(meta={'dagster': {'ref': {'name': 'fct_ai_spend_allocated'}}}) }}

with

parts as (

    select
        spend_key,
        sum(allocation_share) as share,
        sum(billed_cost) as billed_cost
    from {{ ref('fct_ai_spend_allocated') }}
    group by spend_key

)

select
    fact.spend_key,
    fact.billed_cost,
    parts.billed_cost as allocated_billed_cost,
    parts.share
from {{ ref('fct_ai_spend') }} as fact
left join parts on fact.spend_key = parts.spend_key
where
    parts.spend_key is null
    or abs(parts.share - 1) > 0.000001
    or parts.billed_cost != fact.billed_cost
