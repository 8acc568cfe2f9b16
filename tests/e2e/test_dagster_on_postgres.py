"""Dagster's instance on PostgreSQL (orchestration/dagster-postgres.yaml): a real deployment
shares its runs, event log and schedule state through a real PostgreSQL server.

A throwaway server is started (tests/support/postgres.py); `dagster-webserver` and
`dagster-daemon` run on a DAGSTER_HOME holding a copy of the PostgreSQL instance settings, with
the connection in libpq's PG* variables. The daily job is submitted through the webserver (one
process), taken off the queue by the daemon (a second), executed by a run worker (a third) and
then read back by this test (a fourth) both through a new DagsterInstance and straight from
the server's tables with psycopg2: the run and its events, the schedule's state, sensor ticks
and daemon heartbeats are all rows in PostgreSQL, and nothing of it is in SQLite files under
DAGSTER_HOME. The server's password (a marker) is in none of those rows, logs or files.

The warehouse itself is DuckDB here: this test is about Dagster's storage, which is independent
of AISPEND_TARGET.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from orchestration.partitions import daily_tags
from orchestration.settings import PROJECT_ROOT
from tests.conftest import query
from tests.support.dagster_deployment import dagster_deployment
from tests.support.leaks import Searcher
from tests.support.postgres import PostgresServer, postgres_fixture  # noqa: F401

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql.client"),
]

JOB, LOCATION, REPOSITORY = "aispend_daily", "aispend", "__repository__"
SCHEDULE = "aispend_daily_schedule"
START, END = date(2026, 8, 1), date(2026, 8, 4)  # 3 days, end exclusive
RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}  # see tests/e2e/test_run_queue.py
RUN_TIMEOUT = 400
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def _wait(what: str, ready: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(1)


def _all_rows_as_text(db: PostgresServer) -> dict[str, str]:
    """Every row of every table Dagster created, as text, by table."""
    tables = [
        t
        for (t,) in db.query(
            "select table_name from information_schema.tables where table_schema = 'public'"
        )
    ]
    return {
        table: "\n".join(r[0] for r in db.query(f'select t::text from public."{table}" t'))
        for table in tables
    }


def test_runs_events_and_schedules_live_in_postgres(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg
    from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType
    from dagster_graphql import DagsterGraphQLClient

    db = postgres.create_database("dagster_e2e")
    for name, value in db.env().items():  # this process builds instances on the same storage
        monkeypatch.setenv(name, value)
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    home = tmp_path / "dagster_home"
    variables = {
        "AISPEND_WAREHOUSE": str(warehouse),
        "AISPEND_START_DATE": START.isoformat(),
        "AISPEND_END_DATE": END.isoformat(),
        "AISPEND_PROVIDERS": "openai",
        **db.env(),
    }
    started = time.monotonic()
    yaml = PROJECT_ROOT / "orchestration" / "dagster-postgres.yaml"
    with dagster_deployment(home, variables, instance_yaml=yaml) as dep:
        up = time.monotonic() - started
        client = DagsterGraphQLClient("127.0.0.1", port_number=dep.port)
        run_id = client.submit_job_execution(
            JOB,
            repository_location_name=LOCATION,
            repository_name=REPOSITORY,
            run_config=RUN_CONFIG,
            tags={**daily_tags(START, END, lookback_days=3), "aispend/test": "dagster_on_postgres"},
        )
        status = _wait(
            "the run to finish",
            lambda: (s := client.get_run_status(run_id).value) in FINISHED and s,
            RUN_TIMEOUT,
        )
        # the daemon records the schedule's state (RUNNING by default) and ticks the sensors
        _wait(
            "the schedule's state and a sensor tick in PostgreSQL",
            lambda: db.query(
                "select 1 from jobs j, job_ticks t where j.job_type = 'SCHEDULE' "
                "and j.job_body like %s and t.type = 'SENSOR' limit 1",
                [f'%"{SCHEDULE}"%'],
            ),
        )
        heartbeats = {d for (d,) in db.query("select daemon_type from daemon_heartbeats")}
        logs = dep.log("webserver") + dep.log("daemon")
    took = time.monotonic() - started

    # ---- a new instance object in this process sees what the other processes wrote
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        record = instance.get_run_record_by_id(run_id)
        assert record is not None and record.dagster_run.job_name == JOB
        run = record.dagster_run
        failures = [
            f"{e.step_key}: {e.dagster_event.event_specific_data.error.to_string()[-3000:]}"
            for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        ]
        assert status == "SUCCESS" and run.status == dg.DagsterRunStatus.SUCCESS, failures
        materialized = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        schedules = [
            s
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
            if s.name == SCHEDULE
        ]
        assert len(schedules) == 1 and schedules[0].status in (
            InstigatorStatus.DECLARED_IN_CODE,
            InstigatorStatus.RUNNING,
        )
    assert len(materialized) > 20

    # ---- and the same, straight from the server's tables
    [(status_row, job_name)] = db.query(
        "select status, pipeline_name from runs where run_id = %s", [run_id]
    )
    assert (status_row, job_name) == ("SUCCESS", JOB)
    events = dict(
        db.query(
            "select dagster_event_type, count(*) from event_logs where run_id = %s group by 1",
            [run_id],
        )
    )
    kinds = dg.DagsterEventType  # stored under their values: RUN_SUCCESS is "PIPELINE_SUCCESS"
    assert events.get(kinds.RUN_ENQUEUED.value) == 1, events
    assert events.get(kinds.RUN_SUCCESS.value) == 1, events
    assert events.get(kinds.ASSET_MATERIALIZATION.value) == len(materialized), events
    assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"} <= heartbeats, heartbeats

    # ---- nothing of it on local disk: no SQLite run, event or schedule storage
    sqlite_files = [p for p in home.rglob("*") if p.suffix in (".db", ".sqlite")]
    assert not sqlite_files, sqlite_files

    # ---- the run did the job (on the DuckDB warehouse this test leaves as the default)
    [(fact_rows,)] = query(
        warehouse, "select count(*) from marts.fct_ai_spend where provider = 'openai'"
    )
    assert fact_rows > 0

    # ---- the server's password is in no row Dagster wrote, no log and no file of the home
    searcher = Searcher({"PGPASSWORD": db.password})
    leaks = [
        leak
        for table, text in _all_rows_as_text(db).items()
        for leak in searcher.in_text(text, f"postgres table {table}")
    ]
    leaks += searcher.in_text(logs, "webserver and daemon logs")
    leaks += searcher.in_tree(home, "DAGSTER_HOME")
    assert len(searcher.searched) > 20, searcher.searched
    assert not leaks, [str(leak) for leak in leaks]
    run_seconds = (record.end_time or 0) - (record.start_time or 0)
    print(
        f"\ndeployment up in {up:.1f} s; run {run_seconds:.1f} s "
        f"({len(materialized)} materializations, {sum(events.values())} events in PostgreSQL); "
        f"whole test {took:.1f} s"
    )
