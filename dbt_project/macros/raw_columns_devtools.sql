{#- Raw columns read from the developer-tool sources (Cursor Admin API, Anthropic Claude Code
    report), with their types, so an absent table can be stood in for by an empty relation. -#}
{% macro raw_columns__raw_cursor__usage_events() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'day_start': 'bigint',
        'timestamp_ms': 'bigint',
        'occurrence': 'bigint',
        'user_email': 'varchar',
        'conversation_id': 'varchar',
        'service_account_id': 'varchar',
        'service_account_name': 'varchar',
        'model': 'varchar',
        'kind': 'varchar',
        'max_mode': 'boolean',
        'requests_costs': 'double precision',
        'is_token_based_call': 'boolean',
        'is_chargeable': 'boolean',
        'is_headless': 'boolean',
        'token_input_tokens': 'bigint',
        'token_output_tokens': 'bigint',
        'token_cache_write_tokens': 'bigint',
        'token_cache_read_tokens': 'bigint',
        'token_total_cents': 'decimal(38, 12)',
        'charged_cents': 'decimal(38, 12)',
        'cursor_token_fee_cents': 'decimal(38, 12)'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_cursor__daily_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        'day_start': 'bigint',
        'email': 'varchar',
        'user_id': 'bigint',
        'is_active': 'boolean',
        'total_lines_added': 'bigint',
        'total_lines_deleted': 'bigint',
        'accepted_lines_added': 'bigint',
        'accepted_lines_deleted': 'bigint',
        'total_applies': 'bigint',
        'total_accepts': 'bigint',
        'total_rejects': 'bigint',
        'total_tabs_shown': 'bigint',
        'total_tabs_accepted': 'bigint',
        'composer_requests': 'bigint',
        'chat_requests': 'bigint',
        'agent_requests': 'bigint',
        'cmdk_usages': 'bigint',
        'subscription_included_reqs': 'bigint',
        'api_key_reqs': 'bigint',
        'usage_based_reqs': 'bigint',
        'most_used_model': 'varchar',
        'client_version': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_cursor__members() -%}
    {{ return({
        'id': 'varchar',
        'name': 'varchar',
        'email': 'varchar',
        'role': 'varchar',
        'is_removed': 'boolean'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_claude_code__claude_code_usage() -%}
    {{ return({
        '_row_key': 'varchar',
        'day_start': 'bigint',
        'actor_type': 'varchar',
        'actor_email_address': 'varchar',
        'actor_api_key_name': 'varchar',
        'organization_id': 'varchar',
        'customer_type': 'varchar',
        'subscription_type': 'varchar',
        'terminal_type': 'varchar',
        'is_remote': 'boolean',
        'record_index': 'bigint',
        'model_index': 'bigint',
        'model': 'varchar',
        'num_sessions': 'bigint',
        'lines_added': 'bigint',
        'lines_removed': 'bigint',
        'commits_by_claude_code': 'bigint',
        'pull_requests_by_claude_code': 'bigint',
        'edit_tool_accepted': 'bigint',
        'edit_tool_rejected': 'bigint',
        'multi_edit_tool_accepted': 'bigint',
        'multi_edit_tool_rejected': 'bigint',
        'write_tool_accepted': 'bigint',
        'write_tool_rejected': 'bigint',
        'notebook_edit_tool_accepted': 'bigint',
        'notebook_edit_tool_rejected': 'bigint',
        'input_tokens': 'bigint',
        'output_tokens': 'bigint',
        'cache_read_tokens': 'bigint',
        'cache_creation_tokens': 'bigint',
        'estimated_cost_cents': 'decimal(38, 12)',
        'estimated_cost_currency': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_claude_code__anthropic_api_keys() -%}
    {{ return({
        'id': 'varchar',
        'name': 'varchar',
        'workspace_id': 'varchar',
        'status': 'varchar',
        'created_at': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_claude_code__anthropic_workspaces() -%}
    {{ return({
        'id': 'varchar',
        'name': 'varchar',
        'created_at': 'varchar',
        'archived_at': 'varchar'
    }) }}
{%- endmacro %}
