-- Telemetry usage per UTC day, provider, API key, model, feature, team and customer: the
-- shares by which a key's bill is allocated. Summed from the per-export-day usage (built
-- incrementally), not from every request again.
with

requests as (

    select * from {{ ref('int_telemetry__usage_by_export_day') }}

),

aggregated as (

    select
        request_date,
        provider,
        api_key_id,
        model,
        feature,
        team,
        customer_id,
        sum(requests) as requests,
        sum(retries) as retries,
        sum(errors) as errors,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens

    from requests
    group by request_date, provider, api_key_id, model, feature, team, customer_id

),

final as (

    select
        md5(
            concat_ws(
                '|',
                cast(request_date as varchar),
                coalesce(provider, '~'),
                coalesce(api_key_id, '~'),
                coalesce(model, '~'),
                coalesce(feature, '~'),
                coalesce(team, '~'),
                coalesce(customer_id, '~')
            )
        ) as usage_key,
        request_date,
        provider,
        api_key_id,
        model,
        feature,
        team,
        customer_id,
        requests,
        retries,
        errors,
        cast(input_tokens as bigint) as input_tokens,
        cast(cached_input_tokens as bigint) as cached_input_tokens,
        cast(cache_write_tokens as bigint) as cache_write_tokens,
        cast(output_tokens as bigint) as output_tokens

    from aggregated

)

select * from final
