{#- The `quarantine` table of a raw dataset (declared in its `_<source>__sources.yml`), or an
    empty relation with the given typed columns when it does not exist yet.

    Unlike `source_or_empty`, it does not call `source()`: the quarantine table is written by
    the dataset's data resource (dlt `with_table_name`), so Dagster has no asset of its own for
    it and a `source()` dependency would dangle. The model that calls this declares
    `-- depends_on: {{ source(<dataset>, <data table>) }}` for lineage instead. -#}
{% macro quarantine_or_empty(source_name, columns) -%}
    {%- set relation = none -%}
    {%- if execute -%}
        {%- set unique_id = 'source.' ~ project_name ~ '.' ~ source_name ~ '.quarantine' -%}
        {%- set node = graph.sources.get(unique_id) -%}
        {%- if node is none -%}
            {{ exceptions.raise_compiler_error(
                "quarantine_or_empty: " ~ unique_id ~ " is not declared in a sources yml") }}
        {%- endif -%}
        {%- if relation_exists(node.database, node.schema, node.identifier) -%}
            {%- set relation = api.Relation.create(
                    database=node.database, schema=node.schema, identifier=node.identifier) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if relation is none -%}
        {{ empty_relation(columns) }}
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
