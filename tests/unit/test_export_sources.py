"""The billing-export file sources (AWS CUR, GCP billing, Azure cost, FOCUS) on their own,
against small files written here by hand with known totals (independent of the simulator)."""

from __future__ import annotations

import csv
import gzip
import json
import logging
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from ingestion._common import SourceDataError
from ingestion.aws_cur import aws_cur_source, read_cur_file
from ingestion.azure_cost import azure_cost_source, parse_tags, read_cost_file
from ingestion.focus import focus_source
from ingestion.gcp_billing import gcp_billing_source, read_billing_file

JUNE, JULY_END = date(2026, 6, 1), date(2026, 8, 1)


def run(tmp_path: Path, name: str, source: Any) -> duckdb.DuckDBPyConnection:
    p = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name=f"raw_{name}",
        pipelines_dir=str(tmp_path / "pl"),
    )
    p.run(source)
    return duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)


def write_csv(path: Path, header: list[str], rows: list[list[Any]], gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="") as fh:  # type: ignore[operator]
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return con.sql(sql).fetchone()


# --------------------------------------------------------------------------- AWS CUR

CUR_HEADER = [
    "identity_line_item_id", "bill_billing_entity", "line_item_usage_account_id",
    "line_item_line_item_type", "line_item_usage_start_date", "line_item_product_code",
    "line_item_usage_type", "line_item_usage_amount", "line_item_unblended_cost",
    "line_item_currency_code", "resource_tags", "product",
]  # fmt: skip


def cur_rows(scale: int) -> list[list[Any]]:
    return [
        ["a1", "AWS", "111122223333", "Usage", "2026-06-01T00:00:00Z", "AmazonBedrock",
         "USE1-NovaLite-input-tokens", "1250000", f"{Decimal('0.075') * scale}", "USD",
         '{"user_team": "support"}', '{"product_name": "Amazon Bedrock"}'],
        ["a2", "AWS Marketplace", "111122223333", "Usage", "2026-06-02T00:00:00Z",
         "prod-xyz", "USE1-MP:USE1_InputTokenCount-Units", "1000", "0.003", "USD", "{}",
         '{"product_name": "Claude 3.5 Sonnet (Amazon Bedrock Edition)"}'],
        ["a3", "AWS", "111122223333", "Credit", "2026-06-01T00:00:00Z", "AmazonBedrock", "",
         "0", "-0.5", "USD", "", ""],
        ["a4", "AWS", "111122223333", "Usage", "2026-06-01T00:00:00Z", "AmazonEC2",
         "USE1-BoxUsage:m5.large", "24", "2.304", "USD", "", ""],
    ][: 4 if scale == 1 else 3]  # fmt: skip


def test_cur_csv_and_parquet_restated_period_replaces(tmp_path):
    root = tmp_path / "cur"
    june = root / "data" / "BILLING_PERIOD=2026-06" / "cur-00001.csv.gz"
    write_csv(june, CUR_HEADER, cur_rows(1), gz=True)
    july = root / "data" / "BILLING_PERIOD=2026-07" / "cur-00001.snappy.parquet"
    july.parent.mkdir(parents=True)
    duckdb.sql(
        f"""copy (select 'b1' as identity_line_item_id, 'AWS' as bill_billing_entity,
            '444455556666' as line_item_usage_account_id, 'Usage' as line_item_line_item_type,
            timestamp '2026-07-03 00:00:00' as line_item_usage_start_date,
            'AmazonBedrock' as line_item_product_code,
            'USE1-Claude4Sonnet-output-tokens' as line_item_usage_type,
            1000.0::double as line_item_usage_amount, 0.015::double as line_item_unblended_cost,
            'USD' as line_item_currency_code,
            map {{'user_team': 'search'}} as resource_tags,
            map {{'product_name': 'Amazon Bedrock'}} as product)
        to '{july}' (format parquet, compression snappy)"""
    )
    con = run(tmp_path, "aws_cur", aws_cur_source(str(root), JUNE, JULY_END))
    totals = "select count(*), sum(line_item_unblended_cost) from raw_aws_cur.cur_line_items"
    assert one(con, totals) == (5, Decimal("1.897"))
    tags, start = one(
        con,
        "select resource_tags, line_item_usage_start_date from raw_aws_cur.cur_line_items "
        "where identity_line_item_id = 'b1'",
    )
    assert json.loads(tags) == {"user_team": "search"} and start == "2026-07-03T00:00:00Z"
    con.close()

    # June is delivered again: two rows fewer, Nova cost doubled -> June = 0.15 + 0.003 - 0.5
    write_csv(june, CUR_HEADER, cur_rows(2), gz=True)
    con = run(tmp_path, "aws_cur", aws_cur_source(str(root), JUNE, JULY_END))
    rows = con.sql(
        "select _billing_period, count(*), sum(line_item_unblended_cost) "
        "from raw_aws_cur.cur_line_items group by 1 order by 1"
    ).fetchall()
    assert rows == [("2026-06", 3, Decimal("-0.347")), ("2026-07", 1, Decimal("0.015"))]
    assert one(con, "select count(distinct _source_file) from raw_aws_cur.cur_line_items") == (2,)


