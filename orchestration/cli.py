"""`aispend run`: materialize the whole graph once and print a summary a person can read.

This is what `make run` calls. It uses the Dagster instance in DAGSTER_HOME when set (so the run
shows up in `make dev`), else a temporary one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from orchestration.settings import ConfigError, Settings, load_settings
from orchestration.warehouse import Connection, connect


def run_pipeline(
    log_level: str = "INFO",
    window: tuple[date, date] | None = None,
    selection: Sequence[Any] | None = None,
) -> tuple[bool, Any]:
    """Materialize every asset (or `selection`) in-process for the days of `window` (default:
    the configured window, the daily run); returns (success, result)."""
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.partitions import backfill_tags, daily_run_tags

    job = defs.resolve_job_def("aispend_daily")
    # a run of other days than the daily run's is a backfill of them (as the UI's are)
    tags = daily_run_tags() if window is None else backfill_tags(*window)
    with (
        dg.DagsterInstance.get() if _has_dagster_home() else dg.DagsterInstance.ephemeral() as inst
    ):
        result = job.execute_in_process(
            instance=inst,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            tags=tags,
            asset_selection=selection,
        )
    return result.success, result


def run_backfill(
    settings: Settings, log_level: str = "INFO", days_per_run: int | None = None
) -> tuple[bool, Any, dict[str, float]]:
    """What Dagster's backfill of the whole graph over the configured window does, in-process:
    the ingestion assets in runs of `days_per_run` partitions, oldest first (their multi-run
    backfill policy), then one run of everything else. Stops at the first failed run.

    Returns (success, the last run's result, each step's seconds summed over the runs).
    """
    from orchestration.definitions import defs
    from orchestration.defs.ingestion import source_assets
    from orchestration.partitions import DAYS_PER_RUN, chunks

    ingestion = {key for assets in source_assets for key in assets.keys}
    rest = sorted(set(defs.resolve_all_asset_keys()) - ingestion)
    ranges = list(chunks(settings.start_date, settings.end_date, days_per_run or DAYS_PER_RUN))
    steps: dict[str, float] = {}

    def add_steps(result: Any) -> None:
        for step, seconds in step_seconds(result).items():
            steps[step] = steps.get(step, 0.0) + seconds

    for i, window in enumerate(ranges, 1):
        started = time.monotonic()
        ok, result = run_pipeline(log_level, window, sorted(ingestion))
        add_steps(result)
        print(
            f"aispend backfill: run {i}/{len(ranges)} loaded {window[0]}..{window[1]} "
            f"({(window[1] - window[0]).days} days) {'in' if ok else 'FAILED after'} "
            f"{time.monotonic() - started:.1f} s",
            flush=True,
        )
        if not ok:
            return False, result, steps
    ok, result = run_pipeline(log_level, selection=rest)
    add_steps(result)
    return ok, result, steps


def _has_dagster_home() -> bool:
    import os

    return bool(os.environ.get("DAGSTER_HOME"))


def _query(con: Connection, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql`, or none when a table it reads is not there (yet)."""
    try:
        return con.execute(sql).fetchall()
    except duckdb.CatalogException:
        return []
    except Exception as exc:  # PostgreSQL: undefined table (42P01) or schema (3F000)
        if getattr(exc, "pgcode", None) in ("42P01", "3F000"):
            return []
        raise


# sources that are not a provider of their own in the fact table
FEEDS_WITHOUT_BILL = {
    "focus": "(AI rows join their provider above)",
    "telemetry": "(who used what; no bill)",
}


def _raw_rows(con: Connection, provider: str) -> int:
    """Rows in every raw table of the provider's sources (dlt's own tables left out)."""
    from orchestration.sources import SOURCES

    total = 0
    for spec in SOURCES.values():
        if spec.provider != provider:
            continue
        tables = _query(
            con,
            "select table_name from information_schema.tables "
            f"where table_schema = '{spec.dataset}' and table_name not like '\\_dlt%' escape '\\'"
            " and table_name <> 'quarantine'",
        )
        for (table,) in tables:
            total += int(_query(con, f'select count(*) from "{spec.dataset}"."{table}"')[0][0])
    return total


