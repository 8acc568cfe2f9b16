with

source as (

    select * from {{ source_or_empty('raw_anthropic', 'messages_usage', raw_columns__raw_anthropic__messages_usage()) }}

),

renamed as (

    select
        _row_key as usage_row_key,
        _dlt_load_id as load_id,
        {{ unix_to_utc_date('bucket_start') }} as usage_date,
        bucket_start as bucket_start_unix,
        -- a null workspace is the organisation's default workspace
        coalesce(workspace_id, 'default') as project_id,
        api_key_id,
        model,
        coalesce(service_tier, 'standard') as service_tier,
        context_window,
        inference_geo,
        coalesce(uncached_input_tokens, 0) as input_tokens,
        coalesce(cache_read_input_tokens, 0) as cached_input_tokens,
        coalesce(cache_creation__ephemeral_5m_input_tokens, 0) as cache_write_5m_tokens,
        coalesce(cache_creation__ephemeral_1h_input_tokens, 0) as cache_write_1h_tokens,
        coalesce(cache_creation__ephemeral_5m_input_tokens, 0)
        + coalesce(cache_creation__ephemeral_1h_input_tokens, 0) as cache_write_tokens,
        coalesce(output_tokens, 0) as output_tokens,
        coalesce(server_tool_use__web_search_requests, 0) as web_search_requests

    from source

)

select * from renamed
