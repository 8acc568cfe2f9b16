"""The Cursor dlt source against hand-written payloads (tests/support/fake_devtools_api.py)."""

import base64
from datetime import date
from decimal import Decimal
from pathlib import Path

import dlt
import duckdb

import ingestion.cursor as cursor_mod
from ingestion.cursor import cursor_source, ms_chunks
from tests.support.fake_devtools_api import CURSOR_KEY, DAY1_MS, DAY2_MS, FakeDevtoolsAPI


def pipeline(tmp_path: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="cursor",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name="raw_cursor",
        pipelines_dir=str(tmp_path / "pl"),
    )


def source(api: FakeDevtoolsAPI, **kw):
    return cursor_source(
        api_key=CURSOR_KEY,
        base_url=api.url,
        start_date=date(2026, 3, 1),
        end_date=date(2026, 3, 3),
        **kw,
    )


def by_day(tmp_path: Path) -> dict[str, tuple]:
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select usage_date, count(*), sum(charged_cents), sum(token_input_tokens),"
            " sum(token_cache_read_tokens), sum(token_cache_write_tokens),"
            " sum(token_output_tokens) from raw_cursor.usage_events group by 1"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_events_paged_with_basic_auth_and_known_totals(tmp_path, monkeypatch):
    monkeypatch.setattr(cursor_mod, "EVENTS_PAGE_SIZE", 2)
    with FakeDevtoolsAPI() as api:
        pipeline(tmp_path).run(source(api))
    posts = [r for r in api.requests if r["path"] == "/teams/filtered-usage-events"]
    expected_auth = "Basic " + base64.b64encode(f"{CURSOR_KEY}:".encode()).decode()
    assert {r["headers"]["Authorization"] for r in api.requests} == {expected_auth}
    # 5 events, pageSize 2: pages 1, 2, 3 with inclusive ms bounds ending at ...59.999
    assert [r["body"]["page"] for r in posts] == [1, 2, 3]
    assert posts[0]["body"]["startDate"] == DAY1_MS
    assert posts[0]["body"]["endDate"] == DAY2_MS + 86_400_000 - 1
    totals = by_day(tmp_path)
    assert totals["2026-03-01"] == (4, Decimal("6.8126"), 4210, 19800, 4100, 840)
    assert totals["2026-03-02"][:2] == (1, Decimal("0.0123"))
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        dup = con.execute(
            "select list(occurrence order by occurrence) from raw_cursor.usage_events"
            " where model = 'gpt-5' and user_email = 'dana@example.com'"
        ).fetchone()
        assert dup == ([1, 2],)  # byte-identical events both kept
        assert con.execute("select count(*) from raw_cursor.members").fetchone() == (2,)
        assert con.execute(
            "select sum(total_lines_added) from raw_cursor.daily_usage"
        ).fetchone() == (57,)
        ts = con.execute(
            "select timestamp, timestamp_ms from raw_cursor.usage_events where model = 'default'"
        ).fetchone()
        assert ts == (str(DAY1_MS + 20_000_000), DAY1_MS + 20_000_000)


def test_reread_day_replaces_without_duplicates(tmp_path):
    with FakeDevtoolsAPI() as api:
        p = pipeline(tmp_path)
        p.run(source(api))
        p.run(source(api))  # the lookback re-reads both days
        assert by_day(tmp_path)["2026-03-01"][0] == 4
        # the provider restates 1 March: the duplicate is gone and one cost changed
        api.events = [e for e in api.events if e["model"] != "gpt-5" or "lee" in e["userEmail"]]
        for e in api.events:
            if e["model"] == "claude-4.5-sonnet":
                e["chargedCents"] = 5.5
        p.run(source(api))
    totals = by_day(tmp_path)
    assert totals["2026-03-01"][:2] == (2, Decimal("5.5"))
    assert totals["2026-03-02"][:2] == (1, Decimal("0.0123"))


def test_wrong_key_is_a_401(tmp_path):
    with FakeDevtoolsAPI() as api:
        src = cursor_source(
            api_key="nope",
            base_url=api.url,
            start_date=date(2026, 3, 1),
            end_date=date(2026, 3, 2),
        )
        try:
            pipeline(tmp_path).run(src)
        except Exception as exc:  # dlt wraps the HTTPError
            assert "401" in str(exc)
        else:
            raise AssertionError("expected a 401")


def test_windows_are_at_most_30_days_and_inclusive():
    chunks = list(ms_chunks(0, 65 * 86_400))
    assert chunks[0] == (0, 30 * 86_400_000 - 1)
    assert chunks[1][0] == 30 * 86_400_000
    assert chunks[-1][1] == 65 * 86_400_000 - 1
    assert all(b - a < 30 * 86_400_000 for a, b in chunks)