def summarize(settings: Settings) -> str:
    """Rows loaded per provider and spend per provider over the window."""
    lines = [
        f"warehouse  {settings.describe_warehouse()}",
        f"window     {settings.start_date} .. {settings.end_date} (UTC, end exclusive)",
        "",
        f"{'provider':<14}{'raw rows':>11}{'fact rows':>11}{'billed USD':>15}"
        f"{'input tokens':>18}{'output tokens':>17}",
    ]
    if settings.target == "duckdb" and not settings.warehouse.exists():
        return "\n".join([*lines, "(no warehouse file: nothing was loaded)"])
    with connect(settings, read_only=True) as con:
        facts = {
            row[0]: row[1:]
            for row in _query(
                con,
                "select provider, count(*), sum(billed_cost_usd), sum(total_input_tokens), "
                "sum(output_tokens) from marts.fct_ai_spend "
                f"where usage_date >= date '{settings.start_date}' "
                f"and usage_date < date '{settings.end_date}' group by 1",
            )
        }
        total = Decimal(0)
        for provider in settings.providers:
            if provider in FEEDS_WITHOUT_BILL:
                note = FEEDS_WITHOUT_BILL[provider]
                lines.append(f"{provider:<14}{_raw_rows(con, provider):>11,}   {note}")
                continue
            n, cost, tokens_in, tokens_out = facts.get(provider, (0, Decimal(0), 0, 0))
            cost = Decimal(cost or 0)
            total += cost
            lines.append(
                f"{provider:<14}{_raw_rows(con, provider):>11,}{n:>11,}{cost:>15,.2f}"
                f"{int(tokens_in or 0):>18,}{int(tokens_out or 0):>17,}"
            )
        lines.append(f"{'total':<14}{'':>22}{total:>15,.2f}")
        lines.append(quarantine_line(con))
        lines.extend(_allocation_lines(con, settings))
        lines.extend(_analytics_lines(con))
    focus_csv = settings.warehouse.parent / "exports" / "focus" / "focus_ai_spend.csv"
    if focus_csv.exists():
        lines.append(f"FOCUS 1.2  {focus_csv} (and .parquet)")
    return "\n".join(lines)


def quarantine_line(con: Connection) -> str:
    """How many rows the file sources could not interpret and set aside (not in any figure
    above), per source: the `quarantine` tables of the raw datasets."""
    from orchestration.sources import SOURCES

    counts = {}
    for spec in SOURCES.values():
        rows = _query(con, f'select count(*) from "{spec.dataset}".quarantine')
        if rows and rows[0][0]:
            counts[spec.name] = int(rows[0][0])
    if not counts:
        return "Quarantined rows: none"
    detail = ", ".join(f"{name} {n:,}" for name, n in counts.items())
    return (
        f"Quarantined rows: {sum(counts.values()):,} ({detail}) — see marts.data_quality_quarantine"
    )


def _allocation_lines(con: Connection, settings: Settings) -> list[str]:
    """Who spent it: the share each allocation method claimed, and what is left unpriced."""
    window = (
        f"usage_date >= date '{settings.start_date}' and usage_date < date '{settings.end_date}'"
    )
    methods = _query(
        con,
        "select allocation_method, sum(billed_cost_usd) from marts.fct_ai_spend_allocated "
        f"where {window} group by 1 order by 2 desc",
    )
    total = sum((Decimal(v or 0) for _, v in methods), Decimal(0))
    if not methods or not total:
        return []
    shares = ", ".join(f"{m} {Decimal(v or 0) / total:.1%}" for m, v in methods)
    unpriced = _query(
        con,
        "select count(*), count(distinct model) from marts.fct_ai_spend "
        f"where pricing_status = 'unpriced' and {window}",
    )
    rows, models = unpriced[0] if unpriced else (0, 0)
    return [
        "",
        f"allocated  {shares} of billed USD",
        f"unpriced   {rows:,} fact rows of {models} model(s) with no list price "
        "(see pricing_status)",
    ]


