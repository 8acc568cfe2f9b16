"""Bad input files: every row-level problem puts the row in `raw_<source>.quarantine` (file, row,
field, reason, raw row) while the good rows load with exact totals; every file-level problem
fails naming the source and the file; re-runs neither double nor keep stale quarantine rows;
and a money column can never silently become text. Real dlt pipelines into a temp DuckDB."""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import dlt
import duckdb
import pytest
from dlt.extract.hints import TableNameMeta
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion._export_files import iter_rows
from ingestion._quarantine import (
    QUARANTINE_TABLE,
    RAW_ROW_MAX_CHARS,
    SCHEMA_CONTRACT,
    BadFileError,
    with_quarantine_counts,
)
from ingestion.aws_cur import aws_cur_source
from ingestion.azure_cost import azure_cost_source
from ingestion.focus import focus_source
from ingestion.gcp_billing import gcp_billing_source
from ingestion.telemetry import telemetry_source
from orchestration import cli

JUNE, AUG = date(2026, 6, 1), date(2026, 8, 1)
DAY1, DAY2 = date(2026, 6, 1), date(2026, 6, 2)
FACTORIES: dict[str, Callable[..., Any]] = {
    "aws_cur": aws_cur_source,
    "gcp_billing": gcp_billing_source,
    "azure_cost": azure_cost_source,
    "focus": focus_source,
    "telemetry": telemetry_source,
}
WINDOWS = {name: (JUNE, AUG) for name in FACTORIES} | {"telemetry": (DAY1, date(2026, 6, 3))}


def pipeline(tmp_path: Path, name: str) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name=f"raw_{name}",
        pipelines_dir=str(tmp_path / "pl"),
    )


def load(tmp_path: Path, name: str, root: Path, window: tuple[date, date] | None = None) -> Any:
    p = pipeline(tmp_path, name)
    p.run(FACTORIES[name](str(root), *(window or WINDOWS[name])))
    return p


