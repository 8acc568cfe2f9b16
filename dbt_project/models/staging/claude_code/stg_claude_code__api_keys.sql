with

source as (

    select * from {{ source_or_empty('raw_claude_code', 'anthropic_api_keys', raw_columns__raw_claude_code__anthropic_api_keys()) }}

),

renamed as (

    select
        id as api_key_id,
        name as api_key_name,
        coalesce(workspace_id, 'default') as project_id,
        status,
        created_at

    from source

)

select * from renamed
