-- Developer-tool usage per UTC day, tool, actor and model, for unit economics (cost per
-- developer, per session, per pull request). Not a billing fact: Cursor's charged spend is also
-- in int_cursor__spend_lines, and Claude Code `api` usage is already on the Anthropic bill
-- (raw_anthropic), so Claude Code never has billed cost here and never produces spend lines.
with

cursor_events as (

    select * from {{ ref('stg_cursor__usage_events') }}

),

cursor_daily as (

    select * from {{ ref('stg_cursor__daily_usage') }}

),

claude_code as (

    select * from {{ ref('stg_claude_code__usage') }}

),

cursor_by_model as (

    select
        usage_date,
        user_email,
        model,
        count(*) as requests,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens,
        sum(charged_cost_usd) as billed_cost_usd,
        sum(coalesce(model_cost_usd, 0)) as estimated_cost_usd,
        -- the developer's day-level activity goes on their busiest model's row
        row_number() over (
            partition by usage_date, user_email order by count(*) desc, model
        ) as model_rank
    from cursor_events
    group by usage_date, user_email, model

),

cursor_days as (

    -- joined to the busiest model's row only: model_rank = 1 as an equality of both sides,
    -- which every engine's full outer join accepts
    select
        *,
        1 as model_rank
    from cursor_daily

),

cursor_rows as (

    select
        coalesce(e.usage_date, d.usage_date) as usage_date,
        'cursor' as tool,
        coalesce(e.user_email, d.user_email) as user_email,
        cast(null as varchar) as api_key_name,
        coalesce(e.user_email, d.user_email) as actor_name,
        e.model,
        'subscription' as customer_type,
        cast(0 as bigint) as sessions,
        coalesce(d.lines_added, 0) as lines_added,
        coalesce(d.lines_deleted, 0) as lines_removed,
        cast(0 as bigint) as commits,
        cast(0 as bigint) as pull_requests,
        coalesce(e.requests, 0) as requests,
        coalesce(e.input_tokens, 0) as input_tokens,
        coalesce(e.cached_input_tokens, 0) as cached_input_tokens,
        coalesce(e.cache_write_tokens, 0) as cache_write_tokens,
        coalesce(e.output_tokens, 0) as output_tokens,
        coalesce(e.billed_cost_usd, 0) as billed_cost_usd,
        coalesce(e.estimated_cost_usd, 0) as estimated_cost_usd
    from cursor_by_model as e
    full outer join cursor_days as d
        on
            e.usage_date = d.usage_date
            and e.user_email = d.user_email
            and e.model_rank = d.model_rank

),

claude_code_rows as (

    select
        usage_date,
        'claude_code' as tool,
        user_email,
        api_key_name,
        actor_name,
        model,
        customer_type,
        -- record-level metrics repeat on each model row: count them once per record
        sum(case when is_first_model_of_record then num_sessions else 0 end) as sessions,
        sum(case when is_first_model_of_record then lines_added else 0 end) as lines_added,
        sum(case when is_first_model_of_record then lines_removed else 0 end) as lines_removed,
        sum(case when is_first_model_of_record then commits else 0 end) as commits,
        sum(case when is_first_model_of_record then pull_requests else 0 end) as pull_requests,
        cast(0 as bigint) as requests,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens,
        -- api actors are billed in raw_anthropic, subscription seats outside any usage feed
        cast(0 as {{ money_type() }}) as billed_cost_usd,
        sum(estimated_cost_usd) as estimated_cost_usd
    from claude_code
    group by usage_date, user_email, api_key_name, actor_name, model, customer_type

),

unioned as (

    -- both branches list the same columns in the same order
    select * from cursor_rows
    union all
    select * from claude_code_rows

),

final as (

    select
        md5(concat_ws(
            '|', usage_date, tool, actor_name, coalesce(model, ''), customer_type
        )) as usage_key,
        usage_date,
        tool,
        user_email,
        api_key_name,
        actor_name,
        model,
        customer_type,
        cast(sessions as bigint) as sessions,
        cast(lines_added as bigint) as lines_added,
        cast(lines_removed as bigint) as lines_removed,
        cast(commits as bigint) as commits,
        cast(pull_requests as bigint) as pull_requests,
        cast(requests as bigint) as requests,
        cast(input_tokens as bigint) as input_tokens,
        cast(cached_input_tokens as bigint) as cached_input_tokens,
        cast(cache_write_tokens as bigint) as cache_write_tokens,
        cast(output_tokens as bigint) as output_tokens,
        cast(billed_cost_usd as {{ money_type() }}) as billed_cost_usd,
        cast(estimated_cost_usd as {{ money_type() }}) as estimated_cost_usd
    from unioned

)

select * from final
