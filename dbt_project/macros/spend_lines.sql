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

{#- Spend lines summed to the fact grain (every column of spend_line_columns that is not an
    amount or a count), amounts and counts kept in their types. A provider whose usage comes
    in hourly buckets has dozens of lines per grain and day; the fact sums them anyway, so the
    lines table, the union and the fact's group by are that much smaller. -#}
{% macro sum_spend_lines(relation) -%}
    {%- set money = ['billed_cost'] -%}
    {%- set counts = [
        'input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'cache_write_1h_tokens',
        'output_tokens', 'requests', 'web_search_requests',
    ] -%}
    {%- set grain = spend_line_columns() | reject('in', money + counts) | list -%}
    select
        {%- for column in spend_line_columns() %}
            {% if column in money -%}
                cast(sum({{ column }}) as {{ money_type() }}) as {{ column }}
            {%- elif column in counts -%}
                cast(sum({{ column }}) as bigint) as {{ column }}
            {%- else -%}
                {{ column }}
            {%- endif %}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ relation }}
    group by {{ grain | join(', ') }}
{%- endmacro %}
