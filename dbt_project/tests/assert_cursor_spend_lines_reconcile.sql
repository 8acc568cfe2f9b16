-- Cursor: per UTC day, the spend lines' billed cost equals the raw events' sum(chargedCents) / 100
-- to the cent, and tokens and request counts match. Returns the days that differ.
with

lines as (

    select
        usage_date,
        sum(billed_cost) as lines_cost,
        sum(input_tokens) as lines_input,
        sum(cached_input_tokens) as lines_cached,
        sum(cache_write_tokens) as lines_write,
        sum(output_tokens) as lines_output,
        sum(requests) as lines_requests
    from {{ ref('int_cursor__spend_lines') }}
    group by 1

),

feed as (

    select
        {{ unix_to_utc_date('day_start') }} as usage_date,
        sum(coalesce(charged_cents, 0)) / 100 as feed_cost,
        sum(coalesce(token_input_tokens, 0)) as feed_input,
        sum(coalesce(token_cache_read_tokens, 0)) as feed_cached,
        sum(coalesce(token_cache_write_tokens, 0)) as feed_write,
        sum(coalesce(token_output_tokens, 0)) as feed_output,
        count(*) as feed_requests
    from {{ source_or_empty('raw_cursor', 'usage_events', raw_columns__raw_cursor__usage_events()) }}
    group by 1

),

compared as (

    select
        coalesce(lines.usage_date, feed.usage_date) as usage_date,
        coalesce(lines.lines_cost, 0) as lines_cost,
        coalesce(feed.feed_cost, 0) as feed_cost,
        coalesce(lines.lines_input, 0) - coalesce(feed.feed_input, 0) as input_diff,
        coalesce(lines.lines_cached, 0) - coalesce(feed.feed_cached, 0) as cached_diff,
        coalesce(lines.lines_write, 0) - coalesce(feed.feed_write, 0) as write_diff,
        coalesce(lines.lines_output, 0) - coalesce(feed.feed_output, 0) as output_diff,
        coalesce(lines.lines_requests, 0) - coalesce(feed.feed_requests, 0) as requests_diff
    from lines
    full outer join feed on lines.usage_date = feed.usage_date

),

final as (

    select * from compared
    where
        abs(lines_cost - feed_cost) >= 0.005
        or input_diff != 0
        or cached_diff != 0
        or write_diff != 0
        or output_diff != 0
        or requests_diff != 0

)

select * from final
