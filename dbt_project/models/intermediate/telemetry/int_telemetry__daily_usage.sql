-- Telemetry usage per UTC day, provider, API key, model, feature, team and customer: the
-- shares by which a key's bill is allocated. Summed from the per-export-day usage (built
-- incrementally), not from every request again. Incremental by request day: each run
-- rebuilds only the request days whose export day files changed (the pre-hook finds and
-- deletes them, the select below reads every day left unbuilt), so the daily run's cost
-- follows new data, not history. `dbt build --full-refresh` rebuilds it whole.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}{{ delete_days_to_rebuild(this, 'request_date in (' ~ telemetry_changed_request_days(ref('int_telemetry__usage_by_export_day'), this) ~ ')', {'load_id': 'varchar'}) }}{% endif %}"
) }}

with

{% if is_incremental() %}
    -- only the request days that changed since the last build: the pre-hook has just deleted
    -- them, so they are the days not built
    days_to_build as (

        {{ days_not_built(ref('int_telemetry__usage_by_export_day'), this, 'request_date') }}

    ),
{% endif %}

requests as (

    select usage.*
    from {{ ref('int_telemetry__usage_by_export_day') }} as usage
    {% if is_incremental() %}
        inner join days_to_build on usage.request_date = days_to_build.day_to_build
    {% endif %}

),

aggregated as (

    select
        request_date,
        provider,
        api_key_id,
        model,
        feature,
        team,
        customer_id,
        sum(requests) as requests,
        sum(retries) as retries,
        sum(errors) as errors,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens,
        -- the newest load among the day's export day files: what the next run compares
        max(load_id) as load_id

    from requests
    group by request_date, provider, api_key_id, model, feature, team, customer_id

),

final as (

    select
        md5(
            concat_ws(
                '|',
                cast(request_date as varchar),
                coalesce(provider, '~'),
                coalesce(api_key_id, '~'),
                coalesce(model, '~'),
                coalesce(feature, '~'),
                coalesce(team, '~'),
                coalesce(customer_id, '~')
            )
        ) as usage_key,
        request_date,
        provider,
        api_key_id,
        model,
        feature,
        team,
        customer_id,
        requests,
        retries,
        errors,
        cast(input_tokens as bigint) as input_tokens,
        cast(cached_input_tokens as bigint) as cached_input_tokens,
        cast(cache_write_tokens as bigint) as cache_write_tokens,
        cast(output_tokens as bigint) as output_tokens,
        load_id

    from aggregated

)

select * from final
