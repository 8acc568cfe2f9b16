{#- Day of a unix timestamp (seconds), in UTC, without touching the session time zone:
    casting a TIMESTAMPTZ to DATE would use the client's zone. Date + integer days is the same
    on DuckDB and PostgreSQL, so the default serves both. -#}
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

{#- The value of `column` on the row where `order_by` is largest (an aggregate; rows where
    either is null are skipped, as DuckDB's arg_max does). -#}
{% macro arg_max(column, order_by) -%}
    {{ return(adapter.dispatch('arg_max', 'aispend')(column, order_by)) }}
{%- endmacro %}

{% macro default__arg_max(column, order_by) -%}
    {{ no_portable_form('arg_max') }}
{%- endmacro %}

{% macro duckdb__arg_max(column, order_by) -%}
    arg_max({{ column }}, {{ order_by }})
{%- endmacro %}

{% macro postgres__arg_max(column, order_by) -%}
    (array_agg({{ column }} order by {{ order_by }} desc) filter (where {{ column }} is not null and {{ order_by }} is not null))[1]
{%- endmacro %}
