"""Daily partitions of the ingestion assets: the run window a run's tags name, the backfill's
runs, and the daily schedule's request."""

from datetime import date, timedelta
from itertools import pairwise

import dagster as dg
import pytest

from orchestration import partitions
from orchestration.definitions import defs
from orchestration.defs.ingestion import source_assets
from orchestration.settings import ConfigError


def test_every_ingestion_asset_is_partitioned_by_day_and_backfills_a_month_per_run():
    assert source_assets
    for assets in source_assets:
        assert assets.partitions_def == partitions.DAILY_PARTITIONS, assets.node_def.name
        policy = assets.backfill_policy
        assert policy is not None and policy.max_partitions_per_run == 31, assets.node_def.name
    ingestion = {key for assets in source_assets for key in assets.keys}
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys() - ingestion:
        assert graph.get(key).partitions_def is None, key  # models cover the configured window


def test_the_partitions_run_from_the_first_day_to_today():
    keys = partitions.DAILY_PARTITIONS.get_partition_keys()
    assert keys[0] == "2023-01-01"
    assert keys[-1] == partitions.last_day().isoformat()
    assert len(keys) == (partitions.last_day() - partitions.FIRST_DAY).days + 1


def test_window_tags_name_the_range_and_read_back():
    tags = partitions.window_tags(date(2026, 3, 1), date(2026, 4, 1))
    assert tags == {
        "dagster/asset_partition_range_start": "2026-03-01",
        "dagster/asset_partition_range_end": "2026-03-31",
    }
    assert partitions.tags_window(tags) == (date(2026, 3, 1), date(2026, 4, 1))
    one = {"dagster/partition": "2026-03-05"}
    assert partitions.tags_window(one) == (date(2026, 3, 5), date(2026, 3, 6))
    assert partitions.tags_window({"aispend/test": "x"}) is None


@pytest.mark.parametrize(
    ("start", "end", "names"),
    [
        (date(2022, 12, 31), date(2023, 1, 5), "AISPEND_START_DATE 2022-12-31"),
        (date(2026, 1, 1), partitions.last_day() + timedelta(days=2), "AISPEND_END_DATE"),
        (date(2026, 1, 2), date(2026, 1, 2), "must be before its end"),
    ],
)
def test_a_window_outside_the_partitions_is_refused_by_name(start, end, names):
    with pytest.raises(ConfigError, match=names):
        partitions.window_tags(start, end)


def test_todays_partition_may_be_named():
    today = partitions.last_day()
    tags = partitions.window_tags(today - timedelta(days=3), today + timedelta(days=1))
    assert tags["dagster/asset_partition_range_end"] == today.isoformat()


@pytest.mark.parametrize("days", [1, 7, 31])
def test_chunks_tile_the_window_oldest_first(days):
    start, end = date(2025, 12, 7), date(2026, 12, 7)
    ranges = list(partitions.chunks(start, end, days))
    assert ranges[0][0] == start and ranges[-1][1] == end
    for (_, a_end), (b_start, _) in pairwise(ranges):
        assert a_end == b_start  # no gap, no overlap
    assert all(0 < (b - a).days <= days for a, b in ranges)
    assert sum((b - a).days for a, b in ranges) == 365


def test_the_daily_run_names_only_the_last_days_of_its_window():
    tags = partitions.daily_tags(date(2025, 12, 1), date(2026, 12, 1), lookback_days=3)
    assert partitions.is_daily_run(tags)
    assert partitions.tags_window(tags) == (date(2026, 11, 27), date(2026, 12, 1))
    short = partitions.daily_tags(date(2026, 11, 29), date(2026, 12, 1), lookback_days=3)
    assert partitions.tags_window(short) == (date(2026, 11, 29), date(2026, 12, 1))
    assert not partitions.is_daily_run(partitions.window_tags(date(2026, 1, 1), date(2026, 2, 1)))


def test_the_schedule_requests_the_daily_run_of_the_configured_window(monkeypatch):
    for name in ("AISPEND_START_DATE", "AISPEND_END_DATE", "AISPEND_LOOKBACK_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AISPEND_START_DATE", "2026-06-01")
    monkeypatch.setenv("AISPEND_END_DATE", "2026-07-01")
    monkeypatch.setenv("AISPEND_LOOKBACK_DAYS", "5")
    schedule = defs.resolve_schedule_def("aispend_daily_schedule")
    with dg.instance_for_test() as instance:
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    (request,) = data.run_requests
    assert partitions.is_daily_run(request.tags)
    assert partitions.tags_window(request.tags) == (date(2026, 6, 25), date(2026, 7, 1))

    monkeypatch.setenv("AISPEND_START_DATE", "2020-01-01")
    with dg.instance_for_test() as instance:
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert not data.run_requests
    assert "AISPEND_START_DATE 2020-01-01" in (data.skip_message or "")


# --------------------------------------------------------------------------- resume_day


def _loaded(tmp_path, days_by_table):
    """A warehouse whose raw_openai cursor tables hold buckets starting on the given days."""
    import duckdb

    from ingestion._common import day_start_unix
    from orchestration.settings import load_settings

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema raw_openai")
        for table, days in days_by_table.items():
            con.execute(f"create table raw_openai.{table} (start_time bigint)")
            for day in days:
                # an hour into the day: the resume day is the bucket's UTC day
                con.execute(f"insert into raw_openai.{table} values ({day_start_unix(day) + 3600})")
    return load_settings(
        {
            "AISPEND_WAREHOUSE": str(warehouse),
            "AISPEND_START_DATE": "2026-03-01",
            "AISPEND_END_DATE": "2026-04-01",
            "AISPEND_LOOKBACK_DAYS": "3",
        }
    )


def test_the_daily_run_resumes_from_the_last_day_loaded_minus_the_lookback(tmp_path):
    from orchestration.defs.ingestion import resume_day
    from orchestration.sources import SOURCES

    settings = _loaded(
        tmp_path,
        {
            "completions_usage": [date(2026, 3, 1), date(2026, 3, 20)],
            # the table that is furthest behind decides
            "costs": [date(2026, 3, 1), date(2026, 3, 18)],
        },
    )
    assert resume_day(SOURCES["openai"], settings) == date(2026, 3, 15)


@pytest.mark.parametrize(
    ("usage", "costs", "expected"),
    [
        # a table with nothing loaded: the whole window
        ([date(2026, 3, 1), date(2026, 3, 20)], [], date(2026, 3, 1)),
        # the window now starts before the earliest day loaded: the whole window
        ([date(2026, 3, 5), date(2026, 3, 20)], [date(2026, 3, 5)], date(2026, 3, 1)),
        # never before the window start
        ([date(2026, 3, 1), date(2026, 3, 2)], [date(2026, 3, 1)], date(2026, 3, 1)),
        # data loaded past the window's end: its last day is still read again
        (
            [date(2026, 3, 1), date(2026, 4, 20)],
            [date(2026, 3, 1), date(2026, 4, 20)],
            date(2026, 3, 31),
        ),
    ],
)
def test_resume_day_reads_the_whole_window_or_its_last_day_when_it_must(
    tmp_path, usage, costs, expected
):
    from orchestration.defs.ingestion import resume_day
    from orchestration.sources import SOURCES

    settings = _loaded(tmp_path, {"completions_usage": usage, "costs": costs})
    assert resume_day(SOURCES["openai"], settings) == expected
