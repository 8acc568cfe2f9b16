"""The telemetry source against hand-written OTLP/JSON and JSONL day files."""

import json
import os
import pickle
from datetime import date
from pathlib import Path

import dlt
import duckdb
import pytest

from ingestion import telemetry
from ingestion._common import SourceDataError
from ingestion._quarantine import RowError
from ingestion.telemetry import parse_otlp_file, telemetry_source

DAY1 = "2026-03-01"
DAY2 = "2026-03-02"
DAY1_NS = 1772323200 * 10**9


def s(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def i(key: str, value: int | str) -> dict:
    return {"key": key, "value": {"intValue": str(value)}}


def span(span_id: str, offset_s: int, attrs: list[dict], code: int = 1) -> dict:
    start = DAY1_NS + offset_s * 10**9
    return {
        "traceId": "0" * 31 + span_id[-1],
        "spanId": span_id,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_500_000_000),
        "attributes": attrs,
        "status": {"code": code},
    }


def call(model: str, inp: int, cached: int, out: int, customer: str | None) -> list[dict]:
    attrs = [
        s("gen_ai.operation.name", "chat"),
        s("gen_ai.system", "openai"),
        s("gen_ai.request.model", model),
        s("gen_ai.response.model", model),
        i("gen_ai.usage.input_tokens", inp),
        i("gen_ai.usage.output_tokens", out),
        i("gen_ai.usage.cache_read.input_tokens", cached),
        s("aispend.api_key_id", "key_A"),
        s("app.feature", "search"),
        s("app.team", "growth"),
        {"key": "app.experiment", "value": {"boolValue": True}},
    ]
    if customer:
        attrs.append(s("app.customer_id", customer))
    return attrs


def otlp_doc(spans: list[dict]) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [s("service.name", "search-api"), s("host.name", "h1")]},
                "scopeSpans": [{"scope": {"name": "openai"}, "spans": spans}],
            }
        ]
    }


def log_line(rid: str, inp: int, cached: int, out: int, **kw) -> str:
    rec = {
        "request_id": rid,
        "timestamp": f"{DAY1}T10:00:00.250Z",
        "provider": "anthropic",
        "api_key_id": "apikey_B",
        "model": "claude-haiku-4-5-20251001",
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "cache_write_tokens": 0,
        "output_tokens": out,
        "feature": "agent",
        "team": "platform",
        "customer_id": "cus_0001",
        "status": "ok",
        "is_retry": False,
        **kw,
    }
    return json.dumps(rec)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    root = tmp_path / "export"
    (root / "otlp").mkdir(parents=True)
    (root / "requests").mkdir()
    spans = [
        span("a000000000000001", 10, call("gpt-4o", 1000, 200, 50, "cus_0001")),
        span("a000000000000002", 20, call("gpt-4o", 500, 0, 25, None)),
        span(
            "a000000000000003",
            30,
            [
                s("gen_ai.system", "openai"),
                s("gen_ai.request.model", "gpt-4o"),
                i("http.response.status_code", 429),
            ],
            code=2,
        ),
    ]
    (root / "otlp" / f"{DAY1}.json").write_text(json.dumps(otlp_doc(spans)))
    lines = [
        log_line("r1", 3000, 1000, 100),
        log_line("r2", 2000, 0, 40, is_retry=True, retry_count=1),
    ]
    (root / "requests" / f"{DAY1}.jsonl").write_text("\n".join(lines) + "\n")
    # outside the window: skipped
    (root / "requests" / "2026-02-28.jsonl").write_text(log_line("old", 1, 0, 1) + "\n")
    return root


def run(tmp_path: Path, root: Path, end: date = date(2026, 3, 3)) -> None:
    p = dlt.pipeline(
        pipeline_name="telemetry",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name="raw_telemetry",
        pipelines_dir=str(tmp_path / "pl"),
    )
    p.run(telemetry_source(str(root), date(2026, 3, 1), end))


