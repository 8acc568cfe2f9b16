with

source as (

    select * from {{ source_or_empty('raw_cursor', 'members', raw_columns__raw_cursor__members()) }}

),

renamed as (

    select
        id as cursor_user_id,
        name as user_name,
        lower(email) as user_email,
        role,
        coalesce(is_removed, false) as is_removed

    from source

)

select * from renamed
