-- AWS CUR 2.0 line items, every service; `is_ai` marks Amazon Bedrock (first-party models,
-- product code AmazonBedrock) and Bedrock models sold through AWS Marketplace.
with

source as (

    select * from {{ source_or_empty('raw_aws_cur', 'cur_line_items', raw_columns__raw_aws_cur__cur_line_items()) }}

),

renamed as (

    select
        _row_key as line_item_row_key,
        _dlt_load_id as load_id,
        _billing_period as billing_period,
        identity_line_item_id as line_item_id,
        cast(left(line_item_usage_start_date, 10) as date) as usage_date,
        bill_billing_entity as billing_entity,
        line_item_usage_account_id as account_id,
        line_item_line_item_type as line_item_type,
        line_item_product_code as product_code,
        coalesce(line_item_usage_type, '') as usage_type,
        line_item_operation as operation,
        nullif(line_item_resource_id, '') as resource_id,
        nullif(line_item_iam_principal, '') as iam_principal,
        line_item_usage_amount as usage_amount,
        cast(line_item_unblended_cost as {{ money_type() }}) as billed_cost,
        upper(line_item_currency_code) as billing_currency,
        line_item_line_item_description as line_item_description,
        pricing_unit,
        {{ json_extract_text('product', "'product_name'") }} as product_name,
        nullif(resource_tags, '{}') as tags

    from source

),

classified as (

    select
        *,
        product_code = 'AmazonBedrock'
        or (
            billing_entity = 'AWS Marketplace'
            and (
                product_name ilike '%bedrock%'
                or {{ regex_contains('usage_type', "'MP:.*Token'", case_insensitive=true) }}
            )
        ) as is_ai,
        case
            when {{ regex_contains('usage_type', "'cache-?read|CacheRead'", case_insensitive=true) }} then 'cached_input'
            when {{ regex_contains('usage_type', "'cache-?write|CacheWrite'", case_insensitive=true) }} then 'cache_write'
            when {{ regex_contains('usage_type', "'output-tokens|OutputToken|output_tokens'", case_insensitive=true) }}
                then 'output'
            when {{ regex_contains('usage_type', "'input-tokens|InputToken|input_tokens'", case_insensitive=true) }}
                then 'input'
        end as token_class,
        case
            when {{ regex_contains('usage_type', "'(^|[-_])batch([-_]|$)'", case_insensitive=true) }} then 'batch'
            when {{ regex_contains('usage_type', "'(^|[-_])priority([-_]|$)'", case_insensitive=true) }} then 'priority'
            when {{ regex_contains('usage_type', "'(^|[-_])flex([-_]|$)'", case_insensitive=true) }} then 'flex'
            when {{ regex_contains('usage_type', "'(^|[-_])provisioned([-_]|$)'", case_insensitive=true) }} then 'provisioned'
            else 'standard'
        end as service_tier,
        -- first-party usage types read <region>-<model>-<token type>[-<tier>][-cross-region-<geo>]
        nullif(
            {{ regex_extract(
                'usage_type',
                "'^[A-Z]{2,4}[0-9]?-(.+?)-(mantle-)?(input-tokens|output-tokens|cache-(read|write)-(input-token-count|tokens))'",
                1
            ) }},
            ''
        ) as usage_type_model

    from renamed

),

final as (

    select
        *,
        case
            when not is_ai then null
            -- Marketplace: "Claude 3.5 Sonnet (Amazon Bedrock Edition)" -> claude-3.5-sonnet
            when usage_type_model is null and product_name is not null
                then nullif(
                    regexp_replace(
                        lower(trim(regexp_replace(product_name, '\s*\(.*\)\s*$', ''))), '\s+', '-', 'g'
                    ),
                    ''
                )
            -- Claude4Sonnet -> claude-sonnet-4, Claude4.6Opus -> claude-opus-4.6
            when {{ regex_contains('usage_type_model', "'^Claude([0-9][0-9.]*)([A-Za-z]+)$'") }}
                then
                    'claude-'
                    || lower({{ regex_extract('usage_type_model', "'^Claude([0-9][0-9.]*)([A-Za-z]+)$'", 2) }})
                    || '-'
                    || {{ regex_extract('usage_type_model', "'^Claude([0-9][0-9.]*)([A-Za-z]+)$'", 1) }}
            -- NovaLite -> nova-lite, anthropic.claude-opus-4-8 stays as written
            else lower(regexp_replace(usage_type_model, '([a-z0-9])([A-Z])', '\1-\2', 'g'))
        end as model,
        case
            when line_item_type in ('Credit', 'BundledDiscount', 'Discount', 'EdpDiscount', 'PrivateRateDiscount')
                then 'credit'
            when line_item_type = 'Refund' then 'refund'
            when line_item_type = 'Tax' then 'tax'
            when token_class is not null then 'usage'
            else 'other'
        end as charge_type,
        case
            when token_class is null then 0
            else cast(round(usage_amount * {{ token_unit_multiplier('pricing_unit') }}) as bigint)
        end as tokens

    from classified

)

select * from final
