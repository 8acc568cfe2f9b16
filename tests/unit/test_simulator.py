"""Tests for the OpenAI/Anthropic billing API simulator, through real HTTP with urllib."""

from __future__ import annotations

import itertools
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ingestion.simulator import SimConfig, Simulator, openai_extras

START = date(2026, 6, 1)
END = date(2026, 11, 28)
N_DAYS = (END - START).days
CFG = SimConfig(seed=42, start=START, end=END)
OA_KEY = "sk-admin-simulator"
AN_KEY = "sk-ant-admin01-simulator"
OA_HEADERS = {"Authorization": f"Bearer {OA_KEY}"}
AN_HEADERS = {"x-api-key": AN_KEY, "anthropic-version": "2023-06-01"}
OPENAI_RESULT_KEYS = [
    "object",
    "input_tokens",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "input_uncached_tokens",
    "output_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_audio_tokens",
    "input_cached_audio_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
    "num_model_requests",
    "project_id",
    "user_id",
    "api_key_id",
    "model",
    "batch",
    "service_tier",
]
ANTHROPIC_USAGE_KEYS = [
    "uncached_input_tokens",
    "cache_creation",
    "cache_read_input_tokens",
    "output_tokens",
    "server_tool_use",
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
]
ANTHROPIC_COST_KEYS = [
    "amount",
    "currency",
    "workspace_id",
    "description",
    "cost_type",
    "model",
    "token_type",
    "service_tier",
    "context_window",
    "inference_geo",
]


# ---- helpers ------------------------------------------------------------------------------
def unix(day: date, hour: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp())


