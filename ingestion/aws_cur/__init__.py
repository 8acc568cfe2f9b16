"""dlt source for AWS Cost and Usage Report 2.0 (Data Exports) files.

Reads `<export_path>/data/BILLING_PERIOD=YYYY-MM/*.snappy.parquet | *.csv.gz` for the billing
periods that overlap the window and lands ALL line items (Bedrock, Marketplace and the rest;
filtering belongs to staging) in `raw_aws_cur.cur_line_items`. AWS restates the current month
on every delivery, so a period is loaded whole and REPLACES the earlier copy (merge with the
export/period as `merge_key`). A period none of whose files changed since it was loaded is not
read again (ingestion/_file_ledger.py): its rows keep their load id.

A row that cannot be interpreted (a money value that is not a number, a bad timestamp, an
empty `line_item_unblended_cost`, a map column that is not JSON) goes to
`raw_aws_cur.quarantine` instead (file, row, field, reason, raw row); a file that cannot be
read or lacks the `line_item_unblended_cost` column fails the run (ingestion/_quarantine.py).
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
    missing_columns,
    money,
    months_in_window,
    parse_rows,
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
TEXT_FIELDS = (
    "identity_line_item_id",
    "identity_time_interval",
    "bill_billing_entity",
    "bill_payer_account_id",
    "line_item_usage_account_id",
    "line_item_line_item_type",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_operation",
    "line_item_resource_id",
    "line_item_currency_code",
    "line_item_line_item_description",
    "line_item_iam_principal",
    "pricing_unit",
)
TIME_FIELDS = (
    "bill_billing_period_start_date",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
)
MONEY_FIELDS = (
    "line_item_usage_amount",
    "line_item_unblended_rate",
    "line_item_unblended_cost",
    "line_item_net_unblended_cost",
    "pricing_public_on_demand_cost",
)
MAP_FIELDS = ("resource_tags", "product", "cost_category")
COLUMNS: dict[str, Any] = {
    "_row_key": {"data_type": "text", "nullable": False},
    "_partition": {"data_type": "text", "nullable": False},
    "_billing_period": {"data_type": "text", "nullable": False},
    "_source_file": {"data_type": "text", "nullable": False},
    "_source_row": {"data_type": "bigint"},
    **{f: {"data_type": "text"} for f in (*TEXT_FIELDS, *TIME_FIELDS, *MAP_FIELDS)},
    **{f: dict(MONEY) for f in MONEY_FIELDS},
}
REQUIRED_COLUMNS = ("line_item_unblended_cost",)
PERIOD_DIR = re.compile(r"^BILLING_PERIOD=(\d{4}-\d{2})$")


def _period_files(root: Path) -> dict[Path, str]:
    """Every data file of every `BILLING_PERIOD=YYYY-MM` folder, with its period."""
    data = root / "data" if (root / "data").is_dir() else root
    out = {}
    for folder in sorted(data.rglob("BILLING_PERIOD=*")):
        match = PERIOD_DIR.match(folder.name)
        if folder.is_dir() and match:
            out.update((f, match.group(1)) for f in data_files(folder, TABLE_SUFFIXES))
    return out


def cur_items(path: Path, period: str, export_name: str) -> Iterator[dict[str, Any] | RowError]:
    """Rows of one CUR 2.0 file, money exact, maps as JSON text; a row that cannot be
    interpreted comes out as a RowError (partition known: the file's billing period)."""
    partition = f"{export_name}/{period}"

    def parse(n: int, raw: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {f: text(raw.get(f)) for f in TEXT_FIELDS}
        for f in TIME_FIELDS:
            row[f] = utc_iso(raw.get(f), path=path, row=n, field=f)
        for f in MONEY_FIELDS:
            row[f] = money(raw.get(f), path=path, row=n, field=f)
        for f in MAP_FIELDS:
            row[f] = map_json(raw.get(f), path=path, row=n, field=f)
        required(
            row["line_item_unblended_cost"], path=path, row=n, field="line_item_unblended_cost"
        )
        row.update(
            _billing_period=period,
            _partition=partition,
            _source_file=str(path),
            _source_row=n,
        )
        row["_row_key"] = natural_key(export_name, period, *path.parts[-3:], n)
        return row

    rows = iter_rows(path, source="aws_cur", on_header=missing_columns(REQUIRED_COLUMNS))
    yield from parse_rows("aws_cur", path, rows, parse, lambda raw: (period, partition))


def read_cur_file(path: Path, period: str, export_name: str) -> Iterator[dict[str, Any]]:
    """Rows of one CUR 2.0 file; raises on the first row it cannot interpret."""
    return strict(cur_items(path, period, export_name))


def _export_name(path: Path) -> str:
    return re.sub(r"-\d+$", "", path.name.split(".")[0])


@dlt.source(name="aws_cur", max_table_nesting=0)
def aws_cur_source(
    export_path: str = dlt.config.value,
    start_date: date | None = None,
    end_date: date | None = None,
) -> DltResource:
    """CUR 2.0 line items of the billing periods overlapping the UTC days [start_date, end_date).

    Args:
        export_path: the export's folder (the one holding `data/` and `metadata/`), env
            `AWS_CUR_EXPORT_PATH`.
        start_date, end_date: the window; end exclusive. Whole billing periods are loaded.
    """
    if start_date is None or end_date is None:
        raise ValueError("aws_cur source: start_date and end_date are required")
    root = Path(export_path)
    months = months_in_window(start_date, end_date)

    @dlt.resource(
        name="cur_line_items",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="_partition",
        columns=COLUMNS,
        schema_contract=SCHEMA_CONTRACT,
    )
    def cur_line_items() -> Iterator[Any]:
        """Every line item of every delivered billing period in the window; rows that cannot
        be interpreted go to `quarantine`."""
        quarantine = Quarantine("aws_cur", "cur_line_items")
        state = dlt.current.resource_state()
        ledger = FileLedger("aws_cur", state, quarantine, months, "_billing_period")
        files = _period_files(root)
        if not any(period in months for period in files.values()):
            log.warning("aws_cur: no CUR files under %s for %s", root, ", ".join(months))

        def partition(path: Path) -> dict[str, str | None]:
            return {f"{_export_name(path)}/{files[path]}": files[path]}

        def read(path: Path) -> Iterator[dict[str, Any] | RowError]:
            return cur_items(path, files[path], _export_name(path))

        yield from ledger.rows(files, read, partition)
        yield from quarantine.markers()

    return add_quarantine_table(cur_line_items)
