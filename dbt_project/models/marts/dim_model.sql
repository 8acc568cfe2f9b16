-- Every model seen in usage or bills, with the provider that served it.
with

spend as (

    select * from {{ ref('fct_ai_spend') }}

),

models as (

    select
        provider,
        model,
        min(usage_date) as first_seen_date,
        max(usage_date) as last_seen_date,
        sum(billed_cost_usd) as billed_cost_usd,
        sum(total_input_tokens) as total_input_tokens,
        sum(output_tokens) as output_tokens,
        sum(list_cost_usd) as list_cost_usd,
        count(*) filter (where pricing_status = 'unpriced') as unpriced_rows,
        max(price_model_id) as price_model_id,
        max(price_source) as price_source

    from spend
    where model is not null
    group by 1, 2

),

final as (

    select
        md5(provider || '|' || model) as model_key,
        provider,
        model,
        -- "gpt-4o-2024-08-06" and "claude-sonnet-4-20250514" belong to the families
        -- "gpt-4o" and "claude-sonnet-4": strip a trailing release date
        regexp_replace(model, '-(\d{4}-\d{2}-\d{2}|\d{8})$', '') as model_family,
        first_seen_date,
        last_seen_date,
        billed_cost_usd,
        total_input_tokens,
        output_tokens,
        list_cost_usd,
        unpriced_rows,
        case
            when unpriced_rows > 0 then 'unpriced'
            when price_model_id is not null then 'priced'
            else 'not_applicable'
        end as pricing_status,
        price_model_id,
        price_source

    from models

)

select * from final
