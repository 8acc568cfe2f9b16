"""The `Alert`: one message-worthy event with a stable id, built from analytics rows.

Builders take plain dicts (a DataFrame row's `to_dict()` works: NaN, NaT, numpy numbers and
pandas timestamps are normalised here), so this package never reads the warehouse. The
`alert_id` is a natural key: the same episode, crossing, check or run always gives the same id,
which is what lets `AlertState` send each alert once and an update when its content changes.

Dedup compares `Alert.payload_hash()`, computed over the facts of the event (kind, severity,
trust, details) but not over context that moves every day without the event changing
(`CONTEXT_KEYS`: the month-end forecast, the budget's live status, the run that noticed it),
nor over the rendered wording, the link or `occurred_on`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from alerts.redact import redact

KINDS: tuple[str, ...] = ("anomaly", "budget", "data_quality", "run_failure")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}
#: detail keys that are context, not the event: excluded from the dedup hash
CONTEXT_KEYS: frozenset[str] = frozenset({"forecast", "budget", "status", "run_id"})
DEFAULT_DAGSTER_URL = "http://localhost:3000"
MAX_DRIVERS = 12
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class Alert:
    """One alert as every channel renders it; `details` must be JSON-serialisable."""

    alert_id: str
    kind: str
    severity: str
    title: str
    summary: str
    occurred_on: date
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)
    link: str | None = None
    data_trusted: bool = True
    updated: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"alert {self.alert_id}: kind {self.kind!r} not in {KINDS}")
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"alert {self.alert_id}: severity {self.severity!r} not in {SEVERITIES}"
            )

    def payload_hash(self) -> str:
        """sha256 of the event's facts: a change means a restated day updated the alert."""
        facts = {
            "kind": self.kind,
            "severity": self.severity,
            "data_trusted": self.data_trusted,
            "details": {k: v for k, v in self.details.items() if k not in CONTEXT_KEYS},
        }
        blob = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


# ---------------------------------------------------------------- formatting


def fmt_money(value: float | None, currency: str = "USD", signed: bool = False) -> str:
    """`$1,234.56`, `-$12.00`, `+$3.10` when signed; other currencies as `1,234.56 EUR`."""
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ("+" if signed else "")
    amount = f"{abs(value):,.2f}"
    if currency.upper() == "USD":
        return f"{sign}${amount}"
    return f"{sign}{amount} {currency.upper()}"


def fmt_pct(fraction: float | None, signed: bool = True) -> str:
    """A fraction as a percent: 3.12 → `+312%`, 0.045 → `+4.5%`, -0.5 → `-50%`."""
    if fraction is None:
        return "n/a"
    pct = fraction * 100
    sign = "-" if pct < 0 else ("+" if signed else "")
    body = f"{abs(pct):,.0f}" if abs(pct) >= 10 or pct == 0 else f"{abs(pct):.1f}"
    return f"{sign}{body}%"


def fmt_interval(lower: float | None, upper: float | None, currency: str = "USD") -> str:
    """`$1,000.00–$1,400.00`, or empty when a bound is missing."""
    if lower is None or upper is None:
        return ""
    return f"{fmt_money(lower, currency)}\u2013{fmt_money(upper, currency)}"


def dagster_url(link_base: str | None = None) -> str:
    """The Dagster UI base URL: the argument, else `AISPEND_DAGSTER_URL`, else localhost:3000."""
    base = link_base or os.environ.get("AISPEND_DAGSTER_URL", "").strip() or DEFAULT_DAGSTER_URL
    return base.rstrip("/")


def asset_link(asset: str | Sequence[str], link_base: str | None = None) -> str:
    """Link to an asset page: `analytics/anomalies` or ["analytics", "anomalies"]."""
    path = "/".join(asset) if not isinstance(asset, str) else asset.strip("/")
    return f"{dagster_url(link_base)}/assets/{path}"


def run_link(run_id: str, link_base: str | None = None) -> str:
    """Link to a run page."""
    return f"{dagster_url(link_base)}/runs/{run_id}"


# ---------------------------------------------------------------- row normalisation


