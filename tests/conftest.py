"""Shared fixtures: a prepared dbt manifest, a clean environment and a pipeline runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orchestration.warehouse import Warehouse, connect
from tests.support.receivers import receiver  # noqa: F401  (a fixture for every test)

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"
AISPEND_ENV = (
    "AISPEND_TARGET",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "AISPEND_WAREHOUSE",
    "AISPEND_START_DATE",
    "AISPEND_END_DATE",
    "AISPEND_PROVIDERS",
    "AISPEND_LOOKBACK_DAYS",
    "AISPEND_SIMULATOR_SEED",
    "AISPEND_SIMULATOR_SCALE",
    "AISPEND_SIMULATOR_WORLD_END",
    "AISPEND_SERVING_DIR",
    "AISPEND_REPORTS_DIR",
    "AISPEND_ALERT_ROUTES",
    "AISPEND_ALERT_STATE",
    "AISPEND_ALERT_LOOKBACK_DAYS",
    "AISPEND_DAGSTER_URL",
    "OPENAI_ADMIN_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_ADMIN_KEY",
    "ANTHROPIC_BASE_URL",
    "DAGSTER_HOME",
)

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def pytest_sessionstart(session: pytest.Session) -> None:
    """dagster-dbt reads dbt's manifest when `orchestration.definitions` is imported (at test
    collection): parse before collecting, so no test runs against a manifest older than the
    models. Under pytest-xdist only the controller parses, before it starts the workers (its
    own session start runs last): workers parsing at once would write the same manifest."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run([str(dbt), "parse", "--quiet", "--no-partial-parse"], cwd=DBT_DIR, check=True)


# `make test` hands whole modules to two pytest-xdist workers (`--dist loadscope`), so a
# module's tests share its module-scoped runs. The longest modules go out first (slowest first,
# from a CI run's durations: about 750, 590, 380, 350, 270 s, then under 200 s each), so no
# long one starts when the other worker is almost done. Others keep their collection order.
LONGEST_FIRST = (
    "tests/integration/test_chaos.py",
    "tests/integration/test_bench.py",
    "tests/integration/test_pipeline_on_simulator.py",
    "tests/e2e/test_run_queue.py",
    "tests/e2e/test_backfill_daemon.py",
    "tests/integration/test_configured_endpoints.py",
    "tests/e2e/test_dagster_on_postgres.py",
    "tests/integration/test_pipeline_on_both_targets.py",
    "tests/integration/test_dbt_on_both_targets.py",
    "tests/integration/test_secrets.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def clean_env(mp: pytest.MonkeyPatch) -> None:
    for name in AISPEND_ENV:
        mp.delenv(name, raising=False)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A monkeypatch with every aispend variable cleared first."""
    clean_env(monkeypatch)
    return monkeypatch


def materialize_all(raise_on_failure: bool = True) -> Any:
    """Run the daily job in-process, as the schedule would, on an ephemeral instance."""
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.partitions import daily_run_tags

    job = defs.resolve_job_def("aispend_daily")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, tags=daily_run_tags()
        )
    if raise_on_failure and not result.success:
        failures = [e.message for e in result.all_events if e.is_failure]
        raise AssertionError(f"pipeline run failed: {failures}")
    return result


def failed_checks(result: Any) -> list[str]:
    return [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]


def passed_checks(result: Any) -> int:
    return sum(1 for e in result.get_asset_check_evaluations() if e.passed)


def query(warehouse: Warehouse, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of `sql` (`?` placeholders) from a DuckDB file (a Path) or the run's target (the
    run's Settings)."""
    with connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def fact_by_provider_day(warehouse: Warehouse) -> dict[tuple[str, str], dict[str, Any]]:
    rows = query(
        warehouse,
        "select provider, cast(usage_date as varchar), sum(billed_cost_usd), "
        "sum(input_tokens), sum(cached_input_tokens), sum(cache_write_tokens), "
        "sum(output_tokens), sum(requests) "
        "from marts.fct_ai_spend group by 1, 2",
    )
    return {
        (r[0], r[1]): {
            "billed_cost_usd": Decimal(r[2]),
            "input_tokens": int(r[3]),
            "cached_input_tokens": int(r[4]),
            "cache_write_tokens": int(r[5]),
            "output_tokens": int(r[6]),
            "requests": None if r[7] is None else int(r[7]),
        }
        for r in rows
    }


@pytest.fixture
def run_pipeline(env: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Any]:
    """Set env vars (a temporary warehouse by default) and materialize the whole graph."""
    env.setenv("AISPEND_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))

    def _run(raise_on_failure: bool = True, **variables: str) -> Any:
        for name, value in variables.items():
            env.setenv(name, value)
        return materialize_all(raise_on_failure)

    return _run


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "warehouse.duckdb"
