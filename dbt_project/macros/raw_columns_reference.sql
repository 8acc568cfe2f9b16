{#- Columns of the tables landed from Python before dbt reads them (ingestion/config/source.py,
    ingestion/prices/source.py), with their types, so an absent table (nothing loaded yet, e.g.
    a bare `dbt build`) can be stood in for by an empty relation. -#}
{% macro raw_columns__raw_config__allocation_rules() -%}
    {{ return({
        'rule_id': 'varchar',
        'priority': 'bigint',
        'match_type': 'varchar',
        'provider': 'varchar',
        'match_value': 'varchar',
        'team': 'varchar',
        'feature': 'varchar',
        'customer': 'varchar',
        'cost_center': 'varchar',
        'split_by': 'varchar',
        'valid_from': 'date',
        'valid_to': 'date',
        'note': 'varchar',
        'source_line': 'bigint'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_config__teams() -%}
    {{ return({
        'team': 'varchar',
        'cost_center': 'varchar',
        'name': 'varchar',
        'owner_email': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_reference__price_book() -%}
    {{ return({
        'provider': 'varchar',
        'model': 'varchar',
        'token_class': 'varchar',
        'service_tier': 'varchar',
        'tier_min_input_tokens': 'bigint',
        'valid_from': 'date',
        'valid_to': 'date',
        'usd_per_million': 'decimal(38, 12)',
        'unit': 'varchar',
        'price_source': 'varchar',
        'matched_model_id': 'varchar',
        'matched_provider_id': 'varchar',
        'override_id': 'varchar',
        'note': 'varchar'
    }) }}
{%- endmacro %}
