"""The whole Dagster graph on the embedded simulator, checked against its ground truth."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.simulator import SimConfig, Simulator
from ingestion.simulator.exports import daily_totals as export_totals
from tests.conftest import clean_env, fact_by_provider_day, failed_checks, materialize_all, query

pytestmark = pytest.mark.integration

START, END = date(2026, 8, 1), date(2026, 9, 1)
WINDOW = {"AISPEND_START_DATE": START.isoformat(), "AISPEND_END_DATE": END.isoformat()}
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


def truth(seed: int = 42) -> dict[tuple[str, str], dict]:
    with Simulator(SimConfig(seed=seed, start=START, end=END)) as sim:
        return {(t["provider"], t["date"]): t for t in sim.daily_totals()}


def billed_truth(seed: int = 42) -> dict[tuple[str, str, str], tuple[Decimal, int]]:
    """(provider, day, currency) -> (billed cost in that currency, all tokens) for every source
    that bills: the APIs, Cursor and the cloud export files."""
    config = SimConfig(seed=seed, start=START, end=END)
    out: dict[tuple[str, str, str], tuple[Decimal, int]] = {}
    with Simulator(config) as sim:
        for t in [*sim.daily_totals(), *sim.cursor_daily_totals()]:
            tokens = sum(t[f] for f in TOKEN_FIELDS)
            out[(t["provider"], str(t["date"]), "USD")] = (t["billed_cost_usd"], tokens)
    for t in export_totals(config):
        key = (t["provider"], str(t["date"]), t["billing_currency"])
        out[key] = (t["billed_cost"], t["tokens"])
    return out


def fact_by_currency(warehouse: Path) -> dict[tuple[str, str, str], tuple[Decimal, int]]:
    rows = query(
        warehouse,
        "select provider, cast(usage_date as varchar), billing_currency, sum(billed_cost), "
        "sum(total_input_tokens + output_tokens) from marts.fct_ai_spend group by 1, 2, 3",
    )
    return {(r[0], r[1], r[2]): (Decimal(r[3]), int(r[4])) for r in rows}


def assert_matches_truth(fact: dict, expected: dict) -> None:
    for key, t in expected.items():
        row = fact.get(key)
        if row is None:
            assert t["billed_cost_usd"] == 0, f"{key} missing from the fact table"
            continue
        diff = abs(row["billed_cost_usd"] - t["billed_cost_usd"])
        assert diff < Decimal("0.005"), f"{key}: fact {row['billed_cost_usd']} vs {t}"
        for field in TOKEN_FIELDS:
            assert row[field] == t[field], f"{key} {field}: {row[field]} vs {t[field]}"
        if key[0] == "openai":
            assert row["requests"] == t["requests"]
    assert set(fact) <= set(expected)


@pytest.fixture(scope="module")
def simulated_run(tmp_path_factory: pytest.TempPathFactory):
    """One run of the whole graph with no keys set: the simulator serves both providers."""
    warehouse = tmp_path_factory.mktemp("sim") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        clean_env(mp)
        mp.setenv("AISPEND_WAREHOUSE", str(warehouse))
        for name, value in WINDOW.items():
            mp.setenv(name, value)
        result = materialize_all()
        yield warehouse, result, mp


def test_whole_graph_matches_the_simulator_ground_truth(simulated_run):
    warehouse, result, _ = simulated_run
    assert failed_checks(result) == []
    fact = fact_by_provider_day(warehouse)
    expected = truth()
    api_fact = {k: v for k, v in fact.items() if k[0] in ("openai", "anthropic")}
    assert len(api_fact) == 2 * (END - START).days
    assert_matches_truth(api_fact, expected)

    # every provider, in its billing currency: billed cost to the cent, tokens exactly
    billed, expected_billed = fact_by_currency(warehouse), billed_truth()
    assert {p for p, _, _ in billed} == {
        "openai",
        "anthropic",
        "cursor",
        "aws_bedrock",
        "gcp_vertex",
        "azure_openai",
    }
    for key in set(billed) | set(expected_billed):
        got, want = billed.get(key, (Decimal(0), 0)), expected_billed.get(key, (Decimal(0), 0))
        assert abs(got[0] - want[0]) < Decimal("0.005"), (key, got, want)
        assert got[1] == want[1], (key, got, want)
    assert ("azure_openai", "2026-08-03", "EUR") in billed  # a non-USD bill kept its currency
    total_fact = sum(r["billed_cost_usd"] for r in api_fact.values())
    total_truth = sum(t["billed_cost_usd"] for t in expected.values())
    assert abs(total_fact - total_truth) < Decimal("0.01")
    columns = {r[0] for r in query(warehouse, "describe marts.fct_ai_spend")}
    assert {
        "usage_date",
        "provider",
        "model",
        "project_id",
        "api_key_id",
        "billed_cost_usd",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "requests",
    } <= columns


def test_claude_code_attributes_spend_without_adding_any(simulated_run):
    """Claude Code through API keys is already on the Anthropic bill: its report adds
    developer detail (sessions, pull requests) but not a dollar to the organisation's total."""
    warehouse, _, _ = simulated_run
    rows = query(
        warehouse,
        "select customer_type, count(*), sum(billed_cost_usd), sum(estimated_cost_usd), "
        "sum(pull_requests) from marts.fct_developer_tool_usage where tool = 'claude_code' "
        "group by 1 order by 1",
    )
    by_type = {r[0]: r[1:] for r in rows}
    assert by_type["api"][0] > 0 and by_type["api"][1] == 0 and by_type["api"][2] > 0
    assert by_type["api"][3] > 0
    # the Anthropic total in the fact is the Anthropic bill, to the cent, Claude Code or not
    expected = sum(t["billed_cost_usd"] for k, t in truth().items() if k[0] == "anthropic")
    (total,) = query(
        warehouse, "select sum(billed_cost) from marts.fct_ai_spend where provider = 'anthropic'"
    )[0]
    assert abs(Decimal(total) - expected) < Decimal("0.01")