def q(tmp_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_spans_and_log_load_with_typed_columns(tmp_path, export):
    run(tmp_path, export)
    assert q(
        tmp_path,
        "select count(*), sum(input_tokens), sum(cache_read_input_tokens), sum(output_tokens), "
        "count(customer_id), max(service_name) from raw_telemetry.otlp_spans",
    ) == [(3, 1500, 200, 75, 1, "search-api")]
    assert q(
        tmp_path,
        "select status_code, http_status_code, start_time_unix_nano, _source_file "
        "from raw_telemetry.otlp_spans where span_id = 'a000000000000003'",
    ) == [(2, 429, DAY1_NS + 30 * 10**9, f"{DAY1}.json")]
    extra = q(
        tmp_path,
        "select attributes_json, resource_attributes_json from "
        "raw_telemetry.otlp_spans where span_id = 'a000000000000001'",
    )[0]
    assert json.loads(extra[0]) == {"app.experiment": True}
    assert json.loads(extra[1]) == {"host.name": "h1"}
    assert q(
        tmp_path,
        "select count(*), sum(input_tokens), sum(cached_input_tokens), sum(output_tokens), "
        "min(timestamp_unix_us), count(*) filter (where is_retry) from raw_telemetry.request_log",
    ) == [(2, 5000, 1000, 140, (DAY1_NS // 1000) + 36_000_250_000, 1)]


def test_a_redelivered_day_replaces_its_rows(tmp_path, export):
    run(tmp_path, export)
    path = export / "requests" / f"{DAY1}.jsonl"
    path.write_text(log_line("r9", 7000, 0, 70) + "\n")
    os.utime(path, ns=(1, 1))
    (export / "requests" / f"{DAY2}.jsonl").write_text(log_line("r5", 10, 0, 1) + "\n")
    run(tmp_path, export)
    assert q(
        tmp_path,
        "select cast(export_date as varchar), count(*), sum(input_tokens) "
        "from raw_telemetry.request_log group by 1 order by 1",
    ) == [(DAY1, 1, 7000), (DAY2, 1, 10)]
    # the unchanged span file was not re-read, its rows stay
    assert q(tmp_path, "select count(*) from raw_telemetry.otlp_spans") == [(3,)]


def test_a_malformed_log_record_is_quarantined_naming_file_line_and_field(tmp_path, export):
    path = export / "requests" / f"{DAY1}.jsonl"
    path.write_text(log_line("r1", 1, 0, 1) + "\n" + log_line("r2", 1, 0, "many") + "\n")
    run(tmp_path, export)
    assert q(tmp_path, "select request_id from raw_telemetry.request_log") == [("r1",)]
    (source_file, row, field, reason, raw), *more = q(
        tmp_path,
        "select source_file, source_row, field, reason, raw_row from raw_telemetry.quarantine",
    )
    assert not more and source_file == str(path) and (row, field) == (2, "output_tokens")
    assert f"{DAY1}.jsonl line 2: field 'output_tokens'" in reason
    assert json.loads(raw)["request_id"] == "r2"


def test_a_malformed_span_names_file_span_and_attribute(tmp_path, export):
    bad = span("b000000000000001", 5, [i("gen_ai.usage.input_tokens", "12x")])
    path = export / "otlp" / f"{DAY1}.json"
    path.write_text(json.dumps(otlp_doc([bad])))
    with pytest.raises(SourceDataError) as info:
        list(parse_otlp_file(path, date(2026, 3, 1)))
    msg = str(info.value)
    assert f"{DAY1}.json" in msg and "b000000000000001" in msg
    assert "gen_ai.usage.input_tokens" in msg
    # in a pipeline the span is quarantined and the file's other spans load
    good = span("b000000000000002", 6, call("gpt-4o", 10, 0, 1, None))
    path.write_text(json.dumps(otlp_doc([bad, good])))
    run(tmp_path, export)
    assert q(tmp_path, "select span_id from raw_telemetry.otlp_spans") == [("b000000000000002",)]
    assert q(tmp_path, "select source_table, source_row, field from raw_telemetry.quarantine") == [
        ("otlp_spans", 1, "gen_ai.usage.input_tokens")
    ]


def test_a_count_beyond_bigint_is_quarantined_not_a_failed_run(tmp_path, export):
    path = export / "requests" / f"{DAY1}.jsonl"
    path.write_text(log_line("r1", 1, 0, 1) + "\n" + log_line("r2", 1, 0, 2**64 - 1) + "\n")
    run(tmp_path, export)
    assert q(tmp_path, "select request_id from raw_telemetry.request_log") == [("r1",)]
    assert q(tmp_path, "select source_row, field from raw_telemetry.quarantine") == [
        (2, "output_tokens")
    ]


def test_the_request_log_keeps_the_timestamp_text_the_service_wrote(tmp_path, export):
    run(tmp_path, export)
    assert q(tmp_path, "select distinct timestamp from raw_telemetry.request_log") == [
        (f"{DAY1}T10:00:00.250Z",)
    ]


def test_unusual_attribute_shapes_take_the_checked_path(tmp_path, export):
    attrs = [
        s("gen_ai.system", "openai"),
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": 12}},  # a number, not text
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": " 3"}},
        {"key": "app.tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        {"key": "app.digits", "value": {"intValue": "\u00b2"}},  # not ASCII digits
    ]
    path = export / "otlp" / f"{DAY1}.json"
    path.write_text(json.dumps(otlp_doc([span("c000000000000001", 1, attrs[:4])])))
    (row,) = list(parse_otlp_file(path, date(2026, 3, 1)))
    assert (row["input_tokens"], row["output_tokens"]) == (12, 3)
    assert json.loads(row["attributes_json"]) == {"app.tags": ["a"]}
    path.write_text(json.dumps(otlp_doc([span("c000000000000002", 1, attrs)])))
    with pytest.raises(SourceDataError, match="intValue '²' is not an integer"):
        list(parse_otlp_file(path, date(2026, 3, 1)))


def test_request_logs_read_ahead_keep_every_day_and_fail_on_the_bad_one(tmp_path, export):
    # more days than the read-ahead holds: all load, each under its own day
    for d in range(2, 6):
        day = f"2026-03-0{d}"
        (export / "requests" / f"{day}.jsonl").write_text(log_line(f"day{d}", d, 0, 1) + "\n")
    run(tmp_path, export, end=date(2026, 3, 6))
    assert q(
        tmp_path,
        "select cast(export_date as varchar), sum(input_tokens) from raw_telemetry.request_log "
        "group by 1 order by 1",
    ) == [(DAY1, 5000)] + [(f"2026-03-0{d}", d) for d in range(2, 6)]
    # a file that cannot be read fails the run with its name, however far ahead it was read
    bad = export / "requests" / "2026-03-07.jsonl"
    bad.write_bytes(b"\xff\xfe not text\n")
    with pytest.raises(Exception, match=r"2026-03-07\.jsonl"):
        run(tmp_path, export, end=date(2026, 3, 8))


def test_otlp_files_parsed_in_worker_processes_load_what_this_process_loads(
    tmp_path, export, monkeypatch
):
    # four days, one with a span to quarantine: first parsed here, then by two spawned workers
    for d in range(2, 6):
        spans = [span(f"d00000000000000{d}", d, call("gpt-4o", 100 * d, 0, d, "cus_0001"))]
        if d == 4:
            spans.append(span("e000000000000004", 1, [i("gen_ai.usage.input_tokens", "4x")]))
        (export / "otlp" / f"2026-03-0{d}.json").write_text(json.dumps(otlp_doc(spans)))
    rows = (
        "select * exclude (_dlt_load_id) from raw_telemetry.otlp_spans order by trace_id, span_id"
    )
    problems = (
        "select source_table, source_row, _partition, field, reason, raw_row "
        "from raw_telemetry.quarantine where not coalesce(_partition_marker, false) order by all"
    )
    here, pooled = tmp_path / "here", tmp_path / "pooled"
    here.mkdir()
    pooled.mkdir()
    run(here, export, end=date(2026, 3, 6))
    monkeypatch.setattr(telemetry, "PARSE_PROCESSES_MIN_BYTES", 0)
    monkeypatch.setattr(telemetry, "_cores", lambda: 2)
    used = []
    real = telemetry.ProcessPoolExecutor
    monkeypatch.setattr(
        telemetry, "ProcessPoolExecutor", lambda *a, **kw: used.append(a) or real(*a, **kw)
    )
    run(pooled, export, end=date(2026, 3, 6))
    assert used == [(2,)]
    assert q(pooled, rows) == q(here, rows) and len(q(here, rows)) == 7
    assert q(pooled, problems) == q(here, problems)
    assert [r[:3] for r in q(pooled, problems)] == [("otlp_spans", 2, "otlp_spans/2026-03-04")]
    # a file that is not an OTLP export fails the run with its name, raised from the worker
    (export / "otlp" / "2026-03-06.json").write_text("[1, 2]")
    with pytest.raises(Exception, match=r"2026-03-06\.json: no 'resourceSpans' list"):
        run(pooled, export, end=date(2026, 3, 7))


def test_a_row_error_keeps_its_fields_across_processes():
    err = RowError("f.json span 3: bad", path=Path("f.json"), row=3, field="x", raw={"a": 1})
    err.partition = "otlp_spans/2026-03-01"
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.path, back.row, back.field, back.raw, back.partition) == (
        "f.json span 3: bad",
        Path("f.json"),
        3,
        "x",
        {"a": 1},
        "otlp_spans/2026-03-01",
    )
