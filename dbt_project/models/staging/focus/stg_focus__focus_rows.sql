-- FOCUS cost-and-usage rows, every service; `is_ai` marks ServiceCategory 'AI and Machine
-- Learning' and `provider` maps the row to the spend-lines model of the provider it belongs to.
with

source as (

    select * from {{ source_or_empty('raw_focus', 'focus_rows', raw_columns__raw_focus__focus_rows()) }}

),

renamed as (

    select
        _row_key as focus_row_key,
        _dlt_load_id as load_id,
        _billing_period as billing_period,
        cast(left(charge_period_start, 10) as date) as usage_date,
        billing_account_id,
        coalesce(sub_account_id, billing_account_id) as project_id,
        nullif(resource_id, '') as resource_id,
        upper(billing_currency) as billing_currency,
        cast(billed_cost as {{ money_type() }}) as billed_cost,
        charge_category,
        charge_description,
        coalesce(sku_meter, charge_description) as sku_meter,
        consumed_quantity,
        consumed_unit,
        pricing_category,
        provider_name,
        service_category,
        service_name,
        nullif(tags, '{}') as tags,
        x_columns,
        service_category = 'AI and Machine Learning' as is_ai,
        case
            when provider_name in ('Microsoft', 'Azure', 'Microsoft Azure') then 'azure_openai'
            when provider_name in ('AWS', 'Amazon Web Services') then 'aws_bedrock'
            when provider_name in ('Google Cloud', 'Google', 'GCP') then 'gcp_vertex'
        end as provider

    from source

),

final as (

    select
        *,
        {{ azure_meter_model('sku_meter') }} as model,
        {{ azure_meter_token_class('sku_meter') }} as token_class,
        case
            when pricing_category = 'Committed' then 'provisioned'
            else {{ azure_meter_service_tier('sku_meter') }}
        end as service_tier,
        case
            when charge_category = 'Credit' then 'credit'
            when charge_category = 'Tax' then 'tax'
            when charge_category = 'Usage' and {{ azure_meter_token_class('sku_meter') }} is not null then 'usage'
            else 'other'
        end as charge_type,
        case
            when
                {{ azure_meter_token_class('sku_meter') }} is not null
                and lower(consumed_unit) like '%token%'
                then cast(round(consumed_quantity * {{ token_unit_multiplier('consumed_unit') }}) as bigint)
            else 0
        end as tokens

    from renamed

)

select * from final
