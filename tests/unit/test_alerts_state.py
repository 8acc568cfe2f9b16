"""Alert state and dispatch: send once, send an update once, withhold anomalies on untrusted
data, retry only the failed route, and keep the state in SQLite with the documented columns."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.channels import DeliveryError
from alerts.model import Alert, anomaly_alert, budget_alert, untrusted_data_alert
from alerts.routes import Route, parse_routes
from alerts.state import AlertState, apply_trust, dispatch

T0 = datetime(2024, 5, 4, 6, 0, tzinfo=UTC)


def _anomaly(series: str = "provider:openai", actual: float = 4123.0, **kw: Any) -> Alert:
    row = {
        "series_id": series,
        "day": "2024-05-03",
        "episode_start": "2024-05-03",
        "expected": 1000.0,
        "actual": actual,
        "severity": "high",
    }
    return anomaly_alert(row, link_base="http://d:3000", **kw)


class _Recorder:
    """A channel that records what it was asked to send and fails while `failing` is set."""

    channel = "fake"

    def __init__(self, route: str, failing: bool = False) -> None:
        self.route = route
        self.failing = failing
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> int:
        if self.failing:
            raise DeliveryError("fake", self.route, 3, "HTTP 500 from https://hooks.example")
        self.sent.append(alert)
        return 1


@pytest.fixture
def setup(tmp_path: Path) -> tuple[list[Route], AlertState, Path]:
    log = tmp_path / "alerts.jsonl"
    routes = parse_routes(
        [
            {"name": "log", "channel": "file", "path": str(log)},
            {"name": "pager", "channel": "webhook", "url_env": "PAGER_URL", "min_severity": "high"},
        ]
    )
    return routes, AlertState(tmp_path / "alerts" / "state.sqlite"), log


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_second_dispatch_of_the_same_alerts_sends_nothing(setup: Any) -> None:
    routes, state, log = setup
    pager = _Recorder("pager")
    alerts = [_anomaly(), _anomaly("team:search", 900.0)]
    first = dispatch(alerts, routes, state, T0, channels={"pager": pager})
    assert first.ok and first.sent == [a.alert_id for a in alerts]
    assert len(_lines(log)) == 2 and len(pager.sent) == 2

    later = T0 + timedelta(hours=1)
    again = dispatch(alerts, routes, state, later, channels={"pager": pager})
    assert again.sent == [] and again.deliveries == [] and again.skipped == first.sent
    assert len(_lines(log)) == 2 and len(pager.sent) == 2
    row = state.get(alerts[0].alert_id)
    assert row is not None and row.last_seen > row.first_seen and row.sent_at == row.first_seen


def test_restated_day_sends_one_update(setup: Any) -> None:
    routes, state, log = setup
    pager = _Recorder("pager")
    dispatch([_anomaly()], routes, state, T0, channels={"pager": pager})
    restated = _anomaly(actual=3900.0)
    report = dispatch([restated], routes, state, T0 + timedelta(days=1), channels={"pager": pager})
    assert report.sent == report.updates == [restated.alert_id]
    assert [line["updated"] for line in _lines(log)] == [False, True]
    assert pager.sent[-1].updated and "$3,900.00" in pager.sent[-1].summary
    row = state.get(restated.alert_id)
    assert (
        row is not None and row.revision == 1 and row.last_payload_hash == restated.payload_hash()
    )
    # the persisting, restated anomaly is not re-sent either
    assert dispatch([restated], routes, state, T0 + timedelta(days=2)).deliveries == []


def test_untrusted_data_alert_replaces_anomaly_alerts(setup: Any) -> None:
    routes, state, log = setup
    pager = _Recorder("pager")
    anomalies = [_anomaly(), _anomaly("org", 9000.0)]
    untrusted = untrusted_data_alert(
        [{"check": "reconciles", "asset": "marts/fct_ai_spend", "message": "off by 40%"}],
        "run-1",
        on=date(2024, 5, 3),
    )
    budget = budget_alert(
        {
            "budget_id": "b",
            "month": "2024-05-01",
            "threshold_pct": 80,
            "basis": "actual",
            "crossed_on": "2024-05-03",
        }
    )
    report = dispatch([*anomalies, untrusted, budget], routes, state, T0, channels={"pager": pager})
    assert report.withheld == [a.alert_id for a in anomalies]
    assert report.sent == [untrusted.alert_id, budget.alert_id]
    assert [line["alert_id"] for line in _lines(log)] == report.sent
    assert all(state.get(a.alert_id) is None for a in anomalies)  # not marked as sent

    # the next run's data pass: the anomalies go out then
    trusted = dispatch(anomalies, routes, state, T0 + timedelta(hours=6), channels={"pager": pager})
    assert trusted.sent == [a.alert_id for a in anomalies] and trusted.withheld == []
    kept, withheld = apply_trust([budget, anomalies[0]])
    assert (kept, withheld) == ([budget, anomalies[0]], [])


def test_failed_route_is_retried_alone_by_a_later_dispatch(setup: Any) -> None:
    routes, state, log = setup
    pager = _Recorder("pager", failing=True)
    alert = _anomaly()
    report = dispatch([alert], routes, state, T0, channels={"pager": pager})
    assert report.sent == [alert.alert_id]  # the file route took it
    [failure] = report.failures
    assert (failure.route, failure.attempts) == ("pager", 3)
    row = state.get(alert.alert_id)
    assert row is not None
    assert (row.channels_ok, row.channels_failed) == (("log",), ("pager",))
    assert row.last_error == "pager: HTTP 500 from https://hooks.example"
    assert "1 failed deliveries: anomaly:provider:openai:2024-05-03 → pager" in report.summary()

    pager.failing = False
    retry = dispatch([alert], routes, state, T0 + timedelta(minutes=5), channels={"pager": pager})
    assert [(d.route, d.ok) for d in retry.deliveries] == [("pager", True)]
    assert len(_lines(log)) == 1 and not pager.sent[0].updated
    row = state.get(alert.alert_id)
    assert row is not None
    assert (row.channels_ok, row.channels_failed, row.last_error) == (("log", "pager"), (), None)
    assert dispatch([alert], routes, state, T0 + timedelta(minutes=10)).deliveries == []


def test_update_after_a_failure_goes_to_every_route(setup: Any) -> None:
    routes, state, log = setup
    pager = _Recorder("pager", failing=True)
    dispatch([_anomaly()], routes, state, T0, channels={"pager": pager})
    pager.failing = False
    dispatch([_anomaly(actual=5000.0)], routes, state, T0, channels={"pager": pager})
    assert len(_lines(log)) == 2 and len(pager.sent) == 1 and pager.sent[0].updated


def test_unrouted_missing_env_and_resolve(setup: Any) -> None:
    routes, state, _ = setup
    low = _anomaly("team:x", 2000.0)
    low = Alert(**{**low.__dict__, "severity": "low"})
    pager_only = [r for r in routes if r.name == "pager"]  # min_severity: high
    assert dispatch([low], pager_only, state, T0).unrouted == [low.alert_id]
    assert state.plan([low]) == []  # recorded: not planned again

    alert = _anomaly()
    report = dispatch([alert], routes, state, T0, env={})  # PAGER_URL unset at send time
    [failure] = report.failures
    assert failure.attempts == 0 and "PAGER_URL" in (failure.error or "")

    assert state.resolve([alert.alert_id], T0) == 1
    row = state.get(alert.alert_id)
    assert row is not None and row.status == "resolved"
    changed = _anomaly(actual=7000.0)
    dispatch([changed], routes, state, T0, channels={"pager": _Recorder("pager")})
    row = state.get(alert.alert_id)
    assert row is not None and row.status == "open" and row.revision == 1


def test_state_file_schema(setup: Any) -> None:
    _, state, _ = setup
    with sqlite3.connect(state.path) as con:
        cols = [r[1] for r in con.execute("pragma table_info(alert_state)")]
    assert cols == [
        "alert_id",
        "kind",
        "first_seen",
        "last_seen",
        "status",
        "last_payload_hash",
        "revision",
        "sent_at",
        "channels_ok",
        "channels_failed",
        "last_error",
    ]
    assert state.path.name == "state.sqlite" and state.path.parent.name == "alerts"