def q(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def quarantined(tmp_path: Path, name: str) -> list[tuple[Any, ...]]:
    return q(
        tmp_path,
        "select source, source_file, source_row, field, reason, raw_row, _partition "
        f"from raw_{name}.quarantine order by source_file, source_row",
    )


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def error_chain(exc: BaseException | None) -> str:
    parts = []
    while exc is not None:
        parts.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


# ------------------------------------------------------------------ one file per source, 3 rows
# Each writer puts two good rows around row 2, which the case replaces; the data check is on
# the two good rows only.

CUR = ["identity_line_item_id", "line_item_usage_start_date", "line_item_usage_amount",
       "line_item_unblended_cost", "resource_tags"]  # fmt: skip


def cur_file(root: Path, bad: dict[str, Any] | list[Any]) -> Path:
    good = [["a1", "2026-06-01T00:00:00Z", "100", "1.25", '{"team": "ml"}'],
            ["a3", "2026-06-02T00:00:00Z", "10", "0.5", ""]]  # fmt: skip
    row2 = (
        bad if isinstance(bad, list) else [bad.get(c, v) for c, v in zip(CUR, good[0], strict=True)]
    )
    path = root / "data" / "BILLING_PERIOD=2026-06" / "cur-00001.csv"
    return write_csv(path, CUR, [good[0], row2, good[1]])


def gcp_line(cost: Any = "0.9", month: str = "202606", **over: Any) -> str:
    rec = {
        "billing_account_id": "01AB",
        "service": {"id": "s", "description": "Vertex AI"},
        "usage_start_time": "2026-06-01T10:00:00Z",
        "labels": [{"key": "app", "value": "bot"}],
        "cost": cost,
        "currency": "USD",
        "credits": [{"name": "promo", "amount": "-0.1"}],
        "invoice": {"month": month},
    } | over
    return json.dumps(rec)


def gcp_file(root: Path, line2: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "export_202606.jsonl"
    path.write_text("\n".join([gcp_line("0.9"), line2, gcp_line("1.1", credits=[])]) + "\n")
    return path


AZ = ["SubscriptionId", "Date", "MeterSubCategory", "CostInBillingCurrency", "Tags",
      "BillingAccountId", "BillingPeriodStartDate"]  # fmt: skip


def azure_file(root: Path, bad: dict[str, Any]) -> Path:
    good = [["sub-1", "06/01/2026", "Azure OpenAI", "2.763", '"team": "ml"', "ea-1", "06/01/2026"],
            ["sub-1", "06/02/2026", "Azure OpenAI", "2.304", "", "ea-1", "06/01/2026"]]  # fmt: skip
    row2 = [bad.get(c, v) for c, v in zip(AZ, good[0], strict=True)]
    return write_csv(root / "ea" / "202606.csv", AZ, [good[0], row2, good[1]])


FOCUS = ["BilledCost", "BillingAccountId", "BillingPeriodStart", "ChargePeriodStart",
         "ServiceCategory", "Tags", "ConsumedQuantity"]  # fmt: skip


def focus_file(root: Path, bad: dict[str, Any]) -> Path:
    common = ["ba-9", "2026-06-01T00:00:00Z", "2026-06-04T00:00:00Z", "AI and Machine Learning"]
    good = [["0.33", *common, '{"team": "r"}', "2000"], ["-0.25", *common, "", ""]]
    row2 = [bad.get(c, v) for c, v in zip(FOCUS, good[0], strict=True)]
    return write_csv(root / "focus-202606.csv", FOCUS, [good[0], row2, good[1]])


def log_line(rid: str, **over: Any) -> str:
    rec = {
        "request_id": rid,
        "timestamp": "2026-06-01T10:00:00Z",
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 50,
        "status": "ok",
        "is_retry": False,
    } | over
    return json.dumps({k: v for k, v in rec.items() if v is not ...})


def request_log_file(root: Path, line2: str, day: date = DAY1) -> Path:
    path = root / "requests" / f"{day}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    good = [log_line(f"{day}-r1"), log_line(f"{day}-r3", input_tokens=500)]
    path.write_text("\n".join([good[0], line2, good[1]]) + "\n")
    return path


def attr(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


def span(span_id: str, tokens: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    doc = {
        "traceId": "0" * 31 + "1",
        "spanId": span_id,
        "name": "chat gpt-4o",
        "startTimeUnixNano": str(1780272000 * 10**9),
        "attributes": [
            attr("gen_ai.request.model", {"stringValue": "gpt-4o"}),
            attr("gen_ai.usage.input_tokens", tokens or {"intValue": "100"}),
        ],
    } | over
    return {k: v for k, v in doc.items() if v is not ...}


def otlp_doc(*resources: tuple[Any, list[Any]]) -> str:
    return json.dumps(
        {
            "resourceSpans": [
                {"resource": {"attributes": attrs}, "scopeSpans": [{"spans": spans}]}
                for attrs, spans in resources
            ]
        }
    )


def otlp_file(root: Path, span2: Any) -> Path:
    path = root / "otlp" / f"{DAY1}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(otlp_doc(([], [span("s1"), span2, span("s3")])))
    return path


# (source, writes the files under root, row, field, reason pattern, data check, expected)
CUR_OK = ("select count(*), sum(line_item_unblended_cost) from raw_aws_cur.cur_line_items",
          [(2, Decimal("1.75"))])  # fmt: skip
GCP_OK = ("select count(*), sum(cost), sum(credits_total) from raw_gcp_billing.billing_export",
          [(2, Decimal("2.0"), Decimal("-0.1"))])  # fmt: skip
AZ_OK = ("select count(*), sum(cost_in_billing_currency) from raw_azure_cost.cost_details",
         [(2, Decimal("5.067"))])  # fmt: skip
FOCUS_OK = ("select count(*), sum(billed_cost) from raw_focus.focus_rows", [(2, Decimal("0.08"))])
LOG_OK = ("select count(*), sum(input_tokens) from raw_telemetry.request_log", [(2, 1500)])
SPANS_OK = ("select count(*), sum(input_tokens) from raw_telemetry.otlp_spans", [(2, 200)])

ROW_CASES = [
    # AWS CUR 2.0 (CSV)
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, {"line_item_unblended_cost": "12,5"}),
        2,
        "line_item_unblended_cost",
        r"has value '12,5', expected a decimal number",
        CUR_OK,
        id="cur-money-with-decimal-comma",
    ),
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, {"line_item_usage_amount": "abc"}),
        2,
        "line_item_usage_amount",
        r"has value 'abc', expected a decimal number",
        CUR_OK,
        id="cur-quantity-is-text",
    ),
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, {"line_item_unblended_cost": "NaN"}),
        2,
        "line_item_unblended_cost",
        r"expected a finite decimal number",
        CUR_OK,
        id="cur-money-is-NaN",
    ),
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, {"line_item_unblended_cost": "1e40"}),
        2,
        "line_item_unblended_cost",
        r"out of range for decimal\(38, 12\)",
        CUR_OK,
        id="cur-money-out-of-range",
    ),
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, {"line_item_unblended_cost": "\uff11\uff12"}),
        2,
        "line_item_unblended_cost",
        r"has value '\uff11\uff12', expected a decimal number",
        CUR_OK,
        id="cur-money-in-fullwidth-digits",
    ),
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, {"line_item_usage_start_date": "2026-06-31T00:00:00Z"}),
        2,
        "line_item_usage_start_date",
        r"expected a timestamp",
        CUR_OK,
        id="cur-bad-timestamp",
    ),
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, {"line_item_unblended_cost": ""}),
        2,
        "line_item_unblended_cost",
        r"field 'line_item_unblended_cost' is empty",
        CUR_OK,
        id="cur-empty-cost",
    ),
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, {"resource_tags": "{team: ml"}),
        2,
        "resource_tags",
        r"field 'resource_tags' is not JSON",
        CUR_OK,
        id="cur-map-not-json",
    ),
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, ["a2", "2026-06-01", "1", "9.99", "", "spill"]),
        2,
        None,
        r"row 2: has 6 fields, the header has 5",
        CUR_OK,
        id="cur-row-with-extra-field",
    ),
    pytest.param(
        "aws_cur",
        lambda r: cur_file(r, ["a2", "2026-06-01", "1"]),
        2,
        None,
        r"row 2: has 3 fields, the header has 5",
        CUR_OK,
        id="cur-row-with-missing-fields",
    ),
    # GCP billing export (JSON-lines)
    pytest.param(
        "gcp_billing",
        lambda r: gcp_file(r, '{"cost": 1.0,'),
        2,
        None,
        r"row 2 is not valid JSON",
        GCP_OK,
        id="gcp-line-not-json",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: gcp_file(r, "[1, 2]"),
        2,
        None,
        r"row 2 is not a JSON object but list",
        GCP_OK,
        id="gcp-line-not-an-object",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: gcp_file(r, gcp_line(None)),
        2,
        "cost",
        r"field 'cost' is empty",
        GCP_OK,
        id="gcp-empty-cost",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: gcp_file(r, gcp_line("5", month="")),
        2,
        "invoice.month",
        r"field 'invoice.month' is empty",
        GCP_OK,
        id="gcp-empty-invoice-month",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: gcp_file(r, gcp_line("5", month="2026-06")),
        2,
        "invoice.month",
        r"field 'invoice.month' has value '2026-06', expected YYYYMM",
        GCP_OK,
        id="gcp-invoice-month-not-yyyymm",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: gcp_file(r, gcp_line("5")[:-1] + ', "cost": 7}'),
        2,
        "cost",
        r"row 2 has the key 'cost' twice: its value is ambiguous",
        GCP_OK,
        id="gcp-key-twice",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: gcp_file(r, gcp_line("5", credits=[{"amount": "n/a"}])),
        2,
        "credits[0].amount",
        r"has value 'n/a'",
        GCP_OK,
        id="gcp-credit-amount-text",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: gcp_file(r, gcp_line("5", credits=[5])),
        2,
        "credits[0]",
        r"field 'credits\[0\]' is not an object",
        GCP_OK,
        id="gcp-credit-not-an-object",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: gcp_file(r, gcp_line("5", labels="app=bot")),
        2,
        "labels",
        r"field 'labels' is not JSON",
        GCP_OK,
        id="gcp-labels-not-json",
    ),
    # Azure cost details (EA CSV)
    pytest.param(
        "azure_cost",
        lambda r: azure_file(r, {"Date": "13/45/2026"}),
        2,
        "Date",
        r"has value '13/45/2026', expected MM/DD/YYYY or YYYY-MM-DD",
        AZ_OK,
        id="azure-bad-date",
    ),
    pytest.param(
        "azure_cost",
        lambda r: azure_file(r, {"CostInBillingCurrency": "abc"}),
        2,
        "CostInBillingCurrency",
        r"expected a decimal number",
        AZ_OK,
        id="azure-cost-is-text",
    ),
    pytest.param(
        "azure_cost",
        lambda r: azure_file(r, {"CostInBillingCurrency": " "}),
        2,
        "CostInBillingCurrency",
        r"is empty",
        AZ_OK,
        id="azure-empty-cost",
    ),
    pytest.param(
        "azure_cost",
        lambda r: azure_file(r, {"Tags": "team: ml"}),
        2,
        "Tags",
        r"field 'Tags' is not a JSON object body",
        AZ_OK,
        id="azure-tags-not-json",
    ),
    # FOCUS (CSV)
    pytest.param(
        "focus",
        lambda r: focus_file(r, {"BilledCost": "Infinity"}),
        2,
        "BilledCost",
        r"expected a finite decimal number",
        FOCUS_OK,
        id="focus-billed-cost-infinite",
    ),
    pytest.param(
        "focus",
        lambda r: focus_file(r, {"BillingPeriodStart": ""}),
        2,
        "BillingPeriodStart",
        r"field 'BillingPeriodStart' is empty",
        FOCUS_OK,
        id="focus-empty-billing-period",
    ),
    pytest.param(
        "focus",
        lambda r: focus_file(r, {"ChargePeriodStart": "2026-06-04 25:00"}),
        2,
        "ChargePeriodStart",
        r"expected a timestamp",
        FOCUS_OK,
        id="focus-bad-charge-period",
    ),
    pytest.param(
        "focus",
        lambda r: focus_file(r, {"ConsumedQuantity": "1.2.3"}),
        2,
        "ConsumedQuantity",
        r"expected a decimal number",
        FOCUS_OK,
        id="focus-quantity-is-text",
    ),
    pytest.param(
        "focus",
        lambda r: focus_file(r, {"Tags": "team=r"}),
        2,
        "Tags",
        r"field 'Tags' is not JSON",
        FOCUS_OK,
        id="focus-tags-not-json",
    ),
    # telemetry request log (JSON-lines)
    pytest.param(
        "telemetry",
        lambda r: request_log_file(r, '{"request_id": "r2",'),
        2,
        None,
        r"line 2: invalid JSON",
        LOG_OK,
        id="log-line-not-json",
    ),
    pytest.param(
        "telemetry",
        lambda r: request_log_file(r, '"r2"'),
        2,
        None,
        r"line 2: not a JSON object",
        LOG_OK,
        id="log-line-not-an-object",
    ),
    pytest.param(
        "telemetry",
        lambda r: request_log_file(r, log_line("r2", model=...)),
        2,
        "model",
        r"field 'model' is missing",
        LOG_OK,
        id="log-missing-required-field",
    ),
    pytest.param(
        "telemetry",
        lambda r: request_log_file(r, log_line("r2", input_tokens="12")),
        2,
        "input_tokens",
        r"field 'input_tokens' has value \"12\", expected a non-negative integer",
        LOG_OK,
        id="log-tokens-are-text",
    ),
    pytest.param(
        "telemetry",
        lambda r: request_log_file(r, log_line("r2", output_tokens=-1)),
        2,
        "output_tokens",
        r"has value -1, expected a non-negative integer",
        LOG_OK,
        id="log-negative-tokens",
    ),
    pytest.param(
        "telemetry",
        lambda r: request_log_file(r, log_line("r2", timestamp="yesterday")),
        2,
        "timestamp",
        r"expected an RFC 3339 timestamp",
        LOG_OK,
        id="log-bad-timestamp",
    ),
    pytest.param(
        "telemetry",
        lambda r: request_log_file(r, log_line("r2", is_retry="yes")),
        2,
        "is_retry",
        r"expected a boolean",
        LOG_OK,
        id="log-flag-not-boolean",
    ),
    # telemetry OTLP/JSON spans
    pytest.param(
        "telemetry",
        lambda r: otlp_file(r, span("s2", spanId=...)),
        2,
        "spanId",
        r"spans\[1\]: field 'spanId' is missing or empty",
        SPANS_OK,
        id="span-without-span-id",
    ),
    pytest.param(
        "telemetry",
        lambda r: otlp_file(r, span("s2", {"stringValue": "12"})),
        2,
        "gen_ai.usage.input_tokens",
        r"\(spanId s2\): attribute 'gen_ai.usage.input_tokens' has value '12', expected a non-neg",
        SPANS_OK,
        id="span-tokens-are-text",
    ),
    pytest.param(
        "telemetry",
        lambda r: otlp_file(r, span("s2", startTimeUnixNano="soon")),
        2,
        "startTimeUnixNano",
        r"field 'startTimeUnixNano' has value 'soon', expected an integer",
        SPANS_OK,
        id="span-bad-start-time",
    ),
    pytest.param(
        "telemetry",
        lambda r: otlp_file(r, 42),
        2,
        None,
        r"spans\[1\]: span is not an object",
        SPANS_OK,
        id="span-not-an-object",
    ),
]


