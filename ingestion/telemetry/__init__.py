"""dlt source for the customer's own application telemetry: OTLP/JSON trace exports and
JSONL request logs, one file per UTC day.

Telemetry carries no money; it says which feature, team and customer used which API key and
model, and drives the allocation of the provider bill. Loaded raw into `raw_telemetry`; all
modelling happens in dbt.

A record that cannot be interpreted (a request-log line that is not JSON or not an object, or
lacks a required field or has one of the wrong type; a span without trace/span id or with a
mistyped attribute) goes to `raw_telemetry.quarantine` (file, line or span number, field,
reason, raw record) and the rest of the day file loads; an OTLP file that is not JSON or not a
trace export, or a file that cannot be read, fails the run (ingestion/_quarantine.py).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
from dlt.sources import DltResource

from ingestion._arrow import ArrowBatcher
from ingestion._file_ledger import signature
from ingestion._quarantine import (
    SCHEMA_CONTRACT,
    BadFileError,
    Quarantine,
    RowError,
    add_quarantine_table,
    strict,
)

SOURCE = "telemetry"
DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(json|jsonl)$")

# OTLP attribute -> column. Several keys may feed one column (older semantic-convention names
# and vendor variants); the first present wins, in this order.
SPAN_ATTRIBUTES: dict[str, tuple[tuple[str, ...], str]] = {
    "gen_ai_system": (("gen_ai.system", "gen_ai.provider.name"), "str"),
    "gen_ai_operation_name": (("gen_ai.operation.name",), "str"),
    "request_model": (("gen_ai.request.model",), "str"),
    "response_model": (("gen_ai.response.model",), "str"),
    "input_tokens": (("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"), "int"),
    "output_tokens": (("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"), "int"),
    "cache_read_input_tokens": (
        (
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "gen_ai.usage.input_tokens.cached",
            "gen_ai.usage.cached_tokens",
        ),
        "int",
    ),
    "cache_creation_input_tokens": (
        (
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
            "gen_ai.usage.input_tokens.cache_write",
        ),
        "int",
    ),
    "api_key_id": (("aispend.api_key_id",), "str"),
    "feature": (("app.feature",), "str"),
    "team": (("app.team",), "str"),
    "customer_id": (("app.customer_id",), "str"),
    "retry_count": (("aispend.retry_count",), "int"),
    "http_status_code": (("http.response.status_code", "http.status_code"), "int"),
    "error_type": (("error.type",), "str"),
}
RESOURCE_ATTRIBUTES: dict[str, str] = {
    "service_name": "service.name",
    "service_version": "service.version",
    "deployment_environment": "deployment.environment.name",
}
_KNOWN_SPAN_KEYS = {k for keys, _ in SPAN_ATTRIBUTES.values() for k in keys}
_KNOWN_RESOURCE_KEYS = set(RESOURCE_ATTRIBUTES.values()) | {"deployment.environment"}

SPAN_COLUMNS: dict[str, Any] = {
    "trace_id": {"data_type": "text", "nullable": False},
    "span_id": {"data_type": "text", "nullable": False},
    "parent_span_id": {"data_type": "text"},
    "name": {"data_type": "text"},
    "kind": {"data_type": "bigint"},
    "start_time_unix_nano": {"data_type": "bigint", "nullable": False},
    "end_time_unix_nano": {"data_type": "bigint"},
    "status_code": {"data_type": "bigint"},
    "status_message": {"data_type": "text"},
    **{c: {"data_type": "text"} for c in RESOURCE_ATTRIBUTES},
    "scope_name": {"data_type": "text"},
    **{
        c: {"data_type": "bigint" if t == "int" else "text"}
        for c, (_, t) in SPAN_ATTRIBUTES.items()
    },
    "attributes_json": {"data_type": "text"},
    "resource_attributes_json": {"data_type": "text"},
    "export_date": {"data_type": "date", "nullable": False},
    "_source_file": {"data_type": "text"},
}

# request-log field -> (column type, required)
LOG_FIELDS: dict[str, tuple[str, bool]] = {
    "request_id": ("text", True),
    "timestamp": ("text", True),
    "provider": ("text", True),
    "api_key_id": ("text", False),
    "model": ("text", True),
    "input_tokens": ("bigint", True),
    "cached_input_tokens": ("bigint", False),
    "cache_write_tokens": ("bigint", False),
    "output_tokens": ("bigint", True),
    "feature": ("text", False),
    "team": ("text", False),
    "customer_id": ("text", False),
    "service": ("text", False),
    "status": ("text", True),
    "http_status": ("bigint", False),
    "is_retry": ("bool", False),
    "retry_count": ("bigint", False),
    "latency_ms": ("bigint", False),
}
LOG_COLUMNS: dict[str, Any] = {
    **{f: {"data_type": t} for f, (t, _) in LOG_FIELDS.items()},
    "request_id": {"data_type": "text", "nullable": False},
    "timestamp_unix_us": {"data_type": "bigint", "nullable": False},
    "export_date": {"data_type": "date", "nullable": False},
    "_source_file": {"data_type": "text"},
    "_line": {"data_type": "bigint"},
}
# request-log day files read ahead of the one being handed to dlt
READ_AHEAD = 2
# OTLP day files are parsed in worker processes, one per core, when the files a run reads add
# up to at least this many bytes (a large backfill); below it, starting the processes (0.6 to
# 1 s each, to import the code) costs more than it saves, and this process parses them
PARSE_PROCESSES_MIN_BYTES = 64 * 2**20
_JSON_TYPES = {"text": ("VARCHAR",), "bigint": ("BIGINT", "UBIGINT"), "bool": ("BOOLEAN",)}


def day_files(folder: Path, suffix: str, start: date, end: date) -> list[tuple[date, Path]]:
    """`YYYY-MM-DD.<suffix>` files of `folder` whose day is in [start, end), oldest first."""
    if not folder.is_dir():
        return []
    out = []
    for path in folder.iterdir():
        m = DAY_FILE.match(path.name)
        if not m or m.group(2) != suffix:
            continue
        day = date.fromisoformat(m.group(1))
        if start <= day < end:
            out.append((day, path))
    return sorted(out)


def _changed(state: dict[str, Any], path: Path) -> bool:
    """Whether `path` differs (size, mtime) from the copy loaded before; records it."""
    sig = signature(path)
    if state.get(path.name) == sig:
        return False
    state[path.name] = sig
    return True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (back on after, if it was on).

    Parsing a day's OTLP document makes millions of small dicts and lists, none of them in a
    reference cycle; the collector would walk them again and again (at `large`, 70% of
    `json.loads`' time). Reference counting still frees everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Inline(Executor):
    """An executor that runs each job in this thread when it is submitted."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed over like a pool's: raised by .result()
            future.set_exception(exc)
        return future


