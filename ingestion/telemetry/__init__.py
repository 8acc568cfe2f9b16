"""dlt source for the customer's own application telemetry: OTLP/JSON trace exports and
JSONL request logs, one file per UTC day.

Telemetry carries no money; it says which feature, team and customer used which API key and
model, and drives the allocation of the provider bill. Loaded raw into `raw_telemetry`; all
modelling happens in dbt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.sources import DltResource

from ingestion._common import SourceDataError

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
    st = path.stat()
    sig = [st.st_size, st.st_mtime_ns]
    if state.get(path.name) == sig:
        return False
    state[path.name] = sig
    return True


# ---- OTLP/JSON ----------------------------------------------------------------------------
def _any_value(value: Any, where: str) -> Any:
    """The Python value of an OTLP JSON AnyValue (intValue is a string in OTLP JSON)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise SourceDataError(f"{where}: expected an AnyValue object, got {str(value)[:120]}")
    kind, v = next(iter(value.items()))
    if kind == "stringValue":
        return v
    if kind == "intValue":
        try:
            return int(v)
        except (TypeError, ValueError):
            raise SourceDataError(f"{where}: intValue {v!r} is not an integer") from None
    if kind in ("boolValue", "doubleValue"):
        return v
    if kind == "arrayValue":
        return [_any_value(x, where) for x in (v or {}).get("values", [])]
    if kind == "kvlistValue":
        return {kv["key"]: _any_value(kv.get("value"), where) for kv in (v or {}).get("values", [])}
    if kind == "bytesValue":
        return v
    raise SourceDataError(f"{where}: unknown AnyValue kind {kind!r}")


def _attributes(items: Any, where: str) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise SourceDataError(f"{where}: 'attributes' is not a list")
    out: dict[str, Any] = {}
    for kv in items:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise SourceDataError(f"{where}: attribute without a string 'key': {str(kv)[:120]}")
        out[kv["key"]] = _any_value(kv.get("value"), f"{where} attribute '{kv['key']}'")
    return out


def _ns(value: Any, where: str, field: str, required: bool) -> int | None:
    if value is None:
        if required:
            raise SourceDataError(f"{where}: field '{field}' is missing")
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SourceDataError(
            f"{where}: field '{field}' has value {value!r}, expected an integer"
        ) from None


def parse_otlp_file(path: Path, export_day: date) -> Iterator[dict[str, Any]]:
    """One row per span of an OTLP/JSON ExportTraceServiceRequest file."""
    try:
        doc = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise SourceDataError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
        raise SourceDataError(f"{path}: no 'resourceSpans' list (not an OTLP/JSON trace export)")
    for r, rs in enumerate(doc["resourceSpans"]):
        rwhere = f"{path} resourceSpans[{r}]"
        res_attrs = _attributes((rs.get("resource") or {}).get("attributes"), rwhere)
        resource = {c: res_attrs.get(k) for c, k in RESOURCE_ATTRIBUTES.items()}
        if resource["deployment_environment"] is None:
            resource["deployment_environment"] = res_attrs.get("deployment.environment")
        extra_res = {k: v for k, v in res_attrs.items() if k not in _KNOWN_RESOURCE_KEYS}
        res_json = json.dumps(extra_res, sort_keys=True) if extra_res else None
        for s, ss in enumerate(rs.get("scopeSpans") or []):
            scope_name = (ss.get("scope") or {}).get("name")
            for i, span in enumerate(ss.get("spans") or []):
                where = f"{path} resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                if not isinstance(span, dict):
                    raise SourceDataError(f"{where}: span is not an object")
                for field in ("traceId", "spanId"):
                    if not isinstance(span.get(field), str) or not span[field]:
                        raise SourceDataError(f"{where}: field '{field}' is missing or empty")
                where = f"{where} (spanId {span['spanId']})"
                attrs = _attributes(span.get("attributes"), where)
                status = span.get("status") or {}
                row: dict[str, Any] = {
                    "trace_id": span["traceId"],
                    "span_id": span["spanId"],
                    "parent_span_id": span.get("parentSpanId") or None,
                    "name": span.get("name"),
                    "kind": _ns(span.get("kind"), where, "kind", False),
                    "start_time_unix_nano": _ns(
                        span.get("startTimeUnixNano"), where, "startTimeUnixNano", True
                    ),
                    "end_time_unix_nano": _ns(
                        span.get("endTimeUnixNano"), where, "endTimeUnixNano", False
                    ),
                    "status_code": _ns(status.get("code"), where, "status.code", False),
                    "status_message": status.get("message"),
                    **resource,
                    "scope_name": scope_name,
                }
                for column, (keys, kind) in SPAN_ATTRIBUTES.items():
                    value = None
                    for k in keys:
                        if k in attrs:
                            value = attrs[k]
                            break
                    if value is not None:
                        ok = (
                            isinstance(value, int) and not isinstance(value, bool)
                            if kind == "int"
                            else isinstance(value, str)
                        )
                        if not ok or (kind == "int" and value < 0):
                            raise SourceDataError(
                                f"{where}: attribute '{k}' has value {value!r}, expected a "
                                f"{'non-negative integer' if kind == 'int' else 'string'}"
                            )
                    row[column] = value
                extra = {k: v for k, v in attrs.items() if k not in _KNOWN_SPAN_KEYS}
                row["attributes_json"] = json.dumps(extra, sort_keys=True) if extra else None
                row["resource_attributes_json"] = res_json
                row["export_date"] = export_day
                row["_source_file"] = path.name
                yield row


