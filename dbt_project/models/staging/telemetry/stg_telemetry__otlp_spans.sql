-- One row per span of the OTLP trace exports; GenAI client spans carry the model call.
with

source as (

    select * from {{ source_or_empty('raw_telemetry', 'otlp_spans', raw_columns__raw_telemetry__otlp_spans()) }}

),

renamed as (

    select
        trace_id || ':' || span_id as span_key,
        trace_id,
        span_id,
        parent_span_id,
        name as span_name,
        export_date,
        {{ unix_to_utc_date('start_time_unix_nano / 1000000000') }} as request_date,
        start_time_unix_nano,
        end_time_unix_nano,
        {{ integer_divide('end_time_unix_nano - start_time_unix_nano', '1000000') }} as duration_ms,
        service_name,
        service_version,
        deployment_environment,
        scope_name,
        {{ telemetry_provider('gen_ai_system') }} as provider,
        gen_ai_operation_name as operation_name,
        api_key_id,
        request_model,
        response_model,
        -- the usage API reports the model that answered; a failed call has only the request
        coalesce(response_model, request_model) as model,
        feature,
        team,
        customer_id,
        coalesce(status_code = 2 or http_status_code >= 400, false) as is_error,
        coalesce(retry_count, 0) as retry_count,
        coalesce(retry_count, 0) > 0 as is_retry,
        http_status_code,
        error_type,
        -- gen_ai.usage.input_tokens includes cache reads and writes; derive the non-cached
        -- part so that total input = input_tokens + cached_input_tokens + cache_write_tokens
        coalesce(input_tokens, 0) as input_tokens_total,
        coalesce(cache_read_input_tokens, 0) as cached_input_tokens,
        coalesce(cache_creation_input_tokens, 0) as cache_write_tokens,
        coalesce(input_tokens, 0)
        - coalesce(cache_read_input_tokens, 0)
        - coalesce(cache_creation_input_tokens, 0) as input_tokens,
        coalesce(output_tokens, 0) as output_tokens,
        attributes_json,
        _source_file as source_file,
        -- the dlt load that wrote the row: a re-delivered day file gets a new one
        _dlt_load_id as load_id

    from source

)

select * from renamed
