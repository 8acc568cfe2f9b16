-- Every row of fct_ai_spend split over the teams, features and customers that spent it, with the
-- rule that assigned each dollar. One row per spend_key, team, feature, customer and cost
-- center. The parts of a row add up to the row exactly (rounding left-overs go to its largest
-- part), so per provider and day the allocated billed cost equals the bill to the cent.
--
-- allocation_method:
--   rule               a rule (config/allocation_rules.csv) claims the row whole
--   telemetry          the rule says split_by=telemetry and the applications' telemetry saw the
--                      key that day: the dollars follow each request's share of estimated cost
--                      (the rule's own team/feature/customer, where set, still win)
--   rule_no_telemetry  split_by=telemetry but no telemetry for that key and day: the rule's
--                      values, `unallocated` for what it leaves empty
--   unallocated        no rule claims the row: team, feature, customer all `unallocated`
{%- set money_columns = [
    'billed_cost', 'effective_cost', 'billed_cost_usd', 'effective_cost_usd',
    'list_cost_usd', 'estimated_cost_usd', 'billed_cost_reporting',
    'effective_cost_reporting', 'list_cost_reporting', 'estimated_cost_reporting',
    'caching_savings_usd', 'batch_savings_usd', 'discount_savings_usd',
] %}
{%- set token_columns = [
    'input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens',
    'total_input_tokens', 'requests', 'web_search_requests',
] %}
{#- the fact's columns each part carries (split below where they are amounts) -#}
{%- set spend_columns = [
    'usage_date', 'provider', 'project_id', 'api_key_id', 'user_email', 'model', 'service_tier',
    'charge_type', 'billing_currency', 'reporting_currency', 'pricing_status', 'has_usage', 'has_bill',
] + money_columns + token_columns %}

{#- Incremental by usage day (macros/day_versions.sql): a run allocates the days whose fact
    rows, rule matches or telemetry weights changed, and every day when the teams did. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={
        'day_inputs': [
            {'ref': 'fct_ai_spend', 'piece': 'version'},
            {'ref': 'int_ai_spend__rule_matched', 'piece': 'version'},
            {
                'ref': 'int_telemetry__cost_weights',
                'day': 'request_date',
                'piece': "concat(max(load_id), '/', count(*), '/', max(price_book_fingerprint))",
            },
        ],
        'day_fingerprints': ['teams'],
    },
) }}

with

{{ day_version_ctes() }}

spend as (

    select spend.*
    from {{ ref('fct_ai_spend') }} as spend
    {{ only_days_to_build('spend') }}

),

matched as (

    select matched.*
    from {{ ref('int_ai_spend__rule_matched') }} as matched
    {{ only_days_to_build('matched') }}

),

weights as (

    select weights.*
    from {{ ref('int_telemetry__cost_weights') }} as weights
    {{ only_days_to_build('weights', 'request_date') }}

),

teams as (

    select
        cast(team as varchar) as team,
        cast(cost_center as varchar) as cost_center
    from {{ ref('stg_config__teams') }}

),

to_split as (

    select
        spend.spend_key,
        spend.usage_date,
        spend.provider,
        spend.api_key_id,
        spend.model,
        exists(
            select 1 from weights
            where
                weights.request_date = spend.usage_date
                and weights.provider = spend.provider
                and weights.api_key_id = spend.api_key_id
                and weights.model = spend.model
        ) as has_model_telemetry
    from spend
    inner join matched on spend.spend_key = matched.spend_key
    where matched.split_by = 'telemetry' and spend.api_key_id is not null

),

-- the key's telemetry for that model where there is some, else for the whole key
telemetry_parts as (

    select
        to_split.spend_key,
        weights.team,
        weights.feature,
        coalesce(weights.customer_id, 'internal') as customer,
        sum(weights.requests) as requests,
        sum(weights.total_tokens) as total_tokens,
        sum(weights.estimated_cost_usd) as estimated_cost_usd,
        bool_and(weights.estimated_cost_usd is not null) as is_priced
    from to_split
    inner join weights
        on
            to_split.usage_date = weights.request_date
            and to_split.provider = weights.provider
            and to_split.api_key_id = weights.api_key_id
            and (not to_split.has_model_telemetry or to_split.model = weights.model)
    group by
        to_split.spend_key,
        weights.team,
        weights.feature,
        coalesce(weights.customer_id, 'internal')

),

