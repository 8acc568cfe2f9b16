"""dlt source for FinOps FOCUS (1.0 to 1.2, 1.3 tolerated) cost-and-usage files.

Reads every `.csv` / `.csv.gz` / `.parquet` under `export_path` and lands ALL rows in
`raw_focus.focus_rows`: FOCUS columns normalised to snake_case (`BilledCost` -> `billed_cost`,
1.3 `ServiceProviderName` read as `provider_name` when `ProviderName` is absent), provider
`x_*` columns kept together as JSON text in `x_columns`. A re-delivered billing period
REPLACES the earlier copy (`merge_key` = billing account + billing period start). The count of
non-AI rows (ServiceCategory other than 'AI and Machine Learning') is logged per run.

A row that cannot be interpreted (a money or quantity value that is not a number, a bad
timestamp, an empty `BilledCost` or `BillingPeriodStart`, `Tags` that are not JSON) goes to
`raw_focus.quarantine` instead (file, row, field, reason, raw row); a file that cannot be read
or lacks the `BilledCost` or `BillingPeriodStart` column fails the run
(ingestion/_quarantine.py).
"""

from __future__ import annotations

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
    map_json,
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
AI_CATEGORY = "AI and Machine Learning"
DECIMAL_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ConsumedQuantity",
    "PricingQuantity",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "CommitmentDiscountQuantity",
)
TIME_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
TEXT_COLUMNS = (
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ConsumedUnit",
    "InvoiceId",
    "InvoiceIssuerName",
    "PricingCategory",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceSubcategory",
    "ServiceName",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "CommitmentDiscountId",
    "CommitmentDiscountType",
)
RENAMED = {
    "ServiceProviderName": "ProviderName",
    "ChargeSubcategory": "ChargeClass",
    "UsageQuantity": "ConsumedQuantity",
    "UsageUnit": "ConsumedUnit",
}  # 1.3 / 0.5 names
# columns without which a file has nothing to load
REQUIRED_COLUMNS = ("BilledCost", "BillingPeriodStart")


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


COLUMNS: dict[str, Any] = {
    "_row_key": {"data_type": "text", "nullable": False},
    "_partition": {"data_type": "text", "nullable": False},
    "_billing_period": {"data_type": "text", "nullable": False},
    "_source_file": {"data_type": "text", "nullable": False},
    "_source_row": {"data_type": "bigint"},
    "_is_ai": {"data_type": "bool"},
    **{snake(c): {"data_type": "text"} for c in (*TEXT_COLUMNS, *TIME_COLUMNS)},
    **{snake(c): dict(MONEY) for c in DECIMAL_COLUMNS},
    "tags": {"data_type": "text"},
    "x_columns": {"data_type": "text"},
}


def _renamed(raw: dict[str, Any]) -> dict[str, Any]:
    """FOCUS 1.3 / 0.5 column names read as their 1.2 names (a 1.2 column present wins)."""
    return {RENAMED.get(k, k): v for k, v in raw.items()} | {
        k: v for k, v in raw.items() if k in RENAMED.values()
    }


def _missing_columns(header: list[str]) -> list[str]:
    present = {RENAMED.get(h, h) for h in header}
    return [c for c in REQUIRED_COLUMNS if c not in present]


def _locate(raw: dict[str, Any]) -> tuple[str | None, str | None]:
    """(billing period, partition) of a bad row, where its period start can still be read."""
    raw = _renamed(raw)
    start = utc_iso(raw.get("BillingPeriodStart"), path=Path(), row=0, field="BillingPeriodStart")
    if not start:
        return None, None
    return start[:7], f"{text(raw.get('BillingAccountId'))}/{start[:7]}"


def focus_items(path: Path) -> Iterator[dict[str, Any] | RowError]:
    """Normalised rows of one FOCUS file; a row that cannot be interpreted comes out as a
    RowError."""

    def parse(n: int, raw: dict[str, Any]) -> dict[str, Any]:
        raw = _renamed(raw)
        row: dict[str, Any] = {snake(c): text(raw.get(c)) for c in TEXT_COLUMNS}
        for c in TIME_COLUMNS:
            row[snake(c)] = utc_iso(raw.get(c), path=path, row=n, field=c)
        for c in DECIMAL_COLUMNS:
            row[snake(c)] = money(raw.get(c), path=path, row=n, field=c)
        required(row["billed_cost"], path=path, row=n, field="BilledCost")
        required(row["billing_period_start"], path=path, row=n, field="BillingPeriodStart")
        row["tags"] = map_json(raw.get("Tags"), path=path, row=n, field="Tags")
        row["x_columns"] = plain_json(
            {k: v for k, v in raw.items() if k.startswith("x_") and v not in (None, "")}
        )
        period = row["billing_period_start"][:7]
        row["_is_ai"] = row["service_category"] == AI_CATEGORY
        row.update(
            _billing_period=period,
            _partition=f"{row['billing_account_id']}/{period}",
            _source_file=str(path),
            _source_row=n,
        )
        row["_row_key"] = natural_key(*path.parts[-3:], n)
        return row

    rows = iter_rows(path, source="focus", on_header=_missing_columns)
    yield from parse_rows("focus", path, rows, parse, _locate)


def read_focus_file(path: Path, stats: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """Normalised rows of one FOCUS file; `stats` counts 'rows' and 'non_ai_rows'; raises on
    the first row it cannot interpret."""
    for row in strict(focus_items(path)):
        _count(stats, row)
        yield row


def _count(stats: dict[str, int] | None, row: dict[str, Any]) -> None:
    if stats is not None:
        stats["rows"] = stats.get("rows", 0) + 1
        stats["non_ai_rows"] = stats.get("non_ai_rows", 0) + (not row["_is_ai"])


@dlt.source(name="focus", max_table_nesting=0)
def focus_source(
    export_path: str = dlt.config.value,
    start_date: date | None = None,
    end_date: date | None = None,
) -> DltResource:
    """FOCUS rows of the billing periods overlapping the UTC days [start_date, end_date).

    Args:
        export_path: folder of FOCUS files, env `FOCUS_EXPORT_PATH`.
        start_date, end_date: the window; end exclusive. Whole billing periods are loaded.
    """
    if start_date is None or end_date is None:
        raise ValueError("focus source: start_date and end_date are required")
    root = Path(export_path)
    months = set(months_in_window(start_date, end_date))

    @dlt.resource(
        name="focus_rows",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="_partition",
        columns=COLUMNS,
        schema_contract=SCHEMA_CONTRACT,
    )
    def focus_rows() -> Iterator[Any]:
        """Every FOCUS row (AI and non-AI) of the billing periods in the window; rows that
        cannot be interpreted go to `quarantine`."""
        stats: dict[str, int] = {}
        quarantine = Quarantine("focus", "focus_rows")
        state = dlt.current.resource_state()
        ledger = FileLedger("focus", state, quarantine, months, "_billing_period")
        files = data_files(root, TABLE_SUFFIXES)
        if not files:
            log.warning("focus: no FOCUS files under %s", root)
        for item in ledger.rows(files, focus_items):
            if isinstance(item, dict):
                _count(stats, item)
            yield item
        yield from quarantine.markers()
        log.info(
            "focus: %d rows read, %d non-AI rows (ServiceCategory != %r) landed but not modelled",
            stats.get("rows", 0),
            stats.get("non_ai_rows", 0),
            AI_CATEGORY,
        )

    return add_quarantine_table(focus_rows)