def rfc(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def http_get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def build_url(base: str, path: str, params: list[tuple[str, Any]]) -> str:
    return f"{base}{path}?{urllib.parse.urlencode(params)}" if params else base + path


def oa(sim: Simulator, path: str, params: list[tuple[str, Any]]) -> tuple[int, bytes]:
    status, _, body = http_get(build_url(sim.openai_base_url, path, params), OA_HEADERS)
    return status, body


def an(sim: Simulator, path: str, params: list[tuple[str, Any]]) -> tuple[int, bytes]:
    status, _, body = http_get(build_url(sim.anthropic_base_url, path, params), AN_HEADERS)
    return status, body


def walk(
    sim: Simulator, provider: str, path: str, params: list[tuple[str, Any]]
) -> Iterator[dict[str, Any]]:
    """Follow has_more/next_page and yield every bucket."""
    page: str | None = None
    while True:
        extra = [("page", page)] if page else []
        fn = oa if provider == "openai" else an
        status, body = fn(sim, path, params + extra)
        assert status == 200, body
        doc = json.loads(body)
        yield from doc["data"]
        if not doc["has_more"]:
            assert doc["next_page"] is None
            return
        page = doc["next_page"]
        assert page.startswith("page_")


def day_of_bucket(bucket: dict[str, Any]) -> date:
    if "start_time" in bucket:
        return datetime.fromtimestamp(bucket["start_time"], tz=UTC).date()
    return date.fromisoformat(bucket["starting_at"][:10])


def openai_costs_by_day(
    sim: Simulator, groups: list[str], days: int = N_DAYS
) -> dict[date, Decimal]:
    params = [
        ("start_time", unix(START)),
        ("end_time", unix(START + timedelta(days))),
        ("limit", 180),
    ]
    params += [("group_by[]", g) for g in groups]
    out: dict[date, Decimal] = {}
    for b in walk(sim, "openai", "/organization/costs", params):
        out[day_of_bucket(b)] = sum(
            (Decimal(str(r["amount"]["value"])) for r in b["results"]), Decimal(0)
        )
    return out


def anthropic_costs_by_day(
    sim: Simulator, groups: list[str], days: int = N_DAYS
) -> dict[date, Decimal]:
    params = [
        ("starting_at", rfc(START)),
        ("ending_at", rfc(START + timedelta(days))),
        ("limit", 31),
    ]
    params += [("group_by[]", g) for g in groups]
    out: dict[date, Decimal] = {}
    for b in walk(sim, "anthropic", "/v1/organizations/cost_report", params):
        out[day_of_bucket(b)] = sum((Decimal(r["amount"]) for r in b["results"]), Decimal(0)) / 100
    return out


def truth(sim: Simulator, provider: str) -> dict[date, dict[str, Any]]:
    return {
        date.fromisoformat(r["date"]): r for r in sim.daily_totals() if r["provider"] == provider
    }


class Prices:
    """Price lookup built only from the public `org.price_book()`."""

    def __init__(self, book: list[dict[str, Any]]) -> None:
        self.rows = book

    def __call__(
        self,
        provider: str,
        model: str | None,
        cls: str,
        tier: str | None,
        ctx: str | None,
        day: date,
    ) -> Decimal:
        for r in self.rows:
            if (r["provider"], r["model"], r["token_class"], r["service_tier"]) != (
                provider,
                model,
                cls,
                tier,
            ) or r.get("context_window") != ctx:
                continue
            if date.fromisoformat(r["valid_from"]) <= day and (
                r["valid_to"] is None or day < date.fromisoformat(r["valid_to"])
            ):
                return Decimal(r["usd_per_million"])
        raise KeyError((provider, model, cls, tier, ctx, day))


def openai_usage_cost(sim: Simulator, day: date, prices: Prices, key: str | None = None) -> Decimal:
    params: list[tuple[str, Any]] = [
        ("start_time", unix(day)),
        ("end_time", unix(day + timedelta(1))),
        ("group_by[]", "model"),
        ("group_by[]", "batch"),
    ]
    if key:
        params.append(("api_key_ids[]", key))
    status, body = oa(sim, "/organization/usage/completions", params)
    assert status == 200
    total = Decimal(0)
    for r in json.loads(body)["data"][0]["results"]:
        tier = "batch" if r["batch"] else "default"
        m = r["model"]
        uncached = r["input_tokens"] - r["input_cached_tokens"] - r["input_cache_write_tokens"]
        total += (
            uncached * prices("openai", m, "input", tier, None, day)
            + r["input_cache_write_tokens"] * prices("openai", m, "cache_write", tier, None, day)
            + r["input_cached_tokens"] * prices("openai", m, "cached_input", tier, None, day)
            + r["output_tokens"] * prices("openai", m, "output", tier, None, day)
        ) / 1_000_000
    return total


def anthropic_usage_cost(
    sim: Simulator, day: date, prices: Prices, key: str | None = None, ws: str | None = None
) -> Decimal:
    params: list[tuple[str, Any]] = [
        ("starting_at", rfc(day)),
        ("ending_at", rfc(day + timedelta(1))),
        ("group_by[]", "model"),
        ("group_by[]", "service_tier"),
        ("group_by[]", "context_window"),
        ("group_by[]", "workspace_id"),
    ]
    if key:
        params.append(("api_key_ids[]", key))
    status, body = an(sim, "/v1/organizations/usage_report/messages", params)
    assert status == 200
    total = Decimal(0)
    for r in json.loads(body)["data"][0]["results"]:
        if ws is not None and r["workspace_id"] != ws:
            continue
        a = ("anthropic", r["model"])
        t, c = r["service_tier"], r["context_window"]
        cc = r["cache_creation"]
        total += (
            r["uncached_input_tokens"] * prices(*a, "input", t, c, day)
            + r["cache_read_input_tokens"] * prices(*a, "cached_input", t, c, day)
            + cc["ephemeral_5m_input_tokens"] * prices(*a, "cache_write_5m", t, c, day)
            + cc["ephemeral_1h_input_tokens"] * prices(*a, "cache_write_1h", t, c, day)
            + r["output_tokens"] * prices(*a, "output", t, c, day)
            + r["server_tool_use"]["web_search_requests"]
            * prices("anthropic", None, "web_search", None, None, day)
        ) / 1_000_000
    return total


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(CFG) as s:
        yield s


@pytest.fixture(scope="module")
def prices(sim: Simulator) -> Prices:
    return Prices(sim.org.price_book())


# ---- auth and errors ----------------------------------------------------------------------
def test_auth_errors(sim: Simulator) -> None:
    url = build_url(sim.openai_base_url, "/organization/costs", [("start_time", unix(START))])
    status, _, body = http_get(url, {"Authorization": "Bearer sk-admin-wrong"})
    assert status == 401
    err = json.loads(body)["error"]
    assert list(err) == ["message", "type", "param", "code"]

    url = build_url(
        sim.anthropic_base_url, "/v1/organizations/cost_report", [("starting_at", rfc(START))]
    )
    status, headers, body = http_get(url, {"x-api-key": "nope", "anthropic-version": "2023-06-01"})
    assert status == 401
    doc = json.loads(body)
    assert doc["type"] == "error" and doc["error"]["type"] == "authentication_error"
    assert doc["request_id"].startswith("req_") and headers["request-id"] == doc["request_id"]

    status, headers, body = http_get(url, {"x-api-key": AN_KEY})
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert "request-id" in headers

    status, headers, _ = http_get(url, AN_HEADERS)
    assert status == 200 and headers["request-id"].startswith("req_")


def test_bad_requests_and_404(sim: Simulator) -> None:
    assert oa(sim, "/organization/usage/completions", [])[0] == 400  # start_time required
    status, body = oa(
        sim, "/organization/costs", [("start_time", unix(START)), ("bucket_width", "1h")]
    )
    assert status == 400 and json.loads(body)["error"]["param"] == "bucket_width"
    params = [("start_time", unix(START)), ("group_by", "user_email")]
    assert oa(sim, "/organization/usage/completions", params)[0] == 400
    assert an(sim, "/v1/organizations/usage_report/messages", [])[0] == 400
    params = [("starting_at", rfc(START)), ("group_by[]", "api_key_id")]
    assert an(sim, "/v1/organizations/cost_report", params)[0] == 400
    status, body = oa(sim, "/organization/nothing", [])
    assert status == 404 and "error" in json.loads(body)
    status, body = an(sim, "/v1/organizations/nothing", [])
    assert status == 404 and json.loads(body)["error"]["type"] == "not_found_error"


def test_limit_max_enforced(sim: Simulator) -> None:
    s = unix(START)
    cases = [
        ("openai", "/organization/usage/completions", "1d", 31),
        ("openai", "/organization/usage/completions", "1h", 168),
        ("openai", "/organization/usage/completions", "1m", 1440),
        ("openai", "/organization/costs", "1d", 180),
        ("anthropic", "/v1/organizations/usage_report/messages", "1d", 31),
        ("anthropic", "/v1/organizations/usage_report/messages", "1h", 168),
        ("anthropic", "/v1/organizations/cost_report", "1d", 31),
    ]
    for provider, path, width, maximum in cases:
        start = ("start_time", s) if provider == "openai" else ("starting_at", rfc(START))
        fn = oa if provider == "openai" else an
        ok = [start, ("bucket_width", width), ("limit", maximum)]
        assert fn(sim, path, ok)[0] == 200, (path, width)
        too_many = [start, ("bucket_width", width), ("limit", maximum + 1)]
        assert fn(sim, path, too_many)[0] == 400, (path, width)
        assert fn(sim, path, [start, ("bucket_width", width), ("limit", 0)])[0] == 400


# ---- shapes -------------------------------------------------------------------------------
def test_group_by_both_array_forms_identical(sim: Simulator) -> None:
    s, e = unix(START + timedelta(70)), unix(START + timedelta(73))
    base = [("start_time", s), ("end_time", e)]
    for path, groups in [
        ("/organization/usage/completions", ["project_id", "model", "batch"]),
        ("/organization/costs", ["line_item", "api_key_id"]),
    ]:
        plain = oa(sim, path, base + [("group_by", g) for g in groups])
        brackets = oa(sim, path, base + [("group_by[]", g) for g in groups])
        assert plain[0] == 200 and plain == brackets
        assert json.loads(plain[1])["data"][0]["results"]
    base = [("starting_at", rfc(START + timedelta(70))), ("ending_at", rfc(START + timedelta(73)))]
    for path, groups in [
        ("/v1/organizations/usage_report/messages", ["workspace_id", "model"]),
        ("/v1/organizations/cost_report", ["workspace_id", "description"]),
    ]:
        plain = an(sim, path, base + [("group_by", g) for g in groups])
        brackets = an(sim, path, base + [("group_by[]", g) for g in groups])
        assert plain[0] == 200 and plain == brackets


def test_openai_usage_shape_nulls_and_mid_day_start(sim: Simulator) -> None:
    start = unix(START + timedelta(10), hour=13) + 660
    params = [
        ("start_time", start),
        ("end_time", unix(START + timedelta(13))),
        ("group_by", "model"),
    ]
    status, body = oa(sim, "/organization/usage/completions", params)
    assert status == 200
    doc = json.loads(body)
    assert list(doc) == ["object", "data", "has_more", "next_page"]
    assert doc["object"] == "page" and doc["has_more"] is False and doc["next_page"] is None
    first, second = doc["data"][0], doc["data"][1]
    assert list(first) == ["object", "start_time", "end_time", "results"]
    assert first["start_time"] == start and first["end_time"] == unix(START + timedelta(11))
    assert second["start_time"] == unix(START + timedelta(11))
    assert second["end_time"] == second["start_time"] + 86_400
    for res in first["results"] + second["results"]:
        assert list(res) == OPENAI_RESULT_KEYS
        assert res["model"] is not None
        assert res["project_id"] is None and res["user_id"] is None and res["api_key_id"] is None
        assert res["batch"] is None and res["service_tier"] is None
        assert res["input_tokens"] == (
            res["input_uncached_tokens"]
            + res["input_cached_tokens"]
            + res["input_cache_write_tokens"]
        )
    grouped = [("start_time", unix(START)), ("group_by[]", "service_tier"), ("group_by[]", "batch")]
    res = json.loads(oa(sim, "/organization/usage/completions", grouped)[1])["data"][0]["results"]
    assert {r["service_tier"] for r in res} == {"default"}
    assert {r["batch"] for r in res} == {True, False}


def test_anthropic_shapes_and_nulls(sim: Simulator) -> None:
    base = [("starting_at", rfc(START + timedelta(5))), ("ending_at", rfc(START + timedelta(6)))]
    _status, body = an(
        sim, "/v1/organizations/usage_report/messages", [*base, ("group_by[]", "api_key_id")]
    )
    doc = json.loads(body)
    assert list(doc) == ["data", "has_more", "next_page"]
    bucket = doc["data"][0]
    assert list(bucket) == ["starting_at", "ending_at", "results"]
    assert bucket["starting_at"] == "2026-06-06T00:00:00Z"
    results = bucket["results"]
    assert any(r["api_key_id"] is None for r in results)  # Console usage
    for r in results:
        assert list(r) == ANTHROPIC_USAGE_KEYS
        assert list(r["cache_creation"]) == [
            "ephemeral_1h_input_tokens",
            "ephemeral_5m_input_tokens",
        ]
        assert list(r["server_tool_use"]) == ["web_search_requests"]
        assert r["workspace_id"] is None and r["model"] is None and r["inference_geo"] is None
    full = base + [
        ("group_by[]", g)
        for g in ("workspace_id", "service_tier", "context_window", "inference_geo")
    ]
    results = json.loads(an(sim, "/v1/organizations/usage_report/messages", full)[1])["data"][0][
        "results"
    ]
    assert None in {r["workspace_id"] for r in results}  # default workspace
    assert {r["service_tier"] for r in results} <= {"standard", "batch"}
    assert {r["context_window"] for r in results} == {"0-200k", "200k-1M"}
    assert {r["inference_geo"] for r in results} == {"global"}

    grouped = [*base, ("group_by[]", "workspace_id"), ("group_by[]", "description")]
    results = json.loads(an(sim, "/v1/organizations/cost_report", grouped)[1])["data"][0]["results"]
    for r in results:
        assert list(r) == ANTHROPIC_COST_KEYS
        assert isinstance(r["amount"], str) and r["currency"] == "USD"
        assert "E" not in r["amount"] and Decimal(r["amount"]) == Decimal(r["amount"]).quantize(
            Decimal("1e-6")
        )
    web = [r for r in results if r["cost_type"] == "web_search"]
    assert web and all(r["description"] == "Web Search Usage" and r["model"] is None for r in web)
    assert {r["token_type"] for r in results if r["cost_type"] == "tokens"} == {
        "uncached_input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation.ephemeral_5m_input_tokens",
        "cache_creation.ephemeral_1h_input_tokens",
    }
    ungrouped = json.loads(an(sim, "/v1/organizations/cost_report", base)[1])["data"][0]["results"]
    assert len(ungrouped) == 1
    assert all(ungrouped[0][k] is None for k in ANTHROPIC_COST_KEYS[2:])


def test_openai_costs_shape(sim: Simulator) -> None:
    params = [("start_time", unix(START)), ("limit", 2), ("group_by[]", "line_item")]
    doc = json.loads(oa(sim, "/organization/costs", params)[1])
    assert doc["has_more"] is True and doc["next_page"].startswith("page_")
    res = doc["data"][0]["results"]
    assert list(res[0]) == [
        "object",
        "amount",
        "line_item",
        "project_id",
        "api_key_id",
        "quantity",
        "quantity_unit",
    ]
    assert res[0]["object"] == "organization.costs.result"
    assert all(r["amount"]["currency"] == "usd" for r in res)
    assert all(
        r["quantity_unit"] == openai_extras.QUANTITY_UNITS.get(r["line_item"], "tokens")
        for r in res
    )
    items = {r["line_item"].rsplit(", ", 1)[-1] for r in res}
    assert {"input", "cached input", "output", "batch input", "batch output"} <= items
    plain = json.loads(oa(sim, "/organization/costs", [("start_time", unix(START))])[1])
    only = plain["data"][0]["results"]
    assert len(only) == 1 and only[0]["quantity"] is None and only[0]["line_item"] is None


def test_empty_buckets_outside_window(sim: Simulator) -> None:
    before = START - timedelta(3)
    params = [("start_time", unix(before)), ("end_time", unix(START + timedelta(2)))]
    for path in ("/organization/usage/completions", "/organization/costs"):
        data = json.loads(oa(sim, path, params)[1])["data"]
        assert len(data) == 5
        assert [b["results"] for b in data[:3]] == [[], [], []]
        assert all(b["results"] for b in data[3:])
    params = [("starting_at", rfc(END - timedelta(1))), ("ending_at", rfc(END + timedelta(2)))]
    for path in ("/v1/organizations/usage_report/messages", "/v1/organizations/cost_report"):
        data = json.loads(an(sim, path, params)[1])["data"]
        assert len(data) == 3 and data[0]["results"] and data[1]["results"] == []
        assert data[2]["results"] == []


# ---- paging -------------------------------------------------------------------------------
def test_paging_covers_every_bucket_once(sim: Simulator) -> None:
    before = sim.request_count
    params = [("start_time", unix(START)), ("end_time", unix(END)), ("limit", 7)]
    buckets = list(walk(sim, "openai", "/organization/usage/completions", params))
    assert sim.request_count - before == math.ceil(N_DAYS / 7)
    starts = [b["start_time"] for b in buckets]
    assert starts == [unix(START + timedelta(i)) for i in range(N_DAYS)]
    assert all(b["end_time"] == b["start_time"] + 86_400 for b in buckets)

    params = [
        ("start_time", unix(START)),
        ("end_time", unix(START, 1) + 3 * 3600),
        ("bucket_width", "1m"),
    ]
    minutes = list(
        walk(sim, "openai", "/organization/usage/completions", [*params, ("limit", 100)])
    )
    assert [b["start_time"] for b in minutes] == [unix(START) + 60 * i for i in range(240)]

    params = [("starting_at", rfc(START)), ("ending_at", rfc(END)), ("limit", 10)]
    for path in ("/v1/organizations/usage_report/messages", "/v1/organizations/cost_report"):
        buckets = list(walk(sim, "anthropic", path, params))
        assert [b["starting_at"] for b in buckets] == [
            rfc(START + timedelta(i)) for i in range(N_DAYS)
        ]
    params = [("start_time", unix(START)), ("limit", 50)]
    buckets = list(walk(sim, "openai", "/organization/costs", params))
    assert [day_of_bucket(b) for b in buckets] == [START + timedelta(i) for i in range(N_DAYS)]
    assert oa(sim, "/organization/costs", [*params, ("page", "page_garbage!")])[0] == 400


# ---- consistency --------------------------------------------------------------------------
def _openai_usage_map(sim: Simulator, day: date, width: str) -> dict[tuple[Any, ...], list[int]]:
    params = [
        ("start_time", unix(day)),
        ("end_time", unix(day + timedelta(1))),
        ("bucket_width", width),
        ("limit", {"1m": 1440, "1h": 24, "1d": 1}[width]),
        ("group_by", "api_key_id"),
        ("group_by", "model"),
        ("group_by", "batch"),
    ]
    doc = json.loads(oa(sim, "/organization/usage/completions", params)[1])
    assert doc["has_more"] is False
    acc: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 5)
    for b in doc["data"]:
        for r in b["results"]:
            k = (r["api_key_id"], r["model"], r["batch"])
            for i, f in enumerate(
                (
                    "input_tokens",
                    "input_cached_tokens",
                    "input_cache_write_tokens",
                    "output_tokens",
                    "num_model_requests",
                )
            ):
                acc[k][i] += r[f]
    return dict(acc)


