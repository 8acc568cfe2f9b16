"""Daily partitions of the ingestion assets, and the UTC days a run is responsible for.

Every dlt asset is partitioned by UTC day, so Dagster's backfill UI can reload any range of
days, in runs of at most `DAYS_PER_RUN` (its multi-run backfill policy). A run names its days
with Dagster's partition-range tags; the dbt models, analytics and exports are not
partitioned and always cover the configured window (AISPEND_START_DATE..AISPEND_END_DATE).

Two kinds of run:
- the daily run (`aispend run`, the schedule), tagged `aispend/run: daily`. Its sources cover
  the configured window: API sources resume from the last day already loaded, minus the
  lookback; export-file sources skip files unchanged since their last load. Its partition
  range is only the window's last days, the lookback and the newest day: Dagster writes one
  materialization event per partition and asset, and a range of the whole window would make
  the daily run's cost grow with the window (365 days cost 100 s of events in a test);
- any other run of partitions (a backfill from the UI, `aispend backfill`): the sources read
  exactly its days again, whatever is loaded already (export files unchanged since their last
  load are still skipped: their rows are there).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import dagster as dg

from orchestration.settings import ConfigError, today_utc

# the first day a partition exists for: before 2023 no provider had a usage or cost API
FIRST_DAY = date(2023, 1, 1)
# today's partition exists (end_offset=1): usage APIs already report its finished hours
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(
    start_date=FIRST_DAY.isoformat(), end_offset=1, timezone="UTC"
)
# a backfill's runs: a month of days each keeps a year's backfill under a few GiB
DAYS_PER_RUN = 31
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=DAYS_PER_RUN)

# the tag of the daily run (its sources cover the configured window), and of a backfill's
# runs started here (`aispend backfill`): the two tell apart in the Dagster UI's run list
DAILY_RUN = ("aispend/run", "daily")
BACKFILL_RUN = ("aispend/run", "backfill")
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
PARTITION = "dagster/partition"


def last_day() -> date:
    """The newest partition: today (UTC)."""
    return today_utc()


def window_tags(start: date, end: date) -> dict[str, str]:
    """The run tags of the UTC days [start, end): a range of daily partitions.

    Raises ConfigError when the days are not all partitions (before FIRST_DAY, or after today).
    """
    if start >= end:
        raise ConfigError(f"window start {start} must be before its end {end}")
    if start < FIRST_DAY:
        raise ConfigError(
            f"AISPEND_START_DATE {start} is before {FIRST_DAY}, the first daily partition"
        )
    final = end - timedelta(days=1)
    if final > last_day():
        raise ConfigError(
            f"AISPEND_END_DATE {end} (exclusive) reaches past today ({last_day()}): days that "
            "have not begun have no partition"
        )
    return {RANGE_START: start.isoformat(), RANGE_END: final.isoformat()}


def tags_window(tags: Mapping[str, str]) -> tuple[date, date] | None:
    """The UTC days [start, end) a run's tags name, or None for a run without partitions."""
    first, last = tags.get(RANGE_START), tags.get(RANGE_END)
    if first is None and tags.get(PARTITION):
        first = last = tags[PARTITION]
    if first is None or last is None:
        return None
    return date.fromisoformat(first), date.fromisoformat(last) + timedelta(days=1)


def chunks(start: date, end: date, days: int = DAYS_PER_RUN) -> Iterator[tuple[date, date]]:
    """[start, end) in consecutive ranges of at most `days` days, oldest first: the runs a
    multi-run backfill of those partitions is made of."""
    at = start
    while at < end:
        upto = min(at + timedelta(days=days), end)
        yield at, upto
        at = upto


def is_daily_run(tags: Mapping[str, str]) -> bool:
    return tags.get(DAILY_RUN[0]) == DAILY_RUN[1]


def backfill_window(tags: Mapping[str, str]) -> tuple[date, date] | None:
    """The days [start, end) a backfill run reads again; None for the daily run (its sources
    cover the configured window) and for a run without partitions."""
    return None if is_daily_run(tags) else tags_window(tags)


def backfill_tags(start: date, end: date) -> dict[str, str]:
    """The tags of a backfill run of the days [start, end)."""
    return {**window_tags(start, end), BACKFILL_RUN[0]: BACKFILL_RUN[1]}


def daily_tags(start: date, end: date, lookback_days: int) -> dict[str, str]:
    """The tags of the daily run over the configured window [start, end): its partitions are
    the window's last `lookback_days + 1` days."""
    first = max(start, end - timedelta(days=lookback_days + 1))
    return {**window_tags(first, end), DAILY_RUN[0]: DAILY_RUN[1]}


def daily_run_tags(settings: Any = None) -> dict[str, str]:
    """`daily_tags` of the configured window (settings from the environment unless given);
    ConfigError when the window does not fit the partitions."""
    if settings is None:
        from orchestration.settings import load_settings

        settings = load_settings()
    window_tags(settings.start_date, settings.end_date)  # the whole window must be partitions
    return daily_tags(settings.start_date, settings.end_date, settings.lookback_days)
