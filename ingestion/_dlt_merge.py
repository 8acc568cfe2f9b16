"""dlt's delete-insert merge, with one DELETE per key instead of one joined by OR.

Every aispend resource merges with a primary key *and* a merge key (the bucket, day or file
partition it replaces). dlt (1.31) deletes the rows to replace with one statement:

    DELETE FROM t AS d WHERE EXISTS (SELECT 1 FROM staging AS s
        WHERE d.pk = s.pk OR d.partition = s.partition)

An OR between two join conditions cannot be a hash join: DuckDB and PostgreSQL compare every
destination row with every staged row. Re-delivering a year of a small telemetry export (365k
staged rows onto 365k rows) took 78 s and 7.1 GiB of memory in the load step on DuckDB.

`install()` makes the DuckDB and PostgreSQL clients use dlt's own multi-clause form (the one
dlt uses for BigQuery): one `DELETE ... WHERE EXISTS (... d.pk = s.pk)` and one for the merge
key, each a plain equi-join. The rows deleted are the same (a row matching either key goes);
the insert that follows, with its primary-key deduplication, is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlt.destinations.sql_jobs import SqlMergeFollowupJob

_installed = False


class SplitKeyMergeJob(SqlMergeFollowupJob):
    """SqlMergeFollowupJob whose key clauses are one statement per key (no OR)."""

    @classmethod
    def gen_key_table_clauses(
        cls,
        root_table_name: str,
        staging_root_table_name: str,
        primary_keys: Sequence[str],
        merge_keys: Sequence[str],
        for_delete: bool,
        source_filter: str | None = None,
    ) -> list[str]:
        clauses = cls._gen_key_table_clauses(primary_keys, merge_keys)
        return [
            f"FROM {root_table_name} AS d WHERE EXISTS (SELECT 1 FROM {staging_root_table_name} "
            f"AS s WHERE {cls._gen_staging_rows_cond(clause.format(d='d', s='s'), source_filter)})"
            for clause in clauses
        ]


def _merge_jobs(self: Any, table_chain: Sequence[Any]) -> list[Any]:
    return [SplitKeyMergeJob.from_table_chain(table_chain, self.sql_client)]


def install() -> None:
    """Use `SplitKeyMergeJob` for dlt's duckdb and postgres destinations (idempotent)."""
    global _installed
    if _installed:
        return
    from dlt.destinations.impl.duckdb.duck import DuckDbClient
    from dlt.destinations.impl.postgres.postgres import PostgresClient

    for client in (DuckDbClient, PostgresClient):
        client._create_merge_followup_jobs = _merge_jobs  # type: ignore[method-assign]
    _installed = True
