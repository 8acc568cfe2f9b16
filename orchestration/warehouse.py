"""Small helpers over the DuckDB warehouse file shared by dlt, dbt and Dagster."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import dlt
import duckdb
import pandas as pd


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


def _duckdb_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Give columns DuckDB would guess wrong a type: all-None object columns become text
    (DuckDB makes them INTEGER), dates stay dates."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object and out[column].isna().all():
            out[column] = out[column].astype("string")
    return out


def replace_tables(warehouse: Path, schema: str, tables: dict[str, pd.DataFrame]) -> None:
    """Replace each table in one transaction, so a reader never sees half of a refresh."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f'create schema if not exists "{schema}"')
        con.execute("begin transaction")
        try:
            for name, frame in tables.items():
                view = f"_frame_{name}"
                con.register(view, _duckdb_ready(frame))
                con.execute(f'create or replace table "{schema}"."{name}" as select * from {view}')
                con.unregister(view)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise


def fx_rates(
    con: duckdb.DuckDBPyConnection, reporting_currency: str
) -> Callable[[str, date], float]:
    """fx(currency, day): reporting-currency units per unit of `currency` on `day`, from the
    dated FX seed (`reference.fx_rates`, usd_per_unit valid from a day until the next row).
    Raises ValueError naming the currency when the seed has no rate for it on that day."""
    rows = con.execute(
        "select upper(currency), cast(valid_from as date), cast(usd_per_unit as double) "
        "from reference.fx_rates order by 1, 2"
    ).fetchall()
    table: dict[str, list[tuple[date, float]]] = {}
    for currency, valid_from, rate in rows:
        table.setdefault(currency, []).append((valid_from, rate))

    def usd_per_unit(currency: str, day: date) -> float:
        if currency == "USD":
            return 1.0
        dated = [rate for valid_from, rate in table.get(currency, []) if valid_from <= day]
        if not dated:
            raise ValueError(
                f"no FX rate for {currency} on {day} in reference.fx_rates "
                "(dbt_project/seeds/fx_rates.csv)"
            )
        return dated[-1]

    def fx(currency: str, day: date) -> float:
        return usd_per_unit(currency.upper(), day) / usd_per_unit(reporting_currency.upper(), day)

    return fx
