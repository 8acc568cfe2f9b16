"""The warehouse, on either target: DuckDB (a file) or PostgreSQL (a server).

Every function takes a `Warehouse`: either the run's `Settings` (its `target` decides, see
AISPEND_TARGET) or a `Path`, which always means a DuckDB file (the behaviour before the
PostgreSQL target existed, kept for code that has not moved yet).

The API, for assets, checks and reports that read or write tables:

    with connect(settings, read_only=True) as con:        # a `Connection`, closed on exit
        rows = con.execute("select ... where d >= ?", [start]).fetchall()
        frame = con.frame("select ...", [start])           # pandas.DataFrame
    frame = read_frame(settings, "select ...", params)     # the same in one call
    replace_tables(settings, "analytics", {"t1": df1, "t2": df2})  # one transaction
    table_exists(settings, "raw_openai", "costs")
    dlt_pipeline("openai", settings, settings.dlt_pipelines_dir)   # dataset raw_openai

SQL is written once with `?` placeholders (DuckDB's style); on PostgreSQL they become `%s`
(a `?` inside a quoted string or identifier is left alone). Both targets run the SQL that
dbt's portable macros emit: `cast(x as date)`, `coalesce`, `case`, window functions, CTEs,
`date_trunc('month', d)`; avoid DuckDB-only syntax (`group by all`, `x::date` works on both,
`strftime`, `list_*`, `struct`, `qualify`) or branch on `con.target`.

Types read back are the same on both: DuckDB's `.df()` conventions (integers without nulls
int64, with nulls Int64; DECIMAL/NUMERIC float64; DATE and TIMESTAMP datetime64; booleans
bool/boolean; text str).

On DuckDB a connection holds the file's lock while open: keep `connect` blocks short, and open
read-only when not writing so readers can share the file. On PostgreSQL each statement commits
on its own (autocommit, as in DuckDB) unless inside `con.transaction()`.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pandas as pd

from ingestion._dlt_merge import install as install_split_key_merge
from orchestration.settings import Settings, duckdb_config

Warehouse = Settings | Path

# --------------------------------------------------------------------------- targets


def _target(warehouse: Warehouse) -> str:
    return warehouse.target if isinstance(warehouse, Settings) else "duckdb"


def duckdb_file(warehouse: Warehouse) -> Path:
    """The DuckDB file of a warehouse (meaningful on the duckdb target)."""
    return warehouse.warehouse if isinstance(warehouse, Settings) else warehouse


_duckdb_path = duckdb_file


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# `?` outside '...' strings, "..." identifiers and comments becomes `%s`; every `%` is doubled
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?|%", re.DOTALL)


def to_pyformat(sql: str) -> str:
    """DuckDB-style `?` placeholders to psycopg2's `%s` (and `%` to `%%`)."""

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        return token.replace("%", "%%")

    return _TOKENS.sub(swap, sql)


# --------------------------------------------------------------------------- connections


class Result:
    """Rows of one statement: `fetchall()`, `fetchone()`, `columns`, `df()`."""

    def __init__(self, cursor: Any, target: str) -> None:
        self._cursor = cursor
        self._target = target

    @property
    def columns(self) -> list[str]:
        return [d[0] for d in self._cursor.description or []]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._cursor.fetchall()]

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def df(self) -> pd.DataFrame:
        if self._target == "duckdb":
            return self._cursor.df()
        return _pg_frame(self._cursor)


