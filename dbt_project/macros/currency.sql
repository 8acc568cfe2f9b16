{#- The reporting currency (AISPEND_CURRENCY, default USD) as a SQL string literal. Every mart
    amount column ending in _reporting is in it; the settings loader rejects a code that is not
    three letters before dbt runs. -#}
{% macro reporting_currency() -%}
    '{{ env_var("AISPEND_CURRENCY", "USD") | trim | upper }}'
{%- endmacro %}

{#- Dated FX rates as half-open ranges: usd_per_unit applies on [valid_from, valid_to). -#}
{% macro fx_rate_ranges() -%}
    select
        upper(currency) as currency,
        cast(valid_from as date) as valid_from,
        lead(cast(valid_from as date)) over (partition by upper(currency) order by valid_from) as valid_to,
        cast(usd_per_unit as {{ money_type() }}) as usd_per_unit
    from {{ ref('fx_rates') }}
{%- endmacro %}
