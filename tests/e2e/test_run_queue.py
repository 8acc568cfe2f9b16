"""Overlapping runs queue instead of failing on the DuckDB lock (issue 7).

DuckDB allows one writer per file. On a real deployment (webserver + daemon on a temporary
DAGSTER_HOME with the project's instance settings: at most one run at a time), two runs of the
daily job launched back to back must run one after the other: the second is seen waiting in the
queue while the first runs, both succeed, no step meets a DuckDB lock, and the warehouse holds
each provider-day's spend once (the simulator's truth), not twice.

With `max_concurrent_runs: 2` both runs succeed too (the `duckdb_write` pool of one slot
serialises their writing steps, interleaved): only the observed queue tells the two apart.
"""

from __future__ import annotations

import re
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orchestration.partitions import daily_tags
from tests.conftest import fact_by_provider_day
from tests.support.dagster_deployment import Deployment, dagster_deployment

pytestmark = [
    pytest.mark.timeout(600),
    # the GraphQL client's gql calls warn on every status poll
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql.client"),
]

JOB, LOCATION, REPOSITORY = "aispend_daily", "aispend", "__repository__"
START, END = date(2026, 8, 1), date(2026, 8, 11)  # 10 days, end exclusive
PROVIDERS = ("openai", "anthropic")
SEED = 42
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
RUN_TIMEOUT = 400
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
# The run queue (what this test is about) is the same whatever executes the steps inside a run.
# The job's default multiprocess executor starts one Python per step and each re-imports the
# code location (~9 s here): a run took 314 s on 2 cores. In-process, a run takes under a minute.
RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}
# DuckDB: "IO Error: Could not set lock on file ...: Conflicting lock is held in ..."
LOCK_ERROR = re.compile(r"could not set lock|conflicting lock|lock on file", re.IGNORECASE)

Timeline = list[tuple[float, dict[str, str]]]


def _submit(client: Any, n: int) -> str:
    run_id: str = client.submit_job_execution(
        JOB,
        repository_location_name=LOCATION,
        repository_name=REPOSITORY,
        run_config=RUN_CONFIG,
        tags={**daily_tags(START, END, lookback_days=3), "aispend/test": f"run_queue_{n}"},
    )
    return run_id


def _poll_until_finished(client: Any, run_ids: list[str]) -> Timeline:
    """Every run's status, polled through the webserver until all are finished."""
    seen: Timeline = []
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        statuses = {i: client.get_run_status(i).value for i in run_ids}
        seen.append((time.time(), statuses))
        if all(s in FINISHED for s in statuses.values()):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"runs not finished after {RUN_TIMEOUT} s: {statuses}")
        time.sleep(0.5)


def _transitions(seen: Timeline, run_ids: list[str]) -> list[str]:
    """The polled statuses, one line per change, for a failure message."""
    out: list[str] = []
    last: tuple[str, ...] = ()
    for at, statuses in seen:
        now = tuple(statuses[i] for i in run_ids)
        if now != last:
            out.append(f"+{at - seen[0][0]:5.1f} s  " + " / ".join(now))
            last = now
    return out


def _events(instance: Any, run_id: str) -> dict[str, float]:
    """First timestamp of each run-level event type (RUN_ENQUEUED, RUN_STARTING, ...)."""
    out: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        if entry.dagster_event is not None:
            out.setdefault(entry.dagster_event.event_type_value, entry.timestamp)
    return out


def _messages(instance: Any, run_id: str) -> list[str]:
    """Every message of the run's event log, with the error text of failures."""
    out = []
    for entry in instance.all_logs(run_id):
        out.append(entry.user_message or "")
        event = entry.dagster_event
        error = getattr(getattr(event, "event_specific_data", None), "error", None)
        if error is not None:
            out.append(error.to_string())
    return [m for m in out if m]


def _materialized(instance: Any, run_id: str) -> list[str]:
    import dagster as dg

    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    return sorted(r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records)


def _compute_logs(home: Path) -> str:
    """The steps' captured stdout/stderr (the local compute log manager's files)."""
    return "\n".join(
        p.read_text(errors="replace")
        for p in (home / "storage").rglob("*")
        if p.is_file() and p.suffix in (".out", ".err", ".log")
    )


def _truth() -> dict[tuple[str, str], dict[str, Any]]:
    from ingestion.simulator import SimConfig, Simulator

    with Simulator(SimConfig(seed=SEED, start=START, end=END)) as sim:
        return {(t["provider"], t["date"]): t for t in sim.daily_totals()}


