{#- Columns each staging model and reconciliation test reads from a raw table, with their
    types, so an absent table can be stood in for by an empty relation. -#}
{% macro raw_columns__raw_openai__completions_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'start_time': 'bigint',
        'project_id': 'varchar',
        'user_id': 'varchar',
        'api_key_id': 'varchar',
        'model': 'varchar',
        'batch': 'boolean',
        'service_tier': 'varchar',
        'input_tokens': 'bigint',
        'input_cached_tokens': 'bigint',
        'input_cache_write_tokens': 'bigint',
        'output_tokens': 'bigint',
        'num_model_requests': 'bigint'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_openai__costs() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'start_time': 'bigint',
        'project_id': 'varchar',
        'api_key_id': 'varchar',
        'line_item': 'varchar',
        'amount_value': 'decimal(38, 12)',
        'amount_currency': 'varchar',
        'quantity': 'decimal(38, 6)',
        'quantity_unit': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_anthropic__messages_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'bucket_start': 'bigint',
        'workspace_id': 'varchar',
        'api_key_id': 'varchar',
        'model': 'varchar',
        'service_tier': 'varchar',
        'context_window': 'varchar',
        'inference_geo': 'varchar',
        'uncached_input_tokens': 'bigint',
        'cache_read_input_tokens': 'bigint',
        'cache_creation__ephemeral_5m_input_tokens': 'bigint',
        'cache_creation__ephemeral_1h_input_tokens': 'bigint',
        'output_tokens': 'bigint',
        'server_tool_use__web_search_requests': 'bigint'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_anthropic__cost_report() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'bucket_start': 'bigint',
        'workspace_id': 'varchar',
        'description': 'varchar',
        'cost_type': 'varchar',
        'model': 'varchar',
        'token_type': 'varchar',
        'service_tier': 'varchar',
        'context_window': 'varchar',
        'inference_geo': 'varchar',
        'amount_cents': 'decimal(38, 12)',
        'currency': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_openai__embeddings_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'start_time': 'bigint',
        'input_tokens': 'bigint',
        'num_model_requests': 'bigint',
        'project_id': 'varchar',
        'user_id': 'varchar',
        'api_key_id': 'varchar',
        'model': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_openai__moderations_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'start_time': 'bigint',
        'input_tokens': 'bigint',
        'num_model_requests': 'bigint',
        'project_id': 'varchar',
        'user_id': 'varchar',
        'api_key_id': 'varchar',
        'model': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_openai__images_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'start_time': 'bigint',
        'images': 'bigint',
        'num_model_requests': 'bigint',
        'project_id': 'varchar',
        'user_id': 'varchar',
        'api_key_id': 'varchar',
        'model': 'varchar',
        'size': 'varchar',
        'source': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_openai__audio_speeches_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'start_time': 'bigint',
        'characters': 'bigint',
        'num_model_requests': 'bigint',
        'project_id': 'varchar',
        'user_id': 'varchar',
        'api_key_id': 'varchar',
        'model': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_openai__audio_transcriptions_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'start_time': 'bigint',
        'seconds': 'bigint',
        'num_model_requests': 'bigint',
        'project_id': 'varchar',
        'user_id': 'varchar',
        'api_key_id': 'varchar',
        'model': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_openai__vector_stores_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'start_time': 'bigint',
        'usage_bytes': 'bigint',
        'project_id': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_openai__code_interpreter_sessions_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'start_time': 'bigint',
        'num_sessions': 'bigint',
        'project_id': 'varchar'
    }) }}
{%- endmacro %}

{#- What a bucket endpoint reported, per bucket (ingestion._common.BucketPages); the OpenAI
    tables carry `start_time`, the Anthropic ones `bucket_start`, each source's cursor. -#}
{% macro raw_columns__reported_buckets(cursor_column) -%}
    {{ return({
        'endpoint': 'varchar',
        'bucket_start': 'bigint',
        'bucket_end': 'bigint',
        'results': 'bigint',
        'amount': 'decimal(38, 12)',
        cursor_column: 'bigint'
    }) }}
{%- endmacro %}
