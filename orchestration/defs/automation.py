"""The daily job and its schedule (RUNNING by default: a stopped schedule alerts nobody)."""

from __future__ import annotations

import dagster as dg

from orchestration.partitions import daily_run_tags
from orchestration.settings import ConfigError, load_settings

daily_job = dg.define_asset_job(
    name="aispend_daily",
    selection=dg.AssetSelection.all(),
    description=(
        "Land every provider's billing data, rebuild the models and run all checks. The "
        "ingestion assets are partitioned by day: a run names its days with a partition range; "
        "the schedule's and `aispend run`'s daily run (tag aispend/run=daily) covers the "
        "configured window and names its last days."
    ),
)


@dg.schedule(
    name="aispend_daily_schedule",
    job=daily_job,
    # providers finalise the previous UTC day within a few hours; 06:00 UTC leaves margin
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The daily run over the configured window (AISPEND_START_DATE..END_DATE).",
)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    try:
        tags = daily_run_tags(load_settings())
    except ConfigError as exc:
        return dg.SkipReason(f"configuration error: {exc}")
    return dg.RunRequest(tags=tags)