def test_cur_malformed_money_names_file_row_and_field(tmp_path):
    rows = cur_rows(1)
    rows[1][8] = "0,003"
    path = write_csv(tmp_path / "data" / "BILLING_PERIOD=2026-06" / "c-00001.csv", CUR_HEADER, rows)
    with pytest.raises(
        SourceDataError, match=r"c-00001\.csv row 2: field 'line_item_unblended_cost'"
    ):
        list(read_cur_file(path, "2026-06", "c"))
    # in a pipeline the row is quarantined and the rest of the file loads
    con = run(tmp_path, "aws_cur", aws_cur_source(str(tmp_path), JUNE, JULY_END))
    assert one(con, "select count(*) from raw_aws_cur.cur_line_items") == (3,)
    assert one(con, "select source_row, field from raw_aws_cur.quarantine") == (
        2,
        "line_item_unblended_cost",
    )


# --------------------------------------------------------------------------- GCP billing


def gcp_row(month: str, day: str, service: str, cost: str, credits: list[str]) -> str:
    body = (
        '{"billing_account_id": "01AB", "service": {"id": "s", "description": "%s"}, '
        '"sku": {"id": "k", "description": " Gemini 2.5 Flash GA Text Input - Predictions"}, '
        '"usage_start_time": "%sT10:00:00Z", "usage_end_time": "%sT11:00:00Z", '
        '"project": {"id": "p1", "labels": [{"key": "team", "value": "ml"}]}, '
        '"labels": [{"key": "app", "value": "bot"}], "cost": %s, "currency": "USD", '
        '"currency_conversion_rate": 1.0, '
        '"usage": {"amount": 3040000, "unit": "count"}, "credits": [%s], '
        '"invoice": {"month": "%s"}, "cost_type": "regular"}'
    )
    creds = ", ".join(
        f'{{"name": "Free trial", "amount": {c}, "type": "PROMOTION"}}' for c in credits
    )
    return body % (service, day, day, cost, creds, month)