def _anthropic_usage_map(sim: Simulator, day: date, width: str) -> dict[tuple[Any, ...], list[int]]:
    params = [
        ("starting_at", rfc(day)),
        ("ending_at", rfc(day + timedelta(1))),
        ("bucket_width", width),
        ("limit", {"1m": 1440, "1h": 24, "1d": 1}[width]),
        ("group_by[]", "api_key_id"),
        ("group_by[]", "model"),
        ("group_by[]", "service_tier"),
    ]
    doc = json.loads(an(sim, "/v1/organizations/usage_report/messages", params)[1])
    assert doc["has_more"] is False
    acc: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
    for b in doc["data"]:
        for r in b["results"]:
            k = (r["api_key_id"], r["model"], r["service_tier"])
            vals = (
                r["uncached_input_tokens"],
                r["cache_creation"]["ephemeral_5m_input_tokens"],
                r["cache_creation"]["ephemeral_1h_input_tokens"],
                r["cache_read_input_tokens"],
                r["output_tokens"],
                r["server_tool_use"]["web_search_requests"],
            )
            for i, v in enumerate(vals):
                acc[k][i] += v
    return dict(acc)


def test_minute_hour_day_sums_agree(sim: Simulator) -> None:
    day = START + timedelta(40)
    daily = _openai_usage_map(sim, day, "1d")
    assert daily and _openai_usage_map(sim, day, "1h") == daily
    assert _openai_usage_map(sim, day, "1m") == daily
    daily = _anthropic_usage_map(sim, day, "1d")
    assert daily and _anthropic_usage_map(sim, day, "1h") == daily
    assert _anthropic_usage_map(sim, day, "1m") == daily


