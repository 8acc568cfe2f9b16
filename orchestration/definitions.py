"""The aispend code location: ingestion (dlt) → staging → intermediate → marts (dbt) → analytics
(Python) and exports."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.alerting import alert_sensors
from orchestration.defs.analytics import analytics_assets
from orchestration.defs.automation import daily_job, daily_schedule
from orchestration.defs.checks import fact_checks, file_checks
from orchestration.defs.exports import daily_report, focus_ai_spend_files, serving_copy
from orchestration.defs.ingestion import source_assets
from orchestration.defs.reference import reference_assets
from orchestration.defs.transform import dbt_models
from orchestration.resources import build_resources

defs = dg.Definitions(
    assets=[
        *source_assets,
        *reference_assets,
        dbt_models,
        *analytics_assets,
        focus_ai_spend_files,
        serving_copy,
        daily_report,
    ],
    asset_checks=[*file_checks, *fact_checks],
    jobs=[daily_job],
    schedules=[daily_schedule],
    sensors=alert_sensors,
    resources=build_resources(),
)
