"""dlt source for Google Cloud Billing export files (standard/detailed usage cost export).

Reads JSON-lines (BigQuery JSON export) and Parquet files under `export_path`, nested RECORDs
as BigQuery writes them, and lands every row in `raw_gcp_billing.billing_export` with nested
records flattened to `<record>_<field>` columns, labels and credits kept as JSON text and a
computed exact `credits_total`. Rows past days keep changing, so every invoice month that
overlaps the window is loaded whole and REPLACES the earlier copy (`merge_key` = billing
account + invoice month).

A row that cannot be interpreted (a money value that is not a number, a bad timestamp, an
empty `cost` or `invoice.month`, an `invoice.month` that is not YYYYMM, labels or credits that
are not JSON, a line that is not a JSON object) goes to `raw_gcp_billing.quarantine` instead
(file, row, field, reason, raw row); a file that cannot be read, or a Parquet file without a
`cost` or `invoice` column, fails the run (ingestion/_quarantine.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
from dlt.sources import DltResource

from ingestion._common import natural_key
from ingestion._export_files import (
    data_files,
    iter_rows,
    map_json,
    missing_columns,
    money,
    months_in_window,
    parse_rows,
    plain_json,
    required,
    text,
    utc_iso,
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
COLUMNS: dict[str, Any] = {
    "_row_key": {"data_type": "text", "nullable": False},
    "_partition": {"data_type": "text", "nullable": False},
    "_source_file": {"data_type": "text", "nullable": False},
    "_source_row": {"data_type": "bigint"},
    **{
        f: {"data_type": "text"}
        for f in (
            "billing_account_id",
            "service_id",
            "service_description",
            "sku_id",
            "sku_description",
            "usage_start_time",
            "usage_end_time",
            "project_id",
            "project_number",
            "project_name",
            "project_labels",
            "labels",
            "system_labels",
            "location_location",
            "location_region",
            "export_time",
            "currency",
            "usage_unit",
            "usage_pricing_unit",
            "credits",
            "invoice_month",
            "cost_type",
        )
    },
    **{
        f: dict(MONEY)
        for f in (
            "cost",
            "cost_at_list",
            "currency_conversion_rate",
            "usage_amount",
            "usage_amount_in_pricing_units",
            "credits_total",
        )
    },
}


# a Parquet export without these columns has nothing to load (JSON-lines has no header: a
# row without them is quarantined)
REQUIRED_COLUMNS = ("cost", "invoice")
# BigQuery writes the invoice month as YYYYMM; anything else cannot be placed in a month (the
# run's window is a set of YYYYMM months): such a row is quarantined, not silently skipped
INVOICE_MONTH = re.compile(r"[0-9]{6}")


def _rec(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    return value if isinstance(value, dict) else {}


def _credits(raw: dict[str, Any], path: Path, n: int) -> tuple[Decimal, str | None]:
    """(exact total, JSON text) of a row's credits: a list of records, or JSON text of one."""
    credits = raw.get("credits") or []
    if isinstance(credits, str):
        try:
            credits = json.loads(credits, parse_float=Decimal) if credits.strip() else []
        except json.JSONDecodeError as exc:
            raise RowError(f"{path} row {n}: field 'credits' is not JSON", field="credits") from exc
    if not isinstance(credits, list):
        raise RowError(
            f"{path} row {n}: field 'credits' is not a list: {str(credits)[:80]!r}", field="credits"
        )
    total = Decimal(0)
    clean_credits = []
    for i, credit in enumerate(credits):
        if not isinstance(credit, dict):
            raise RowError(
                f"{path} row {n}: field 'credits[{i}]' is not an object: {str(credit)[:80]!r}",
                field=f"credits[{i}]",
            )
        amount = money(credit.get("amount"), path=path, row=n, field=f"credits[{i}].amount")
        total += amount or 0
        clean_credits.append({**credit, "amount": str(amount) if amount is not None else None})
    return total, plain_json(clean_credits)


def _locate(raw: dict[str, Any]) -> tuple[str | None, str | None]:
    """(invoice month, partition) of a bad row, where its invoice month can be read."""
    month = text(_rec(raw, "invoice").get("month"))
    if not month or not INVOICE_MONTH.fullmatch(month):
        return None, None
    return month, f"{text(raw.get('billing_account_id'))}/{month}"


