-- A bill in a currency that the fx_rates seed does not cover on that day (and whose export
-- states no rate), or a day with no rate for the reporting currency (AISPEND_CURRENCY), cannot
-- be converted: list those lines.
select
    provider,
    usage_date,
    billing_currency,
    reporting_currency,
    billed_cost
from {{ ref('int_spend_lines_unioned') }}
where billed_cost != 0 and (usd_rate is null or usd_per_reporting_unit is null)