def in_order(
    executor: Executor, fn: Callable[..., Any], jobs: Iterable[tuple[Any, ...]], ahead: int
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(job, fn(*job)) for each job, in the jobs' order, with up to `ahead` jobs submitted to
    `executor` before the one being handed out; a job's error is raised when its turn comes."""
    pending: deque[tuple[tuple[Any, ...], Future[Any]]] = deque()
    jobs = iter(jobs)
    while True:
        while len(pending) < ahead and (job := next(jobs, None)) is not None:
            pending.append((job, executor.submit(fn, *job)))
        if not pending:
            return
        job, future = pending.popleft()
        yield job, future.result()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def otlp_parser(files: list[Path]) -> Iterator[tuple[Executor, int]]:
    """(executor, read-ahead) for parsing `files`: a pool of worker processes, one per core,
    when they add up to `PARSE_PROCESSES_MIN_BYTES`, else this thread."""
    size = sum(path.stat().st_size for path in files)
    workers = min(_cores(), len(files))
    if workers < 2 or size < PARSE_PROCESSES_MIN_BYTES:
        yield _Inline(), 1
        return
    # spawn, not fork: this process runs DuckDB and dlt threads
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool, workers + 1
    except BrokenProcessPool as exc:
        raise RuntimeError(
            f"telemetry: a process parsing the OTLP files ended abruptly ({exc}); "
            "out of memory? Rerun the window: unchanged files already loaded are skipped"
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---- OTLP/JSON ----------------------------------------------------------------------------
def _any_value(value: Any, where: str, field: str) -> Any:
    """The Python value of an OTLP JSON AnyValue (intValue is a string in OTLP JSON)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise RowError(f"{where}: expected an AnyValue object, got {str(value)[:120]}", field=field)
    kind, v = next(iter(value.items()))
    if kind == "stringValue":
        return v
    if kind == "intValue":
        try:
            return int(v)
        except (TypeError, ValueError):
            raise RowError(f"{where}: intValue {v!r} is not an integer", field=field) from None
    if kind in ("boolValue", "doubleValue"):
        return v
    if kind == "arrayValue":
        values = (v or {}).get("values", []) if isinstance(v, dict) else None
        if not isinstance(values, list):
            raise RowError(f"{where}: arrayValue without a 'values' list", field=field)
        return [_any_value(x, where, field) for x in values]
    if kind == "kvlistValue":
        values = (v or {}).get("values", []) if isinstance(v, dict) else None
        if not isinstance(values, list):
            raise RowError(f"{where}: kvlistValue without a 'values' list", field=field)
        return _attributes(values, where)
    if kind == "bytesValue":
        return v
    raise RowError(f"{where}: unknown AnyValue kind {kind!r}", field=field)


def _attributes(items: Any, where: str) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise RowError(f"{where}: 'attributes' is not a list", field="attributes")
    out: dict[str, Any] = {}
    for kv in items:
        if type(kv) is dict and len(kv) == 2:
            # the common shapes without a call: {"key": k, "value": {"stringValue": v}} and
            # {"key": k, "value": {"intValue": "n"}}; anything else takes the checked path
            key = kv.get("key")
            value = kv.get("value")
            if type(key) is str and type(value) is dict and len(value) == 1:
                if "stringValue" in value:
                    out[key] = value["stringValue"]
                    continue
                v = value.get("intValue")
                if type(v) is str and v.isascii() and v.isdigit():
                    out[key] = int(v)
                    continue
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise RowError(
                f"{where}: attribute without a string 'key': {str(kv)[:120]}", field="attributes"
            )
        key = kv["key"]
        out[key] = _any_value(kv.get("value"), f"{where} attribute '{key}'", key)
    return out


def _ns(value: Any, where: str, field: str, required: bool) -> int | None:
    if value is None:
        if required:
            raise RowError(f"{where}: field '{field}' is missing", field=field)
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RowError(
            f"{where}: field '{field}' has value {value!r}, expected an integer", field=field
        ) from None


# one tuple per span, in this column order (SPAN_COLUMNS' order)
SPAN_ORDER: tuple[str, ...] = tuple(SPAN_COLUMNS)
_ATTRIBUTE_SPECS = tuple((keys, kind == "int") for keys, kind in SPAN_ATTRIBUTES.values())


def _span_values(
    span: Any, where: str, head: tuple[Any, ...], tail: tuple[Any, ...]
) -> tuple[Any, ...]:
    """The values of one span in `SPAN_ORDER`: its own columns, with `head` (the resource and
    scope columns) after its status and `tail` (resource attributes JSON, export day, file) at
    the end; RowError when it cannot be interpreted."""
    if not isinstance(span, dict):
        raise RowError(f"{where}: span is not an object")
    trace_id = span.get("traceId")
    span_id = span.get("spanId")
    if not isinstance(trace_id, str) or not trace_id:
        raise RowError(f"{where}: field 'traceId' is missing or empty", field="traceId")
    if not isinstance(span_id, str) or not span_id:
        raise RowError(f"{where}: field 'spanId' is missing or empty", field="spanId")
    where = f"{where} (spanId {span_id})"
    attrs = _attributes(span.get("attributes"), where)
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise RowError(f"{where}: field 'status' is not an object", field="status")
    values: list[Any] = [
        trace_id,
        span_id,
        span.get("parentSpanId") or None,
        span.get("name"),
        _ns(span.get("kind"), where, "kind", False),
        _ns(span.get("startTimeUnixNano"), where, "startTimeUnixNano", True),
        _ns(span.get("endTimeUnixNano"), where, "endTimeUnixNano", False),
        _ns(status.get("code"), where, "status.code", False),
        status.get("message"),
        *head,
    ]
    found = 0
    for keys, is_int in _ATTRIBUTE_SPECS:
        value = None
        for k in keys:
            if k in attrs:
                value = attrs[k]
                found += 1
                break
        if value is not None:
            ok = (type(value) is int and value >= 0) if is_int else type(value) is str
            if not ok:
                raise RowError(
                    f"{where}: attribute '{k}' has value {value!r}, expected a "
                    f"{'non-negative integer' if is_int else 'string'}",
                    field=k,
                )
        values.append(value)
    extra = None
    if len(attrs) > found:
        extra = {k: v for k, v in attrs.items() if k not in _KNOWN_SPAN_KEYS} or None
    values.append(json.dumps(extra, sort_keys=True) if extra else None)
    values.extend(tail)
    return tuple(values)


def _resource(rs: dict[str, Any], where: str) -> tuple[dict[str, Any], str | None]:
    """(typed resource columns, JSON text of the other resource attributes)."""
    resource_doc = rs.get("resource") or {}
    if not isinstance(resource_doc, dict):
        raise RowError(f"{where}: field 'resource' is not an object", field="resource")
    res_attrs = _attributes(resource_doc.get("attributes"), where)
    resource = {c: res_attrs.get(k) for c, k in RESOURCE_ATTRIBUTES.items()}
    if resource["deployment_environment"] is None:
        resource["deployment_environment"] = res_attrs.get("deployment.environment")
    extra_res = {k: v for k, v in res_attrs.items() if k not in _KNOWN_RESOURCE_KEYS}
    return resource, json.dumps(extra_res, sort_keys=True) if extra_res else None


def _list(value: Any, where: str, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RowError(f"{where}: field '{field}' is not a list", field=field)
    return value


def otlp_records(path: Path, export_day: date) -> Iterator[tuple[Any, ...] | RowError]:
    """One tuple (in `SPAN_ORDER`) per span of an OTLP/JSON ExportTraceServiceRequest file; a
    span that cannot be interpreted comes out as a RowError whose row is the span's 1-based
    position in the file (a malformed resourceSpans or scopeSpans entry counts as one
    position)."""
    try:
        with gc_paused():
            doc = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise BadFileError(
            f"telemetry: {path}: invalid JSON at line {exc.lineno}: {exc.msg}"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BadFileError(f"telemetry: {path}: cannot be read: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
        raise BadFileError(
            f"telemetry: {path}: no 'resourceSpans' list (not an OTLP/JSON trace export)"
        )
    n = 0
    for r, rs in enumerate(doc["resourceSpans"]):
        rwhere = f"{path} resourceSpans[{r}]"
        try:
            if not isinstance(rs, dict):
                raise RowError(f"{rwhere}: not an object")
            scope_spans = _list(rs.get("scopeSpans"), rwhere, "scopeSpans")
        except RowError as exc:
            n += 1
            exc.path, exc.row, exc.raw = path, n, rs
            yield exc
            continue
        try:
            resource, res_json = _resource(rs, rwhere)
            resource_error = None
        except RowError as exc:
            resource, res_json, resource_error = {}, None, exc
        tail = (res_json, export_day, path.name)
        for s, ss in enumerate(scope_spans):
            swhere = f"{rwhere}.scopeSpans[{s}]"
            try:
                if not isinstance(ss, dict):
                    raise RowError(f"{swhere}: not an object")
                spans = _list(ss.get("spans"), swhere, "spans")
                scope = ss.get("scope") or {}
                scope_name = scope.get("name") if isinstance(scope, dict) else None
            except RowError as exc:
                n += 1
                exc.path, exc.row, exc.raw = path, n, ss
                yield exc
                continue
            head = (*(resource.get(c) for c in RESOURCE_ATTRIBUTES), scope_name)
            for i, span in enumerate(spans):
                n += 1
                try:
                    if resource_error is not None:
                        # every span of a resource whose attributes cannot be read is bad
                        raise RowError(str(resource_error), field=resource_error.field)
                    yield _span_values(span, f"{swhere}.spans[{i}]", head, tail)
                except RowError as exc:
                    exc.path, exc.row, exc.raw = path, n, span
                    yield exc


def read_otlp_day(
    path: Path, export_day: date, load_id: str | None = None
) -> tuple[pa.Table | None, list[RowError]]:
    """(spans, problems) of one OTLP/JSON day file: the spans as one arrow table typed by
    `SPAN_COLUMNS` (None when there are none) with `load_id` as `_dlt_load_id`, the spans that
    cannot be interpreted as RowErrors. Runs in a worker process for large backfills: its
    arguments, result and errors pickle."""
    rows: list[tuple[Any, ...]] = []
    problems: list[RowError] = []
    with gc_paused():
        for item in otlp_records(path, export_day):
            (rows if type(item) is tuple else problems).append(item)
    if not rows:
        return None, problems
    columns = dict(zip(SPAN_ORDER, map(list, zip(*rows, strict=True)), strict=True))
    return span_batcher(load_id).from_columns(columns, len(rows)), problems


def span_batcher(load_id: str | None = None) -> ArrowBatcher:
    """The ArrowBatcher of `otlp_spans`: `_dlt_id` is `trace_id/span_id`."""
    return ArrowBatcher(
        SPAN_COLUMNS,
        source=f"{SOURCE} otlp",
        table="otlp_spans",
        row_key=None,
        load_id=load_id,
        dlt_id=("trace_id", "span_id"),
    )


def otlp_items(path: Path, export_day: date) -> Iterator[dict[str, Any] | RowError]:
    """`otlp_records` with a dict per span."""
    for item in otlp_records(path, export_day):
        yield item if isinstance(item, RowError) else dict(zip(SPAN_ORDER, item, strict=True))


def parse_otlp_file(path: Path, export_day: date) -> Iterator[dict[str, Any]]:
    """One row per span of an OTLP/JSON file; raises on the first span it cannot interpret."""
    return strict(otlp_items(path, export_day))


# ---- JSONL request log --------------------------------------------------------------------
_EXPECTED = {"text": "a string", "bigint": "a non-negative integer", "bool": "a boolean"}


def _log_problem(path: Path, line: int, text: str, valid: bool, field: str | None) -> RowError:
    """The RowError of a request-log line DuckDB flagged: not valid JSON, not a JSON object
    (`field` None), or a record whose `field` is missing or of the wrong type."""
    where = f"{path} line {line}"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return RowError(f"{where}: invalid JSON ({exc.msg})", path=path, row=line, raw=text)
    if not valid:
        return RowError(f"{where}: invalid JSON", path=path, row=line, raw=text)
    if not isinstance(record, dict) or field is None:
        return RowError(f"{where}: not a JSON object", path=path, row=line, raw=text)
    kind, _ = LOG_FIELDS[field]
    value = record.get(field)
    if value is None:
        why = "is missing"
    elif field == "timestamp" and isinstance(value, str):
        why = f"has value {value!r}, expected an RFC 3339 timestamp"
    else:
        why = f"has value {json.dumps(value)[:80]}, expected {_EXPECTED[kind]}"
    return RowError(f"{where}: field '{field}' {why}", path=path, row=line, field=field, raw=text)


def read_request_log(
    con: duckdb.DuckDBPyConnection, path: Path, export_day: date
) -> tuple[pa.Table, list[RowError]]:
    """(rows, problems) of one JSONL request log, parsed and type-checked by DuckDB; the rows
    as an arrow table (`LOG_COLUMNS` but the load columns).

    A line that is not a JSON object, or a record with a missing required field or a value of
    the wrong type, is a problem naming the file, the line (1-based, blank lines counted) and
    the field; the other lines are rows. A file that is not UTF-8 text, or none of whose lines
    is a JSON object, raises BadFileError.
    """
    try:
        con.execute(
            "create or replace temp table lines as "
            "select unnest(l) as t, generate_subscripts(l, 1) as _line "
            "from (select string_split(replace(ltrim(content, chr(65279)), chr(13), ''), chr(10)) "
            "as l "
            "from read_text(?))",
            [str(path)],
        )
    except duckdb.Error as exc:
        raise BadFileError(f"telemetry: {path}: cannot be read as text: {exc}") from exc
    # each line is parsed once: `v` holds every field's JSON value (SQL NULL when absent),
    # `ty` their JSON types
    paths = ", ".join(f"'$.{field}'" for field in LOG_FIELDS)
    con.execute(
        "create or replace temp table log as "
        "select _line, t, j, v, list_transform(v, x -> json_type(x)) as ty from ("
        f"select _line, t, j, case when json_type(j) = 'OBJECT' then json_extract(j, [{paths}]) "
        "end as v from ("
        "select _line, t, case when json_valid(t) then t::json end as j "
        "from lines where trim(t) <> ''))"
    )
    objects, lines = con.execute("select count(v), count(*) from log").fetchone() or (0, 0)
    if lines and not objects:
        raise BadFileError(
            f"telemetry: {path}: not a JSON-lines file, none of its {lines} lines is a JSON object"
        )
    checks = []
    for i, (field, (kind, is_required)) in enumerate(LOG_FIELDS.items(), start=1):
        types = ", ".join(f"'{t}'" for t in _JSON_TYPES[kind])
        jt = f"ty[{i}]"
        cond = f"({jt} is not null and {jt} <> 'NULL' and {jt} not in ({types}))"
        if is_required:
            cond += f" or {jt} is null or {jt} = 'NULL'"
        if kind == "bigint":
            # negative, or beyond BIGINT
            cond += (
                f" or ({jt} in ({types}) and coalesce(try_cast(v[{i}]->>'$' as bigint) < 0, true))"
            )
        if field == "timestamp":
            cond += f" or try_cast(v[{i}]->>'$' as timestamptz) is null"
        checks.append(f"when {cond} then '{field}'")
    con.execute(
        "create or replace temp table bad as "
        "select _line, t, j is not null as valid, "
        f"case when v is null then null {' '.join(checks)} end as field from log "
        "where v is null or field is not null"
    )
    problems = [
        _log_problem(path, line, text, valid, field)
        for line, text, valid, field in con.execute("select * from bad order by _line").fetchall()
    ]
    casts = []
    for i, (field, (kind, _)) in enumerate(LOG_FIELDS.items(), start=1):
        sql_type = {"text": "varchar", "bigint": "bigint", "bool": "boolean"}[kind]
        casts.append(f"cast(v[{i}]->>'$' as {sql_type}) as {field}")
    ts = list(LOG_FIELDS).index("timestamp") + 1
    table = con.execute(
        f"select {', '.join(casts)}, "
        f"epoch_us(cast(v[{ts}]->>'$' as timestamptz)) as timestamp_unix_us, "
        "?::date as export_date, ? as _source_file, _line "
        "from log where v is not null and _line not in (select _line from bad) order by _line",
        [export_day, path.name],
    ).to_arrow_table()
    return table, problems


@dlt.source(name="telemetry", max_table_nesting=0)
def telemetry_source(
    export_path: str = dlt.config.value,
    start_date: date | None = None,
    end_date: date | None = None,
) -> list[DltResource]:
    """Application telemetry day files for UTC days in [start_date, end_date).

    Args:
        export_path: folder holding `otlp/YYYY-MM-DD.json` and `requests/YYYY-MM-DD.jsonl`
            (or a folder with a `telemetry/` subfolder holding them).
        start_date, end_date: the window; end exclusive. Files of other days are skipped.

    A day file that is unchanged (size and modification time) since it was last loaded is not
    read again; a re-delivered file replaces every row of its day (merge key `export_date`).
    """
    if start_date is None or end_date is None:
        raise ValueError("telemetry source: start_date and end_date are required")
    if start_date >= end_date:
        raise ValueError(f"window start {start_date} must be before its end {end_date}")
    root = Path(export_path)
    if not (root / "otlp").is_dir() and not (root / "requests").is_dir():
        root = root / "telemetry"

    @dlt.resource(
        name="otlp_spans",
        write_disposition="merge",
        primary_key=("trace_id", "span_id"),
        merge_key="export_date",
        columns=SPAN_COLUMNS,
        schema_contract=SCHEMA_CONTRACT,
    )
    def otlp_spans() -> Iterator[Any]:
        """One row per span of the OTLP/JSON trace exports, an arrow table per day file; spans
        that cannot be interpreted go to `quarantine`."""
        state = dlt.current.resource_state().setdefault("files", {})
        quarantine = Quarantine(SOURCE, "otlp_spans")
        days = [
            (day, path)
            for day, path in day_files(root / "otlp", "json", start_date, end_date)
            if _changed(state, path)
        ]
        load_id = span_batcher().load_id()
        with otlp_parser([path for _, path in days]) as (executor, ahead):
            jobs = [(path, day, load_id) for day, path in days]
            for (_, day, _), (table, problems) in in_order(executor, read_otlp_day, jobs, ahead):
                partition = f"otlp_spans/{day}"
                quarantine.covers(partition)
                for problem in problems:
                    problem.partition = partition
                    yield quarantine.put(problem)
                if table is not None:
                    yield table
        yield from quarantine.markers()

    @dlt.resource(
        name="request_log",
        write_disposition="merge",
        primary_key="request_id",
        merge_key="export_date",
        columns=LOG_COLUMNS,
        schema_contract=SCHEMA_CONTRACT,
    )
    def request_log() -> Iterator[Any]:
        """One row per request of the JSONL application request logs, an arrow table per day
        file straight from DuckDB; lines that cannot be interpreted go to `quarantine`."""
        state = dlt.current.resource_state().setdefault("files", {})
        quarantine = Quarantine(SOURCE, "request_log")
        batcher = ArrowBatcher(
            LOG_COLUMNS, source=f"{SOURCE} requests", table="request_log", row_key="request_id"
        )
        days = [
            (day, path)
            for day, path in day_files(root / "requests", "jsonl", start_date, end_date)
            if _changed(state, path)
        ]
        # DuckDB reads the next files in a thread (it releases the GIL) while the OTLP files
        # are parsed: dlt extracts the resources round robin. At most READ_AHEAD files wait
        # in memory; a file's error is raised when its turn comes.
        with duckdb.connect() as con, ThreadPoolExecutor(1, "telemetry-requests") as pool:
            con.execute("set timezone = 'UTC'")
            jobs = [(con, path, day) for day, path in days]
            read = in_order(pool, read_request_log, jobs, READ_AHEAD)
            for (_, _, day), (table, problems) in read:
                partition = f"request_log/{day}"
                quarantine.covers(partition)
                for problem in problems:
                    problem.partition = partition
                    yield quarantine.put(problem)
                if table.num_rows:
                    yield batcher.conform(table)
        yield from quarantine.markers()

    return [add_quarantine_table(otlp_spans), add_quarantine_table(request_log)]
