"""Analytics assets: unit economics, forecasts and their backtest, anomalies with drivers and
their detection quality, budget status. Each reads the marts, calls plain functions in
`analytics/`, and replaces its tables in the `analytics` schema in one transaction.

No `from __future__ import annotations` here: Dagster inspects the context annotation.
"""

import time
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_dbt import get_asset_key_for_model

from analytics import plots
from analytics.budgets import Budget, budget_status, load_budgets
from analytics.series import DEFAULT_SCOPES, build_series, load_spend_lines
from analytics.unit_economics import unit_economics
from orchestration.defs.ingestion import OWNERS, WRITE_POOL
from orchestration.defs.transform import dbt_models
from orchestration.settings import Settings, load_settings
from orchestration.warehouse import Connection, connect, fx_rates, replace_tables

SCHEMA = "analytics"
GROUP = "analytics"
ALLOCATED = get_asset_key_for_model([dbt_models], "fct_ai_spend_allocated")
TELEMETRY = get_asset_key_for_model([dbt_models], "int_telemetry__daily_usage")


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey([SCHEMA, name])


def _window(settings: Settings) -> tuple[date, date]:
    return settings.start_date, settings.end_date


def _md_table(frame: pd.DataFrame, columns: list[str], limit: int = 10) -> str:
    """A small markdown table for asset metadata."""
    if frame.empty:
        return "(none)"
    head = frame[columns].head(limit)
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in head.iterrows():
        cells = []
        for c in columns:
            v = row[c]
            cells.append(f"{v:,.2f}" if isinstance(v, float) else str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# Python assets downstream of a dbt model still run when its test fails (dagster#25112), so
# every analytics asset checks the allocation itself before it builds on it.
_UNRECONCILED_SQL = """
select provider, usage_date, billing_currency, fact_cost, allocated_cost
from (
    select provider, usage_date, billing_currency, sum(billed_cost) as fact_cost
    from marts.fct_ai_spend where usage_date >= ? and usage_date < ?
    group by provider, usage_date, billing_currency
) as f
full join (
    select provider, usage_date, billing_currency, sum(billed_cost) as allocated_cost
    from marts.fct_ai_spend_allocated where usage_date >= ? and usage_date < ?
    group by provider, usage_date, billing_currency
) as a using (provider, usage_date, billing_currency)
where abs(coalesce(fact_cost, 0) - coalesce(allocated_cost, 0)) >= 0.005
order by usage_date, provider
limit 5
"""


def assert_allocation_reconciles(con: Connection, start: date, end: date) -> None:
    """Raise a Failure naming the provider-days when allocated spend is not the bill."""
    bad = con.execute(_UNRECONCILED_SQL, [start, end, start, end]).fetchall()
    if bad:
        days = "; ".join(f"{p} {d} {c}: bill {f} vs allocated {a}" for p, d, c, f, a in bad)
        raise dg.Failure(
            description=(
                "marts.fct_ai_spend_allocated does not add up to the bill; analytics are not "
                f"built on it (first provider-days: {days})"
            )
        )


def _load(settings: Settings, scopes: tuple[str, ...] = DEFAULT_SCOPES, extra: tuple = ()):
    """(lines, series) of the run's window; `extra` adds the series budgets watch."""
    start, end = _window(settings)
    with connect(settings) as con:
        assert_allocation_reconciles(con, start, end)
        lines = load_spend_lines(con, start, end)
    series = build_series(lines, start, end, scopes)
    wanted = {sid for sid in extra if sid not in set(series["series_id"])}
    extra_scopes = tuple(sorted({sid.partition(":")[0] for sid in wanted} - set(scopes)))
    if extra_scopes:
        more = build_series(lines, start, end, extra_scopes)
        series = pd.concat([series, more[more["series_id"].isin(wanted)]], ignore_index=True)
    return lines, series


def _budgets() -> list[Budget]:
    return load_budgets()


# --------------------------------------------------------------------------------------------
# unit economics


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            _key("unit_economics_daily"),
            deps=[ALLOCATED, TELEMETRY],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python"},
            description=(
                "Per day and per org/provider/model/team/feature/customer: cost per request, "
                "cost per 1K tokens, tokens per request, output/input ratio, cache hit rate, "
                "retry and error share (telemetry), share of the day's cost, cost per active "
                "customer."
            ),
        ),
        dg.AssetSpec(
            _key("unit_economics_monthly"),
            deps=[ALLOCATED, TELEMETRY],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python"},
            description=(
                "The same per calendar month, plus AI COGS as a share of revenue where "
                "config/revenue.csv gives revenue."
            ),
        ),
    ],
    pool=WRITE_POOL,
)
def unit_economics_tables(context: dg.AssetExecutionContext):
    """Compute both grains in DuckDB and replace the two tables together."""
    settings = load_settings()
    start, end = _window(settings)
    with connect(settings) as con:
        assert_allocation_reconciles(con, start, end)
        daily = unit_economics(con, start, end, "day")
        monthly = unit_economics(con, start, end, "month", revenue=_revenue(con, settings))
    replace_tables(
        settings,
        SCHEMA,
        {"unit_economics_daily": daily, "unit_economics_monthly": monthly},
    )
    last_month = monthly[monthly["period_start"] == monthly["period_start"].max()]
    models = last_month[last_month["dimension"] == "model"].sort_values(
        "billed_cost", ascending=False
    )
    org = last_month[last_month["dimension"] == "org"]
    org_row = org.iloc[0] if len(org) else None
    yield dg.MaterializeResult(
        asset_key=_key("unit_economics_daily"),
        metadata={"dagster/row_count": len(daily)},
    )
    yield dg.MaterializeResult(
        asset_key=_key("unit_economics_monthly"),
        metadata={
            "dagster/row_count": len(monthly),
            "month": str(last_month["period_start"].max()) if len(last_month) else "",
            "cost_per_request": float(org_row["cost_per_request"]) if org_row is not None else 0,
            "cache_hit_rate": float(org_row["cache_hit_rate"]) if org_row is not None else 0,
            "model_mix": dg.MetadataValue.md(
                _md_table(
                    models,
                    [
                        "dimension_value",
                        "billed_cost",
                        "share_of_period_cost",
                        "cost_per_1k_tokens",
                    ],
                )
            ),
        },
    )


