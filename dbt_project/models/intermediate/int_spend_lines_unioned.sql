-- Every provider's spend lines in one relation. Each amount keeps its billing currency and is
-- converted with the rate of its day: to US dollars with the rate the export states where it
-- states one, else the fx_rates seed; to the reporting currency (AISPEND_CURRENCY) through
-- the seed's rate for that currency on the same day.
-- Incremental by usage day (macros/day_versions.sql): a run rebuilds the days whose spend
-- lines changed, and every day when the FX rates or the reporting currency did.
{%- set day_inputs = [] %}
{%- for model_name in spend_line_models() %}
    {%- do day_inputs.append({'ref': model_name, 'piece': 'version'}) %}
{%- endfor %}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={
        'day_inputs': day_inputs,
        'day_fingerprints': ['fx_rates', 'reporting_currency'],
    },
) }}

with

{{ day_version_ctes() }}

lines as (

    {% for model_name in spend_line_models() %}
        select
            {%- for column in spend_line_columns() %}
                spend_lines.{{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from {{ ref(model_name) }} as spend_lines
        {{ only_days_to_build('spend_lines') }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

fx_rates as (

    {{ fx_rate_ranges() }}

),

converted as (

    select
        lines.*,
        {{ reporting_currency() }} as reporting_currency,
        case
            when lines.billing_currency = 'USD' then cast(1 as {{ money_type() }})
            else coalesce(lines.usd_per_billing_unit, billing_fx.usd_per_unit)
        end as usd_rate,
        case
            when {{ reporting_currency() }} = 'USD' then cast(1 as {{ money_type() }})
            else reporting_fx.usd_per_unit
        end as usd_per_reporting_unit
    from lines
    left join fx_rates as billing_fx
        on
            lines.billing_currency = billing_fx.currency
            and lines.usage_date >= billing_fx.valid_from
            and (billing_fx.valid_to is null or lines.usage_date < billing_fx.valid_to)
    left join fx_rates as reporting_fx
        on
            reporting_fx.currency = {{ reporting_currency() }}
            and lines.usage_date >= reporting_fx.valid_from
            and (reporting_fx.valid_to is null or lines.usage_date < reporting_fx.valid_to)

),

with_amounts as (

    select
        *,
        cast(billed_cost * usd_rate as {{ money_type() }}) as billed_cost_usd,
        cast(
            case
                when billing_currency = reporting_currency then billed_cost
                else billed_cost * usd_rate / usd_per_reporting_unit
            end as {{ money_type() }}
        ) as billed_cost_reporting
    from converted

),

final as (

    {{ with_day_version('with_amounts') }}

)

select * from final
