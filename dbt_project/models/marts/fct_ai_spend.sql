-- One row per usage_date, provider, project_id, api_key_id, user_email, model, service_tier,
-- charge_type, billing_currency and tags: what was billed and what was used. Usage and bills
-- arrive at different grains, so every provider's lines (usage lines with tokens, cost lines
-- with the bill) are summed per grain: a union, not a join, so a null key such as Console
-- usage or a project-level charge can never drop a row.
with

lines as (

    select * from {{ ref('int_spend_lines_unioned') }}

),

aggregated as (

    select
        usage_date,
        provider,
        project_id,
        api_key_id,
        user_email,
        model,
        service_tier,
        charge_type,
        billing_currency,
        tags,
        cast(sum(billed_cost) as {{ money_type() }}) as billed_cost,
        cast(sum(billed_cost_usd) as {{ money_type() }}) as billed_cost_usd,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(cached_input_tokens) as bigint) as cached_input_tokens,
        cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(requests) as bigint) as requests,
        cast(sum(web_search_requests) as bigint) as web_search_requests,
        bool_or(has_usage) as has_usage,
        bool_or(has_bill) as has_bill

    from lines
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10

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
                coalesce(user_email, '~'),
                coalesce(model, '~'),
                service_tier,
                charge_type,
                billing_currency,
                coalesce(tags, '~')
            )
        ) as spend_key,
        usage_date,
        provider,
        project_id,
        api_key_id,
        user_email,
        model,
        service_tier,
        charge_type,
        billing_currency,
        billed_cost,
        billed_cost_usd,
        input_tokens,
        cached_input_tokens,
        cache_write_tokens,
        output_tokens,
        input_tokens + cached_input_tokens + cache_write_tokens as total_input_tokens,
        requests,
        web_search_requests,
        tags,
        has_usage,
        has_bill

    from aggregated

)

select * from final
