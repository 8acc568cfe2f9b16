-- Amazon Bedrock at the fact grain (see docs/adding-a-source.md): one line per CUR line item
-- of Bedrock (first-party and AWS Marketplace models, incl. their credit and tax lines), plus
-- the AI rows of a FOCUS export attributed to AWS. CUR rows carry usage and cost together.
-- Incremental by usage day (macros/day_versions.sql): a run rebuilds the days whose inputs changed.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={
        'day_inputs': [
            {'ref': 'stg_aws_cur__line_items'},
            {'ref': 'stg_focus__focus_rows'},
        ],
    },
) }}

with

{{ day_version_ctes() }}

line_items as (

    select line_items.*
    from {{ ref('stg_aws_cur__line_items') }} as line_items
    {{ only_days_to_build('line_items') }}
    where line_items.is_ai

),

focus as (

    select focus.*
    from {{ ref('stg_focus__focus_rows') }} as focus
    {{ only_days_to_build('focus') }}
    where focus.is_ai and focus.provider = 'aws_bedrock'

),

focus_lines as (

    -- AI rows a FOCUS export (a separate billing account) attributes to this provider
    select
        usage_date,
        'aws_bedrock' as provider,
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

cur_lines as (

    select
        usage_date,
        'aws_bedrock' as provider,
        account_id as project_id,
        coalesce(resource_id, iam_principal) as api_key_id,
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

    from line_items

),

lines as (

    select * from cur_lines
    union all
    select * from focus_lines

),

final as (

    {{ with_day_version('lines') }}

)

select * from final
