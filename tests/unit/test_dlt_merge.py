"""dlt's merge with one DELETE per key (ingestion/_dlt_merge.py): the same rows replaced as
dlt's OR form, without the nested-loop join."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dlt
import duckdb

from ingestion._dlt_merge import SplitKeyMergeJob, install
from orchestration import warehouse


def test_one_clause_per_key_and_no_or() -> None:
    clauses = SplitKeyMergeJob.gen_key_table_clauses(
        "ds.t", "ds_staging.t", ["id"], ["day"], for_delete=True
    )
    assert len(clauses) == 2
    assert all(" OR " not in c.upper() for c in clauses)
    assert "d.id = s.id" in clauses[0] and "d.day = s.day" in clauses[1]


@dlt.resource(name="rows", write_disposition="merge", primary_key="id", merge_key="day")
def _rows(items: list[dict[str, object]]) -> Iterator[dict[str, object]]:
    yield from items


def test_the_merge_replaces_partitions_and_keys_as_before(tmp_path: Path) -> None:
    """A re-delivered day replaces that whole day; a key that moved to it leaves its old day;
    a key delivered twice lands once."""
    install()
    db = tmp_path / "w.duckdb"
    pipeline = dlt.pipeline(
        "merge_test",
        destination=warehouse.dlt_destination(db),
        dataset_name="raw_test",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    pipeline.run(
        _rows(
            [
                {"id": 1, "day": "a", "v": 1},
                {"id": 2, "day": "a", "v": 2},
                {"id": 3, "day": "b", "v": 3},
                {"id": 4, "day": "c", "v": 4},
            ]
        )
    )
    info = pipeline.run(
        _rows(
            [
                {"id": 1, "day": "a", "v": 10},
                {"id": 3, "day": "a", "v": 30},
                {"id": 3, "day": "a", "v": 30},
            ]
        )
    )
    info.raise_on_failed_jobs()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select id, day, v from raw_test.rows order by id").fetchall()
    # day a replaced (2 gone), 3 moved from b to a once, c untouched
    assert rows == [(1, "a", 10), (3, "a", 30), (4, "c", 4)]
    sql = "\n".join(SplitKeyMergeJob.gen_key_table_clauses("t", "s", ["id"], ["day"], True))
    assert sql.count("EXISTS") == 2
