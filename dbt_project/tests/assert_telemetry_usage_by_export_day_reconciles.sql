-- Invariants 1 and 2 (nothing lost, nothing doubled) for the incremental telemetry usage: per
-- format and export day, its model calls and tokens equal the requests the raw telemetry holds
-- now. A day the incremental run should have rebuilt but did not shows up here. Returns the
-- days that differ.
{{ config(meta={'dagster': {'ref': {'name': 'int_telemetry__usage_by_export_day'}}}) }}

with

requests as (

    select
        telemetry_format,
        export_date,
        count(*) as requests,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens
    from {{ ref('int_telemetry__requests_unioned') }}
    group by telemetry_format, export_date

),

built as (

    select
        telemetry_format,
        export_date,
        sum(requests) as requests,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens
    from {{ ref('int_telemetry__usage_by_export_day') }}
    group by telemetry_format, export_date

)

select
    coalesce(requests.telemetry_format, built.telemetry_format) as telemetry_format,
    coalesce(requests.export_date, built.export_date) as export_date,
    requests.requests as raw_requests,
    built.requests as built_requests
from requests
full outer join built
    on
        requests.telemetry_format = built.telemetry_format
        and requests.export_date = built.export_date
where
    requests.requests is distinct from built.requests
    or requests.input_tokens is distinct from built.input_tokens
    or requests.cached_input_tokens is distinct from built.cached_input_tokens
    or requests.cache_write_tokens is distinct from built.cache_write_tokens
    or requests.output_tokens is distinct from built.output_tokens
