"""A backfill launched as the Dagster UI launches it, carried out by the real daemon.

On a real deployment (webserver + daemon, the project's instance settings), a backfill of 34
daily partitions of the whole graph is launched through the webserver's GraphQL API (the
`launchPartitionBackfill` mutation the UI's backfill dialog sends). The daemon must split the
partitioned ingestion assets as their backfill policy says, into runs of at most 31 days (here
31 + 3), each naming its range, and run the unpartitioned models after them: every run
succeeds, every partition is recorded as materialized, the warehouse holds every day of the
range once, and the spend fact has every day.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import query
from tests.support.dagster_deployment import dagster_deployment

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql.client"),
]

START, END = date(2026, 8, 1), date(2026, 9, 4)  # 34 days, end exclusive
RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}  # see tests/e2e/test_run_queue.py
TIMEOUT = 540

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}
"""
RANGE_END = "dagster/asset_partition_range_end"
DONE = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")


def _openai_keys() -> list[Any]:
    from orchestration.defs.ingestion import source_assets

    (openai,) = [a for a in source_assets if a.node_def.name == "openai_ingest"]
    return sorted(openai.keys)


def _every_key() -> list[Any]:
    from orchestration.definitions import defs

    return sorted(defs.resolve_all_asset_keys())


def _days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days)]


def test_the_daemon_backfills_the_graph_in_runs_of_a_month_then_the_models(
    tmp_path: Path,
) -> None:
    import dagster as dg
    from dagster_graphql import DagsterGraphQLClient

    warehouse = tmp_path / "data" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    variables = {
        "AISPEND_WAREHOUSE": str(warehouse),
        "AISPEND_START_DATE": START.isoformat(),
        "AISPEND_END_DATE": END.isoformat(),
        "AISPEND_PROVIDERS": "openai",
    }
    keys = _openai_keys()
    home = tmp_path / "dagster_home"
    with dagster_deployment(home, variables) as dep:
        client = DagsterGraphQLClient("127.0.0.1", port_number=dep.port)
        launched = client._execute(
            LAUNCH,
            {
                "params": {
                    "partitionNames": _days(START, END),
                    "assetSelection": [{"path": k.path} for k in _every_key()],
                    "runConfigData": RUN_CONFIG,
                    "title": "e2e backfill",
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        deadline = time.monotonic() + TIMEOUT
        while True:
            status = client._execute(STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            if status.get("status") in DONE:
                break
            assert time.monotonic() < deadline, f"backfill not done after {TIMEOUT} s: {status}"
            time.sleep(1)
        assert status["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), (status, dep.logs())

        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            statuses = {r.run_id: r.status for r in runs}
            ranges = sorted(
                (r.tags["dagster/asset_partition_range_start"], r.tags[RANGE_END])
                for r in runs
                if RANGE_END in r.tags
            )
            materialized = instance.get_materialized_partitions(keys[0])

    assert set(statuses.values()) == {dg.DagsterRunStatus.SUCCESS}, statuses
    # the policy's split: 31 days, then the 3 left; the models ran in runs of their own
    assert ranges == [("2026-08-01", "2026-08-31"), ("2026-09-01", "2026-09-03")]
    assert len(statuses) > len(ranges)
    assert materialized == set(_days(START, END))
    # every day of the range is in the warehouse, and no usage bucket twice
    days, rows, buckets = query(
        warehouse,
        "select count(distinct cast(to_timestamp(start_time) as date)), count(*), "
        "count(distinct _row_key) from raw_openai.completions_usage",
    )[0]
    assert days == 34
    assert rows == buckets
    # the models ran after the last ingestion run: the fact has every day
    fact_days = query(
        warehouse,
        "select count(distinct usage_date) from marts.fct_ai_spend where provider = 'openai'",
    )[0][0]
    assert fact_days == 34
