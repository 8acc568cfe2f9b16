-- OpenAI at the fact grain (see docs/adding-a-source.md): usage lines carry tokens, cost lines
-- carry the bill; the fact sums both per grain.
-- Incremental by usage day (macros/day_versions.sql): a run rebuilds the days whose loads changed.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={'day_inputs': [
        {'ref': 'stg_openai__completions_usage'},
        {'ref': 'stg_openai__other_usage'},
        {'ref': 'stg_openai__costs'},
    ]},
) }}

with

{{ day_version_ctes() }}

usage as (

    select usage.*
    from {{ ref('stg_openai__completions_usage') }} as usage
    {{ only_days_to_build('usage') }}

),

other_usage as (

    select other_usage.*
    from {{ ref('stg_openai__other_usage') }} as other_usage
    {{ only_days_to_build('other_usage') }}

),

costs as (

    select costs.*
    from {{ ref('stg_openai__costs') }} as costs
    {{ only_days_to_build('costs') }}

),

usage_lines as (

    select
        usage_date,
        'openai' as provider,
        project_id,
        api_key_id,
        cast(null as varchar) as user_email,
        model,
        -- the Costs API only tells batch from non-batch, so that is the tier kept here
        case when is_batch then 'batch' else 'standard' end as service_tier,
        cast(null as varchar) as context_window,
        'usage' as charge_type,
        'USD' as billing_currency,
        cast(0 as {{ money_type() }}) as billed_cost,
        cast(null as {{ money_type() }}) as usd_per_billing_unit,
        input_tokens,
        cached_input_tokens,
        cache_write_tokens,
        cast(0 as bigint) as cache_write_1h_tokens,
        output_tokens,
        requests,
        cast(0 as bigint) as web_search_requests,
        cast(null as varchar) as tags,
        true as has_usage,
        false as has_bill

    from usage

),

other_usage_lines as (

    select
        usage_date,
        'openai' as provider,
        project_id,
        api_key_id,
        cast(null as varchar) as user_email,
        model,
        'standard' as service_tier,
        cast(null as varchar) as context_window,
        charge_type,
        'USD' as billing_currency,
        cast(0 as {{ money_type() }}) as billed_cost,
        cast(null as {{ money_type() }}) as usd_per_billing_unit,
        input_tokens,
        cast(0 as bigint) as cached_input_tokens,
        cast(0 as bigint) as cache_write_tokens,
        cast(0 as bigint) as cache_write_1h_tokens,
        cast(0 as bigint) as output_tokens,
        requests,
        cast(0 as bigint) as web_search_requests,
        cast(null as varchar) as tags,
        true as has_usage,
        false as has_bill

    from other_usage

),

cost_lines as (

    select
        usage_date,
        'openai' as provider,
        project_id,
        api_key_id,
        cast(null as varchar) as user_email,
        line_item_model as model,
        service_tier,
        cast(null as varchar) as context_window,
        charge_type,
        billing_currency,
        billed_cost,
        cast(null as {{ money_type() }}) as usd_per_billing_unit,
        cast(0 as bigint) as input_tokens,
        cast(0 as bigint) as cached_input_tokens,
        cast(0 as bigint) as cache_write_tokens,
        cast(0 as bigint) as cache_write_1h_tokens,
        cast(0 as bigint) as output_tokens,
        cast(null as bigint) as requests,
        cast(0 as bigint) as web_search_requests,
        cast(null as varchar) as tags,
        false as has_usage,
        true as has_bill

    from costs

),

lines as (

    select * from usage_lines
    union all
    select * from other_usage_lines
    union all
    select * from cost_lines

),

-- usage comes in hourly buckets: summed to the fact grain per day
summed as (

    {{ sum_spend_lines('lines') }}

),

final as (

    {{ with_day_version('summed') }}

)

select * from final
