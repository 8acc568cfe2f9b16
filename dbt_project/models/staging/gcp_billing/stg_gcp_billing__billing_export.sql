-- Google Cloud billing export rows, every service; `is_ai` marks Vertex AI and the Gemini
-- Developer API (and marketplace-style Claude services). Credits stay on the row as
-- `credits_total` (negative), net cost = cost + credits_total.
with

source as (

    select * from {{ source_or_empty('raw_gcp_billing', 'billing_export', raw_columns__raw_gcp_billing__billing_export()) }}

),

renamed as (

    select
        _row_key as export_row_key,
        _dlt_load_id as load_id,
        billing_account_id,
        cast(left(usage_start_time, 10) as date) as usage_date,
        project_id,
        service_id,
        service_description,
        sku_id,
        trim(sku_description) as sku_description,
        cast(cost as {{ money_type() }}) as cost,
        cast(coalesce(credits_total, 0) as {{ money_type() }}) as credits_total,
        upper(currency) as billing_currency,
        -- currency_conversion_rate is billing-currency units per USD
        case
            when currency_conversion_rate > 0
                then cast(1 / currency_conversion_rate as {{ money_type() }})
        end as usd_per_billing_unit,
        usage_amount,
        usage_unit,
        invoice_month,
        coalesce(cost_type, 'regular') as cost_type,
        case
            when labels is not null and project_labels is not null
                then {{ json_merge_objects('project_labels', 'labels') }}
            else coalesce(labels, project_labels)
        end as tags,
        service_description in ('Vertex AI', 'Generative Language API')
        or service_description ilike '%claude%' as is_ai

    from source

),

final as (

    select
        *,
        case
            when lower(sku_description) like '%caching storage%' then null
            when {{ regex_contains('lower(sku_description)', "'cach(ed|ing)'") }} then 'cached_input'
            when lower(sku_description) like '%output%' then 'output'
            when lower(sku_description) like '%input%' then 'input'
        end as token_class,
        case
            when lower(sku_description) like '%batch%' then 'batch'
            when lower(sku_description) like '%priority%' then 'priority'
            when lower(sku_description) like '%provisioned%' then 'provisioned'
            else 'standard'
        end as service_tier,
        nullif(
            replace(
                {{ regex_extract(
                    'lower(sku_description)',
                    "'^((gemini|claude|gemma)( [0-9][0-9.]*)?( (flash|pro|ultra|nano|sonnet|opus|haiku)([- ]lite)?)?( [0-9][0-9.]*)?)'",
                    1
                ) }},
                ' ', '-'
            ),
            ''
        ) as model,
        case
            when cost_type = 'tax' then 'tax'
            when cost_type in ('adjustment', 'rounding error') then 'other'
            when lower(sku_description) like '%caching storage%' then 'storage'
            when {{ regex_contains('lower(sku_description)', "'input|output|cach'") }} then 'usage'
            else 'other'
        end as charge_type,
        case
            when
                {{ regex_contains('lower(sku_description)', "'input|output|cached|caching'") }}
                and lower(sku_description) not like '%caching storage%'
                and lower(coalesce(usage_unit, 'count')) in ('count', 'tokens', 'token')
                then cast(round(usage_amount) as bigint)
            else 0
        end as tokens

    from renamed

)

select * from final
