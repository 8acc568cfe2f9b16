-- Token usage of every provider at the fact grain:
-- usage_date, provider, project_id, api_key_id, model, service_tier.
with

openai_usage as (

    select * from {{ ref('stg_openai__completions_usage') }}

),

anthropic_usage as (

    select * from {{ ref('stg_anthropic__messages_usage') }}

),

openai as (

    select
        usage_date,
        'openai' as provider,
        project_id,
        api_key_id,
        model,
        -- the Costs API only tells batch from non-batch, so that is the tier kept here
        case when is_batch then 'batch' else 'standard' end as service_tier,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens,
        sum(requests) as requests,
        cast(0 as bigint) as web_search_requests

    from openai_usage
    group by 1, 2, 3, 4, 5, 6

),

anthropic as (

    select
        usage_date,
        'anthropic' as provider,
        project_id,
        api_key_id,
        model,
        service_tier,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens,
        -- the usage report carries no request count
        cast(null as bigint) as requests,
        sum(web_search_requests) as web_search_requests

    from anthropic_usage
    group by 1, 2, 3, 4, 5, 6

),

unioned as (

    select * from openai
    union all
    select * from anthropic

)

select * from unioned
