"""dbt assets: every model, with dbt tests as (blocking) asset checks."""

import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.defs.ingestion import OWNERS, WRITE_POOL
from orchestration.settings import DBT_PROJECT_DIR, load_settings

# dagster-dbt's preparer looks for `dbt` on PATH; make the one beside this Python win, so a
# `dagster dev` started without an activated virtualenv still parses the project
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# `dagster dev` re-parses on load; elsewhere (tests, `make run`) the Makefile or the test
# fixture has run `dbt parse`, and a missing manifest is built here rather than failing.
dbt_project.prepare_if_dev()
if not dbt_project.manifest_path.exists():
    dbt_project.preparer.prepare(dbt_project)

LAYERS = ("staging", "intermediate", "marts")
# What a seed is sequenced after. Dagster gives each asset of a multi-asset a step by its depth
# in the graph, counted in hops through other definitions: a seed with no upstream sits at the
# top, alone, and became a dbt invocation of its own (about 10-16 s for one seed and its three
# tests, most of it dbt starting and parsing). Placed after the config files' load, the seeds
# share the staging models' depth and their step.
SEED_AFTER = dg.AssetKey(["raw_config", "teams"])


class LayerTranslator(DagsterDbtTranslator):
    """Group models by their top folder (staging, intermediate, marts)."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        fqn = props.get("fqn") or []
        layer = next((part for part in fqn if part in LAYERS), None)
        if props.get("resource_type") == "seed":
            # reference data (exchange rates) sits with the staging layer that reads it, and is
            # built in the same dbt step (SEED_AFTER)
            return spec.replace_attributes(
                group_name="staging", deps=[*spec.deps, dg.AssetDep(SEED_AFTER)]
            ).merge_attributes(owners=OWNERS)
        if props.get("resource_type") != "model" or layer is None:
            return spec.merge_attributes(owners=OWNERS)
        return spec.replace_attributes(group_name=layer).merge_attributes(
            kinds={"sql"}, tags={"layer": layer}, owners=OWNERS
        )


def dbt_env() -> dict[str, str]:
    """Environment for the dbt subprocess: the target (AISPEND_DBT_TARGET), the DuckDB file
    resolved to absolute, and on PostgreSQL libpq's PG* variables."""
    return {**load_settings().dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


# dbt re-uses its last parse (partial parsing) only while the profile's connection fields are
# unchanged, and the DuckDB path is one of them: every warehouse other than the one `dbt parse`
# saw (each test, each bench history, a second warehouse) paid a full parse, about 5 s, on
# every invocation. One saved parse per connection, handed to each invocation and refreshed
# after it; dbt itself still checks it against the files and re-parses what changed.
PARSE_CACHE = Path(DBT_PROJECT_DIR) / "target" / "partial_parse_by_connection"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def parse_cache_file(env: Mapping[str, str]) -> Path:
    """The saved parse for the connection `env` names (the password is not part of it, as it
    is not part of dbt's own check)."""
    key = json.dumps(sorted((k, v) for k, v in env.items() if k != "PGPASSWORD"))
    return PARSE_CACHE / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.msgpack"


def _target_path(context: dg.AssetExecutionContext) -> Path:
    """A target folder of its own for this invocation, as dagster-dbt would pick."""
    name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}"
    return Path(DBT_PROJECT_DIR) / "target" / f"{name}-{uuid.uuid4().hex[:7]}"


def _save_parse(parsed: Path, cache: Path) -> None:
    if not parsed.exists():
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(f"{cache.name}.{uuid.uuid4().hex[:7]}.tmp")
    shutil.copyfile(parsed, partial)
    os.replace(partial, cache)  # atomic: a concurrent run reads the old or the new file


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=LayerTranslator(),
    pool=WRITE_POOL,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """Build and test every dbt model; failing tests block the assets downstream."""
    # the dbt CLI runs in a subprocess that inherits this environment
    env = dbt_env()
    os.environ.update(env)
    cache = parse_cache_file(env)
    target = _target_path(context)
    if cache.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache, target / PARTIAL_PARSE_FILE)
    try:
        yield from dbt.cli(["build"], context=context, target_path=target).stream()
    finally:
        _save_parse(target / PARTIAL_PARSE_FILE, cache)
