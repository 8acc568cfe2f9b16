"""Which alerts were sent where: a small SQLite file, and `dispatch`, which uses it.

SQLite, not the warehouse: DuckDB is locked by pipeline runs, while the sensor that sends
alerts must read and write its state at any time. One row per `alert_id`:

* a new id is sent to every matching route;
* the same id with the same `payload_hash` (a persisting anomaly, re-read every tick) is not
  sent again;
* the same id with a different hash (a restated day changed the numbers) is sent once more,
  as an update (`Alert.updated`), to every matching route;
* routes that failed (after the channel's own retries) are kept in `channels_failed`, and a
  later dispatch retries those routes only.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.channels import Channel, ChannelConfigError, DeliveryError, RetryPolicy, make_channel
from alerts.model import Alert
from alerts.redact import redact
from alerts.routes import Route, routes_for

log = logging.getLogger(__name__)

DEFAULT_STATE_PATH = "data/alerts/state.sqlite"
SCHEMA_VERSION = 1
_SCHEMA = """
create table if not exists alert_state (
    alert_id          text primary key,
    kind              text not null,
    first_seen        text not null,
    last_seen         text not null,
    status            text not null check (status in ('open', 'resolved')),
    last_payload_hash text not null,
    revision          integer not null default 0,
    sent_at           text,
    channels_ok       text not null default '[]',
    channels_failed   text not null default '[]',
    last_error        text
)
"""


@dataclass(frozen=True)
class DeliveryResult:
    """One alert to one route: delivered or not, after how many attempts."""

    alert_id: str
    route: str
    channel: str
    ok: bool
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class StateRow:
    """A row of `alert_state`, channels decoded."""

    alert_id: str
    kind: str
    first_seen: str
    last_seen: str
    status: str
    last_payload_hash: str
    revision: int
    sent_at: str | None
    channels_ok: tuple[str, ...]
    channels_failed: tuple[str, ...]
    last_error: str | None


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="seconds")


def state_path(env: Mapping[str, str] | None = None) -> Path:
    """`AISPEND_ALERT_STATE`, else data/alerts/state.sqlite."""
    env = os.environ if env is None else env
    return Path(env.get("AISPEND_ALERT_STATE", "").strip() or DEFAULT_STATE_PATH).expanduser()


class AlertState:
    """The alert state file; each call opens its own short connection (thread/process safe)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else state_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(_SCHEMA)
            con.execute(f"pragma user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One immediate (write-locked) transaction: read-then-write in `record` is atomic."""
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("begin immediate")
            try:
                yield con
            except BaseException:
                con.execute("rollback")
                raise
            con.execute("commit")
        finally:
            con.close()

    # ------------------------------------------------------------ reads

    def get(self, alert_id: str) -> StateRow | None:
        rows = self._rows([alert_id])
        return rows.get(alert_id)

    def rows(self) -> list[StateRow]:
        with self._connect() as con:
            cur = con.execute("select * from alert_state order by alert_id")
            return [self._decode(r) for r in cur.fetchall()]

    def _rows(self, ids: Sequence[str]) -> dict[str, StateRow]:
        out: dict[str, StateRow] = {}
        with self._connect() as con:
            for i in range(0, len(ids), 500):
                chunk = list(ids[i : i + 500])
                marks = ",".join("?" * len(chunk))
                cur = con.execute(f"select * from alert_state where alert_id in ({marks})", chunk)
                for r in cur.fetchall():
                    row = self._decode(r)
                    out[row.alert_id] = row
        return out

    @staticmethod
    def _decode(r: Sequence[Any]) -> StateRow:
        return StateRow(
            alert_id=r[0],
            kind=r[1],
            first_seen=r[2],
            last_seen=r[3],
            status=r[4],
            last_payload_hash=r[5],
            revision=int(r[6]),
            sent_at=r[7],
            channels_ok=tuple(json.loads(r[8] or "[]")),
            channels_failed=tuple(json.loads(r[9] or "[]")),
            last_error=r[10],
        )

    def plan(self, alerts: Sequence[Alert]) -> list[Alert]:
        """What must be sent: new ids, changed payloads (as `updated=True`), pending retries."""
        alerts, _ = apply_trust(alerts)
        known = self._rows([a.alert_id for a in alerts])
        out: list[Alert] = []
        for alert in alerts:
            row = known.get(alert.alert_id)
            if row is None:
                out.append(replace(alert, updated=False))
            elif row.last_payload_hash != alert.payload_hash():
                out.append(replace(alert, updated=True))
            elif row.channels_failed:
                out.append(replace(alert, updated=row.revision > 0))
        return out

    def pending_routes(self, alert: Alert, routes: Sequence[Route]) -> list[Route]:
        """All of `routes` for a new or changed payload; only the failed ones for a retry."""
        row = self.get(alert.alert_id)
        if row is None or row.last_payload_hash != alert.payload_hash():
            return list(routes)
        return [r for r in routes if r.name in row.channels_failed]

    # ------------------------------------------------------------ writes

    def record(
        self, alert: Alert, results: Sequence[DeliveryResult], now: datetime | None = None
    ) -> StateRow:
        """Store the outcome of sending `alert` (its current payload) to some routes."""
        now = now or datetime.now(UTC)
        ts = _iso(now)
        digest = alert.payload_hash()
        ok = [r.route for r in results if r.ok]
        failed = [r.route for r in results if not r.ok]
        errors = "; ".join(f"{r.route}: {r.error}" for r in results if not r.ok and r.error)
        with self._connect() as con:
            cur = con.execute(
                "select * from alert_state where alert_id = ?", (alert.alert_id,)
            ).fetchone()
            prev = self._decode(cur) if cur else None
            same = prev is not None and prev.last_payload_hash == digest
            channels_ok = sorted(set(prev.channels_ok if same and prev else ()) | set(ok))
            revision = 0 if prev is None else prev.revision + (0 if same else 1)
            sent_at = ts if ok else (prev.sent_at if same and prev else None)
            con.execute(
                """
                insert into alert_state (alert_id, kind, first_seen, last_seen, status,
                    last_payload_hash, revision, sent_at, channels_ok, channels_failed, last_error)
                values (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)
                on conflict (alert_id) do update set
                    kind = excluded.kind, last_seen = excluded.last_seen, status = 'open',
                    last_payload_hash = excluded.last_payload_hash, revision = excluded.revision,
                    sent_at = excluded.sent_at, channels_ok = excluded.channels_ok,
                    channels_failed = excluded.channels_failed, last_error = excluded.last_error
                """,
                (
                    alert.alert_id,
                    alert.kind,
                    ts,
                    ts,
                    digest,
                    revision,
                    sent_at,
                    json.dumps(channels_ok),
                    json.dumps(sorted(set(failed))),
                    errors or None,
                ),
            )
        row = self.get(alert.alert_id)
        assert row is not None
        return row

    def touch(self, alert_ids: Iterable[str], now: datetime | None = None) -> None:
        """Mark alerts as seen again (a persisting anomaly) without sending anything."""
        ts = _iso(now or datetime.now(UTC))
        with self._connect() as con:
            con.executemany(
                "update alert_state set last_seen = ? where alert_id = ?",
                [(ts, a) for a in alert_ids],
            )

    def resolve(self, alert_ids: Iterable[str], now: datetime | None = None) -> int:
        """Close alerts (episode over, budget month ended); a changed payload reopens one."""
        ts = _iso(now or datetime.now(UTC))
        with self._connect() as con:
            cur = con.executemany(
                "update alert_state set status = 'resolved', last_seen = ? "
                "where alert_id = ? and status = 'open'",
                [(ts, a) for a in alert_ids],
            )
            return cur.rowcount


# ---------------------------------------------------------------- dispatch


@dataclass
class DispatchReport:
    """What one dispatch did, for logs and the sensor's run metadata."""

    sent: list[str] = field(default_factory=list)  # ≥ 1 route took it
    updates: list[str] = field(default_factory=list)  # of those, updates of a changed payload
    skipped: list[str] = field(default_factory=list)  # already sent, unchanged
    withheld: list[str] = field(default_factory=list)  # anomalies replaced by untrusted data
    unrouted: list[str] = field(default_factory=list)  # no route takes the kind/severity
    deliveries: list[DeliveryResult] = field(default_factory=list)

    @property
    def failures(self) -> list[DeliveryResult]:
        return [d for d in self.deliveries if not d.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        text = (
            f"alerts: {len(self.sent)} sent ({len(self.updates)} updates), "
            f"{len(self.skipped)} already sent, {len(self.withheld)} withheld, "
            f"{len(self.failures)} failed deliveries"
        )
        if self.failures:
            text += ": " + "; ".join(f"{f.alert_id} → {f.route}: {f.error}" for f in self.failures)
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "updates": self.updates,
            "skipped": self.skipped,
            "withheld": self.withheld,
            "unrouted": self.unrouted,
            "failures": [
                {"alert_id": f.alert_id, "route": f.route, "attempts": f.attempts, "error": f.error}
                for f in self.failures
            ],
        }


def apply_trust(alerts: Sequence[Alert]) -> tuple[list[Alert], list[Alert]]:
    """(kept, withheld): an untrusted-data alert in the batch replaces its anomaly alerts."""
    untrusted = any(a.kind == "data_quality" and not a.data_trusted for a in alerts)
    if not untrusted:
        return list(alerts), []
    kept = [a for a in alerts if a.kind != "anomaly"]
    withheld = [a for a in alerts if a.kind == "anomaly"]
    return kept, withheld


def _unique(alerts: Iterable[Alert]) -> list[Alert]:
    out: dict[str, Alert] = {}
    for alert in alerts:
        if alert.alert_id in out:
            log.warning("alert %s appears twice in one batch: the last one is kept", alert.alert_id)
        out[alert.alert_id] = alert
    return list(out.values())


def _deliver(channel: Channel, alert: Alert, route: Route) -> DeliveryResult:
    started = time.monotonic()
    try:
        attempts = channel.send(alert)
    except DeliveryError as exc:
        log.error("alert %s: %s", alert.alert_id, exc)
        return DeliveryResult(
            alert.alert_id, route.name, route.channel, False, exc.attempts, exc.last_error
        )
    except Exception as exc:  # a rendering bug must not stop the other alerts
        log.exception("alert %s: route %r failed unexpectedly", alert.alert_id, route.name)
        error = redact(f"{type(exc).__name__}: {exc}")
        return DeliveryResult(alert.alert_id, route.name, route.channel, False, 1, error)
    log.debug("alert %s → %s in %.2fs", alert.alert_id, route.name, time.monotonic() - started)
    return DeliveryResult(alert.alert_id, route.name, route.channel, True, attempts)


def dispatch(
    alerts: Iterable[Alert],
    routes: Sequence[Route],
    state: AlertState,
    now: datetime | None = None,
    *,
    env: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    channels: Mapping[str, Channel] | None = None,
    **channel_options: Any,
) -> DispatchReport:
    """Plan against the state, send to each matching route, record the outcome.

    `channels` (route name → channel) overrides how a route's channel is built (tests, or a
    caller that shares sessions); `channel_options` go to `make_channel` (ssl_context, sleep).
    """
    now = now or datetime.now(UTC)
    env = os.environ if env is None else env
    report = DispatchReport()
    batch = _unique(alerts)
    kept, withheld = apply_trust(batch)
    report.withheld = [a.alert_id for a in withheld]
    if withheld:
        log.warning("data not trustworthy: %d anomaly alert(s) withheld", len(withheld))
    planned = state.plan(kept)
    planned_ids = {a.alert_id for a in planned}
    report.skipped = [a.alert_id for a in kept if a.alert_id not in planned_ids]
    state.touch(report.skipped, now)
    built: dict[str, Channel] = dict(channels or {})
    try:
        _send_planned(planned, routes, state, now, env, policy, built, report, channel_options)
    finally:
        for name, channel in built.items():
            close = getattr(channel, "close", None)
            if close is not None and name not in (channels or {}):
                close()
    log.info(report.summary())
    return report


def _send_planned(
    planned: Sequence[Alert],
    routes: Sequence[Route],
    state: AlertState,
    now: datetime,
    env: Mapping[str, str],
    policy: RetryPolicy | None,
    built: dict[str, Channel],
    report: DispatchReport,
    channel_options: Mapping[str, Any],
) -> None:
    for alert in planned:
        targets = state.pending_routes(alert, routes_for(alert, routes))
        if not targets and not state.get(alert.alert_id):
            report.unrouted.append(alert.alert_id)
        results: list[DeliveryResult] = []
        for route in targets:
            channel = built.get(route.name)
            if channel is None:
                try:
                    channel = make_channel(route, env, policy, **channel_options)
                except ChannelConfigError as exc:
                    results.append(
                        DeliveryResult(
                            alert.alert_id, route.name, route.channel, False, 0, str(exc)
                        )
                    )
                    continue
                built[route.name] = channel
            results.append(_deliver(channel, alert, route))
        state.record(alert, results, now)
        report.deliveries += results
        if any(r.ok for r in results):
            report.sent.append(alert.alert_id)
            if alert.updated:
                report.updates.append(alert.alert_id)