-- Shares from exact totals: the sums are decimal or integer (the same whatever order the
-- threads add them in) and each share is one division of two of them. Summing float weights
-- instead gave shares that differed in their last bits from run to run, and with them
-- allocated tokens and the cent-fractions of the split amounts.
telemetry_totals as (

    select
        *,
        bool_and(is_priced) over row_parts as all_priced,
        sum(estimated_cost_usd) over row_parts as total_cost_usd,
        sum(total_tokens) over row_parts as total_tokens_of_row,
        sum(requests) over row_parts as total_requests
    from telemetry_parts
    window row_parts as (partition by spend_key)

),

telemetry_shares as (

    select
        spend_key,
        team,
        feature,
        customer,
        case
            when all_priced and total_cost_usd > 0
                then cast(estimated_cost_usd as double precision) / cast(total_cost_usd as double precision)
            when total_tokens_of_row > 0
                then cast(total_tokens as double precision) / cast(total_tokens_of_row as double precision)
            else cast(requests as double precision) / cast(total_requests as double precision)
        end as share
    from telemetry_totals
    where (all_priced and total_cost_usd > 0) or total_tokens_of_row > 0 or total_requests > 0

),

parts as (

    select
        spend.spend_key,
        telemetry_shares.team as telemetry_team,
        telemetry_shares.feature as telemetry_feature,
        telemetry_shares.customer as telemetry_customer,
        coalesce(telemetry_shares.share, 1.0) as share,
        telemetry_shares.spend_key is not null as is_telemetry
    from spend
    left join telemetry_shares on spend.spend_key = telemetry_shares.spend_key

),

resolved as (

    select
        parts.spend_key,
        coalesce(matched.rule_team, parts.telemetry_team, 'unallocated') as team,
        coalesce(matched.rule_feature, parts.telemetry_feature, 'unallocated') as feature,
        coalesce(matched.rule_customer, parts.telemetry_customer, 'unallocated') as customer,
        matched.rule_cost_center,
        matched.rule_id as allocation_rule_id,
        matched.rule_line as allocation_rule_line,
        case
            when matched.rule_id is null then 'unallocated'
            when parts.is_telemetry then 'telemetry'
            when matched.split_by = 'telemetry' then 'rule_no_telemetry'
            else 'rule'
        end as allocation_method,
        parts.share
    from parts
    inner join matched on parts.spend_key = matched.spend_key

),

-- a rule that fixes the team (or feature) folds telemetry parts that differ only there
folded as (

    select
        resolved.spend_key,
        resolved.team,
        resolved.feature,
        resolved.customer,
        coalesce(resolved.rule_cost_center, teams.cost_center, 'unallocated') as cost_center,
        resolved.allocation_rule_id,
        resolved.allocation_rule_line,
        resolved.allocation_method,
        -- summed exactly (folded parts), then back to a float for the split
        cast(sum(cast(resolved.share as decimal(38, 18))) as double precision) as allocation_share
    from resolved
    left join teams on resolved.team = teams.team
    group by
        resolved.spend_key,
        resolved.team,
        resolved.feature,
        resolved.customer,
        coalesce(resolved.rule_cost_center, teams.cost_center, 'unallocated'),
        resolved.allocation_rule_id,
        resolved.allocation_rule_line,
        resolved.allocation_method

),

ranked as (

    select
        folded.*,
        {% for column in spend_columns %}
            spend.{{ column }},
        {% endfor %}
        row_number() over (
            partition by folded.spend_key
            order by folded.allocation_share desc, folded.team asc, folded.feature asc, folded.customer asc
        ) as part_rank
    from folded
    inner join spend on folded.spend_key = spend.spend_key

),

allocated as (

    select
        md5(concat_ws('|', spend_key, team, feature, customer, cost_center)) as allocation_key,
        spend_key,
        usage_date,
        provider,
        project_id,
        api_key_id,
        user_email,
        model,
        service_tier,
        charge_type,
        billing_currency,
        reporting_currency,
        team,
        feature,
        customer,
        cost_center,
        allocation_method,
        allocation_rule_id,
        allocation_rule_line,
        cast(allocation_share as decimal(38, 18)) as allocation_share,
        {% for column in money_columns %}
            {{ split_exactly(column) }} as {{ column }},
        {% endfor %}
        pricing_status,
        {% for column in token_columns %}
            {{ column }} * allocation_share as {{ column }},
        {% endfor %}
        has_usage,
        has_bill

    from ranked

),

final as (

    {{ with_day_version('allocated') }}

)

select * from final
