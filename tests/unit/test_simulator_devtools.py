"""Simulator: Cursor Admin API shapes and Claude Code report consistency with Anthropic usage."""

import base64
import json
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import dlt
import duckdb
import pytest

from ingestion.cursor import cursor_source
from ingestion.simulator import SimConfig, Simulator
from ingestion.simulator.claude_code import report_for

CFG = SimConfig(start=date(2026, 6, 1), end=date(2026, 6, 4))
DAY_MS = 86_400_000
START_MS = 1780272000000  # 2026-06-01


@pytest.fixture(scope="module")
def sim():
    with Simulator(CFG) as s:
        yield s


def call(url, body=None, auth=None, headers=None):
    hdrs = dict(headers or {})
    if auth is not None:
        hdrs["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, headers=hdrs, method="GET" if data is None else "POST"
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_cursor_events_shape_and_paging(sim):
    url = f"{sim.cursor_base_url}/teams/filtered-usage-events"
    key = f"{CFG.cursor_key}:"
    body = {"startDate": START_MS, "endDate": START_MS + DAY_MS - 1, "pageSize": 50}
    status, p1 = call(url, body, key)
    assert status == 200
    assert list(p1) == ["totalUsageEventsCount", "pagination", "usageEvents", "period"]
    pg = p1["pagination"]
    assert pg["currentPage"] == 1 and pg["hasNextPage"] and not pg["hasPreviousPage"]
    assert pg["numPages"] == -(-p1["totalUsageEventsCount"] // 50)
    assert 50 <= p1["totalUsageEventsCount"] <= 401
    _, p2 = call(url, {**body, "page": 2}, key)
    assert p2["pagination"]["hasPreviousPage"]
    assert p1["usageEvents"][0] != p2["usageEvents"][0]
    events = []
    for page in range(1, pg["numPages"] + 1):
        events += call(url, {**body, "page": page}, key)[1]["usageEvents"]
    assert len(events) == p1["totalUsageEventsCount"]
    for e in events:
        assert isinstance(e["timestamp"], str) and e["timestamp"].isdigit()
        assert START_MS <= int(e["timestamp"]) < START_MS + DAY_MS
        assert None not in e.values()  # optional fields are omitted, never null
        assert ("tokenUsage" in e) == e["isTokenBasedCall"]
        if e["kind"] == "Included in Business":
            assert e["chargedCents"] == 0 and not e["isChargeable"]
    assert any("conversationId" not in e for e in events)
    assert call(url, {**body, "page": 0}, key)[0] == 400
    assert call(url, {**body, "pageSize": 1001}, key)[0] == 400


def test_cursor_auth_and_range_limits(sim):
    base = sim.cursor_base_url
    assert call(f"{base}/teams/members")[0] == 401
    assert call(f"{base}/teams/members", auth="wrong:")[0] == 401
    assert call(f"{base}/teams/members", auth=CFG.cursor_key)[0] == 401  # missing the colon
    status, members = call(f"{base}/teams/members", auth=f"{CFG.cursor_key}:")
    assert status == 200 and len(members["teamMembers"]) == 12
    assert members["teamMembers"][0]["email"] == "dana@example.com"
    daily = f"{base}/teams/daily-usage-data"
    too_long = {"startDate": START_MS, "endDate": START_MS + 31 * DAY_MS}
    assert call(daily, too_long, f"{CFG.cursor_key}:")[0] == 400
    status, spend = call(f"{base}/teams/spend", {}, f"{CFG.cursor_key}:")
    assert status == 200 and spend["totalMembers"] == 12


def test_cursor_source_matches_ground_truth(sim, tmp_path: Path):
    p = dlt.pipeline(
        pipeline_name="sim_cursor",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name="raw_cursor",
        pipelines_dir=str(tmp_path / "pl"),
    )
    p.run(
        cursor_source(
            api_key=CFG.cursor_key,
            base_url=sim.cursor_base_url,
            start_date=CFG.start,
            end_date=CFG.end,
        )
    )
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        got = dict(
            con.execute(
                "select usage_date, (sum(charged_cents), count(*))"
                " from raw_cursor.usage_events group by 1"
            ).fetchall()
        )
    truth = sim.cursor_daily_totals()
    assert len(truth) == 3
    for t in truth:
        cost, n = got[t["date"]]
        assert (cost / 100, n) == (t["billed_cost_usd"], t["requests"])


def test_claude_code_api_actor_tokens_within_the_keys_anthropic_usage(sim):
    key_names = {
        k["name"]
        for k in call(
            f"{sim.anthropic_base_url}/v1/organizations/api_keys?limit=1000",
            headers={"x-api-key": CFG.anthropic_key, "anthropic-version": "2023-06-01"},
        )[1]["data"]
    }
    report = report_for(sim.org)
    by_name = {k.name: k.id for k in report.api_keys}
    seen_api = False
    for day in sim.org.days():
        usage = report.key_usage(day)
        url = (
            f"{sim.anthropic_base_url}/v1/organizations/usage_report/claude_code"
            f"?starting_at={day.isoformat()}&limit=3"
        )
        records, page = [], None
        while True:
            status, body = call(
                url + (f"&page={page}" if page else ""),
                headers={"x-api-key": CFG.anthropic_key, "anthropic-version": "2023-06-01"},
            )
            assert status == 200
            records += body["data"]
            if not body["has_more"]:
                break
            page = body["next_page"]
        for r in records:
            assert r["date"] == f"{day.isoformat()}T00:00:00Z"
            if r["customer_type"] != "api":
                assert r["actor"]["type"] == "user_actor"
                continue
            seen_api = True
            name = r["actor"]["api_key_name"]
            assert name in key_names
            for b in r["model_breakdown"]:
                used = usage[by_name[name]][b["model"]]
                for cls, qty in b["tokens"].items():
                    assert 0 <= qty <= used[cls]
    assert seen_api
    assert (
        call(
            f"{sim.anthropic_base_url}/v1/organizations/usage_report/claude_code?starting_at=2026-06-01T00:00:00Z",
            headers={"x-api-key": CFG.anthropic_key, "anthropic-version": "2023-06-01"},
        )[0]
        == 400
    )
