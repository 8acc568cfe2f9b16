"""Write marts.focus_ai_spend as FOCUS 1.2 files; plain functions, called by the Dagster asset."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.settings import Settings, duckdb_config
from orchestration.warehouse import Warehouse, connect, copy_into_duckdb, duckdb_file

FOCUS_TABLE = "marts.focus_ai_spend"
FILE_STEM = "focus_ai_spend"


@dataclass(frozen=True)
class FocusExport:
    """What one export wrote."""

    rows: int
    csv_path: Path
    parquet_path: Path
    billed_cost_by_currency: dict[str, str]


def export_focus(warehouse: Warehouse, out_dir: Path) -> FocusExport:
    """Copy the FOCUS model to CSV and Parquet under `out_dir`, replacing earlier files atomically.

    Readers of the files never see a half-written one: each is written under a temporary name
    and renamed into place. The warehouse is opened read-only and closed before returning.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{FILE_STEM}.csv"
    parquet_path = out_dir / f"{FILE_STEM}.parquet"
    tmp_csv = out_dir / f".{FILE_STEM}.csv.tmp"
    tmp_parquet = out_dir / f".{FILE_STEM}.parquet.tmp"
    with _focus_connection(warehouse) as con:
        con.execute("set TimeZone = 'UTC'")
        # columns whose name starts with _ are the model's bookkeeping (`_day_version`), not FOCUS
        ordered = (
            f"select columns(c -> not starts_with(c, '_')) from {FOCUS_TABLE} "
            "order by ChargePeriodStart, ProviderName, SubAccountId"
        )
        con.execute(f"copy ({ordered}) to '{_sql_path(tmp_parquet)}' (format parquet)")
        # the CSV from the sorted Parquet file: the wide table is read and sorted once, not
        # once per file (insertion order is kept); FOCUS date/times are ISO 8601 in UTC with a Z
        con.execute(
            f"copy (select * from read_parquet('{_sql_path(tmp_parquet)}')) "
            f"to '{_sql_path(tmp_csv)}' "
            "(format csv, header true, timestampformat '%Y-%m-%dT%H:%M:%SZ')"
        )
        rows = con.execute(f"select count(*) from {FOCUS_TABLE}").fetchone()[0]
        totals = con.execute(
            f"select BillingCurrency, cast(round(sum(BilledCost), 2) as varchar) "
            f"from {FOCUS_TABLE} group by 1 order by 1"
        ).fetchall()
    os.replace(tmp_csv, csv_path)
    os.replace(tmp_parquet, parquet_path)
    return FocusExport(
        rows=int(rows),
        csv_path=csv_path,
        parquet_path=parquet_path,
        billed_cost_by_currency={currency: total for currency, total in totals},
    )


@contextmanager
def _focus_connection(warehouse: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection where `marts.focus_ai_spend` can be read: the warehouse file
    (read-only), or on PostgreSQL an in-memory copy of the table (types kept), so the files
    are written the same way from either target."""
    if not (isinstance(warehouse, Settings) and warehouse.target == "postgres"):
        with duckdb.connect(
            str(duckdb_file(warehouse)), read_only=True, config=duckdb_config()
        ) as con:
            yield con
        return
    with connect(warehouse, read_only=True) as src, duckdb.connect(config=duckdb_config()) as con:
        schema, table = FOCUS_TABLE.split(".")
        con.execute(f"create schema {schema}")
        copy_into_duckdb(src, schema, table, con, FOCUS_TABLE)
        yield con


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