def test_running_the_same_window_again_changes_no_total(simulated_run):
    warehouse, _, _mp = simulated_run
    tables = [
        "raw_openai.completions_usage",
        "raw_openai.costs",
        "raw_anthropic.messages_usage",
        "raw_anthropic.cost_report",
        "raw_cursor.usage_events",
        "raw_claude_code.claude_code_usage",
        "raw_aws_cur.cur_line_items",
        "raw_gcp_billing.billing_export",
        "raw_azure_cost.cost_details",
        "raw_focus.focus_rows",
        "raw_telemetry.otlp_spans",
        "raw_telemetry.request_log",
        "marts.fct_ai_spend",
        "marts.fct_developer_tool_usage",
    ]

    def counts() -> dict[str, int]:
        return {t: query(warehouse, f"select count(*) from {t}")[0][0] for t in tables}

    before_fact, before_counts = fact_by_provider_day(warehouse), counts()
    result = materialize_all()
    assert failed_checks(result) == []
    assert fact_by_provider_day(warehouse) == before_fact
    assert counts() == before_counts


def test_restated_simulator_day_replaces_the_loaded_value(env, tmp_path: Path):
    """Point the pipeline at a simulator the test controls, restate a day, run again."""
    env.setenv("AISPEND_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    start, end = date(2026, 8, 20), date(2026, 9, 1)
    env.setenv("AISPEND_START_DATE", start.isoformat())
    env.setenv("AISPEND_END_DATE", end.isoformat())
    env.setenv("AISPEND_PROVIDERS", "openai,anthropic")
    config = SimConfig(seed=7, start=start, end=end)
    with Simulator(config) as sim:
        env.setenv("OPENAI_ADMIN_KEY", config.openai_key)
        env.setenv("OPENAI_BASE_URL", sim.openai_base_url)
        env.setenv("ANTHROPIC_ADMIN_KEY", config.anthropic_key)
        env.setenv("ANTHROPIC_BASE_URL", sim.anthropic_base_url)
        materialize_all()
        before = fact_by_provider_day(tmp_path / "warehouse.duckdb")

        restated_day = date(2026, 8, 30)  # inside the 3-day lookback of the next run
        sim.restate("openai", restated_day, factor=1.5)
        sim.restate("anthropic", restated_day, factor=0.5)
        result = materialize_all()
        expected = {(t["provider"], t["date"]): t for t in sim.daily_totals()}

    assert failed_checks(result) == []
    after = fact_by_provider_day(tmp_path / "warehouse.duckdb")
    assert_matches_truth(after, expected)
    key = ("openai", restated_day.isoformat())
    ratio = after[key]["billed_cost_usd"] / before[key]["billed_cost_usd"]
    assert Decimal("1.4") < ratio < Decimal("1.6")  # requests are whole numbers
    untouched = ("openai", "2026-08-25")
    assert after[untouched] == before[untouched]
