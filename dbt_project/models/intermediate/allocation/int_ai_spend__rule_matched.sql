-- Each fact row with the one allocation rule that claims it (or none): rules valid on the row's
-- day whose provider and match apply, the lowest priority number winning, then the most
-- specific match type (api_key, user, tag, project, provider), then rule_id.
-- Incremental by usage day (macros/day_versions.sql): a run matches the days whose fact rows
-- changed, and every day when the rules did.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={
        'day_inputs': [{'ref': 'fct_ai_spend', 'piece': 'version'}],
        'day_fingerprints': ['allocation_rules'],
        'day_new_columns': {'usage_date': 'date'},
    },
) }}

with

{{ day_version_ctes() }}

spend as (

    select spend.*
    from {{ ref('fct_ai_spend') }} as spend
    {{ only_days_to_build('spend') }}

),

rules as (

    select
        -- a column that is empty on every line arrives untyped: cast everything
        cast(rule_id as varchar) as rule_id,
        cast(priority as integer) as priority,
        cast(match_type as varchar) as match_type,
        cast(provider as varchar) as provider,
        cast(match_value as varchar) as match_value,
        case when match_type = 'tag' then split_part(match_value, '=', 1) end as tag_key,
        case when match_type = 'tag' then substr(match_value, strpos(match_value, '=') + 1) end as tag_value,
        cast(team as varchar) as team,
        cast(feature as varchar) as feature,
        cast(customer as varchar) as customer,
        cast(cost_center as varchar) as cost_center,
        cast(split_by as varchar) as split_by,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(source_line as integer) as source_line,
        case match_type
            when 'api_key' then 1
            when 'user' then 2
            when 'tag' then 3
            when 'project' then 4
            else 5
        end as specificity
    from {{ ref('stg_config__allocation_rules') }}

),

candidates as (

    select
        spend.spend_key,
        rules.*
    from spend
    inner join rules
        on
            (rules.provider = '*' or spend.provider = rules.provider)
            and (rules.valid_from is null or spend.usage_date >= rules.valid_from)
            and (rules.valid_to is null or spend.usage_date < rules.valid_to)
            and (
                -- a provider rule names its provider (the loader insists), matched above
                rules.match_type = 'provider'
                or (rules.match_type = 'api_key' and {{ matches_pattern('spend.api_key_id', 'rules.match_value') }})
                or (rules.match_type = 'user' and {{ matches_pattern('spend.user_email', 'rules.match_value') }})
                or (rules.match_type = 'project' and {{ matches_pattern('spend.project_id', 'rules.match_value') }})
                or (
                    rules.match_type = 'tag'
                    and spend.tags is not null
                    and {{ matches_pattern(json_extract_text('spend.tags', 'rules.tag_key'), 'rules.tag_value') }}
                )
            )

),

ranked as (

    select
        *,
        row_number() over (
            partition by spend_key order by priority, specificity, rule_id
        ) as rule_rank
    from candidates

),

winners as (

    select *
    from ranked
    where rule_rank = 1

),

matched as (

    select
        spend.spend_key,
        spend.usage_date,
        winners.rule_id,
        winners.source_line as rule_line,
        winners.match_type as rule_match_type,
        winners.team as rule_team,
        winners.feature as rule_feature,
        winners.customer as rule_customer,
        winners.cost_center as rule_cost_center,
        coalesce(winners.split_by, 'none') as split_by
    from spend
    left join winners on spend.spend_key = winners.spend_key

),

final as (

    {{ with_day_version('matched') }}

)

select * from final