def test_cost_totals_invariant_under_grouping(sim: Simulator) -> None:
    days = 21
    reference = openai_costs_by_day(sim, [], days)
    for groups in (
        ["line_item"],
        ["project_id"],
        ["api_key_id"],
        ["project_id", "line_item", "api_key_id"],
    ):
        assert openai_costs_by_day(sim, groups, days) == reference, groups
    reference = anthropic_costs_by_day(sim, [], days)
    for groups in (["workspace_id"], ["description"], ["workspace_id", "description"]):
        assert anthropic_costs_by_day(sim, groups, days) == reference, groups


def test_cost_endpoints_equal_daily_totals_exactly(sim: Simulator) -> None:
    totals = sim.daily_totals()
    assert len(totals) == 2 * N_DAYS
    for provider, fetch, groups in (
        ("openai", openai_costs_by_day, ["project_id", "line_item", "api_key_id"]),
        ("anthropic", anthropic_costs_by_day, ["workspace_id", "description"]),
    ):
        expected = {d: r["billed_cost_usd"] for d, r in truth(sim, provider).items()}
        assert len(expected) == N_DAYS
        assert all(isinstance(v, Decimal) for v in expected.values())
        assert fetch(sim, [], N_DAYS) == expected
        assert fetch(sim, groups, N_DAYS) == expected


