-- The savings ledger: per UTC day, provider, model, team and feature, what prompt caching, the
-- batch tier and discounts saved against list price, in US dollars. Built from the allocated
-- fact, so it splits the way the bill does. Only priced usage with a bill counts: list cost is
-- unknown for an unpriced model and means nothing for a charge with no tokens.
--   caching_savings_usd   cache reads at the cached price instead of the input price, net of
--                         what cache writes cost above the input price (can be negative)
--   batch_savings_usd     the batch tier's price against the standard tier's
--   discount_savings_usd  list cost - billed cost: negotiated discounts, credits and prices the
--                         price book does not know (negative when billed above list)
with

allocated as (

    select * from {{ ref('fct_ai_spend_allocated') }}
    where pricing_status = 'priced' and has_bill

),

final as (

    select
        usage_date,
        provider,
        model,
        team,
        feature,
        cast(sum(billed_cost_usd) as {{ money_type() }}) as billed_cost_usd,
        cast(sum(list_cost_usd) as {{ money_type() }}) as list_cost_usd,
        cast(sum(caching_savings_usd) as {{ money_type() }}) as caching_savings_usd,
        cast(sum(batch_savings_usd) as {{ money_type() }}) as batch_savings_usd,
        cast(sum(discount_savings_usd) as {{ money_type() }}) as discount_savings_usd,
        cast(
            sum(caching_savings_usd) + sum(batch_savings_usd) + sum(discount_savings_usd)
            as {{ money_type() }}
        ) as total_savings_usd,
        -- what the same usage would have cost with no caching, no batch and no discount
        cast(
            sum(list_cost_usd) + sum(caching_savings_usd) + sum(batch_savings_usd)
            as {{ money_type() }}
        ) as undiscounted_list_cost_usd

    from allocated
    group by usage_date, provider, model, team, feature

)

select * from final
