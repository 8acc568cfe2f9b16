"""The simulator's application telemetry: consistent with the provider usage, seeded."""

import json
from collections import defaultdict
from datetime import date

import pytest

from ingestion.simulator import SimConfig, Simulator
from ingestion.simulator.telemetry import (
    APPS,
    api_usage,
    telemetry_plan,
    telemetry_truth,
    write_telemetry,
)

CFG = SimConfig(seed=7, start=date(2026, 3, 2), end=date(2026, 3, 16))
DAYS = 2


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(CFG)


@pytest.fixture(scope="module")
def truth(sim: Simulator) -> list[dict]:
    return telemetry_truth(sim, recent_days=DAYS)


def per_key(rows: list[dict]) -> dict[tuple, list[int]]:
    out: dict[tuple, list[int]] = defaultdict(lambda: [0] * 5)
    for r in rows:
        acc = out[(r["date"], r["provider"], r["api_key_id"], r["model"])]
        acc[0] += r["requests"] - r["errors"]
        for i, f in enumerate(
            ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"), 1
        ):
            acc[i] += r[f]
    return out


def test_instrumented_keys_match_the_provider_usage_exactly(sim, truth):
    plan = telemetry_plan(sim)
    got = per_key(truth)
    days = sim.org.days()[-DAYS:]
    checked = 0
    for day in days:
        for (provider, key, model), usage in api_usage(sim, day).items():
            if (provider, key) not in plan.keys:
                assert (day.isoformat(), provider, key, model) not in got
                continue
            assert got[(day.isoformat(), provider, key, model)] == usage
            checked += 1
    assert checked > 20
    assert {k[0] for k in got} == {d.isoformat() for d in days}


def test_coverage_is_about_ninety_percent_of_tokens(sim, truth):
    covered = sum(sum(v[1:]) for v in per_key(truth).values())
    total = sum(sum(u[1:]) for d in sim.org.days()[-DAYS:] for u in api_usage(sim, d).values())
    assert 0.8 < covered / total < 0.97
    plan = telemetry_plan(sim)
    assert ("anthropic", None) in plan.uninstrumented  # the Console is never instrumented


def test_shared_keys_split_over_features_teams_and_customers(sim, truth):
    shared = telemetry_plan(sim).shared_keys
    assert len(shared) >= 2
    for provider, key in shared:
        rows = [r for r in truth if (r["provider"], r["api_key_id"]) == (provider, key)]
        assert len({(r["feature"], r["team"]) for r in rows}) >= 3
        assert len({r["customer_id"] for r in rows if r["customer_id"]}) >= 10


def test_errors_and_retries_are_a_few_percent(truth):
    requests = sum(r["requests"] for r in truth)
    errors = sum(r["errors"] for r in truth)
    retries = sum(r["retries"] for r in truth)
    assert 0.01 < errors / requests < 0.08
    assert 0.01 < retries / requests < 0.06


def test_files_are_deterministic_and_formats_split_services(sim, tmp_path):
    a = write_telemetry(sim, tmp_path / "a", recent_days=1)
    b = write_telemetry(Simulator(CFG), tmp_path / "b", recent_days=1)
    day = CFG.end.fromordinal(CFG.end.toordinal() - 1).isoformat()
    for kind, suffix in (("otlp", "json"), ("requests", "jsonl")):
        name = f"{day}.{suffix}"
        assert (a[kind] / name).read_bytes() == (b[kind] / name).read_bytes()
    doc = json.loads((a["otlp"] / f"{day}.json").read_text())
    otlp_services = {
        attr["value"]["stringValue"]
        for rs in doc["resourceSpans"]
        for attr in rs["resource"]["attributes"]
        if attr["key"] == "service.name"
    }
    lines = (a["requests"] / f"{day}.jsonl").read_text().splitlines()
    log_services = {json.loads(line)["service"] for line in lines[:5000]}
    assert otlp_services and log_services and not otlp_services & log_services
    assert otlp_services <= {x.service for x in APPS if x.export == "otlp"}
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    keys = {attr["key"] for attr in span["attributes"]}
    assert {"gen_ai.system", "gen_ai.request.model", "aispend.api_key_id", "app.feature"} <= keys
    assert isinstance(span["startTimeUnixNano"], str)


def test_sample_cap_keeps_tokens_exact(sim):
    capped = telemetry_truth(sim, recent_days=1, sample_per_day=2_000)
    full = telemetry_truth(sim, recent_days=1)
    assert sum(r["requests"] for r in capped) < 2_000 * 1.2
    strip = {k: v[1:] for k, v in per_key(capped).items()}
    assert strip == {k: v[1:] for k, v in per_key(full).items()}
