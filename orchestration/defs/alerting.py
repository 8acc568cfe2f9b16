"""Alert sensors: after each daily run, tell people what moved; after a failed run, that it
failed. RUNNING by default (a stopped sensor alerts nobody); the daemon (`make dev` starts
one) runs them. Dedup is the alert state's job: a second tick, or the same episode seen by
tomorrow's run, sends nothing new.

No `from __future__ import annotations` here: Dagster inspects the context annotations.
"""

import dagster as dg

from orchestration.alerting import send_after_failure, send_after_success
from orchestration.defs.automation import daily_job
from orchestration.settings import load_settings


@dg.run_status_sensor(
    name="aispend_alerts_after_run",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "After a successful daily run: new anomaly episodes (first day only), budget "
        "thresholds crossed on actual and on forecast, and, when a data-quality check of the "
        "run failed, one 'data not trustworthy' alert instead of anomaly alerts. Routes in "
        "config/alert_routes.yaml; state in data/alerts/state.sqlite."
    ),
)
def alerts_after_run(context: dg.RunStatusSensorContext):
    report = send_after_success(load_settings(), context.instance, context.dagster_run.run_id)
    context.log.info(report.summary())
    if not report.ok:
        # the failed deliveries are in the state and are retried on the next run's tick
        context.log.warning(f"{len(report.failures)} alert deliveries failed")


@dg.run_failure_sensor(
    name="aispend_alerts_on_failure",
    monitored_jobs=[daily_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="A failed daily run: which step failed and why (secrets redacted).",
)
def alerts_on_failure(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    step = None
    for event in context.get_step_failure_events():
        step = event.step_key
        break
    message = context.failure_event.message or "run failed"
    report = send_after_failure(
        load_settings(), context.instance, run.run_id, run.job_name, step, message
    )
    context.log.info(report.summary())


alert_sensors = [alerts_after_run, alerts_on_failure]