def _revenue(con: Connection, settings: Settings) -> pd.DataFrame | None:
    from analytics.revenue import load_revenue

    revenue = load_revenue()
    if revenue is None or revenue.empty:
        return None
    fx = fx_rates(con, settings.reporting_currency)
    revenue["revenue"] = [
        r * fx(c, m)
        for r, c, m in zip(revenue["revenue"], revenue["currency"], revenue["month"], strict=True)
    ]
    return revenue


# --------------------------------------------------------------------------------------------
# forecasts and backtest


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            _key("forecast_daily"),
            deps=[ALLOCATED],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"prophet", "python"},
            description=(
                "Daily spend forecast per series (org, provider, project, team, feature and "
                "every budget's scope) to month end and 90 days ahead, 80 % and 95 % intervals. "
                "Prophet on log1p(cost), clipped at 0; series with too little history use a "
                "seasonal-naive forecast and say so in method/method_note."
            ),
        ),
        dg.AssetSpec(
            _key("forecast_month_end"),
            deps=[ALLOCATED],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"prophet", "python"},
            description=(
                "Month-end projection per series: actual month to date + forecast for the rest "
                "of the month, with 80 % and 95 % intervals of that sum."
            ),
        ),
    ],
    pool=WRITE_POOL,
)
def spend_forecast(context: dg.AssetExecutionContext):
    """Fit every series in a process pool, logging progress."""
    from analytics.forecast import ForecastConfig, forecast_series

    settings = load_settings()
    budgets = _budgets()
    _, series = _load(settings, extra=tuple(b.series_id for b in budgets))
    started = time.monotonic()
    n = series["series_id"].nunique()
    context.log.info(f"forecasting {n} series to month end and 90 days ahead")

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            context.log.info(f"forecasts: {done}/{total} series fitted")

    result = forecast_series(
        series, as_of=settings.end_date, config=ForecastConfig(), progress=progress
    )
    elapsed = time.monotonic() - started
    replace_tables(
        settings,
        SCHEMA,
        {"forecast_daily": result.daily, "forecast_month_end": result.month_end},
    )
    methods = result.month_end["method"].value_counts().to_dict()
    org_hist = series[series["series_id"] == "org"].set_index("day")["cost"]
    org_fc = result.daily[result.daily["series_id"] == "org"]
    chart = plots.forecast_chart(org_hist.iloc[-90:], org_fc, "Org spend: last 90 days + forecast")
    top = result.month_end.sort_values("projected", ascending=False)
    yield dg.MaterializeResult(
        asset_key=_key("forecast_daily"),
        metadata={
            "dagster/row_count": len(result.daily),
            "series": n,
            "methods": dg.MetadataValue.json({str(k): int(v) for k, v in methods.items()}),
            "seconds": round(elapsed, 1),
            "org_forecast": dg.MetadataValue.md(plots.markdown_image(chart, "org forecast")),
        },
    )
    yield dg.MaterializeResult(
        asset_key=_key("forecast_month_end"),
        metadata={
            "dagster/row_count": len(result.month_end),
            "projections": dg.MetadataValue.md(
                _md_table(
                    top,
                    [
                        "series_id",
                        "actual_mtd",
                        "projected",
                        "projected_lower_80",
                        "projected_upper_80",
                        "method",
                    ],
                )
            ),
        },
    )


