"""Synthetic cloud billing export FILES (AWS CUR 2.0, GCP billing export, Azure cost details,
FOCUS 1.2) for one company's cloud AI footprint, deterministic from `SimConfig.seed`.

`write_exports(config, root)` writes the files in the providers' own layouts; calling it again
with `restate=True` re-delivers every export's current (last) month with changed values,
replacing that billing period's files, as the providers do. `daily_totals(config)` is the
ground truth per provider, UTC day and billing currency for the AI rows the files hold.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import random
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ingestion.simulator.config import SimConfig

CUR_EXPORT = "aispend-cur"
AWS_ACCOUNTS = ("111122223333", "444455556666")
AWS_PAYER = "999988887777"
GCP_BILLING_ACCOUNT = "01ABCD-2345EF-6789GH"
GCP_PROJECTS = (
    ("acme-chatbot-prod", "123456789012", "support"),
    ("acme-search-dev", "210987654321", "search"),
)
EA_SUBSCRIPTION = "0f0e0d0c-1111-2222-3333-444455556666"
MCA_SUBSCRIPTION = "7a7b7c7d-8888-9999-aaaa-bbbbccccdddd"
FOCUS_BILLING_ACCOUNT = "focus-ba-5566"
FOCUS_SUBSCRIPTION = "3c3c3c3c-4444-5555-6666-777788889999"
Q10 = Decimal("0.0000000001")
TEAMS = (("support", "helpdesk"), ("search", "semantic-search"))

# (model token in usage type, token class suffix, USD per token)
BEDROCK_FIRST_PARTY = (
    ("NovaLite", "input-tokens", Decimal("0.00000006")),
    ("NovaLite", "output-tokens", Decimal("0.00000024")),
)
BEDROCK_CLAUDE = (
    ("Claude4Sonnet", "input-tokens", Decimal("0.000003")),
    ("Claude4Sonnet", "output-tokens", Decimal("0.000015")),
    ("Claude4Sonnet", "cache-read-input-token-count", Decimal("0.0000003")),
    ("Claude4Sonnet", "cache-write-input-token-count", Decimal("0.00000375")),
)
MARKETPLACE = (
    ("USE1-MP:USE1_InputTokenCount-Units", Decimal("0.000003")),
    ("USE1-MP:USE1_OutputTokenCount-Units", Decimal("0.000015")),
)
GEMINI_SKUS = (
    ("Gemini 2.5 Flash GA Text Input - Predictions", Decimal("0.0000003")),
    ("Gemini 2.5 Flash GA Text Output - Predictions", Decimal("0.0000025")),
    (" Gemini 2.5 Flash GA Input Text Caching", Decimal("0.000000075")),
)
AZURE_METERS = (
    ("gpt-4o-mini-0718-Inp-glbl Tokens", Decimal("0.000165")),
    ("gpt-4o-mini-0718-Outp-glbl Tokens", Decimal("0.00066")),
    ("gpt 4.1 mini cached Inp glbl", Decimal("0.0001")),
)


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


def _month(day: date) -> str:
    return day.strftime("%Y-%m")


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _rng(config: SimConfig, restate: bool, *parts: Any) -> random.Random:
    """Per-(export, day) generator; restated deliveries of the last month draw new values."""
    last = _month(config.end - timedelta(days=1))
    salt = "restated" if restate and parts and _month(parts[-1]) == last else "first"
    return random.Random("|".join(map(str, (config.seed, salt, *parts))))


def _iso(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


# --------------------------------------------------------------------------- row generation


def _aws_rows(config: SimConfig, restate: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen_months: set[str] = set()
    for day in _days(config.start, config.end):
        rng = _rng(config, restate, "aws", day)
        period_start = day.replace(day=1)
        base = {
            "bill_billing_period_start_date": _iso(period_start),
            "bill_payer_account_id": AWS_PAYER,
            "line_item_usage_start_date": _iso(day),
            "line_item_usage_end_date": _iso(day + timedelta(days=1)),
            "identity_time_interval": f"{_iso(day)}/{_iso(day + timedelta(days=1))}",
            "line_item_currency_code": "USD",
        }

        def add(base: dict[str, Any] = base, day: date = day, **kw: Any) -> None:
            row = {
                **base,
                "line_item_line_item_type": "Usage",
                "bill_billing_entity": "AWS",
                "line_item_operation": "InvokeModel",
                "line_item_resource_id": "",
                "line_item_iam_principal": "",
                "resource_tags": {},
                "product": {},
                "pricing_unit": "Tokens",
                **kw,
            }
            row["identity_line_item_id"] = f"li-{day:%Y%m%d}-{len(rows):06d}"
            rows.append(row)

        for n, account in enumerate(AWS_ACCOUNTS):
            team, feature = TEAMS[n]
            tags = {"user_team": team, "user_feature": feature}
            principal = f"arn:aws:iam::{account}:role/{feature}-app"
            profile = f"arn:aws:bedrock:us-east-1:{account}:application-inference-profile/{feature}"
            cross = "-cross-region-global" if n == 1 else ""
            for model, kind, rate in (*BEDROCK_FIRST_PARTY, *BEDROCK_CLAUDE):
                tokens = rng.randint(50_000, 3_000_000)
                add(
                    line_item_usage_account_id=account,
                    line_item_product_code="AmazonBedrock",
                    line_item_usage_type=f"USE1-{model}-{kind}"
                    + ("" if model == "NovaLite" else cross),
                    line_item_usage_amount=Decimal(tokens),
                    line_item_unblended_rate=rate,
                    line_item_unblended_cost=(tokens * rate).quantize(Q10),
                    line_item_resource_id=profile,
                    line_item_iam_principal=principal,
                    resource_tags=tags,
                    product={"product_name": "Amazon Bedrock"},
                    _ai=True,
                    _tokens=tokens,
                )
            for usage_type, rate in MARKETPLACE:
                tokens = rng.randint(10_000, 800_000)
                add(
                    line_item_usage_account_id=account,
                    line_item_product_code="prod-4k2claude35son",
                    bill_billing_entity="AWS Marketplace",
                    line_item_usage_type=usage_type,
                    line_item_usage_amount=Decimal(tokens),
                    line_item_unblended_rate=rate,
                    line_item_unblended_cost=(tokens * rate).quantize(Q10),
                    line_item_iam_principal=principal,
                    resource_tags=tags,
                    pricing_unit="Units",
                    product={"product_name": "Claude 3.5 Sonnet (Amazon Bedrock Edition)"},
                    _ai=True,
                    _tokens=tokens,
                )
            hours = Decimal(24)
            add(
                line_item_usage_account_id=account,
                line_item_product_code="AmazonEC2",
                line_item_usage_type="USE1-BoxUsage:m5.large",
                line_item_operation="RunInstances",
                line_item_usage_amount=hours,
                line_item_unblended_rate=Decimal("0.096"),
                line_item_unblended_cost=hours * Decimal("0.096"),
                pricing_unit="Hrs",
                product={"product_name": "Amazon Elastic Compute Cloud"},
                _ai=False,
                _tokens=0,
            )
            gb = Decimal(rng.randint(100, 900)) / 24
            add(
                line_item_usage_account_id=account,
                line_item_product_code="AmazonS3",
                line_item_usage_type="USE1-TimedStorage-ByteHrs",
                line_item_operation="StandardStorage",
                line_item_usage_amount=gb.quantize(Q10),
                line_item_unblended_rate=Decimal("0.023"),
                line_item_unblended_cost=(gb * Decimal("0.023")).quantize(Q10),
                pricing_unit="GB-Mo",
                product={"product_name": "Amazon Simple Storage Service"},
                _ai=False,
                _tokens=0,
            )
        if _month(day) not in seen_months:  # one credit and one tax line per month, on day one
            seen_months.add(_month(day))
            credit = -Decimal(rng.randint(100, 2_000)) / 100
            add(
                line_item_usage_account_id=AWS_ACCOUNTS[0],
                line_item_product_code="AmazonBedrock",
                line_item_line_item_type="Credit",
                line_item_usage_type="",
                line_item_operation="",
                line_item_usage_amount=Decimal(0),
                line_item_unblended_rate=None,
                line_item_unblended_cost=credit,
                pricing_unit="",
                _ai=True,
                _tokens=0,
                line_item_line_item_description="AWS Promotional Credit",
            )
            add(
                line_item_usage_account_id=AWS_ACCOUNTS[0],
                line_item_product_code="AmazonBedrock",
                line_item_line_item_type="Tax",
                line_item_usage_type="",
                line_item_operation="",
                line_item_usage_amount=Decimal(0),
                line_item_unblended_rate=None,
                line_item_unblended_cost=Decimal(rng.randint(100, 900)) / 100,
                pricing_unit="",
                _ai=True,
                _tokens=0,
                line_item_line_item_description="Tax for product code AmazonBedrock",
            )
            add(
                line_item_usage_account_id=AWS_ACCOUNTS[1],
                line_item_product_code="AmazonEC2",
                line_item_line_item_type="Tax",
                line_item_usage_type="",
                line_item_operation="",
                line_item_usage_amount=Decimal(0),
                line_item_unblended_rate=None,
                line_item_unblended_cost=Decimal("1.23"),
                pricing_unit="",
                _ai=False,
                _tokens=0,
            )
    return rows


def _gcp_rows(config: SimConfig, restate: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for day in _days(config.start, config.end):
        rng = _rng(config, restate, "gcp", day)
        for project_id, number, team in GCP_PROJECTS:
            hour = rng.randint(0, 23)
            start = f"{day.isoformat()}T{hour:02d}:00:00Z"
            end = f"{day.isoformat()}T{hour:02d}:59:59Z"
            common = {
                "billing_account_id": GCP_BILLING_ACCOUNT,
                "usage_start_time": start,
                "usage_end_time": end,
                "project": {
                    "id": project_id,
                    "number": number,
                    "name": project_id,
                    "labels": [{"key": "team", "value": team}],
                    "ancestry_numbers": f"/987654321/{number}/",
                },
                "system_labels": [],
                "location": {"location": "global", "country": None, "region": None, "zone": None},
                "export_time": f"{day.isoformat()}T23:59:00.000Z",
                "currency": "USD",
                "currency_conversion_rate": 1.0,
                "invoice": {"month": day.strftime("%Y%m")},
                "cost_type": "regular",
            }
            for sku, rate in GEMINI_SKUS:
                tokens = rng.randint(100_000, 9_000_000)
                cost = (tokens * rate).quantize(Q10)
                credits = []
                if rng.random() < 0.3:
                    credits = [
                        {
                            "name": "Free trial",
                            "amount": -(cost / 2).quantize(Q10),
                            "full_name": "Free trial credit",
                            "id": "12-abc",
                            "type": "PROMOTION",
                        }
                    ]
                rows.append(
                    {
                        **common,
                        "service": {"id": "C7E2-9256-1C43", "description": "Vertex AI"},
                        "sku": {
                            "id": f"SKU-{GEMINI_SKUS.index((sku, rate)):04d}",
                            "description": sku,
                        },
                        "labels": [{"key": "app", "value": team}],
                        "cost": cost,
                        "cost_at_list": cost,
                        "usage": {
                            "amount": tokens,
                            "unit": "count",
                            "amount_in_pricing_units": tokens / 1_000_000,
                            "pricing_unit": "count",
                        },
                        "credits": credits,
                        "_ai": True,
                        "_tokens": tokens,
                    }
                )
            hours = 24
            rows.append(
                {
                    **common,
                    "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
                    "sku": {"id": "CP-COMPUTEENGINE-VMIMAGE", "description": "N2 Instance Core"},
                    "labels": [],
                    "cost": Decimal("0.75"),
                    "cost_at_list": Decimal("0.75"),
                    "usage": {
                        "amount": hours * 3600,
                        "unit": "seconds",
                        "amount_in_pricing_units": hours,
                        "pricing_unit": "hour",
                    },
                    "credits": [],
                    "_ai": False,
                    "_tokens": 0,
                }
            )
    return rows


def _azure_rows(config: SimConfig, restate: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for day in _days(config.start, config.end):
        rng = _rng(config, restate, "azure", day)
        for schema, sub, currency, fx in (
            ("ea", EA_SUBSCRIPTION, "USD", Decimal(1)),
            ("mca", MCA_SUBSCRIPTION, "EUR", Decimal("0.92")),
        ):
            rg = f"rg-ai-{schema}"
            for meter, usd_rate in AZURE_METERS:
                qty = Decimal(rng.randint(1_000, 90_000_000)) / 1000  # in 1K tokens
                cost_usd = (qty * usd_rate).quantize(Q10)
                rows.append(
                    {
                        "_schema": schema,
                        "subscription": sub,
                        "rg": rg,
                        "date": day,
                        "meter_category": "Cognitive Services",
                        "meter_sub": "Azure OpenAI",
                        "product": "Azure OpenAI",
                        "meter": meter,
                        "unit": "1K",
                        "qty": qty,
                        "cost": (cost_usd * fx).quantize(Q10),
                        "cost_usd": cost_usd,
                        "fx": fx,
                        "currency": currency,
                        "price": usd_rate,
                        "resource_id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                        f"Microsoft.CognitiveServices/accounts/aoai-{schema}",
                        "tags": '"team": "support","env": "prod"' if schema == "ea" else "",
                        "_ai": True,
                        "_tokens": int(qty * 1000),
                    }
                )
            cost_usd = Decimal("2.304")
            rows.append(
                {
                    "_schema": schema,
                    "subscription": sub,
                    "rg": "rg-web",
                    "date": day,
                    "meter_category": "Virtual Machines",
                    "meter_sub": "Dv5 Series",
                    "product": "Virtual Machines Dv5 Series",
                    "meter": "D2 v5",
                    "unit": "1 Hour",
                    "qty": Decimal(24),
                    "cost": (cost_usd * fx).quantize(Q10),
                    "cost_usd": cost_usd,
                    "fx": fx,
                    "currency": currency,
                    "price": Decimal("0.096"),
                    "resource_id": f"/subscriptions/{sub}/resourceGroups/rg-web/providers/"
                    "Microsoft.Compute/virtualMachines/web-1",
                    "tags": '"env": "prod"',
                    "_ai": False,
                    "_tokens": 0,
                }
            )
    return rows


def _focus_rows(config: SimConfig, restate: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for day in _days(config.start, config.end):
        rng = _rng(config, restate, "focus", day)
        period = day.replace(day=1)
        common = {
            "BillingAccountId": FOCUS_BILLING_ACCOUNT,
            "BillingAccountName": "Acme Research",
            "BillingCurrency": "USD",
            "BillingPeriodStart": f"{period.isoformat()}T00:00:00Z",
            "BillingPeriodEnd": f"{_next_month(period).isoformat()}T00:00:00Z",
            "ChargePeriodStart": _iso(day),
            "ChargePeriodEnd": _iso(day + timedelta(days=1)),
            "ChargeCategory": "Usage",
            "ChargeClass": "",
            "InvoiceIssuerName": "Microsoft",
            "ProviderName": "Microsoft",
            "PublisherName": "Microsoft",
            "SubAccountId": f"/subscriptions/{FOCUS_SUBSCRIPTION}",
            "SubAccountName": "research",
            "RegionId": "swedencentral",
        }
        for meter, rate in AZURE_METERS[:2]:
            tokens = rng.randint(100_000, 20_000_000)
            cost = (Decimal(tokens) / 1000 * rate).quantize(Q10)
            rows.append(
                {
                    **common,
                    "ServiceCategory": "AI and Machine Learning",
                    "ServiceSubcategory": "Generative AI",
                    "ServiceName": "Azure OpenAI",
                    "ChargeDescription": meter,
                    "SkuId": "DZH318Z0BQ4B",
                    "SkuMeter": meter,
                    "ConsumedQuantity": Decimal(tokens),
                    "ConsumedUnit": "Tokens",
                    "PricingQuantity": Decimal(tokens) / 1000,
                    "PricingUnit": "1000 Tokens",
                    "BilledCost": cost,
                    "EffectiveCost": cost,
                    "ListCost": cost,
                    "ContractedCost": cost,
                    "ResourceId": f"/subscriptions/{FOCUS_SUBSCRIPTION}/resourceGroups/rg-r/"
                    "providers/Microsoft.CognitiveServices/accounts/aoai-research",
                    "Tags": json.dumps({"team": "research"}),
                    "x_SkuMeterCategory": "Cognitive Services",
                    "x_SkuMeterSubcategory": "Azure OpenAI",
                    "_ai": True,
                    "_tokens": tokens,
                }
            )
        cost = Decimal("1.92")
        rows.append(
            {
                **common,
                "ServiceCategory": "Storage",
                "ServiceSubcategory": "Object Storage",
                "ServiceName": "Storage Accounts",
                "ChargeDescription": "Hot LRS Data Stored",
                "SkuId": "DZH318Z0BNXX",
                "SkuMeter": "Hot LRS Data Stored",
                "ConsumedQuantity": Decimal(100),
                "ConsumedUnit": "GB",
                "PricingQuantity": Decimal(100),
                "PricingUnit": "1 GB/Month",
                "BilledCost": cost,
                "EffectiveCost": cost,
                "ListCost": cost,
                "ContractedCost": cost,
                "ResourceId": "",
                "Tags": "{}",
                "x_SkuMeterCategory": "Storage",
                "x_SkuMeterSubcategory": "Blob",
                "_ai": False,
                "_tokens": 0,
            }
        )
    return rows


# --------------------------------------------------------------------------- ground truth


def _ai_totals(config: SimConfig, restate: bool) -> dict[tuple[str, date, str], list[Any]]:
    acc: dict[tuple[str, date, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0])

    def add(key: tuple[str, date, str], cost: Decimal, tokens: int) -> None:
        acc[key][0] += cost
        acc[key][1] += tokens

    for r in _aws_rows(config, restate):
        if r["_ai"]:
            day = date.fromisoformat(r["line_item_usage_start_date"][:10])
            add(("aws_bedrock", day, "USD"), r["line_item_unblended_cost"], r["_tokens"])
    for r in _gcp_rows(config, restate):
        if r["_ai"]:
            day = date.fromisoformat(r["usage_start_time"][:10])
            cost = r["cost"] + sum((c["amount"] for c in r["credits"]), Decimal(0))
            add(("gcp_vertex", day, r["currency"]), cost, r["_tokens"])
    for r in _azure_rows(config, restate):
        if r["_ai"]:
            add(("azure_openai", r["date"], r["currency"]), r["cost"], r["_tokens"])
    for r in _focus_rows(config, restate):
        if r["_ai"]:
            day = date.fromisoformat(r["ChargePeriodStart"][:10])
            add(("azure_openai", day, r["BillingCurrency"]), r["BilledCost"], r["_tokens"])
    return acc


def daily_totals(config: SimConfig, restate: bool = False) -> list[dict[str, Any]]:
    """Ground truth of the AI rows the files hold, per provider, UTC day and billing currency.

    `billed_cost` is the exact Decimal sum in the billing currency, credits included with their
    (negative) sign; `tokens` all token classes. `restate=True` describes the files after the
    restated delivery.
    """
    return [
        {"provider": p, "date": d, "billing_currency": c, "billed_cost": v[0], "tokens": v[1]}
        for (p, d, c), v in sorted(_ai_totals(config, restate).items())
    ]


def ignored_row_counts(config: SimConfig, restate: bool = False) -> dict[str, int]:
    """Non-AI rows per export (EC2/S3, Compute Engine, VMs, FOCUS storage) that must be ignored."""
    return {
        "aws_cur": sum(not r["_ai"] for r in _aws_rows(config, restate)),
        "gcp_billing": sum(not r["_ai"] for r in _gcp_rows(config, restate)),
        "azure_cost": sum(not r["_ai"] for r in _azure_rows(config, restate)),
        "focus": sum(not r["_ai"] for r in _focus_rows(config, restate)),
    }


# --------------------------------------------------------------------------- writers


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # <= 15 significant digits: the float's repr is the same decimal
    if isinstance(value, date):
        return value.isoformat()
    return value


def _to_parquet(rows: list[dict[str, Any]], columns: dict[str, str], target: Path) -> None:
    """Write rows with the given DuckDB column types (MAP/STRUCT/LIST welcome) as snappy Parquet."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "rows.jsonl"
        with staged.open("w") as fh:
            for r in rows:
                fh.write(json.dumps({k: _plain(r.get(k)) for k in columns}) + "\n")
        json_cols = ", ".join(
            f"'{k}': '{'JSON' if t.startswith('MAP') else t}'" for k, t in columns.items()
        )
        select = ", ".join(
            f"cast({k} as {t}) as {k}" if t.startswith("MAP") else k for k, t in columns.items()
        )
        tmp_target = target.with_suffix(".tmp")
        duckdb.sql(
            f"copy (select {select} from read_json('{staged}', columns={{{json_cols}}}, "
            f"format='newline_delimited')) to '{tmp_target}' (format parquet, compression snappy)"
        )
        tmp_target.replace(target)


