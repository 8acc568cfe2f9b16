-- Issue 7, source -> raw: per endpoint and daily bucket, the raw table holds exactly what the
-- API sent in the load that last read that bucket: as many rows as results, and (cost
-- endpoints) the same amount to the last digit. A merge that collapsed two results onto one
-- key, a schema contract that dropped rows, or a re-read day that left stale rows behind
-- shows up here. Returns the buckets that differ.
{{ config(meta={'dagster': {'ref': {'name': 'fct_ai_spend'}}}) }}

{%- set openai_tables = {
    '/organization/usage/completions': 'completions_usage',
    '/organization/costs': 'costs',
    '/organization/usage/embeddings': 'embeddings_usage',
    '/organization/usage/moderations': 'moderations_usage',
    '/organization/usage/images': 'images_usage',
    '/organization/usage/audio_speeches': 'audio_speeches_usage',
    '/organization/usage/audio_transcriptions': 'audio_transcriptions_usage',
    '/organization/usage/vector_stores': 'vector_stores_usage',
    '/organization/usage/code_interpreter_sessions': 'code_interpreter_sessions_usage',
} %}

with

reported as (

    select
        'openai' as provider,
        endpoint,
        bucket_start,
        results,
        amount
    from {{ source_or_empty('raw_openai', 'reported_buckets', raw_columns__reported_buckets('start_time')) }}

    union all

    select
        'anthropic' as provider,
        endpoint,
        bucket_start,
        results,
        amount
    from {{ source_or_empty('raw_anthropic', 'reported_buckets', raw_columns__reported_buckets('bucket_start')) }}

),

landed as (

    {%- for endpoint, table in openai_tables.items() %}
        select
            'openai' as provider,
            '{{ endpoint }}' as endpoint,
            start_time as bucket_start,
            count(*) as rows_landed,
            {% if table == 'costs' -%}
                sum(amount_value)
            {%- else -%}
                cast(null as decimal(38, 12))
            {%- endif %} as amount_landed
        from {{ source_or_empty('raw_openai', table, {'start_time': 'bigint', 'amount_value': 'decimal(38, 12)'}) }}
        group by 1, 2, 3

        union all
    {% endfor %}

    select
        'anthropic' as provider,
        '/v1/organizations/usage_report/messages' as endpoint,
        bucket_start,
        count(*) as rows_landed,
        cast(null as decimal(38, 12)) as amount_landed
    from {{ source_or_empty('raw_anthropic', 'messages_usage', raw_columns__raw_anthropic__messages_usage()) }}
    group by 1, 2, 3

    union all

    select
        'anthropic' as provider,
        '/v1/organizations/cost_report' as endpoint,
        bucket_start,
        count(*) as rows_landed,
        sum(amount_cents) as amount_landed
    from {{ source_or_empty('raw_anthropic', 'cost_report', raw_columns__raw_anthropic__cost_report()) }}
    group by 1, 2, 3

),

compared as (

    select
        coalesce(reported.provider, landed.provider) as provider,
        coalesce(reported.endpoint, landed.endpoint) as endpoint,
        coalesce(reported.bucket_start, landed.bucket_start) as bucket_start,
        reported.results as results_reported,
        coalesce(landed.rows_landed, 0) as rows_landed,
        reported.amount as amount_reported,
        landed.amount_landed
    from reported
    full outer join landed
        on
            reported.provider = landed.provider
            and reported.endpoint = landed.endpoint
            and reported.bucket_start = landed.bucket_start

)

select *
from compared
where
    -- a table loaded before control totals were kept has no reported rows: nothing to compare
    results_reported is not null
    and (
        results_reported != rows_landed
        or coalesce(amount_reported, 0) != coalesce(amount_landed, 0)
    )
