{#- Columns the staging models and reconciliation tests read from the billing-export raw
    tables (ingestion/aws_cur, gcp_billing, azure_cost, focus), with their types, so an absent
    table can be stood in for by an empty relation (source_or_empty). -#}
{% macro raw_columns__raw_aws_cur__cur_line_items() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        '_billing_period': 'varchar',
        'identity_line_item_id': 'varchar',
        'bill_billing_entity': 'varchar',
        'line_item_usage_account_id': 'varchar',
        'line_item_line_item_type': 'varchar',
        'line_item_usage_start_date': 'varchar',
        'line_item_product_code': 'varchar',
        'line_item_usage_type': 'varchar',
        'line_item_operation': 'varchar',
        'line_item_resource_id': 'varchar',
        'line_item_iam_principal': 'varchar',
        'line_item_usage_amount': 'decimal(38, 12)',
        'line_item_unblended_cost': 'decimal(38, 12)',
        'line_item_currency_code': 'varchar',
        'line_item_line_item_description': 'varchar',
        'pricing_unit': 'varchar',
        'product': 'varchar',
        'resource_tags': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_gcp_billing__billing_export() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        'billing_account_id': 'varchar',
        'service_id': 'varchar',
        'service_description': 'varchar',
        'sku_id': 'varchar',
        'sku_description': 'varchar',
        'usage_start_time': 'varchar',
        'project_id': 'varchar',
        'labels': 'varchar',
        'project_labels': 'varchar',
        'cost': 'decimal(38, 12)',
        'credits_total': 'decimal(38, 12)',
        'currency': 'varchar',
        'currency_conversion_rate': 'decimal(38, 12)',
        'usage_amount': 'decimal(38, 12)',
        'usage_unit': 'varchar',
        'invoice_month': 'varchar',
        'cost_type': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_azure_cost__cost_details() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        '_schema': 'varchar',
        '_billing_month': 'varchar',
        'date': 'date',
        'subscription_id': 'varchar',
        'resource_group': 'varchar',
        'resource_id': 'varchar',
        'product_name': 'varchar',
        'meter_category': 'varchar',
        'meter_sub_category': 'varchar',
        'meter_name': 'varchar',
        'unit_of_measure': 'varchar',
        'quantity': 'decimal(38, 12)',
        'cost_in_billing_currency': 'decimal(38, 12)',
        'cost_in_usd': 'decimal(38, 12)',
        'billing_currency': 'varchar',
        'charge_type': 'varchar',
        'pricing_model': 'varchar',
        'tags': 'varchar'
    }) }}
{%- endmacro %}

{% macro raw_columns__raw_focus__focus_rows() -%}
    {{ return({
        '_row_key': 'varchar',
        '_dlt_load_id': 'varchar',
        '_billing_period': 'varchar',
        'billing_account_id': 'varchar',
        'billing_currency': 'varchar',
        'billed_cost': 'decimal(38, 12)',
        'charge_category': 'varchar',
        'charge_description': 'varchar',
        'charge_period_start': 'varchar',
        'consumed_quantity': 'decimal(38, 12)',
        'consumed_unit': 'varchar',
        'pricing_category': 'varchar',
        'provider_name': 'varchar',
        'resource_id': 'varchar',
        'service_category': 'varchar',
        'service_name': 'varchar',
        'sku_meter': 'varchar',
        'sub_account_id': 'varchar',
        'tags': 'varchar',
        'x_columns': 'varchar'
    }) }}
{%- endmacro %}

{#- Token multiplier of a unit text such as '1K', '1M', '1000 Tokens', 'Tokens'. -#}
{% macro token_unit_multiplier(unit) -%}
    case
        when {{ regex_contains('upper(trim(' ~ unit ~ '))', "'^1 ?K( |$)'") }} then 1000
        when {{ regex_contains('upper(trim(' ~ unit ~ '))', "'^1 ?M( |$)'") }} then 1000000
        when {{ regex_contains('trim(' ~ unit ~ ')', "'^[0-9]+ '") }}
            then cast({{ regex_extract('trim(' ~ unit ~ ')', "'^([0-9]+) '", 1) }} as bigint)
        else 1
    end
{%- endmacro %}

{#- Model of an Azure OpenAI meter name: 'gpt-4o-mini-0718-Inp-glbl Tokens' -> 'gpt-4o-mini',
    'gpt 4.1 mini cached Inp glbl' -> 'gpt-4.1-mini'; null when the name does not parse. -#}
{% macro azure_meter_model(meter) -%}
    nullif(
        regexp_replace(
            {{ regex_extract(
                "regexp_replace(lower(trim(" ~ meter ~ ")), '[ _]+', '-', 'g')",
                "'^(.+?)-(inp|input|outp|output|cached|cache|batch|aud|ptu)(-|$)'",
                1
            ) }},
            '-[0-9]{4}$',
            ''
        ),
        ''
    )
{%- endmacro %}

{#- Token class of an Azure OpenAI meter name (input / cached_input / output), else null. -#}
{% macro azure_meter_token_class(meter) -%}
    case
        when {{ regex_contains('lower(' ~ meter ~ ')', "'(^|[ -])cached?([ -]|$)'") }} then 'cached_input'
        when {{ regex_contains('lower(' ~ meter ~ ')', "'(^|[ -])(outp|output)([ -]|$)'") }} then 'output'
        when {{ regex_contains('lower(' ~ meter ~ ')', "'(^|[ -])(inp|input)([ -]|$)'") }} then 'input'
    end
{%- endmacro %}

{#- Service tier of an Azure OpenAI meter name. -#}
{% macro azure_meter_service_tier(meter) -%}
    case
        when {{ regex_contains('lower(' ~ meter ~ ')', "'(^|[ -])batch([ -]|$)'") }} then 'batch'
        when {{ regex_contains('lower(' ~ meter ~ ')', "'(^|[ -])ptu([ -]|$)'") }} then 'provisioned'
        else 'standard'
    end
{%- endmacro %}
