{#- Schemas are the layer names (staging, intermediate, marts), not "<target>_<layer>",
    so analysts and the design contract can rely on `marts.fct_ai_spend`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
