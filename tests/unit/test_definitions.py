"""The code location as the Dagster UI and the daemon see it."""

import dagster as dg
import yaml

from orchestration.definitions import defs
from orchestration.settings import PROJECT_ROOT


def test_one_connected_lineage_graph_with_no_dangling_keys():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "raw_openai/completions_usage",
        "raw_openai/costs",
        "raw_anthropic/messages_usage",
        "raw_anthropic/cost_report",
        "staging/stg_openai__costs",
        "intermediate/int_spend_lines_unioned",
        "marts/fct_ai_spend",
        "marts/dim_model",
        "marts/dim_api_key",
    } <= keys
    # every dependency is an asset defined here: dlt keys line up with the dbt sources
    for key in graph.get_all_asset_keys():
        for parent in graph.get(key).parent_keys:
            assert graph.has(parent) and graph.get(parent).is_materializable, (key, parent)
    parents = {
        p.to_user_string()
        for p in graph.get(dg.AssetKey(["staging", "stg_openai__costs"])).parent_keys
    }
    assert parents == {"raw_openai/costs"}
    assert graph.get(dg.AssetKey(["marts", "fct_ai_spend"])).group_name == "marts"
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups == {"ingestion", "staging", "intermediate", "marts", "analytics", "serving"}


def test_analytics_assets_read_the_allocated_fact_and_chain_budgets_to_forecasts():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    analytics = {
        "analytics/unit_economics_daily",
        "analytics/unit_economics_monthly",
        "analytics/forecast_daily",
        "analytics/forecast_month_end",
        "analytics/forecast_backtest",
        "analytics/anomaly_scores",
        "analytics/anomalies",
        "analytics/anomaly_drivers",
        "analytics/detection_quality",
        "analytics/budget_status",
        "analytics/budget_threshold_crossings",
    }
    assert analytics <= keys
    allocated = dg.AssetKey(["marts", "fct_ai_spend_allocated"])
    for name in ("forecast_daily", "anomalies", "unit_economics_daily", "forecast_backtest"):
        assert allocated in graph.get(dg.AssetKey(["analytics", name])).parent_keys, name
    budget_parents = graph.get(dg.AssetKey(["analytics", "budget_status"])).parent_keys
    assert dg.AssetKey(["analytics", "forecast_month_end"]) in budget_parents
    for key in analytics:
        node = graph.get(dg.AssetKey(key.split("/")))
        assert node.group_name == "analytics" and node.description, key


def test_dbt_tests_are_asset_checks_including_reconciliation():
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert "assert_fct_ai_spend_billed_cost_reconciles" in checks
    assert "assert_fct_ai_spend_tokens_reconcile" in checks
    assert "unique_fct_ai_spend_spend_key" in checks


def test_allocation_reconciliation_is_a_blocking_check_on_the_allocated_fact():
    """A failing reconciliation stops what reads the allocated fact (the FOCUS export too)."""
    specs = {
        spec.key.name: spec
        for assets_def in defs.assets
        if isinstance(assets_def, dg.AssetsDefinition)
        for spec in assets_def.check_specs
    }
    for name in (
        "assert_allocated_spend_reconciles_to_the_bill",
        "assert_every_spend_row_is_allocated_once",
    ):
        spec = specs[name]
        assert spec.blocking, name
        assert spec.asset_key == dg.AssetKey(["marts", "fct_ai_spend_allocated"])
    graph = defs.resolve_asset_graph()
    export = graph.get(dg.AssetKey(["exports", "focus_ai_spend_files"]))
    assert export.parent_keys == {dg.AssetKey(["marts", "focus_ai_spend"])}


def test_daily_schedule_runs_by_default():
    schedule = defs.resolve_schedule_def("aispend_daily_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "UTC"


def test_every_writer_is_in_the_single_writer_pool():
    assert {a.op.pool for a in defs.assets} == {"duckdb_write"}
    instance_yaml = yaml.safe_load((PROJECT_ROOT / "orchestration" / "dagster.yaml").read_text())
    assert instance_yaml["concurrency"]["pools"]["default_limit"] == 1
    assert instance_yaml["concurrency"]["runs"]["max_concurrent_runs"] == 1


def test_every_asset_has_an_owner_and_a_description():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:finops-data"], key
        assert node.description, key


def test_analytics_refuse_an_allocation_that_does_not_add_up():
    """The gate in front of every analytics asset (a failed dbt test does not stop them)."""
    from datetime import date

    import duckdb
    import pytest

    from orchestration.defs.analytics import assert_allocation_reconciles

    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_ai_spend as select 'openai' as provider, "
        "date '2026-11-01' as usage_date, 'USD' as billing_currency, 10.00 as billed_cost"
    )
    con.execute("create table marts.fct_ai_spend_allocated as select * from marts.fct_ai_spend")
    assert_allocation_reconciles(con, date(2026, 11, 1), date(2026, 11, 2))
    con.execute("update marts.fct_ai_spend_allocated set billed_cost = 9.99")
    with pytest.raises(dg.Failure, match=r"openai 2026-11-01 USD: bill 10.00 vs allocated 9.99"):
        assert_allocation_reconciles(con, date(2026, 11, 1), date(2026, 11, 2))


def test_export_files_reconcile_in_blocking_checks_on_their_raw_tables_in_the_daily_job():
    """One control-total check per export source, on the raw table it lands, blocking the dbt
    models that read it, and run by the daily job."""
    expected = {
        "aws_cur_files_reconcile": ["raw_aws_cur", "cur_line_items"],
        "gcp_billing_files_reconcile": ["raw_gcp_billing", "billing_export"],
        "azure_cost_files_reconcile": ["raw_azure_cost", "cost_details"],
        "focus_files_reconcile": ["raw_focus", "focus_rows"],
    }
    specs = {spec.key.name: spec for checks in defs.asset_checks for spec in checks.check_specs}
    job_checks = defs.resolve_job_def("aispend_daily").asset_layer.asset_graph.asset_check_keys
    graph = defs.resolve_asset_graph()
    for name, key in expected.items():
        spec = specs[name]
        assert spec.blocking and spec.asset_key == dg.AssetKey(key), name
        assert "raw" in spec.description and "quarantine" in spec.description
        assert spec.key in job_checks, name
        assert graph.get(dg.AssetKey(key)).child_keys, f"nothing reads {key}"