def test_gcp_jsonl_credits_parquet_and_restated_month(tmp_path):
    root = tmp_path / "gcp"
    root.mkdir()
    june = root / "export_202606.jsonl"
    june.write_text(
        gcp_row("202606", "2026-06-01", "Vertex AI", "0.912", ["-0.1", "-0.2"])
        + "\n"
        + gcp_row("202606", "2026-06-02", "Compute Engine", "1.1", [])
        + "\n"
    )
    july = root / "export_202607.parquet"
    duckdb.sql(
        f"""copy (select '01AB' as billing_account_id,
            {{'id': 's', 'description': 'Vertex AI'}} as service,
            {{'id': 'k', 'description': 'Gemini 2.5 Flash GA Text Output - Predictions'}} as sku,
            timestamptz '2026-07-05 23:00:00+00' as usage_start_time,
            {{'id': 'p2', 'labels': [{{'key': 'team', 'value': 'ds'}}]}} as project,
            1.25::double as cost, 'USD' as currency,
            {{'amount': 500.0::double, 'unit': 'count'}} as usage,
            [{{'name': 'promo', 'amount': -0.25::double, 'type': 'PROMOTION'}}] as credits,
            {{'month': '202607'}} as invoice, 'regular' as cost_type)
        to '{july}' (format parquet)"""
    )
    con = run(tmp_path, "gcp_billing", gcp_billing_source(str(root), JUNE, JULY_END))
    got = con.sql(
        "select invoice_month, sum(cost), sum(credits_total), count(*) "
        "from raw_gcp_billing.billing_export group by 1 order by 1"
    ).fetchall()
    assert got == [
        ("202606", Decimal("2.012"), Decimal("-0.3"), 2),
        ("202607", Decimal("1.25"), Decimal("-0.25"), 1),
    ]
    labels, credits, start = one(
        con,
        "select labels, credits, usage_start_time from raw_gcp_billing.billing_export "
        "where invoice_month = '202607'",
    )
    assert labels is None  # no resource labels on the row
    assert json.loads(credits)[0]["type"] == "PROMOTION" and start == "2026-07-05T23:00:00Z"
    con.close()

    june.write_text(gcp_row("202606", "2026-06-01", "Vertex AI", "0.5", ["-0.05"]) + "\n")
    con = run(tmp_path, "gcp_billing", gcp_billing_source(str(root), JUNE, JULY_END))
    assert one(
        con,
        "select count(*), sum(cost + credits_total) from raw_gcp_billing.billing_export "
        "where invoice_month = '202606'",
    ) == (1, Decimal("0.45"))


def test_gcp_malformed_credit_names_file_row_and_field(tmp_path):
    path = tmp_path / "e.jsonl"
    good = gcp_row("202606", "2026-06-01", "Vertex AI", "0.9", [])
    bad = gcp_row("202606", "2026-06-01", "Vertex AI", "0.9", ['"n/a"'])
    path.write_text(good + "\n" + bad + "\n")
    with pytest.raises(SourceDataError, match=r"e\.jsonl row 2: field 'credits\[0\]\.amount'"):
        list(read_billing_file(path))


# --------------------------------------------------------------------------- Azure cost

EA_HEADER = ["SubscriptionId", "ResourceGroup", "Date", "ProductName", "MeterCategory",
             "MeterSubCategory", "MeterName", "UnitOfMeasure", "Quantity",
             "CostInBillingCurrency", "ResourceId", "Tags", "ChargeType", "BillingAccountId",
             "BillingCurrencyCode", "BillingPeriodStartDate"]  # fmt: skip
MCA_HEADER = ["billingAccountId", "date", "meterName", "meterCategory", "meterSubCategory",
              "ProductName", "SubscriptionId", "resourceGroupName", "ResourceId", "quantity",
              "unitOfMeasure", "chargeType", "billingCurrency", "costInBillingCurrency",
              "costInUsd", "exchangeRatePricingToBilling", "tags",
              "billingPeriodStartDate"]  # fmt: skip


def ea_rows(cost: str) -> list[list[str]]:
    return [
        ["sub-1", "rg", "06/01/2026", "Azure OpenAI", "Cognitive Services", "Azure OpenAI",
         "gpt-4o-mini-0718-Inp-glbl Tokens", "1K", "18420", cost, "/subscriptions/sub-1/x",
         '"team": "support","env": "prod"', "Usage", "ea-1", "USD", "06/01/2026"],
        ["sub-1", "rg", "06/02/2026", "Virtual Machines", "Virtual Machines", "Dv5", "D2 v5",
         "1 Hour", "24", "2.304", "/subscriptions/sub-1/vm", "", "Usage", "ea-1", "USD",
         "06/01/2026"],
    ]  # fmt: skip


