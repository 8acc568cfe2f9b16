"""Resources shared by the assets."""

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from orchestration.defs.transform import dbt_project
from orchestration.providers import Endpoints, open_endpoints
from orchestration.settings import load_settings


@dg.resource(
    description="Provider endpoints of the run: real APIs where keys are set, else the "
    "embedded simulator, started for the run and stopped after it."
)
def provider_endpoints(_: dg.InitResourceContext) -> Iterator[Endpoints]:
    with open_endpoints(load_settings()) as endpoints:
        yield endpoints


def dbt_executable() -> str:
    """The dbt installed beside this Python, so a run works without an activated venv."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def build_resources() -> dict[str, object]:
    return {
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        "provider_endpoints": provider_endpoints,
    }
