"""Resources shared by the assets."""

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from orchestration.defs.transform import dbt_project
from orchestration.settings import load_settings
from orchestration.sources import SourceInputs, open_inputs


@dg.resource(
    description="Where each source reads from on this run: real APIs and export folders where "
    "their env vars are set, else the embedded simulator, started for the run and stopped after."
)
def source_inputs(_: dg.InitResourceContext) -> Iterator[SourceInputs]:
    with open_inputs(load_settings()) as inputs:
        yield inputs


def dbt_executable() -> str:
    """The dbt installed beside this Python, so a run works without an activated venv."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def build_resources() -> dict[str, object]:
    return {
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        "source_inputs": source_inputs,
    }