def test_azure_ea_and_mca_headers_tags_and_restated_month(tmp_path):
    root = tmp_path / "azure"
    ea = write_csv(root / "ea" / "202606.csv", EA_HEADER, ea_rows("2.763"))
    write_csv(root / "mca" / "202606.csv", MCA_HEADER, [
        ["mca-1", "2026-06-03", "gpt 4.1 mini cached Inp glbl", "Cognitive Services",
         "Azure OpenAI", "Azure OpenAI", "sub-2", "rg2", "/subscriptions/sub-2/y", "10.5", "1K",
         "Usage", "EUR", "0.92", "1.00", "0.92", "", "2026-06-01"],
    ])  # fmt: skip
    con = run(tmp_path, "azure_cost", azure_cost_source(str(root), JUNE, JULY_END))
    got = con.sql(
        "select _schema, date, billing_currency, sum(cost_in_billing_currency), any_value(tags),"
        " any_value(meter_name), any_value(cost_in_usd) from raw_azure_cost.cost_details "
        "group by 1, 2, 3 order by 1, 2"
    ).fetchall()
    assert [g[:4] for g in got] == [
        ("ea", date(2026, 6, 1), "USD", Decimal("2.763")),
        ("ea", date(2026, 6, 2), "USD", Decimal("2.304")),
        ("mca", date(2026, 6, 3), "EUR", Decimal("0.92")),
    ]
    assert json.loads(got[0][4]) == {"team": "support", "env": "prod"}
    assert got[2][5] == "gpt 4.1 mini cached Inp glbl" and got[2][6] == Decimal("1.00")
    con.close()

    write_csv(ea, EA_HEADER, ea_rows("3.000")[:1])  # June re-exported: VM row gone, new cost
    con = run(tmp_path, "azure_cost", azure_cost_source(str(root), JUNE, JULY_END))
    assert con.sql(
        "select _schema, count(*), sum(cost_in_billing_currency) from raw_azure_cost.cost_details"
        " group by 1 order by 1"
    ).fetchall() == [("ea", 1, Decimal("3.000")), ("mca", 1, Decimal("0.92"))]


def test_azure_tags_quirk_and_malformed_cost(tmp_path):
    assert json.loads(parse_tags('"env": "prod","team": "ml"', path=tmp_path, row=1)) == {
        "env": "prod",
        "team": "ml",
    }
    assert parse_tags("", path=tmp_path, row=1) is None
    assert json.loads(parse_tags('{"a": "b"}', path=tmp_path, row=1)) == {"a": "b"}
    rows = ea_rows("2.763")
    rows[1][9] = "12.3.4"
    path = write_csv(tmp_path / "ea.csv", EA_HEADER, rows)
    with pytest.raises(SourceDataError, match=r"ea\.csv row 2: field 'CostInBillingCurrency'"):
        list(read_cost_file(path))


# --------------------------------------------------------------------------- FOCUS

FOCUS_HEADER = ["BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodStart",
                "BillingPeriodEnd", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd",
                "ConsumedQuantity", "ConsumedUnit", "ProviderName", "ServiceCategory",
                "ServiceName", "SkuMeter", "SubAccountId", "Tags",
                "x_SkuMeterCategory"]  # fmt: skip


