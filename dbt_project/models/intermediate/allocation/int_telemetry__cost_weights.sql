-- The applications' requests per UTC day, provider, API key, model, team, feature and customer,
-- with their estimated cost (tokens x the list price of that day). These are the weights of the
-- true-up: a shared key's bill is spread over its requests by their share of estimated cost.
-- A group where some model has no price falls back to tokens, then to requests, so that the
-- weights of one group are always in one unit.
-- Incremental by request day: each run prices only the request days whose telemetry changed
-- (the pre-hook finds and deletes them), and every day again when the price book changed
-- (its fingerprint is stored on each row). `dbt build --full-refresh` rebuilds it whole.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}{{ delete_days_to_rebuild(this, 'request_date in (' ~ telemetry_changed_request_days(ref('int_telemetry__daily_usage'), this, 'api_key_id is not null') ~ ') or price_book_fingerprint is distinct from (' ~ price_book_fingerprint(ref('int_price_book')) ~ ')', {'load_id': 'varchar', 'price_book_fingerprint': 'varchar'}) }}{% endif %}"
) }}

with

{% if is_incremental() %}
    -- only the request days not built: new, changed (deleted by the pre-hook) or all of them
    -- after a price change
    days_to_build as (

        {{ days_not_built(ref('int_telemetry__daily_usage'), this, 'request_date', 'api_key_id is not null') }}

    ),
{% endif %}

usage as (

    select daily.*
    from {{ ref('int_telemetry__daily_usage') }} as daily
    {% if is_incremental() %}
        inner join days_to_build on daily.request_date = days_to_build.day_to_build
    {% endif %}
    where daily.api_key_id is not null

),

fingerprint as (

    {{ price_book_fingerprint(ref('int_price_book')) }}

),

price_book as (

    select * from {{ ref('int_price_book') }}
    where service_tier = 'standard' and tier_min_input_tokens = 0

),

-- the list prices of each provider, model and day that has usage: priced once per day, not
-- once per usage row (millions a year at `large`)
usage_days as (

    select distinct
        provider,
        model,
        request_date
    from usage

),

prices as (

    select
        usage_days.provider,
        usage_days.model,
        usage_days.request_date,
        max(cast(price_book.usd_per_million as {{ money_type() }})) filter (where price_book.token_class = 'input') as input_price,
        max(cast(price_book.usd_per_million as {{ money_type() }})) filter (where price_book.token_class = 'cached_input')
            as cached_input_price,
        max(cast(price_book.usd_per_million as {{ money_type() }})) filter (where price_book.token_class = 'cache_write_5m')
            as cache_write_price,
        max(cast(price_book.usd_per_million as {{ money_type() }})) filter (where price_book.token_class = 'output') as output_price
    from usage_days
    inner join price_book
        on
            usage_days.provider = price_book.provider
            and usage_days.model = price_book.model
            and usage_days.request_date >= price_book.valid_from
            and (price_book.valid_to is null or usage_days.request_date < price_book.valid_to)
    group by usage_days.provider, usage_days.model, usage_days.request_date

),

estimated as (

    select
        usage.*,
        cast(
            (
                usage.input_tokens * prices.input_price
                + usage.cached_input_tokens * coalesce(prices.cached_input_price, prices.input_price)
                + usage.cache_write_tokens * coalesce(prices.cache_write_price, prices.input_price)
                + usage.output_tokens * prices.output_price
            ) * 0.000001 as {{ money_type() }}
        ) as estimated_cost_usd,
        usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens + usage.output_tokens
            as total_tokens
    from usage
    left join prices
        on
            usage.provider = prices.provider
            and usage.model = prices.model
            and usage.request_date = prices.request_date

),

final as (

    select
        usage_key,
        request_date,
        provider,
        api_key_id,
        model,
        team,
        feature,
        customer_id,
        requests,
        retries,
        errors,
        input_tokens,
        cached_input_tokens,
        cache_write_tokens,
        output_tokens,
        total_tokens,
        estimated_cost_usd,
        load_id,
        (select fingerprint.fingerprint from fingerprint) as price_book_fingerprint

    from estimated

)

select * from final
