"""Configuration files a FinOps team edits (allocation rules, teams), validated on load.

The Dagster asset `config_ingest` (orchestration/defs/reference.py) validates them and lands
them with dlt (`source.config_resources`, dataset `raw_config`) before dbt's `stg_config__*`
models read them, on DuckDB or PostgreSQL alike. Every error names the file, the line and the
field.
"""

from ingestion.config.allocation import (
    MATCH_TYPES,
    SPLIT_BY,
    AllocationRule,
    ConfigFileError,
    Team,
    config_dir,
    load_allocation_rules,
    load_teams,
    rules_frame,
    teams_frame,
)

__all__ = [
    "MATCH_TYPES",
    "SPLIT_BY",
    "AllocationRule",
    "ConfigFileError",
    "Team",
    "config_dir",
    "load_allocation_rules",
    "load_teams",
    "rules_frame",
    "teams_frame",
]
