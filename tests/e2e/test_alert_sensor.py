"""The alert sensor after a real Dagster run: what it reads, what it sends, what it does not.

A tiny job stands in for the daily run (a real run in a real instance, with an asset check
that passes or fails); the analytics tables are published to a serving copy exactly as the
pipeline does; the routes point at a real HTTP receiver (Slack, Teams, signed webhook) and a
real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pytest

from alerts.channels import verify_signature
from orchestration.defs.alerting import alerts_after_run, alerts_on_failure
from orchestration.serving import publish
from tests.support.receivers import Receiver

AS_OF = date(2026, 11, 29)  # the run's window ends here (exclusive)
SECRET = "whsec-marker-1234567890"


def _analytics_warehouse(path: Path) -> Path:
    """The analytics tables of a run, with one anomaly episode and one budget crossing."""
    anomalies = pd.DataFrame(
        {
            "series_id": ["provider:openai", "provider:openai"],
            "scope": ["provider", "provider"],
            "scope_value": ["openai", "openai"],
            "day": pd.to_datetime(["2026-11-27", "2026-11-28"]),
            "actual": [3100.0, 2900.0],
            "expected": [400.0, 410.0],
            "lower": [300.0, 300.0],
            "upper": [500.0, 500.0],
            "impact_usd": [2700.0, 2490.0],
            "impact_pct": [6.75, 6.07],
            "score": [12.0, 11.0],
            "direction": ["spike", "spike"],
            "is_anomaly": [True, True],
            "is_first_day": [True, False],
            "is_alert": [True, False],
            "episode_id": ["provider:openai@2026-11-27"] * 2,
            "episode_start": pd.to_datetime(["2026-11-27", "2026-11-27"]),
            "level_shift": [False, False],
            "severity": ["critical", "critical"],
        }
    )
    drivers = pd.DataFrame(
        {
            "series_id": ["provider:openai"] * 3,
            "day": pd.to_datetime(["2026-11-27"] * 3),
            "driver_kind": ["component", "dimension", "dimension"],
            "name": ["component", "api_key_id", "model"],
            "value": ["volume", "key_runaway", "gpt-4.1"],
            "impact_usd": [2650.0, 2600.0, 2400.0],
            "share_of_change": [0.98, 0.96, 0.89],
            "rank": [1, 1, 1],
            "baseline_usd": [400.0, 100.0, 300.0],
            "actual_usd": [3100.0, 2700.0, 2700.0],
        }
    )
    crossings = pd.DataFrame(
        {
            "budget_id": ["openai-monthly"],
            "month": [date(2026, 11, 1)],
            "threshold_pct": [80.0],
            "basis": ["actual"],
            "crossed_on": [date(2026, 11, 27)],
            "threshold_amount": [12000.0],
            "budget_amount_reporting": [15000.0],
            "scope": ["provider"],
            "scope_value": ["openai"],
            "owner_email": ["platform-lead@example.com"],
        }
    )
    status = pd.DataFrame(
        {
            "budget_id": ["openai-monthly"],
            "budget_name": ["OpenAI"],
            "scope": ["provider"],
            "scope_value": ["openai"],
            "series_id": ["provider:openai"],
            "month": [date(2026, 11, 1)],
            "is_current_month": [True],
            "status": ["threshold_crossed"],
            "budget_amount": [15000.0],
            "budget_currency": ["USD"],
            "budget_amount_reporting": [15000.0],
            "reporting_currency": ["USD"],
            "days_observed": [28],
            "days_in_month": [30],
            "actual_mtd": [13100.0],
            "pct_used": [87.3],
            "forecast_month_end": [14300.0],
            "forecast_lower_80": [14000.0],
            "forecast_upper_80": [14600.0],
            "pct_forecast": [95.3],
            "forecast_crosses_budget_on": [None],
        }
    )
    with duckdb.connect(str(path)) as con:
        con.execute("create schema analytics; create schema marts")
        con.execute("create table marts.fct_ai_spend as select 1 as x")
        for name, frame in {
            "anomalies": anomalies,
            "anomaly_drivers": drivers,
            "budget_threshold_crossings": crossings,
            "budget_status": status,
        }.items():
            con.register("f", frame)
            con.execute(f"create table analytics.{name} as select * from f")
            con.unregister("f")
    return path


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox()
    controller = controller_mod.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def setup(
    tmp_path: Path, env: pytest.MonkeyPatch, receiver: Receiver, smtp: tuple[int, _Inbox]
) -> dict[str, Any]:
    data = tmp_path / "data"
    data.mkdir()
    warehouse = _analytics_warehouse(tmp_path / "run_warehouse.duckdb")
    publish(warehouse, data / "serving")
    routes = tmp_path / "alert_routes.yaml"
    routes.write_text(
        "routes:\n"
        "  - {name: slack, channel: slack, url_env: T_SLACK_URL}\n"
        "  - {name: teams, channel: teams, url_env: T_TEAMS_URL}\n"
        "  - {name: hook, channel: webhook, url_env: T_HOOK_URL, secret_env: T_HOOK_SECRET}\n"
        "  - name: mail\n"
        "    channel: email\n"
        "    kinds: [budget]\n"
        "    to: [finops@example.com]\n"
        "    include_owner: true\n"
        "    smtp: {host_env: T_SMTP_HOST, port_env: T_SMTP_PORT, from: aispend@example.com}\n"
        "  - {name: file, channel: file, path: data/alerts/alerts.jsonl}\n"
    )
    port, inbox = smtp
    for name, value in {
        "AISPEND_WAREHOUSE": str(data / "warehouse.duckdb"),
        "AISPEND_START_DATE": "2026-06-02",
        "AISPEND_END_DATE": AS_OF.isoformat(),
        "AISPEND_ALERT_ROUTES": str(routes),
        "AISPEND_DAGSTER_URL": "http://dagster.example:3000",
        "T_SLACK_URL": receiver.url("/slack/T000/B000/secret-slack-token"),
        "T_TEAMS_URL": receiver.url("/teams/webhook/secret-teams-token"),
        "T_HOOK_URL": receiver.url("/hook"),
        "T_HOOK_SECRET": SECRET,
        "T_SMTP_HOST": "127.0.0.1",
        "T_SMTP_PORT": str(port),
    }.items():
        env.setenv(name, value)
    return {"data": data, "receiver": receiver, "inbox": inbox}


def _run(instance: dg.DagsterInstance, check_passes: bool, fail_run: bool = False) -> Any:
    """A real run of a job named like the daily job, with one ERROR-severity check."""

    @dg.asset(key=["marts", "fct_ai_spend_allocated"])
    def allocated() -> None:
        if fail_run:
            raise RuntimeError("provider API answered 503 five times")

    @dg.asset_check(asset=allocated, name="assert_allocated_spend_reconciles_to_the_bill")
    def reconciles() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            passed=check_passes,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None if check_passes else "openai 2026-11-28 off by $12.34",
        )

    defs = dg.Definitions(
        assets=[allocated],
        asset_checks=[reconciles],
        jobs=[dg.define_asset_job("aispend_daily")],
    )
    result = defs.resolve_job_def("aispend_daily").execute_in_process(
        instance=instance, raise_on_error=False
    )
    return instance.get_run_by_id(result.run_id)


def _tick(instance: dg.DagsterInstance, run: Any) -> None:
    status = (
        dg.DagsterEventType.RUN_SUCCESS
        if run.status == dg.DagsterRunStatus.SUCCESS
        else dg.DagsterEventType.RUN_FAILURE
    )
    record = instance.get_records_for_run(run.run_id, of_type=status).records[0]
    event = record.event_log_entry.dagster_event
    if status == dg.DagsterEventType.RUN_SUCCESS:
        alerts_after_run(
            dg.build_run_status_sensor_context(
                sensor_name="aispend_alerts_after_run",
                dagster_event=event,
                dagster_instance=instance,
                dagster_run=run,
            )
        )
    else:
        alerts_on_failure(
            dg.build_run_status_sensor_context(
                sensor_name="aispend_alerts_on_failure",
                dagster_event=event,
                dagster_instance=instance,
                dagster_run=run,
            ).for_run_failure()
        )


def _by_path(receiver: Receiver) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for request in receiver.requests:
        out.setdefault(request.path.split("/")[1], []).append(request)
    return out


def test_after_a_good_run_the_sensor_alerts_once_per_incident(setup: dict[str, Any]) -> None:
    receiver, inbox = setup["receiver"], setup["inbox"]
    with dg.DagsterInstance.ephemeral() as instance:
        run = _run(instance, check_passes=True)
        _tick(instance, run)

        got = _by_path(receiver)
        # one anomaly episode (its first day only) and one budget crossing, on each HTTP route
        assert {k: len(v) for k, v in got.items()} == {"slack": 2, "teams": 2, "hook": 2}
        slack = [r.json() for r in got["slack"]]
        anomaly = next(m for m in slack if "provider:openai" in json.dumps(m["blocks"][0]))
        text = json.dumps(anomaly)
        for fragment in ("$3,100.00", "$400.00", "+$2,700.00", "+675%", "key_runaway", "volume"):
            assert fragment in text, fragment
        assert "http://dagster.example:3000/assets/analytics/anomalies" in text
        teams = got["teams"][0].json()
        assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
        for request in got["hook"]:
            headers = {k.lower(): v for k, v in request.headers.items()}
            assert verify_signature(
                SECRET,
                headers["x-aispend-timestamp"],
                request.body,
                headers["x-aispend-signature"],
            )
        hooks = {r.json()["kind"]: r.json() for r in got["hook"]}
        assert hooks["anomaly"]["details"]["impact_usd"] == pytest.approx(2700.0)
        assert hooks["anomaly"]["alert_id"] == "anomaly:provider:openai:2026-11-27"
        assert hooks["budget"]["details"]["threshold_pct"] == 80
        # the budget alert by email, to the route's list and the budget's owner
        assert len(inbox.messages) == 1
        mail = inbox.messages[0]
        assert "OpenAI" in mail["Subject"] and "80%" in mail["Subject"]
        assert "platform-lead@example.com" in mail["To"]
        lines = (setup["data"] / "alerts" / "alerts.jsonl").read_text().splitlines()
        assert len(lines) == 2

        # a second tick (or tomorrow's run, same episode) sends nothing new
        _tick(instance, run)
        again = _run(instance, check_passes=True)
        _tick(instance, again)
        assert len(receiver.requests) == 6
        assert len(inbox.messages) == 1
        # no secret reached the alert file or the state
        stored = (setup["data"] / "alerts" / "alerts.jsonl").read_text()
        state = (setup["data"] / "alerts" / "state.sqlite").read_bytes()
        for secret in (SECRET, "secret-slack-token", "secret-teams-token"):
            assert secret not in stored and secret.encode() not in state


def test_a_failed_check_sends_untrusted_data_instead_of_anomalies(setup: dict[str, Any]) -> None:
    receiver = setup["receiver"]
    with dg.DagsterInstance.ephemeral() as instance:
        run = _run(instance, check_passes=False)
        assert run.status == dg.DagsterRunStatus.SUCCESS  # a non-blocking check: run succeeds
        _tick(instance, run)
    hooks = [r.json() for r in _by_path(receiver)["hook"]]
    kinds = sorted(h["kind"] for h in hooks)
    assert "anomaly" not in kinds
    untrusted = next(h for h in hooks if h["alert_id"].startswith("untrusted_data:"))
    assert untrusted["data_trusted"] is False
    assert "assert_allocated_spend_reconciles_to_the_bill" in json.dumps(untrusted)


def test_a_failed_run_is_reported_with_its_step_and_error(setup: dict[str, Any]) -> None:
    receiver = setup["receiver"]
    with dg.DagsterInstance.ephemeral() as instance:
        run = _run(instance, check_passes=True, fail_run=True)
        assert run.status == dg.DagsterRunStatus.FAILURE
        _tick(instance, run)
    hooks = [r.json() for r in _by_path(receiver)["hook"]]
    assert [h["kind"] for h in hooks] == ["run_failure"]
    assert hooks[0]["details"]["run_id"] == run.run_id
    assert "marts__fct_ai_spend_allocated" in json.dumps(hooks[0])
