"""Backfills by daily partition on the embedded simulator (real dlt, dbt and Dagster runs).

A backfill in runs of a few days (what Dagster's multi-run backfill policy makes of a range,
here 3 days per run so an 8-day window crossing a month takes three) must leave the warehouse a
single daily run leaves: the same raw rows, the same spend per provider and day, nothing lost at
a run's edge, nothing doubled where a monthly export file spans two runs. A backfill of days in
the middle of what is loaded must read them again: dlt's cursor alone would skip them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from orchestration.sources import SOURCES
from tests.conftest import clean_env, fact_by_provider_day, query

pytestmark = pytest.mark.timeout(900)

START, END = date(2026, 9, 27), date(2026, 10, 5)  # 8 days over a month's end, end exclusive
MIDDLE = date(2026, 10, 1)
ENV = {
    "AISPEND_START_DATE": START.isoformat(),
    "AISPEND_END_DATE": END.isoformat(),
    "AISPEND_SIMULATOR_WORLD_END": END.isoformat(),
}


def _env(mp: pytest.MonkeyPatch, warehouse: Path) -> None:
    clean_env(mp)
    mp.setenv("AISPEND_WAREHOUSE", str(warehouse))
    for name, value in ENV.items():
        mp.setenv(name, value)


def _raw_counts(warehouse: Path) -> dict[str, int]:
    """Rows of every raw table (dlt's own tables left out)."""
    out = {}
    for spec in SOURCES.values():
        tables = query(
            warehouse,
            "select table_name from information_schema.tables where table_schema = "
            f"'{spec.dataset}' and not starts_with(table_name, '_dlt')",
        )
        for (table,) in tables:
            out[f"{spec.dataset}.{table}"] = query(
                warehouse, f'select count(*) from {spec.dataset}."{table}"'
            )[0][0]
    return out


def _openai_keys() -> list[Any]:
    from orchestration.defs.ingestion import source_assets

    (openai,) = [a for a in source_assets if a.node_def.name == "openai_ingest"]
    return sorted(openai.keys)


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One warehouse from `aispend backfill` in runs of 3 days, one from a single daily run."""
    from orchestration import cli

    root = tmp_path_factory.mktemp("partitioned")
    out: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, root / "backfill" / "warehouse.duckdb")
        out["backfill_rc"] = cli.main(["backfill", "--days-per-run", "3", "--log-level", "ERROR"])
        _env(mp, root / "daily" / "warehouse.duckdb")
        ok, result = cli.run_pipeline("ERROR")
        assert ok, "the single daily run failed"
    out["daily_partitions"] = {
        m.partition
        for m in result.asset_materializations_for_node("openai_ingest")
        if m.asset_key.path[-1] == "completions_usage"
    }
    out["backfill"] = root / "backfill" / "warehouse.duckdb"
    out["daily"] = root / "daily" / "warehouse.duckdb"
    return out


def test_a_backfill_in_runs_of_days_loads_what_one_run_loads(
    warehouses: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert warehouses["backfill_rc"] == 0
    backfill, daily = warehouses["backfill"], warehouses["daily"]
    raw = _raw_counts(daily)
    assert raw["raw_openai.completions_usage"] > 0 and raw["raw_aws_cur.cur_line_items"] > 0
    assert _raw_counts(backfill) == raw
    fact = fact_by_provider_day(daily)
    assert len({day for _, day in fact}) == (END - START).days
    assert fact_by_provider_day(backfill) == fact
    allocated = "select sum(billed_cost_usd), count(*) from marts.fct_ai_spend_allocated"
    assert query(backfill, allocated) == query(daily, allocated)
    # the daily run loaded the whole window but names only its last days (lookback 3 + 1):
    # a partition range of the whole window costs an event per day and asset
    assert warehouses["daily_partitions"] == {
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
        "2026-10-04",
    }


def test_a_backfill_of_days_in_the_middle_reads_them_again(warehouses: dict[str, Any]) -> None:
    """Rows of a middle day lost from raw come back from a backfill of that day alone, and the
    next daily run rebuilds the same spend; nothing else is touched."""
    from orchestration import cli

    daily = warehouses["daily"]
    before = _raw_counts(daily)
    fact = fact_by_provider_day(daily)
    day_start = f"epoch(timestamp '{MIDDLE}')"
    lost = f"start_time >= {day_start} and start_time < {day_start} + 86400"
    import duckdb

    with duckdb.connect(str(daily)) as con:
        con.execute(f"delete from raw_openai.completions_usage where {lost}")
        con.execute(f"delete from raw_openai.costs where {lost}")
    assert (
        _raw_counts(daily)["raw_openai.completions_usage"] < before["raw_openai.completions_usage"]
    )

    with pytest.MonkeyPatch.context() as mp:
        _env(mp, daily)
        ok, result = cli.run_pipeline("ERROR", (MIDDLE, date(2026, 10, 2)), _openai_keys())
        assert ok
        assert result.dagster_run.tags["aispend/run"] == "backfill"
        ok, _ = cli.run_pipeline("ERROR")
        assert ok
    loaded = {
        m.asset_key.path[-1]: m.metadata["rows_loaded"].value
        for m in result.asset_materializations_for_node("openai_ingest")
        if "rows_loaded" in m.metadata
    }
    assert loaded["completions_usage"] > 0, loaded
    assert _raw_counts(daily) == before
    assert fact_by_provider_day(daily) == fact


def test_a_simulated_backfill_outside_the_window_names_the_variables(tmp_path: Path) -> None:
    from orchestration import cli

    with pytest.MonkeyPatch.context() as mp:
        _env(mp, tmp_path / "warehouse.duckdb")
        ok, result = cli.run_pipeline("ERROR", (date(2026, 9, 1), date(2026, 9, 3)), _openai_keys())
    assert not ok
    errors = "\n".join(
        e.event_specific_data.error.to_string() for e in result.all_events if e.is_step_failure
    )
    assert "2026-09-01..2026-09-03 are outside the simulated window" in errors
    assert "AISPEND_START_DATE" in errors
