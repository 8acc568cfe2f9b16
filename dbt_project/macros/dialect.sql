{#- SQL that differs between the warehouses aispend runs on (DuckDB and PostgreSQL). Models
    call these macros and never the dialect's own function, so every model is one file for
    both targets. Each macro dispatches (`adapter.dispatch`) to `duckdb__` or `postgres__`; the
    `default__` of a macro with no portable form stops the build with a clear message instead
    of sending SQL the warehouse cannot run. `scripts/check_portable_sql.py` (make lint) lists
    any DuckDB-only construct left outside a `duckdb__` macro. -#}

{% macro no_portable_form(name) -%}
    {{ exceptions.raise_compiler_error(
        "aispend." ~ name ~ " has no implementation for the " ~ adapter.type() ~ " adapter: "
        ~ "add a " ~ adapter.type() ~ "__" ~ name ~ " macro in dbt_project/macros/dialect.sql") }}
{%- endmacro %}


{#- Whether `value` contains a match of the regular expression `pattern` (a search, not a
    full match); `case_insensitive` for the 'i' flag. Both engines read the patterns used here
    the same way (RE2 on DuckDB, ARE on PostgreSQL). -#}
{% macro regex_contains(value, pattern, case_insensitive=false) -%}
    {{ return(adapter.dispatch('regex_contains', 'aispend')(value, pattern, case_insensitive)) }}
{%- endmacro %}

{% macro default__regex_contains(value, pattern, case_insensitive=false) -%}
    {{ no_portable_form('regex_contains') }}
{%- endmacro %}

{% macro duckdb__regex_contains(value, pattern, case_insensitive=false) -%}
    regexp_matches({{ value }}, {{ pattern }}{% if case_insensitive %}, 'i'{% endif %})
{%- endmacro %}

{% macro postgres__regex_contains(value, pattern, case_insensitive=false) -%}
    ({{ value }} {{ '~*' if case_insensitive else '~' }} {{ pattern }})
{%- endmacro %}


{#- Group `group` of the first match of `pattern` in `value`: '' when nothing matches (DuckDB's
    regexp_extract), null only for a null value. -#}
{% macro regex_extract(value, pattern, group=0) -%}
    {{ return(adapter.dispatch('regex_extract', 'aispend')(value, pattern, group)) }}
{%- endmacro %}

{% macro default__regex_extract(value, pattern, group=0) -%}
    {{ no_portable_form('regex_extract') }}
{%- endmacro %}

{% macro duckdb__regex_extract(value, pattern, group=0) -%}
    regexp_extract({{ value }}, {{ pattern }}, {{ group }})
{%- endmacro %}

{% macro postgres__regex_extract(value, pattern, group=0) -%}
    {%- if group == 0 -%}
        coalesce((regexp_match({{ value }}, '(' || {{ pattern }} || ')'))[1], case when {{ value }} is not null then '' end)
    {%- else -%}
        coalesce((regexp_match({{ value }}, {{ pattern }}))[{{ group }}], case when {{ value }} is not null then '' end)
    {%- endif -%}
{%- endmacro %}


{#- Whether the whole of `value` matches the regular expression `pattern`. -#}
{% macro regex_full_match(value, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match', 'aispend')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_full_match(value, pattern) -%}
    {{ no_portable_form('regex_full_match') }}
{%- endmacro %}

{% macro duckdb__regex_full_match(value, pattern) -%}
    regexp_full_match({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro postgres__regex_full_match(value, pattern) -%}
    ({{ value }} ~ ('^(?:' || {{ pattern }} || ')$'))
{%- endmacro %}


{#- The text value of the top-level key `key` (a SQL expression, e.g. "'product_name'") of the
    JSON object held as text in `json`; null when the key is absent. -#}
{% macro json_extract_text(json, key) -%}
    {{ return(adapter.dispatch('json_extract_text', 'aispend')(json, key)) }}
{%- endmacro %}

{% macro default__json_extract_text(json, key) -%}
    {{ no_portable_form('json_extract_text') }}
{%- endmacro %}

{% macro duckdb__json_extract_text(json, key) -%}
    json_extract_string({{ json }}, '$."' || {{ key }} || '"')
{%- endmacro %}

{% macro postgres__json_extract_text(json, key) -%}
    (cast({{ json }} as jsonb) ->> ({{ key }}))
{%- endmacro %}


{#- Two flat JSON objects (as text) merged as RFC 7396 merge patch does: `patch`'s keys win and
    a null in `patch` removes the key. The result is compact JSON text in DuckDB's order (keys of
    `target` that `patch` does not name, then those of `patch`), so a tag string, and the keys
    hashed from it, are the same on every target. -#}
{% macro json_merge_objects(target, patch) -%}
    {{ return(adapter.dispatch('json_merge_objects', 'aispend')(target, patch)) }}
{%- endmacro %}

{% macro default__json_merge_objects(target, patch) -%}
    {{ no_portable_form('json_merge_objects') }}
{%- endmacro %}

{% macro duckdb__json_merge_objects(target, patch) -%}
    cast(json_merge_patch({{ target }}, {{ patch }}) as varchar)
{%- endmacro %}

{% macro postgres__json_merge_objects(target, patch) -%}
    (
        select
            '{'
            || coalesce(
                string_agg(
                    cast(to_json(merged.key) as text)
                    || ':'
                    || case
                        when json_typeof(merged.value) = 'string' then cast(to_json(merged.value #>> '{}') as text)
                        else cast(merged.value as text)
                    end,
                    ',' order by merged.part, merged.position
                ),
                ''
            )
            || '}'
        from (
            select
                1 as part,
                target_keys.position,
                target_keys.key,
                target_keys.value
            from json_each(cast({{ target }} as json)) with ordinality as target_keys (key, value, position)
            where (cast({{ patch }} as jsonb) -> target_keys.key) is null
            union all
            select
                2 as part,
                patch_keys.position,
                patch_keys.key,
                patch_keys.value
            from json_each(cast({{ patch }} as json)) with ordinality as patch_keys (key, value, position)
            where json_typeof(patch_keys.value) <> 'null'
        ) as merged
    )
{%- endmacro %}


{#- a // b for whole numbers: the quotient truncated to a bigint. -#}
{% macro integer_divide(dividend, divisor) -%}
    {{ return(adapter.dispatch('integer_divide', 'aispend')(dividend, divisor)) }}
{%- endmacro %}

{% macro default__integer_divide(dividend, divisor) -%}
    {{ no_portable_form('integer_divide') }}
{%- endmacro %}

{% macro duckdb__integer_divide(dividend, divisor) -%}
    (({{ dividend }}) // ({{ divisor }}))
{%- endmacro %}

{% macro postgres__integer_divide(dividend, divisor) -%}
    cast(div({{ dividend }}, {{ divisor }}) as bigint)
{%- endmacro %}


{#- 'YYYY-MM' of a date or timestamp. -#}
{% macro year_month(value) -%}
    {{ return(adapter.dispatch('year_month', 'aispend')(value)) }}
{%- endmacro %}

{% macro default__year_month(value) -%}
    {{ no_portable_form('year_month') }}
{%- endmacro %}

{% macro duckdb__year_month(value) -%}
    strftime({{ value }}, '%Y-%m')
{%- endmacro %}

{% macro postgres__year_month(value) -%}
    to_char({{ value }}, 'YYYY-MM')
{%- endmacro %}