@pytest.mark.parametrize(("name", "write", "row", "field", "reason", "check"), ROW_CASES)
def test_a_bad_row_is_quarantined_and_the_good_rows_load_exactly(
    tmp_path, name, write, row, field, reason, check
):
    check_sql, expected = check
    root = tmp_path / "in"
    path = write(root)
    load(tmp_path, name, root)
    assert q(tmp_path, check_sql) == expected
    [(source, source_file, source_row, got_field, got_reason, raw, _)] = quarantined(tmp_path, name)
    assert (source, source_file, source_row, got_field) == (name, str(path), row, field)
    assert re.search(reason, got_reason), got_reason
    assert str(path) in got_reason  # the same message a strict reader raises: file named
    try:  # the row as delivered: JSON text of the parsed row, or the line as it was
        json.loads(raw)
    except json.JSONDecodeError:
        assert raw.strip() in path.read_text()


def test_a_row_whose_period_cannot_be_read_is_kept_under_the_unknown_partition(tmp_path):
    root = tmp_path / "in"
    focus_file(root / "focus", {"BillingPeriodStart": "06/2026"})
    azure_file(root / "az", {"Date": "", "BillingPeriodStartDate": "never"})
    load(tmp_path, "focus", root / "focus")
    load(tmp_path, "azure_cost", root / "az")
    assert [r[6] for r in quarantined(tmp_path, "focus")] == ["?"]
    assert [(r[3], r[6]) for r in quarantined(tmp_path, "azure_cost")] == [
        ("BillingPeriodStartDate", "?")
    ]
    # a bad row whose period CAN be read is kept with its period's partition
    azure_file(root / "az", {"CostInBillingCurrency": "x"})
    load(tmp_path, "azure_cost", root / "az")
    assert [r[6] for r in quarantined(tmp_path, "azure_cost")] == ["ea/ea-1/2026-06"]


