-- Allocation rules of config/allocation_rules.csv (or AISPEND_CONFIG_DIR), as validated and
-- landed by the config load (ingestion/config/source.py): a malformed file stops that load with
-- an error naming the file, the line and the field, before dbt runs.
{{ config(materialized='table') }}

with

source as (

    select * from {{ source_or_empty('raw_config', 'allocation_rules', raw_columns__raw_config__allocation_rules()) }}

),

final as (

    select
        cast(rule_id as varchar) as rule_id,
        cast(priority as bigint) as priority,
        cast(match_type as varchar) as match_type,
        cast(provider as varchar) as provider,
        cast(match_value as varchar) as match_value,
        cast(team as varchar) as team,
        cast(feature as varchar) as feature,
        cast(customer as varchar) as customer,
        cast(cost_center as varchar) as cost_center,
        cast(split_by as varchar) as split_by,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(note as varchar) as note,
        cast(source_line as bigint) as source_line

    from source

)

select * from final