class Connection:
    """One open connection to the warehouse; `target` is "duckdb" or "postgres", `raw` the
    driver's own connection (a `duckdb.DuckDBPyConnection` or a psycopg2 connection)."""

    def __init__(self, raw: Any, target: str) -> None:
        self.raw = raw
        self.target = target

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """Run one statement with `?` placeholders."""
        if self.target == "duckdb":
            return Result(self.raw.execute(sql, list(params or [])), self.target)
        cursor = self.raw.cursor()
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(to_pyformat(sql), list(params))
        return Result(cursor, self.target)

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self.execute(sql, params).df()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Everything in the block commits together or not at all."""
        self._plain("begin transaction")
        try:
            yield self
        except BaseException:
            self._plain("rollback")
            raise
        self._plain("commit")

    def _plain(self, sql: str) -> None:
        if self.target == "duckdb":
            self.raw.execute(sql)
        else:
            with self.raw.cursor() as cursor:
                cursor.execute(sql)


@contextmanager
def connect(warehouse: Warehouse, read_only: bool = False) -> Iterator[Connection]:
    """A connection to the warehouse, closed when the block ends.

    DuckDB: the file, read-only when asked (then the file must exist). PostgreSQL: the server
    from PG* settings, autocommit, a read-only session when asked.
    """
    if _target(warehouse) == "duckdb":
        path = str(_duckdb_path(warehouse))
        with duckdb.connect(path, read_only=read_only, config=duckdb_config()) as raw:
            yield Connection(raw, "duckdb")
        return
    raw = postgres_connect(warehouse)  # type: ignore[arg-type]
    try:
        raw.set_session(readonly=read_only, autocommit=True)
        yield Connection(raw, "postgres")
    finally:
        raw.close()


def postgres_connect(settings: Settings) -> Any:
    """A plain psycopg2 connection to the server in `settings.postgres` (caller closes it)."""
    import psycopg2

    return psycopg2.connect(
        **settings.postgres.connect_kwargs(), connect_timeout=15, application_name="aispend"
    )


def read_frame(warehouse: Warehouse, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    """The result of one query as a DataFrame (read-only connection, opened and closed)."""
    with connect(warehouse, read_only=True) as con:
        return con.frame(sql, params)


def table_exists(warehouse: Warehouse, schema: str, table: str) -> bool:
    """Whether `schema.table` (a table or a view) exists; False when a DuckDB file is absent."""
    if _target(warehouse) == "duckdb" and not _duckdb_path(warehouse).exists():
        return False
    with connect(warehouse, read_only=True) as con:
        return _exists(con, schema, table)


def _exists(con: Connection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


# --------------------------------------------------------------------------- dlt


def dlt_destination(warehouse: Warehouse) -> Any:
    """dlt's destination for the target: duckdb (the file) or postgres (the server)."""
    install_split_key_merge()  # one DELETE per merge/primary key, not one joined by OR
    if _target(warehouse) == "duckdb":
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        credentials = DuckDbCredentials(str(_duckdb_path(warehouse)), global_config=duckdb_config())
        return dlt.destinations.duckdb(credentials=credentials)
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    pg = warehouse.postgres  # type: ignore[union-attr]
    credentials = PostgresCredentials(
        {
            "database": pg.database,
            "username": pg.user,
            "password": pg.password,
            "host": pg.host,
            "port": pg.port,
        }
    )
    return dlt.destinations.postgres(credentials=credentials)


def dlt_pipeline(provider: str, warehouse: Warehouse, pipelines_dir: Path) -> dlt.Pipeline:
    """The dlt pipeline of one provider: dataset (schema) `raw_<provider>` on the target."""
    return dlt.pipeline(
        pipeline_name=f"aispend_{provider}",
        destination=dlt_destination(warehouse),
        dataset_name=f"raw_{provider}",
        pipelines_dir=str(pipelines_dir),
        progress="log",
    )


def loaded_span_unix(
    warehouse: Warehouse, schema: str, table: str, column: str
) -> tuple[int | None, int | None]:
    """Earliest and latest bucket start already loaded into a raw table; (None, None) if
    nothing is there.

    On DuckDB the file is opened read-only and closed at once, so it never holds the writer's
    lock.
    """
    if _target(warehouse) == "duckdb" and not _duckdb_path(warehouse).exists():
        return None, None
    with connect(warehouse, read_only=True) as con:
        if not _exists(con, schema, table):
            return None, None
        quoted = _quote(column)
        row = con.execute(
            f"select min({quoted}), max({quoted}) from {_quote(schema)}.{_quote(table)}"
        ).fetchone()
    if not row or row[0] is None:
        return None, None
    return int(row[0]), int(row[1])


# --------------------------------------------------------------------------- writing frames


def _duckdb_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Give columns DuckDB would guess wrong a type: all-None object columns become text
    (DuckDB makes them INTEGER), dates stay dates."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object and out[column].isna().all():
            out[column] = out[column].astype("string")
    return out


def replace_tables(warehouse: Warehouse, schema: str, tables: Mapping[str, pd.DataFrame]) -> None:
    """Replace each table in one transaction, so a reader never sees half of a refresh.

    Column types follow the frame's dtypes (see `postgres_type`); the schema is created when
    missing. On PostgreSQL a table is dropped and created again, so a view over it (none in
    this project) would have to be dropped first: the call fails rather than drop it.
    """
    with connect(warehouse) as con:
        con.execute(f"create schema if not exists {_quote(schema)}")
        with con.transaction():
            for name, frame in tables.items():
                if con.target == "duckdb":
                    view = f"_frame_{name}"
                    con.raw.register(view, _duckdb_ready(frame))
                    con.execute(
                        f"create or replace table {_quote(schema)}.{_quote(name)} "
                        f"as select * from {_quote(view)}"
                    )
                    con.raw.unregister(view)
                else:
                    _pg_replace(con, schema, name, frame)


