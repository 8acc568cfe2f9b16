-- One row per usage_date, provider, project_id, api_key_id, user_email, model, service_tier,
-- context_window, charge_type, billing_currency and tags: what was billed and what was used.
-- Usage and bills arrive at different grains, so every provider's lines (usage lines with
-- tokens, cost lines with the bill) are summed per grain: a union, not a join, so a null key
-- such as Console usage or a project-level charge can never drop a row.
--
-- Cost bases are separate columns and never added to one another: billed (the invoice),
-- effective (after credits and amortised commitments), list (price book x usage) and estimated
-- (list, only on provider-days that have no bill yet). A model the price book does not know is
-- `unpriced` with a null list cost, never 0.
--
-- Incremental by usage day (macros/day_versions.sql): a run rebuilds the days whose spend lines
-- changed, and every day when the price book did. `_day_version` is that bookkeeping.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={
        'day_inputs': [{'ref': 'int_spend_lines_unioned', 'piece': 'version'}],
        'day_fingerprints': ['price_book'],
    },
) }}

with

{{ day_version_ctes() }}

lines as (

    select lines.*
    from {{ ref('int_spend_lines_unioned') }} as lines
    {{ only_days_to_build('lines') }}

),

price_book as (

    select * from {{ ref('int_price_book') }}

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
        context_window,
        charge_type,
        billing_currency,
        tags,
        reporting_currency,
        max(usd_per_reporting_unit) as usd_per_reporting_unit,
        cast(sum(billed_cost) as {{ money_type() }}) as billed_cost,
        cast(sum(billed_cost_usd) as {{ money_type() }}) as billed_cost_usd,
        cast(sum(billed_cost_reporting) as {{ money_type() }}) as billed_cost_reporting,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(cached_input_tokens) as bigint) as cached_input_tokens,
        cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
        cast(sum(cache_write_1h_tokens) as bigint) as cache_write_1h_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(requests) as bigint) as requests,
        cast(sum(web_search_requests) as bigint) as web_search_requests,
        bool_or(has_usage) as has_usage,
        bool_or(has_bill) as has_bill

    from lines
    group by
        usage_date,
        provider,
        project_id,
        api_key_id,
        user_email,
        model,
        service_tier,
        context_window,
        charge_type,
        billing_currency,
        tags,
        reporting_currency

),

keyed as (

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
                coalesce(context_window, '~'),
                charge_type,
                billing_currency,
                coalesce(tags, '~')
            )
        ) as spend_key,
        *,
        -- Anthropic reports '0-200k' or '200k-1M'; a long-context request is priced at the tier
        coalesce(context_window is not null and context_window not like '0-%', false) as is_long_context,
        case when service_tier = 'batch' then 'batch' else 'standard' end as price_tier,
        -- a provider-day with usage but no bill yet (the Costs API lags): estimate it
        not bool_or(has_bill) over (partition by provider, usage_date) as is_unbilled_day

    from aggregated

),

price_candidates as (

    select
        keyed.spend_key,
        price_book.service_tier = keyed.price_tier as is_row_tier,
        price_book.service_tier = 'standard' as is_standard_tier,
        price_book.token_class,
        cast(price_book.usd_per_million as {{ money_type() }}) as usd_per_million,
        price_book.price_source,
        price_book.matched_model_id,
        -- a long-context row takes the highest tier it reaches
        row_number() over (
            partition by keyed.spend_key, price_book.service_tier, price_book.token_class
            order by price_book.tier_min_input_tokens desc
        ) as tier_rank
    from keyed
    inner join price_book
        on
            keyed.provider = price_book.provider
            and keyed.model = price_book.model
            and price_book.service_tier in ('standard', keyed.price_tier)
            and keyed.usage_date >= price_book.valid_from
            and (price_book.valid_to is null or keyed.usage_date < price_book.valid_to)
            and (keyed.is_long_context or price_book.tier_min_input_tokens = 0)

),

matched_prices as (

    select *
    from price_candidates
    where tier_rank = 1

),

pivoted as (

    select
        spend_key,
        {% for tier in ['row', 'standard'] %}
            {% for token_class in ['input', 'cached_input', 'cache_write_5m', 'cache_write_1h', 'output'] %}
                max(usd_per_million) filter (
                    where is_{{ tier }}_tier and token_class = '{{ token_class }}'
                ) as {{ tier }}_{{ token_class }}_price,
            {% endfor %}
        {% endfor %}
        max(price_source) filter (where is_row_tier) as price_source,
        max(matched_model_id) as price_model_id
    from matched_prices
    group by spend_key

),

