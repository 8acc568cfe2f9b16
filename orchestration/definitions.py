"""The aispend code location: ingestion (dlt) → staging → intermediate → marts (dbt) → exports."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.automation import daily_job, daily_schedule
from orchestration.defs.exports import focus_ai_spend_files
from orchestration.defs.ingestion import source_assets
from orchestration.defs.transform import dbt_models
from orchestration.resources import build_resources

defs = dg.Definitions(
    assets=[*source_assets, dbt_models, focus_ai_spend_files],
    jobs=[daily_job],
    schedules=[daily_schedule],
    resources=build_resources(),
)
