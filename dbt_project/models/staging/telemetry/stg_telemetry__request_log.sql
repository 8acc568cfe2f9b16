-- One row per request of the applications' JSONL request logs.
with

source as (

    select * from {{ source_or_empty('raw_telemetry', 'request_log', raw_columns__raw_telemetry__request_log()) }}

),

renamed as (

    select
        request_id,
        export_date,
        {{ unix_to_utc_date('timestamp_unix_us / 1000000') }} as request_date,
        timestamp_unix_us,
        service as service_name,
        {{ telemetry_provider('provider') }} as provider,
        api_key_id,
        model,
        feature,
        team,
        customer_id,
        coalesce(lower(status) <> 'ok' or http_status >= 400, false) as is_error,
        coalesce(retry_count, case when is_retry then 1 else 0 end) as retry_count,
        coalesce(is_retry, retry_count > 0, false) as is_retry,
        http_status as http_status_code,
        latency_ms as duration_ms,
        -- input_tokens includes cached and cache-write tokens; derive the non-cached part
        coalesce(input_tokens, 0) as input_tokens_total,
        coalesce(cached_input_tokens, 0) as cached_input_tokens,
        coalesce(cache_write_tokens, 0) as cache_write_tokens,
        coalesce(input_tokens, 0)
        - coalesce(cached_input_tokens, 0)
        - coalesce(cache_write_tokens, 0) as input_tokens,
        coalesce(output_tokens, 0) as output_tokens,
        _source_file as source_file,
        _line as source_line,
        -- the dlt load that wrote the row: a re-delivered day file gets a new one
        _dlt_load_id as load_id

    from source

)

select * from renamed