def test_cost_matches_usage_times_list_price(sim: Simulator, prices: Prices) -> None:
    change_day = sim.org.price_change_day
    cut = [r for r in sim.org.price_book() if r["valid_from"] == change_day.isoformat()]
    assert cut, "expected a dated list-price change inside the window"
    days = [START, START + timedelta(33), change_day - timedelta(1), change_day, END - timedelta(1)]
    oa_costs = openai_costs_by_day(sim, [])
    an_costs = anthropic_costs_by_day(sim, [])
    for day in days:
        # the non-completions lines (embeddings, images, storage, ...) are priced on their own
        extras = sum(
            (line[4] for line in openai_extras.cost_lines(sim.org.day(day).openai_extras)),
            Decimal(0),
        )
        completions_cost = oa_costs[day] - extras
        assert abs(openai_usage_cost(sim, day, prices) - completions_cost) < Decimal("1e-6")
        assert abs(anthropic_usage_cost(sim, day, prices) - an_costs[day]) < Decimal("1e-6")


def test_usage_tokens_equal_daily_totals(sim: Simulator) -> None:
    oa_truth, an_truth = truth(sim, "openai"), truth(sim, "anthropic")
    params = [("start_time", unix(START)), ("limit", 31)]
    for b in walk(sim, "openai", "/organization/usage/completions", params):
        t = oa_truth[day_of_bucket(b)]
        (r,) = b["results"]
        # the truth counts embedding and moderation input and requests too
        extras = sim.org.day(day_of_bucket(b)).openai_extras
        extra_input = sum(x.metric("input_tokens") for x in extras)
        extra_requests = sum(x.metric("num_model_requests") for x in extras)
        assert (
            r["input_tokens"] - r["input_cached_tokens"] - r["input_cache_write_tokens"]
            == t["input_tokens"] - extra_input
        )
        assert r["input_cached_tokens"] == t["cached_input_tokens"]
        assert r["input_cache_write_tokens"] == t["cache_write_tokens"]
        assert r["output_tokens"] == t["output_tokens"]
        assert r["num_model_requests"] == t["requests"] - extra_requests
    params = [("starting_at", rfc(START)), ("limit", 31)]
    for b in walk(sim, "anthropic", "/v1/organizations/usage_report/messages", params):
        t = an_truth[day_of_bucket(b)]
        (r,) = b["results"]
        cc = r["cache_creation"]
        assert r["uncached_input_tokens"] == t["input_tokens"]
        assert r["cache_read_input_tokens"] == t["cached_input_tokens"]
        assert (
            cc["ephemeral_5m_input_tokens"] + cc["ephemeral_1h_input_tokens"]
            == t["cache_write_tokens"]
        )
        assert r["output_tokens"] == t["output_tokens"]
        assert t["requests"] > 0


