"""The incremental telemetry usage (int_telemetry__usage_by_export_day, and the daily usage
summed from it) equals a rebuild from scratch after every kind of change dlt makes to the raw
telemetry: a new day file, a day file re-delivered with other content, a request re-delivered
under another day (dlt deletes it from its old day by primary key, so that day's load id does
not change), and a day whose model calls all disappear.

Real dlt loads of hand-written day files into a DuckDB file and into a database on a real
PostgreSQL server, then real `dbt build` runs on each.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import dlt
import pytest

from ingestion.telemetry import telemetry_source
from orchestration.settings import Settings, load_settings
from orchestration.warehouse import connect, dlt_destination
from tests.conftest import query
from tests.support.dbt import run_dbt
from tests.support.postgres import (  # noqa: F401  (fixtures)
    PostgresServer,
    postgres_db_fixture,
    postgres_fixture,
)
from tests.unit.test_telemetry_source import call, log_line, otlp_doc, s, span

pytestmark = pytest.mark.integration

DAY1, DAY2, DAY3 = "2026-03-01", "2026-03-02", "2026-03-03"
MODELS = (
    "int_telemetry__usage_by_export_day",
    "int_telemetry__daily_usage",
    "int_telemetry__cost_weights",
)
GRAIN = "request_date, provider, api_key_id, model, feature, team, customer_id"
SUMS = (
    "requests, retries, errors, input_tokens, cached_input_tokens, cache_write_tokens, "
    "output_tokens"
)
# the rows either way (the order spelled out: PostgreSQL has no ORDER BY ALL)
BY_EXPORT_DAY = (
    f"select telemetry_format, export_date, {GRAIN}, {SUMS} "
    "from intermediate.int_telemetry__usage_by_export_day "
    f"order by {', '.join(str(n) for n in range(1, 17))}"
)
DAILY = f"select usage_key, {GRAIN}, {SUMS} from intermediate.int_telemetry__daily_usage order by 1"
WEIGHTS = (
    f"select usage_key, {GRAIN}, {SUMS}, total_tokens, estimated_cost_usd "
    "from intermediate.int_telemetry__cost_weights order by 1"
)


def _deliver(path: Path, text: str) -> None:
    path.write_text(text)
    # a re-delivery in the same second must still read as changed (size and mtime)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))


class Warehouse:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self.export = root / "export"
        (self.export / "otlp").mkdir(parents=True)
        (self.export / "requests").mkdir()

    def deliver_log(self, day: str, *lines: str) -> None:
        _deliver(self.export / "requests" / f"{day}.jsonl", "".join(line + "\n" for line in lines))

    def deliver_otlp(self, day: str, spans: list[dict]) -> None:
        _deliver(self.export / "otlp" / f"{day}.json", json.dumps(otlp_doc(spans)))

    def load(self) -> None:
        pipeline = dlt.pipeline(
            pipeline_name="telemetry",
            destination=dlt_destination(self.settings),
            dataset_name="raw_telemetry",
            pipelines_dir=str(self.root / "pl"),
        )
        pipeline.run(telemetry_source(str(self.export), date(2026, 3, 1), date(2026, 3, 4)))

    def build(self, *flags: str) -> list[dict[str, Any]]:
        """The telemetry models and every test on them alone (the reconciliation included)."""
        select = ("--select", *(f"+{m}" for m in MODELS), "--indirect-selection", "cautious")
        return run_dbt(self.settings, self.root, "build", *select, *flags)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return query(self.settings, sql)

    def assert_equals_a_rebuild(self, first: bool = False) -> None:
        """Build incrementally (from scratch when `first`), then from scratch: the same rows
        either way."""
        results = self.build()
        assert any("reconciles" in r["unique_id"] for r in results)
        (model,) = [
            r for r in results if r["unique_id"].endswith(".int_telemetry__usage_by_export_day")
        ]
        assert ("export days that changed" in model["compiled_code"]) is not first
        incremental = (self.query(BY_EXPORT_DAY), self.query(DAILY), self.query(WEIGHTS))
        self.build("--full-refresh")
        assert (self.query(BY_EXPORT_DAY), self.query(DAILY), self.query(WEIGHTS)) == incremental

    def set_price(self, usd_per_million: int) -> None:
        """One input and output price for every model the telemetry uses, in the raw price book."""
        with connect(self.settings) as con:
            con.execute("create schema if not exists raw_reference")
            con.execute("drop table if exists raw_reference.price_book")
            con.execute(
                "create table raw_reference.price_book as select distinct provider, model, "
                "cast(classes.token_class as varchar) as token_class, "
                "cast('standard' as varchar) as service_tier, "
                "cast(0 as bigint) as tier_min_input_tokens, "
                "cast('2026-01-01' as date) as valid_from, cast(null as date) as valid_to, "
                f"cast({usd_per_million} as decimal(38, 12)) as usd_per_million, "
                "cast('token' as varchar) as unit, cast('test' as varchar) as price_source, "
                "cast(null as varchar) as matched_model_id, "
                "cast(null as varchar) as matched_provider_id, "
                "cast(null as varchar) as override_id, cast(null as varchar) as note "
                "from intermediate.int_telemetry__daily_usage cross join "
                "(select 'input' as token_class union all select 'output') as classes"
            )


def logged(rid: str, day: str, tokens: int) -> str:
    return log_line(rid, tokens, 0, 1, timestamp=f"{day}T10:00:00.250Z")


def requests_per_day(wh: Warehouse) -> list[tuple[Any, ...]]:
    return [
        (fmt, day, int(n), int(tokens))
        for fmt, day, n, tokens in wh.query(
            "select telemetry_format, cast(export_date as varchar), sum(requests), "
            "sum(input_tokens) from intermediate.int_telemetry__usage_by_export_day "
            "group by 1, 2 order by 1, 2"
        )
    ]


@pytest.fixture(params=("duckdb", "postgres"))
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    env = {"AISPEND_WAREHOUSE": str(tmp_path / "warehouse.duckdb")}
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_db")
        env |= {"AISPEND_TARGET": "postgres", **server.env()}
    return load_settings(env)


def test_incremental_usage_follows_every_change_to_the_raw_telemetry(tmp_path, settings):
    wh = Warehouse(tmp_path, settings)
    wh.deliver_log(DAY1, logged("r1", DAY1, 100), logged("r2", DAY1, 200))
    wh.deliver_log(DAY2, logged("r3", DAY2, 300))
    wh.deliver_otlp(DAY1, [span("a000000000000001", 10, call("gpt-4o", 1000, 0, 5, None))])
    wh.load()
    wh.assert_equals_a_rebuild(first=True)
    assert requests_per_day(wh) == [
        ("otlp", DAY1, 1, 1000),
        ("request_log", DAY1, 2, 300),
        ("request_log", DAY2, 1, 300),
    ]
    loaded = wh.query(
        "select export_date, max(load_id) from intermediate.int_telemetry__usage_by_export_day "
        "where export_date < '2026-03-03' group by 1 order by 1"
    )

    # a new day file: only it is read, the others keep the load they were built from
    wh.deliver_log(DAY3, logged("r4", DAY3, 400))
    wh.load()
    wh.assert_equals_a_rebuild()
    assert requests_per_day(wh)[-1] == ("request_log", DAY3, 1, 400)
    assert (
        wh.query(
            "select export_date, max(load_id) from intermediate.int_telemetry__usage_by_export_day "
            "where export_date < '2026-03-03' group by 1 order by 1"
        )
        == loaded
    )

    # re-delivered with other content: day 1's log now has r1 with more tokens, r5, no r2
    wh.deliver_log(DAY1, logged("r1", DAY1, 150), logged("r5", DAY1, 500))
    wh.load()
    wh.assert_equals_a_rebuild()
    assert ("request_log", DAY1, 2, 650) in requests_per_day(wh)

    # r1 re-delivered in day 2's file: dlt deletes it from day 1 by its primary key, and day 1
    # keeps its load id with one call fewer
    wh.deliver_log(DAY2, logged("r3", DAY2, 300), logged("r1", DAY1, 150))
    wh.load()
    assert wh.query(
        "select request_id from raw_telemetry.request_log where export_date = '2026-03-01'"
    ) == [("r5",)]
    wh.assert_equals_a_rebuild()
    assert [r for r in requests_per_day(wh) if r[0] == "request_log"] == [
        ("request_log", DAY1, 1, 500),
        ("request_log", DAY2, 2, 450),
        ("request_log", DAY3, 1, 400),
    ]

    # day 1's traces re-delivered without any model call: its usage goes
    wh.deliver_otlp(DAY1, [span("a000000000000002", 20, [s("http.route", "/search")])])
    wh.load()
    wh.assert_equals_a_rebuild()
    assert [r for r in requests_per_day(wh) if r[0] == "otlp"] == []

    # a price change reprices every day of the weights (they store the book they used)
    wh.set_price(2)
    wh.assert_equals_a_rebuild()
    total = "select sum(estimated_cost_usd) from intermediate.int_telemetry__cost_weights"
    (before,) = wh.query(total)
    wh.set_price(4)
    wh.assert_equals_a_rebuild()
    (after,) = wh.query(total)
    assert before[0] > 0 and after[0] == 2 * before[0]
