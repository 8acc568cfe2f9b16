"""The daily job and its schedule (RUNNING by default: a stopped schedule alerts nobody)."""

from __future__ import annotations

import dagster as dg

daily_job = dg.define_asset_job(
    name="aispend_daily",
    selection=dg.AssetSelection.all(),
    description="Land every provider's billing data, rebuild the models and run all checks.",
)

daily_schedule = dg.ScheduleDefinition(
    name="aispend_daily_schedule",
    job=daily_job,
    # providers finalise the previous UTC day within a few hours; 06:00 UTC leaves margin
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