def billing_items(path: Path) -> Iterator[dict[str, Any] | RowError]:
    """Rows of one export file; money exact (JSON numbers parsed as Decimal); a row that
    cannot be interpreted comes out as a RowError."""

    def parse(n: int, raw: dict[str, Any]) -> dict[str, Any]:
        service, sku, project = _rec(raw, "service"), _rec(raw, "sku"), _rec(raw, "project")
        location, usage, invoice = _rec(raw, "location"), _rec(raw, "usage"), _rec(raw, "invoice")
        credits_total, credits = _credits(raw, path, n)
        cost = required(
            money(raw.get("cost"), path=path, row=n, field="cost"), path=path, row=n, field="cost"
        )
        month = required(text(invoice.get("month")), path=path, row=n, field="invoice.month")
        if not INVOICE_MONTH.fullmatch(month):
            raise RowError(
                f"{path} row {n}: field 'invoice.month' has value {month!r}, expected YYYYMM",
                field="invoice.month",
            )
        row = {
            "billing_account_id": text(raw.get("billing_account_id")),
            "service_id": text(service.get("id")),
            "service_description": text(service.get("description")),
            "sku_id": text(sku.get("id")),
            "sku_description": text(sku.get("description")),
            "usage_start_time": utc_iso(
                raw.get("usage_start_time"), path=path, row=n, field="usage_start_time"
            ),
            "usage_end_time": utc_iso(
                raw.get("usage_end_time"), path=path, row=n, field="usage_end_time"
            ),
            "project_id": text(project.get("id")),
            "project_number": text(project.get("number")),
            "project_name": text(project.get("name")),
            "project_labels": map_json(
                project.get("labels") or None, path=path, row=n, field="project.labels"
            ),
            "labels": map_json(raw.get("labels") or None, path=path, row=n, field="labels"),
            "system_labels": map_json(
                raw.get("system_labels") or None, path=path, row=n, field="system_labels"
            ),
            "location_location": text(location.get("location")),
            "location_region": text(location.get("region")),
            "export_time": utc_iso(raw.get("export_time"), path=path, row=n, field="export_time"),
            "cost": cost,
            "cost_at_list": money(raw.get("cost_at_list"), path=path, row=n, field="cost_at_list"),
            "currency": text(raw.get("currency")),
            "currency_conversion_rate": money(
                raw.get("currency_conversion_rate"),
                path=path,
                row=n,
                field="currency_conversion_rate",
            ),
            "usage_amount": money(usage.get("amount"), path=path, row=n, field="usage.amount"),
            "usage_unit": text(usage.get("unit")),
            "usage_amount_in_pricing_units": money(
                usage.get("amount_in_pricing_units"),
                path=path,
                row=n,
                field="usage.amount_in_pricing_units",
            ),
            "usage_pricing_unit": text(usage.get("pricing_unit")),
            "credits": credits,
            "credits_total": credits_total,
            "invoice_month": month,
            "cost_type": text(raw.get("cost_type")),
            "_source_file": str(path),
            "_source_row": n,
        }
        row["_partition"] = f"{row['billing_account_id']}/{month}"
        row["_row_key"] = natural_key(*path.parts[-3:], n)
        return row

    rows = iter_rows(path, source="gcp_billing", on_header=missing_columns(REQUIRED_COLUMNS))
    yield from parse_rows("gcp_billing", path, rows, parse, _locate)


def read_billing_file(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of one export file; raises on the first row it cannot interpret."""
    return strict(billing_items(path))


@dlt.source(name="gcp_billing", max_table_nesting=0)
def gcp_billing_source(
    export_path: str = dlt.config.value,
    start_date: date | None = None,
    end_date: date | None = None,
) -> DltResource:
    """Billing export rows of the invoice months overlapping the UTC days [start_date, end_date).

    Args:
        export_path: folder of `.jsonl` / `.parquet` export files, env `GCP_BILLING_EXPORT_PATH`.
        start_date, end_date: the window; end exclusive. Whole invoice months are loaded.
    """
    if start_date is None or end_date is None:
        raise ValueError("gcp_billing source: start_date and end_date are required")
    root = Path(export_path)
    months = {m.replace("-", "") for m in months_in_window(start_date, end_date)}

    @dlt.resource(
        name="billing_export",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="_partition",
        columns=COLUMNS,
        schema_contract=SCHEMA_CONTRACT,
    )
    def billing_export() -> Iterator[Any]:
        """Every row (all services) of the invoice months in the window; rows that cannot be
        interpreted go to `quarantine`."""
        quarantine = Quarantine("gcp_billing", "billing_export")
        state = dlt.current.resource_state()
        ledger = FileLedger("gcp_billing", state, quarantine, months, "invoice_month")
        files = data_files(root)
        if not files:
            log.warning("gcp_billing: no export files under %s", root)
        yield from ledger.rows(files, billing_items)
        yield from quarantine.markers()

    return add_quarantine_table(billing_export)
