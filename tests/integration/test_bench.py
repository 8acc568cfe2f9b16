"""`make bench` as CI runs it: `scripts/bench.py --scale small --quick` end to end, in a child
process. A smoke test: every section ran and gave positive figures, the table printed; no
speed thresholds (the machine is shared)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AISPEND_ENV, ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]


def _positive(section: str, value: object) -> None:
    assert isinstance(value, int | float) and value > 0, f"{section}: {value!r} is not positive"


def test_bench_quick_small(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k not in AISPEND_ENV}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "--scale",
            "small",
            "--quick",
            "--json",
            str(out),
            "--work-dir",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for heading in (
        "INGESTION",
        "FULL BACKFILL",
        "DBT BUILD PER LAYER",
        "FORECASTS",
        "DAILY INCREMENTAL",
        "steps that grow most with history",
        "TARGETS (issue 9)",
    ):
        assert heading in proc.stdout, f"{heading} missing from the table:\n{proc.stdout[-3000:]}"

    results = json.loads(out.read_text())
    meta = results["meta"]
    assert meta["scale"] == "small" and meta["quick"] is True
    assert meta["commit"] and meta["machine"]["cores"] and meta["versions"]["duckdb"]

    ingestion = results["ingestion"]
    assert set(ingestion["sources"]) >= {"openai", "anthropic", "cursor", "aws_cur", "telemetry"}
    for name, source in ingestion["sources"].items():
        for key in ("rows", "seconds", "rows_per_s"):
            _positive(f"ingestion {name} {key}", source[key])
        for key in ("rows", "seconds", "rows_per_s"):
            _positive(f"ingestion {name} baseline {key}", source["baseline"][key])
        _positive(f"ingestion {name} ratio", source["ratio_to_baseline"])
        if source["kind"] == "api":
            _positive(f"ingestion {name} serving", source["simulator_serving_seconds"])
    for kind in ("api", "files"):
        _positive(f"ingestion {kind} rows/s", ingestion[kind]["rows_per_s"])

    backfill = results["backfill"]
    _positive("backfill seconds", backfill["seconds"])
    _positive("backfill peak memory", backfill["peak_rss_bytes"])

    dbt = results["dbt"]
    assert set(dbt["layers"]) == {"staging", "intermediate", "marts"}
    for layer, run in dbt["layers"].items():
        _positive(f"dbt {layer} seconds", run["seconds"])
        _positive(f"dbt {layer} model seconds", run["node_seconds"]["model"])
    _positive("dbt baseline seconds", dbt["baseline_seconds"])
    # the hand-written statement is the same transformation: same bill per provider
    assert dbt["baseline_matches"], dbt["baseline_check"]

    forecast = results["forecast"]
    for mode in ("pool", "sequential"):
        _positive(f"forecast {mode} series/s", forecast[mode]["series_per_s"])
    assert forecast["sequential"]["workers"] == 1
    assert forecast["results_equal"], forecast["max_abs_difference"]

    incremental = results["incremental"]
    assert set(incremental["runs"]) == {"7", "14"}
    for history, run in incremental["runs"].items():
        _positive(f"incremental {history} seconds", run["seconds"])
        assert run["steps"], f"incremental {history}: no per-step seconds"
    _positive("incremental ratio", incremental["ratio"])

    _positive("peak memory", results["memory"]["peak_tree_gib"])
    assert set(results["targets"]) == {
        "incremental_ratio",
        "backfill_minutes",
        "backfill_peak_gib",
        "file_ingestion_share",
        "api_rows_per_s",
        "dbt_ratio",
        "forecast_speedup",
    }
