"""Resources shared by the assets."""

import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from orchestration import warehouse
from orchestration.defs.transform import dbt_project
from orchestration.settings import Settings, load_settings
from orchestration.sources import SourceInputs, open_inputs


@dg.resource(
    description="Where each source reads from on this run: real APIs and export folders where "
    "their env vars are set, else the embedded simulator, started for the run and stopped after."
)
def source_inputs(_: dg.InitResourceContext) -> Iterator[SourceInputs]:
    with open_inputs(load_settings()) as inputs:
        yield inputs


class WarehouseResource(dg.ConfigurableResource):
    """The run's warehouse, DuckDB or PostgreSQL (AISPEND_TARGET), read from the environment at
    each call, like every other setting. The methods are those of `orchestration.warehouse`
    (see its docstring) without the first argument:

        def my_asset(warehouse: WarehouseResource):
            with warehouse.connect(read_only=True) as con:
                frame = con.frame("select ... where usage_date >= ?", [start])
            warehouse.replace_tables("analytics", {"my_table": frame})
    """

    def settings(self) -> Settings:
        return load_settings()

    @property
    def target(self) -> str:
        return self.settings().target

    def connect(self, read_only: bool = False) -> AbstractContextManager[warehouse.Connection]:
        return warehouse.connect(self.settings(), read_only=read_only)

    def read_frame(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return warehouse.read_frame(self.settings(), sql, params)

    def replace_tables(self, schema: str, tables: Mapping[str, pd.DataFrame]) -> None:
        warehouse.replace_tables(self.settings(), schema, tables)

    def table_exists(self, schema: str, table: str) -> bool:
        return warehouse.table_exists(self.settings(), schema, table)


def dbt_executable() -> str:
    """The dbt installed beside this Python, so a run works without an activated venv."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


# Flags on every dbt invocation of a run. Most of a dbt step's time here is dbt's own Python per
# node, not SQL (threads > 1 gained nothing): measured on a 7-day small warehouse, a whole
# build took 32-34 s as dagster-dbt calls it, and 26-29 s with these two flags.
# - `--log-level-file none`: no debug log of every event in dbt_project/logs/dbt.log (dbt's
#   output still reaches the step's log in Dagster, at info level, as before).
# - `--no-write-json`: no manifest.json or run_results.json in the invocation's target folder;
#   Dagster reads dbt's structured output, and the manifest it builds assets from is the one
#   `dbt parse` writes (`make manifest`). The saved parse (partial_parse.msgpack) is still
#   written.
DBT_FLAGS = ["--log-level-file", "none", "--no-write-json"]


def build_resources() -> dict[str, object]:
    return {
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(
            project_dir=dbt_project, dbt_executable=dbt_executable(), global_config_flags=DBT_FLAGS
        ),
        "source_inputs": source_inputs,
        "warehouse": WarehouseResource(),
    }
