"""Small helpers over the DuckDB warehouse file shared by dlt, dbt and Dagster."""

from __future__ import annotations

from pathlib import Path

import dlt
import duckdb


def dlt_pipeline(provider: str, warehouse: Path, pipelines_dir: Path) -> dlt.Pipeline:
    """The dlt pipeline of one provider: dataset `raw_<provider>` in the warehouse file."""
    return dlt.pipeline(
        pipeline_name=f"aispend_{provider}",
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name=f"raw_{provider}",
        pipelines_dir=str(pipelines_dir),
        progress="log",
    )


def earliest_loaded_unix(warehouse: Path, schema: str, table: str, column: str) -> int | None:
    """Earliest bucket start already loaded into a raw table, or None if nothing is there.

    Opens the file read-only and closes it at once, so it never holds the writer's lock.
    """
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()
        if not exists or not exists[0]:
            return None
        row = con.execute(f'select min("{column}") from "{schema}"."{table}"').fetchone()
    return int(row[0]) if row and row[0] is not None else None
