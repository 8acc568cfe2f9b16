-- Both telemetry formats at one grain: one row per model call (failed attempts included).
-- The services export either OTLP traces or a request log, never both, so nothing is
-- counted twice. A view: tens of millions of rows a year at `large`, read only by
-- int_telemetry__usage_by_export_day, a day file at a time.
{{ config(materialized='view') }}

with

otlp_spans as (

    select * from {{ ref('stg_telemetry__otlp_spans') }}

),

request_log as (

    select * from {{ ref('stg_telemetry__request_log') }}

),

spans_as_requests as (

    select
        'otlp:' || span_key as request_key,
        'otlp' as telemetry_format,
        export_date,
        load_id,
        request_date,
        provider,
        api_key_id,
        model,
        feature,
        team,
        customer_id,
        service_name,
        cast(1 as bigint) as requests,
        -- a flag as 0/1 (PostgreSQL casts no boolean to bigint)
        cast(case when is_retry then 1 when not is_retry then 0 end as bigint) as retries,
        cast(case when is_error then 1 when not is_error then 0 end as bigint) as errors,
        input_tokens,
        cached_input_tokens,
        cache_write_tokens,
        output_tokens

    from otlp_spans
    -- GenAI client calls only (other spans of the trace carry no model usage)
    where provider is not null

),

log_as_requests as (

    select
        'log:' || request_id as request_key,
        'request_log' as telemetry_format,
        export_date,
        load_id,
        request_date,
        provider,
        api_key_id,
        model,
        feature,
        team,
        customer_id,
        service_name,
        cast(1 as bigint) as requests,
        cast(case when is_retry then 1 when not is_retry then 0 end as bigint) as retries,
        cast(case when is_error then 1 when not is_error then 0 end as bigint) as errors,
        input_tokens,
        cached_input_tokens,
        cache_write_tokens,
        output_tokens

    from request_log

),

final as (

    select * from spans_as_requests
    union all
    select * from log_as_requests

)

select * from final