def test_org_scale_and_seasonality(sim: Simulator) -> None:
    oa_truth, an_truth = truth(sim, "openai"), truth(sim, "anthropic")
    org = [oa_truth[d]["billed_cost_usd"] + an_truth[d]["billed_cost_usd"] for d in oa_truth]
    assert Decimal(200) < min(org) and max(org) < Decimal(2500)
    weekday = [v for d, v in zip(oa_truth, org, strict=True) if d.weekday() < 5]
    weekend = [v for d, v in zip(oa_truth, org, strict=True) if d.weekday() >= 5]
    ratio = (sum(weekend) / len(weekend)) / (sum(weekday) / len(weekday))
    assert Decimal("0.3") < ratio < Decimal("0.7")
    assert len(sim.org.projects) == 4 and len(sim.org.workspaces) == 3
    assert all(p.id.startswith("proj_") and len(p.id) == 21 for p in sim.org.projects)
    assert all(k.id and len(k.id) == 20 for p in sim.org.projects for k in p.keys)


# ---- determinism, restatement, incidents --------------------------------------------------
def _fingerprint(s: Simulator) -> list[bytes]:
    s1 = [
        ("start_time", unix(START + timedelta(90))),
        ("group_by[]", "api_key_id"),
        ("group_by[]", "model"),
    ]
    s2 = [
        ("starting_at", rfc(START + timedelta(90))),
        ("group_by[]", "workspace_id"),
        ("group_by[]", "description"),
    ]
    return [
        oa(s, "/organization/usage/completions", s1)[1],
        oa(s, "/organization/costs", [*s1[:2], ("group_by[]", "line_item")])[1],
        an(s, "/v1/organizations/usage_report/messages", [*s2[:2], ("group_by[]", "model")])[1],
        an(s, "/v1/organizations/cost_report", s2)[1],
        oa(s, "/organization/projects", [])[1],
    ]


