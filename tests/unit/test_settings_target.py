"""AISPEND_TARGET and the PostgreSQL connection settings (libpq's PG* variables)."""

from pathlib import Path

import pytest

from orchestration.settings import ConfigError, PostgresSettings, load_settings

PASSWORD = "pgpw-MARKER-unit-5d1c0e9a"


def test_duckdb_is_the_default_target():
    s = load_settings({})
    assert s.target == "duckdb" and s.dbt_target == "duckdb"
    assert s.dbt_env() == {
        "AISPEND_WAREHOUSE": str(s.warehouse),
        "AISPEND_DBT_TARGET": "duckdb",
        "AISPEND_DUCKDB_MEMORY_LIMIT": "3GB",
    }
    assert s.describe_warehouse() == f"duckdb {s.warehouse}"


def test_postgres_defaults_follow_libpq_names():
    s = load_settings({"AISPEND_TARGET": " Postgres "})
    assert s.target == "postgres"
    assert s.postgres == PostgresSettings("127.0.0.1", 5432, "aispend", "aispend", "")
    assert s.dbt_env() == {
        "AISPEND_WAREHOUSE": str(s.warehouse),
        "AISPEND_DBT_TARGET": "postgres",
        "AISPEND_DUCKDB_MEMORY_LIMIT": "3GB",
        "PGHOST": "127.0.0.1",
        "PGPORT": "5432",
        "PGUSER": "aispend",
        "PGDATABASE": "aispend",
    }


def test_postgres_from_environment(tmp_path: Path):
    s = load_settings(
        {
            "AISPEND_TARGET": "postgres",
            "AISPEND_WAREHOUSE": str(tmp_path / "w.duckdb"),
            "PGHOST": "db.internal",
            "PGPORT": "6543",
            "PGUSER": "finops",
            "PGPASSWORD": PASSWORD,
            "PGDATABASE": "spend",
        }
    )
    pg = s.postgres
    assert (pg.host, pg.port, pg.user, pg.database, pg.password) == (
        "db.internal",
        6543,
        "finops",
        "spend",
        PASSWORD,
    )
    assert pg.connect_kwargs()["password"] == PASSWORD
    assert s.dbt_env()["PGPASSWORD"] == PASSWORD  # only to the dbt subprocess
    assert s.describe_warehouse() == "postgres finops@db.internal:6543/spend"
    # dlt's working folder stays beside AISPEND_WAREHOUSE, one per target: the local state of a
    # DuckDB load never meets the PostgreSQL destination
    assert s.dlt_pipelines_dir == tmp_path / ".dlt_pipelines_postgres"


def test_the_password_is_in_no_repr_or_description():
    s = load_settings({"AISPEND_TARGET": "postgres", "PGPASSWORD": PASSWORD})
    for text in (repr(s), str(s), repr(s.postgres), s.postgres.describe(), s.describe_warehouse()):
        assert PASSWORD not in text


def test_pg_variables_are_ignored_on_duckdb():
    s = load_settings({"PGPORT": "not-a-port", "PGPASSWORD": PASSWORD})
    assert s.target == "duckdb" and s.postgres.password == ""


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AISPEND_TARGET": "snowflake"}, "AISPEND_TARGET"),
        ({"AISPEND_TARGET": "postgres", "PGPORT": "five"}, "PGPORT"),
        ({"AISPEND_TARGET": "postgres", "PGPORT": "0"}, "PGPORT"),
        ({"AISPEND_TARGET": "postgres", "PGPORT": "70000"}, "PGPORT"),
    ],
)
def test_bad_values_name_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(env)
