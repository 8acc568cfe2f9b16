-- Invariant 1 (nothing lost), Amazon Bedrock: per UTC day and billing currency, the spend
-- lines' billed cost equals the raw CUR Bedrock rows (first-party and Marketplace, credits and
-- tax included) plus the FOCUS AI rows attributed to AWS, to the cent. Returns the days that differ.
with

lines as (

    select
        usage_date,
        billing_currency,
        sum(billed_cost) as lines_cost
    from {{ ref('int_aws_bedrock__spend_lines') }}
    group by 1, 2

),

feeds as (

    select
        cast(left(line_item_usage_start_date, 10) as date) as usage_date,
        upper(line_item_currency_code) as billing_currency,
        line_item_unblended_cost as feed_cost
    from {{ source_or_empty('raw_aws_cur', 'cur_line_items', raw_columns__raw_aws_cur__cur_line_items()) }}
    where
        line_item_product_code = 'AmazonBedrock'
        or (
            bill_billing_entity = 'AWS Marketplace'
            and (
                {{ json_extract_text('product', "'product_name'") }} ilike '%bedrock%'
                or {{ regex_contains("coalesce(line_item_usage_type, '')", "'MP:.*Token'", case_insensitive=true) }}
            )
        )

    union all

    select
        cast(left(charge_period_start, 10) as date) as usage_date,
        upper(billing_currency) as billing_currency,
        billed_cost as feed_cost
    from {{ source_or_empty('raw_focus', 'focus_rows', raw_columns__raw_focus__focus_rows()) }}
    where service_category = 'AI and Machine Learning' and provider_name in ('AWS', 'Amazon Web Services')

),

feed_totals as (

    select
        usage_date,
        billing_currency,
        sum(feed_cost) as feed_cost
    from feeds
    group by 1, 2

),

compared as (

    select
        coalesce(lines.usage_date, feed_totals.usage_date) as usage_date,
        coalesce(lines.billing_currency, feed_totals.billing_currency) as billing_currency,
        coalesce(lines.lines_cost, 0) as lines_cost,
        coalesce(feed_totals.feed_cost, 0) as feed_cost
    from lines
    full outer join feed_totals
        on lines.usage_date = feed_totals.usage_date and lines.billing_currency = feed_totals.billing_currency

)

select *
from compared
where abs(lines_cost - feed_cost) >= {{ var('reconciliation_tolerance_usd') }}
