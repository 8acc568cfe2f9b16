"""The export-file control totals as blocking Dagster checks, in a real in-process daily run."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import dagster as dg
import dlt
import pytest

from ingestion.focus import focus_source
from orchestration.alerting import failed_checks
from tests.conftest import clean_env, query

pytestmark = pytest.mark.integration

START, END = date(2026, 8, 10), date(2026, 8, 20)
FILE_CHECKS = {
    "aws_cur_files_reconcile": "raw_aws_cur/cur_line_items",
    "gcp_billing_files_reconcile": "raw_gcp_billing/billing_export",
    "azure_cost_files_reconcile": "raw_azure_cost/cost_details",
    "focus_files_reconcile": "raw_focus/focus_rows",
}


def retired_focus_file(folder: Path) -> Path:
    """A FOCUS file of a billing account the export no longer delivers."""
    path = folder / "focus-ba-retired-202608.csv"
    folder.mkdir(parents=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodStart",
                    "ChargePeriodStart", "ServiceCategory", "ProviderName"])  # fmt: skip
        for day in (11, 12):
            start = f"2026-08-{day}T00:00:00Z"
            w.writerow(["12.34", "ba-retired", "USD", "2026-08-01T00:00:00Z", start,
                        "AI and Machine Learning", "Microsoft"])  # fmt: skip
    return path


def test_stale_raw_rows_fail_the_focus_check_and_block_the_models_downstream(tmp_path: Path):
    """The warehouse holds FOCUS rows of a file the export no longer delivers (an account
    retired, a path changed): no merge replaces them, so the daily run's check fails naming the
    file, the dbt models that read the raw tables do not run, and the alert sensor's query sees
    the failed check. The other three export sources reconcile, file by file."""
    warehouse = tmp_path / "warehouse.duckdb"
    stale = retired_focus_file(tmp_path / "old_focus")
    dlt.pipeline(
        pipeline_name="focus_before",
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name="raw_focus",
        pipelines_dir=str(tmp_path / "pl"),
    ).run(focus_source(str(stale.parent), START, END))

    from orchestration.definitions import defs
    from orchestration.partitions import daily_run_tags

    with pytest.MonkeyPatch.context() as mp:
        clean_env(mp)
        mp.setenv("AISPEND_WAREHOUSE", str(warehouse))
        mp.setenv("AISPEND_START_DATE", START.isoformat())
        mp.setenv("AISPEND_END_DATE", END.isoformat())
        job = defs.resolve_job_def("aispend_daily")
        with dg.DagsterInstance.ephemeral() as instance:
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, tags=daily_run_tags()
            )
            alerted = failed_checks(instance, result.run_id)

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for name, asset in FILE_CHECKS.items():
        assert evaluations[name].asset_key.to_user_string() == asset
    for name in ("aws_cur_files_reconcile", "gcp_billing_files_reconcile",
                 "azure_cost_files_reconcile"):  # fmt: skip
        check = evaluations[name]
        assert check.passed, check.description
        assert check.metadata["files_checked"].value > 0
        assert check.metadata["mismatch_count"].value == 0
    focus = evaluations["focus_files_reconcile"]
    assert not focus.passed and focus.severity == dg.AssetCheckSeverity.ERROR
    assert str(stale) in focus.description and "file not delivered" in focus.description
    [mismatch] = focus.metadata["mismatches"].value
    assert mismatch["file"] == str(stale) and mismatch["warehouse_value"].startswith("2 raw row")

    # blocking: nothing downstream of raw_focus ran (the dbt models that read it are in the
    # same dbt step as every other source's, so that whole step did not run)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    focus_rows = dg.AssetKey(["raw_focus", "focus_rows"])
    downstream = dg.AssetSelection.assets(focus_rows).downstream().resolve(
        defs.resolve_asset_graph()
    ) - {focus_rows}
    fact = dg.AssetKey(["marts", "fct_ai_spend"])
    assert {fact, dg.AssetKey(["staging", "stg_focus__focus_rows"])} <= downstream
    assert focus_rows in materialized and dg.AssetKey(["raw_openai", "costs"]) in materialized
    assert not materialized & downstream
    built = "select count(*) from information_schema.tables where table_name = 'fct_ai_spend'"
    assert query(warehouse, built) == [(0,)]
    assert not result.success
    assert [c["check_name"] for c in alerted] == ["focus_files_reconcile"]
    assert str(stale) in alerted[0]["message"]
