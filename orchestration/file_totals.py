"""Control totals of the billing-export files, reconciled with what the raw tables hold.

For each export file source (AWS CUR 2.0, GCP billing export, Azure cost details, FOCUS) the
files the source reads for the run's window are read again here, independently of the
pipeline's readers: by an in-memory DuckDB (`read_csv` with every field as text, `read_parquet`,
`read_json_objects`), money cast with `try_cast(... as decimal(38, 12))`. Per file:

- rows: every data row the source would have routed (below) must be in the raw table or in
  `raw_<source>.quarantine`: `file rows == raw rows + quarantined rows`;
- money: the sum of the money column over the file's rows that were not quarantined must equal
  the raw table's sum over the rows of that file, exactly (to 12 decimals) — except where the
  file holds binary floating point (a JSON number, a Parquet DOUBLE): DuckDB reads those as
  doubles, the pipeline as their text, so there the sums may differ below a millionth
  (`FLOAT_TOLERANCE`), still far finer than a cent;
- a raw row of the window whose file is no longer in the export folder is a mismatch too: a
  partition the source no longer delivers is never replaced, its rows stay in the bill.

Which rows, which money (compare like with like with what raw stores):

- aws_cur, `cur_line_items`: every row of the files in the window's `BILLING_PERIOD=YYYY-MM`
  folders; money `line_item_unblended_cost`.
- gcp_billing, `billing_export`: rows whose `invoice.month` is a window month (YYYYMM) or
  unreadable; money `cost` (gross, as raw keeps it) and, separately, the credits
  (`credits[].amount` summed per row, raw `credits_total`): the bill is their sum.
- azure_cost, `cost_details`: rows whose billing month (`BillingPeriodStartDate`, else `Date`)
  is a window month or unreadable; money `CostInBillingCurrency` (EA) / `costInBillingCurrency`
  (MCA), the header matched case- and punctuation-insensitively as the source does.
- focus, `focus_rows`: rows whose `BillingPeriodStart` (UTC) falls in a window month or is
  unreadable; money `BilledCost`.

A row whose month cannot be read is quarantined by the sources whatever the window, so it is in
scope. Row numbers are the sources' (1-based data row: CSV after the header, blank lines not
counted; JSON-lines non-blank line; Parquet row), which is how a quarantined row is matched.

Nothing here depends on Dagster; `orchestration/defs/checks.py` turns a `Reconciliation` into
a blocking asset check. The warehouse side runs through any connection whose
`execute(sql, params).fetchall()` takes `?` placeholders (DuckDB's, or
`orchestration.warehouse.connect`), with portable SQL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

DATA_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".jsonl", ".json", ".jsonl.gz")
# the table-shaped exports are CSV or Parquet; a JSON file beside them is a manifest
TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
SUFFIXES = {"gcp_billing": DATA_SUFFIXES}
MONEY_TYPE = "decimal(38, 12)"
FLOAT_TOLERANCE = Decimal("0.000001")
UNKNOWN_PARTITION = "?"
# header width read to find a CSV file's columns
MAX_CSV_COLUMNS = 2048
# never a CSV value: empty fields stay '' and a missing field (padding) is NULL
_NO_NULL = "\x01aispend-no-null\x02"
MAX_MISMATCHES = 20


@dataclass(frozen=True)
class ExportSpec:
    """How one export source lands its rows, for the comparison."""

    source: str
    table: str
    # label (the file's column, as a person would name it) -> raw column
    money: Mapping[str, str]
    # raw column with the row's month, and its format
    month_column: str
    month_format: str

    @property
    def dataset(self) -> str:
        return f"raw_{self.source}"


EXPORTS: dict[str, ExportSpec] = {
    "aws_cur": ExportSpec(
        "aws_cur",
        "cur_line_items",
        {"line_item_unblended_cost": "line_item_unblended_cost"},
        "_billing_period",
        "%Y-%m",
    ),
    "gcp_billing": ExportSpec(
        "gcp_billing",
        "billing_export",
        {"cost": "cost", "credits": "credits_total"},
        "invoice_month",
        "%Y%m",
    ),
    "azure_cost": ExportSpec(
        "azure_cost",
        "cost_details",
        {"CostInBillingCurrency": "cost_in_billing_currency"},
        "_billing_month",
        "%Y-%m",
    ),
    "focus": ExportSpec(
        "focus", "focus_rows", {"BilledCost": "billed_cost"}, "_billing_period", "%Y-%m"
    ),
}


@dataclass(frozen=True)
class Mismatch:
    """One disagreement between a file and the warehouse."""

    file: str
    # "rows", a money label, "row" (one row), "quarantined rows", "file not delivered",
    # "unreadable"
    what: str
    in_file: str
    in_warehouse: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.file}: {self.what}: file {self.in_file}, warehouse {self.in_warehouse}"
        return f"{text} ({self.detail})" if self.detail else text

    def as_dict(self) -> dict[str, str]:
        return {
            "file": self.file,
            "what": self.what,
            "file_value": self.in_file,
            "warehouse_value": self.in_warehouse,
            "detail": self.detail,
        }


@dataclass
class FileCheck:
    """One file's control totals beside the warehouse's."""

    file: str
    rows: int
    raw_rows: int
    quarantined: int  # of `rows`
    totals: dict[str, Decimal]
    raw_totals: dict[str, Decimal]
    exact: bool
    # quarantined under `?` (period unreadable to the source) but outside the window's rows
    quarantined_elsewhere: int = 0


@dataclass
class Reconciliation:
    """The result for one source: every file compared, and what disagrees."""

    source: str
    folder: str
    months: list[str]
    files: list[FileCheck] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def totals(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for f in self.files:
            for label, value in f.totals.items():
                out[label] = out.get(label, Decimal(0)) + value
        return out

    def summary(self) -> str:
        if self.note:
            return self.note
        rows = sum(f.rows for f in self.files)
        quarantined = sum(f.quarantined for f in self.files)
        money = ", ".join(f"{k} {v}" for k, v in self.totals().items())
        head = (
            f"{self.source}: {len(self.files)} file(s), {rows} row(s) "
            f"({quarantined} quarantined), {money}"
        )
        if self.passed:
            return head + ": every file reconciles with raw"
        return f"{head}: {len(self.mismatches)} mismatch(es); first: {self.mismatches[0]}"


# --------------------------------------------------------------------------- the files


def months_in_window(start: date, end: date) -> list[str]:
    """'YYYY-MM' of each month that overlaps the days [start, end)."""
    out, day = [], start.replace(day=1)
    while day < end:
        out.append(f"{day:%Y-%m}")
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def _data_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.name.lower().endswith(suffixes) and not p.name.startswith(".")
    )


_PERIOD_DIR = re.compile(r"^BILLING_PERIOD=(\d{4}-\d{2})$")


def window_files(source: str, folder: Path, months: Iterable[str]) -> list[tuple[Path, str]]:
    """(file, the folder's billing period or '') of every data file the source reads for the
    window: AWS the files of the window's `BILLING_PERIOD=YYYY-MM` folders (under `data/` when
    there is one), the others every data file under the folder; CSV and Parquet only, but for
    GCP's JSON-lines."""
    suffixes = SUFFIXES.get(source, TABLE_SUFFIXES)
    if source != "aws_cur":
        return [(p, "") for p in _data_files(folder, suffixes)]
    wanted = set(months)
    data = folder / "data" if (folder / "data").is_dir() else folder
    out = []
    if data.is_dir():
        for sub in sorted(data.rglob("BILLING_PERIOD=*")):
            match = _PERIOD_DIR.match(sub.name)
            if sub.is_dir() and match and match.group(1) in wanted:
                out.extend((p, match.group(1)) for p in _data_files(sub, suffixes))
    return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _last(names: list[str], wanted: Callable[[str], bool]) -> int | None:
    """Index of the last name that is wanted (a repeated header: the last one's value wins)."""
    found = None
    for i, name in enumerate(names):
        if wanted(name):
            found = i
    return found


