"""The saved dbt parse is kept per connection (dbt re-parses everything when the profile's
connection fields change, and the DuckDB path is one of them)."""

from __future__ import annotations

from pathlib import Path

from orchestration.defs.transform import PARSE_CACHE, _save_parse, parse_cache_file

DUCKDB = {"AISPEND_WAREHOUSE": "/data/a/warehouse.duckdb", "AISPEND_DBT_TARGET": "duckdb"}


def test_one_saved_parse_per_connection() -> None:
    same = parse_cache_file(dict(reversed(list(DUCKDB.items()))))
    other = parse_cache_file({**DUCKDB, "AISPEND_WAREHOUSE": "/data/b/warehouse.duckdb"})
    assert parse_cache_file(DUCKDB) == same  # order of the variables does not matter
    assert parse_cache_file(DUCKDB) != other
    assert parse_cache_file(DUCKDB).parent == PARSE_CACHE
    pg = {"AISPEND_DBT_TARGET": "postgres", "PGHOST": "db", "PGDATABASE": "aispend"}
    assert parse_cache_file(pg) != parse_cache_file({**pg, "PGDATABASE": "other"})


def test_the_password_is_not_part_of_the_key() -> None:
    pg = {"AISPEND_DBT_TARGET": "postgres", "PGHOST": "db", "PGPASSWORD": "s3cret"}
    key = parse_cache_file(pg)
    assert key == parse_cache_file({**pg, "PGPASSWORD": "rotated"})
    assert "s3cret" not in str(key)


def test_saving_replaces_the_file_whole_and_skips_a_missing_parse(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "abc.msgpack"
    _save_parse(tmp_path / "missing.msgpack", cache)  # dbt failed before parsing: nothing
    assert not cache.exists()
    parsed = tmp_path / "partial_parse.msgpack"
    parsed.write_bytes(b"first")
    _save_parse(parsed, cache)
    parsed.write_bytes(b"second")
    _save_parse(parsed, cache)
    assert cache.read_bytes() == b"second"
    assert [p.name for p in cache.parent.iterdir()] == ["abc.msgpack"]  # no temporary left