def num(value: Any) -> float | None:
    """A finite float, or None for None/NaN/NA/inf and anything not numeric."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def day(value: Any) -> date | None:
    """A date from a date, datetime, pandas Timestamp or ISO string; None for NaT/empty."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return None if value != value else value.date()  # NaT != NaT
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def text(value: Any) -> str | None:
    """A stripped string, or None for None/NaN/NA/empty."""
    if _is_none(value):
        return None
    out = str(value).strip()
    return out or None


def _is_missing(value: Any) -> bool:
    try:
        return bool(value != value)  # NaN, NaT, pd.NA (raises on bool: treated as missing)
    except (TypeError, ValueError):
        return True


def _money(value: Any) -> float | None:
    v = num(value)
    return None if v is None else round(v, 2)


def _ratio(value: Any) -> float | None:
    v = num(value)
    return None if v is None else round(v, 4)


def _iso(value: Any) -> str | None:
    d = day(value)
    return d.isoformat() if d else None


def _first(row: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in row and not _is_none(row[key]):
            return row[key]
    return None


def _is_none(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | int | float | bool):
        return isinstance(value, float) and math.isnan(value)
    return _is_missing(value)


def _severity(value: Any, default: str) -> str:
    raw = (text(value) or "").lower()
    return raw if raw in SEVERITIES else default


def today_utc() -> date:
    return datetime.now(UTC).date()


# ---------------------------------------------------------------- context blocks


def normalise_drivers(
    rows: Iterable[Mapping[str, Any]], series_id: str | None = None
) -> list[dict]:
    """Driver rows → [{name, kind, dimension, value, impact_usd, share}], largest first.

    Accepts `analytics.anomaly_drivers` rows (driver_kind component|dimension, name, value,
    impact_usd, share_of_change) or already simple {name, impact_usd, share} dicts. Components
    come first (they add up to the change), then dimension movers.
    """
    out: list[dict] = []
    for row in rows:
        sid = text(row.get("series_id"))
        if series_id is not None and sid is not None and sid != series_id:
            continue
        impact = _money(row.get("impact_usd"))
        if impact is None:
            continue
        kind = text(row.get("driver_kind")) or text(row.get("kind"))
        dim, value = text(row.get("name")), text(row.get("value"))
        if kind == "component":
            if abs(impact) < 0.01:
                continue
            name, dim = value or dim or "component", None
        elif kind == "dimension" and dim and value is not None:
            name = f"{dim}={value}"
        else:
            name = dim or value or "?"
            kind = kind or "other"
        share = _ratio(_first(row, "share", "share_of_change"))
        entry = {"name": name, "kind": kind, "dimension": dim, "value": value}
        entry |= {"impact_usd": impact, "share": share}
        out.append(entry)
    order = {"component": 0}
    out.sort(key=lambda d: (order.get(d["kind"], 1), -abs(d["impact_usd"]), d["name"]))
    return out[:MAX_DRIVERS]


def forecast_context(row: Mapping[str, Any] | None) -> dict | None:
    """A forecast_month_end row → {month, projected, lower_80, upper_80, method}."""
    if not row:
        return None
    projected = _money(_first(row, "projected", "forecast_month_end", "yhat"))
    if projected is None:
        return None
    return {
        "month": _iso(row.get("month")),
        "projected": projected,
        "lower_80": _money(_first(row, "projected_lower_80", "forecast_lower_80", "lower_80")),
        "upper_80": _money(_first(row, "projected_upper_80", "forecast_upper_80", "upper_80")),
        "method": text(_first(row, "method", "forecast_method")),
    }


def budget_context(row: Mapping[str, Any] | None) -> dict | None:
    """A budget_status row → the live numbers a reader wants next to an alert."""
    if not row:
        return None
    return {
        "budget_id": text(row.get("budget_id")),
        "name": text(_first(row, "budget_name", "name")),
        "month": _iso(row.get("month")),
        "amount": _money(_first(row, "budget_amount_reporting", "budget_amount", "amount")),
        "currency": text(row.get("reporting_currency")) or "USD",
        "actual_mtd": _money(row.get("actual_mtd")),
        "pct_used": _ratio(row.get("pct_used")),
        "forecast_month_end": _money(row.get("forecast_month_end")),
        "forecast_lower_80": _money(row.get("forecast_lower_80")),
        "forecast_upper_80": _money(row.get("forecast_upper_80")),
        "forecast_crosses_budget_on": _iso(row.get("forecast_crosses_budget_on")),
        "status": text(row.get("status")),
        "days_observed": int(num(row.get("days_observed")) or 0) or None,
    }


# ---------------------------------------------------------------- builders


def anomaly_alert(
    anomaly_row: Mapping[str, Any],
    drivers: Iterable[Mapping[str, Any]] = (),
    forecast: Mapping[str, Any] | None = None,
    budget: Mapping[str, Any] | None = None,
    link_base: str | None = None,
    *,
    data_trusted: bool = True,
) -> Alert:
    """An `analytics.anomalies` episode (its first day) as an alert `anomaly:<series>:<start>`.

    `data_trusted=False` words it as a movement that cannot be trusted, not as an anomaly.
    """
    sid = text(anomaly_row.get("series_id"))
    on = day(anomaly_row.get("day"))
    if not sid or on is None:
        raise ValueError(f"anomaly row needs series_id and day: {dict(anomaly_row)!r}")
    start = day(anomaly_row.get("episode_start")) or on
    expected, actual = _money(anomaly_row.get("expected")), _money(anomaly_row.get("actual"))
    impact = _money(anomaly_row.get("impact_usd"))
    if impact is None and expected is not None and actual is not None:
        impact = round(actual - expected, 2)
    pct = _ratio(anomaly_row.get("impact_pct"))
    if pct is None and impact is not None and expected:
        pct = round(impact / expected, 4)
    direction = text(anomaly_row.get("direction")) or ("drop" if (impact or 0) < 0 else "spike")
    severity = _severity(anomaly_row.get("severity"), "medium")
    shift = anomaly_row.get("level_shift")
    details: dict[str, Any] = {
        "series_id": sid,
        "scope": text(anomaly_row.get("scope")),
        "scope_value": text(anomaly_row.get("scope_value")),
        "day": on.isoformat(),
        "episode_start": start.isoformat(),
        "episode_id": text(anomaly_row.get("episode_id")),
        "direction": direction,
        "expected": expected,
        "actual": actual,
        "impact_usd": impact,
        "impact_pct": pct,
        "score": _ratio(anomaly_row.get("score")),
        "level_shift": None if _is_none(shift) else bool(shift),
        "drivers": normalise_drivers(drivers, sid),
        "forecast": forecast_context(forecast),
        "budget": budget_context(budget),
    }
    moved = f"{fmt_money(impact, signed=True)} ({fmt_pct(pct)})"
    if data_trusted:
        title = f"Spend {direction} on {sid}: {fmt_pct(pct)}"
        summary = (
            f"{sid} spent {fmt_money(actual)} on {on.isoformat()} vs {fmt_money(expected)} "
            f"expected: {moved}."
        )
    else:
        title = f"Unverified spend movement on {sid}: data not trustworthy"
        summary = (
            f"{sid} shows {fmt_money(actual)} on {on.isoformat()} vs {fmt_money(expected)} "
            f"expected ({moved}), but data checks failed: not reported as an anomaly until the "
            "data are trustworthy."
        )
    return Alert(
        alert_id=f"anomaly:{sid}:{start.isoformat()}",
        kind="anomaly",
        severity=severity,
        title=title,
        summary=summary,
        occurred_on=on,
        details=details,
        link=asset_link("analytics/anomalies", link_base),
        data_trusted=data_trusted,
    )


def _budget_severity(threshold: float, basis: str) -> str:
    if threshold >= 100:
        return "critical" if basis == "actual" else "high"
    return "medium" if threshold >= 80 else "low"


def budget_alert(
    crossing_row: Mapping[str, Any],
    status_row: Mapping[str, Any] | None = None,
    link_base: str | None = None,
    *,
    as_of: date | None = None,
) -> Alert:
    """A `budget_threshold_crossings` row as `budget:<id>:<YYYY-MM>:<basis>:<threshold>`.

    `basis=actual`: the month-to-date actual crossed the threshold on `crossed_on` (a fact);
    `basis=forecast`: the projected month end will cross it (the projected day is context).
    """
    budget_id = text(crossing_row.get("budget_id"))
    month = day(crossing_row.get("month"))
    threshold = num(crossing_row.get("threshold_pct"))
    basis = (text(crossing_row.get("basis")) or "").lower()
    if not budget_id or month is None or threshold is None or basis not in ("actual", "forecast"):
        raise ValueError(
            f"crossing row needs budget_id, month, threshold_pct, basis: {dict(crossing_row)!r}"
        )
    status = budget_context(status_row)
    currency = (status or {}).get("currency") or "USD"
    crossed_on = day(crossing_row.get("crossed_on"))
    level = _money(crossing_row.get("threshold_amount"))
    amount = _money(_first(crossing_row, "budget_amount_reporting", "budget_amount"))
    if amount is None and status:
        amount = status["amount"]
    scope = text(crossing_row.get("scope")) or (status_row or {}).get("scope") or "org"
    scope_value = text(crossing_row.get("scope_value"))
    where = "org" if scope == "org" else f"{scope} {scope_value or 'all'}"
    name = (status or {}).get("name") or budget_id
    live = status
    if basis == "forecast":  # the projected crossing day moves daily: context, not the event
        live = dict(status or {}) | {"projected_crossing_on": _iso(crossed_on)}
    details: dict[str, Any] = {
        "budget_id": budget_id,
        "budget_name": name,
        "month": month.strftime("%Y-%m"),
        "threshold_pct": threshold,
        "basis": basis,
        "threshold_amount": level,
        "budget_amount": amount,
        "currency": currency,
        "scope": scope,
        "scope_value": scope_value,
        "owner_email": text(crossing_row.get("owner_email")),
        "crossed_on": crossed_on.isoformat() if crossed_on and basis == "actual" else None,
        "status": live,
    }
    observed = (status or {}).get("days_observed")
    occurred = as_of or (crossed_on if basis == "actual" else None)
    if occurred is None and observed:
        occurred = date.fromordinal(month.toordinal() + observed - 1)
    occurred = occurred or today_utc()
    pct_t = f"{threshold:g}%"
    period = month.strftime("%b %Y")
    if basis == "actual":
        title = f"Budget {name}: {pct_t} reached in {period}"
        used = ""
        if status and status.get("actual_mtd") is not None:
            share = fmt_pct((status["pct_used"] or 0) / 100, signed=False)
            used = (
                f" Month to date {fmt_money(status['actual_mtd'], currency)} of "
                f"{fmt_money(amount, currency)} ({share})."
            )
        summary = (
            f"{where} crossed {pct_t} ({fmt_money(level, currency)}) of its "
            f"{fmt_money(amount, currency)} {period} budget on "
            f"{crossed_on.isoformat() if crossed_on else 'n/a'}.{used}"
        )
    else:
        title = f"Budget {name}: forecast to reach {pct_t} in {period}"
        st = status or {}
        projected = st.get("forecast_month_end")
        band = fmt_interval(st.get("forecast_lower_80"), st.get("forecast_upper_80"), currency)
        proj = f"{fmt_money(projected, currency)}" + (f" (80%: {band})" if band else "")
        around = f" around {crossed_on.isoformat()}" if crossed_on else ""
        summary = (
            f"{where} is forecast to spend {proj} in {period} against a "
            f"{fmt_money(amount, currency)} budget: {pct_t} ({fmt_money(level, currency)}) "
            f"reached{around}."
        )
    return Alert(
        alert_id=f"budget:{budget_id}:{month.strftime('%Y-%m')}:{basis}:{threshold:g}",
        kind="budget",
        severity=_budget_severity(threshold, basis),
        title=title,
        summary=summary,
        occurred_on=occurred,
        details=details,
        link=asset_link("analytics/budget_status", link_base),
    )


def _asset_path(asset: Any) -> str:
    if isinstance(asset, list | tuple):
        return "/".join(str(a) for a in asset)
    return (text(asset) or "unknown").strip("/")


def _check_entry(check: Mapping[str, Any]) -> dict[str, Any]:
    message = redact(text(_first(check, "message", "description")) or "failed")
    return {
        "check": text(_first(check, "check_name", "check", "name")) or "unknown",
        "asset": _asset_path(check.get("asset")),
        "message": message[:MAX_ERROR_CHARS],
        "severity": _severity(check.get("severity"), "high"),
    }


def check_alert(
    check: Mapping[str, Any], link_base: str | None = None, *, on: date | None = None
) -> Alert:
    """A failed data-quality check (reconciliation, freshness) as `check:<asset>:<check>:<day>`.

    `check` keys: check_name (or check), asset (`schema/table` or a key path list), message,
    optional day and severity (low|medium|high|critical, default high).
    """
    entry = _check_entry(check)
    when = on or day(_first(check, "day", "checked_on")) or today_utc()
    return Alert(
        alert_id=f"check:{entry['asset']}:{entry['check']}:{when.isoformat()}",
        kind="data_quality",
        severity=entry["severity"],
        title=f"Data check failed: {entry['check']} on {entry['asset']}",
        summary=f"{entry['check']} on {entry['asset']} failed: {entry['message'].splitlines()[0]}",
        occurred_on=when,
        details={**entry, "day": when.isoformat()},
        link=asset_link(entry["asset"], link_base),
    )


def run_failure_alert(run: Mapping[str, Any], link_base: str | None = None) -> Alert:
    """A failed Dagster run as `run_failure:<run_id>`; the error text is redacted."""
    run_id = text(run.get("run_id"))
    if not run_id:
        raise ValueError(f"run failure needs run_id: {dict(run)!r}")
    job = text(_first(run, "job", "job_name")) or "unknown job"
    step = text(_first(run, "step", "step_key"))
    error = redact(text(_first(run, "error", "message")) or "no error message")[:MAX_ERROR_CHARS]
    when = day(_first(run, "day", "failed_at")) or today_utc()
    at_step = f" at step {step}" if step else ""
    return Alert(
        alert_id=f"run_failure:{run_id}",
        kind="run_failure",
        severity=_severity(run.get("severity"), "high"),
        title=f"Run failed: {job}",
        summary=f"Run {run_id[:8]} of {job} failed{at_step}: {error.splitlines()[0]}",
        occurred_on=when,
        details={"run_id": run_id, "job": job, "step": step, "error": error},
        link=run_link(run_id, link_base),
    )


def untrusted_data_alert(
    failed_checks: Sequence[Mapping[str, Any]],
    run_id: str | None = None,
    link_base: str | None = None,
    *,
    on: date | None = None,
) -> Alert:
    """Checks failed, so the day's numbers are not trustworthy: one alert `untrusted_data:<day>`.

    `dispatch` sends it instead of the batch's anomaly alerts, which would otherwise report
    broken data as spend anomalies; they are sent later, once a run's data pass.
    """
    entries = [_check_entry(c) for c in failed_checks]
    days = [d for d in (day(_first(c, "day", "checked_on")) for c in failed_checks) if d]
    when = on or (max(days) if days else today_utc())
    names = ", ".join(f"{e['check']} on {e['asset']}" for e in entries[:3])
    more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
    n = len(entries)
    link = (
        run_link(run_id, link_base)
        if run_id
        else asset_link(entries[0]["asset"], link_base)
        if entries
        else dagster_url(link_base)
    )
    severity = max((e["severity"] for e in entries), key=SEVERITY_RANK.__getitem__, default="high")
    return Alert(
        alert_id=f"untrusted_data:{when.isoformat()}",
        kind="data_quality",
        severity=severity if SEVERITY_RANK[severity] >= SEVERITY_RANK["high"] else "high",
        title=f"Spend data not trustworthy: {n} check{'s' if n != 1 else ''} failed",
        summary=(
            f"{n} data check{'s' if n != 1 else ''} failed ({names}{more}): spend figures for "
            f"{when.isoformat()} are not trustworthy and anomaly alerts are withheld until "
            "the data pass."
        ),
        occurred_on=when,
        details={"failed_checks": entries, "run_id": run_id, "day": when.isoformat()},
        link=link,
        data_trusted=False,
    )
