with

source as (

    select * from {{ source_or_empty('raw_openai', 'completions_usage', raw_columns__raw_openai__completions_usage()) }}

),

renamed as (

    select
        _row_key as usage_row_key,
        _dlt_load_id as load_id,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        start_time as bucket_start_unix,
        project_id,
        user_id,
        api_key_id,
        model,
        coalesce(batch, false) as is_batch,
        service_tier as openai_service_tier,
        -- OpenAI's input_tokens already contains cached and cache-write tokens; keep the
        -- provider total and derive the non-cached part so the token columns add up the
        -- same way for every provider: total input = input + cached + cache write
        coalesce(input_tokens, 0) as input_tokens_total,
        coalesce(input_cached_tokens, 0) as cached_input_tokens,
        coalesce(input_cache_write_tokens, 0) as cache_write_tokens,
        coalesce(input_tokens, 0)
        - coalesce(input_cached_tokens, 0)
        - coalesce(input_cache_write_tokens, 0) as input_tokens,
        coalesce(output_tokens, 0) as output_tokens,
        coalesce(num_model_requests, 0) as requests

    from source

)

select * from renamed
