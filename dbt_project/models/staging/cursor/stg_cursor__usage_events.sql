with

source as (

    select * from {{ source_or_empty('raw_cursor', 'usage_events', raw_columns__raw_cursor__usage_events()) }}

),

renamed as (

    select
        _row_key as event_row_key,
        _dlt_load_id as load_id,
        {{ unix_to_utc_date('day_start') }} as usage_date,
        to_timestamp(timestamp_ms / 1000.0) as event_at,
        occurrence,
        lower(user_email) as user_email,
        conversation_id,
        service_account_id,
        service_account_name,
        model,
        kind,
        coalesce(max_mode, false) as is_max_mode,
        requests_costs,
        coalesce(is_token_based_call, false) as is_token_based_call,
        coalesce(is_chargeable, false) as is_chargeable,
        coalesce(is_headless, false) as is_headless,
        -- Cursor reports input, cache reads and cache writes separately: input is non-cached
        coalesce(token_input_tokens, 0) as input_tokens,
        coalesce(token_cache_read_tokens, 0) as cached_input_tokens,
        coalesce(token_cache_write_tokens, 0) as cache_write_tokens,
        coalesce(token_output_tokens, 0) as output_tokens,
        -- cents in the API; USD here (currency assumed USD, provider-formats 11)
        cast(coalesce(charged_cents, 0) / 100 as {{ money_type() }}) as charged_cost_usd,
        cast(token_total_cents / 100 as {{ money_type() }}) as model_cost_usd,
        cast(cursor_token_fee_cents / 100 as {{ money_type() }}) as cursor_token_fee_usd

    from source

)

select * from renamed
