-- Teams of config/teams.csv (or AISPEND_CONFIG_DIR) with their cost centers, as validated and
-- landed by the config load (ingestion/config/source.py).
{{ config(materialized='table') }}

with

source as (

    select * from {{ source_or_empty('raw_config', 'teams', raw_columns__raw_config__teams()) }}

),

final as (

    select
        cast(team as varchar) as team,
        cast(cost_center as varchar) as cost_center,
        cast(name as varchar) as name,
        cast(owner_email as varchar) as owner_email

    from source

)

select * from final
