"""The whole daily job on DuckDB and on a real PostgreSQL server, with equal totals (issue 8).

The same window, simulator seed and config on both targets: dlt loads the raw datasets, dbt
builds and tests every model, the Python assets (analytics, checks, FOCUS files, serving copy,
daily report) read and write through the warehouse API. The test compares what a finance user
and an analyst would compare: the bill per provider, day and currency (against the simulator's
ground truth too), the allocation per team, the FOCUS file totals, the forecast and budget
tables, the serving copy's tables and row counts, and that every check passed on both.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.simulator import SimConfig, Simulator
from ingestion.simulator.exports import daily_totals as export_totals
from orchestration.settings import Settings, load_settings
from tests.conftest import clean_env, failed_checks, materialize_all, passed_checks, query
from tests.support.postgres import (  # noqa: F401  (fixtures)
    PostgresServer,
    postgres_db_fixture,
    postgres_fixture,
)

pytestmark = pytest.mark.integration

START, END = date(2026, 8, 1), date(2026, 8, 22)
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


def _truth() -> dict[tuple[str, str, str], Decimal]:
    """(provider, day, currency) -> billed cost, from the simulator's own books."""
    config = SimConfig(seed=42, start=START, end=END)
    out: dict[tuple[str, str, str], Decimal] = {}
    with Simulator(config) as sim:
        for t in [*sim.daily_totals(), *sim.cursor_daily_totals()]:
            out[(t["provider"], str(t["date"]), "USD")] = Decimal(t["billed_cost_usd"])
    for t in export_totals(config):
        out[(t["provider"], str(t["date"]), t["billing_currency"])] = Decimal(t["billed_cost"])
    return out


def _run(mp: pytest.MonkeyPatch, data: Path, extra: dict[str, str]) -> tuple[Settings, Any, float]:
    clean_env(mp)
    data.mkdir(parents=True, exist_ok=True)
    for name, value in {
        "AISPEND_WAREHOUSE": str(data / "warehouse.duckdb"),
        "AISPEND_START_DATE": START.isoformat(),
        "AISPEND_END_DATE": END.isoformat(),
        **extra,
    }.items():
        mp.setenv(name, value)
    started = time.monotonic()
    result = materialize_all()
    return load_settings(), result, time.monotonic() - started


def _summary(settings: Settings) -> dict[str, Any]:
    """What is compared between the targets, read back through each target's own SQL."""

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return query(settings, sql)

    out: dict[str, Any] = {}
    out["bill"] = {
        (p, d, c): Decimal(v)
        for p, d, c, v in rows(
            "select provider, cast(usage_date as varchar), billing_currency, sum(billed_cost) "
            "from marts.fct_ai_spend group by 1, 2, 3"
        )
    }
    out["tokens"] = {
        (p, d): int(v)
        for p, d, v in rows(
            "select provider, cast(usage_date as varchar), "
            "sum(total_input_tokens + output_tokens) from marts.fct_ai_spend group by 1, 2"
        )
    }
    out["by_team"] = {
        t: Decimal(v).quantize(Decimal("0.000001"))
        for t, v in rows(
            "select team, sum(billed_cost_usd) from marts.fct_ai_spend_allocated group by 1"
        )
    }
    out["fact_rows"] = rows("select count(*) from marts.fct_ai_spend")[0][0]
    out["focus_rows"] = rows("select count(*) from marts.focus_ai_spend")[0][0]
    out["unit_economics_org"] = {
        str(d)[:10]: round(float(c), 6)
        for d, c in rows(
            "select period_start, billed_cost from analytics.unit_economics_monthly "
            "where dimension = 'org'"
        )
    }
    out["forecast_series"] = rows("select count(distinct series_id) from analytics.forecast_daily")[
        0
    ][0]
    out["budgets"] = sorted(
        (b, str(m)[:10], round(float(a), 6))
        for b, m, a in rows("select budget_id, month, actual_mtd from analytics.budget_status")
    )
    return out


def _focus_file_totals(data: Path) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with (data / "exports" / "focus" / "focus_ai_spend.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            totals[row["BillingCurrency"]] += Decimal(row["BilledCost"] or 0)
    return dict(totals)


def _served(data: Path) -> dict[str, int]:
    with duckdb.connect(str(data / "serving" / "aispend.duckdb"), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables order by 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]
            for s, t in tables
        }


def test_the_daily_job_gives_equal_totals_on_duckdb_and_postgres(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, postgres_db: PostgresServer
) -> None:
    on_duckdb, result_duckdb, seconds_duckdb = _run(monkeypatch, tmp_path / "duckdb", {})
    on_postgres, result_postgres, seconds_postgres = _run(
        monkeypatch, tmp_path / "postgres", {"AISPEND_TARGET": "postgres", **postgres_db.env()}
    )
    assert on_duckdb.target == "duckdb" and on_postgres.target == "postgres"
    # the PostgreSQL run wrote nothing into a DuckDB warehouse file
    assert not (tmp_path / "postgres" / "warehouse.duckdb").exists()
    assert postgres_db.query("select count(*) from marts.fct_ai_spend")[0][0] > 0

    for name, result in (("duckdb", result_duckdb), ("postgres", result_postgres)):
        assert failed_checks(result) == [], f"{name}: failed checks {failed_checks(result)}"
    assert passed_checks(result_duckdb) == passed_checks(result_postgres) > 0

    a, b = _summary(on_duckdb), _summary(on_postgres)
    truth = _truth()
    assert a["bill"] == b["bill"], {
        k: (a["bill"].get(k), b["bill"].get(k))
        for k in set(a["bill"]) | set(b["bill"])
        if a["bill"].get(k) != b["bill"].get(k)
    }
    missed = {k: (v, a["bill"].get(k)) for k, v in truth.items() if v and a["bill"].get(k) != v}
    assert not missed, f"fact differs from the simulator's books: {list(missed.items())[:5]}"
    for key in ("tokens", "by_team", "fact_rows", "focus_rows", "unit_economics_org", "budgets"):
        assert a[key] == b[key], f"{key}: duckdb {a[key]} != postgres {b[key]}"
    assert a["forecast_series"] == b["forecast_series"] > 0

    focus_a = _focus_file_totals(tmp_path / "duckdb")
    focus_b = _focus_file_totals(tmp_path / "postgres")
    assert focus_a == focus_b and focus_a, (focus_a, focus_b)

    served_a, served_b = _served(tmp_path / "duckdb"), _served(tmp_path / "postgres")
    assert served_a == served_b, {
        t: (served_a.get(t), served_b.get(t))
        for t in set(served_a) | set(served_b)
        if served_a.get(t) != served_b.get(t)
    }
    assert (tmp_path / "postgres" / "reports" / "latest.html").exists()

    total = sum(v for (_, _, c), v in a["bill"].items() if c == "USD")
    print(
        f"\nwhole daily job, {START}..{END} (end exclusive), seed 42: "
        f"duckdb {seconds_duckdb:.0f} s, postgres {seconds_postgres:.0f} s "
        f"({seconds_postgres / seconds_duckdb:.2f}x); {a['fact_rows']:,} fact rows, "
        f"USD billed {total:,.2f} on both; {len(served_a)} served tables equal"
    )
