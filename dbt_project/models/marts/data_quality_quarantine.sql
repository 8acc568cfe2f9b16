-- Every row a file source could not interpret, from the `quarantine` table of every raw
-- dataset, in one place: which file and row, which field, why, and the raw row as delivered.
-- The data resource that reads the files writes its dataset's quarantine table, hence the
-- lineage on the data tables (see the quarantine_or_empty macro).
-- depends_on: {{ source('raw_aws_cur', 'cur_line_items') }}
-- depends_on: {{ source('raw_gcp_billing', 'billing_export') }}
-- depends_on: {{ source('raw_azure_cost', 'cost_details') }}
-- depends_on: {{ source('raw_focus', 'focus_rows') }}
-- depends_on: {{ source('raw_telemetry', 'otlp_spans') }}
-- depends_on: {{ source('raw_telemetry', 'request_log') }}
{%- set columns = {
    'source': 'varchar',
    'source_table': 'varchar',
    'source_file': 'varchar',
    'source_row': 'bigint',
    'field': 'varchar',
    'reason': 'varchar',
    'raw_row': 'varchar',
    'quarantined_at': 'timestamptz',
    '_partition': 'varchar',
    '_dlt_load_id': 'varchar'
} %}
{%- set datasets = ['raw_aws_cur', 'raw_gcp_billing', 'raw_azure_cost', 'raw_focus', 'raw_telemetry'] %}

with

unioned as (

    {% for dataset in datasets %}
        select
            source,
            source_table,
            source_file,
            source_row,
            field,
            reason,
            raw_row,
            quarantined_at,
            _partition,
            _dlt_load_id
        from {{ quarantine_or_empty(dataset, columns) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        md5(concat_ws('|', source, source_file, cast(source_row as varchar))) as quarantine_key,
        source,
        source_table,
        source_file,
        source_row,
        field,
        reason,
        raw_row,
        _partition as load_partition,
        cast(quarantined_at as timestamptz) as quarantined_at,
        _dlt_load_id as dlt_load_id
    from unioned

)

select * from final
