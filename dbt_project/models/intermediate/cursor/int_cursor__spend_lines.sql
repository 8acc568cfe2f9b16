-- Cursor at the fact grain (see docs/adding-a-source.md): one line per UTC day, developer and
-- model. billed_cost is the events' chargedCents / 100 (0 for usage included in the plan); seat
-- fees are not in the Admin API's events and are not modelled here.
-- Incremental by usage day (macros/day_versions.sql): a run rebuilds the days whose inputs changed.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={
        'day_inputs': [
            {'ref': 'stg_cursor__usage_events'},
        ],
    },
) }}

with

{{ day_version_ctes() }}

events as (

    select events.*
    from {{ ref('stg_cursor__usage_events') }} as events
    {{ only_days_to_build('events') }}

),

lines as (

    select
        usage_date,
        'cursor' as provider,
        'cursor_team' as project_id,
        cast(null as varchar) as api_key_id,
        user_email,
        model,
        'standard' as service_tier,
        cast(null as varchar) as context_window,
        'usage' as charge_type,
        'USD' as billing_currency,
        cast(sum(charged_cost_usd) as {{ money_type() }}) as billed_cost,
        cast(null as {{ money_type() }}) as usd_per_billing_unit,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(cached_input_tokens) as bigint) as cached_input_tokens,
        cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
        cast(0 as bigint) as cache_write_1h_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(count(*) as bigint) as requests,
        cast(0 as bigint) as web_search_requests,
        cast(null as varchar) as tags,
        true as has_usage,
        true as has_bill

    from events
    group by usage_date, user_email, model

),

final as (

    {{ with_day_version('lines') }}

)

select * from final
