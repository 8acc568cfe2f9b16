{#- Day of a unix timestamp (seconds), in UTC, without touching the session time zone:
    casting a TIMESTAMPTZ to DATE would use the client's zone. -#}
{% macro unix_to_utc_date(column) -%}
    {{ return(adapter.dispatch('unix_to_utc_date', 'aispend')(column)) }}
{%- endmacro %}

{% macro default__unix_to_utc_date(column) -%}
    (cast('1970-01-01' as date) + cast(floor({{ column }} / 86400) as integer))
{%- endmacro %}

{#- Money type used in every model: exact decimal, wide enough for org totals. -#}
{% macro money_type() -%}
    decimal(38, 12)
{%- endmacro %}

{#- The value of `column` on the row where `order_by` is largest (DuckDB arg_max). -#}
{% macro arg_max(column, order_by) -%}
    {{ return(adapter.dispatch('arg_max', 'aispend')(column, order_by)) }}
{%- endmacro %}

{% macro default__arg_max(column, order_by) -%}
    arg_max({{ column }}, {{ order_by }})
{%- endmacro %}
