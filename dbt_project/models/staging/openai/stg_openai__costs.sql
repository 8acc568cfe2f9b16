with

source as (

    select * from {{ source_or_empty('raw_openai', 'costs', raw_columns__raw_openai__costs()) }}

),

renamed as (

    select
        _row_key as cost_row_key,
        _dlt_load_id as load_id,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        project_id,
        api_key_id,
        line_item,
        -- real line items read "<model>, <token class>"; split on the last ", " and keep
        -- the raw string for anything that does not follow that shape
        nullif({{ regex_extract('line_item', "'^(.*), ([^,]+)$'", 1) }}, '') as line_item_model,
        coalesce(
            nullif({{ regex_extract('line_item', "'^(.*), ([^,]+)$'", 2) }}, ''), line_item
        ) as line_item_kind,
        cast(amount_value as {{ money_type() }}) as billed_cost,
        upper(amount_currency) as billing_currency,
        quantity,
        quantity_unit

    from source

),

classified as (

    select
        *,
        case
            when line_item_kind in ('batch input', 'batch output') then 'batch'
            else 'standard'
        end as service_tier,
        -- the same charge types the usage side gives (stg_openai__other_usage), so a bill
        -- and the usage that explains it meet on one fact row
        case
            when
                line_item_kind in (
                    'input',
                    'cached input',
                    'output',
                    'batch input',
                    'batch output',
                    'cache write',
                    'cached input write'
                )
                then 'usage'
            when line_item_kind = 'images' or lower(line_item) like 'image%' then 'image'
            when line_item_kind in ('characters', 'seconds', 'minutes') then 'audio'
            when lower(line_item) like '%storage%' then 'storage'
            when
                lower(line_item) like '%code interpreter%'
                or lower(line_item) like '%search%'
                then 'tool'
            else 'other'
        end as charge_type

    from renamed

)

select * from classified
