{#- A source relation, or an empty relation with the given typed columns when the table does
    not exist yet: a provider that is switched off (AISPEND_PROVIDERS) or has never loaded
    must not break the models of the others. `source()` is always called, so lineage holds. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and not relation_exists(relation.database, relation.schema, relation.identifier) -%}
        {{ empty_relation(columns) }}
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- Whether a table exists, asked of the warehouse itself when dbt's relation cache says no.
    With threads > 1 (PostgreSQL runs 4) dbt fills the cache for a schema outside the project
    (a raw_* dataset) one relation at a time while other threads already read it as complete,
    so a table that exists could read as missing and a model or test silently read it as empty
    (seen under load: a reconciliation test compiled raw_openai.embeddings_usage as empty). -#}
{% macro relation_exists(database, schema, identifier) -%}
    {%- if adapter.get_relation(database=database, schema=schema, identifier=identifier) is not none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set found = run_query(
        "select count(*) from information_schema.tables where table_schema = '"
        ~ schema ~ "' and table_name = '" ~ identifier ~ "'") -%}
    {{ return(found.columns[0].values()[0] | int > 0) }}
{%- endmacro %}

{#- A typed relation with no rows: what a table that does not exist yet reads as. Aliased, as
    PostgreSQL before 16 requires of a subquery in FROM. -#}
{% macro empty_relation(columns) -%}
    (
        select
        {%- for name, data_type in columns.items() %}
            cast(null as {{ data_type }}) as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
        where 1 = 0
    ) as empty_relation
{%- endmacro %}