# ---- JSONL request log --------------------------------------------------------------------
def _first_bad_line(path: Path) -> tuple[int, str]:
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                return n, f"invalid JSON ({exc.msg})"
            if not isinstance(obj, dict):
                return n, "not a JSON object"
    return 0, "unreadable"


def read_request_log(con: duckdb.DuckDBPyConnection, path: Path, export_day: date) -> list[dict]:
    """Rows of one JSONL request log, parsed and type-checked by DuckDB.

    A record with a missing required field or a value of the wrong type raises SourceDataError
    naming the file, line and field.
    """
    try:
        con.execute(
            "create or replace temp table log as select row_number() over () as _line, "
            "json as j from read_ndjson_objects(?)",
            [str(path)],
        )
        con.execute("select count(*) from log where json_type(j) <> 'OBJECT'").fetchone()
    except duckdb.Error as exc:
        line, why = _first_bad_line(path)
        raise SourceDataError(f"{path} line {line}: {why}") from exc
    checks = []
    for field, (kind, required) in LOG_FIELDS.items():
        types = ", ".join(f"'{t}'" for t in _JSON_TYPES[kind])
        jt = f"json_type(j, '$.{field}')"
        cond = f"({jt} is not null and {jt} <> 'NULL' and {jt} not in ({types}))"
        if required:
            cond += f" or json_extract_string(j, '$.{field}') is null"
        if kind == "bigint":
            cond += f" or try_cast(json_extract_string(j, '$.{field}') as bigint) < 0"
        if field == "timestamp":
            cond += " or try_cast(json_extract_string(j, '$.timestamp') as timestamptz) is null"
        checks.append(f"when {cond} then '{field}'")
    bad = con.execute(
        f"select _line, case {' '.join(checks)} end as field, j from log "
        "where json_type(j) <> 'OBJECT' or field is not null order by _line limit 1"
    ).fetchone()
    if bad is not None:
        line, field, record = bad
        if field is None:
            raise SourceDataError(f"{path} line {line}: not a JSON object")
        raise SourceDataError(
            f"{path} line {line}: field '{field}' is missing or invalid in {str(record)[:200]}"
        )
    casts = []
    for field, (kind, _) in LOG_FIELDS.items():
        sql_type = {"text": "varchar", "bigint": "bigint", "bool": "boolean"}[kind]
        casts.append(f"cast(json_extract_string(j, '$.{field}') as {sql_type}) as {field}")
    cur = con.execute(
        f"select {', '.join(casts)}, "
        "epoch_us(cast(json_extract_string(j, '$.timestamp') as timestamptz)) "
        "as timestamp_unix_us, "
        "_line from log order by _line"
    )
    names = [d[0] for d in cur.description]
    rows = []
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        row["export_date"] = export_day
        row["_source_file"] = path.name
        rows.append(row)
    return rows


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
        file_format="jsonl",
    )
    def otlp_spans() -> Iterator[list[dict[str, Any]]]:
        """One row per span of the OTLP/JSON trace exports."""
        state = dlt.current.resource_state().setdefault("files", {})
        for day, path in day_files(root / "otlp", "json", start_date, end_date):
            if not _changed(state, path):
                continue
            batch: list[dict[str, Any]] = []
            for row in parse_otlp_file(path, day):
                batch.append(row)
                if len(batch) >= 20_000:
                    yield batch
                    batch = []
            if batch:
                yield batch

    @dlt.resource(
        name="request_log",
        write_disposition="merge",
        primary_key="request_id",
        merge_key="export_date",
        columns=LOG_COLUMNS,
        file_format="jsonl",
    )
    def request_log() -> Iterator[list[dict[str, Any]]]:
        """One row per request of the JSONL application request logs."""
        state = dlt.current.resource_state().setdefault("files", {})
        with duckdb.connect() as con:
            con.execute("set timezone = 'UTC'")
            for day, path in day_files(root / "requests", "jsonl", start_date, end_date):
                if not _changed(state, path):
                    continue
                rows = read_request_log(con, path, day)
                for i in range(0, len(rows), 20_000):
                    yield rows[i : i + 20_000]

    return [otlp_spans, request_log]
