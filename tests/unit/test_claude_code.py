"""The Claude Code source (ingestion.anthropic.claude_code_source) against hand-written payloads."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import dlt
import duckdb

from ingestion.anthropic import claude_code_source
from tests.support.fake_devtools_api import ANTHROPIC_KEY, FakeDevtoolsAPI


def run(tmp_path: Path, api: FakeDevtoolsAPI) -> None:
    p = dlt.pipeline(
        pipeline_name="claude_code",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name="raw_claude_code",
        pipelines_dir=str(tmp_path / "pl"),
    )
    p.run(
        claude_code_source(
            api_key=ANTHROPIC_KEY,
            base_url=api.url,
            start_date=date(2026, 3, 1),
            end_date=date(2026, 3, 3),
        )
    )


def test_one_row_per_record_and_model_with_paging_and_cents(tmp_path):
    with FakeDevtoolsAPI(cc_page_size=1) as api:
        run(tmp_path, api)
        run(tmp_path, api)  # re-read: merge on the day, no duplicates
    cc = [r for r in api.requests if r["path"].endswith("/claude_code")]
    assert {r["query"]["starting_at"][0] for r in cc} == {"2026-03-01", "2026-03-02"}
    assert any("page" in r["query"] for r in cc)  # 2 records on 1 March, 1 per page
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select date, coalesce(actor_email_address, actor_api_key_name), customer_type,"
            " model_index, input_tokens, estimated_cost_cents, num_sessions"
            " from raw_claude_code.claude_code_usage order by 1, 2, 4"
        ).fetchall()
        keys = con.execute("select name from raw_claude_code.anthropic_api_keys order by 1")
        key_names = [r[0] for r in keys.fetchall()]
        ws = con.execute("select count(*) from raw_claude_code.anthropic_workspaces").fetchone()
    assert rows == [
        ("2026-03-01", "dana@example.com", "subscription", 0, 100, Decimal("12.5"), 3),
        ("2026-03-01", "dana@example.com", "subscription", 1, 10, Decimal("3.25"), 3),
        ("2026-03-01", "research-key-1", "api", 0, 400, Decimal("7"), 3),
        ("2026-03-02", "lee@example.com", "subscription", 0, 20, Decimal("1.5"), 3),
    ]
    assert key_names == ["agents-key-1", "research-key-1"]  # two list pages via after_id
    assert ws == (1,)