def _analytics_lines(con: Connection) -> list[str]:
    """Forecast, backtest, anomalies, budgets and detection quality in a few lines."""
    out: list[str] = []
    month_end = _query(
        con,
        "select month, actual_mtd, projected, projected_lower_80, projected_upper_80, method "
        "from analytics.forecast_month_end where series_id = 'org'",
    )
    if month_end:
        month, mtd, projected, low, high, method = month_end[0]
        out.append(
            f"forecast   org {month:%Y-%m} month end {projected:,.0f} (80 % {low:,.0f}.."
            f"{high:,.0f}; {mtd:,.0f} to date; {method})"
        )
    backtest = _query(
        con,
        "select percentile_cont(0.5) within group (order by mase), avg(coverage_80), "
        "avg(coverage_95), count(*) from analytics.forecast_backtest",
    )
    if backtest and backtest[0][3] and backtest[0][0] is not None:  # None: history too short
        mase, c80, c95, n = backtest[0]
        out.append(
            f"backtest   {n} series: median MASE {mase:.2f} vs seasonal-naive, "
            f"80 % interval covers {c80:.0%}, 95 % covers {c95:.0%}"
        )
    alerts = _query(
        con,
        "select series_id, day, direction, impact_usd from analytics.anomalies "
        "where is_first_day order by abs(impact_usd) desc",
    )
    has_anomalies = _query(
        con,
        "select 1 from information_schema.tables "
        "where table_schema = 'analytics' and table_name = 'anomalies'",
    )
    if has_anomalies:
        top = "; ".join(f"{s} {d:%m-%d} {x} {i:+,.0f}" for s, d, x, i in alerts[:3])
        out.append(f"anomalies  {len(alerts)} alert(s){': ' + top if top else ''}")
    budgets = _query(
        con,
        "select budget_id, pct_used, pct_forecast, status from analytics.budget_status "
        "where is_current_month order by budget_id",
    )
    if budgets:
        out.append(
            "budgets    "
            + ", ".join(f"{b} {_pct(u)} (fcst {_pct(f)}, {st})" for b, u, f, st in budgets)
        )
    quality = _query(
        con,
        "select precision, recall, incidents, detected_first_day, alerts "
        "from analytics.detection_quality",
    )
    if quality and None not in quality[0][:2]:  # None: no injected incidents or no alerts
        p, r, n, first, a = quality[0]
        out.append(
            f"detection  precision {p:.2f}, recall {r:.2f} on {n} injected incidents "
            f"({first} on their first day; {a} alerts)"
        )
    return ["", *out] if out else []


def _pct(value: float | None) -> str:
    """A percentage, or `—` when there is none: a window ending on the first of a month has
    nothing left of its current month to forecast, so pct_forecast is NULL."""
    return "—" if value is None else f"{value:.0f}%"


def check_config_files() -> str | None:
    """Validate the config/ files (allocation rules, teams, price overrides, budgets, revenue) up
    front; the message names the file, the line and the field. None when they are fine."""
    from analytics.budgets import load_budgets
    from analytics.revenue import load_revenue
    from ingestion.config import ConfigFileError, config_dir, load_allocation_rules, load_teams
    from ingestion.prices import PriceOverrideError, load_overrides

    try:
        load_allocation_rules()
        load_teams()
        load_overrides(config_dir() / "price_overrides.csv")
        load_budgets()
        load_revenue()
    except (ConfigFileError, PriceOverrideError) as exc:
        return str(exc)
    return None


