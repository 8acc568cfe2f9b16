{#- The days whose rows in `upstream` differ from what `built` was built from: per day (and
    `keys`), the newest dlt load id and the number of model calls (`upstream_calls` counts
    them in the upstream, `where` filters the upstream rows the model reads; `built` stores
    both as `load_id` and `requests`). Reads three columns of each. -#}
{% macro changed_days(upstream, built, day_column, keys=[], upstream_calls='sum(requests)', where='1 = 1') -%}
    {%- set grain = keys + [day_column] -%}
    select coalesce(loaded.{{ day_column }}, built.{{ day_column }}) as {{ day_column }}
    from (
        select
            {{ grain | join(', ') }},
            max(load_id) as load_id,
            cast({{ upstream_calls }} as bigint) as requests
        from {{ upstream }}
        where {{ where }}
        group by {{ grain | join(', ') }}
    ) as loaded
    full outer join (
        select
            {{ grain | join(', ') }},
            max(load_id) as load_id,
            cast(sum(requests) as bigint) as requests
        from {{ built }}
        group by {{ grain | join(', ') }}
    ) as built
        on
        {%- for column in grain %}
            {% if not loop.first %}and {% endif %}loaded.{{ column }} = built.{{ column }}
        {%- endfor %}
    where
        loaded.load_id is distinct from built.load_id
        or loaded.requests is distinct from built.requests
{%- endmacro %}

{#- The export days whose telemetry differs from what `built` (int_telemetry__usage_by_export_day)
    was built from. A day's rows per format carry one dlt load id (dlt replaces a day file's
    rows whole, merge key export_date), so a day differs when its newest load id or its number
    of model calls differs: a day file loaded or re-delivered since, a call dlt deleted from it
    because a later file re-delivered it (same primary key), or a day that is gone. -#}
{% macro telemetry_changed_export_days(requests, built) -%}
    {{ changed_days(requests, built, 'export_date', ['telemetry_format'], 'count(*)') }}
{%- endmacro %}

{#- The UTC request days whose telemetry in `upstream` differs from what `built` was built from.
    A request day's rows come from its export day files, so a day file loaded, re-delivered or
    gone since moves the newest load id or the call count of one of its request days. -#}
{% macro telemetry_changed_request_days(upstream, built, where='1 = 1') -%}
    {{ changed_days(upstream, built, 'request_date', where=where) }}
{%- endmacro %}

{#- A fingerprint of the list-price book (int_price_book): the cost weights store the one they
    were priced with, and a book that changed since reprices every day (a new model, a new
    dated price or an override can reach any day). -#}
{% macro price_book_fingerprint(price_book) -%}
    select md5(coalesce(string_agg(
        concat_ws(
            '|', provider, model, token_class, service_tier,
            cast(tier_min_input_tokens as varchar), cast(valid_from as varchar),
            coalesce(cast(valid_to as varchar), '~'), cast(usd_per_million as varchar)
        ),
        ',' order by provider, model, token_class, service_tier, tier_min_input_tokens, valid_from
    ), '')) as fingerprint
    from {{ price_book }}
{%- endmacro %}

{#- The pre-hook of an incremental model that rebuilds the days it deletes: `delete ... where
    {where}`. A built table that lacks a column of `needs` (name: type; built before the model
    stored it) gets the column and loses every row, so the run rebuilds every day and
    upgrading needs no --full-refresh. The columns are added here, in the hook's transaction
    (dbt's on_schema_change alters in another, which DuckDB refuses to commit). -#}
{% macro delete_days_to_rebuild(relation, where, needs) -%}
    {%- set have = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- set missing = needs.keys() | reject('in', have) | list -%}
    {%- for name in missing %}
        alter table {{ relation }} add column {{ name }} {{ needs[name] }};
    {%- endfor %}
    delete from {{ relation }}{% if not missing %} where {{ where }}{% endif %}
{%- endmacro %}

{#- The days of `upstream` that `built` has no rows for: what an incremental run builds (the
    pre-hook has just deleted the changed ones). Joined to the upstream rather than filtered
    with NOT IN, so DuckDB pushes the days' range into the scan and skips the row groups of
    older days instead of reading every column of the history. -#}
{% macro days_not_built(upstream, built, day_column, where='1 = 1') -%}
    select {{ day_column }} as day_to_build from {{ upstream }} where {{ where }}
    except
    select {{ day_column }} from {{ built }}
{%- endmacro %}
