-- A bill in a currency that the fx_rates seed does not cover on that day (and whose export
-- states no rate) cannot be reported in US dollars: list those lines.
select
    provider,
    usage_date,
    billing_currency,
    billed_cost
from {{ ref('int_spend_lines_unioned') }}
where usd_rate is null and billed_cost != 0