def test_determinism(sim: Simulator) -> None:
    with Simulator(CFG) as again:
        assert _fingerprint(again) == _fingerprint(sim)
    with Simulator(SimConfig(seed=7, start=START, end=END)) as other:
        assert all(a != b for a, b in zip(_fingerprint(other), _fingerprint(sim), strict=True))
    # A sub-window serves identical data for the days it shares with the full window.
    with Simulator(SimConfig(seed=42, start=START, end=START + timedelta(120))) as shorter:
        params = [
            ("start_time", unix(START + timedelta(20))),
            ("end_time", unix(START + timedelta(30))),
            ("group_by", "api_key_id"),
        ]
        assert oa(shorter, "/organization/usage/completions", params) == oa(
            sim, "/organization/usage/completions", params
        )


def test_restate_changes_only_that_day() -> None:
    day = START + timedelta(100)
    with Simulator(CFG) as s:
        before_oa, before_an = truth(s, "openai"), truth(s, "anthropic")
        costs_before = openai_costs_by_day(s, ["project_id"], 110)
        s.restate("openai", day, factor=1.5)
        after_oa, after_an = truth(s, "openai"), truth(s, "anthropic")
        assert after_an == before_an
        for d in before_oa:
            if d != day:
                assert after_oa[d] == before_oa[d]
        ratio = after_oa[day]["billed_cost_usd"] / before_oa[day]["billed_cost_usd"]
        assert Decimal("1.45") < ratio < Decimal("1.55")
        assert after_oa[day]["requests"] > before_oa[day]["requests"]
        costs_after = openai_costs_by_day(s, ["project_id"], 110)
        assert costs_after[day] == after_oa[day]["billed_cost_usd"] != costs_before[day]
        assert {d: v for d, v in costs_after.items() if d != day} == {
            d: v for d, v in costs_before.items() if d != day
        }


