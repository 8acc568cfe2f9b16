"""Row dicts to typed `pyarrow.Table` batches, for the high-volume API resources.

dlt normalizes every dict a resource yields in Python (a few thousand rows a second here); a
`pyarrow.Table` goes through its arrow path instead (written to parquet as is). The sources keep
building one dict per row; an `ArrowBatcher` turns every `batch_rows` of them into a table typed
by the resource's declared dlt `columns`, doing what dlt's normalizer did to them:

* every declared column is in every table, with its exact arrow type (decimal → `decimal128(p,
  s)`, bigint → int64, ...), null when no row has it, so the table schema never drifts;
* a value of another type is coerced as dlt would (the provider sending numbers as JSON strings),
  and a value that cannot be is a `SourceDataError` naming the source, the table, the field and
  the value (what the `data_type: freeze` schema contract did for dicts). A float never reaches
  a decimal column (it goes through its shortest repr, like `to_decimal`); a decimal with more
  places than the column holds is rounded half-even, as the database did on insert;
* keys that are not declared (a provider adds a field) are kept, typed from their values: ints,
  floats, bools, text and decimals as such, objects and lists as JSON text, mixed types as text;
* `_dlt_load_id` and `_dlt_id` are added (the load id, and the row's `_row_key` or its
  composite key), so the raw tables keep the columns (and NOT NULLs) that dlt's dict path
  gave them.

Sources that already hold columns (a list per column, or DuckDB's arrow result) use
`from_columns` or `conform` and skip the dict per row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion._common import SourceDataError

BATCH_ROWS = 50_000
ROW_KEY = "_row_key"
LOAD_ID = "_dlt_load_id"
DLT_ID = "_dlt_id"
# dlt's default for a decimal column without precision/scale
DEFAULT_DECIMAL = (38, 9)


def arrow_type(name: str, column: Mapping[str, Any]) -> pa.DataType:
    """The arrow type of a declared dlt column."""
    data_type = column.get("data_type")
    if data_type == "bigint":
        return pa.int64()
    if data_type in ("text", "json"):
        return pa.string()
    if data_type == "bool":
        return pa.bool_()
    if data_type == "double":
        return pa.float64()
    if data_type == "decimal":
        return pa.decimal128(
            int(column.get("precision", DEFAULT_DECIMAL[0])),
            int(column.get("scale", DEFAULT_DECIMAL[1])),
        )
    if data_type == "timestamp":
        return pa.timestamp("us", tz="UTC")
    if data_type == "date":
        return pa.date32()
    raise ValueError(f"column '{name}': data_type {data_type!r} has no arrow mapping here")


class _Uncoercible(ValueError):
    pass


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Uncoercible
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise _Uncoercible
    if isinstance(value, str | Decimal):
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise _Uncoercible from None
        if number.is_finite() and number == number.to_integral_value():
            return int(number)
    raise _Uncoercible


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Uncoercible
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _Uncoercible from None
    raise _Uncoercible


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise _Uncoercible


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _decimal_coercer(precision: int, scale: int) -> Any:
    quantum = Decimal(1).scaleb(-scale)
    limit = Decimal(10) ** (precision - scale)

    def coerce(value: Any) -> Decimal:
        if isinstance(value, bool):
            raise _Uncoercible
        try:
            if isinstance(value, Decimal):
                number = value
            elif isinstance(value, int):
                number = Decimal(value)
            elif isinstance(value, float | str):
                # str() of a float is its shortest repr: 0.1845 stays 0.1845 (see to_decimal)
                number = Decimal(value.strip() if isinstance(value, str) else str(value))
            else:
                raise _Uncoercible
        except InvalidOperation:
            raise _Uncoercible from None
        if not number.is_finite():
            raise _Uncoercible
        if number.as_tuple().exponent < -scale:  # type: ignore[operator]
            number = number.quantize(quantum, rounding=ROUND_HALF_EVEN)
        if abs(number) >= limit:
            raise _Uncoercible
        return number

    return coerce


def _timestamp(value: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _Uncoercible from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise _Uncoercible


def _date(value: Any) -> Any:
    from datetime import date, datetime

    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            raise _Uncoercible from None
    raise _Uncoercible


# the types pa.array infers for values that are already right (no per-value work needed)
_INFERRED_OK: dict[str, tuple[pa.DataType, ...]] = {
    "bigint": (pa.int64(), pa.null()),
    "double": (pa.float64(), pa.int64(), pa.null()),
    "bool": (pa.bool_(), pa.null()),
    "text": (pa.string(), pa.null()),
    "json": (pa.string(), pa.null()),
    # only `date` objects infer as date32 (a datetime infers as a timestamp)
    "date": (pa.date32(), pa.null()),
}


class ArrowBatcher:
    """Collects row dicts and yields typed `pa.Table`s of `batch_rows` rows (see module doc).

    `source` and `table` name where the rows come from in error messages, e.g.
    `openai /organization/costs` and `costs`.
    """

    def __init__(
        self,
        columns: Mapping[str, Mapping[str, Any]],
        *,
        source: str,
        table: str,
        batch_rows: int = BATCH_ROWS,
        load_id: str | None = None,
        row_key: str | None = ROW_KEY,
        dlt_id: tuple[str, ...] | None = None,
    ) -> None:
        # the primary key (text, not null) whether declared or not; `_dlt_id` copies it, or
        # joins the text columns `dlt_id` with '/' (a composite key) when they are given
        self.row_key = row_key
        self.dlt_id = dlt_id
        key_column = {row_key: {"data_type": "text", "nullable": False}} if row_key else {}
        self.columns = {**key_column, **columns}
        self.source = source
        self.table = table
        self.batch_rows = batch_rows
        self._load_id = load_id
        self.types = {name: arrow_type(name, col) for name, col in self.columns.items()}
        self.not_null = {
            name for name, col in self.columns.items() if col.get("nullable", True) is False
        }
        self._coercers: dict[str, Any] = {}
        for name, col in self.columns.items():
            data_type = col.get("data_type")
            if data_type == "decimal":
                typ = self.types[name]
                self._coercers[name] = _decimal_coercer(typ.precision, typ.scale)  # type: ignore[attr-defined]
            else:
                self._coercers[name] = {
                    "bigint": _to_int,
                    "double": _to_float,
                    "bool": _to_bool,
                    "text": _to_text,
                    "json": _to_text,
                    "timestamp": _timestamp,
                    "date": _date,
                }[data_type]
        self.rows: list[dict[str, Any]] = []
        self.tables = 0
        self.total_rows = 0

    # -- feeding -----------------------------------------------------------------------------

    def add(self, row: dict[str, Any]) -> pa.Table | None:
        """Add a row; returns a table when `batch_rows` rows have been collected."""
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            return self.flush()
        return None

    def flush(self) -> pa.Table | None:
        """The rows collected so far as a table (None when there are none)."""
        if not self.rows:
            return None
        rows, self.rows = self.rows, []
        table = self.to_table(rows)
        self.tables += 1
        self.total_rows += table.num_rows
        return table

    def batches(self, rows: Iterable[dict[str, Any]]) -> Iterator[pa.Table]:
        """Every row of `rows` in tables of `batch_rows` (the last one shorter)."""
        for row in rows:
            table = self.add(row)
            if table is not None:
                yield table
        table = self.flush()
        if table is not None:
            yield table

    # -- building ----------------------------------------------------------------------------

    def _fail(self, field: str, value: Any, expected: str, index: int | None = None) -> None:
        where = "" if index is None else f" (row {self.total_rows + index + 1} of the read)"
        raise SourceDataError(
            f"{self.source}: table '{self.table}', field '{field}' has value {value!r}{where}, "
            f"expected {expected}"
        )

    def _expected(self, name: str) -> str:
        col = self.columns[name]
        data_type = col.get("data_type")
        if data_type == "decimal":
            typ = self.types[name]
            return f"a decimal number (decimal({typ.precision},{typ.scale}))"  # type: ignore[attr-defined]
        return {
            "bigint": "a whole number (bigint)",
            "double": "a number (double)",
            "bool": "a boolean (bool)",
            "timestamp": "a timestamp",
            "date": "a date",
        }.get(str(data_type), str(data_type))

    def _slow(self, name: str, values: list[Any]) -> list[Any]:
        coerce = self._coercers[name]
        out: list[Any] = []
        for i, value in enumerate(values):
            if value is None:
                out.append(None)
                continue
            try:
                out.append(coerce(value))
            except _Uncoercible:
                self._fail(name, value, self._expected(name), i)
        return out

    def _declared(self, name: str, values: list[Any]) -> pa.Array:
        typ = self.types[name]
        data_type = self.columns[name].get("data_type")
        ok = _INFERRED_OK.get(str(data_type))
        try:
            if ok is not None:
                # inference runs in C; only values of the right Python type come out as `ok`
                # (pa.array(type=int64) would truncate 1.5 silently, so it is not used here)
                array = pa.array(values)
                if array.type in ok:
                    return array.cast(typ) if array.type != typ else array
            elif data_type == "decimal":
                # floats and strings are refused by arrow (TypeError), digits past the scale
                # too (ArrowInvalid); the slow path handles both
                return pa.array(values, type=typ)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            pass
        try:
            return pa.array(self._slow(name, values), type=typ)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            # e.g. an int beyond int64
            bad = next((v for v in values if v is not None), None)
            self._fail(name, bad, f"{self._expected(name)} ({exc})")
            raise  # unreachable

    @staticmethod
    def _inferred(values: list[Any]) -> pa.Array:
        kinds = {type(v) for v in values if v is not None}
        if not kinds:
            return pa.nulls(len(values))
        if kinds <= {int, float, bool, str, Decimal} and not (
            len(kinds) > 1 and (bool in kinds or str in kinds)
        ):
            try:
                return pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                pass
        return pa.array([None if v is None else _to_text(v) for v in values], type=pa.string())

    def to_table(self, rows: list[dict[str, Any]]) -> pa.Table:
        """One table of `rows`: the declared columns in order, then the undeclared ones."""
        values = {name: [row.get(name) for row in rows] for name in self.types}
        extra = sorted(set().union(*rows) - self.types.keys() - {LOAD_ID, DLT_ID})
        for name in extra:
            values[name] = [row.get(name) for row in rows]
        return self.from_columns(values, len(rows))

    def from_columns(self, values: Mapping[str, list[Any]], num_rows: int) -> pa.Table:
        """One table of column-wise `values` (a list per column, `num_rows` long): what
        `to_table` makes of the same rows, without building a dict per row. A declared column
        missing from `values` is all null; the undeclared ones follow, typed from their values."""
        arrays: list[pa.Array] = []
        fields: list[pa.Field] = []
        for name, typ in self.types.items():
            column = values.get(name)
            if column is None:
                column = [None] * num_rows
            array = self._declared(name, column)
            self._check_not_null(name, array, column)
            arrays.append(array)
            fields.append(pa.field(name, typ, nullable=name not in self.not_null))
        for name in [n for n in values if n not in self.types and n not in (LOAD_ID, DLT_ID)]:
            array = self._inferred(values[name])
            arrays.append(array)
            fields.append(pa.field(name, array.type))
        return self._finish(arrays, fields, num_rows)

    def conform(self, table: pa.Table) -> pa.Table:
        """`table` (e.g. DuckDB's result) with exactly the declared columns, in order, each cast
        to its declared type (a cast that would lose data is an error naming the column), the
        load id and `_dlt_id` added. Columns that are not declared are dropped."""
        arrays: list[pa.Array] = []
        fields: list[pa.Field] = []
        for name, typ in self.types.items():
            if name in table.column_names:
                array = table.column(name).combine_chunks()
                if array.type != typ:
                    try:
                        array = array.cast(typ)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        self._fail(name, str(array.type), f"{self._expected(name)} ({exc})")
            else:
                array = pa.nulls(table.num_rows, typ)
            self._check_not_null(name, array, None)
            arrays.append(array)
            fields.append(pa.field(name, typ, nullable=name not in self.not_null))
        self.tables += 1
        self.total_rows += table.num_rows
        return self._finish(arrays, fields, table.num_rows)

    def _check_not_null(self, name: str, array: pa.Array, values: list[Any] | None) -> None:
        if name in self.not_null and array.null_count:
            if values is not None:
                index = next(i for i, v in enumerate(values) if v is None)
            else:
                index = pc.index(array.is_null(), True).as_py()
            self._fail(name, None, f"a value ({self._expected(name)}, not null)", index)

    def _finish(self, arrays: list[pa.Array], fields: list[pa.Field], num_rows: int) -> pa.Table:
        """The table of `arrays`, with `_dlt_load_id` and `_dlt_id` (the row key) added."""
        load_id = self.load_id()
        if load_id is not None:
            arrays.append(pa.array([load_id] * num_rows, type=pa.string()))
            fields.append(pa.field(LOAD_ID, pa.string(), nullable=False))
        names = list(self.types)
        if self.dlt_id is not None:
            parts = [arrays[names.index(name)] for name in self.dlt_id]
            arrays.append(pc.binary_join_element_wise(*parts, "/"))
            fields.append(pa.field(DLT_ID, pa.string(), nullable=False))
        elif self.row_key is not None:
            arrays.append(arrays[names.index(self.row_key)])
            fields.append(pa.field(DLT_ID, pa.string(), nullable=False))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def load_id(self) -> str | None:
        """The load id of the package being extracted (None outside a dlt extract)."""
        if self._load_id is None:
            try:
                from dlt.common.storages.load_package import load_package_state

                self._load_id = str(load_package_state()["load_id"])
            except Exception:
                return None
        return self._load_id
