"""Alert delivery: build `Alert`s from analytics rows, route, deduplicate and send them.

Plain Python, no Dagster: the sensor builds alerts with the `model` builders and calls
`dispatch(alerts, load_routes(), AlertState(), now)`. See alerts/README.md.
"""

from alerts.channels import DeliveryError, RetryPolicy, verify_signature
from alerts.model import (
    Alert,
    anomaly_alert,
    budget_alert,
    check_alert,
    run_failure_alert,
    untrusted_data_alert,
)
from alerts.routes import Route, load_routes, routes_for
from alerts.state import AlertState, DispatchReport, dispatch

__all__ = [
    "Alert",
    "AlertState",
    "DeliveryError",
    "DispatchReport",
    "RetryPolicy",
    "Route",
    "anomaly_alert",
    "budget_alert",
    "check_alert",
    "dispatch",
    "load_routes",
    "routes_for",
    "run_failure_alert",
    "untrusted_data_alert",
    "verify_signature",
]