def _send_alerts(settings: Settings, ok: bool, result: Any) -> str:
    """Alert as the sensors would after a scheduled run (no daemon runs under `make run`);
    the alert state makes the sensors skip what was sent here."""
    from orchestration.alerting import alerts_dir, collect_run_alerts, send

    checks = [
        {
            "check_name": e.check_name,
            "asset": e.asset_key.to_user_string(),
            "message": e.description or f"check {e.check_name} failed",
        }
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity.value == "ERROR"
    ]
    try:
        alerts = collect_run_alerts(settings, result.run_id, checks)
        if not ok:
            from alerts.model import run_failure_alert
            from orchestration.alerting import dagster_url

            alerts.insert(
                0,
                run_failure_alert(
                    {"run_id": result.run_id, "job": "aispend_daily", "error": "run failed"},
                    dagster_url(),
                ),
            )
        report = send(settings, alerts)
    except Exception as exc:  # alerting must not hide the run's own outcome
        return f"alerts     not sent: {type(exc).__name__}: {exc}"
    return f"{report.summary()} (routes: config/alert_routes.yaml; {alerts_dir(settings)})"


def _check_counts(result: Any) -> tuple[int, int]:
    evaluations = result.get_asset_check_evaluations()
    passed = sum(1 for e in evaluations if e.passed)
    return passed, len(evaluations) - passed


def step_seconds(result: Any) -> dict[str, float]:
    """Wall seconds of each step that succeeded, from Dagster's own step events."""
    out: dict[str, float] = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS" and event.step_key:
            out[event.step_key] = event.event_specific_data.duration_ms / 1000
    return out


def slowest_steps_line(steps: dict[str, float], top: int = 5) -> str:
    """`Slowest steps: dbt_models 43.8 s, ...` — where a run's time went."""
    if not steps:
        return "Slowest steps: none succeeded"
    ranked = sorted(steps.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in ranked)
    return f"Slowest steps: {shown} (of {len(steps)} steps, {sum(steps.values()):.1f} s summed)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aispend", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize the whole graph once, then print a summary")
    run.add_argument("--log-level", default="INFO", help="Dagster console log level")
    run.add_argument(
        "--timings-json",
        type=Path,
        default=None,
        help="also write the run's seconds and each step's seconds to this JSON file",
    )
    backfill = sub.add_parser(
        "backfill",
        help="load the configured window in runs of a month of days, as Dagster's backfill "
        "does, then build everything else once; then print the summary",
    )
    backfill.add_argument("--log-level", default="INFO", help="Dagster console log level")
    backfill.add_argument("--timings-json", type=Path, default=None, help="as for `run`")
    backfill.add_argument(
        "--days-per-run", type=int, default=None, help="days per ingestion run (default 31)"
    )
    sub.add_parser("summary", help="print the summary of the current warehouse")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"aispend: configuration error: {exc}", file=sys.stderr)
        return 2

    if args.command == "summary":
        print(summarize(settings))
        return 0

    problem = check_config_files()
    if problem:
        # fail before two minutes of ingestion rather than when dbt reads the file
        print(f"aispend: configuration error: {problem}", file=sys.stderr)
        return 2

    Path(settings.warehouse).parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        if args.command == "backfill":
            ok, result, steps = run_backfill(settings, args.log_level, args.days_per_run)
        else:
            ok, result = run_pipeline(args.log_level)
            steps = step_seconds(result)
    except ConfigError as exc:  # a window outside the daily partitions
        print(f"aispend: configuration error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    passed, failed = _check_counts(result)
    if args.timings_json is not None:
        args.timings_json.parent.mkdir(parents=True, exist_ok=True)
        args.timings_json.write_text(
            json.dumps({"success": ok, "seconds": elapsed, "steps": steps}, indent=2) + "\n"
        )
    print()
    print("=" * 89)
    print(
        f"aispend {args.command} {'SUCCEEDED' if ok else 'FAILED'} in {elapsed:.1f} s — checks: "
        f"{passed} passed, {failed} failed"
    )
    print(slowest_steps_line(steps))
    print(summarize(settings))
    print(_send_alerts(settings, ok, result))
    if not ok:
        for event in result.all_events:
            if event.is_failure:
                print(f"failed step {event.step_key}: {event.message}", file=sys.stderr)
    print("=" * 89)
    return 0 if ok and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
