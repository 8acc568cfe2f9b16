"""Teams and their cost centers from config/teams.csv (or AISPEND_CONFIG_DIR), validated on load."""

from ingestion.config import teams_frame


def model(dbt, session):
    dbt.config(materialized="table")
    return teams_frame()
