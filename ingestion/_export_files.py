"""Readers shared by the billing-export file sources (AWS CUR, GCP billing, Azure cost, FOCUS).

Rows come out as plain dicts with their 1-based data-row number, so that a value the pipeline
cannot interpret is reported with file, row and field. CSV and JSON-lines are parsed in Python
(money stays the exact text the provider wrote); Parquet is read with DuckDB.

A row the pipeline cannot interpret comes out as a `RowError` (the value parsers below raise
it) and is quarantined by the source; a file that cannot be read raises `BadFileError`
(ingestion/_quarantine.py says which is which).
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ingestion._common import SourceDataError, to_decimal
from ingestion._quarantine import BadFileError, RowError

DATA_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".jsonl", ".json", ".jsonl.gz")
# the formats of the table-shaped exports (AWS CUR 2.0, Azure cost details, FOCUS): a JSON file
# beside them is the export's manifest (Azure writes `manifest.json` in every partitioned run
# folder, AWS `metadata/…-Manifest.json`), never data
TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
# decimal(38, 12): at most 26 digits before the point
MONEY_LIMIT = Decimal(10) ** 26
# header -> names of the required columns it lacks
HeaderCheck = Callable[[list[str]], list[str]]
Raw = dict[str, Any]


def is_data_file(path: Path, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(suffixes)


def data_files(root: Path, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> list[Path]:
    """Data files (names ending in one of `suffixes`) below `root`, sorted, hidden/temporary
    files excluded."""
    return sorted(
        p for p in root.rglob("*") if is_data_file(p, suffixes) and not p.name.startswith(".")
    )


def months_in_window(start: date, end: date) -> list[str]:
    """'YYYY-MM' of every month that overlaps the UTC days [start, end)."""
    if start >= end:
        raise ValueError(f"window start {start} must be before its end {end}")
    out, day = [], start.replace(day=1)
    while day < end:
        out.append(day.strftime("%Y-%m"))
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def iter_rows(
    path: Path, *, source: str = "export", on_header: HeaderCheck | None = None
) -> Iterator[tuple[int, Raw | RowError]]:
    """(data row number, row) of a CSV (optionally gzip), JSON-lines or Parquet file.

    A JSON line that is not JSON or not an object, and a CSV row whose field count differs from
    the header's, come out as a `RowError` in place of the row. `on_header` gets the column
    names of a CSV or Parquet file (JSON-lines has none) and returns the required ones missing.
    A file that cannot be read, or lacks a required column, raises `BadFileError`.
    """
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            yield from _csv_rows(path, source, on_header)
        elif name.endswith((".jsonl", ".json", ".jsonl.gz")):
            yield from _json_lines(path, source)
        elif name.endswith(".parquet"):
            yield from _parquet_rows(path, source, on_header)
        else:
            raise BadFileError(f"{source}: {path}: unsupported export file type")
    except SourceDataError:
        raise
    except UnicodeDecodeError as exc:
        raise BadFileError(f"{source}: {path}: not UTF-8 text ({exc.reason})") from exc
    except (OSError, EOFError, zlib.error) as exc:  # also gzip.BadGzipFile
        raise BadFileError(f"{source}: {path}: cannot be read: {exc}") from exc


def _opener(path: Path) -> Callable[..., Any]:
    return gzip.open if path.name.lower().endswith(".gz") else open


def _check_header(
    source: str, path: Path, header: list[str], on_header: HeaderCheck | None
) -> None:
    missing = on_header(header) if on_header else []
    if missing:
        columns = ", ".join(f"'{c}'" for c in missing)
        raise BadFileError(
            f"{source}: {path}: required column(s) {columns} missing from the header "
            f"(it has {len(header)} columns)"
        )


def _csv_rows(
    path: Path, source: str, on_header: HeaderCheck | None
) -> Iterator[tuple[int, Raw | RowError]]:
    with _opener(path)(path, "rt", newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        try:
            header = reader.fieldnames
            if header is None:
                raise BadFileError(f"{source}: {path}: empty file, no header row")
            _check_header(source, path, list(header), on_header)
            for n, row in enumerate(reader, start=1):
                if None in row or None in row.values():
                    found = len(header) + len(row.get(None) or []) - list(row.values()).count(None)
                    why = f"has {found} fields, the header has {len(header)}"
                    yield n, RowError(f"{path} row {n}: {why}", path=path, row=n, raw=row)
                    continue
                yield n, row
        except csv.Error as exc:
            raise BadFileError(
                f"{source}: {path}: not a readable CSV file at line {reader.line_num}: {exc}"
            ) from exc


def _json_lines(path: Path, source: str) -> Iterator[tuple[int, Raw | RowError]]:
    """Objects of a JSON-lines file. A line that is not a JSON object is a row problem, but a
    file none of whose lines is one (a JSON document, another format) is a file problem: the
    problems are held back until the first object is seen."""
    held: list[tuple[int, Raw | RowError]] | None = []
    with _opener(path)(path, "rt", encoding="utf-8") as fh:
        n = 0
        for line in fh:
            if not line.strip():
                continue
            n += 1
            field = None
            try:
                obj = json.loads(line, parse_float=Decimal, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                why = f"is not valid JSON: {exc}"
            except _DuplicateKeyError as exc:
                # an object all the same (the file is JSON-lines), but which value is meant?
                if held:
                    yield from held
                held, field = None, exc.key
                why = f"has the key '{exc.key}' twice: its value is ambiguous"
            else:
                if isinstance(obj, dict):
                    if held:
                        yield from held
                    held = None
                    yield n, obj
                    continue
                why = f"is not a JSON object but {type(obj).__name__}"
            problem = RowError(f"{path}: row {n} {why}", path=path, row=n, field=field, raw=line)
            if held is None:
                yield n, problem
            else:
                held.append((n, problem))
    if held:
        raise BadFileError(
            f"{source}: {path}: not a JSON-lines file, none of its {n} lines is a JSON object "
            f"(the first: {held[0][1]})"
        )


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members, refusing a name given twice (Python keeps the last value,
    other readers the first: a money value must not depend on the reader)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _parquet_rows(
    path: Path, source: str, on_header: HeaderCheck | None
) -> Iterator[tuple[int, Raw | RowError]]:
    con = duckdb.connect()
    try:
        con.execute("set timezone = 'UTC'")
        try:
            # the file's own columns: no `BILLING_PERIOD` column from a hive-style folder name
            rel = con.execute(
                "select * from read_parquet(?, hive_partitioning = false)", [str(path)]
            )
        except duckdb.Error as exc:
            raise BadFileError(f"{source}: {path}: not a readable Parquet file: {exc}") from exc
        names = [d[0] for d in rel.description]
        _check_header(source, path, names, on_header)
        n = 0
        while True:
            try:
                batch = rel.fetchmany(5000)
            except duckdb.Error as exc:
                raise BadFileError(
                    f"{source}: {path}: Parquet file corrupt after row {n}: {exc}"
                ) from exc
            if not batch:
                break
            for values in batch:
                n += 1
                yield n, dict(zip(names, values, strict=True))
    finally:
        con.close()


def missing_columns(required: Iterable[str]) -> HeaderCheck:
    """A header check: which of `required` the header lacks (exact names)."""
    wanted = tuple(required)
    return lambda header: [c for c in wanted if c not in header]


def parse_rows(
    source: str,
    path: Path,
    rows: Iterable[tuple[int, Raw | RowError]],
    parse: Callable[[int, Raw], dict[str, Any]],
    locate: Callable[[Raw], tuple[str | None, str | None]],
) -> Iterator[dict[str, Any] | RowError]:
    """Parse every row of a file; a row problem comes out as a `RowError` carrying the raw row
    and, from `locate(raw)`, its (period, partition) where they can still be read. Any other
    error while parsing a row fails with the source, file and row named."""
    for n, raw in rows:
        if isinstance(raw, RowError):
            yield raw
            continue
        try:
            row = parse(n, raw)
        except RowError as exc:
            exc.path, exc.row, exc.raw = path, n, raw
            try:
                exc.period, exc.partition = locate(raw)
            except Exception:  # a best effort on a row already known to be bad
                exc.period, exc.partition = None, None
            yield exc
            continue
        except Exception as exc:
            raise SourceDataError(
                f"{source}: {path} row {n}: the row could not be read: {type(exc).__name__}: {exc}"
            ) from exc
        yield row


def money(value: Any, *, path: Path, row: int, field: str) -> Decimal | None:
    """Exact decimal of a money/quantity value; empty is null; garbage names file, row, field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii():  # Decimal() takes fullwidth or Arabic-Indic digits: no export does
            raise RowError(
                f"{path} row {row}: field '{field}' has value {value!r}, expected a decimal number",
                field=field,
            )
    try:
        result = to_decimal(value, source=f"{path} row {row}", field=field)
    except SourceDataError as exc:
        raise RowError(str(exc), field=field) from exc
    if result is not None and not result.is_finite():
        raise RowError(
            f"{path} row {row}: field '{field}' has value {value!r}, "
            "expected a finite decimal number",
            field=field,
        )
    if result is not None and abs(result) >= MONEY_LIMIT:
        raise RowError(
            f"{path} row {row}: field '{field}' has value {value!r}, "
            "out of range for decimal(38, 12)",
            field=field,
        )
    return result


