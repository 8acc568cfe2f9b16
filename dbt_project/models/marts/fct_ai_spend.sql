-- One row per usage_date, provider, project_id, api_key_id, model, service_tier and
-- charge_type: what was billed and what was used. Usage and bills arrive at different grains,
-- so both sides are brought to this grain and summed (a union, not a join: a null key such
-- as Console usage or a project-level charge can never drop a row).
with

usage as (

    select * from {{ ref('int_usage_unioned') }}

),

billed as (

    select * from {{ ref('int_billed_cost_unioned') }}

),

unioned as (

    select
        usage_date,
        provider,
        project_id,
        api_key_id,
        model,
        service_tier,
        'usage' as charge_type,
        cast(0 as {{ money_type() }}) as billed_cost_usd,
        input_tokens,
        cached_input_tokens,
        cache_write_tokens,
        output_tokens,
        requests,
        web_search_requests,
        1 as usage_rows,
        0 as billed_rows

    from usage

    union all

    select
        usage_date,
        provider,
        project_id,
        api_key_id,
        model,
        service_tier,
        charge_type,
        -- every provider bills in USD today; stg tests reject any other currency until the
        -- FX conversion lands
        billed_cost as billed_cost_usd,
        0 as input_tokens,
        0 as cached_input_tokens,
        0 as cache_write_tokens,
        0 as output_tokens,
        cast(null as bigint) as requests,
        0 as web_search_requests,
        0 as usage_rows,
        1 as billed_rows

    from billed

),

aggregated as (

    select
        usage_date,
        provider,
        project_id,
        api_key_id,
        model,
        service_tier,
        charge_type,
        cast(sum(billed_cost_usd) as {{ money_type() }}) as billed_cost_usd,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(cached_input_tokens) as bigint) as cached_input_tokens,
        cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(requests) as bigint) as requests,
        cast(sum(web_search_requests) as bigint) as web_search_requests,
        sum(usage_rows) > 0 as has_usage,
        sum(billed_rows) > 0 as has_bill

    from unioned
    group by 1, 2, 3, 4, 5, 6, 7

),

final as (

    select
        md5(
            concat_ws(
                '|',
                cast(usage_date as varchar),
                provider,
                coalesce(project_id, '~'),
                coalesce(api_key_id, '~'),
                coalesce(model, '~'),
                service_tier,
                charge_type
            )
        ) as spend_key,
        usage_date,
        provider,
        project_id,
        api_key_id,
        model,
        service_tier,
        charge_type,
        'USD' as billing_currency,
        billed_cost_usd,
        input_tokens,
        cached_input_tokens,
        cache_write_tokens,
        output_tokens,
        input_tokens + cached_input_tokens + cache_write_tokens as total_input_tokens,
        requests,
        web_search_requests,
        has_usage,
        has_bill

    from aggregated

)

select * from final
