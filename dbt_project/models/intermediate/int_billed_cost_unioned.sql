-- Billed cost of every provider at the fact grain, in the billing currency.
with

openai_costs as (

    select * from {{ ref('stg_openai__costs') }}

),

anthropic_costs as (

    select * from {{ ref('int_anthropic_costs_split_by_key') }}

),

openai as (

    select
        usage_date,
        'openai' as provider,
        project_id,
        api_key_id,
        line_item_model as model,
        service_tier,
        charge_type,
        billing_currency,
        sum(billed_cost) as billed_cost

    from openai_costs
    group by 1, 2, 3, 4, 5, 6, 7, 8

),

anthropic as (

    select
        usage_date,
        provider,
        project_id,
        api_key_id,
        model,
        service_tier,
        charge_type,
        billing_currency,
        sum(billed_cost) as billed_cost

    from anthropic_costs
    group by 1, 2, 3, 4, 5, 6, 7, 8

),

unioned as (

    select * from openai
    union all
    select * from anthropic

)

select * from unioned
