-- The fact is the sum of every provider's spend lines: per provider, UTC day and currency, the
-- billed amount and the tokens match exactly. With each provider's own raw-to-lines test this
-- makes raw = lines = fact.
{{ config(meta={'dagster': {'ref': {'name': 'fct_ai_spend'}}}) }}

with

fact as (

    select
        provider,
        usage_date,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(total_input_tokens) as input_total,
        sum(output_tokens) as output_total
    from {{ ref('fct_ai_spend') }}
    group by 1, 2, 3

),

lines as (

    select
        provider,
        usage_date,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(input_tokens + cached_input_tokens + cache_write_tokens) as input_total,
        sum(output_tokens) as output_total
    from {{ ref('int_spend_lines_unioned') }}
    group by 1, 2, 3

),

compared as (

    select
        coalesce(fact.provider, lines.provider) as provider,
        coalesce(fact.usage_date, lines.usage_date) as usage_date,
        coalesce(fact.billing_currency, lines.billing_currency) as billing_currency,
        coalesce(fact.billed_cost, 0) as fact_cost,
        coalesce(lines.billed_cost, 0) as lines_cost,
        coalesce(fact.input_total, 0) as fact_input,
        coalesce(lines.input_total, 0) as lines_input,
        coalesce(fact.output_total, 0) as fact_output,
        coalesce(lines.output_total, 0) as lines_output
    from fact
    full outer join lines
        on
            fact.provider = lines.provider
            and fact.usage_date = lines.usage_date
            and fact.billing_currency = lines.billing_currency

)

select *
from compared
where
    abs(fact_cost - lines_cost) >= {{ var('reconciliation_tolerance_usd') }}
    or fact_input != lines_input
    or fact_output != lines_output
