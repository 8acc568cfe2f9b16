with

source as (

    select * from {{ source_or_empty('raw_claude_code', 'anthropic_workspaces', raw_columns__raw_claude_code__anthropic_workspaces()) }}

),

renamed as (

    select
        id as project_id,
        name as workspace_name,
        created_at,
        archived_at

    from source

)

select * from renamed
