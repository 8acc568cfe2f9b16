{#- Whether `value` matches a rule's pattern, where * stands for any run of characters (and
    every other character, _ and % included, stands for itself). -#}
{% macro matches_pattern(value, pattern) -%}
    {{ return(adapter.dispatch('matches_pattern', 'aispend')(value, pattern)) }}
{%- endmacro %}

{#- The pattern is escaped to a regular expression (every special character but * quoted, * as
    .*) that DuckDB's RE2 and PostgreSQL's AREs read the same way. -#}
{% macro default__matches_pattern(value, pattern) -%}
    (
        {{ value }} = {{ pattern }}
        or (
            strpos({{ pattern }}, '*') > 0
            and {{ regex_full_match(
                value,
                "replace(regexp_replace(" ~ pattern ~ ", '([.^$+?(){}\\[\\]|\\\\])', '\\\\\\1', 'g'), '*', '.*')"
            ) }}
        )
    )
{%- endmacro %}

{#- Split `column` of a row over its parts by `share` so that the parts add up to the row
    exactly: every part is rounded to the money scale and the largest part (part_rank = 1)
    takes what rounding left over. -#}
{% macro split_exactly(column, share='allocation_share', partition='spend_key', rank='part_rank') -%}
    cast(
        case
            when {{ rank }} = 1
                then
                    {{ column }}
                    - (
                        sum(cast({{ column }} * {{ share }} as {{ money_type() }})) over (partition by {{ partition }})
                        - cast({{ column }} * {{ share }} as {{ money_type() }})
                    )
            else cast({{ column }} * {{ share }} as {{ money_type() }})
        end as {{ money_type() }}
    )
{%- endmacro %}
