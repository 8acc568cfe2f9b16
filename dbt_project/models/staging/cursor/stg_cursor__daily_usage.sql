with

source as (

    select * from {{ source_or_empty('raw_cursor', 'daily_usage', raw_columns__raw_cursor__daily_usage()) }}

),

renamed as (

    select
        _row_key as daily_usage_row_key,
        {{ unix_to_utc_date('day_start') }} as usage_date,
        lower(email) as user_email,
        user_id as cursor_user_number,
        coalesce(is_active, false) as is_active,
        coalesce(total_lines_added, 0) as lines_added,
        coalesce(total_lines_deleted, 0) as lines_deleted,
        coalesce(accepted_lines_added, 0) as accepted_lines_added,
        coalesce(accepted_lines_deleted, 0) as accepted_lines_deleted,
        coalesce(total_applies, 0) as applies,
        coalesce(total_accepts, 0) as accepts,
        coalesce(total_rejects, 0) as rejects,
        coalesce(total_tabs_shown, 0) as tabs_shown,
        coalesce(total_tabs_accepted, 0) as tabs_accepted,
        coalesce(composer_requests, 0) as composer_requests,
        coalesce(chat_requests, 0) as chat_requests,
        coalesce(agent_requests, 0) as agent_requests,
        coalesce(cmdk_usages, 0) as cmdk_usages,
        coalesce(subscription_included_reqs, 0) as subscription_included_requests,
        coalesce(api_key_reqs, 0) as api_key_requests,
        coalesce(usage_based_reqs, 0) as usage_based_requests,
        most_used_model,
        client_version

    from source

)

select * from renamed
