"""File exports written after each run: the FOCUS 1.2 Cost and Usage file (Parquet and CSV).

No `from __future__ import annotations` here: Dagster inspects the context annotation.
"""

import os
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import get_asset_key_for_model

from orchestration.defs.ingestion import OWNERS, WRITE_POOL
from orchestration.defs.transform import dbt_models
from orchestration.focus_export import export_focus
from orchestration.serving import SERVING_FILE, publish, serving_dir
from orchestration.settings import duckdb_config, load_settings


@dg.asset(
    key=["exports", "focus_ai_spend_files"],
    deps=[get_asset_key_for_model([dbt_models], "focus_ai_spend")],
    group_name="serving",
    owners=OWNERS,
    kinds={"parquet", "csv"},
    pool=WRITE_POOL,
    description=(
        "marts.focus_ai_spend written as FOCUS 1.2 Cost and Usage files (Parquet and CSV) "
        "beside the warehouse, for FinOps tools that import FOCUS; `make focus-validate` "
        "checks the CSV with the FinOps Foundation's validator."
    ),
)
def focus_ai_spend_files(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Write the FOCUS files atomically (temp file, then rename) and report what was written."""
    settings = load_settings()
    result = export_focus(settings, settings.warehouse.parent / "exports" / "focus")
    context.log.info(
        f"FOCUS 1.2 export: {result.rows:,} rows, BilledCost {result.billed_cost_by_currency} "
        f"-> {result.csv_path}, {result.parquet_path}"
    )
    return dg.MaterializeResult(
        metadata={
            "rows": result.rows,
            "csv": dg.MetadataValue.path(str(result.csv_path)),
            "parquet": dg.MetadataValue.path(str(result.parquet_path)),
            "billed_cost_by_currency": dg.MetadataValue.json(result.billed_cost_by_currency),
        }
    )


def _served_keys() -> list[dg.AssetKey]:
    """Every marts model and analytics table: the copy waits for all of them."""
    from orchestration.defs.analytics import analytics_assets

    marts = [key for key in dbt_models.keys if key.path[0] == "marts"]
    analytics = [key for assets_def in analytics_assets for key in assets_def.keys]
    return [*marts, *analytics]


@dg.asset(
    key=["serving", "warehouse_copy"],
    deps=_served_keys(),
    group_name="serving",
    owners=OWNERS,
    kinds={"duckdb", "parquet"},
    pool=WRITE_POOL,
    description=(
        "What BI tools read: the marts and analytics tables copied to data/serving/aispend.duckdb "
        "(DuckDB v1.0 storage, opens in DuckDB 1.x drivers) and data/serving/parquet/, swapped "
        "in with a rename after each run, so a reader never waits on the pipeline's lock or "
        "sees a half-written table."
    ),
)
def serving_copy(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Publish the copy and report its tables and row counts."""
    settings = load_settings()
    result = publish(settings, serving_dir(settings.warehouse))
    context.log.info(
        f"serving copy: {len(result.tables)} tables in {result.seconds:.1f} s -> {result.database}"
    )
    return dg.MaterializeResult(
        metadata={
            "database": dg.MetadataValue.path(str(result.database)),
            "parquet": dg.MetadataValue.path(str(result.parquet_dir)),
            "tables": dg.MetadataValue.json(result.tables),
            "seconds": round(result.seconds, 1),
        }
    )


def reports_dir(warehouse: Path) -> Path:
    """`AISPEND_REPORTS_DIR`, else `reports/` beside the warehouse file."""
    raw = os.environ.get("AISPEND_REPORTS_DIR", "").strip()
    return Path(raw).expanduser().resolve() if raw else warehouse.parent / "reports"


@dg.asset(
    key=["reports", "daily_report"],
    deps=[*_served_keys(), dg.AssetKey(["serving", "warehouse_copy"])],
    group_name="serving",
    owners=OWNERS,
    kinds={"html"},
    pool=WRITE_POOL,
    description=(
        "The daily report: one self-contained HTML file (no network needed to open it) with "
        "spend by provider and team, the month-end forecast against budgets, top movers, "
        "anomalies with their drivers, unit economics and savings, read from the serving copy. "
        "Written to data/reports/ "
        "(aispend-report-<date>.html and latest.html) and attached to email alerts."
    ),
)
def daily_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Render the report from the serving copy (what BI tools read; on either target) and link
    it from the metadata."""
    from reports import render_daily_report

    settings = load_settings()
    out_dir = reports_dir(settings.warehouse)
    served = serving_dir(settings.warehouse) / SERVING_FILE
    with duckdb.connect(str(served), read_only=True, config=duckdb_config()) as con:
        result = render_daily_report(
            con, settings.end_date, out_dir, dagster_url=os.environ.get("AISPEND_DAGSTER_URL")
        )
    for warning in result.warnings:
        context.log.warning(f"daily report: {warning}")
    context.log.info(f"daily report: {result.path} ({result.bytes:,} bytes)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "latest": dg.MetadataValue.url(result.latest.as_uri()),
            "bytes": result.bytes,
            "sections": dg.MetadataValue.json(list(result.sections)),
            "warnings": len(result.warnings),
        }
    )
