"""The pipeline reads the server the env vars name, with totals known by hand.

The server here is `tests/support/fake_provider_api.py`, which shares no code with the
simulator, so these totals check the sources and models, not the simulator against itself.
"""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from tests.conftest import fact_by_provider_day, failed_checks, passed_checks, query
from tests.support.fake_provider_api import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    FakeProviderAPI,
    default_payloads,
)

pytestmark = pytest.mark.integration

WINDOW = {"AISPEND_START_DATE": "2026-03-01", "AISPEND_END_DATE": "2026-03-03"}


def endpoint_env(api: FakeProviderAPI) -> dict[str, str]:
    return {
        "AISPEND_PROVIDERS": "openai,anthropic",
        "OPENAI_ADMIN_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": f"{api.url}/v1",
        "ANTHROPIC_ADMIN_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": api.url,
        **WINDOW,
    }


def test_configured_servers_are_read_and_reconcile_to_the_cent(run_pipeline, warehouse):
    with FakeProviderAPI() as api:
        result = run_pipeline(**endpoint_env(api))

    assert failed_checks(result) == []
    assert passed_checks(result) > 20
    paths = {r["path"] for r in api.requests}
    assert "/v1/organization/usage/embeddings" in paths
    assert "/v1/organization/usage/code_interpreter_sessions" in paths
    assert paths >= {
        "/v1/organization/usage/completions",
        "/v1/organization/costs",
        "/v1/organizations/usage_report/messages",
        "/v1/organizations/cost_report",
        "/v1/organizations/usage_report/claude_code",
    }
    # both pages of the paged endpoints were fetched, with the cursor the server handed out
    pages = [r["query"].get("page") for r in api.requests if "usage" in r["path"]]
    assert sorted(p[0] for p in pages if p) == ["page_MjAyNi0wMy0wMg==", "page_two"]
    # the window went out as asked, in each provider's own form
    openai_usage = next(r for r in api.requests if r["path"].endswith("/completions"))
    assert openai_usage["query"]["start_time"] == ["1772323200"]
    assert openai_usage["query"]["end_time"] == ["1772496000"]
    assert sorted(openai_usage["query"]["group_by"]) == sorted(
        ["project_id", "user_id", "api_key_id", "model", "batch", "service_tier"]
    )
    anthropic_usage = next(r for r in api.requests if r["path"].endswith("/messages"))
    assert anthropic_usage["query"]["starting_at"] == ["2026-03-01T00:00:00Z"]
    assert "workspace_id" in anthropic_usage["query"]["group_by[]"]

    fact = fact_by_provider_day(warehouse)
    assert fact[("openai", "2026-03-01")]["billed_cost_usd"] == Decimal("1.9645")
    assert fact[("openai", "2026-03-02")]["billed_cost_usd"] == Decimal("0.0123456789")
    assert fact[("anthropic", "2026-03-01")]["billed_cost_usd"] == Decimal("1.661339")
    assert ("anthropic", "2026-03-02") not in fact

    # OpenAI's input_tokens includes cached tokens; the fact stores the non-cached part
    assert fact[("openai", "2026-03-01")] | {"billed_cost_usd": None} == {
        "billed_cost_usd": None,
        "input_tokens": 2800,
        "cached_input_tokens": 200,
        "cache_write_tokens": 0,
        "output_tokens": 600,
        "requests": 15,
    }
    assert fact[("openai", "2026-03-02")]["input_tokens"] == 200
    assert fact[("anthropic", "2026-03-01")] | {"billed_cost_usd": None} == {
        "billed_cost_usd": None,
        "input_tokens": 1500,
        "cached_input_tokens": 400,
        "cache_write_tokens": 100,
        "output_tokens": 250,
        "requests": None,
    }

    # Anthropic bills per workspace: the input line goes to the only key that used it, the
    # default workspace's web search (no key reported searches there) stays unattributed
    by_key = dict(
        query(
            warehouse,
            "select coalesce(api_key_id, '-') || '/' || charge_type, sum(billed_cost_usd) "
            "from marts.fct_ai_spend where provider = 'anthropic' group by 1",
        )
    )
    assert by_key == {
        "apikey_1/usage": Decimal("1.521339"),
        "apikey_2/usage": Decimal("0"),
        "-/web_search": Decimal("0.14"),
    }
    # every dollar lands: the "Web search" line item is a tool charge of the project, no key
    openai_by_charge = dict(
        query(
            warehouse,
            "select charge_type || '/' || coalesce(api_key_id, '-'), sum(billed_cost) "
            "from marts.fct_ai_spend where provider = 'openai' group by 1",
        )
    )
    assert openai_by_charge == {
        "usage/key_a": Decimal("0.2145"),
        "usage/key_b": Decimal("1.25"),
        "usage/key_c": Decimal("0.0123456789"),
        "tool/-": Decimal("0.5"),
    }
    models = {r[0] for r in query(warehouse, "select model_family from marts.dim_model")}
    assert models == {"gpt-4o-mini", "gpt-4o", "claude-sonnet-4"}
    keys = query(warehouse, "select count(*) from marts.dim_api_key")[0][0]
    assert keys == 5


def test_providers_variable_limits_the_run(run_pipeline, warehouse):
    with FakeProviderAPI() as api:
        result = run_pipeline(**{**endpoint_env(api), "AISPEND_PROVIDERS": "openai"})

    assert failed_checks(result) == []
    paths = {r["path"] for r in api.requests}
    assert {"/v1/organization/usage/completions", "/v1/organization/costs"} <= paths
    assert not any("organizations" in p for p in paths)  # nothing asked of Anthropic
    providers = {r[0] for r in query(warehouse, "select distinct provider from marts.fct_ai_spend")}
    assert providers == {"openai"}


def test_restated_day_replaces_the_earlier_value(run_pipeline, warehouse):
    payloads = default_payloads()
    with FakeProviderAPI(payloads) as api:
        run_pipeline(**endpoint_env(api))
        before = fact_by_provider_day(warehouse)

        # the provider restates 2 March: the cost grows, and a usage row moves to another key
        restated = copy.deepcopy(payloads)
        day2_costs = restated["openai_cost_pages"][0]["data"][1]["results"]
        day2_costs[0]["amount"]["value"] = 0.75
        usage_row = restated["openai_usage_pages"][1]["data"][0]["results"][0]
        usage_row["api_key_id"] = "key_d"
        api.payloads = restated
        result = run_pipeline(**endpoint_env(api))

    assert failed_checks(result) == []
    after = fact_by_provider_day(warehouse)
    assert before[("openai", "2026-03-02")]["billed_cost_usd"] == Decimal("0.0123456789")
    assert after[("openai", "2026-03-02")]["billed_cost_usd"] == Decimal("0.75")
    # untouched days keep their values; nothing is appended twice
    assert after[("openai", "2026-03-01")] == before[("openai", "2026-03-01")]
    assert after[("anthropic", "2026-03-01")] == before[("anthropic", "2026-03-01")]
    keys = query(
        warehouse,
        "select api_key_id from raw_openai.completions_usage where start_time = 1772409600",
    )
    assert keys == [("key_d",)]