def focus_rows(ai_cost: str) -> list[list[str]]:
    common = ["ba-9", "USD", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"]
    return [
        [ai_cost, *common, "Usage", "2026-06-04T00:00:00Z", "2026-06-05T00:00:00Z", "2000000",
         "Tokens", "Microsoft", "AI and Machine Learning", "Azure OpenAI",
         "gpt-4o-mini-0718-Inp-glbl Tokens", "/subscriptions/s9", '{"team": "r"}',
         "Cognitive Services"],
        ["-0.25", *common, "Credit", "2026-06-04T00:00:00Z", "2026-06-05T00:00:00Z", "", "",
         "Microsoft", "AI and Machine Learning", "Azure OpenAI", "", "/subscriptions/s9", "",
         ""],
        ["1.92", *common, "Usage", "2026-06-04T00:00:00Z", "2026-06-05T00:00:00Z", "100", "GB",
         "Microsoft", "Storage", "Storage Accounts", "Hot LRS", "/subscriptions/s9", "{}", ""],
    ]  # fmt: skip


def test_focus_rows_x_columns_non_ai_count_and_restated_period(tmp_path, caplog):
    root = tmp_path / "focus"
    path = write_csv(root / "focus-202606.csv", FOCUS_HEADER, focus_rows("0.33"))
    with caplog.at_level(logging.INFO, logger="ingestion.focus"):
        con = run(tmp_path, "focus", focus_source(str(root), JUNE, JULY_END))
    assert "1 non-AI rows" in caplog.text
    assert one(con, "select count(*), sum(billed_cost) from raw_focus.focus_rows") == (
        3,
        Decimal("2.00"),
    )
    x_cols, tags, provider = one(
        con,
        "select x_columns, tags, provider_name from raw_focus.focus_rows where billed_cost = 0.33",
    )
    assert json.loads(x_cols) == {"x_SkuMeterCategory": "Cognitive Services"}
    assert json.loads(tags) == {"team": "r"} and provider == "Microsoft"
    con.close()

    write_csv(path, FOCUS_HEADER, focus_rows("0.40")[:2])
    con = run(tmp_path, "focus", focus_source(str(root), JUNE, JULY_END))
    assert one(con, "select count(*), sum(billed_cost) from raw_focus.focus_rows") == (
        2,
        Decimal("0.15"),
    )


def test_focus_malformed_billed_cost_is_quarantined(tmp_path):
    rows = focus_rows("0.33")
    rows[2][0] = "USD 1.92"
    write_csv(tmp_path / "focus" / "f.csv", FOCUS_HEADER, rows)
    con = run(tmp_path, "focus", focus_source(str(tmp_path / "focus"), JUNE, JULY_END))
    assert one(con, "select count(*), sum(billed_cost) from raw_focus.focus_rows") == (
        2,
        Decimal("0.08"),
    )
    reason = one(con, "select reason from raw_focus.quarantine where field = 'BilledCost'")[0]
    assert re.search(r"f\.csv row 3: field 'BilledCost' has value 'USD 1\.92'", reason)


def test_a_manifest_beside_the_data_is_not_read_as_data(tmp_path):
    """Azure writes `manifest.json` into every partitioned export run folder, AWS
    `metadata/BILLING_PERIOD=…/…-Manifest.json`: the table-shaped sources read CSV and Parquet
    only (a pretty-printed manifest read as JSON-lines failed the whole run)."""
    manifest = json.dumps({"manifestVersion": "2024-04-01", "blobCount": 1}, indent=2)

    def totals(name: str, source: Any, table: str, money: str) -> Any:
        with run(tmp_path, name, source) as con:
            return one(con, f"select count(*), sum({money}) from raw_{name}.{table}")

    run_dir = tmp_path / "az" / "costs" / "20260601-20260630" / "run-1"
    write_csv(run_dir / "part_0_0001.csv", ["SubscriptionId", "Date", "CostInBillingCurrency"],
              [["sub-1", "06/01/2026", "1.5"]])  # fmt: skip
    (run_dir / "manifest.json").write_text(manifest)
    source = azure_cost_source(str(tmp_path / "az"), JUNE, JULY_END)
    got = totals("azure_cost", source, "cost_details", "cost_in_billing_currency")
    assert got == (1, Decimal("1.5"))

    focus_dir = tmp_path / "focus"
    write_csv(focus_dir / "part_0_0001.csv", ["BilledCost", "BillingPeriodStart"],
              [["2.5", "2026-06-01T00:00:00Z"]])  # fmt: skip
    (focus_dir / "manifest.json").write_text(manifest)
    source = focus_source(str(focus_dir), JUNE, JULY_END)
    assert totals("focus", source, "focus_rows", "billed_cost") == (1, Decimal("2.5"))

    cur = tmp_path / "prefix" / "aispend-cur"  # the folder above the export: no data/ below it
    write_csv(cur / "data" / "BILLING_PERIOD=2026-06" / "aispend-cur-00001.csv",
              ["identity_line_item_id", "line_item_unblended_cost"], [["a1", "3.5"]])  # fmt: skip
    meta = cur / "metadata" / "BILLING_PERIOD=2026-06" / "aispend-cur-Manifest.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(manifest)
    source = aws_cur_source(str(tmp_path / "prefix"), JUNE, JULY_END)
    got = totals("aws_cur", source, "cur_line_items", "line_item_unblended_cost")
    assert got == (1, Decimal("3.5"))
