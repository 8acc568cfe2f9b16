-- Every API key seen in usage or bills, with the project (OpenAI) or workspace (Anthropic) it
-- belongs to. Keys are ids, not secrets: the providers never return key material here.
with

spend as (

    select * from {{ ref('fct_ai_spend') }}

),

keys as (

    select
        provider,
        api_key_id,
        -- a key belongs to one project; the latest one wins if a provider ever moves it
        {{ arg_max("project_id", "usage_date") }} as project_id,
        min(usage_date) as first_seen_date,
        max(usage_date) as last_seen_date,
        sum(billed_cost_usd) as billed_cost_usd,
        sum(requests) as requests

    from spend
    where api_key_id is not null
    group by 1, 2

),

final as (

    select
        md5(provider || '|' || api_key_id) as api_key_key,
        provider,
        api_key_id,
        project_id,
        first_seen_date,
        last_seen_date,
        billed_cost_usd,
        requests

    from keys

)

select * from final
