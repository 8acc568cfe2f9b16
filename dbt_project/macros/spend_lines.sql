{#- The per-provider models unioned into marts.fct_ai_spend. Register a new provider here
    (docs/adding-a-source.md). -#}
{% macro spend_line_models() -%}
    {{ return([
        'int_openai__spend_lines',
        'int_anthropic__spend_lines',
        'int_cursor__spend_lines',
        'int_aws_bedrock__spend_lines',
        'int_gcp_vertex__spend_lines',
        'int_azure_openai__spend_lines',
    ]) }}
{%- endmacro %}

{#- The columns every spend-lines model provides, in the order the fact reads them. -#}
{% macro spend_line_columns() -%}
    {{ return([
        'usage_date', 'provider', 'project_id', 'api_key_id', 'user_email', 'model',
        'service_tier', 'context_window', 'charge_type', 'billing_currency', 'billed_cost',
        'usd_per_billing_unit', 'input_tokens', 'cached_input_tokens', 'cache_write_tokens',
        'cache_write_1h_tokens', 'output_tokens', 'requests', 'web_search_requests', 'tags',
        'has_usage', 'has_bill',
    ]) }}
{%- endmacro %}
