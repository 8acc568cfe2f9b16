{#- Day versions: how the spend chain (provider spend lines -> int_spend_lines_unioned ->
    fct_ai_spend -> allocation -> focus_ai_spend) rebuilds only the usage days whose inputs
    changed, so a daily run costs what arrived, not the history.

    Every row of a model in the chain stores `_day_version`: a hash of what its usage day was
    built from. Per day and input, that is
      - a staging view of raw data: the newest dlt load id and the row count (dlt merges
        re-deliver a window whole under a new load id and delete what a later delivery
        replaced, so a loaded, re-delivered or shrunk day moves one of them);
      - a model of the chain: its own `_day_version` for that day;
    then the fingerprints of the small tables that reach every day (a price book, FX rates,
    allocation rules, teams) and of the model's own SQL, so a changed rule or a new release
    of the model rebuilds every day and upgrading needs no --full-refresh.

    A model's pre-hook deletes the days whose stored version differs from the current one
    (new days have none; a day gone from the inputs has no current one), and its body builds
    the days it has no rows for. `dbt build --full-refresh` rebuilds a model whole. -#}

{#- A model of the chain declares what its days are built from in its config:

        {{ config(
            materialized='incremental', incremental_strategy='append', on_schema_change='fail',
            pre_hook="{{ delete_stale_days() }}",
            meta={'day_inputs': [{'ref': 'stg_openai__costs'}, ...], 'day_fingerprints': ['price_book']},
        ) }}

    An input is {'ref': model, 'day': its day column (usage_date), 'piece': 'load' for a staging
    view that exposes the dlt load id as `load_id`, 'version' for a model of the chain, or an
    aggregate of SQL}. A fingerprint is one of the names in day_fingerprint below. Its body
    starts its CTEs with day_version_ctes(), filters each input with only_days_to_build() and
    joins day_versions to its final rows for `_day_version`. -#}

{#- The usage day of the model's own rows: `usage_date`, or the SQL of meta.day_column (a
    model whose columns are fixed by a spec, as focus_ai_spend's are by FOCUS). -#}
{% macro own_day() -%}
    {{ return((config.meta_get('day_column') if config.meta_get is defined) or 'usage_date') }}
{%- endmacro %}

{#- The SQL of one day input's piece. -#}
{% macro day_input_piece(input) -%}
    {%- set piece = input.get('piece', 'load') -%}
    {%- if piece == 'load' -%}
        concat(max(load_id), '/', count(*))
    {%- elif piece == 'version' -%}
        max(_day_version)
    {%- else -%}
        {{ piece }}
    {%- endif -%}
{%- endmacro %}

{#- A fingerprint of a whole (small) relation: every row cast to text, sorted. Reads all of
    it, so only for reference tables (a few hundred rows), never for history. -#}
{% macro relation_fingerprint(relation) -%}
    (
        select md5(coalesce(string_agg(cast(fingerprinted as varchar), '|' order by cast(fingerprinted as varchar)), ''))
        from {{ relation }} as fingerprinted
    )
{%- endmacro %}

{#- The scalar SQL of a named fingerprint: what reaches every usage day of a model. -#}
{% macro day_fingerprint(name) -%}
    {%- if name == 'price_book' -%}
        ({{ price_book_fingerprint(ref('int_price_book')) }})
    {%- elif name == 'fx_rates' -%}
        {{ relation_fingerprint(ref('fx_rates')) }}
    {%- elif name == 'reporting_currency' -%}
        {{ reporting_currency() }}
    {%- elif name == 'allocation_rules' -%}
        {{ relation_fingerprint(ref('stg_config__allocation_rules')) }}
    {%- elif name == 'teams' -%}
        {{ relation_fingerprint(ref('stg_config__teams')) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("day_fingerprints: unknown fingerprint '" ~ name ~ "' in " ~ this) }}
    {%- endif -%}
{%- endmacro %}

{#- Per usage day of the model's inputs (its meta.day_inputs), `usage_date` and its
    `_day_version` (see the top of this file). Empty at parse time, when the config is not
    readable yet. -#}
{% macro day_versions() -%}
    {%- if config.meta_get is defined -%}
        {%- set inputs = config.meta_get('day_inputs') or [] -%}
        {%- set fingerprints = config.meta_get('day_fingerprints') or [] -%}
    {%- else -%}
        {#- sqlfluff's stand-in config (make lint) reads no meta: one input, to render valid SQL -#}
        {%- set inputs = [{'ref': 'lint_day_input'}] -%}
        {%- set fingerprints = [] -%}
    {%- endif -%}
    {%- if not inputs -%}
        {%- if execute and model.resource_type == 'model' -%}
            {{ exceptions.raise_compiler_error(this ~ ": a day-versioned model needs meta.day_inputs") }}
        {%- endif -%}
        {#- at parse time, and in a unit test (whose config is the test's): no versions #}
        select cast(null as date) as usage_date, cast(null as varchar) as _day_version
        where 1 = 0
    {%- else -%}
    {%- set own = model.checksum.checksum if execute and model.checksum is defined else '' -%}
    select
        usage_date,
        md5(concat(
            string_agg(concat(input_index, ':', piece), '|' order by input_index),
            '#{{ own }}'
            {%- for name in fingerprints %}, '#', {{ day_fingerprint(name) }}{% endfor %}
        )) as _day_version
    from (
        {%- for input in inputs %}
            {%- set day = input.get('day', 'usage_date') %}
            select
                {{ day }} as usage_date,
                {{ loop.index }} as input_index,
                {{ day_input_piece(input) }} as piece
            from {{ ref(input['ref']) }}
            where {{ day }} is not null
            group by {{ day }}
            {% if not loop.last %}union all{% endif %}
        {%- endfor %}
    ) as pieces
    group by usage_date
    {%- endif %}
{%- endmacro %}

{#- The pre-hook of a model of the chain: in an incremental run, deletes the usage days whose
    stored `_day_version` is not the current one. Joined on the day, full outer, so a day new
    in the inputs or gone from them counts. A table built before it stored versions loses
    every row (delete_days_to_rebuild), so the run rebuilds it whole. -#}
{% macro delete_stale_days() -%}
    {%- if is_incremental() -%}
        {%- set stale -%}
            select coalesce(current_days.usage_date, built_days.usage_date)
            from ({{ day_versions() }}) as current_days
            full outer join (
                select distinct {{ own_day() }} as usage_date, _day_version from {{ this }}
            ) as built_days
                on current_days.usage_date = built_days.usage_date
            where current_days._day_version is distinct from built_days._day_version
        {%- endset -%}
        {%- set needs = {'_day_version': 'varchar'} -%}
        {%- do needs.update(config.meta_get('day_new_columns') or {}) -%}
        {{ delete_days_to_rebuild(this, own_day() ~ ' in (' ~ stale ~ ')', needs) }}
    {%- endif -%}
{%- endmacro %}

{#- Whether the built table stores day versions: one built by a release before them does not,
    and is rebuilt whole (its pre-hook adds the columns of meta.day_new_columns and
    `_day_version`, and deletes every row). -#}
{% macro built_with_day_versions() -%}
    {%- if this is none -%}{{ return(false) }}{%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {{ return('_day_version' in columns) }}
{%- endmacro %}

{#- The CTEs every model of the chain starts with: `day_versions`, and, in an incremental run,
    `days_to_build` (`usage_date`): the days of the inputs it has no rows for (new ones and
    those the pre-hook deleted). Ends with a comma; the model's own CTEs follow. -#}
{% macro day_version_ctes() -%}
    day_versions as (

        {{ day_versions() }}

    ),

    {% if is_incremental() %}
        days_to_build as (

            select usage_date from day_versions
            {%- if built_with_day_versions() %}
                except
                select {{ own_day() }} from {{ this }}
            {%- endif %}

        ),
    {% endif %}
{%- endmacro %}

{#- Keeps the rows of `alias` (day column `day`) on the days this run builds, all of them in a
    full build: put right after an input's FROM. -#}
{% macro only_days_to_build(alias, day='usage_date') -%}
    {%- if is_incremental() %}
        inner join days_to_build on {{ alias }}.{{ day }} = days_to_build.usage_date
    {%- endif %}
{%- endmacro %}

{#- The rows of CTE `rows` with the `_day_version` of their usage day: a model's final select. -#}
{% macro with_day_version(rows) -%}
    select
        {{ rows }}.*,
        day_versions._day_version
    from {{ rows }}
    left join day_versions on {{ rows }}.usage_date = day_versions.usage_date
{%- endmacro %}