def test_a_resource_whose_attributes_cannot_be_read_quarantines_each_of_its_spans(tmp_path):
    root = tmp_path / "in"
    path = root / "otlp" / f"{DAY1}.json"
    path.parent.mkdir(parents=True)
    bad_attrs = [attr("service.name", {"stringValue": "a"}), {"value": {"stringValue": "x"}}]
    path.write_text(otlp_doc(([], [span("s1")]), (bad_attrs, [span("s2"), span("s3")])))
    load(tmp_path, "telemetry", root)
    assert q(tmp_path, "select span_id from raw_telemetry.otlp_spans") == [("s1",)]
    rows = quarantined(tmp_path, "telemetry")
    assert [(r[2], r[3]) for r in rows] == [(2, "attributes"), (3, "attributes")]
    assert "resourceSpans[1]: attribute without a string 'key'" in rows[0][4]


def test_the_raw_row_is_json_text_cut_to_2000_characters(tmp_path):
    root = tmp_path / "in"
    long_tags = "{" + "x" * 5000
    focus_file(root, {"Tags": long_tags})
    load(tmp_path, "focus", root)
    [row] = quarantined(tmp_path, "focus")
    raw = row[5]
    assert len(raw) == RAW_ROW_MAX_CHARS and raw.endswith("…")
    assert raw.startswith('{"BilledCost": "0.33", "BillingAccountId": "ba-9"')


