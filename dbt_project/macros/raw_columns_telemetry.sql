{#- Columns the telemetry staging models read from raw_telemetry, with their types, so an
    absent table (telemetry switched off or never loaded) can be stood in for by an empty
    relation. -#}
{% macro raw_columns__raw_telemetry__otlp_spans() -%}
    {{ return({
        'trace_id': 'varchar',
        'span_id': 'varchar',
        'parent_span_id': 'varchar',
        'name': 'varchar',
        'kind': 'bigint',
        'start_time_unix_nano': 'bigint',
        'end_time_unix_nano': 'bigint',
        'status_code': 'bigint',
        'status_message': 'varchar',
        'service_name': 'varchar',
        'service_version': 'varchar',
        'deployment_environment': 'varchar',
        'scope_name': 'varchar',
        'gen_ai_system': 'varchar',
        'gen_ai_operation_name': 'varchar',
        'request_model': 'varchar',
        'response_model': 'varchar',
        'input_tokens': 'bigint',
        'output_tokens': 'bigint',
        'cache_read_input_tokens': 'bigint',
        'cache_creation_input_tokens': 'bigint',
        'api_key_id': 'varchar',
        'feature': 'varchar',
        'team': 'varchar',
        'customer_id': 'varchar',
        'retry_count': 'bigint',
        'http_status_code': 'bigint',
        'error_type': 'varchar',
        'attributes_json': 'varchar',
        'export_date': 'date',
        '_source_file': 'varchar',
        '_dlt_load_id': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_telemetry__request_log() -%}
    {{ return({
        'request_id': 'varchar',
        'timestamp': 'varchar',
        'timestamp_unix_us': 'bigint',
        'provider': 'varchar',
        'api_key_id': 'varchar',
        'model': 'varchar',
        'input_tokens': 'bigint',
        'cached_input_tokens': 'bigint',
        'cache_write_tokens': 'bigint',
        'output_tokens': 'bigint',
        'feature': 'varchar',
        'team': 'varchar',
        'customer_id': 'varchar',
        'service': 'varchar',
        'status': 'varchar',
        'http_status': 'bigint',
        'is_retry': 'boolean',
        'retry_count': 'bigint',
        'latency_ms': 'bigint',
        'export_date': 'date',
        '_source_file': 'varchar',
        '_line': 'bigint',
        '_dlt_load_id': 'varchar'
    }) }}
{%- endmacro %}

{#- Telemetry provider names (gen_ai.system / gen_ai.provider.name values and the request
    log's own spelling) to aispend provider names. -#}
{% macro telemetry_provider(column) -%}
    case lower({{ column }})
        when 'aws.bedrock' then 'aws_bedrock'
        when 'az.ai.openai' then 'azure_openai'
        when 'azure.ai.openai' then 'azure_openai'
        when 'gcp.vertex_ai' then 'gcp_vertex'
        when 'gcp.gen_ai' then 'gcp_vertex'
        when 'vertex_ai' then 'gcp_vertex'
        else lower({{ column }})
    end
{%- endmacro %}
