-- Every provider's spend lines in one relation, each converted to US dollars with the rate of
-- its day: the one the export states where it states one, else the fx_rates seed.
with

lines as (

    {% for model_name in spend_line_models() %}
        select {{ spend_line_columns() | join(', ') }}
        from {{ ref(model_name) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

fx_rates as (

    select
        currency,
        valid_from,
        lead(valid_from) over (partition by currency order by valid_from) as valid_to,
        usd_per_unit
    from {{ ref('fx_rates') }}

),

converted as (

    select
        lines.*,
        case
            when lines.billing_currency = 'USD' then cast(1 as {{ money_type() }})
            else coalesce(lines.usd_per_billing_unit, fx_rates.usd_per_unit)
        end as usd_rate
    from lines
    left join fx_rates
        on
            lines.billing_currency = fx_rates.currency
            and lines.usage_date >= fx_rates.valid_from
            and (fx_rates.valid_to is null or lines.usage_date < fx_rates.valid_to)

),

final as (

    select
        *,
        cast(billed_cost * usd_rate as {{ money_type() }}) as billed_cost_usd
    from converted

)

select * from final