def _write_csv(
    rows: list[dict[str, Any]], header: list[str], target: Path, gz: bool = False
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if gz:
            # no time in the gzip header: the same rows give the same bytes on every delivery
            raw = stack.enter_context(target.open("wb"))
            binary = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="wb", mtime=0))
            fh: Any = stack.enter_context(io.TextIOWrapper(binary, newline=""))
        else:
            fh = stack.enter_context(target.open("w", newline=""))
        writer = csv.writer(fh)
        writer.writerow(header)
        for r in rows:
            writer.writerow(["" if r.get(h) is None else _csv_value(r.get(h)) for h in header])


def _csv_value(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


CUR_COLUMNS = {
    "identity_line_item_id": "VARCHAR",
    "identity_time_interval": "VARCHAR",
    "bill_billing_entity": "VARCHAR",
    "bill_billing_period_start_date": "TIMESTAMP",
    "bill_payer_account_id": "VARCHAR",
    "line_item_usage_account_id": "VARCHAR",
    "line_item_line_item_type": "VARCHAR",
    "line_item_usage_start_date": "TIMESTAMP",
    "line_item_usage_end_date": "TIMESTAMP",
    "line_item_product_code": "VARCHAR",
    "line_item_usage_type": "VARCHAR",
    "line_item_operation": "VARCHAR",
    "line_item_resource_id": "VARCHAR",
    "line_item_usage_amount": "DOUBLE",
    "line_item_unblended_rate": "VARCHAR",
    "line_item_unblended_cost": "DOUBLE",
    "line_item_currency_code": "VARCHAR",
    "line_item_line_item_description": "VARCHAR",
    "line_item_iam_principal": "VARCHAR",
    "pricing_unit": "VARCHAR",
    "product": "MAP(VARCHAR, VARCHAR)",
    "resource_tags": "MAP(VARCHAR, VARCHAR)",
}
EA_HEADER = [
    "InvoiceSectionName",
    "AccountName",
    "SubscriptionId",
    "SubscriptionName",
    "ResourceGroup",
    "ResourceLocation",
    "Date",
    "ProductName",
    "MeterCategory",
    "MeterSubCategory",
    "MeterId",
    "MeterName",
    "MeterRegion",
    "UnitOfMeasure",
    "Quantity",
    "EffectivePrice",
    "CostInBillingCurrency",
    "ConsumedService",
    "ResourceId",
    "Tags",
    "ChargeType",
    "PricingModel",
    "BillingAccountId",
    "BillingCurrencyCode",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
]
MCA_HEADER = [
    "invoiceId",
    "billingAccountId",
    "billingPeriodStartDate",
    "billingPeriodEndDate",
    "date",
    "serviceFamily",
    "consumedService",
    "meterId",
    "meterName",
    "meterCategory",
    "meterSubCategory",
    "meterRegion",
    "ProductName",
    "SubscriptionId",
    "subscriptionName",
    "resourceGroupName",
    "ResourceId",
    "resourceLocation",
    "effectivePrice",
    "quantity",
    "unitOfMeasure",
    "chargeType",
    "billingCurrency",
    "pricingCurrency",
    "costInBillingCurrency",
    "costInPricingCurrency",
    "costInUsd",
    "exchangeRatePricingToBilling",
    "exchangeRateDate",
    "tags",
    "pricingModel",
]
FOCUS_HEADER = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "ResourceId",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_SkuMeterCategory",
    "x_SkuMeterSubcategory",
]


