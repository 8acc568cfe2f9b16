"""The spend chain, incremental by usage day (dbt_project/macros/day_versions.sql), equals a
rebuild from scratch after each kind of change to what it reads, and rebuilds only the days a
change reaches: a day of one provider's bill re-delivered with other amounts, a usage row dlt
deleted, a new day, a day gone, and the small tables that reach every day (a price book, the
allocation rules, the teams, the FX rates), each only in the models that read them.

The simulator's week loaded by real dlt into a DuckDB file and into a database on a real
PostgreSQL server, then real `dbt build` runs on each. A change to the raw tables is made as dlt
makes it (rows of a re-delivered window under a new load id, rows deleted by key), in SQL.
Which days a run rebuilt shows in a sentinel: a value written over one untouched day of each
model before the run, which survives only if the run left that day alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestration.settings import Settings
from orchestration.warehouse import connect
from tests.integration.test_dbt_on_both_targets import END, START, _build
from tests.support.dbt import run_dbt
from tests.support.postgres import (  # noqa: F401  (fixtures)
    PostgresServer,
    postgres_db_fixture,
    postgres_fixture,
)

pytestmark = pytest.mark.integration

# every model of the chain, with the SQL of its usage day
CHAIN = {
    "intermediate.int_openai__spend_lines": "usage_date",
    "intermediate.int_anthropic__costs_split_by_key": "usage_date",
    "intermediate.int_anthropic__spend_lines": "usage_date",
    "intermediate.int_cursor__spend_lines": "usage_date",
    "intermediate.int_aws_bedrock__spend_lines": "usage_date",
    "intermediate.int_gcp_vertex__spend_lines": "usage_date",
    "intermediate.int_azure_openai__spend_lines": "usage_date",
    "intermediate.int_spend_lines_unioned": "usage_date",
    "marts.fct_ai_spend": "usage_date",
    "intermediate.int_ai_spend__rule_matched": "usage_date",
    "marts.fct_ai_spend_allocated": "usage_date",
    "marts.focus_ai_spend": 'cast("ChargePeriodStart" as date)',
}
# where a sentinel is written: a column no later model of the chain reads, so a model that
# rebuilds the day reads no sentinel of one that did not
SENTINELS = {
    "intermediate.int_anthropic__costs_split_by_key": ("cost_row_key", "'sentinel'"),
    "intermediate.int_spend_lines_unioned": ("usd_rate", "-1"),
    "marts.fct_ai_spend": ("price_model_id", "'sentinel'"),
    "intermediate.int_ai_spend__rule_matched": ("rule_match_type", "'sentinel'"),
    "marts.fct_ai_spend_allocated": ("allocation_key", "'sentinel'"),
    "marts.focus_ai_spend": ('"ChargeDescription"', "'sentinel'"),
}
UNTOUCHED, CHANGED = "2026-08-02", "2026-08-05"
DAY_SECONDS = 86400


class Chain:
    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.root = root

    def sql(self, sql: str) -> list[tuple[Any, ...]]:
        with connect(self.settings) as con:
            cursor = con.execute(sql)
            return cursor.fetchall() if cursor.columns else []

    def build(self, *flags: str) -> None:
        # the chain and what it reads (the models' tests run in the other integration tests);
        # the seed is left as the test set it
        run_dbt(
            self.settings,
            self.root,
            "run",
            "--select",
            "+focus_ai_spend",
            "--exclude",
            "fx_rates",
            *flags,
        )

    def snapshot(self, skip_day: str) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every model of the chain but those of `skip_day`, sorted."""
        out = {}
        for model, day in CHAIN.items():
            (count,) = self.sql(
                "select count(*) from information_schema.columns where table_schema = "
                f"'{model.split('.')[0]}' and table_name = '{model.split('.')[1]}'"
            )[0]
            order = ", ".join(str(n) for n in range(1, int(count) + 1))
            out[model] = self.sql(
                f"select * from {model} where {day} <> date '{skip_day}' order by {order}"
            )
        return out

    def mark(self, day: str) -> dict[str, int]:
        """Writes the sentinel over `day` in the models of SENTINELS; their rows that day."""
        counts = {}
        for model, (column, value) in SENTINELS.items():
            self.sql(f"update {model} set {column} = {value} where {CHAIN[model]} = '{day}'")
            ((counts[model],),) = self.sql(f"select count(*) from {model} where {column} = {value}")
            assert counts[model] > 0, model
        return counts

    def rebuilt(self, marked: dict[str, int]) -> set[str]:
        """The models whose marked day the last run rebuilt (every sentinel gone)."""
        out = set()
        for model, (column, value) in SENTINELS.items():
            ((left,),) = self.sql(f"select count(*) from {model} where {column} = {value}")
            assert int(left) in (0, marked[model]), (model, left)  # a day is rebuilt whole
            if int(left) == 0:
                out.add(model)
        return out

    def check(self, change: str, rebuilds_untouched: set[str] = frozenset()) -> None:
        """After `change` (already made): an incremental build leaves the untouched day alone
        in every model but `rebuilds_untouched`, and equals a build from scratch."""
        marked = self.mark(UNTOUCHED)
        self.build()
        assert self.rebuilt(marked) == set(rebuilds_untouched), change
        incremental = self.snapshot(UNTOUCHED)
        self.build("--full-refresh")
        rebuilt = self.snapshot(UNTOUCHED)
        for model in CHAIN:
            assert incremental[model] == rebuilt[model], (change, model)

    def billed(self, provider: str, day: str) -> Any:
        ((total,),) = self.sql(
            f"select sum(billed_cost_usd) from marts.fct_ai_spend where provider = '{provider}' "
            f"and usage_date = '{day}'"
        )
        return total

    def days(self) -> list[str]:
        return [
            str(d)
            for (d,) in self.sql("select distinct usage_date from marts.fct_ai_spend order by 1")
        ]


