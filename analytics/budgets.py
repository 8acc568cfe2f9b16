"""Monthly budgets: loaded from `config/budgets.csv`, checked against actual and forecast spend.

A budget never caps spend (as in the clouds' budgets): it says how much of it is used, which
thresholds (default 50/80/100 %) the month-to-date actual has crossed and on which day, which
the forecast month end will cross, and the day the forecast path (actual to date, then the
daily forecast) crosses the budget. Every error in the file names the file, line and field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.series import series_id
from ingestion.config.allocation import ConfigFileError, _read_rows, config_dir

BUDGET_COLUMNS: tuple[str, ...] = (
    "budget_id",
    "name",
    "scope",
    "scope_value",
    "amount",
    "currency",
    "period",
    "thresholds",
    "valid_from",
    "valid_to",
    "owner_email",
    "note",
)
BUDGET_SCOPES: tuple[str, ...] = ("org", "provider", "project", "team", "feature", "customer")
DEFAULT_THRESHOLDS: tuple[float, ...] = (50.0, 80.0, 100.0)
_MONTH = re.compile(r"^\d{4}-\d{2}(-01)?$")


@dataclass(frozen=True)
class Budget:
    """One line of budgets.csv: a monthly amount for one scope, valid over whole months."""

    budget_id: str
    name: str
    scope: str
    scope_value: str | None
    amount: Decimal
    currency: str
    period: str
    thresholds: tuple[float, ...]
    valid_from: date | None  # first month (inclusive)
    valid_to: date | None  # first month no longer covered (exclusive)
    owner_email: str | None
    source_line: int

    @property
    def series_id(self) -> str:
        """The spend series the budget watches (see analytics.series)."""
        return series_id(self.scope, self.scope_value or "all")

    def covers(self, month: date) -> bool:
        """Whether the budget applies to the month starting on `month`."""
        return (self.valid_from is None or self.valid_from <= month) and (
            self.valid_to is None or month < self.valid_to
        )


def _month(path: Path, line: int, field: str, raw: str) -> date | None:
    if not raw:
        return None
    if not _MONTH.match(raw):
        raise ConfigFileError(f"{path} line {line}: {field} {raw!r} is not a month (YYYY-MM)")
    try:
        return date(int(raw[:4]), int(raw[5:7]), 1)
    except ValueError:
        raise ConfigFileError(f"{path} line {line}: {field} {raw!r} is not a month") from None


def _parse(path: Path, line: int, row: dict[str, str]) -> Budget:
    def fail(field: str, why: str) -> ConfigFileError:
        return ConfigFileError(f"{path} line {line}: {field} {why}")

    budget_id = row.get("budget_id", "")
    if not budget_id:
        raise fail("budget_id", "is empty")
    scope = row.get("scope", "").lower()
    if scope not in BUDGET_SCOPES:
        raise fail("scope", f"{scope!r} is not one of {', '.join(BUDGET_SCOPES)}")
    scope_value = row.get("scope_value") or None
    if scope == "org":
        if scope_value not in (None, "all"):
            raise fail("scope_value", f"{scope_value!r} must be empty for an org budget")
        scope_value = None
    elif not scope_value:
        raise fail("scope_value", f"is empty (a {scope} budget needs one)")
    raw_amount = row.get("amount", "")
    try:
        amount = Decimal(raw_amount.replace("_", ""))
    except InvalidOperation:
        raise fail("amount", f"{raw_amount!r} is not a number") from None
    if not amount.is_finite() or amount <= 0:
        raise fail("amount", f"{raw_amount!r} is not a positive amount")
    currency = (row.get("currency") or "").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise fail("currency", f"{row.get('currency', '')!r} is not a three-letter ISO 4217 code")
    period = (row.get("period") or "monthly").lower()
    if period != "monthly":
        raise fail("period", f"{period!r} is not supported (only 'monthly')")
    raw_thresholds = row.get("thresholds", "")
    if raw_thresholds:
        parts = [p.strip().rstrip("%") for p in re.split(r"[|;/ ]+", raw_thresholds) if p.strip()]
        try:
            thresholds = tuple(float(p) for p in parts)
        except ValueError:
            raise fail(
                "thresholds", f"{raw_thresholds!r} is not a list of percents like 50|80|100"
            ) from None
        if not thresholds or any(not 0 < t <= 1000 for t in thresholds):
            raise fail("thresholds", f"{raw_thresholds!r}: each percent must be in (0, 1000]")
        if list(thresholds) != sorted(set(thresholds)):
            raise fail("thresholds", f"{raw_thresholds!r} must be ascending without repeats")
    else:
        thresholds = DEFAULT_THRESHOLDS
    valid_from = _month(path, line, "valid_from", row.get("valid_from", ""))
    valid_to = _month(path, line, "valid_to", row.get("valid_to", ""))
    if valid_from and valid_to and valid_to <= valid_from:
        raise fail("valid_to", f"{valid_to:%Y-%m} is not after valid_from {valid_from:%Y-%m}")
    email = row.get("owner_email") or None
    if email and "@" not in email:
        raise fail("owner_email", f"{email!r} is not an email address")
    return Budget(
        budget_id=budget_id,
        name=row.get("name") or budget_id,
        scope=scope,
        scope_value=scope_value,
        amount=amount,
        currency=currency,
        period=period,
        thresholds=thresholds,
        valid_from=valid_from,
        valid_to=valid_to,
        owner_email=email,
        source_line=line,
    )


def budgets_path(env: dict[str, str] | None = None) -> Path:
    """`budgets.csv` in the config folder (`AISPEND_CONFIG_DIR`, else `config/`)."""
    return config_dir(env) / "budgets.csv"


def load_budgets(path: Path | None = None, *, missing_ok: bool = True) -> list[Budget]:
    """Read and validate budgets.csv; raise ConfigFileError naming file, line and field.

    A missing file means no budgets (`missing_ok`), not an error: budgets are optional.
    """
    path = path or budgets_path()
    if missing_ok and not path.exists():
        return []
    budgets: list[Budget] = []
    seen: dict[str, int] = {}
    required = {"budget_id", "scope", "amount", "currency"}
    for line, row in _read_rows(path, BUDGET_COLUMNS, required):
        budget = _parse(path, line, row)
        if budget.budget_id in seen:
            raise ConfigFileError(
                f"{path} line {line}: budget_id {budget.budget_id!r} is already used on line "
                f"{seen[budget.budget_id]}"
            )
        seen[budget.budget_id] = line
        budgets.append(budget)
    return budgets


# --------------------------------------------------------------------------------------------
# status

FxRate = Callable[[str, date], float]


def _first_crossing(days: pd.Series, cumulative: np.ndarray, level: float) -> date | None:
    hit = np.flatnonzero(cumulative >= level - 1e-9)
    return days.iloc[int(hit[0])] if hit.size else None


def budget_status(
    budgets: list[Budget],
    actuals: pd.DataFrame,
    forecast_daily: pd.DataFrame | None,
    forecast_month_end: pd.DataFrame | None,
    as_of: date,
    fx_rate: FxRate,
    reporting_currency: str = "USD",
    first_month: date | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Budget status per budget and month, and every threshold crossing (actual and forecast).

    `actuals` is a series frame (analytics.series) holding each budget's series; days before
    `as_of` are actual. `forecast_daily`/`forecast_month_end` are analytics.forecast's frames
    (the month of `as_of - 1 day`, the current month, gets the forecast columns).
    `fx_rate(currency, day)` gives reporting-currency units per unit of `currency`.
    Returns (status, crossings).
    """
    current = (as_of - timedelta(days=1)).replace(day=1)
    act = actuals[actuals["day"] < pd.Timestamp(as_of)]
    if first_month is None:
        first_month = act["day"].min().date().replace(day=1) if len(act) else current
    months = pd.date_range(pd.Timestamp(first_month), pd.Timestamp(current), freq="MS")
    status_rows: list[dict[str, object]] = []
    crossing_rows: list[dict[str, object]] = []
    for budget in budgets:
        own = act[act["series_id"] == budget.series_id]
        note = None if len(own) else f"no spend seen for {budget.series_id}"
        for month_ts in months:
            month = month_ts.date()
            if not budget.covers(month):
                continue
            month_end = (month_ts + pd.offsets.MonthBegin(1)).date()
            rate = fx_rate(budget.currency, min(month_end, as_of) - timedelta(days=1))
            amount = float(budget.amount) * rate
            days = pd.Series(pd.date_range(month_ts, pd.Timestamp(month_end), inclusive="left"))
            in_month = own[(own["day"] >= month_ts) & (own["day"] < pd.Timestamp(month_end))]
            daily = in_month.groupby("day")["cost"].sum().reindex(days, fill_value=0.0)
            observed = days[days < pd.Timestamp(as_of)]
            cum_actual = daily.loc[observed].cumsum().to_numpy()
            actual_mtd = float(cum_actual[-1]) if cum_actual.size else 0.0
            row: dict[str, object] = {
                "budget_id": budget.budget_id,
                "budget_name": budget.name,
                "scope": budget.scope,
                "scope_value": budget.scope_value or "all",
                "series_id": budget.series_id,
                "month": month,
                "is_current_month": month == current,
                "budget_amount": float(budget.amount),
                "budget_currency": budget.currency,
                "budget_amount_reporting": amount,
                "reporting_currency": reporting_currency,
                "days_observed": len(observed),
                "days_in_month": len(days),
                "actual_mtd": actual_mtd,
                "pct_used": 100 * actual_mtd / amount,
                "forecast_month_end": np.nan,
                "forecast_lower_80": np.nan,
                "forecast_upper_80": np.nan,
                "forecast_lower_95": np.nan,
                "forecast_upper_95": np.nan,
                "pct_forecast": np.nan,
                "forecast_method": None,
                "forecast_crosses_budget_on": None,
                "note": note,
            }
            crossed_actual: list[float] = []
            last_on: date | None = None
            for threshold in budget.thresholds:
                level = amount * threshold / 100
                on = _first_crossing(observed.dt.date, cum_actual, level)
                if on is not None:
                    crossed_actual.append(threshold)
                    last_on = on
                    crossing_rows.append(
                        _crossing(budget, month, threshold, "actual", on, level, amount)
                    )
            row["actual_threshold_pct"] = max(crossed_actual) if crossed_actual else np.nan
            row["actual_crossed_on"] = last_on
            row["forecast_threshold_pct"] = np.nan
            if month == current and forecast_daily is not None and forecast_month_end is not None:
                _add_forecast(
                    row,
                    budget,
                    month,
                    month_end,
                    as_of,
                    amount,
                    actual_mtd,
                    forecast_daily,
                    forecast_month_end,
                    crossed_actual,
                    crossing_rows,
                )
            row["status"] = _status(row)
            status_rows.append(row)
    status = pd.DataFrame(status_rows, columns=_STATUS_COLUMNS)
    crossings = pd.DataFrame(crossing_rows, columns=_CROSSING_COLUMNS)
    return status, crossings