def text(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value)
    return value if value != "" else None


def utc_iso(value: Any, *, path: Path, row: int, field: str) -> str | None:
    """Timestamp normalised to 'YYYY-MM-DDTHH:MM:SSZ' in UTC (naive values are UTC)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, datetime):
            ts = value
        elif isinstance(value, date):
            ts = datetime(value.year, value.month, value.day)
        else:
            raw = str(value).strip().replace(" UTC", "Z")
            if len(raw) == 10 and raw[4] == "-":
                raw += "T00:00:00"
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RowError(
            f"{path} row {row}: field '{field}' has value {value!r}, expected a timestamp",
            field=field,
        ) from exc
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_day(value: Any, *, path: Path, row: int, field: str) -> date | None:
    """A date in ISO (YYYY-MM-DD[T…]) or US (MM/DD/YYYY) form."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = str(value).strip()
    try:
        if "/" in raw:
            return datetime.strptime(raw.split(" ")[0], "%m/%d/%Y").date()
        return date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise RowError(
            f"{path} row {row}: field '{field}' has value {value!r}, "
            "expected MM/DD/YYYY or YYYY-MM-DD",
            field=field,
        ) from exc


def map_json(value: Any, *, path: Path, row: int, field: str) -> str | None:
    """JSON object text (sorted keys) of a map column: native map/dict, DuckDB key/value lists,
    a list of {key, value} records, or JSON text; null when empty."""
    if value is None:
        return None
    if isinstance(value, str):
        raw = value.strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RowError(
                f"{path} row {row}: field '{field}' is not JSON: {raw[:80]!r}", field=field
            ) from exc
    try:
        if (
            isinstance(value, dict)
            and set(value) == {"key", "value"}
            and isinstance(value["key"], list)
        ):
            value = dict(zip(value["key"], value["value"], strict=True))
        if isinstance(value, list):
            value = {item["key"]: item.get("value") for item in value}
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise RowError(
            f"{path} row {row}: field '{field}' is not a map: {str(value)[:80]!r}", field=field
        ) from exc
    if not isinstance(value, dict):
        raise RowError(f"{path} row {row}: field '{field}' is not a map: {value!r}", field=field)
    return json.dumps(value, sort_keys=True, default=str) if value else None


def required(value: Any, *, path: Path, row: int, field: str) -> Any:
    """`value`, unless it is empty: a required field that is empty is a row problem."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowError(f"{path} row {row}: field '{field}' is empty", field=field)
    return value


def plain_json(value: Any) -> str | None:
    """JSON text of any nested value (Decimals as numbers), null when empty."""
    if value in (None, "", [], {}):
        return None
    return json.dumps(value, default=_json_default, sort_keys=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