def test_a_parquet_row_is_quarantined_with_its_typed_values_as_json(tmp_path):
    root = tmp_path / "in"
    path = root / "data" / "BILLING_PERIOD=2026-06" / "cur-00001.snappy.parquet"
    path.parent.mkdir(parents=True)
    duckdb.sql(
        f"""copy (select * from (values
              ('a1', timestamp '2026-06-01 00:00:00', '1.25', map {{'team': 'ml'}}),
              ('a2', timestamp '2026-06-02 00:00:00', 'n/a', map {{'team': 'ds'}}),
              ('a3', timestamp '2026-06-03 00:00:00', '0.5', map {{'team': 'ds'}}))
            t(identity_line_item_id, line_item_usage_start_date, line_item_unblended_cost,
              resource_tags)) to '{path}' (format parquet)"""
    )
    load(tmp_path, "aws_cur", root)
    assert q(tmp_path, CUR_OK[0]) == CUR_OK[1]
    [row] = quarantined(tmp_path, "aws_cur")
    assert row[2:4] == (2, "line_item_unblended_cost")
    assert json.loads(row[5]) == {
        "identity_line_item_id": "a2",
        "line_item_usage_start_date": "2026-06-02T00:00:00",
        "line_item_unblended_cost": "n/a",
        "resource_tags": {"team": "ds"},
    }