def _pg_replace(con: Connection, schema: str, name: str, frame: pd.DataFrame) -> None:
    """Drop, create and fill one table with COPY. Every field is quoted and a missing value
    (None, NaN, NaT, NA) is written as `\\N`, which FORCE_NULL reads as NULL: an empty string
    stays an empty string (only a text value of exactly `\\N` would become NULL)."""
    target = f"{_quote(schema)}.{_quote(name)}"
    columns = [str(c) for c in frame.columns]
    names = ", ".join(_quote(c) for c in columns)
    ddl = ", ".join(
        f"{_quote(column)} {postgres_type(frame.iloc[:, i])}" for i, column in enumerate(columns)
    )
    with con.raw.cursor() as cursor:
        cursor.execute(f"drop table if exists {target}")
        cursor.execute(f"create table {target} ({ddl})")
        if len(frame) and columns:
            body = frame.to_csv(
                index=False, header=False, na_rep="\\N", quoting=csv.QUOTE_ALL, lineterminator="\n"
            )
            cursor.copy_expert(
                f"copy {target} ({names}) from stdin "
                f"with (format csv, null '\\N', force_null ({names}))",
                io.StringIO(body),
            )


def postgres_type(column: pd.Series) -> str:
    """The PostgreSQL type of a frame column, as DuckDB would type it on registration
    (all-null or text columns are `text`)."""
    kind = column.dtype
    if pd.api.types.is_bool_dtype(kind):
        return "boolean"
    if pd.api.types.is_integer_dtype(kind):
        return "bigint"
    if pd.api.types.is_float_dtype(kind):
        return "double precision"
    if isinstance(kind, pd.DatetimeTZDtype):
        return "timestamptz"
    if pd.api.types.is_datetime64_dtype(kind):
        return "timestamp"
    if pd.api.types.is_timedelta64_dtype(kind):
        return "interval"
    values = column.dropna()
    if values.empty:
        return "text"
    kinds = {type(v) for v in values}
    for python, sql in (
        (bool, "boolean"),
        (int, "bigint"),
        (float, "double precision"),
        (decimal.Decimal, "numeric"),
        (dt.date, "date"),
    ):
        if kinds == {python}:
            return sql
    if all(issubclass(k, dt.datetime) for k in kinds):
        tz = {v.tzinfo is not None for v in values}
        return "timestamptz" if tz == {True} else "timestamp"
    if all(issubclass(k, int | float) and not issubclass(k, bool) for k in kinds):
        return "double precision"
    return "text"


# --------------------------------------------------------------------------- reading frames

# PostgreSQL type OIDs (pg_type.oid), grouped as DuckDB's `.df()` would convert them
_PG_INTEGER = {20, 21, 23, 26}
_PG_FLOAT = {700, 701, 1700}
_PG_BOOL = {16}
_PG_DATETIME = {1082, 1114}
_PG_DATETIME_TZ = {1184}


def _pg_frame(cursor: Any) -> pd.DataFrame:
    columns = [d[0] for d in cursor.description or []]
    oids = [d[1] for d in cursor.description or []]
    frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    for i, oid in enumerate(oids):
        column = frame.iloc[:, i]
        if oid in _PG_INTEGER:
            converted = column.astype("Int64") if column.isna().any() else column.astype("int64")
        elif oid in _PG_FLOAT:
            converted = pd.to_numeric(column.astype(object), errors="coerce").astype("float64")
        elif oid in _PG_BOOL:
            converted = column.astype("boolean") if column.isna().any() else column.astype(bool)
        elif oid in _PG_DATETIME:
            converted = pd.to_datetime(column).astype("datetime64[us]")
        elif oid in _PG_DATETIME_TZ:
            converted = pd.to_datetime(column, utc=True).astype("datetime64[us, UTC]")
        else:
            continue
        frame.isetitem(i, converted)
    return frame


# --------------------------------------------------------------------------- copies into DuckDB

_PG_TO_DUCKDB = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "double precision": "DOUBLE",
    "real": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMPTZ",
    "interval": "INTERVAL",
}