def test_incidents_placed_and_visible(sim: Simulator, prices: Prices) -> None:
    incidents = sim.incidents()
    assert sorted(i["kind"] for i in incidents) == [
        "model_switch",
        "prompt_growth",
        "retry_storm",
        "runaway_agent_loop",
    ]
    starts = [date.fromisoformat(i["start_date"]) for i in incidents]
    assert starts == sorted(starts)
    for i, s in zip(incidents, starts, strict=True):
        assert list(i) == [
            "id",
            "kind",
            "provider",
            "project_id",
            "api_key_id",
            "model",
            "start_date",
            "end_date",
            "multiplier",
            "description",
        ]
        assert START + timedelta(60) <= s < END
        if i["end_date"] is not None:
            assert date.fromisoformat(i["end_date"]) <= END
    assert all((b - a).days >= 7 for a, b in itertools.pairwise(starts))

    for inc, day in zip(incidents, starts, strict=True):
        base = day - timedelta(7)  # same weekday, a week earlier
        if inc["kind"] in ("runaway_agent_loop", "retry_storm"):
            cost = lambda d, i=inc: openai_usage_cost(sim, d, prices, key=i["api_key_id"])  # noqa: E731
        elif inc["kind"] == "prompt_growth":
            cost = lambda d, i=inc: anthropic_usage_cost(sim, d, prices, key=i["api_key_id"])  # noqa: E731
        else:
            cost = lambda d, i=inc: anthropic_usage_cost(sim, d, prices, ws=i["project_id"])  # noqa: E731
        ratio = cost(day) / cost(base)
        assert ratio > Decimal("1.5"), (inc["kind"], ratio)
        if inc["end_date"] is not None:  # and it ends
            after = date.fromisoformat(inc["end_date"])
            assert cost(after) / cost(after - timedelta(7)) < Decimal("1.5") or after >= END


# ---- modes and files ----------------------------------------------------------------------
def test_legacy_field_set() -> None:
    cfg = SimConfig(seed=42, start=START, end=END, openai_legacy_fields=True)
    with Simulator(cfg) as s:
        params = [("start_time", unix(START)), ("group_by", "model")]
        res = json.loads(oa(s, "/organization/usage/completions", params)[1])["data"][0]["results"]
    assert list(res[0]) == [
        "object",
        "input_tokens",
        "output_tokens",
        "input_cached_tokens",
        "input_audio_tokens",
        "output_audio_tokens",
        "num_model_requests",
        "project_id",
        "user_id",
        "api_key_id",
        "model",
        "batch",
    ]


def test_filters_and_enrichment(sim: Simulator) -> None:
    project = sim.org.projects[0]
    params = [
        ("start_time", unix(START)),
        ("group_by", "project_id"),
        ("project_ids[]", project.id),
    ]
    res = json.loads(oa(sim, "/organization/usage/completions", params)[1])["data"][0]["results"]
    assert [r["project_id"] for r in res] == [project.id]
    doc = json.loads(oa(sim, f"/organization/projects/{project.id}/api_keys", [])[1])
    assert doc["object"] == "list" and {k["id"] for k in doc["data"]} == {
        k.id for k in project.keys
    }
    page = json.loads(oa(sim, "/organization/projects", [("limit", 3)])[1])
    rest = json.loads(oa(sim, "/organization/projects", [("after", page["last_id"])])[1])
    assert page["has_more"] and not rest["has_more"] and len(page["data"]) + len(rest["data"]) == 4
    keys = json.loads(an(sim, "/v1/organizations/api_keys", [("limit", 100)])[1])["data"]
    assert all(k["id"].startswith("apikey_01") and len(k["id"]) == 31 for k in keys)
    ws = json.loads(an(sim, "/v1/organizations/workspaces", [])[1])["data"]
    assert len(ws) == 2 and all(w["id"].startswith("wrkspc_01") for w in ws)


def test_ground_truth_file(sim: Simulator, tmp_path: Path) -> None:
    out = sim.write_ground_truth(tmp_path / "truth.json")
    doc = json.loads(out.read_text())
    assert list(doc) == ["config", "daily_totals", "incidents", "prices"]
    assert doc["config"]["seed"] == 42 and doc["config"]["start"] == "2026-06-01"
    first = doc["daily_totals"][0]
    assert isinstance(first["billed_cost_usd"], str)
    assert Decimal(first["billed_cost_usd"]) == sim.daily_totals()[0]["billed_cost_usd"]
    assert len(doc["incidents"]) == 4 and doc["prices"]