def _epoch(day: str) -> str:
    return f"(select cast(extract(epoch from cast('{day}' as timestamp)) as bigint))"


@pytest.fixture(params=("duckdb", "postgres"))
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Chain:
    env = {
        "AISPEND_TARGET": request.param,
        "AISPEND_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "AISPEND_START_DATE": START,
        "AISPEND_END_DATE": END,
    }
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_db")
        env |= server.env()
    built = _build(env, tmp_path)
    return Chain(built.settings, tmp_path)


def test_the_spend_chain_rebuilds_the_days_a_change_reaches_and_equals_a_rebuild(chain: Chain):
    days = chain.days()
    assert UNTOUCHED in days and CHANGED in days and len(days) >= 7
    last = days[-1]

    # nothing changed: nothing rebuilt
    chain.check("no change")

    # on one day: OpenAI's bill re-delivered with every amount doubled, and one Anthropic usage
    # row deleted (re-delivered under another window, dlt deletes it here)
    before = chain.billed("openai", CHANGED)
    chain.sql(
        "update raw_openai.costs set amount_value = amount_value * 2, "
        f"_dlt_load_id = 'redelivered' where start_time >= {_epoch(CHANGED)} "
        f"and start_time < {_epoch(CHANGED)} + {DAY_SECONDS}"
    )
    chain.sql(
        "delete from raw_anthropic.messages_usage where _row_key in (select _row_key from "
        f"raw_anthropic.messages_usage where bucket_start >= {_epoch(CHANGED)} "
        f"and bucket_start < {_epoch(CHANGED)} + {DAY_SECONDS} order by _row_key limit 1)"
    )
    chain.check("a re-delivered bill and a deleted usage row")
    assert chain.billed("openai", CHANGED) == 2 * before

    # the last day of OpenAI's and Anthropic's usage and bills gone, then back under a new load
    tables = {
        "raw_openai.completions_usage": "start_time",
        "raw_openai.costs": "start_time",
        "raw_anthropic.messages_usage": "bucket_start",
        "raw_anthropic.cost_report": "bucket_start",
    }
    for table, column in tables.items():
        chain.sql(
            f"create table {table}_held as select * from {table} where {column} >= {_epoch(last)}"
        )
        chain.sql(f"delete from {table} where {column} >= {_epoch(last)}")
    chain.check("a day gone")
    assert not chain.billed("openai", last)  # what is left that day: other endpoints' usage
    for table in tables:
        chain.sql(f"update {table}_held set _dlt_load_id = 'new day'")
        chain.sql(f"insert into {table} select * from {table}_held")
    chain.check("a new day")
    assert chain.billed("openai", last) > 0

    # what reaches every day rebuilds every day, in the models that read it
    allocation = {
        "intermediate.int_ai_spend__rule_matched",
        "marts.fct_ai_spend_allocated",
        "marts.focus_ai_spend",
    }
    chain.sql("update raw_config.teams set cost_center = cost_center || '-moved'")
    chain.check("teams", {"marts.fct_ai_spend_allocated", "marts.focus_ai_spend"})
    chain.sql(
        "update raw_config.allocation_rules set feature = 'moved' "
        "where rule_id = (select min(rule_id) from raw_config.allocation_rules)"
    )
    chain.sql("update raw_reference.price_book set usd_per_million = usd_per_million * 2")
    chain.check("allocation rules and the price book", {"marts.fct_ai_spend"} | allocation)
    chain.sql("update reference.fx_rates set usd_per_unit = usd_per_unit * 1.5")
    chain.check("FX rates", set(SENTINELS) - {"intermediate.int_anthropic__costs_split_by_key"})