def _duckdb_type(data_type: str, precision: int | None, scale: int | None) -> str:
    if data_type == "numeric":
        if precision is None:  # unconstrained: as wide as DuckDB's DECIMAL goes
            return "DECIMAL(38,12)"
        return f"DECIMAL({min(int(precision), 38)},{int(scale or 0)})"
    return _PG_TO_DUCKDB.get(data_type, "VARCHAR")


def list_tables(con: Connection, schemas: Sequence[str]) -> list[tuple[str, str]]:
    """(schema, table) of every table and view in `schemas`, sorted."""
    if not schemas:
        return []
    marks = ", ".join("?" for _ in schemas)
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_schema in ({marks}) order by 1, 2",
        list(schemas),
    ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def copy_into_duckdb(
    con: Connection,
    schema: str,
    table: str,
    duck: duckdb.DuckDBPyConnection,
    destination: str,
    batch_rows: int = 50_000,
) -> int:
    """Copy `schema.table` of a PostgreSQL warehouse into the DuckDB table `destination`
    (a qualified, quoted name), column types kept (NUMERIC as DECIMAL, exact: it travels as
    text), in batches of `batch_rows`. Returns the rows copied."""
    columns = con.execute(
        "select column_name, data_type, numeric_precision, numeric_scale "
        "from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    if not columns:
        raise ValueError(f"{schema}.{table}: no such table, or it has no columns")
    types = [_duckdb_type(t, p, s) for _, t, p, s in columns]
    names = [str(c[0]) for c in columns]
    ddl = ", ".join(f"{_quote(n)} {t}" for n, t in zip(names, types, strict=True))
    duck.execute(f"create table {destination} ({ddl})")
    casts = ", ".join(f"cast({_quote(n)} as {t})" for n, t in zip(names, types, strict=True))
    numeric = [i for i, (_, t, _, _) in enumerate(columns) if t == "numeric"]
    copied = 0
    # a server-side cursor (WITH HOLD: the connection is in autocommit mode)
    with con.raw.cursor(name=f"copy_{uuid.uuid4().hex[:8]}", withhold=True) as cursor:
        cursor.itersize = batch_rows
        cursor.execute(
            "select "
            + ", ".join(_quote(n) for n in names)
            + f" from {_quote(schema)}.{_quote(table)}"
        )
        while True:
            rows = cursor.fetchmany(batch_rows)
            if not rows:
                break
            frame = pd.DataFrame.from_records(rows, columns=names)
            for i in numeric:
                frame.isetitem(i, frame.iloc[:, i].map(lambda v: None if v is None else str(v)))
            for i, column in enumerate(names):
                if frame[column].dtype == object and frame[column].isna().all():
                    frame.isetitem(i, frame.iloc[:, i].astype("string"))
            duck.register("_copy_batch", frame)
            duck.execute(f"insert into {destination} select {casts} from _copy_batch")
            duck.unregister("_copy_batch")
            copied += len(rows)
    return copied


# --------------------------------------------------------------------------- reference data


def fx_rates(
    con: Connection | duckdb.DuckDBPyConnection, reporting_currency: str
) -> Callable[[str, dt.date], float]:
    """fx(currency, day): reporting-currency units per unit of `currency` on `day`, from the
    dated FX seed (`reference.fx_rates`, usd_per_unit valid from a day until the next row).
    Raises ValueError naming the currency when the seed has no rate for it on that day.

    `con` is a `Connection` of either target or a DuckDB connection."""
    rows = con.execute(
        "select upper(currency), cast(valid_from as date), cast(usd_per_unit as double precision) "
        "from reference.fx_rates order by 1, 2"
    ).fetchall()
    table: dict[str, list[tuple[dt.date, float]]] = {}
    for currency, valid_from, rate in rows:
        table.setdefault(currency, []).append((valid_from, float(rate)))

    def usd_per_unit(currency: str, day: dt.date) -> float:
        if currency == "USD":
            return 1.0
        dated = [rate for valid_from, rate in table.get(currency, []) if valid_from <= day]
        if not dated:
            raise ValueError(
                f"no FX rate for {currency} on {day} in reference.fx_rates "
                "(dbt_project/seeds/fx_rates.csv)"
            )
        return dated[-1]

    def fx(currency: str, day: dt.date) -> float:
        return usd_per_unit(currency.upper(), day) / usd_per_unit(reporting_currency.upper(), day)

    return fx
