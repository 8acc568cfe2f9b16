-- Every (provider, model) that a bill, a usage feed or the applications' telemetry names: the
-- models the price book must price (or mark unpriced).
with

spend as (

    select distinct
        provider,
        model
    from {{ ref('int_spend_lines_unioned') }}
    where model is not null

),

telemetry as (

    select distinct
        provider,
        model
    from {{ ref('int_telemetry__daily_usage') }}
    where provider is not null and model is not null

),

final as (

    select
        provider,
        model
    from spend
    union
    select
        provider,
        model
    from telemetry

)

select * from final
