"""The HTTP layer under the simulator's fault modes: retries, page checks, errors with context.

Each test reads one real endpoint of a real simulator server (no mocks) through the same client
the sources use, with a retry budget small enough to run in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from ingestion._common import (
    BucketPages,
    HttpPolicy,
    SourceFetchError,
    cursor_client,
    day_start_unix,
)
from ingestion.simulator import SimConfig, Simulator
from ingestion.simulator.faults import FaultPlan, parse_modes

START, END = date(2026, 8, 1), date(2026, 8, 15)
WINDOW = (day_start_unix(START), day_start_unix(END))
# Short backoffs, but a timeout a loaded CI machine never reaches: a fault served once (a
# skipped or repeated page) that the client timed out on would be retried unfaulted and the
# test would see nothing. Only the `slow` mode needs a timeout shorter than its delay.
FAST = {
    "AISPEND_HTTP_TIMEOUT_SECONDS": "10",
    "AISPEND_HTTP_BACKOFF_SECONDS": "0.05",
    "AISPEND_HTTP_MAX_ATTEMPTS": "3",
    "AISPEND_HTTP_MAX_RETRY_DELAY_SECONDS": "1",
}


@pytest.fixture
def fast_http(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)


def costs(sim: Simulator) -> BucketPages:
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth

    client = cursor_client(
        sim.openai_base_url, {}, auth=BearerTokenAuth(token=sim.config.openai_key)
    )
    params = {
        "start_time": WINDOW[0],
        "end_time": WINDOW[1],
        "bucket_width": "1d",
        "limit": 31,
        "group_by": ["project_id", "line_item", "api_key_id"],
    }
    return BucketPages(
        client,
        "openai",
        "/organization/costs",
        params,
        WINDOW,
        ("start_time", "end_time"),
        amount_of=lambda r: Decimal(str(r["amount"]["value"])),
    )


def read(sim: Simulator) -> tuple[Decimal, BucketPages]:
    pages = costs(sim)
    total = sum((Decimal(str(r["amount"]["value"])) for _, r in pages), Decimal(0))
    return total, pages


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=5, start=START, end=END)) as sim:
        yield sim


def truth(sim: Simulator) -> Decimal:
    return sum(
        (
            Decimal(str(t["billed_cost_usd"]))
            for t in sim.daily_totals()
            if t["provider"] == "openai"
        ),
        Decimal(0),
    )


@pytest.mark.parametrize(
    "mode", ["rate_limit", "server_error", "slow", "connection_reset", "truncated_json"]
)
def test_transient_faults_are_retried_and_change_no_cent(
    mode: str, fast_http: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode == "slow":
        monkeypatch.setenv("AISPEND_HTTP_TIMEOUT_SECONDS", "1")
    plan = FaultPlan([mode], page_limit=4, slow_seconds=1.5)
    with Simulator(SimConfig(seed=5, start=START, end=END), faults=plan) as sim:
        total, pages = read(sim)
        assert plan.served[mode] >= 4  # every page failed once
        assert total == truth(sim)
    assert len(pages.reported) == 14
    assert sum(r["amount"] for r in pages.reported) == total


def test_a_repeated_page_is_kept_once(fast_http: None) -> None:
    plan = FaultPlan(["page_repeat"], page_limit=4)
    with Simulator(SimConfig(seed=5, start=START, end=END), faults=plan) as sim:
        total, pages = read(sim)
        assert total == truth(sim)
    assert plan.served["page_repeat"] == 1
    assert pages.repeated_buckets == 4
    assert [r["bucket_start"] for r in pages.reported] == list(range(*WINDOW, 86_400))


def test_a_skipped_page_fails_naming_provider_endpoint_page_and_window(fast_http: None) -> None:
    plan = FaultPlan(["page_skip"], page_limit=4)
    with (
        Simulator(SimConfig(seed=5, start=START, end=END), faults=plan) as sim,
        pytest.raises(SourceFetchError) as err,
    ):
        read(sim)
    message = str(err.value)
    assert message.startswith("openai GET /organization/costs, page 2 (page=page_")
    assert "window 2026-08-01..2026-08-15 (end exclusive)" in message
    assert "buckets from 2026-08-05T00:00:00Z to 2026-08-09T00:00:00Z are missing" in message


def test_a_server_failing_past_the_budget_fails_with_context(fast_http: None) -> None:
    plan = FaultPlan(["server_error_always"])
    with (
        Simulator(SimConfig(seed=5, start=START, end=END), faults=plan) as sim,
        pytest.raises(SourceFetchError) as err,
    ):
        read(sim)
    assert plan.served["server_error_always"] == 3  # AISPEND_HTTP_MAX_ATTEMPTS
    message = str(err.value)
    assert message.startswith("openai GET /organization/costs, page 1 (first page), window ")
    assert "HTTPError: 500 Server Error" in message
    assert "sk-" not in message  # the key is in a header, never in the message


def test_a_response_ending_before_the_window_end_fails(simulator: Simulator) -> None:
    pages = costs(simulator)
    pages.window = (WINDOW[0], WINDOW[1] + 86_400)  # asks for a day the response will not have
    pages.params["end_time"] = WINDOW[1]
    with pytest.raises(SourceFetchError, match="the last page ends at 2026-08-15T00:00:00Z"):
        list(pages)


def test_an_empty_bucket_is_reported_with_zero_results(fast_http: None) -> None:
    plan = FaultPlan(["empty_bucket"])
    with Simulator(SimConfig(seed=5, start=START, end=END), faults=plan) as sim:
        _, pages = read(sim)
    last = pages.reported[-1]
    assert (last["results"], last["amount"]) == (0, Decimal(0))
    assert all(r["results"] > 0 for r in pages.reported[:-1])


def test_negative_credits_are_recorded_for_the_ground_truth(fast_http: None) -> None:
    plan = FaultPlan(["negative_credits"])
    with Simulator(SimConfig(seed=5, start=START, end=END), faults=plan) as sim:
        total, _ = read(sim)
        assert total == truth(sim) + sum(plan.credits.values())
    assert sum(plan.credits.values()) == Decimal("-7.25")


def test_http_policy_reads_the_environment_and_rejects_nonsense() -> None:
    assert HttpPolicy.from_env({}) == HttpPolicy(60.0, 5, 1.0, 60.0)
    policy = HttpPolicy.from_env(
        {"AISPEND_HTTP_MAX_ATTEMPTS": "2", "AISPEND_HTTP_TIMEOUT_SECONDS": "2.5"}
    )
    assert (policy.max_attempts, policy.timeout) == (2, 2.5)
    with pytest.raises(
        ValueError, match=r"AISPEND_HTTP_MAX_ATTEMPTS: '2\.5' must be a positive whole"
    ):
        HttpPolicy.from_env({"AISPEND_HTTP_MAX_ATTEMPTS": "2.5"})
    with pytest.raises(ValueError, match="AISPEND_HTTP_TIMEOUT_SECONDS: 'soon' is not a number"):
        HttpPolicy.from_env({"AISPEND_HTTP_TIMEOUT_SECONDS": "soon"})


def test_unknown_fault_modes_are_refused_by_name() -> None:
    assert parse_modes(" rate_limit, slow ") == ("rate_limit", "slow")
    with pytest.raises(ValueError, match="unknown fault mode\\(s\\) flood"):
        parse_modes("rate_limit,flood")


def test_a_refused_key_says_so(simulator: Simulator) -> None:
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth

    pages = costs(simulator)
    pages.client = cursor_client(
        simulator.openai_base_url, {}, auth=BearerTokenAuth(token="sk-admin-wrong")
    )
    with pytest.raises(SourceFetchError) as err:
        list(pages)
    message = str(err.value)
    assert "401 Client Error" in message
    assert "the provider refused the key" in message
    assert "sk-admin-wrong" not in message
