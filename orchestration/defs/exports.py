"""File exports written after each run: the FOCUS 1.2 Cost and Usage file (Parquet and CSV).

No `from __future__ import annotations` here: Dagster inspects the context annotation.
"""

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from orchestration.defs.ingestion import WRITE_POOL
from orchestration.defs.transform import dbt_models
from orchestration.focus_export import export_focus
from orchestration.settings import load_settings


@dg.asset(
    key=["exports", "focus_ai_spend_files"],
    deps=[get_asset_key_for_model([dbt_models], "focus_ai_spend")],
    group_name="serving",
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
    result = export_focus(settings.warehouse, settings.warehouse.parent / "exports" / "focus")
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