# ------------------------------------------------------------------ file-level: fail, name it


def _gzip_cut(root: Path) -> Path:
    path = root / "data" / "BILLING_PERIOD=2026-06" / "cur-00001.csv.gz"
    path.parent.mkdir(parents=True)
    body = gzip.compress(("\n".join(",".join(CUR) for _ in range(2000))).encode())
    path.write_bytes(body[: len(body) // 2])
    return path


def _cur_path(root: Path, name: str, content: bytes) -> Path:
    path = root / "data" / "BILLING_PERIOD=2026-06" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return path


def _parquet(path: Path, select: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(f"copy (select {select}) to '{path}' (format parquet)")
    return path


FILE_CASES = [
    pytest.param(
        "aws_cur",
        lambda r: write_csv(
            r / "data" / "BILLING_PERIOD=2026-06" / "cur-00001.csv",
            ["identity_line_item_id", "line_item_usage_amount"],
            [["a1", "1"]],
        ),
        r"required column\(s\) 'line_item_unblended_cost' missing from the header",
        id="cur-csv-without-cost-column",
    ),
    pytest.param(
        "aws_cur",
        lambda r: _cur_path(r, "cur-00001.csv", b""),
        r"empty file, no header row",
        id="cur-empty-csv",
    ),
    pytest.param(
        "aws_cur",
        lambda r: _cur_path(r, "cur-00001.snappy.parquet", b"PAR1 this is not parquet PAR1"),
        r"not a readable Parquet file",
        id="cur-corrupt-parquet",
    ),
    pytest.param(
        "aws_cur",
        lambda r: _cur_path(r, "cur-00001.csv.gz", b"identity_line_item_id\na1\n"),
        r"cannot be read",
        id="cur-not-gzip",
    ),
    pytest.param("aws_cur", _gzip_cut, r"cannot be read", id="cur-truncated-gzip"),
    pytest.param(
        "aws_cur",
        lambda r: _cur_path(
            r, "cur-00001.csv", "line_item_unblended_cost,product\n1,Caf\xe9\n".encode("latin-1")
        ),
        r"not UTF-8 text",
        id="cur-csv-not-utf8",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: _parquet(
            r / "export.parquet", "'01AB' as billing_account_id, {'month': '202606'} as invoice"
        ),
        r"required column\(s\) 'cost' missing",
        id="gcp-parquet-without-cost",
    ),
    pytest.param(
        "azure_cost",
        lambda r: write_csv(
            r / "202606.csv", ["SubscriptionId", "Date", "Quantity"], [["s", "06/01/2026", "1"]]
        ),
        r"required column\(s\) 'CostInBillingCurrency' missing",
        id="azure-csv-without-cost",
    ),
    pytest.param(
        "focus",
        lambda r: _parquet(
            r / "focus.parquet", "'ba' as BillingAccountId, '2026-06-01' as BillingPeriodStart"
        ),
        r"required column\(s\) 'BilledCost' missing",
        id="focus-parquet-without-billed-cost",
    ),
    pytest.param(
        "telemetry",
        lambda r: _write(r / "otlp" / f"{DAY1}.json", b'{"resourceSpans": ['),
        r"invalid JSON at line 1",
        id="otlp-not-json",
    ),
    pytest.param(
        "telemetry",
        lambda r: _write(r / "otlp" / f"{DAY1}.json", b'{"resourceLogs": []}'),
        r"no 'resourceSpans' list",
        id="otlp-not-a-trace-export",
    ),
    pytest.param(
        "gcp_billing",
        lambda r: _write(
            r / "export.json", json.dumps([json.loads(gcp_line())], indent=2).encode()
        ),
        r"not a JSON-lines file, none of its \d+ lines is a JSON object \(the first: .* row 1 is",
        id="gcp-json-document-not-json-lines",
    ),
    pytest.param(
        "telemetry",
        lambda r: _write(r / "requests" / f"{DAY1}.jsonl", b"[1]\nnot json\n"),
        r"not a JSON-lines file, none of its 2 lines is a JSON object",
        id="request-log-not-json-lines",
    ),
    pytest.param(
        "telemetry",
        lambda r: _write(r / "requests" / f"{DAY1}.jsonl", b'{"request_id": "caf\xe9"}\n'),
        r"cannot be read as text",
        id="request-log-not-utf8",
    ),
]


def _write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(("name", "write", "why"), FILE_CASES)
def test_a_bad_file_fails_the_run_naming_source_and_file(tmp_path, name, write, why):
    root = tmp_path / "in"
    path = write(root)
    with pytest.raises(PipelineStepFailed) as info:
        load(tmp_path, name, root)
    chain = error_chain(info.value)
    assert re.search(rf"{name}: {re.escape(str(path))}: .*{why}", chain), chain
    if (tmp_path / "w.duckdb").exists():  # nothing of the file was loaded
        tables = q(
            tmp_path,
            "select table_name from information_schema.tables "
            f"where table_schema = 'raw_{name}' and table_name not like '\\_dlt%' escape '\\'",
        )
        assert tables == []


def test_an_unsupported_file_type_is_a_file_error(tmp_path):
    path = _write(tmp_path / "export.xlsx", b"PK")
    with pytest.raises(BadFileError, match=rf"aws_cur: {re.escape(str(path))}: unsupported"):
        list(iter_rows(path, source="aws_cur"))


# ------------------------------------------------------------------ re-runs


def test_a_rerun_does_not_double_and_a_fixed_file_clears_its_rows(tmp_path):
    root = tmp_path / "in"
    cur_file(root, {"line_item_unblended_cost": "12,5"})
    load(tmp_path, "aws_cur", root)
    load(tmp_path, "aws_cur", root)
    assert [r[2] for r in quarantined(tmp_path, "aws_cur")] == [2]
    assert q(tmp_path, CUR_OK[0]) == CUR_OK[1]
    cur_file(root, {"line_item_unblended_cost": "12.5"})  # re-delivered, fixed
    load(tmp_path, "aws_cur", root)
    assert quarantined(tmp_path, "aws_cur") == []
    assert q(tmp_path, CUR_OK[0]) == [(3, Decimal("14.25"))]


def test_a_period_not_read_again_keeps_its_quarantine_rows(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    june, july = root / "export_202606.jsonl", root / "export_202607.jsonl"
    june.write_text(gcp_line("1") + "\n" + gcp_line("x") + "\n")
    july.write_text(gcp_line("2", month="202607") + "\n" + gcp_line("y", month="202607") + "\n")
    load(tmp_path, "gcp_billing", root)
    assert [r[6] for r in quarantined(tmp_path, "gcp_billing")] == ["01AB/202606", "01AB/202607"]
    # July fixed, and a run of July only: June's row stays, July's goes
    july.write_text(gcp_line("2", month="202607") + "\n" + gcp_line("3", month="202607") + "\n")
    load(tmp_path, "gcp_billing", root, (date(2026, 7, 1), AUG))
    assert [r[6] for r in quarantined(tmp_path, "gcp_billing")] == ["01AB/202606"]
    assert q(
        tmp_path,
        "select invoice_month, sum(cost) from raw_gcp_billing.billing_export group by 1 order by 1",
    ) == [("202606", Decimal("1")), ("202607", Decimal("5"))]


def test_an_unknown_period_row_is_cleared_once_fixed(tmp_path):
    root = tmp_path / "in"
    focus_file(root, {"BillingPeriodStart": "soon"})
    load(tmp_path, "focus", root)
    assert [r[6] for r in quarantined(tmp_path, "focus")] == ["?"]
    focus_file(root, {})
    load(tmp_path, "focus", root)
    assert quarantined(tmp_path, "focus") == []
    assert q(tmp_path, FOCUS_OK[0]) == [(3, Decimal("0.41"))]


def test_a_redelivered_day_file_replaces_only_its_own_quarantine_rows(tmp_path):
    root = tmp_path / "in"
    request_log_file(root, "not json", DAY1)
    request_log_file(root, log_line("r2", model=...), DAY2)
    load(tmp_path, "telemetry", root)
    assert [r[6] for r in quarantined(tmp_path, "telemetry")] == [
        "request_log/2026-06-01",
        "request_log/2026-06-02",
    ]
    request_log_file(root, log_line("r2b"), DAY1)  # day 1 re-delivered, fixed
    load(tmp_path, "telemetry", root)
    assert [r[6] for r in quarantined(tmp_path, "telemetry")] == ["request_log/2026-06-02"]
    assert q(tmp_path, "select count(*) from raw_telemetry.request_log") == [(5,)]


# ------------------------------------------------------------------ schema contracts


def test_every_raw_table_and_its_quarantine_freeze_data_types():
    for name, factory in FACTORIES.items():
        for resource in factory("unused", *WINDOWS[name]).resources.values():
            assert resource.compute_table_schema()["schema_contract"] == SCHEMA_CONTRACT, name
            variant = resource.compute_table_schema(meta=TableNameMeta(QUARANTINE_TABLE))
            assert variant["schema_contract"] == SCHEMA_CONTRACT, name
            assert (
                variant["write_disposition"] == "merge"
                and "_partition_marker" in variant["columns"]
            )


def test_text_in_a_money_column_fails_the_load_instead_of_becoming_a_text_variant(
    tmp_path, monkeypatch
):
    root = tmp_path / "in"
    cur_file(root, {"line_item_unblended_cost": "abc"})
    # a parser that lets text through: what dlt does with it decides whether money stays money
    monkeypatch.setattr("ingestion.aws_cur.money", lambda value, **_: value or None)
    with pytest.raises(PipelineStepFailed) as info:
        load(tmp_path, "aws_cur", root)
    chain = error_chain(info.value)
    assert "line_item_unblended_cost__v_text" in chain and "data_type" in chain
    # without the contract dlt would have loaded the row, the text in a variant column
    source = aws_cur_source(str(root), JUNE, AUG)
    source.resources["cur_line_items"].apply_hints(schema_contract={})
    other = tmp_path / "other"
    other.mkdir()
    pipeline(other, "aws_cur").run(source)
    columns = {
        c
        for (c,) in q(
            other,
            "select column_name from information_schema.columns "
            "where table_schema = 'raw_aws_cur' and table_name = 'cur_line_items'",
        )
    }
    assert "line_item_unblended_cost__v_text" in columns


# ------------------------------------------------------------------ reporting


def test_materializations_carry_the_rows_quarantined_by_the_load(tmp_path):
    root = tmp_path / "in"
    focus_file(root, {"BilledCost": "USD 1.92"})
    p = load(tmp_path, "focus", root)
    event = dg.MaterializeResult(
        asset_key=dg.AssetKey(["raw_focus", "focus_rows"]), metadata={"rows_loaded": 2}
    )
    [got] = list(with_quarantine_counts([event], p))
    assert got.metadata == {"rows_loaded": 2, "quarantined_rows": 1}
    # a re-run over the unchanged file reads nothing: its load quarantines no row, and the
    # row quarantined before stays
    p = load(tmp_path, "focus", root)
    [got] = list(with_quarantine_counts([event], p))
    assert got.metadata["quarantined_rows"] == 0
    assert len(quarantined(tmp_path, "focus")) == 1
    # a re-delivery of the same file quarantines the row again, in its own load
    focus_file(root, {"BilledCost": "USD 1.92"})
    p = load(tmp_path, "focus", root)
    [got] = list(with_quarantine_counts([event], p))
    assert got.metadata["quarantined_rows"] == 1
    assert len(quarantined(tmp_path, "focus")) == 1

    # a source without a quarantine table (an API source) is left as it was
    api = dlt.pipeline(
        pipeline_name="api",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name="raw_api",
        pipelines_dir=str(tmp_path / "pl"),
    )
    api.run([{"id": 1}], table_name="costs")
    plain = dg.MaterializeResult(asset_key=dg.AssetKey(["raw_api", "costs"]), metadata={})
    assert list(with_quarantine_counts([plain], api)) == [plain]


def test_the_run_summary_reports_quarantined_rows_per_source(tmp_path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    assert cli.quarantine_line(con) == "Quarantined rows: none"
    for dataset, n in (("raw_aws_cur", 2), ("raw_focus", 1), ("raw_gcp_billing", 0)):
        con.execute(f"create schema {dataset}")
        con.execute(
            f"create table {dataset}.quarantine as select range as source_row from range({n})"
        )
    con.execute("create table raw_aws_cur.cur_line_items as select 1 as x")
    assert cli.quarantine_line(con) == (
        "Quarantined rows: 3 (aws_cur 2, focus 1) — see marts.data_quality_quarantine"
    )
    # the raw rows of a provider are its data rows only
    assert cli._raw_rows(con, "aws_bedrock") == 1
