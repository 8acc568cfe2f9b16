"""Blocking checks on the spend fact beyond dbt's: every provider is fresh and has every day.

They block what reads the fact (analytics, report, serving copy) and make the alert sensor say
the data are not trustworthy instead of reporting anomalies.

No `from __future__ import annotations` here: Dagster inspects the function signatures.
"""

import dagster as dg
import duckdb
from dagster_dbt import get_asset_key_for_model

from orchestration.defs.ingestion import WRITE_POOL
from orchestration.defs.transform import dbt_models
from orchestration.quality import missing_days, stale_providers
from orchestration.settings import load_settings

FACT = get_asset_key_for_model([dbt_models], "fct_ai_spend")


@dg.asset_check(
    asset=FACT,
    name="every_provider_is_fresh",
    blocking=True,
    pool=WRITE_POOL,
    description=(
        "Each enabled billing provider has spend up to the run's last day minus its usual "
        "delay (2 days for the APIs, 3 for cloud billing exports)."
    ),
)
def every_provider_is_fresh() -> dg.AssetCheckResult:
    settings = load_settings()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        stale = stale_providers(
            con, list(settings.providers), settings.start_date, settings.end_date
        )
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f"{p}: {why}" for p, why in stale.items()) or None,
        metadata={"stale_providers": dg.MetadataValue.json(stale)},
    )


@dg.asset_check(
    asset=FACT,
    name="no_provider_misses_a_day",
    blocking=True,
    pool=WRITE_POOL,
    description=(
        "No enabled billing provider has a hole between its first and last day in the window "
        "(a hole is a failed or skipped load, not a day without spend)."
    ),
)
def no_provider_misses_a_day() -> dg.AssetCheckResult:
    settings = load_settings()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        holes = missing_days(con, list(settings.providers), settings.start_date, settings.end_date)
    summary = {p: [d.isoformat() for d in days[:10]] for p, days in holes.items()}
    return dg.AssetCheckResult(
        passed=not holes,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(
            f"{p}: {len(days)} day(s) missing, first {days[0]}" for p, days in holes.items()
        )
        or None,
        metadata={"missing_days": dg.MetadataValue.json(summary)},
    )


fact_checks = [every_provider_is_fresh, no_provider_misses_a_day]
