-- Vertex AI (Gemini) at the fact grain (see docs/adding-a-source.md): one usage line per
-- billing-export row of an AI service (gross cost and tokens) and one credit line per row that
-- carries credits (their negative sum), plus the AI rows of a FOCUS export attributed to Google.
-- Incremental by usage day (macros/day_versions.sql): a run rebuilds the days whose inputs changed.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={
        'day_inputs': [
            {'ref': 'stg_gcp_billing__billing_export'},
            {'ref': 'stg_focus__focus_rows'},
        ],
    },
) }}

with

{{ day_version_ctes() }}

export_rows as (

    select export_rows.*
    from {{ ref('stg_gcp_billing__billing_export') }} as export_rows
    {{ only_days_to_build('export_rows') }}
    where export_rows.is_ai

),

focus as (

    select focus.*
    from {{ ref('stg_focus__focus_rows') }} as focus
    {{ only_days_to_build('focus') }}
    where focus.is_ai and focus.provider = 'gcp_vertex'

),

focus_lines as (

    -- AI rows a FOCUS export (a separate billing account) attributes to this provider
    select
        usage_date,
        'gcp_vertex' as provider,
        project_id,
        resource_id as api_key_id,
        cast(null as varchar) as user_email,
        model,
        service_tier,
        cast(null as varchar) as context_window,
        charge_type,
        billing_currency,
        billed_cost,
        cast(null as {{ money_type() }}) as usd_per_billing_unit,
        case when token_class = 'input' then tokens else 0 end as input_tokens,
        case when token_class = 'cached_input' then tokens else 0 end as cached_input_tokens,
        case when token_class = 'cache_write' then tokens else 0 end as cache_write_tokens,
        cast(0 as bigint) as cache_write_1h_tokens,
        case when token_class = 'output' then tokens else 0 end as output_tokens,
        cast(null as bigint) as requests,
        cast(0 as bigint) as web_search_requests,
        tags,
        charge_type = 'usage' as has_usage,
        true as has_bill

    from focus

),

cost_lines as (

    select
        usage_date,
        'gcp_vertex' as provider,
        project_id,
        cast(null as varchar) as api_key_id,
        cast(null as varchar) as user_email,
        model,
        service_tier,
        cast(null as varchar) as context_window,
        charge_type,
        billing_currency,
        cost as billed_cost,
        usd_per_billing_unit,
        case when token_class = 'input' then tokens else 0 end as input_tokens,
        case when token_class = 'cached_input' then tokens else 0 end as cached_input_tokens,
        case when token_class = 'cache_write' then tokens else 0 end as cache_write_tokens,
        cast(0 as bigint) as cache_write_1h_tokens,
        case when token_class = 'output' then tokens else 0 end as output_tokens,
        cast(null as bigint) as requests,
        cast(0 as bigint) as web_search_requests,
        tags,
        charge_type = 'usage' as has_usage,
        true as has_bill

    from export_rows

),

credit_lines as (

    select
        usage_date,
        'gcp_vertex' as provider,
        project_id,
        cast(null as varchar) as api_key_id,
        cast(null as varchar) as user_email,
        model,
        service_tier,
        cast(null as varchar) as context_window,
        'credit' as charge_type,
        billing_currency,
        credits_total as billed_cost,
        usd_per_billing_unit,
        cast(0 as bigint) as input_tokens,
        cast(0 as bigint) as cached_input_tokens,
        cast(0 as bigint) as cache_write_tokens,
        cast(0 as bigint) as cache_write_1h_tokens,
        cast(0 as bigint) as output_tokens,
        cast(null as bigint) as requests,
        cast(0 as bigint) as web_search_requests,
        tags,
        false as has_usage,
        true as has_bill

    from export_rows
    where credits_total != 0

),

lines as (

    select * from cost_lines
    union all
    select * from credit_lines
    union all
    select * from focus_lines

),

final as (

    {{ with_day_version('lines') }}

)

select * from final
