{#- A source relation, or an empty relation with the given typed columns when the table does
    not exist yet: a provider that is switched off (AISPEND_PROVIDERS) or has never loaded
    must not break the models of the others. `source()` is always called, so lineage holds. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) is none -%}
        {{ empty_relation(columns) }}
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- A typed relation with no rows: what a table that does not exist yet reads as. -#}
{% macro empty_relation(columns) -%}
    (
        select
        {%- for name, data_type in columns.items() %}
            cast(null as {{ data_type }}) as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
        where 1 = 0
    )
{%- endmacro %}