def _by_month(rows: list[dict[str, Any]], key: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[key(r)].append(r)
    return dict(sorted(out.items()))


def _azure_record(r: dict[str, Any]) -> dict[str, Any]:
    day: date = r["date"]
    period = day.replace(day=1)
    period_end = _next_month(period) - timedelta(days=1)
    if r["_schema"] == "ea":
        return {
            "InvoiceSectionName": "AI",
            "AccountName": "acme-ea",
            "SubscriptionId": r["subscription"],
            "SubscriptionName": "ai-prod",
            "ResourceGroup": r["rg"],
            "ResourceLocation": "eastus2",
            "Date": day.strftime("%m/%d/%Y"),
            "ProductName": r["product"],
            "MeterCategory": r["meter_category"],
            "MeterSubCategory": r["meter_sub"],
            "MeterId": "11111111-2222-3333-4444-555555555555",
            "MeterName": r["meter"],
            "MeterRegion": "US East 2",
            "UnitOfMeasure": r["unit"],
            "Quantity": r["qty"],
            "EffectivePrice": r["price"],
            "CostInBillingCurrency": r["cost"],
            "ConsumedService": "Microsoft.CognitiveServices",
            "ResourceId": r["resource_id"],
            "Tags": r["tags"],
            "ChargeType": "Usage",
            "PricingModel": "On Demand",
            "BillingAccountId": "80000001",
            "BillingCurrencyCode": r["currency"],
            "BillingPeriodStartDate": period.strftime("%m/%d/%Y"),
            "BillingPeriodEndDate": period_end.strftime("%m/%d/%Y"),
        }
    return {
        "invoiceId": "",
        "billingAccountId": "mca-acct-1234:5678_2019-05-31",
        "billingPeriodStartDate": period.isoformat(),
        "billingPeriodEndDate": period_end.isoformat(),
        "date": day.isoformat(),
        "serviceFamily": "AI + Machine Learning",
        "consumedService": "Microsoft.CognitiveServices",
        "meterId": "11111111-2222-3333-4444-555555555555",
        "meterName": r["meter"],
        "meterCategory": r["meter_category"],
        "meterSubCategory": r["meter_sub"],
        "meterRegion": "EU West",
        "ProductName": r["product"],
        "SubscriptionId": r["subscription"],
        "subscriptionName": "ai-eu",
        "resourceGroupName": r["rg"],
        "ResourceId": r["resource_id"],
        "resourceLocation": "westeurope",
        "effectivePrice": r["price"],
        "quantity": r["qty"],
        "unitOfMeasure": r["unit"],
        "chargeType": "Usage",
        "billingCurrency": r["currency"],
        "pricingCurrency": "USD",
        "costInBillingCurrency": r["cost"],
        "costInPricingCurrency": r["cost_usd"],
        "costInUsd": r["cost_usd"],
        "exchangeRatePricingToBilling": r["fx"],
        "exchangeRateDate": period.isoformat(),
        "tags": r["tags"],
        "pricingModel": "On Demand",
    }


def write_exports(
    config: SimConfig, root: Path, restate: bool = False, months_from: str | None = None
) -> dict[str, Path]:
    """Write the four exports under `root` for the UTC days [config.start, config.end).

    With `restate=True` only the current (last) month of each export is written again, with
    changed values, replacing that billing period's files (the earlier months are untouched,
    as a provider's re-delivery leaves them). With `months_from` ('YYYY-MM') only that month
    and later ones are written (the next day's delivery: earlier months' files are left as
    they are, byte for byte and with their times). Returns the export roots by name.
    """
    root = Path(root)
    last = _month(config.end - timedelta(days=1))

    def wanted(month: str) -> bool:
        if restate:
            return month == last
        return months_from is None or month >= months_from

    paths = {name: root / name for name in ("aws_cur", "gcp_billing", "azure_cost", "focus")}

    # AWS CUR 2.0: Parquet per BILLING_PERIOD; the first month as gzip CSV (JSON text maps)
    aws = _by_month(_aws_rows(config, restate), lambda r: r["line_item_usage_start_date"][:7])
    for n, (period, rows) in enumerate(aws.items()):
        if not wanted(period):
            continue
        data_dir = paths["aws_cur"] / "data" / f"BILLING_PERIOD={period}"
        for old in data_dir.glob(f"{CUR_EXPORT}-*"):
            old.unlink()
        if n == 0:
            target = data_dir / f"{CUR_EXPORT}-00001.csv.gz"
            _write_csv(rows, list(CUR_COLUMNS), target, gz=True)
        else:
            target = data_dir / f"{CUR_EXPORT}-00001.snappy.parquet"
            _to_parquet(rows, CUR_COLUMNS, target)
        meta = paths["aws_cur"] / "metadata" / f"BILLING_PERIOD={period}"
        meta.mkdir(parents=True, exist_ok=True)
        (meta / f"{CUR_EXPORT}-Manifest.json").write_text(
            json.dumps(
                {
                    "executionId": f"{config.seed}-{period}-{'restated' if restate else 'first'}",
                    "billingPeriod": {"start": f"{period}-01T00:00:00Z"},
                    "dataFiles": [str(target.relative_to(paths["aws_cur"]))],
                    "reportName": CUR_EXPORT,
                    "dataFormat": target.suffixes[-1].lstrip("."),
                    "numRows": len(rows),
                },
                indent=2,
            )
        )

    # GCP billing export: one JSONL per invoice month; the second month also as Parquet instead
    gcp = _by_month(_gcp_rows(config, restate), lambda r: r["invoice"]["month"])
    for n, (month, rows) in enumerate(gcp.items()):
        if not wanted(f"{month[:4]}-{month[4:]}"):
            continue
        base = paths["gcp_billing"] / f"gcp_billing_export_v1_{GCP_BILLING_ACCOUNT}_{month}"
        for old in paths["gcp_billing"].glob(f"*_{month}.*"):
            old.unlink()
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        if n == 1:
            _gcp_parquet(clean, base.with_suffix(".parquet"))
        else:
            base.parent.mkdir(parents=True, exist_ok=True)
            with base.with_suffix(".jsonl").open("w") as fh:
                for r in clean:
                    fh.write(json.dumps(r, default=_plain) + "\n")

    # Azure cost details: a monthly actual-cost CSV per export (EA in USD, MCA in EUR)
    az = _by_month(_azure_rows(config, restate), lambda r: f"{r['_schema']}|{_month(r['date'])}")
    for key, rows in az.items():
        schema, month = key.split("|")
        if not wanted(month):
            continue
        header = EA_HEADER if schema == "ea" else MCA_HEADER
        target = paths["azure_cost"] / f"{schema}-actual-cost" / f"{month.replace('-', '')}.csv"
        _write_csv([_azure_record(r) for r in rows], header, target)

    # FOCUS 1.2 from a separate Azure billing account: CSV per month, the last also as Parquet
    focus = _by_month(_focus_rows(config, restate), lambda r: r["BillingPeriodStart"][:7])
    months = list(focus)
    for month, rows in focus.items():
        if not wanted(month):
            continue
        stem = paths["focus"] / f"focus-{FOCUS_BILLING_ACCOUNT}-{month.replace('-', '')}"
        for old in paths["focus"].glob(f"{stem.name}.*"):
            old.unlink()
        if month == months[-1] and len(months) > 1:
            cols = {h: "VARCHAR" for h in FOCUS_HEADER}
            for h in (
                "BilledCost",
                "EffectiveCost",
                "ListCost",
                "ContractedCost",
                "ConsumedQuantity",
                "PricingQuantity",
            ):
                cols[h] = "DECIMAL(38, 12)"
            _to_parquet(
                [
                    {h: _csv_value(r[h]) if cols[h] == "VARCHAR" else r[h] for h in FOCUS_HEADER}
                    for r in rows
                ],
                cols,
                stem.with_suffix(".parquet"),
            )
        else:
            _write_csv(rows, FOCUS_HEADER, stem.with_suffix(".csv"))
    return paths


def _gcp_parquet(rows: list[dict[str, Any]], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "rows.jsonl"
        with staged.open("w") as fh:
            for r in rows:
                fh.write(json.dumps(r, default=_plain) + "\n")
        kv = "STRUCT(key VARCHAR, value VARCHAR)[]"
        cols = {
            "billing_account_id": "VARCHAR",
            "service": "STRUCT(id VARCHAR, description VARCHAR)",
            "sku": "STRUCT(id VARCHAR, description VARCHAR)",
            "usage_start_time": "TIMESTAMPTZ",
            "usage_end_time": "TIMESTAMPTZ",
            "project": f"STRUCT(id VARCHAR, number VARCHAR, name VARCHAR, labels {kv}, "
            "ancestry_numbers VARCHAR)",
            "labels": kv,
            "system_labels": kv,
            "location": "STRUCT(location VARCHAR, country VARCHAR, region VARCHAR, zone VARCHAR)",
            "export_time": "TIMESTAMPTZ",
            "cost": "DOUBLE",
            "cost_at_list": "DOUBLE",
            "currency": "VARCHAR",
            "currency_conversion_rate": "DOUBLE",
            "usage": "STRUCT(amount DOUBLE, unit VARCHAR, amount_in_pricing_units DOUBLE, "
            "pricing_unit VARCHAR)",
            "credits": "STRUCT(name VARCHAR, amount DOUBLE, full_name VARCHAR, id VARCHAR, "
            "type VARCHAR)[]",
            "invoice": "STRUCT(month VARCHAR)",
            "cost_type": "VARCHAR",
        }
        spec = ", ".join(f"'{k}': '{v}'" for k, v in cols.items())
        con = duckdb.connect()
        con.sql("set timezone = 'UTC'")
        con.sql(
            f"copy (select * from read_json('{staged}', columns={{{spec}}}, "
            f"format='newline_delimited')) to '{target}' (format parquet, compression snappy)"
        )
        con.close()