class _Rows:
    """A file's rows in an in-memory DuckDB: `relation` is SQL selecting `n` (the source's row
    number), `shape_ok` and the row's fields; `field(name)` the SQL text of a field."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.con = con
        self.path = path
        self.types: dict[str, str] = {}
        name = path.name.lower()
        if name.endswith((".csv", ".csv.gz")):
            self.kind = "csv"
            self._csv()
        elif name.endswith(".parquet"):
            self.kind = "parquet"
            self._parquet()
        else:
            self.kind = "json"
            self.relation = (
                f"(select ordinality as n, json as j, true as shape_ok from read_json_objects("
                f"{_lit(str(path))}, format = 'newline_delimited', ignore_errors = true, "
                "hive_partitioning = false) "
                "with ordinality)"
            )
            self.names: list[str] = []

    def _csv(self) -> None:
        options = (
            "header = false, auto_detect = false, hive_partitioning = false, "
            "delim = ',', quote = '\"', escape = '\"', "
            f"null_padding = true, strict_mode = false, nullstr = {_lit(_NO_NULL)}"
        )
        header: list[Any] = []
        for guess in (256, MAX_CSV_COLUMNS):  # a wide read is slow: try a narrower one first
            wide = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, guess + 1))
            first = self.con.execute(
                f"select * from read_csv({_lit(str(self.path))}, columns = {{{wide}}}, "
                f"{options}) limit 1"
            ).fetchone()
            header = list(first or [])
            if not header or header[-1] is None:
                break
        while header and header[-1] is None:
            header.pop()
        self.names = [str(h) for h in header]
        width = len(self.names) + 1  # one more: a row with too many fields fills it
        columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, width + 1))
        last, extra = f"c{width - 1}", f"c{width}"
        self.relation = (
            f"(select ordinality - 1 as n, *, ({last} is not null and {extra} is null) "
            f"as shape_ok from read_csv({_lit(str(self.path))}, columns = {{{columns}}}, "
            f"{options}) with ordinality where ordinality > 1)"
            if self.names
            else "(select 0 as n, true as shape_ok where false)"
        )

    def _parquet(self) -> None:
        described = self.con.execute(
            f"describe select * from read_parquet({_lit(str(self.path))}, "
            "hive_partitioning = false)"
        ).fetchall()
        self.names = [str(r[0]) for r in described]
        self.types = {str(r[0]): str(r[1]) for r in described}
        self.relation = (
            f"(select file_row_number + 1 as n, *, true as shape_ok from read_parquet("
            f"{_lit(str(self.path))}, hive_partitioning = false, file_row_number = true))"
        )

    def column(self, wanted: Callable[[str], bool]) -> str | None:
        """The column (its SQL) of the last header name that is wanted; None when absent."""
        i = _last(self.names, wanted)
        if i is None:
            return None
        return f"c{i + 1}" if self.kind == "csv" else _quote(self.names[i])

    def type_of(self, wanted: Callable[[str], bool]) -> str:
        i = _last(self.names, wanted)
        return "VARCHAR" if i is None or self.kind == "csv" else self.types[self.names[i]]

    def text(self, name: str, *, path: str = "") -> str:
        """SQL text of the field `name` (with `path` a nested field, e.g. 'month' of 'invoice');
        NULL when the file does not have it."""
        if self.kind == "json":
            json_path = "$." + ".".join(_quote(p) for p in (name, *path.split(".")) if p)
            return f"json_extract_string(j, {_lit(json_path)})"
        column = self.column(lambda h: h == name)
        if column is None:
            return "cast(null as varchar)"
        if path:
            if self.kind != "parquet" or not self.types[name].upper().startswith("STRUCT"):
                return "cast(null as varchar)"
            for part in path.split("."):
                column = f"struct_extract({column}, {_lit(part)})"
        return f"cast({column} as varchar)"

    def is_float(self, wanted: Callable[[str], bool]) -> bool:
        return self.kind == "json" or self.type_of(wanted).upper() in ("DOUBLE", "FLOAT", "REAL")


def money_sql(text_sql: str) -> str:
    return f"try_cast(trim({text_sql}) as {MONEY_TYPE})"


def _day_sql(text_sql: str) -> str:
    """A date in MM/DD/YYYY (time after a space ignored) or ISO form; NULL when neither."""
    t = f"trim({text_sql})"
    return (
        f"case when {t} like '%/%' then "
        f"cast(try_strptime(split_part({t}, ' ', 1), '%m/%d/%Y') as date) "
        f"else try_cast(left({t}, 10) as date) end"
    )


def _source_sql(source: str, rows: _Rows, period: str) -> tuple[str, dict[str, str], bool]:
    """(month SQL, money label -> SQL, whether every money value is read exactly) of a file."""
    if source == "aws_cur":
        name = "line_item_unblended_cost"
        exact = not rows.is_float(lambda h: h == name)
        return _lit(period), {name: money_sql(rows.text(name))}, exact
    if source == "gcp_billing":
        month = rows.text("invoice", path="month")
        month_sql = f"case when regexp_full_match({month}, '[0-9]{{6}}') then {month} end"
        return (
            month_sql,
            {"cost": money_sql(rows.text("cost")), "credits": _credits_sql(rows)},
            (not rows.is_float(lambda h: h == "cost")),
        )
    if source == "azure_cost":
        start = rows.column(lambda h: _normal(h) == "billingperiodstartdate")
        day = rows.column(lambda h: _normal(h) == "date")
        cost = rows.column(lambda h: _normal(h) == "costinbillingcurrency")
        days = [_day_sql(f"cast({c} as varchar)") for c in (start, day) if c]
        month_sql = f"strftime(coalesce({', '.join(days)}), '%Y-%m')" if days else "null"
        cost_sql = money_sql(f"cast({cost} as varchar)") if cost else "null"
        exact = not rows.is_float(lambda h: _normal(h) == "costinbillingcurrency")
        return month_sql, {"CostInBillingCurrency": cost_sql}, exact
    if source == "focus":
        start = f"replace(trim({rows.text('BillingPeriodStart')}), ' UTC', 'Z')"
        month_sql = f"strftime(try_cast({start} as timestamptz), '%Y-%m')"
        exact = not rows.is_float(lambda h: h == "BilledCost")
        return month_sql, {"BilledCost": money_sql(rows.text("BilledCost"))}, exact
    raise KeyError(f"no control totals for source {source!r}")


def _credits_sql(rows: _Rows) -> str:
    """Exact sum of a GCP row's `credits[].amount` (0 without credits)."""
    add = f"x -> try_cast(trim(cast(x as varchar)) as {MONEY_TYPE})"
    if rows.kind == "json":
        kind = "json_type(j, '$.credits')"
        as_text = "json_extract_string(j, '$.credits')"
        amounts = (
            f"case when {kind} = 'VARCHAR' and json_valid({as_text}) "
            f"then json_extract_string(cast({as_text} as json), '$[*].amount') "
            "else json_extract_string(j, '$.credits[*].amount') end"
        )
    elif rows.kind == "parquet" and "credits" in rows.types:
        kind_name = rows.types["credits"].upper()
        if kind_name.startswith("STRUCT") and kind_name.endswith("[]"):
            amounts = "list_transform(credits, c -> struct_extract(c, 'amount'))"
        else:
            text = "cast(credits as varchar)"
            amounts = (
                f"case when json_valid({text}) "
                f"then json_extract_string(cast({text} as json), '$[*].amount') end"
            )
    else:
        return f"cast(0 as {MONEY_TYPE})"
    return f"coalesce(list_sum(list_transform({amounts}, {add})), 0)"