@dg.asset(
    key=_key("forecast_backtest"),
    deps=[ALLOCATED],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"prophet", "python"},
    pool=WRITE_POOL,
    description=(
        "How far to trust each forecast: rolling-origin backtest per series with MAPE, MASE "
        "against the seasonal-naive forecast on the same points (below 1 = better than "
        "repeating last week) and the share of actuals inside the 80 % and 95 % intervals."
    ),
)
def forecast_backtest(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from analytics.backtest import backtest_all, summarize

    settings = load_settings()
    _, series = _load(settings)
    started = time.monotonic()
    # origins move once a week: the daily run re-uses each (series, origin) result whose data
    # did not change instead of refitting every series at every origin
    table = backtest_all(series, cache_dir=backtest_cache_dir(settings))
    summary = summarize(table)
    replace_tables(settings, SCHEMA, {"forecast_backtest": table})
    context.log.info(f"backtest: {summary}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "summary": dg.MetadataValue.json(
                {k: (float(v) if isinstance(v, int | float) else v) for k, v in summary.items()}
            ),
            "seconds": round(time.monotonic() - started, 1),
        }
    )


# --------------------------------------------------------------------------------------------
# budgets


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            _key("budget_status"),
            deps=[_key("forecast_daily"), _key("forecast_month_end")],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python"},
            description=(
                "Per budget (config/budgets.csv) and month: actual month to date, forecast "
                "month end with its interval, percent used, the highest threshold crossed on "
                "actual and on forecast, and the day the forecast crosses the budget."
            ),
        ),
        dg.AssetSpec(
            _key("budget_threshold_crossings"),
            deps=[_key("forecast_daily"), _key("forecast_month_end")],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python"},
            description=(
                "One row per budget, month, threshold and basis (actual or forecast) crossed, "
                "with the day it was crossed: what budget alerts are made of."
            ),
        ),
    ],
    pool=WRITE_POOL,
)
def budget_tables(context: dg.AssetExecutionContext):
    settings = load_settings()
    budgets = _budgets()
    _, series = _load(settings, scopes=("org",), extra=tuple(b.series_id for b in budgets))
    with connect(settings) as con:
        forecast_daily = con.execute(f"select * from {SCHEMA}.forecast_daily").df()
        forecast_month_end = con.execute(f"select * from {SCHEMA}.forecast_month_end").df()
        fx = fx_rates(con, settings.reporting_currency)
        status, crossings = budget_status(
            budgets,
            series,
            forecast_daily,
            forecast_month_end,
            as_of=settings.end_date,
            fx_rate=fx,
            reporting_currency=settings.reporting_currency,
        )
    replace_tables(
        settings,
        SCHEMA,
        {"budget_status": status, "budget_threshold_crossings": crossings},
    )
    current = status[status["is_current_month"]]
    context.log.info(
        f"budgets: {len(budgets)} budget(s); current month: "
        + ", ".join(f"{r.budget_id} {r.pct_used:.0f}% ({r.status})" for r in current.itertuples())
    )
    yield dg.MaterializeResult(
        asset_key=_key("budget_status"),
        metadata={
            "dagster/row_count": len(status),
            "current_month": dg.MetadataValue.md(
                _md_table(
                    current,
                    [
                        "budget_id",
                        "status",
                        "actual_mtd",
                        "budget_amount_reporting",
                        "pct_used",
                        "forecast_month_end",
                        "pct_forecast",
                    ],
                )
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=_key("budget_threshold_crossings"),
        metadata={"dagster/row_count": len(crossings)},
    )


# --------------------------------------------------------------------------------------------
# anomalies


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            _key("anomaly_scores"),
            deps=[ALLOCATED],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python"},
            description="Every series and day: expected vs actual, score and the anomaly flag.",
        ),
        dg.AssetSpec(
            _key("anomalies"),
            deps=[ALLOCATED],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python"},
            description=(
                "Flagged series-days (spikes and drops above the noise floor) with impact in "
                "dollars and percent, severity and episode; only an episode's first day "
                "alerts (is_first_day)."
            ),
        ),
        dg.AssetSpec(
            _key("anomaly_drivers"),
            deps=[ALLOCATED],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python"},
            description=(
                "Why each anomaly's first day moved, in dollars: volume (requests), intensity "
                "(tokens per request) and price/mix (cost per token), and the API keys, models, "
                "features, customers and projects that moved most."
            ),
        ),
    ],
    pool=WRITE_POOL,
)
def anomaly_tables(context: dg.AssetExecutionContext):
    from analytics.anomalies import AnomalyConfig, find_anomalies, key_series, score_series
    from analytics.drivers import explain_anomalies

    settings = load_settings()
    lines, series = _load(settings)
    # API-key series too: a retry storm on a $5/day key is lost in the noise of its project
    start, end = _window(settings)
    series = pd.concat([series, key_series(lines, start, end)], ignore_index=True)
    config = AnomalyConfig()
    scored = score_series(series, config)
    flagged = find_anomalies(scored)
    drivers = explain_anomalies(lines, flagged, scored)
    replace_tables(
        settings,
        SCHEMA,
        {"anomaly_scores": scored, "anomalies": flagged, "anomaly_drivers": drivers},
    )
    alerts = flagged[flagged["is_first_day"].astype(bool)].sort_values(
        "impact_usd", key=abs, ascending=False
    )
    chart = plots.anomaly_chart(scored[scored["series_id"] == "org"], "Org spend: anomalies")
    yield dg.MaterializeResult(
        asset_key=_key("anomaly_scores"), metadata={"dagster/row_count": len(scored)}
    )
    yield dg.MaterializeResult(
        asset_key=_key("anomalies"),
        metadata={
            "dagster/row_count": len(flagged),
            "alerts": len(alerts),
            "top_alerts": dg.MetadataValue.md(
                _md_table(
                    alerts,
                    [
                        "series_id",
                        "day",
                        "direction",
                        "severity",
                        "expected",
                        "actual",
                        "impact_usd",
                        "impact_pct",
                    ],
                )
            ),
            "org_chart": dg.MetadataValue.md(plots.markdown_image(chart, "org anomalies")),
        },
    )
    yield dg.MaterializeResult(
        asset_key=_key("anomaly_drivers"), metadata={"dagster/row_count": len(drivers)}
    )