def _check_queue_and_runs(dep: Deployment, run_ids: list[str], seen: Timeline) -> str:
    """The assertions on the runs themselves; returns a one-line timing summary."""
    import dagster as dg

    first, second = run_ids
    with dg.DagsterInstance.from_config(str(dep.home)) as instance:
        records = {i: instance.get_run_record_by_id(i) for i in run_ids}
        failed = {
            i: _messages(instance, i)[-10:]
            for i, r in records.items()
            if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS
        }
        assert not failed, f"runs did not succeed: {failed}"
        ev1, ev2 = _events(instance, first), _events(instance, second)
        messages = _messages(instance, first) + _messages(instance, second)
        assets1, assets2 = _materialized(instance, first), _materialized(instance, second)
    one, two = records[first], records[second]

    # the second run was seen waiting in the queue while the first one ran
    assert any(s[first] == "STARTED" and s[second] == "QUEUED" for _, s in seen), (
        "never saw run 2 QUEUED while run 1 was STARTED; statuses (run 1 / run 2):\n"
        + "\n".join(_transitions(seen, run_ids))
    )

    # the queued run coordinator logs ENQUEUED on submission and STARTING when the daemon takes
    # the run off the queue (dagster 1.13 logs no DEQUEUED event on that path)
    enq, starting = dg.DagsterEventType.RUN_ENQUEUED.value, dg.DagsterEventType.RUN_STARTING.value
    success = dg.DagsterEventType.RUN_SUCCESS.value
    for run_id, ev in ((first, ev1), (second, ev2)):
        assert {enq, starting, success} <= set(ev), f"{run_id}: {sorted(ev)}"
        assert ev[enq] <= ev[starting] <= ev[success], f"{run_id}: {ev}"
    # FIFO, and no overlap: the second was enqueued while the first ran, and left the queue
    # only once the first had ended
    assert ev2[enq] < ev1[success] <= ev2[starting], (ev1, ev2)
    assert one.start_time is not None and one.end_time is not None
    assert two.start_time is not None and two.end_time is not None
    assert two.start_time >= one.end_time, (one.start_time, one.end_time, two.start_time)

    # the second run did the whole job again (so "once" below means idempotent, not skipped)
    assert assets1 and assets1 == assets2, (assets1, assets2)

    # no step met the DuckDB lock: event log, steps' output, daemon and webserver logs
    logs = "\n".join([*messages, _compute_logs(dep.home), dep.log("daemon"), dep.log("webserver")])
    assert not LOCK_ERROR.findall(logs), [
        line for line in logs.splitlines() if LOCK_ERROR.search(line)
    ][:5]

    return (
        f"run 1 {one.end_time - one.start_time:.1f} s, "
        f"run 2 {two.end_time - two.start_time:.1f} s, "
        f"run 2 queued {ev2[starting] - ev2[enq]:.1f} s, "
        f"gap {two.start_time - one.end_time:.1f} s, "
        f"{len(assets1)} assets per run; statuses (run 1 / run 2):\n"
        + "\n".join(_transitions(seen, run_ids))
    )


def _check_spend_once(warehouse: Path) -> None:
    """The warehouse after both runs holds the simulator's truth for the window, once."""
    fact = fact_by_provider_day(warehouse)
    expected = _truth()
    assert {k[0] for k in fact} == set(PROVIDERS)
    assert set(fact) <= set(expected), sorted(set(fact) - set(expected))
    assert sum(t["billed_cost_usd"] for t in expected.values()) > 0
    for key, t in expected.items():
        row = fact.get(key)
        if row is None:
            assert t["billed_cost_usd"] == 0, f"{key} missing from the fact table"
            continue
        assert abs(row["billed_cost_usd"] - t["billed_cost_usd"]) < Decimal("0.005"), (key, row)
        for name in TOKEN_FIELDS:
            assert row[name] == t[name], (key, name, row[name], t[name])


def test_two_overlapping_runs_queue_and_both_succeed(tmp_path: Path) -> None:
    from dagster_graphql import DagsterGraphQLClient

    warehouse = tmp_path / "data" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    variables = {
        "AISPEND_WAREHOUSE": str(warehouse),
        "AISPEND_START_DATE": START.isoformat(),
        "AISPEND_END_DATE": END.isoformat(),
        "AISPEND_PROVIDERS": ",".join(PROVIDERS),
        "AISPEND_SIMULATOR_SEED": str(SEED),
    }
    # a webserver or daemon that does not come up fails the test (DeploymentFailed, with its
    # log): it is never skipped
    with dagster_deployment(tmp_path / "dagster_home", variables) as dep:
        client = DagsterGraphQLClient("127.0.0.1", port_number=dep.port)
        run_ids = [_submit(client, 1), _submit(client, 2)]
        seen = _poll_until_finished(client, run_ids)
        summary = _check_queue_and_runs(dep, run_ids, seen)
        _check_spend_once(warehouse)
    print(f"\n{summary}")