def _add_forecast(
    row: dict[str, object],
    budget: Budget,
    month: date,
    month_end: date,
    as_of: date,
    amount: float,
    actual_mtd: float,
    forecast_daily: pd.DataFrame,
    forecast_month_end: pd.DataFrame,
    crossed_actual: list[float],
    crossing_rows: list[dict[str, object]],
) -> None:
    me = forecast_month_end[
        (forecast_month_end["series_id"] == budget.series_id)
        & (pd.to_datetime(forecast_month_end["month"]) == pd.Timestamp(month))
    ]
    if me.empty:
        row["note"] = f"no forecast for {budget.series_id}"
        return
    first = me.iloc[0]
    row["forecast_month_end"] = float(first["projected"])
    for bound in ("lower_80", "upper_80", "lower_95", "upper_95"):
        row[f"forecast_{bound}"] = float(first[f"projected_{bound}"])
    row["pct_forecast"] = 100 * float(first["projected"]) / amount
    row["forecast_method"] = str(first["method"])
    fd = forecast_daily[
        (forecast_daily["series_id"] == budget.series_id)
        & (pd.to_datetime(forecast_daily["day"]) >= pd.Timestamp(as_of))
        & (pd.to_datetime(forecast_daily["day"]) < pd.Timestamp(month_end))
    ].sort_values("day")
    days = pd.Series(pd.to_datetime(fd["day"]).dt.date.to_numpy())
    path = actual_mtd + fd["yhat"].cumsum().to_numpy()
    crossed_forecast: list[float] = []
    for threshold in budget.thresholds:
        if threshold in crossed_actual:
            continue
        level = amount * threshold / 100
        if float(first["projected"]) < level - 1e-9:
            continue
        crossed_forecast.append(threshold)
        on = _first_crossing(days, path, level) if len(days) else None
        crossing_rows.append(_crossing(budget, month, threshold, "forecast", on, level, amount))
    row["forecast_threshold_pct"] = max(crossed_forecast) if crossed_forecast else np.nan
    if float(row["pct_used"]) >= 100:  # type: ignore[arg-type]  # already over on actuals
        row["forecast_crosses_budget_on"] = row["actual_crossed_on"]
    elif float(first["projected"]) >= amount and len(days):
        row["forecast_crosses_budget_on"] = _first_crossing(days, path, amount)


