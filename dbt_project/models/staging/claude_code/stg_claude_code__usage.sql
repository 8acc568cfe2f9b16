with

source as (

    select * from {{ source_or_empty('raw_claude_code', 'claude_code_usage', raw_columns__raw_claude_code__claude_code_usage()) }}

),

renamed as (

    select
        _row_key as usage_row_key,
        {{ unix_to_utc_date('day_start') }} as usage_date,
        actor_type,
        lower(actor_email_address) as user_email,
        actor_api_key_name as api_key_name,
        coalesce(lower(actor_email_address), actor_api_key_name) as actor_name,
        organization_id,
        customer_type,
        subscription_type,
        terminal_type,
        is_remote,
        record_index,
        model_index,
        model_index = 0 as is_first_model_of_record,
        model,
        coalesce(num_sessions, 0) as num_sessions,
        coalesce(lines_added, 0) as lines_added,
        coalesce(lines_removed, 0) as lines_removed,
        coalesce(commits_by_claude_code, 0) as commits,
        coalesce(pull_requests_by_claude_code, 0) as pull_requests,
        coalesce(edit_tool_accepted, 0)
        + coalesce(multi_edit_tool_accepted, 0)
        + coalesce(write_tool_accepted, 0)
        + coalesce(notebook_edit_tool_accepted, 0) as tool_actions_accepted,
        coalesce(edit_tool_rejected, 0)
        + coalesce(multi_edit_tool_rejected, 0)
        + coalesce(write_tool_rejected, 0)
        + coalesce(notebook_edit_tool_rejected, 0) as tool_actions_rejected,
        coalesce(input_tokens, 0) as input_tokens,
        coalesce(cache_read_tokens, 0) as cached_input_tokens,
        coalesce(cache_creation_tokens, 0) as cache_write_tokens,
        coalesce(output_tokens, 0) as output_tokens,
        -- the API's estimate in cents; USD here
        cast(coalesce(estimated_cost_cents, 0) / 100 as {{ money_type() }}) as estimated_cost_usd,
        upper(estimated_cost_currency) as estimated_cost_currency

    from source

)

select * from renamed