{#- Token classes a price book may leave out are billed at the input price (OpenAI and Gemini
    charge nothing extra to write a cache; no cache discount means input price); a 1h cache
    write with no price of its own uses the 5m one. -#}
{#- A class with no tokens adds nothing, priced or not (an embedding model has no output
    price). -#}
{% set token_cost -%}
    case when input_tokens = 0 then 0 else input_tokens * {tier}_input_price end
    + case
        when cached_input_tokens = 0 then 0
        else cached_input_tokens * coalesce({tier}_cached_input_price, {tier}_input_price)
    end
    + case
        when cache_write_tokens = cache_write_1h_tokens then 0
        else (cache_write_tokens - cache_write_1h_tokens) * coalesce({tier}_cache_write_5m_price, {tier}_input_price)
    end
    + case
        when cache_write_1h_tokens = 0 then 0
        else cache_write_1h_tokens * coalesce({tier}_cache_write_1h_price, {tier}_cache_write_5m_price, {tier}_input_price)
    end
    + case when output_tokens = 0 then 0 else output_tokens * {tier}_output_price end
{%- endset %}

priced as (

    select
        keyed.*,
        pivoted.price_source,
        pivoted.price_model_id,
        case
            when keyed.input_tokens + keyed.cached_input_tokens + keyed.cache_write_tokens + keyed.output_tokens = 0
                then 'not_applicable'
            when
                (keyed.input_tokens + keyed.cached_input_tokens + keyed.cache_write_tokens > 0 and pivoted.row_input_price is null)
                or (keyed.output_tokens > 0 and pivoted.row_output_price is null)
                then 'unpriced'
            else 'priced'
        end as pricing_status,
        cast(({{ token_cost.replace('{tier}', 'row') }}) * 0.000001 as {{ money_type() }}) as list_cost_row,
        cast(({{ token_cost.replace('{tier}', 'standard') }}) * 0.000001 as {{ money_type() }}) as list_cost_standard,
        cast(
            (
                keyed.cached_input_tokens * (pivoted.row_input_price - coalesce(pivoted.row_cached_input_price, pivoted.row_input_price))
                - (keyed.cache_write_tokens - keyed.cache_write_1h_tokens)
                * (coalesce(pivoted.row_cache_write_5m_price, pivoted.row_input_price) - pivoted.row_input_price)
                - keyed.cache_write_1h_tokens
                * (
                    coalesce(pivoted.row_cache_write_1h_price, pivoted.row_cache_write_5m_price, pivoted.row_input_price)
                    - pivoted.row_input_price
                )
            ) * 0.000001 as {{ money_type() }}
        ) as caching_savings_row
    from keyed
    left join pivoted on keyed.spend_key = pivoted.spend_key

),

bases as (

    select
        *,
        billed_cost as effective_cost,
        billed_cost_usd as effective_cost_usd,
        billed_cost_reporting as effective_cost_reporting,
        -- every amount in the money type, whatever the engine makes of a case or a coalesce
        cast(case when pricing_status = 'priced' then list_cost_row end as {{ money_type() }}) as list_cost_usd,
        cast(
            case when pricing_status = 'priced' and is_unbilled_day then list_cost_row end as {{ money_type() }}
        ) as estimated_cost_usd,
        cast(
            case when pricing_status = 'priced' then coalesce(caching_savings_row, 0) end as {{ money_type() }}
        ) as caching_savings_usd,
        cast(
            case
                when pricing_status = 'priced' then coalesce(list_cost_standard - list_cost_row, 0)
            end as {{ money_type() }}
        ) as batch_savings_usd,
        cast(
            case
                when pricing_status = 'priced' and has_bill then list_cost_row - billed_cost_usd
            end as {{ money_type() }}
        ) as discount_savings_usd
    from priced

),

fact_rows as (

    select
        spend_key,
        usage_date,
        provider,
        project_id,
        api_key_id,
        user_email,
        model,
        service_tier,
        context_window,
        charge_type,
        billing_currency,
        billed_cost,
        effective_cost,
        billed_cost_usd,
        effective_cost_usd,
        list_cost_usd,
        estimated_cost_usd,
        reporting_currency,
        billed_cost_reporting,
        effective_cost_reporting,
        cast(
            case
                when reporting_currency = 'USD' then list_cost_usd
                else list_cost_usd / usd_per_reporting_unit
            end as {{ money_type() }}
        ) as list_cost_reporting,
        cast(
            case
                when reporting_currency = 'USD' then estimated_cost_usd
                else estimated_cost_usd / usd_per_reporting_unit
            end as {{ money_type() }}
        ) as estimated_cost_reporting,
        pricing_status,
        price_source,
        price_model_id,
        caching_savings_usd,
        batch_savings_usd,
        discount_savings_usd,
        input_tokens,
        cached_input_tokens,
        cache_write_tokens,
        cache_write_1h_tokens,
        output_tokens,
        input_tokens + cached_input_tokens + cache_write_tokens as total_input_tokens,
        requests,
        web_search_requests,
        tags,
        has_usage,
        has_bill,
        is_unbilled_day

    from bases

),

final as (

    {{ with_day_version('fact_rows') }}

)

select * from final
