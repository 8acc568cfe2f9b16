"""Quarantine: a row a file source cannot interpret is set aside, not loaded and not fatal.

Two kinds of problems, two outcomes (docs/bad-input.md has the full list):

- A ROW-level problem (a money or quantity value that is not a finite number, a timestamp or
  date that does not parse, an empty required field, a map/JSON column that is not JSON, a
  JSON-lines line that is not JSON or not an object, a telemetry record with a missing or
  mistyped field) raises `RowError`. The source routes the row to the `quarantine` table of its
  dataset (`raw_<source>.quarantine`) with file, row, field, reason and the raw row, and loads
  the rest of the file. The data table never sees the row.
- A FILE-level problem (unreadable, corrupt or unsupported file, a required column missing
  from the header, an OTLP document that is not JSON) raises `BadFileError` naming the source,
  the file (and the column) and fails the run: nothing in such a file can be trusted.

The quarantine rows travel with the data rows of the same dlt resource
(`dlt.mark.with_table_name`), so each Dagster ingestion asset still maps to one resource. The
table merges on `_partition`, mirroring the data table's merge key: every run sends one
marker row (`_partition_marker`, dlt's `hard_delete` hint, never stored) per partition it read
whole, so a restated or fixed delivery clears that partition's earlier quarantine rows while a
partition not re-read keeps them; the primary key (source, source_file, source_row) keeps a
re-run of the same file from doubling them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import dlt
from dlt.extract.items import DataItemWithMeta
from dlt.sources import DltResource

from ingestion._common import SourceDataError

log = logging.getLogger(__name__)

QUARANTINE_TABLE = "quarantine"
RAW_ROW_MAX_CHARS = 2000
# the partition of a quarantined row whose own period cannot be read (its date is the problem);
# export sources read every file on every run, so they clear it on every run
UNKNOWN_PARTITION = "?"
# A column's data type is fixed once declared or first seen: a value dlt cannot coerce to it
# (text in a money column) fails the load instead of landing in a `<column>__v_text` variant.
SCHEMA_CONTRACT: dict[str, Any] = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
QUARANTINE_COLUMNS: dict[str, Any] = {
    "source": {"data_type": "text", "nullable": False},
    "source_table": {"data_type": "text", "nullable": False},
    "source_file": {"data_type": "text", "nullable": False},
    "source_row": {"data_type": "bigint", "nullable": False},
    "field": {"data_type": "text"},
    "reason": {"data_type": "text", "nullable": False},
    "raw_row": {"data_type": "text"},
    "quarantined_at": {"data_type": "timestamp", "nullable": False},
    "_partition": {"data_type": "text", "nullable": False},
    "_partition_marker": {"data_type": "bool", "hard_delete": True},
}
QUARANTINE_KEY = ("source", "source_file", "source_row")
_MARKER_FILE = "(partition marker)"

T = TypeVar("T")


class RowError(SourceDataError):
    """One row that cannot be interpreted; the rest of its file can still be loaded.

    The message is the one a strict reader raises (file, row, field, value). The reader fills
    in `path`, `row` and `raw`, and where it can tell, the row's `period` (for the run's window)
    and `partition` (the data table's merge key the row would have had).
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        row: int | None = None,
        field: str | None = None,
        raw: Any = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.row = row
        self.field = field
        self.raw = raw
        self.period: str | None = None
        self.partition: str | None = None


class BadFileError(SourceDataError):
    """A file that cannot be read as a whole (unreadable, corrupt, a required column missing):
    the run fails, naming the source and the file."""


def strict(items: Iterable[T | RowError]) -> Iterator[T]:
    """The rows of a reader, raising its first row problem (readers used outside a pipeline)."""
    for item in items:
        if isinstance(item, RowError):
            raise item
        yield item


def raw_text(raw: Any) -> str | None:
    """JSON text of a raw row (a dict from CSV/Parquet/JSON, or a line), cut to 2,000 chars."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw
    else:
        text = json.dumps(raw, default=_json_default, ensure_ascii=False, skipkeys=True)
    return text if len(text) <= RAW_ROW_MAX_CHARS else text[: RAW_ROW_MAX_CHARS - 1] + "…"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def add_quarantine_table(resource: DltResource) -> DltResource:
    """Declare the `quarantine` table variant on a data resource, with its own columns and keys
    (a variant starts from a copy of the resource's hints: the data columns are cleared first)."""
    resource.apply_hints(table_name=QUARANTINE_TABLE, columns={}, create_table_variant=True)
    resource.apply_hints(
        table_name=QUARANTINE_TABLE,
        write_disposition="merge",
        columns=QUARANTINE_COLUMNS,
        primary_key=QUARANTINE_KEY,
        merge_key="_partition",
        schema_contract=SCHEMA_CONTRACT,
        create_table_variant=True,
    )
    return resource


class Quarantine:
    """The quarantine rows of one resource in one run, and the partitions it read whole."""

    def __init__(self, source: str, table: str) -> None:
        self.source = source
        self.table = table
        self.count = 0
        self.at = datetime.now(UTC)
        self._partitions: set[str] = set()

    def covers(self, partition: str) -> None:
        """This run read `partition` whole: its earlier quarantine rows are replaced."""
        self._partitions.add(partition)

    def put(self, problem: RowError) -> DataItemWithMeta:
        """The quarantine row of `problem`, dispatched to the quarantine table."""
        if problem.path is None or problem.row is None:
            raise ValueError(f"{self.source}: a quarantined row needs its file and row: {problem}")
        partition = problem.partition or UNKNOWN_PARTITION
        self.covers(partition)
        self.count += 1
        if self.count <= 20:
            log.warning("%s: quarantined: %s", self.source, problem)
        return dlt.mark.with_table_name(
            {
                "source": self.source,
                "source_table": self.table,
                "source_file": str(problem.path),
                "source_row": problem.row,
                "field": problem.field,
                "reason": str(problem),
                "raw_row": raw_text(problem.raw),
                "quarantined_at": self.at,
                "_partition": partition,
            },
            QUARANTINE_TABLE,
        )

    def markers(self) -> Iterator[DataItemWithMeta]:
        """One hard-delete marker per partition read: the merge deletes the partition's earlier
        quarantine rows (the rows put this run are inserted after); markers are not stored."""
        if self.count > 20:
            log.warning("%s: %d rows quarantined in all", self.source, self.count)
        for partition in sorted(self._partitions):
            yield dlt.mark.with_table_name(
                {
                    "source": self.source,
                    "source_table": self.table,
                    "source_file": _MARKER_FILE,
                    "source_row": 0,
                    "reason": _MARKER_FILE,
                    "quarantined_at": self.at,
                    "_partition": partition,
                    "_partition_marker": True,
                },
                QUARANTINE_TABLE,
            )


def quarantined_in_load(pipeline: dlt.Pipeline) -> dict[str, int] | None:
    """Rows the pipeline's last load put in quarantine, per data table; None when its dataset
    has no quarantine table (API sources)."""
    if QUARANTINE_TABLE not in pipeline.default_schema.tables:
        return None
    trace = pipeline.last_trace
    load_ids = list(trace.last_load_info.loads_ids) if trace and trace.last_load_info else []
    if not load_ids:
        return {}
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(QUARANTINE_TABLE)
        placeholders = ", ".join(["%s"] * len(load_ids))
        rows = client.execute_sql(
            f"select source_table, count(*) from {table} "
            f"where _dlt_load_id in ({placeholders}) group by 1",
            *load_ids,
        )
    return {str(name): int(n) for name, n in rows or []}


def with_quarantine_counts(events: Iterable[T], pipeline: dlt.Pipeline) -> Iterator[T]:
    """Add `quarantined_rows` (this load's rows of the asset's table) to each dagster-dlt
    materialization of a source that has a quarantine table; other events pass unchanged."""
    counts: dict[str, int] | None = None
    first = True
    for event in events:
        if first:
            counts, first = quarantined_in_load(pipeline), False
        key = getattr(event, "asset_key", None)
        if counts is not None and key is not None and hasattr(event, "_replace"):
            metadata = {**(getattr(event, "metadata", None) or {})}
            metadata["quarantined_rows"] = counts.get(key.path[-1], 0)
            event = event._replace(metadata=metadata)
        yield event
