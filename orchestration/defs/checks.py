"""Blocking checks beyond dbt's: every export file reconciles with its raw table, and every
provider is fresh and has every day in the spend fact.

The file checks sit on the raw tables and block the dbt models that read them; the fact checks
block what reads the fact (analytics, report, serving copy). A failed one makes the alert
sensor say the data are not trustworthy instead of reporting anomalies.

No `from __future__ import annotations` here: Dagster inspects the function signatures.
"""

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from orchestration import partitions
from orchestration.defs.ingestion import WRITE_POOL
from orchestration.defs.transform import dbt_models
from orchestration.file_totals import EXPORTS, MAX_MISMATCHES, export_folder, reconcile_run
from orchestration.quality import missing_days, stale_providers
from orchestration.settings import load_settings
from orchestration.sources import SOURCES
from orchestration.warehouse import connect

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
    with connect(settings, read_only=True) as con:
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
    with connect(settings, read_only=True) as con:
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


# --------------------------------------------------------------------------- export files

FILE_CHECK_DESCRIPTIONS = {
    "aws_cur": "every CUR file of the window's BILLING_PERIOD folders: rows, and "
    "line_item_unblended_cost summed",
    "gcp_billing": "every billing-export file, rows of the window's invoice months: rows, and "
    "cost and credits summed",
    "azure_cost": "every cost-details file (EA and MCA), rows of the window's billing months: "
    "rows, and CostInBillingCurrency summed",
    "focus": "every FOCUS file, rows of the window's billing periods: rows, and BilledCost summed",
}


def _file_totals_check(source: str) -> dg.AssetChecksDefinition:
    spec = EXPORTS[source]

    @dg.asset_check(
        asset=dg.AssetKey([spec.dataset, spec.table]),
        name=f"{source}_files_reconcile",
        blocking=True,
        pool=WRITE_POOL,
        description=(
            f"Control totals of the export files, read again independently of the loader: "
            f"{FILE_CHECK_DESCRIPTIONS[source]}; per file, the file's rows = rows in "
            f"{spec.dataset}.{spec.table} + rows in {spec.dataset}.quarantine, and the money "
            "of the rows not quarantined = raw's, to 12 decimals. Raw rows of a file no longer "
            "delivered fail it too. Blocks the dbt models of the source."
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        settings = load_settings()
        # the files of the run's days: the daily run checks the configured window's, a
        # backfill run of a month that month's
        window = partitions.backfill_window(context.run.tags)
        provider = SOURCES[source].provider
        if provider not in settings.providers:
            return dg.AssetCheckResult(
                passed=True,
                description=f"{provider} is not in AISPEND_PROVIDERS: nothing to reconcile",
                metadata={"folder": str(export_folder(source, settings))},
            )
        with connect(settings, read_only=True) as con:
            result = reconcile_run(con, source, settings, window=window)
        totals = {k: str(v) for k, v in result.totals().items()}
        files = [
            {
                "file": f.file,
                "rows": f.rows,
                "raw_rows": f.raw_rows,
                "quarantined": f.quarantined,
                **{k: str(v) for k, v in f.totals.items()},
            }
            for f in result.files
        ]
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=result.summary(),
            metadata={
                "folder": result.folder,
                "months": ", ".join(result.months),
                "files_checked": len(result.files),
                "rows": sum(f.rows for f in result.files),
                "rows_quarantined": sum(f.quarantined for f in result.files),
                "totals": dg.MetadataValue.json(totals),
                "mismatch_count": len(result.mismatches),
                "mismatches": dg.MetadataValue.json(
                    [m.as_dict() for m in result.mismatches[:MAX_MISMATCHES]]
                ),
                "files": dg.MetadataValue.json(files[:100]),
            },
        )

    return _check


file_checks = [_file_totals_check(source) for source in EXPORTS]
