"""Configuration files a FinOps team edits (allocation rules, teams), validated on load.

They are read by dbt Python models (`stg_config__*`), so dbt, Dagster and the tests see the
same rows. Every error names the file, the line and the field.
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
