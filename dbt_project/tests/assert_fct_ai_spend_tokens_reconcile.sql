-- Invariant 1 (nothing lost), OpenAI and Anthropic APIs: per provider and UTC day, the fact's token totals equal the
-- providers' raw usage feeds exactly. Returns the provider-days that differ.
{{ config(meta={'dagster': {'ref': {'name': 'fct_ai_spend'}}}) }}

with

fact as (

    select
        provider,
        usage_date,
        sum(total_input_tokens) as input_total,
        sum(cached_input_tokens) as cached_input,
        sum(cache_write_tokens) as cache_write,
        sum(output_tokens) as output_total
    from {{ ref('fct_ai_spend') }}
    -- the API providers whose raw feeds are read below; export providers have their own tests
    where provider in ('openai', 'anthropic')
    group by 1, 2

),

feed_rows as (

    select
        'openai' as provider,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        sum(input_tokens) as input_total,
        sum(coalesce(input_cached_tokens, 0)) as cached_input,
        sum(coalesce(input_cache_write_tokens, 0)) as cache_write,
        sum(output_tokens) as output_total
    from {{ source_or_empty('raw_openai', 'completions_usage', raw_columns__raw_openai__completions_usage()) }}
    group by 1, 2

    union all

    -- embedding and moderation input counts as input tokens too
    select
        'openai' as provider,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        sum(input_tokens) as input_total,
        0 as cached_input,
        0 as cache_write,
        0 as output_total
    from (
        select
            start_time,
            input_tokens
        from {{ source_or_empty('raw_openai', 'embeddings_usage', raw_columns__raw_openai__embeddings_usage()) }}
        union all
        select
            start_time,
            input_tokens
        from {{ source_or_empty('raw_openai', 'moderations_usage', raw_columns__raw_openai__moderations_usage()) }}
    ) as other_inputs
    group by 1, 2

    union all

    select
        'anthropic' as provider,
        {{ unix_to_utc_date('bucket_start') }} as usage_date,
        sum(
            coalesce(uncached_input_tokens, 0)
            + coalesce(cache_read_input_tokens, 0)
            + coalesce(cache_creation__ephemeral_5m_input_tokens, 0)
            + coalesce(cache_creation__ephemeral_1h_input_tokens, 0)
        ) as input_total,
        sum(coalesce(cache_read_input_tokens, 0)) as cached_input,
        sum(
            coalesce(cache_creation__ephemeral_5m_input_tokens, 0)
            + coalesce(cache_creation__ephemeral_1h_input_tokens, 0)
        ) as cache_write,
        sum(output_tokens) as output_total
    from {{ source_or_empty('raw_anthropic', 'messages_usage', raw_columns__raw_anthropic__messages_usage()) }}
    group by 1, 2

),

feeds as (

    select
        provider,
        usage_date,
        sum(input_total) as input_total,
        sum(cached_input) as cached_input,
        sum(cache_write) as cache_write,
        sum(output_total) as output_total
    from feed_rows
    group by 1, 2

),

compared as (

    select
        coalesce(fact.provider, feeds.provider) as provider,
        coalesce(fact.usage_date, feeds.usage_date) as usage_date,
        fact.input_total as fact_input,
        feeds.input_total as feed_input,
        fact.cached_input as fact_cached,
        feeds.cached_input as feed_cached,
        fact.cache_write as fact_cache_write,
        feeds.cache_write as feed_cache_write,
        fact.output_total as fact_output,
        feeds.output_total as feed_output
    from fact
    full outer join feeds
        on fact.provider = feeds.provider and fact.usage_date = feeds.usage_date

)

select *
from compared
where
    coalesce(fact_input, 0) != coalesce(feed_input, 0)
    or coalesce(fact_cached, 0) != coalesce(feed_cached, 0)
    or coalesce(fact_cache_write, 0) != coalesce(feed_cache_write, 0)
    or coalesce(fact_output, 0) != coalesce(feed_output, 0)
