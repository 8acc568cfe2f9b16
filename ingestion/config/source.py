"""The config files as a dlt source: dataset `raw_config`, tables `allocation_rules` and `teams`.

The files are read and validated when the source is built, before anything is loaded, so a
malformed file fails the load with the ConfigFileError that names the file, the line and the
field, and the tables keep their last good rows. Each load replaces the tables whole. Column
types are declared, not inferred, so they are the same on DuckDB and PostgreSQL and do not
depend on the data (a column that is empty on every line is still text, a date still a date).
dbt reads the tables in `stg_config__allocation_rules` and `stg_config__teams`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import dlt
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.extract import DltResource

from ingestion.config.allocation import (
    AllocationRule,
    Team,
    config_dir,
    load_allocation_rules,
    load_teams,
)

DATASET = "raw_config"

_TYPES = {"priority": "bigint", "source_line": "bigint", "valid_from": "date", "valid_to": "date"}
# what each table's columns are in the warehouse: every other column is text
RULE_COLUMNS: TTableSchemaColumns = {
    f.name: {"data_type": _TYPES.get(f.name, "text"), "nullable": f.name != "rule_id"}
    for f in fields(AllocationRule)
}
TEAM_COLUMNS: TTableSchemaColumns = {
    f.name: {"data_type": "text", "nullable": f.name != "team"} for f in fields(Team)
}


def rules_records(path: Path | None = None) -> list[dict[str, Any]]:
    """The validated rules, one dict per line (dates as `date`)."""
    return [asdict(rule) for rule in load_allocation_rules(path)]


def teams_records(path: Path | None = None) -> list[dict[str, Any]]:
    """The validated teams, one dict per line."""
    return [asdict(team) for team in load_teams(path)]


def config_resources(folder: Path | None = None) -> list[DltResource]:
    """allocation_rules.csv and teams.csv of `folder` (default: AISPEND_CONFIG_DIR or config/)
    as two dlt resources that replace their table on every load.

    Both files are read and validated here, before any resource runs, so a malformed file
    raises ConfigFileError itself (not an extraction error wrapping it) and nothing loads.
    """
    folder = folder or config_dir()
    rules = rules_records(folder / "allocation_rules.csv")
    teams = teams_records(folder / "teams.csv")

    @dlt.resource(name="allocation_rules", write_disposition="replace", columns=RULE_COLUMNS)
    def allocation_rules() -> Iterator[dict[str, Any]]:
        """config/allocation_rules.csv, validated: one row per rule, `source_line` its line."""
        yield from rules

    @dlt.resource(name="teams", write_disposition="replace", columns=TEAM_COLUMNS)
    def team_rows() -> Iterator[dict[str, Any]]:
        """config/teams.csv, validated: one row per team with its cost center and owner."""
        yield from teams

    return [allocation_rules(), team_rows()]
