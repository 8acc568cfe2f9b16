"""The price book as a dlt resource: dataset `raw_reference`, table `price_book`.

Written by the Dagster asset `raw_reference/price_book` (orchestration/defs/reference.py) from
the models dbt has observed (`intermediate.int_models_observed`), and read back by the SQL model
`int_price_book`, so the same code fills DuckDB and PostgreSQL. Each load replaces the table
whole. Column types are declared (PRICE_BOOK_SQL_TYPES), never inferred from the rows, so an
empty book or a column that is null on every row keeps its type; `usd_per_million` lands as an
exact DECIMAL(38, 12).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import dlt
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.extract import DltResource

from ingestion.prices.book import PRICE_BOOK_COLUMNS, PRICE_BOOK_SQL_TYPES, price_book_rows
from ingestion.prices.overrides import Override

DATASET = "raw_reference"
TABLE = "price_book"
_SCALE = Decimal("1e-12")  # DECIMAL(38, 12)
_DLT_TYPES = {"VARCHAR": "text", "BIGINT": "bigint", "DATE": "date"}


def _dlt_column(name: str) -> dict[str, Any]:
    sql_type = PRICE_BOOK_SQL_TYPES[name]
    if sql_type.startswith("DECIMAL"):
        return {"data_type": "decimal", "precision": 38, "scale": 12}
    return {"data_type": _DLT_TYPES[sql_type]}


PRICE_BOOK_DLT_COLUMNS: TTableSchemaColumns = {
    name: {**_dlt_column(name), "nullable": name not in ("provider", "model", "token_class")}
    for name in PRICE_BOOK_COLUMNS
}


def price_book_records(
    observed: Iterable[tuple[str, str]], overrides: Sequence[Override] = ()
) -> list[dict[str, Any]]:
    """`price_book_rows` with `usd_per_million` at the warehouse's scale (12 decimals)."""
    return [
        {**row, "usd_per_million": row["usd_per_million"].quantize(_SCALE)}
        for row in price_book_rows(observed, overrides)
    ]


def price_book_resource(rows: Sequence[dict[str, Any]]) -> DltResource:
    """A resource that replaces the price book with `rows` (from `price_book_records`)."""

    @dlt.resource(name=TABLE, write_disposition="replace", columns=PRICE_BOOK_DLT_COLUMNS)
    def price_book() -> Iterator[dict[str, Any]]:
        """Dated list prices (genai-prices' bundled data plus config/price_overrides.csv)."""
        yield from rows

    resource: DltResource = price_book()
    return resource
