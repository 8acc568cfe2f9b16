"""The serving copy: what analysts and BI tools read, so they never touch the pipeline's file.

DuckDB allows one writer or many readers of a file, never both. After each run the marts and
analytics tables are copied into a new DuckDB file and new Parquet files, and only then put in
place with a rename (atomic on one filesystem). A reader that opened the previous copy keeps
reading it (its open file survives the rename); the next connection gets the new one. The copy
is written in DuckDB's v1.0 storage format, so DuckDB 1.x clients and BI drivers open it.

On the PostgreSQL target the same copy is made from the server (BI tools may also query the
server directly): the alert sensor and the daily report read the copy on either target.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.settings import Settings, duckdb_config
from orchestration.warehouse import Warehouse, copy_into_duckdb, duckdb_file, list_tables
from orchestration.warehouse import connect as warehouse_connect

log = logging.getLogger(__name__)

SERVED_SCHEMAS: tuple[str, ...] = ("marts", "analytics")
SERVING_FILE = "aispend.duckdb"
PARQUET_LINK = "parquet"
#: Oldest storage format that DuckDB 1.0+ clients read.
STORAGE_VERSION = "v1.0.0"
KEEP_PARQUET_VERSIONS = 2


@dataclass
class PublishResult:
    """What was published where; `tables` maps `schema.table` to its row count."""

    database: Path
    parquet_dir: Path
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def serving_dir(warehouse: Path) -> Path:
    """`AISPEND_SERVING_DIR`, else `serving/` beside the warehouse file."""
    raw = os.environ.get("AISPEND_SERVING_DIR", "").strip()
    return Path(raw).expanduser().resolve() if raw else warehouse.parent / "serving"


def _tables(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    marks = ", ".join("?" for _ in schemas)
    return con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_catalog = 'src' and table_schema in ({marks}) "
        "order by 1, 2",
        list(schemas),
    ).fetchall()


def publish(
    warehouse: Warehouse, target: Path, schemas: tuple[str, ...] = SERVED_SCHEMAS
) -> PublishResult:
    """Copy `schemas` of the warehouse into `target/aispend.duckdb` and `target/parquet/`.

    Tables and views are both copied as tables (readers get plain tables, no dependencies).
    """
    started = time.monotonic()
    target.mkdir(parents=True, exist_ok=True)
    # sortable to the nanosecond: the newest versions are kept, whatever the second
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}"
    tmp_db = target / f".{SERVING_FILE}.{stamp}.tmp"
    parquet_dir = target / f"parquet-{stamp}"
    result = PublishResult(target / SERVING_FILE, target / PARQUET_LINK)
    try:
        if isinstance(warehouse, Settings) and warehouse.target == "postgres":
            _copy_from_postgres(warehouse, tmp_db, parquet_dir, schemas, result)
        else:
            _copy_from_duckdb(duckdb_file(warehouse), tmp_db, parquet_dir, schemas, result)
        os.replace(tmp_db, result.database)
        _swap_link(target / PARQUET_LINK, parquet_dir)
        _prune(target)
    except BaseException:
        tmp_db.unlink(missing_ok=True)
        shutil.rmtree(parquet_dir, ignore_errors=True)
        raise
    result.seconds = time.monotonic() - started
    log.info(
        "serving copy: %d tables -> %s and %s in %.1f s",
        len(result.tables),
        result.database,
        result.parquet_dir,
        result.seconds,
    )
    return result


def _write_parquet(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    parquet_dir: Path,
    result: PublishResult,
) -> None:
    (rows,) = con.execute(f'select count(*) from dst."{schema}"."{table}"').fetchone()
    result.tables[f"{schema}.{table}"] = int(rows)
    out = parquet_dir / schema / f"{table}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f'copy dst."{schema}"."{table}" to \'{out}\' (format parquet, compression zstd)')


def _copy_from_postgres(
    settings: Settings,
    tmp_db: Path,
    parquet_dir: Path,
    schemas: tuple[str, ...],
    result: PublishResult,
) -> None:
    with (
        warehouse_connect(settings, read_only=True) as src,
        duckdb.connect(config=duckdb_config()) as con,
    ):
        con.execute(f"attach '{tmp_db}' as dst (storage_version '{STORAGE_VERSION}')")
        for schema, table in list_tables(src, schemas):
            con.execute(f'create schema if not exists dst."{schema}"')
            copy_into_duckdb(src, schema, table, con, f'dst."{schema}"."{table}"')
            _write_parquet(con, schema, table, parquet_dir, result)
        con.execute("detach dst")


def _copy_from_duckdb(
    warehouse: Path,
    tmp_db: Path,
    parquet_dir: Path,
    schemas: tuple[str, ...],
    result: PublishResult,
) -> None:
    with duckdb.connect(config=duckdb_config()) as con:
        con.execute(f"attach '{warehouse}' as src (read_only)")
        con.execute(f"attach '{tmp_db}' as dst (storage_version '{STORAGE_VERSION}')")
        for schema, table in _tables(con, schemas):
            con.execute(f'create schema if not exists dst."{schema}"')
            con.execute(
                f'create table dst."{schema}"."{table}" as select * from src."{schema}"."{table}"'
            )
            _write_parquet(con, schema, table, parquet_dir, result)
        con.execute("detach dst")
        con.execute("detach src")


def _swap_link(link: Path, new_dir: Path) -> None:
    """Point `link` at `new_dir` in one rename, so readers see the old or the new set."""
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:6]}")
    tmp.symlink_to(new_dir.name, target_is_directory=True)
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(tmp, link)


def _prune(target: Path) -> None:
    """Keep the newest Parquet versions (a reader may still be on the previous one)."""
    current = (target / PARQUET_LINK).resolve().name
    versions = sorted(p for p in target.glob("parquet-*") if p.is_dir())
    for old in versions[:-KEEP_PARQUET_VERSIONS]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)
    for stale in target.glob(f".{SERVING_FILE}.*.tmp"):
        if time.time() - stale.stat().st_mtime > 3600:  # a crashed publish's left-over
            stale.unlink(missing_ok=True)
