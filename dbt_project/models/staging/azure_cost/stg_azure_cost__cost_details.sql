-- Azure cost-details rows (EA and MCA schemas, already normalised to one column set by the
-- loader), every meter; `is_ai` marks Azure OpenAI (Cognitive Services / Azure OpenAI).
with

source as (

    select * from {{ source_or_empty('raw_azure_cost', 'cost_details', raw_columns__raw_azure_cost__cost_details()) }}

),

renamed as (

    select
        _row_key as cost_row_key,
        _dlt_load_id as load_id,
        _schema as export_schema,
        _billing_month as billing_month,
        date as usage_date,
        subscription_id,
        resource_group,
        resource_id,
        product_name,
        meter_category,
        meter_sub_category,
        meter_name,
        unit_of_measure,
        quantity,
        cast(cost_in_billing_currency as {{ money_type() }}) as billed_cost,
        cost_in_usd,
        upper(billing_currency) as billing_currency,
        case
            when cost_in_usd is not null and cost_in_billing_currency != 0
                then cast(cost_in_usd / cost_in_billing_currency as {{ money_type() }})
        end as usd_per_billing_unit,
        charge_type as azure_charge_type,
        pricing_model,
        tags,
        (meter_category = 'Cognitive Services' and meter_sub_category ilike 'Azure OpenAI%')
        or product_name ilike 'Azure OpenAI%' as is_ai

    from source

),

final as (

    select
        *,
        {{ azure_meter_model('meter_name') }} as model,
        {{ azure_meter_token_class('meter_name') }} as token_class,
        case
            when lower(pricing_model) = 'reservation' then 'provisioned'
            else {{ azure_meter_service_tier('meter_name') }}
        end as service_tier,
        case
            when azure_charge_type = 'Refund' then 'refund'
            when azure_charge_type = 'Tax' then 'tax'
            when azure_charge_type = 'Purchase' then 'other'
            when {{ azure_meter_token_class('meter_name') }} is not null then 'usage'
            else 'other'
        end as charge_type,
        case
            when {{ azure_meter_token_class('meter_name') }} is not null
                then cast(round(quantity * {{ token_unit_multiplier('unit_of_measure') }}) as bigint)
            else 0
        end as tokens

    from renamed

)

select * from final
