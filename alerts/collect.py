"""Alerts from a run's tables: new anomaly episodes, budget thresholds crossed, failed checks.

Reads the serving copy (or any DuckDB file with the `analytics` schema), never the pipeline's
own file: the sensor must not wait on, or block, the writer. Only anomaly episodes that started
in the last `lookback_days` alert (history is in the tables, not in anyone's inbox), and only
the current month's budget crossings. Dedup across runs is the alert state's job
(`alerts.state`): the same episode or crossing has the same alert id every day.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from alerts.model import Alert, anomaly_alert, budget_alert, check_alert, untrusted_data_alert

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK_DAYS = 7


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'analytics'"
    ).fetchall()
    return {r[0] for r in rows}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            k: (None if pd.isna(v) else v) if not isinstance(v, list | dict) else v
            for k, v in r.items()
        }
        for r in frame.to_dict("records")
    ]


def collect_alerts(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    *,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    link_base: str | None = None,
    failed_checks: Sequence[Mapping[str, Any]] = (),
    run_id: str | None = None,
) -> list[Alert]:
    """Every alert the data of the run ending before `as_of` (exclusive) call for.

    With `failed_checks`, an untrusted-data alert leads the list and one alert per failed
    check follows; `alerts.dispatch` then holds the anomaly alerts back until a run passes.
    """
    tables = _tables(con)
    last_day = as_of - timedelta(days=1)
    out: list[Alert] = []
    if failed_checks:
        out.append(untrusted_data_alert(failed_checks, run_id, link_base, on=last_day))
        out.extend(check_alert(c, link_base, on=last_day) for c in failed_checks)
    if {"anomalies", "anomaly_drivers"} <= tables:
        out.extend(_anomaly_alerts(con, as_of, lookback_days, link_base, tables))
    else:
        log.warning("no analytics.anomalies in the warehouse: no anomaly alerts")
    if {"budget_threshold_crossings", "budget_status"} <= tables:
        out.extend(_budget_alerts(con, as_of, link_base))
    return out


def _anomaly_alerts(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    lookback_days: int,
    link_base: str | None,
    tables: set[str],
) -> list[Alert]:
    since = as_of - timedelta(days=lookback_days)
    episodes = con.execute(
        "select * from analytics.anomalies where is_first_day and day >= ? and day < ? "
        "order by abs(impact_usd) desc",
        [since, as_of],
    ).df()
    if episodes.empty:
        return []
    drivers = con.execute(
        "select * from analytics.anomaly_drivers where day >= ? and day < ?", [since, as_of]
    ).df()
    forecasts = (
        con.execute(
            "select * from analytics.forecast_month_end where month = ?",
            [(as_of - timedelta(days=1)).replace(day=1)],
        ).df()
        if "forecast_month_end" in tables
        else pd.DataFrame(columns=["series_id"])
    )
    budgets = con.execute("select * from analytics.budget_status where is_current_month").df()
    alerts = []
    for row in _records(episodes):
        sid = row["series_id"]
        own = drivers[
            (drivers["series_id"] == sid)
            & (pd.to_datetime(drivers["day"]) == pd.Timestamp(row["day"]))
        ]
        forecast = _records(forecasts[forecasts["series_id"] == sid])
        budget = _records(budgets[budgets["series_id"] == sid])
        alerts.append(
            anomaly_alert(
                row,
                _records(own.sort_values("rank")) if "rank" in own else _records(own),
                forecast=forecast[0] if forecast else None,
                budget=budget[0] if budget else None,
                link_base=link_base,
            )
        )
    return alerts


def _budget_alerts(
    con: duckdb.DuckDBPyConnection, as_of: date, link_base: str | None
) -> list[Alert]:
    month = (as_of - timedelta(days=1)).replace(day=1)
    crossings = con.execute(
        "select * from analytics.budget_threshold_crossings where month = ? "
        "order by budget_id, basis, threshold_pct",
        [month],
    ).df()
    status = con.execute("select * from analytics.budget_status where month = ?", [month]).df()
    by_budget = {r["budget_id"]: r for r in _records(status)}
    # one alert per budget and basis: the highest threshold crossed (a first run that finds a
    # budget at 103 % says so once, not three times); crossing a higher one later is a new id
    highest = crossings.sort_values("threshold_pct").groupby(["budget_id", "basis"]).tail(1)
    return [
        budget_alert(row, by_budget.get(row["budget_id"]), link_base, as_of=as_of)
        for row in _records(highest.sort_values(["budget_id", "basis"]))
    ]
