{#- The export days whose telemetry differs from what `built` (int_telemetry__usage_by_export_day)
    was built from. A day's rows per format carry one dlt load id (dlt replaces a day file's
    rows whole, merge key export_date), so a day differs when its newest load id or its number
    of model calls differs: a day file loaded or re-delivered since, a call dlt deleted from it
    because a later file re-delivered it (same primary key), or a day that is gone. Reads three
    columns of the raw rows and of `built`. -#}
{% macro telemetry_changed_export_days(requests, built) -%}
    select coalesce(loaded.export_date, built.export_date) as export_date
    from (
        select
            telemetry_format,
            export_date,
            max(load_id) as load_id,
            cast(count(*) as bigint) as requests
        from {{ requests }}
        group by telemetry_format, export_date
    ) as loaded
    full outer join (
        select
            telemetry_format,
            export_date,
            max(load_id) as load_id,
            cast(sum(requests) as bigint) as requests
        from {{ built }}
        group by telemetry_format, export_date
    ) as built
        on
            loaded.telemetry_format = built.telemetry_format
            and loaded.export_date = built.export_date
    where
        loaded.load_id is distinct from built.load_id
        or loaded.requests is distinct from built.requests
{%- endmacro %}
