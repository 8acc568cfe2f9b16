"""The simulator's scale knob: small unchanged, medium/large deterministic, big and bounded."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import urllib.request
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ingestion.simulator import SimConfig, Simulator
from ingestion.simulator.__main__ import main as simulator_main
from ingestion.simulator.org import SCALE_SPECS, SyntheticOrg
from ingestion.simulator.telemetry import api_usage, telemetry_plan, telemetry_truth
from orchestration.settings import ConfigError, load_settings
from orchestration.sources import simulated_telemetry_records_per_day, simulator_export_root

START = date(2026, 6, 1)
END = date(2026, 11, 28)
# sha256 of the default organisation (seed 42, START..END) as generated before the scale knob
# existed: daily totals, three days' hourly rows and cost lines, ids and incidents.
SMALL_FINGERPRINT = "d7fe51ff45e168249fae0c4dfe714d3ec77fdaad4ad71e3bd68e3ce87529c385"
# sha256 of telemetry_truth(org, recent_days=1) for the same organisation, before the change
SMALL_TELEMETRY_FINGERPRINT = "902f4d8e72e814aa4c65734c4ead6fa99a9b1804d5bc00cf1a6640866ca42975"
YEAR = 365


def _fingerprint(org: SyntheticOrg) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(org.daily_totals(), default=str).encode())
    for d in (date(2026, 6, 1), date(2026, 8, 15), date(2026, 11, 27)):
        data = org.day(d)
        assert data is not None
        rows = (data.openai_hours, data.anthropic_hours, data.openai_costs, data.anthropic_costs)
        h.update(repr(rows).encode())
    h.update(repr([(p.id, [k.id for k in p.keys]) for p in org.projects]).encode())
    h.update(repr([(w.id, [k.id for k in w.keys]) for w in org.workspaces]).encode())
    h.update(repr([i.as_dict() for i in org.incidents]).encode())
    return h.hexdigest()


def _hourly_rows(org: SyntheticOrg, day: date) -> int:
    data = org.day(day)
    assert data is not None
    return sum(map(len, data.openai_hours)) + sum(map(len, data.anthropic_hours))


def _api_keys(org: SyntheticOrg) -> int:
    return len(org.openai_keys) + sum(1 for k in org.anthropic_keys if k.id is not None)


# ---- configuration ------------------------------------------------------------------------
def test_unknown_scale_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'huge'.*small, medium, large"):
        SimConfig(scale="huge")
    with pytest.raises(ValueError, match="huge"):
        SyntheticOrg(42, START, END, "huge")
    with pytest.raises(SystemExit):
        simulator_main(["--scale", "huge"])


def test_settings_read_the_scale() -> None:
    assert load_settings({}).simulator_scale == "small"
    assert load_settings({"AISPEND_SIMULATOR_SCALE": " Large "}).simulator_scale == "large"
    with pytest.raises(ConfigError, match=r"AISPEND_SIMULATOR_SCALE='huge'.*small, medium"):
        load_settings({"AISPEND_SIMULATOR_SCALE": "huge"})


def test_embedded_simulator_follows_the_scale(tmp_path: Any) -> None:
    small = load_settings({"AISPEND_WAREHOUSE": str(tmp_path / "w.duckdb")})
    large = load_settings(
        {"AISPEND_WAREHOUSE": str(tmp_path / "w.duckdb"), "AISPEND_SIMULATOR_SCALE": "large"}
    )
    assert simulator_export_root(small).name == (
        f"seed42_{small.start_date}_{small.end_date}"
    )  # unchanged at small
    assert simulator_export_root(large).name.endswith("_large")
    assert simulated_telemetry_records_per_day("small") == 600
    assert simulated_telemetry_records_per_day("large") * 1.03 * YEAR >= 20_000_000


# ---- small stays exactly what it was ------------------------------------------------------
def test_small_is_unchanged() -> None:
    org = Simulator(SimConfig(seed=42, start=START, end=END, scale="small")).org
    assert org.cache_limit is None
    assert _fingerprint(org) == SMALL_FINGERPRINT
    assert "scale" not in SimConfig().as_dict()  # the ground-truth file is unchanged too
    assert SimConfig(scale="large").as_dict()["scale"] == "large"


def test_small_telemetry_is_unchanged() -> None:
    org = SyntheticOrg(42, START, END)
    truth = telemetry_truth(org, recent_days=1)
    digest = hashlib.sha256(json.dumps(truth).encode()).hexdigest()
    assert digest == SMALL_TELEMETRY_FINGERPRINT


def test_larger_scales_keep_the_default_organisation() -> None:
    small = SyntheticOrg(42, START, END)
    medium = SyntheticOrg(42, START, END, "medium")
    assert medium.projects[: len(small.projects)] == small.projects
    assert medium.workspaces[: len(small.workspaces)] == small.workspaces
    assert medium.incidents == small.incidents
    day = date(2026, 7, 1)
    s, m = small.day(day), medium.day(day)
    assert s is not None and m is not None
    for h in range(24):  # the default organisation's rows come first, identical
        assert m.openai_hours[h][: len(s.openai_hours[h])] == s.openai_hours[h]
        assert m.anthropic_hours[h][: len(s.anthropic_hours[h])] == s.anthropic_hours[h]


# ---- size and determinism -----------------------------------------------------------------
def test_key_counts() -> None:
    assert _api_keys(SyntheticOrg(42, START, END)) == 19
    assert 38 <= _api_keys(SyntheticOrg(42, START, END, "medium")) <= 50
    large = SyntheticOrg(42, START, END, "large")
    assert _api_keys(large) >= 400
    ids = [k.id for k in large.openai_keys] + [k.id for k in large.anthropic_keys]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("scale", ["medium", "large"])
def test_deterministic_for_a_seed(scale: str) -> None:
    day = date(2026, 9, 3)
    a, b = SyntheticOrg(7, START, END, scale), SyntheticOrg(7, START, END, scale)
    other = SyntheticOrg(8, START, END, scale)
    da, db, do = a.day(day), b.day(day), other.day(day)
    assert da is not None and db is not None and do is not None
    assert [k.id for k in a.openai_keys] == [k.id for k in b.openai_keys]
    assert da.openai_hours == db.openai_hours and da.anthropic_hours == db.anthropic_hours
    assert da.openai_costs == db.openai_costs and da.anthropic_costs == db.anthropic_costs
    assert da.openai_day != do.openai_day
    # a day regenerated after it left the cache is the same day
    a._cache.clear()
    again = a.day(day)
    assert again is not None and again is not da and again.openai_hours == da.openai_hours


def test_large_serves_ten_million_hourly_rows_a_year() -> None:
    start = date(2026, 1, 1)
    org = SyntheticOrg(42, start, start + timedelta(YEAR), "large")
    # a weekday, a weekend day, the quietest start and the last day
    days = [start, date(2026, 3, 7), date(2026, 7, 15), start + timedelta(YEAR - 1)]
    counts = [_hourly_rows(org, d) for d in days]
    block = org._openai_block, org._anthropic_block
    extra = sum(len(b.dims[0]) for b in block if b is not None) * 24
    assert extra >= 390 * 3 * 24  # every (key, model) of the scale fills all 24 hours
    assert min(counts) >= extra
    assert min(counts) * YEAR >= 10_000_000


def test_large_telemetry_is_twenty_million_requests_a_year() -> None:
    day = date(2026, 3, 7)  # a quiet (weekend) day; a one-day window keeps the test short
    org = SyntheticOrg(42, day, day + timedelta(1), "large")
    truth = telemetry_truth(org, recent_days=None)
    assert {r["date"] for r in truth} == {day.isoformat()}
    records = sum(r["requests"] for r in truth)
    assert records >= SCALE_SPECS["large"].telemetry_records_per_day
    assert records * YEAR >= 20_000_000
    # tokens stay exact per instrumented key (the cap merges requests, never tokens)
    plan = telemetry_plan(org)
    tokens: dict[tuple[str, str], int] = defaultdict(int)
    for r in truth:
        tokens[(r["provider"], r["api_key_id"])] += r["output_tokens"] + r["input_tokens"]
    for (provider, key, _model), v in api_usage(org, day).items():
        if (provider, key) in plan.keys:
            tokens[(provider, key)] -= v[4] + v[1]
    assert len(tokens) > 300 and not any(tokens.values())


def test_medium_telemetry_follows_the_scale() -> None:
    day = date(2026, 3, 9)
    org = SyntheticOrg(42, day, day + timedelta(1), "medium")
    records = sum(r["requests"] for r in telemetry_truth(org, recent_days=None))
    cap = SCALE_SPECS["medium"].telemetry_records_per_day
    assert cap is not None and cap <= records <= cap * 1.2
    # an explicit cap still wins
    capped = sum(r["requests"] for r in telemetry_truth(org, recent_days=None, sample_per_day=500))
    assert capped < cap


# ---- bounded memory, exact ground truth ---------------------------------------------------
def test_cache_stays_bounded() -> None:
    start = date(2026, 1, 1)
    large = SyntheticOrg(42, start, start + timedelta(60), "large")
    limit = large.cache_limit
    assert limit is not None and limit <= 32
    for i in range(limit + 10):
        large.day(start + timedelta(i))
        assert large.cached_days <= limit
    assert large.cached_days == limit
    medium = SyntheticOrg(42, start, start + timedelta(90), "medium")
    assert medium.cache_limit is not None and medium.cache_limit < 90
    totals = medium.daily_totals()  # streams the window through the bounded cache
    assert len(totals) == 2 * 90 and medium.cached_days <= medium.cache_limit
    # the same truth when each day is generated afresh
    fresh = SyntheticOrg(42, start, start + timedelta(90), "medium")
    for d in (start, start + timedelta(45)):
        fresh._cache.clear()
        day_rows = [r for r in totals if r["date"] == d.isoformat()]
        data = fresh.day(d)
        assert data is not None
        oa = next(r for r in day_rows if r["provider"] == "openai")
        assert oa["billed_cost_usd"] == sum((r[4] for r in data.openai_costs), Decimal(0))


# ---- through the real HTTP server ---------------------------------------------------------
def _get(url: str, headers: dict[str, str]) -> dict[str, Any]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
        return json.loads(r.read())


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def test_medium_ground_truth_equals_what_the_server_serves() -> None:
    cfg = SimConfig(seed=42, start=date(2026, 6, 1), end=date(2026, 6, 8), scale="medium")
    day = date(2026, 6, 3)
    with Simulator(cfg) as sim:
        truth = {r["provider"]: r for r in sim.daily_totals() if r["date"] == day.isoformat()}
        oa_headers = {"Authorization": f"Bearer {cfg.openai_key}"}
        an_headers = {"x-api-key": cfg.anthropic_key, "anthropic-version": "2023-06-01"}
        # OpenAI completions usage, hourly buckets, per key and model
        q = urllib.parse.urlencode(
            [
                ("start_time", _unix(day)),
                ("end_time", _unix(day + timedelta(1))),
                ("bucket_width", "1h"),
                ("limit", 24),
                ("group_by", "api_key_id"),
                ("group_by", "model"),
            ]
        )
        doc = _get(f"{sim.openai_base_url}/organization/usage/completions?{q}", oa_headers)
        assert not doc["has_more"] and len(doc["data"]) == 24
        results = [r for b in doc["data"] for r in b["results"]]
        keys = {r["api_key_id"] for r in results}
        assert len(keys) == len(sim.org.openai_keys)
        extras = sim.org.day(day).openai_extras  # embeddings etc. count in the truth too
        served = {
            "input": sum(
                r["input_tokens"] - r["input_cached_tokens"] - r["input_cache_write_tokens"]
                for r in results
            )
            + sum(x.metric("input_tokens") for x in extras),
            "cached": sum(r["input_cached_tokens"] for r in results),
            "write": sum(r["input_cache_write_tokens"] for r in results),
            "output": sum(r["output_tokens"] for r in results),
            "requests": sum(r["num_model_requests"] for r in results)
            + sum(x.metric("num_model_requests") for x in extras),
        }
        t = truth["openai"]
        assert served == {
            "input": t["input_tokens"],
            "cached": t["cached_input_tokens"],
            "write": t["cache_write_tokens"],
            "output": t["output_tokens"],
            "requests": t["requests"],
        }
        q = urllib.parse.urlencode(
            [("start_time", _unix(day)), ("end_time", _unix(day + timedelta(1)))]
        )
        costs = _get(f"{sim.openai_base_url}/organization/costs?{q}", oa_headers)
        amount = sum(
            (Decimal(str(r["amount"]["value"])) for b in costs["data"] for r in b["results"]),
            Decimal(0),
        )
        assert amount == t["billed_cost_usd"]
        # Anthropic messages usage, hourly
        start, end = f"{day}T00:00:00Z", f"{day + timedelta(1)}T00:00:00Z"
        q = urllib.parse.urlencode(
            [
                ("starting_at", start),
                ("ending_at", end),
                ("bucket_width", "1h"),
                ("limit", 24),
                ("group_by[]", "api_key_id"),
                ("group_by[]", "model"),
            ]
        )
        doc = _get(
            f"{sim.anthropic_base_url}/v1/organizations/usage_report/messages?{q}", an_headers
        )
        assert not doc["has_more"] and len(doc["data"]) == 24
        results = [r for b in doc["data"] for r in b["results"]]
        t = truth["anthropic"]
        assert sum(r["uncached_input_tokens"] for r in results) == t["input_tokens"]
        assert sum(r["cache_read_input_tokens"] for r in results) == t["cached_input_tokens"]
        assert sum(r["output_tokens"] for r in results) == t["output_tokens"]
        assert (
            sum(
                r["cache_creation"]["ephemeral_5m_input_tokens"]
                + r["cache_creation"]["ephemeral_1h_input_tokens"]
                for r in results
            )
            == t["cache_write_tokens"]
        )
        q = urllib.parse.urlencode([("starting_at", start), ("ending_at", end)])
        report = _get(f"{sim.anthropic_base_url}/v1/organizations/cost_report?{q}", an_headers)
        cents = sum(
            (Decimal(r["amount"]) for b in report["data"] for r in b["results"]), Decimal(0)
        )
        assert cents / 100 == t["billed_cost_usd"]


def test_open_inputs_starts_the_simulator_at_the_scale(tmp_path: Any) -> None:
    from orchestration.sources import open_inputs

    settings = load_settings(
        {
            "AISPEND_WAREHOUSE": str(tmp_path / "w.duckdb"),
            "AISPEND_START_DATE": "2026-03-02",
            "AISPEND_END_DATE": "2026-03-04",
            "AISPEND_PROVIDERS": "openai,telemetry",
            "AISPEND_SIMULATOR_SCALE": "medium",
        }
    )
    with open_inputs(settings, env={}) as inputs:
        assert inputs.simulator.config.scale == "medium"
        assert inputs.simulator.org.scale == "medium"
        root = simulator_export_root(settings)
        assert root.name.endswith("_medium")
        assert "scale=medium" in (root / ".complete").read_text()
        lines = (root / "telemetry" / "requests" / "2026-03-02.jsonl").read_text().splitlines()
        spans = (root / "telemetry" / "otlp" / "2026-03-02.json").read_text().count('"spanId"')
        cap = SCALE_SPECS["medium"].telemetry_records_per_day
        assert cap is not None and len(lines) + spans >= cap
