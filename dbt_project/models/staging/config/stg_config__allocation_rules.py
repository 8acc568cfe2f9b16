"""Allocation rules from config/allocation_rules.csv (or AISPEND_CONFIG_DIR), validated on load.

A malformed file fails this model with an error naming the file, line and field.
"""

from ingestion.config import rules_frame


def model(dbt, session):
    dbt.config(materialized="table")
    return rules_frame()
