-- Telemetry usage per export day file (and format), UTC request day, provider, API key, model,
-- feature, team and customer. Incremental by export day: each run rebuilds only the days whose
-- files were loaded, re-delivered or changed since the last run (the pre-hook finds and deletes
-- them, the select below reads every day left unbuilt), so the daily run's cost follows new
-- data, not history.
-- `dbt build --full-refresh` rebuilds it from all telemetry.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where export_date in ({{ telemetry_changed_export_days(ref('int_telemetry__requests_unioned'), this) }}){% endif %}"
) }}

with

{% if is_incremental() %}
    -- only the export days that changed since the last build: the pre-hook has just deleted
    -- them, so they are the days not built
    days_to_build as (

        {{ days_not_built(ref('int_telemetry__requests_unioned'), this, 'export_date') }}

    ),
{% endif %}

requests as (

    select requests.*
    from {{ ref('int_telemetry__requests_unioned') }} as requests
    {% if is_incremental() %}
        inner join days_to_build on requests.export_date = days_to_build.day_to_build
    {% endif %}

),

final as (

    select
        telemetry_format,
        export_date,
        load_id,
        request_date,
        provider,
        api_key_id,
        model,
        feature,
        team,
        customer_id,
        cast(sum(requests) as bigint) as requests,
        cast(sum(retries) as bigint) as retries,
        cast(sum(errors) as bigint) as errors,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(cached_input_tokens) as bigint) as cached_input_tokens,
        cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens

    from requests
    group by
        telemetry_format,
        export_date,
        load_id,
        request_date,
        provider,
        api_key_id,
        model,
        feature,
        team,
        customer_id

)

select * from final