@dg.asset(
    key=_key("detection_quality"),
    deps=[_key("anomalies")],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python"},
    pool=WRITE_POOL,
    description=(
        "Precision, recall and days-to-detect of the anomaly alerts against the simulator's "
        "injected incidents (ground truth); empty when no provider with incidents was "
        "simulated."
    ),
)
def detection_quality(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from analytics.detection import evaluate

    settings = load_settings()
    incidents = _simulated_incidents(settings)
    lines, _ = _load(settings, scopes=("org",))
    if not incidents:
        context.log.info("no simulated provider with injected incidents: nothing to evaluate")
    with connect(settings) as con:
        flagged = con.execute(f"select * from {SCHEMA}.anomalies").df()
        n_series = con.execute(
            f"select count(distinct series_id), count(distinct day) from {SCHEMA}.anomaly_scores"
        ).fetchone()
    org = _simulated_org(settings)
    table = evaluate(
        flagged,
        incidents,
        lines,
        n_series=n_series[0],
        n_days=n_series[1],
        seed=settings.simulator_seed,
        price_change_days=[org.price_change_day],
    )
    replace_tables(settings, SCHEMA, {"detection_quality": table})
    row = table.iloc[0].to_dict() if len(table) else {}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "precision": float(row.get("precision", float("nan"))),
            "recall": float(row.get("recall", float("nan"))),
            "summary": dg.MetadataValue.md(_md_table(table, list(table.columns))),
        }
    )


def backtest_cache_dir(settings: Settings) -> Path:
    """Where the backtest keeps its per-(series, origin) results: beside the warehouse file
    (content-addressed, so a stale entry can never be read for other data)."""
    return Path(settings.warehouse).parent / "cache" / "backtest"


def _simulated_org(settings: Settings):
    """The simulator's organisation for the run's seed and window (its ground truth)."""
    from ingestion.simulator.org import SyntheticOrg

    return SyntheticOrg(
        settings.simulator_seed,
        settings.start_date,
        settings.end_date,
        settings.simulator_scale,
        world_end=settings.simulator_world_end,
    )


def _simulated_incidents(settings: Settings) -> list[dict]:
    """The injected incidents of the providers the simulator served (a provider read with a
    real key has no ground truth)."""
    from orchestration.sources import is_simulated

    return [
        i.as_dict()
        for i in _simulated_org(settings).incidents
        if is_simulated(settings, i.provider)
    ]


analytics_assets = [
    unit_economics_tables,
    spend_forecast,
    forecast_backtest,
    budget_tables,
    anomaly_tables,
    detection_quality,
]