@dataclass
class _FileSide:
    rows: int
    totals: dict[str, Decimal]
    exact: bool
    # quarantined rows among `rows`; quarantined rows of a window month that are not among them
    quarantined: int
    stray: list[int]
    # row number -> money values, only filled when asked (to name the rows that differ)
    by_row: dict[int, tuple[Decimal | None, ...]]


def read_file(
    source: str,
    path: Path,
    period: str,
    months: Iterable[str],
    quarantined_rows: Mapping[int, bool],
    want_rows: bool = False,
) -> _FileSide:
    """A file's rows in scope, and per money label the sum over those not quarantined.

    `quarantined_rows`: row number -> whether its quarantine partition is unknown (`?`). The
    source quarantines a row whose period it cannot read whatever the window, so such a row
    outside the window's rows is accounted for; one of a window month is a stray."""
    spec = EXPORTS[source]
    wanted = [_month_key(m, spec.month_format) for m in months]
    with duckdb.connect() as con:
        con.execute("set timezone = 'UTC'")
        con.execute("set threads = 1")
        rows = _Rows(con, path)
        month_sql, money, exact = _source_sql(source, rows, period)
        con.execute("create temp table quarantined (n bigint, unknown boolean)")
        if quarantined_rows:
            con.executemany(
                "insert into quarantined values (?, ?)",
                [[n, unknown] for n, unknown in sorted(quarantined_rows.items())],
            )
        in_window = ", ".join(_lit(m) for m in wanted) or "null"
        labels = list(money)
        columns = ", ".join(f"{sql} as m{i}" for i, sql in enumerate(money.values()))
        con.execute(
            f"create temp table scope as select n, shape_ok, {columns} from "
            f"(select *, case when shape_ok then {month_sql} end as _month "
            f"from {rows.relation}) where _month in ({in_window}) or _month is null"
        )
        sums = ", ".join(
            f"coalesce(sum(m{i}) filter (where q.n is null and shape_ok), 0)"
            for i in range(len(labels))
        )
        found = con.execute(
            f"select count(*), count(q.n), {sums} from scope left join quarantined q using (n)"
        ).fetchone()
        assert found is not None
        stray = [
            int(n)
            for (n,) in con.execute(
                "select n from quarantined where not unknown and n not in (select n from scope) "
                "order by n"
            ).fetchall()
        ]
        by_row: dict[int, tuple[Decimal | None, ...]] = {}
        if want_rows:
            ms = ", ".join(f"m{i}" for i in range(len(labels)))
            for n, *values in con.execute(
                f"select n, {ms} from scope where shape_ok and n not in "
                "(select n from quarantined) order by n"
            ).fetchall():
                by_row[int(n)] = tuple(values)
    totals = {label: Decimal(found[2 + i]) for i, label in enumerate(labels)}
    return _FileSide(int(found[0]), totals, exact, int(found[1]), stray, by_row)


