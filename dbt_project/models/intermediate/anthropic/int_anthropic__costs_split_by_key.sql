-- Anthropic bills per workspace and description (model + token type), never per API key.
-- Each cost line is split over the keys that produced that token type for that model, tier,
-- context window and geo on that day, in proportion to their tokens. One price applies within
-- such a group, so the split is exact; rounding residue goes to the largest part, so parts
-- add up to the line to the last decimal. Lines with no matching usage keep api_key_id null.
-- Incremental by usage day (macros/day_versions.sql): a run rebuilds the days whose inputs changed.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={
        'day_inputs': [
            {'ref': 'stg_anthropic__costs'},
            {'ref': 'stg_anthropic__messages_usage'},
        ],
    },
) }}

with

{{ day_version_ctes() }}

costs as (

    select costs.*
    from {{ ref('stg_anthropic__costs') }} as costs
    {{ only_days_to_build('costs') }}

),

usage as (

    select usage.*
    from {{ ref('stg_anthropic__messages_usage') }} as usage
    {{ only_days_to_build('usage') }}

),

usage_by_token_type as (

    {% set token_columns = {
        'uncached_input_tokens': 'input_tokens',
        'cache_read_input_tokens': 'cached_input_tokens',
        'cache_creation.ephemeral_5m_input_tokens': 'cache_write_5m_tokens',
        'cache_creation.ephemeral_1h_input_tokens': 'cache_write_1h_tokens',
        'output_tokens': 'output_tokens',
    } %}
    {% for token_type, column in token_columns.items() %}
        select
            usage_date,
            project_id,
            api_key_id,
            model,
            service_tier,
            context_window,
            inference_geo,
            '{{ token_type }}' as token_type,
            {{ column }} as weight
        from usage
        where {{ column }} > 0
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

-- the usage each token line is split over: an inner join on the equal columns, then the
-- optional ones (a line without a context window or geo matches any). Written as a left join
-- with those conditions in its ON clause, DuckDB could not hash it and ran a nested loop
-- join, quadratic in the days of history (62 s of a 365-day build at `large`).
token_matches as (

    select
        c.cost_row_key,
        u.api_key_id,
        u.context_window,
        u.weight

    from costs as c
    inner join usage_by_token_type as u
        on
            c.usage_date = u.usage_date
            and c.project_id = u.project_id
            and c.model = u.model
            and c.token_type = u.token_type
            and coalesce(c.service_tier, 'standard') = u.service_tier
    where
        c.charge_type = 'usage'
        and (c.context_window is null or c.context_window = u.context_window)
        and (c.inference_geo is null or c.inference_geo = u.inference_geo)

),

token_lines as (

    select
        c.cost_row_key,
        c.usage_date,
        c.project_id,
        m.api_key_id,
        c.model,
        coalesce(c.service_tier, 'standard') as service_tier,
        -- the usage's bucket, so the bill lands on the same fact row as the tokens it prices
        coalesce(c.context_window, m.context_window) as context_window,
        c.charge_type,
        c.billing_currency,
        c.billed_cost,
        m.weight

    from costs as c
    left join token_matches as m
        on c.cost_row_key = m.cost_row_key
    where c.charge_type = 'usage'

),

web_search_lines as (

    select
        c.cost_row_key,
        c.usage_date,
        c.project_id,
        u.api_key_id,
        u.model,
        coalesce(u.service_tier, 'standard') as service_tier,
        cast(null as varchar) as context_window,
        c.charge_type,
        c.billing_currency,
        c.billed_cost,
        u.web_search_requests as weight

    from costs as c
    left join usage as u
        on
            c.usage_date = u.usage_date
            and c.project_id = u.project_id
            and u.web_search_requests > 0
    where c.charge_type = 'web_search'

),

other_lines as (

    select
        cost_row_key,
        usage_date,
        project_id,
        cast(null as varchar) as api_key_id,
        model,
        coalesce(service_tier, 'standard') as service_tier,
        context_window,
        charge_type,
        billing_currency,
        billed_cost,
        cast(null as bigint) as weight

    from costs
    where charge_type not in ('usage', 'web_search')

),

matched as (

    select * from token_lines
    union all
    select * from web_search_lines
    union all
    select * from other_lines

),

weighted as (

    select
        *,
        sum(weight) over (partition by cost_row_key) as total_weight,
        row_number() over (
            partition by cost_row_key
            order by weight desc nulls last, api_key_id asc, model asc
        ) as part_rank

    from matched

),

split as (

    select
        *,
        case
            when coalesce(total_weight, 0) = 0 then billed_cost
            else cast(billed_cost * weight / total_weight as {{ money_type() }})
        end as raw_part

    from weighted

),

split_parts as (

    select
        cost_row_key,
        usage_date,
        'anthropic' as provider,
        project_id,
        api_key_id,
        model,
        service_tier,
        context_window,
        charge_type,
        billing_currency,
        raw_part
        + case
            when part_rank = 1
                then billed_cost - sum(raw_part) over (partition by cost_row_key)
            else 0
        end as billed_cost

    from split

),

final as (

    {{ with_day_version('split_parts') }}

)

select * from final
