with

source as (

    select * from {{ source_or_empty('raw_anthropic', 'cost_report', raw_columns__raw_anthropic__cost_report()) }}

),

renamed as (

    select
        _row_key as cost_row_key,
        _dlt_load_id as load_id,
        {{ unix_to_utc_date('bucket_start') }} as usage_date,
        coalesce(workspace_id, 'default') as project_id,
        description,
        cost_type,
        model,
        token_type,
        service_tier,
        context_window,
        inference_geo,
        -- the API reports cents as a decimal string: "123.45" is $1.2345
        cast(amount_cents * 0.01 as {{ money_type() }}) as billed_cost,
        upper(currency) as billing_currency,
        case
            when cost_type = 'tokens' or cost_type is null and token_type is not null
                then 'usage'
            else coalesce(cost_type, 'other')
        end as charge_type

    from source

)

select * from renamed
