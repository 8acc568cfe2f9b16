"""Readers shared by the billing-export file sources (AWS CUR, GCP billing, Azure cost, FOCUS).

Rows come out as plain dicts with their 1-based data-row number, so that a value the pipeline
cannot interpret is reported with file, row and field. CSV and JSON-lines are parsed in Python
(money stays the exact text the provider wrote); Parquet is read with DuckDB.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ingestion._common import SourceDataError, to_decimal

DATA_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".jsonl", ".json", ".jsonl.gz")


def is_data_file(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(DATA_SUFFIXES)


def data_files(root: Path) -> list[Path]:
    """Data files below `root`, sorted, hidden/temporary files excluded."""
    return sorted(p for p in root.rglob("*") if is_data_file(p) and not p.name.startswith("."))


def months_in_window(start: date, end: date) -> list[str]:
    """'YYYY-MM' of every month that overlaps the UTC days [start, end)."""
    if start >= end:
        raise ValueError(f"window start {start} must be before its end {end}")
    out, day = [], start.replace(day=1)
    while day < end:
        out.append(day.strftime("%Y-%m"))
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(data row number, row) of a CSV (optionally gzip), JSON-lines or Parquet file."""
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:  # type: ignore[operator]
            yield from enumerate(csv.DictReader(fh), start=1)
    elif name.endswith((".jsonl", ".json", ".jsonl.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            n = 0
            for line in fh:
                if not line.strip():
                    continue
                n += 1
                try:
                    yield n, json.loads(line, parse_float=Decimal)
                except json.JSONDecodeError as exc:
                    raise SourceDataError(f"{path}: row {n} is not valid JSON: {exc}") from exc
    elif name.endswith(".parquet"):
        con = duckdb.connect()
        try:
            con.execute("set timezone = 'UTC'")
            rel = con.execute("select * from read_parquet(?)", [str(path)])
            names = [d[0] for d in rel.description]
            n = 0
            while batch := rel.fetchmany(5000):
                for values in batch:
                    n += 1
                    yield n, dict(zip(names, values, strict=True))
        finally:
            con.close()
    else:
        raise SourceDataError(f"{path}: unsupported export file type")


def money(value: Any, *, path: Path, row: int, field: str) -> Decimal | None:
    """Exact decimal of a money/quantity value; empty is null; garbage names file, row, field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = value.strip()
    try:
        result = to_decimal(value, source=f"{path} row {row}", field=field)
    except SourceDataError:
        raise
    if result is not None and not result.is_finite():
        raise SourceDataError(
            f"{path} row {row}: field '{field}' has value {value!r}, "
            "expected a finite decimal number"
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
        raise SourceDataError(
            f"{path} row {row}: field '{field}' has value {value!r}, expected a timestamp"
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
        raise SourceDataError(
            f"{path} row {row}: field '{field}' has value {value!r}, "
            "expected MM/DD/YYYY or YYYY-MM-DD"
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
            raise SourceDataError(
                f"{path} row {row}: field '{field}' is not JSON: {raw[:80]!r}"
            ) from exc
    if (
        isinstance(value, dict)
        and set(value) == {"key", "value"}
        and isinstance(value["key"], list)
    ):
        value = dict(zip(value["key"], value["value"], strict=True))
    if isinstance(value, list):
        value = {item["key"]: item.get("value") for item in value}
    if not isinstance(value, dict):
        raise SourceDataError(f"{path} row {row}: field '{field}' is not a map: {value!r}")
    return json.dumps(value, sort_keys=True, default=str) if value else None


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
