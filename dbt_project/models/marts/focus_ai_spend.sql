-- The allocated AI spend in the FinOps FOCUS 1.2 Cost and Usage column set, one row per
-- allocated part of a charge, so FOCUS-aware tools get team, feature and customer as x_
-- columns. BilledCost adds up to the bill exactly as the allocated fact does. Charge periods
-- are UTC days, start-inclusive and end-exclusive; billing periods are calendar months.
-- Provider-specific columns are prefixed x_ and come after the FOCUS columns.
-- FOCUS column names are PascalCase by the spec; quoting keeps them so on every warehouse
-- noqa: disable=RF06
--
-- Incremental by usage day (macros/day_versions.sql): a run rewrites the days whose allocated
-- rows changed. `_day_version` is that bookkeeping, not a FOCUS column: the export leaves it out.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_days() }}",
    meta={
        'day_inputs': [
            {'ref': 'fct_ai_spend_allocated', 'piece': 'version'},
            {'ref': 'fct_ai_spend', 'piece': 'version'},
        ],
        'day_column': 'cast("ChargePeriodStart" as date)',
    },
) }}

with

{{ day_version_ctes() }}

allocated as (

    select allocated.*
    from {{ ref('fct_ai_spend_allocated') }} as allocated
    {{ only_days_to_build('allocated') }}

),

spend as (

    select
        spend.spend_key,
        spend.tags,
        spend.context_window,
        spend.price_source
    from {{ ref('fct_ai_spend') }} as spend
    {{ only_days_to_build('spend') }}

),

providers as (

    select
        'openai' as provider,
        'OpenAI' as provider_name,
        'OpenAI' as invoice_issuer_name,
        'OpenAI API' as service_name,
        'OpenAI' as default_publisher
    union all
    select
        'anthropic' as provider,
        'Anthropic' as provider_name,
        'Anthropic' as invoice_issuer_name,
        'Claude API' as service_name,
        'Anthropic' as default_publisher
    union all
    select
        'cursor' as provider,
        'Cursor' as provider_name,
        'Cursor' as invoice_issuer_name,
        'Cursor' as service_name,
        'Cursor' as default_publisher
    union all
    select
        'aws_bedrock' as provider,
        'AWS' as provider_name,
        'AWS' as invoice_issuer_name,
        'Amazon Bedrock' as service_name,
        'AWS' as default_publisher
    union all
    select
        'gcp_vertex' as provider,
        'Google Cloud' as provider_name,
        'Google Cloud' as invoice_issuer_name,
        'Vertex AI' as service_name,
        'Google Cloud' as default_publisher
    union all
    select
        'azure_openai' as provider,
        'Microsoft' as provider_name,
        'Microsoft' as invoice_issuer_name,
        'Azure OpenAI Service' as service_name,
        'Microsoft' as default_publisher

),

shaped as (

    select
        allocated.*,
        spend.tags,
        spend.context_window,
        providers.provider_name,
        providers.invoice_issuer_name,
        providers.service_name,
        case
            when allocated.model ilike '%claude%' then 'Anthropic'
            when allocated.model ilike '%gemini%' then 'Google'
            when allocated.model ilike 'gpt%' or allocated.model ilike 'o_-%' or allocated.model ilike 'o_' then 'OpenAI'
            when allocated.model ilike '%nova%' or allocated.model ilike '%titan%' then 'Amazon'
            else providers.default_publisher
        end as publisher_name,
        case allocated.charge_type
            when 'credit' then 'Credit'
            when 'tax' then 'Tax'
            else 'Usage'
        end as charge_category,
        allocated.input_tokens + allocated.cached_input_tokens + allocated.cache_write_tokens
        + allocated.output_tokens as total_tokens,
        cast(allocated.usage_date as timestamp) as period_start,
        date_trunc('month', cast(allocated.usage_date as timestamp)) as month_start
    from allocated
    inner join spend on allocated.spend_key = spend.spend_key
    inner join providers on allocated.provider = providers.provider

),

