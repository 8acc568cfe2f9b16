-- OpenAI's non-completions Usage API endpoints in one long relation: one row per day,
-- endpoint and grouping, with the endpoint's own quantity and unit.
with

embeddings as (

    select
        'embeddings:' || _row_key as usage_row_key,
        _dlt_load_id as load_id,
        'embeddings' as endpoint,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        project_id,
        api_key_id,
        model,
        'usage' as charge_type,
        cast(input_tokens as bigint) as quantity,
        'tokens' as quantity_unit,
        coalesce(input_tokens, 0) as input_tokens,
        num_model_requests as requests

    from {{ source_or_empty('raw_openai', 'embeddings_usage', raw_columns__raw_openai__embeddings_usage()) }}

),

moderations as (

    select
        'moderations:' || _row_key as usage_row_key,
        _dlt_load_id as load_id,
        'moderations' as endpoint,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        project_id,
        api_key_id,
        model,
        'usage' as charge_type,
        cast(input_tokens as bigint) as quantity,
        'tokens' as quantity_unit,
        coalesce(input_tokens, 0) as input_tokens,
        num_model_requests as requests

    from {{ source_or_empty('raw_openai', 'moderations_usage', raw_columns__raw_openai__moderations_usage()) }}

),

images as (

    select
        'images:' || _row_key as usage_row_key,
        _dlt_load_id as load_id,
        'images' as endpoint,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        project_id,
        api_key_id,
        model,
        'image' as charge_type,
        cast(images as bigint) as quantity,
        'images' as quantity_unit,
        cast(0 as bigint) as input_tokens,
        num_model_requests as requests

    from {{ source_or_empty('raw_openai', 'images_usage', raw_columns__raw_openai__images_usage()) }}

),

audio_speeches as (

    select
        'audio_speeches:' || _row_key as usage_row_key,
        _dlt_load_id as load_id,
        'audio_speeches' as endpoint,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        project_id,
        api_key_id,
        model,
        'audio' as charge_type,
        cast(characters as bigint) as quantity,
        'characters' as quantity_unit,
        cast(0 as bigint) as input_tokens,
        num_model_requests as requests

    from {{ source_or_empty('raw_openai', 'audio_speeches_usage', raw_columns__raw_openai__audio_speeches_usage()) }}

),

audio_transcriptions as (

    select
        'audio_transcriptions:' || _row_key as usage_row_key,
        _dlt_load_id as load_id,
        'audio_transcriptions' as endpoint,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        project_id,
        api_key_id,
        model,
        'audio' as charge_type,
        cast(seconds as bigint) as quantity,
        'seconds' as quantity_unit,
        cast(0 as bigint) as input_tokens,
        num_model_requests as requests

    from
        {{ source_or_empty('raw_openai', 'audio_transcriptions_usage', raw_columns__raw_openai__audio_transcriptions_usage()) }}

),

vector_stores as (

    select
        'vector_stores:' || _row_key as usage_row_key,
        _dlt_load_id as load_id,
        'vector_stores' as endpoint,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        project_id,
        cast(null as varchar) as api_key_id,
        cast(null as varchar) as model,
        'storage' as charge_type,
        cast(usage_bytes as bigint) as quantity,
        'bytes' as quantity_unit,
        cast(0 as bigint) as input_tokens,
        cast(null as bigint) as requests

    from {{ source_or_empty('raw_openai', 'vector_stores_usage', raw_columns__raw_openai__vector_stores_usage()) }}

),

code_interpreter_sessions as (

    select
        'code_interpreter_sessions:' || _row_key as usage_row_key,
        _dlt_load_id as load_id,
        'code_interpreter_sessions' as endpoint,
        {{ unix_to_utc_date('start_time') }} as usage_date,
        project_id,
        cast(null as varchar) as api_key_id,
        cast(null as varchar) as model,
        'tool' as charge_type,
        cast(num_sessions as bigint) as quantity,
        'sessions' as quantity_unit,
        cast(0 as bigint) as input_tokens,
        cast(null as bigint) as requests

    from
        {{ source_or_empty('raw_openai', 'code_interpreter_sessions_usage', raw_columns__raw_openai__code_interpreter_sessions_usage()) }}

),

unioned as (

    select * from embeddings
    union all
    select * from moderations
    union all
    select * from images
    union all
    select * from audio_speeches
    union all
    select * from audio_transcriptions
    union all
    select * from vector_stores
    union all
    select * from code_interpreter_sessions

)

select * from unioned