def _month_key(month: str, fmt: str) -> str:
    """'YYYY-MM' in the source's month format ('%Y%m' for GCP's invoice month)."""
    return month.replace("-", "") if fmt == "%Y%m" else month


# --------------------------------------------------------------------------- the warehouse


def _table_exists(con: Any, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _raw_totals(
    con: Any, spec: ExportSpec, months: list[str]
) -> dict[str, tuple[int, dict[str, Decimal]]]:
    """file -> (rows, money label -> sum) of the raw rows of the window's months."""
    if not _table_exists(con, spec.dataset, spec.table):
        return {}
    sums = ", ".join(f"sum({_quote(c)})" for c in spec.money.values())
    marks = ", ".join("?" for _ in months)
    rows = con.execute(
        f"select _source_file, count(*), {sums} "
        f"from {_quote(spec.dataset)}.{_quote(spec.table)} "
        f"where {_quote(spec.month_column)} in ({marks}) group by _source_file",
        [_month_key(m, spec.month_format) for m in months],
    ).fetchall()
    out = {}
    for file, n, *values in rows:
        totals = {
            label: Decimal(v if v is not None else 0)
            for label, v in zip(spec.money, values, strict=True)
        }
        out[str(file)] = (int(n), totals)
    return out


def _raw_rows(
    con: Any, spec: ExportSpec, months: list[str], file: str
) -> dict[int, tuple[Decimal | None, ...]]:
    """source row -> money values of one file's raw rows (to name the rows that differ)."""
    cols = ", ".join(_quote(c) for c in spec.money.values())
    marks = ", ".join("?" for _ in months)
    rows = con.execute(
        f"select _source_row, {cols} from {_quote(spec.dataset)}.{_quote(spec.table)} "
        f"where {_quote(spec.month_column)} in ({marks}) and _source_file = ?",
        [*(_month_key(m, spec.month_format) for m in months), file],
    ).fetchall()
    return {int(r[0]) if r[0] is not None else -1: tuple(r[1:]) for r in rows}


def _quarantined(con: Any, spec: ExportSpec, months: list[str]) -> dict[str, dict[int, bool]]:
    """file -> row number -> unknown period, of its quarantine rows of the window's months or
    of no readable month (`?`)."""
    if not _table_exists(con, spec.dataset, "quarantine"):
        return {}
    wanted = {_month_key(m, spec.month_format) for m in months}
    rows = con.execute(
        f"select source_file, source_row, _partition from {_quote(spec.dataset)}.quarantine "
        "where source_table = ?",
        [spec.table],
    ).fetchall()
    out: dict[str, dict[int, bool]] = {}
    for file, row, partition in rows:
        month = str(partition).rsplit("/", 1)[-1]
        if partition == UNKNOWN_PARTITION or month in wanted:
            out.setdefault(str(file), {})[int(row)] = partition == UNKNOWN_PARTITION
    return out


# --------------------------------------------------------------------------- reconciliation


def _differs(a: Decimal, b: Decimal, exact: bool) -> bool:
    return a != b if exact else abs(a - b) > FLOAT_TOLERANCE


def reconcile_export(con: Any, source: str, folder: Path, start: date, end: date) -> Reconciliation:
    """Every file of `source` under `folder` for the days [start, end) against the raw table
    and quarantine in the warehouse `con`."""
    spec = EXPORTS[source]
    months = months_in_window(start, end)
    result = Reconciliation(source, str(folder), months)
    files = window_files(source, folder, months)
    raw = _raw_totals(con, spec, months)
    quarantine = _quarantined(con, spec, months)
    if not files and not raw:
        result.note = f"{source}: no export files under {folder} for {', '.join(months)}"
        return result
    for path, period in files:
        name = str(path)
        q_rows = quarantine.get(name, {})
        try:
            side = read_file(source, path, period, months, q_rows)
        except duckdb.Error as exc:
            result.mismatches.append(
                Mismatch(name, "unreadable", "cannot be read by the check", "-", str(exc)[:300])
            )
            continue
        raw_rows, raw_money = raw.pop(name, (0, {label: Decimal(0) for label in spec.money}))
        elsewhere = len(q_rows) - side.quarantined - len(side.stray)
        check = FileCheck(
            name,
            side.rows,
            raw_rows,
            side.quarantined,
            side.totals,
            raw_money,
            side.exact,
            elsewhere,
        )
        result.files.append(check)
        problems = []
        if side.rows != raw_rows + side.quarantined:
            problems.append(
                Mismatch(
                    name,
                    "rows",
                    str(side.rows),
                    f"{raw_rows + side.quarantined}",
                    f"{raw_rows} raw + {side.quarantined} quarantined",
                )
            )
        if side.stray:
            problems.append(
                Mismatch(
                    name,
                    "quarantined rows",
                    "not among the window's rows",
                    f"rows {', '.join(map(str, side.stray[:10]))} quarantined",
                    "a quarantine row of a window month the file does not have (any more)",
                )
            )
        for label, value in side.totals.items():
            if _differs(value, raw_money[label], side.exact):
                problems.append(
                    Mismatch(
                        name,
                        label,
                        str(value),
                        str(raw_money[label]),
                        f"difference {raw_money[label] - value} over the rows not quarantined"
                        + ("" if side.exact else f", tolerance {FLOAT_TOLERANCE}"),
                    )
                )
        if problems:
            problems.extend(_row_mismatches(con, spec, path, period, months, q_rows, side.exact))
        result.mismatches.extend(problems)
    for name, (n, money) in sorted(raw.items()):
        amounts = ", ".join(f"{k} {v}" for k, v in money.items())
        result.mismatches.append(
            Mismatch(
                name,
                "file not delivered",
                "absent from the export folder",
                f"{n} raw row(s), {amounts}",
                "a partition no longer delivered is never replaced: its rows stay in the bill",
            )
        )
    return result


def _row_mismatches(
    con: Any,
    spec: ExportSpec,
    path: Path,
    period: str,
    months: list[str],
    q_rows: Mapping[int, bool],
    exact: bool,
    limit: int = 5,
) -> list[Mismatch]:
    """The first rows of a file that disagree with raw (missing, extra, other amounts)."""
    side = read_file(spec.source, path, period, months, q_rows, want_rows=True)
    raw = _raw_rows(con, spec, months, str(path))
    labels = list(spec.money)
    out: list[Mismatch] = []
    for n in sorted(set(side.by_row) | set(raw)):
        if len(out) >= limit:
            break
        got, want = raw.get(n), side.by_row.get(n)
        where = f"{path} row {n}"
        if want is None:
            if n not in q_rows:
                out.append(Mismatch(where, "row", "absent", "in raw", "a raw row the file lacks"))
            continue
        if got is None:
            out.append(
                Mismatch(where, "row", "present", "absent", "neither in raw nor in quarantine")
            )
            continue
        for label, a, b in zip(labels, want, got, strict=True):
            a, b = Decimal(a or 0), Decimal(b or 0)
            if _differs(a, b, exact):
                out.append(Mismatch(where, label, str(a), str(b)))
    return out


# --------------------------------------------------------------------------- the run's folders


def export_folder(source: str, settings: Any, env: Mapping[str, str] | None = None) -> Path:
    """The folder `source` reads on a run: its `*_EXPORT_PATH`, else the simulator's folder
    for the window (as `orchestration.sources.open_inputs` decides)."""
    from orchestration.sources import SOURCES, simulator_export_root

    env = os.environ if env is None else env
    given = env.get(SOURCES[source].path_env, "").strip()
    return Path(given) if given else simulator_export_root(settings) / source


def reconcile_run(
    con: Any,
    source: str,
    settings: Any,
    env: Mapping[str, str] | None = None,
    window: tuple[date, date] | None = None,
) -> Reconciliation:
    """The reconciliation of `source` for the run `settings` describe, over the days of
    `window` (a backfill run's partitions; default the settings' window); a source whose
    provider is not enabled passes with a note."""
    from orchestration.sources import SOURCES

    provider = SOURCES[source].provider
    folder = export_folder(source, settings, env)
    start, end = window or (settings.start_date, settings.end_date)
    if provider not in settings.providers:
        return Reconciliation(
            source,
            str(folder),
            months_in_window(start, end),
            note=f"{provider} is not in AISPEND_PROVIDERS: nothing to reconcile",
        )
    return reconcile_export(con, source, folder, start, end)