focus_rows as (

    select
        -- FOCUS 1.2 columns
        cast(null as varchar) as "AvailabilityZone",
        cast(billed_cost as decimal(38, 12)) as "BilledCost",
        provider
        || ':'
        || case when provider in ('aws_bedrock', 'gcp_vertex', 'azure_openai') then project_id else 'organization' end
            as "BillingAccountId",
        cast(null as varchar) as "BillingAccountName",
        billing_currency as "BillingCurrency",
        cast(month_start as timestamp) as "BillingPeriodStart",
        cast(month_start + interval '1 month' as timestamp) as "BillingPeriodEnd",
        cast(null as varchar) as "ChargeClass",
        charge_category as "ChargeCategory",
        charge_type || ' of ' || coalesce(model, 'no model') || ' on ' || service_name as "ChargeDescription",
        'Usage-Based' as "ChargeFrequency",
        period_start as "ChargePeriodStart",
        period_start + interval '1 day' as "ChargePeriodEnd",
        cast(null as varchar) as "CommitmentDiscountCategory",
        cast(null as varchar) as "CommitmentDiscountId",
        cast(null as varchar) as "CommitmentDiscountName",
        cast(null as varchar) as "CommitmentDiscountStatus",
        cast(null as varchar) as "CommitmentDiscountType",
        case
            when charge_category = 'Usage' and total_tokens > 0 then cast(total_tokens as decimal(38, 12))
            when charge_category = 'Usage' then cast(coalesce(requests, 1) as decimal(38, 12))
        end as "ConsumedQuantity",
        case
            when charge_category = 'Usage' and total_tokens > 0 then 'Tokens'
            when charge_category = 'Usage' then 'Requests'
        end as "ConsumedUnit",
        cast(effective_cost as decimal(38, 12)) as "ContractedCost",
        cast(effective_cost as decimal(38, 12)) as "EffectiveCost",
        -- every charge lands on the provider's monthly invoice, but no source states its
        -- number: this is aispend's key for that invoice (provider, account, billing month)
        provider || ':' || {{ year_month('month_start') }} as "InvoiceId",
        -- the provider invoices directly (a marketplace resale would set BilledCost 0 here)
        invoice_issuer_name as "InvoiceIssuerName",
        cast(
            case
                when billing_currency = 'USD' and list_cost_usd is not null then list_cost_usd
                else billed_cost
            end as decimal(38, 12)
        ) as "ListCost",
        case when charge_category = 'Usage' then 'Standard' end as "PricingCategory",
        case
            when charge_category = 'Usage' and total_tokens > 0 then cast(total_tokens as decimal(38, 12))
            when charge_category = 'Usage' then cast(coalesce(requests, 1) as decimal(38, 12))
        end as "PricingQuantity",
        case
            when charge_category = 'Usage' and total_tokens > 0 then 'Tokens'
            when charge_category = 'Usage' then 'Requests'
        end as "PricingUnit",
        provider_name as "ProviderName",
        publisher_name as "PublisherName",
        cast(null as varchar) as "RegionId",
        cast(null as varchar) as "RegionName",
        api_key_id as "ResourceId",
        cast(null as varchar) as "ResourceName",
        case when api_key_id is not null then 'API Key' end as "ResourceType",
        'AI and Machine Learning' as "ServiceCategory",
        service_name as "ServiceName",
        'Generative AI' as "ServiceSubcategory",
        case when charge_category = 'Usage' then provider || ':' || coalesce(model, charge_type) || ':' || charge_type end as "SkuId",
        case when charge_category = 'Usage' then charge_type end as "SkuMeter",
        case
            when charge_category = 'Usage'
                then provider || ':' || coalesce(model, charge_type) || ':' || charge_type || ':' || service_tier
        end as "SkuPriceId",
        project_id as "SubAccountId",
        cast(null as varchar) as "SubAccountName",
        coalesce(tags, '{}') as "Tags",
        -- aispend columns
        provider as "x_Provider",
        model as "x_Model",
        api_key_id as "x_ApiKeyId",
        user_email as "x_UserEmail",
        service_tier as "x_ServiceTier",
        context_window as "x_ContextWindow",
        charge_type as "x_ChargeType",
        team as "x_Team",
        feature as "x_Feature",
        customer as "x_Customer",
        cost_center as "x_CostCenter",
        allocation_method as "x_AllocationMethod",
        allocation_rule_id as "x_AllocationRuleId",
        allocation_share as "x_AllocationShare",
        pricing_status as "x_PricingStatus",
        list_cost_usd as "x_ListCostUsd",
        billed_cost_usd as "x_BilledCostUsd",
        reporting_currency as "x_ReportingCurrency",
        billed_cost_reporting as "x_BilledCostReporting",
        input_tokens as "x_InputTokens",
        cached_input_tokens as "x_CachedInputTokens",
        cache_write_tokens as "x_CacheWriteTokens",
        output_tokens as "x_OutputTokens",
        requests as "x_Requests"

    from shaped

),

final as (

    select
        focus_rows.*,
        day_versions._day_version
    from focus_rows
    left join day_versions on cast(focus_rows."ChargePeriodStart" as date) = day_versions.usage_date

)

select * from final