def _crossing(
    budget: Budget,
    month: date,
    threshold: float,
    basis: str,
    on: date | None,
    level: float,
    amount: float,
) -> dict[str, object]:
    return {
        "budget_id": budget.budget_id,
        "month": month,
        "threshold_pct": threshold,
        "basis": basis,
        "crossed_on": on,
        "threshold_amount": level,
        "budget_amount_reporting": amount,
        "scope": budget.scope,
        "scope_value": budget.scope_value or "all",
        "owner_email": budget.owner_email,
    }


def _status(row: dict[str, object]) -> str:
    used = float(row["pct_used"])  # type: ignore[arg-type]
    forecast = row["pct_forecast"]
    if used >= 100:
        return "over_budget"
    if isinstance(forecast, float) and not np.isnan(forecast) and forecast >= 100:
        return "forecast_over_budget"
    if not np.isnan(float(row["actual_threshold_pct"])) or not np.isnan(  # type: ignore[arg-type]
        float(row["forecast_threshold_pct"])  # type: ignore[arg-type]
    ):
        return "threshold_crossed"
    return "ok"


_STATUS_COLUMNS = [
    "budget_id",
    "budget_name",
    "scope",
    "scope_value",
    "series_id",
    "month",
    "is_current_month",
    "status",
    "budget_amount",
    "budget_currency",
    "budget_amount_reporting",
    "reporting_currency",
    "days_observed",
    "days_in_month",
    "actual_mtd",
    "pct_used",
    "actual_threshold_pct",
    "actual_crossed_on",
    "forecast_month_end",
    "forecast_lower_80",
    "forecast_upper_80",
    "forecast_lower_95",
    "forecast_upper_95",
    "pct_forecast",
    "forecast_threshold_pct",
    "forecast_crosses_budget_on",
    "forecast_method",
    "note",
]
_CROSSING_COLUMNS = [
    "budget_id",
    "month",
    "threshold_pct",
    "basis",
    "crossed_on",
    "threshold_amount",
    "budget_amount_reporting",
    "scope",
    "scope_value",
    "owner_email",
]
