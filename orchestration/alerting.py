"""Send the alerts a daily run calls for: the glue between a Dagster run and `alerts/`.

Used by the sensors (orchestration/defs/alerting.py) and by `aispend run` (so `make run`
without a daemon still writes its alerts). Reads the run's check results from the Dagster
instance and the analytics tables from the serving copy, never the pipeline's own file.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from alerts import AlertState, Route, dispatch, load_routes
from alerts.collect import DEFAULT_LOOKBACK_DAYS, collect_alerts
from alerts.model import Alert, run_failure_alert
from alerts.state import DispatchReport
from orchestration.serving import SERVING_FILE, serving_dir
from orchestration.settings import Settings, duckdb_config

log = logging.getLogger(__name__)


def dagster_url() -> str:
    """Where links in alerts point (`AISPEND_DAGSTER_URL`, default the local `make dev`)."""
    return os.environ.get("AISPEND_DAGSTER_URL", "").strip() or "http://localhost:3000"


def alerts_dir(settings: Settings) -> Path:
    """`data/alerts/` beside the warehouse: the alert state and the default alert file."""
    return settings.warehouse.parent / "alerts"


def _localize(path: str | None, data_dir: Path) -> str | None:
    """A relative path in the routes file is relative to the data folder (`data/...` too)."""
    if not path or path == "-" or Path(path).is_absolute():
        return path
    parts = Path(path).parts
    rel = Path(*parts[1:]) if parts and parts[0] == "data" else Path(path)
    return str(data_dir / rel)


def routes(settings: Settings) -> list[Route]:
    """The routes file's usable routes, with relative paths under the data folder."""
    data_dir = settings.warehouse.parent
    out = []
    for route in load_routes():
        changes = {}
        for name in ("path", "attachment"):
            changes[name] = _localize(getattr(route, name), data_dir)
        if route.channel == "file" and not changes["path"]:
            changes["path"] = str(alerts_dir(settings) / "alerts.jsonl")
        out.append(dataclasses.replace(route, **changes))
    return out


def failed_checks(instance: Any, run_id: str) -> list[dict[str, Any]]:
    """The ERROR-severity asset checks that failed in the run (WARN ones do not count)."""
    import dagster as dg

    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    out = []
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if evaluation is None or evaluation.passed:
            continue
        if evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        description = evaluation.description or ""
        out.append(
            {
                "check_name": evaluation.check_name,
                "asset": evaluation.asset_key.to_user_string(),
                "message": description or f"check {evaluation.check_name} failed",
                "severity": "high",
            }
        )
    return out


def collect_run_alerts(
    settings: Settings, run_id: str | None, checks: list[dict[str, Any]]
) -> list[Alert]:
    """Alerts from the serving copy after a run; none (with a warning) if there is no copy."""
    served = serving_dir(settings.warehouse) / SERVING_FILE
    lookback = int(os.environ.get("AISPEND_ALERT_LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS))
    if not served.exists():
        log.warning("no serving copy at %s: only check alerts can be sent", served)
        from alerts.model import check_alert, untrusted_data_alert

        day = settings.end_date
        head = [untrusted_data_alert(checks, run_id, dagster_url(), on=day)] if checks else []
        return head + [check_alert(c, dagster_url(), on=day) for c in checks]
    with duckdb.connect(str(served), read_only=True, config=duckdb_config()) as con:
        return collect_alerts(
            con,
            settings.end_date,
            lookback_days=lookback,
            link_base=dagster_url(),
            failed_checks=checks,
            run_id=run_id,
        )


def send(settings: Settings, alerts: list[Alert]) -> DispatchReport:
    """Dispatch through the routes, deduplicated by the alert state in data/alerts/."""
    state = AlertState(alerts_dir(settings) / "state.sqlite")
    return dispatch(alerts, routes(settings), state, datetime.now(UTC))


def send_after_success(settings: Settings, instance: Any, run_id: str) -> DispatchReport:
    """What the success sensor does: check results, then the run's alerts."""
    checks = failed_checks(instance, run_id)
    return send(settings, collect_run_alerts(settings, run_id, checks))


def send_after_failure(
    settings: Settings, instance: Any, run_id: str, job: str, step: str | None, error: str
) -> DispatchReport:
    """What the failure sensor does: a run-failure alert and any failed checks."""
    checks = failed_checks(instance, run_id)
    alerts = [
        run_failure_alert(
            {"run_id": run_id, "job": job, "step": step, "error": error},
            dagster_url(),
        )
    ]
    if checks:
        alerts.extend(collect_run_alerts(settings, run_id, checks))
    return send(settings, alerts)
