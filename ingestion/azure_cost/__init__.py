"""dlt source for Azure Cost Management cost-details exports (actual or amortized cost, CSV).

Reads every `.csv` / `.csv.gz` / `.parquet` under `export_path`, EA (PascalCase, 2024-08-01) and
MCA (camelCase, 2023-12-01-preview) schemas alike: column names are normalised
case-insensitively to one snake_case set, `_schema` records 'ea' or 'mca', the braceless
`Tags` value is wrapped into a JSON object and dates in MM/DD/YYYY or ISO form are parsed.
Lands all rows in `raw_azure_cost.cost_details`; a re-exported billing month REPLACES the
earlier copy (`merge_key` = schema + billing account + billing month).

A row that cannot be interpreted (a money value that is not a number, a bad date, an empty
`Date` or `CostInBillingCurrency`, `Tags` that are not a JSON object body) goes to
`raw_azure_cost.quarantine` instead (file, row, field, reason, raw row); a file that cannot be
read, or lacks the date or cost column, fails the run (ingestion/_quarantine.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dlt
from dlt.sources import DltResource

from ingestion._common import natural_key
from ingestion._export_files import (
    TABLE_SUFFIXES,
    data_files,
    iter_rows,
    money,
    months_in_window,
    parse_day,
    parse_rows,
    required,
    text,
)
from ingestion._file_ledger import FileLedger
from ingestion._quarantine import (
    SCHEMA_CONTRACT,
    Quarantine,
    RowError,
    add_quarantine_table,
    strict,
)

log = logging.getLogger(__name__)
MONEY = {"data_type": "decimal", "precision": 38, "scale": 12}

# lower-cased header (EA or MCA) -> snake_case column
ALIASES = {
    "subscriptionid": "subscription_id",
    "subscriptionname": "subscription_name",
    "resourcegroup": "resource_group",
    "resourcegroupname": "resource_group",
    "resourcelocation": "resource_location",
    "date": "date",
    "productname": "product_name",
    "metercategory": "meter_category",
    "metersubcategory": "meter_sub_category",
    "meterid": "meter_id",
    "metername": "meter_name",
    "meterregion": "meter_region",
    "unitofmeasure": "unit_of_measure",
    "quantity": "quantity",
    "effectiveprice": "effective_price",
    "unitprice": "unit_price",
    "costinbillingcurrency": "cost_in_billing_currency",
    "costinpricingcurrency": "cost_in_pricing_currency",
    "costinusd": "cost_in_usd",
    "exchangeratepricingtobilling": "exchange_rate_pricing_to_billing",
    "consumedservice": "consumed_service",
    "resourceid": "resource_id",
    "tags": "tags",
    "chargetype": "charge_type",
    "pricingmodel": "pricing_model",
    "publishertype": "publisher_type",
    "billingaccountid": "billing_account_id",
    "billingcurrencycode": "billing_currency",
    "billingcurrency": "billing_currency",
    "pricingcurrency": "pricing_currency",
    "billingperiodstartdate": "billing_period_start_date",
    "billingperiodenddate": "billing_period_end_date",
    "servicefamily": "service_family",
    "frequency": "frequency",
}
MONEY_FIELDS = (
    "quantity",
    "effective_price",
    "unit_price",
    "cost_in_billing_currency",
    "cost_in_pricing_currency",
    "cost_in_usd",
    "exchange_rate_pricing_to_billing",
)
DATE_FIELDS = ("date", "billing_period_start_date", "billing_period_end_date")
TEXT_FIELDS = tuple(
    sorted({v for v in ALIASES.values() if v not in MONEY_FIELDS and v not in DATE_FIELDS})
)
# columns without which a file has nothing to load: snake_case column -> EA header name
REQUIRED_COLUMNS = {"date": "Date", "cost_in_billing_currency": "CostInBillingCurrency"}
COLUMNS: dict[str, Any] = {
    "_row_key": {"data_type": "text", "nullable": False},
    "_partition": {"data_type": "text", "nullable": False},
    "_schema": {"data_type": "text", "nullable": False},
    "_billing_month": {"data_type": "text", "nullable": False},
    "_source_file": {"data_type": "text", "nullable": False},
    "_source_row": {"data_type": "bigint"},
    **{f: {"data_type": "text"} for f in TEXT_FIELDS},
    **{f: {"data_type": "date"} for f in DATE_FIELDS},
    **{f: dict(MONEY) for f in MONEY_FIELDS},
}


def detect_schema(headers: list[str]) -> str:
    """'ea' for PascalCase cost-detail headers, 'mca' for camelCase (costInBillingCurrency)."""
    if "costInBillingCurrency" in headers or "costInUsd" in headers or "meterName" in headers:
        return "mca"
    if "CostInBillingCurrency" in headers or "MeterName" in headers:
        return "ea"
    lowered = {h.lower() for h in headers}
    return "mca" if "costinusd" in lowered else "ea"


def parse_tags(value: Any, *, path: Path, row: int, field: str = "Tags") -> str | None:
    """JSON object text of an Azure `Tags` value; the export writes it without braces."""
    raw = (value or "").strip() if isinstance(value, str) else value
    if not raw:
        return None
    if isinstance(raw, dict):
        return json.dumps(raw, sort_keys=True) if raw else None
    if not isinstance(raw, str):
        raise RowError(
            f"{path} row {row}: field '{field}' is not a JSON object body: {raw!r}", field=field
        )
    body = raw if raw.startswith("{") else "{" + raw + "}"
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        raise RowError(
            f"{path} row {row}: field '{field}' is not a JSON object body: {raw[:80]!r}",
            field=field,
        ) from exc
    return json.dumps(parsed, sort_keys=True) if parsed else None


def _normal(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def cost_items(path: Path) -> Iterator[dict[str, Any] | RowError]:
    """Normalised rows of one cost-details file; a row that cannot be interpreted comes out as
    a RowError."""
    schema = "ea"
    mapping: dict[str, str] = {}

    def on_header(headers: list[str]) -> list[str]:
        nonlocal schema
        schema = detect_schema(headers)
        mapping.update({h: ALIASES[_normal(h)] for h in headers if _normal(h) in ALIASES})
        return [name for col, name in REQUIRED_COLUMNS.items() if col not in mapping.values()]

    def header(column: str) -> str:
        return _header(mapping, column)

    def parse(n: int, raw: dict[str, Any]) -> dict[str, Any]:
        values = {col: raw[h] for h, col in mapping.items()}
        row: dict[str, Any] = {f: text(values.get(f)) for f in TEXT_FIELDS}
        for f in MONEY_FIELDS:
            row[f] = money(values.get(f), path=path, row=n, field=header(f))
        for f in DATE_FIELDS:
            row[f] = parse_day(values.get(f), path=path, row=n, field=header(f))
        row["tags"] = parse_tags(values.get("tags"), path=path, row=n, field=header("tags"))
        required(row["date"], path=path, row=n, field=header("date"))
        cost = "cost_in_billing_currency"
        required(row[cost], path=path, row=n, field=header(cost))
        month = (row["billing_period_start_date"] or row["date"]).strftime("%Y-%m")
        row.update(
            _schema=schema,
            _billing_month=month,
            _partition=_partition(schema, row, month),
            _source_file=str(path),
            _source_row=n,
        )
        row["_row_key"] = natural_key(*path.parts[-3:], n)
        return row

    def locate(raw: dict[str, Any]) -> tuple[str | None, str | None]:
        """(billing month, partition) of a bad row, where its dates can still be read."""
        values = {col: raw[h] for h, col in mapping.items()}
        day = None
        for f in ("billing_period_start_date", "date"):
            try:
                day = day or parse_day(values.get(f), path=path, row=0, field=f)
            except RowError:
                continue
        if day is None:
            return None, None
        ids = {f: text(values.get(f)) for f in ("billing_account_id", "subscription_id")}
        month = day.strftime("%Y-%m")
        return month, _partition(schema, ids, month)

    rows = iter_rows(path, source="azure_cost", on_header=on_header)
    yield from parse_rows("azure_cost", path, rows, parse, locate)


def read_cost_file(path: Path) -> Iterator[dict[str, Any]]:
    """Normalised rows of one cost-details file; raises on the first row it cannot interpret."""
    return strict(cost_items(path))


def _partition(schema: str, row: dict[str, Any], month: str) -> str:
    return f"{schema}/{row['billing_account_id'] or row['subscription_id']}/{month}"


def _header(mapping: dict[str, str], column: str) -> str:
    return next((h for h, c in mapping.items() if c == column), column)


@dlt.source(name="azure_cost", max_table_nesting=0)
def azure_cost_source(
    export_path: str = dlt.config.value,
    start_date: date | None = None,
    end_date: date | None = None,
) -> DltResource:
    """Cost-details rows of the billing months overlapping the UTC days [start_date, end_date).

    Args:
        export_path: folder of the cost exports (EA and/or MCA), env `AZURE_COST_EXPORT_PATH`.
        start_date, end_date: the window; end exclusive. Whole billing months are loaded.
    """
    if start_date is None or end_date is None:
        raise ValueError("azure_cost source: start_date and end_date are required")
    root = Path(export_path)
    months = set(months_in_window(start_date, end_date))

    @dlt.resource(
        name="cost_details",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="_partition",
        columns=COLUMNS,
        schema_contract=SCHEMA_CONTRACT,
    )
    def cost_details() -> Iterator[Any]:
        """Every cost row (all meters) of the billing months in the window; rows that cannot
        be interpreted go to `quarantine`."""
        quarantine = Quarantine("azure_cost", "cost_details")
        state = dlt.current.resource_state()
        ledger = FileLedger("azure_cost", state, quarantine, months, "_billing_month")
        files = data_files(root, TABLE_SUFFIXES)
        if not files:
            log.warning("azure_cost: no export files under %s", root)
        yield from ledger.rows(files, cost_items)
        yield from quarantine.markers()

    return add_quarantine_table(cost_details)
