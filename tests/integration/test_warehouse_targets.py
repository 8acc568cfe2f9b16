"""The warehouse API (orchestration/warehouse.py) behaves the same on DuckDB and on a real
PostgreSQL server: queries with `?` placeholders, frames written and read back with the same
types, atomic replacement of several tables, and dlt loading `raw_<source>` with a merge.
The PostgreSQL password (a marker) appears in nothing dlt or the API leaves behind."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import dlt
import pandas as pd
import pytest

from orchestration import warehouse as wh
from orchestration.resources import WarehouseResource
from orchestration.settings import Settings, load_settings
from tests.support.leaks import Searcher
from tests.support.postgres import (  # noqa: F401  (fixtures)
    PostgresServer,
    postgres_db_fixture,
    postgres_fixture,
)

pytestmark = pytest.mark.integration

TARGETS = ("duckdb", "postgres")


@pytest.fixture(params=TARGETS)
def target_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The variables of one target: a DuckDB file in tmp_path, or a new database on the
    server."""
    env = {"AISPEND_WAREHOUSE": str(tmp_path / "warehouse.duckdb")}
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_db")
        env |= {"AISPEND_TARGET": "postgres", **server.env()}
    return env


@pytest.fixture
def settings(target_env: dict[str, str]) -> Settings:
    return load_settings(target_env)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "provider": ["openai", "anthropic", None],
            "text": ["", 'a "quoted", multi-\nline value', "\\n ; % ?"],
            "usage_date": pd.to_datetime(["2026-08-01", "2026-08-02", "2026-08-03"]),
            "day": [dt.date(2026, 8, 1), dt.date(2026, 8, 2), None],
            "requests": [3, 5, 8],
            "maybe_requests": pd.array([1, None, 2], dtype="Int64"),
            "cost": [1.25, float("nan"), 0.5],
            "exact": [Decimal("0.10"), Decimal("0.20"), None],
            "flag": [True, False, True],
            "note": [None, None, None],
            "at": pd.to_datetime(["2026-08-01T06:00:00Z"] * 3, utc=True),
        }
    )


def test_frames_round_trip_with_the_same_types(settings: Settings) -> None:
    wh.replace_tables(settings, "analytics", {"t": _frame(), "empty": _frame().head(0)})
    assert wh.table_exists(settings, "analytics", "t")
    assert not wh.table_exists(settings, "analytics", "nope")

    back = wh.read_frame(settings, "select * from analytics.t order by requests")
    assert list(back.columns) == list(_frame().columns)
    assert back["provider"].tolist()[:2] == ["openai", "anthropic"]
    assert back["provider"].isna().tolist() == [False, False, True]
    assert back["text"].tolist() == _frame()["text"].tolist()  # "" is not NULL
    assert str(back["usage_date"].dtype).startswith("datetime64")
    assert back["usage_date"].dt.day.tolist() == [1, 2, 3]
    assert str(back["day"].dtype).startswith("datetime64")
    assert back["requests"].dtype == "int64"
    assert str(back["maybe_requests"].dtype) == "Int64"
    assert back["maybe_requests"].isna().tolist() == [False, True, False]
    assert back["cost"].dtype == "float64" and back["cost"].isna().tolist() == [False, True, False]
    assert back["exact"].dtype == "float64" and back["exact"].tolist()[:2] == [0.1, 0.2]
    assert back["flag"].dtype == bool and back["flag"].tolist() == [True, False, True]
    assert back["note"].isna().all()
    assert back["at"].dt.tz is not None and back["at"].dt.hour.tolist() == [6, 6, 6]

    empty = wh.read_frame(settings, "select * from analytics.empty")
    assert empty.empty and list(empty.columns) == list(_frame().columns)


def test_queries_take_question_mark_parameters_on_both_targets(settings: Settings) -> None:
    wh.replace_tables(settings, "analytics", {"t": _frame()})
    with wh.connect(settings, read_only=True) as con:
        assert con.target == settings.target
        rows = con.execute(
            "select provider, requests from analytics.t "
            "where usage_date >= ? and provider like 'open%' and '?' = '?' order by 1",
            [dt.date(2026, 8, 1)],
        ).fetchall()
        assert rows == [("openai", 3)]
        (total,) = con.execute("select sum(requests) from analytics.t").fetchone()
        assert int(total) == 16
        frame = con.frame("select count(*) as n from analytics.t where flag = ?", [True])
        assert frame["n"].tolist() == [2]


class _FailsHalfway(dict):
    """A mapping of tables whose second table cannot be produced."""

    def items(self) -> Iterator[tuple[str, pd.DataFrame]]:  # type: ignore[override]
        yield "t", pd.DataFrame({"requests": [999]})
        raise RuntimeError("the second table failed")


def test_a_failed_refresh_leaves_every_table_as_it_was(settings: Settings) -> None:
    wh.replace_tables(settings, "analytics", {"t": _frame()})
    with pytest.raises(RuntimeError, match="second table"):
        wh.replace_tables(settings, "analytics", _FailsHalfway())
    back = wh.read_frame(settings, "select requests from analytics.t order by 1")
    assert back["requests"].tolist() == [3, 5, 8]


@dlt.resource(name="costs", write_disposition="merge", primary_key="id")
def _costs(rows: list[dict[str, object]]) -> Iterator[dict[str, object]]:
    yield from rows


def test_dlt_loads_raw_dataset_and_merges_on_both_targets(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pipeline = wh.dlt_pipeline("demo", settings, settings.dlt_pipelines_dir)
    assert pipeline.destination.destination_name == settings.target
    assert wh.loaded_span_unix(settings, "raw_demo", "costs", "start_time") == (None, None)

    first = [{"id": i, "start_time": 1_785_000_000 + i, "amount": f"{i}.10"} for i in range(3)]
    pipeline.run(_costs(first))
    restated = [{"id": 2, "start_time": 1_785_000_002, "amount": "9.99"}]
    pipeline.run(_costs(restated))

    assert wh.table_exists(settings, "raw_demo", "costs")
    frame = wh.read_frame(settings, "select id, amount from raw_demo.costs order by id")
    assert frame.values.tolist() == [[0, "0.10"], [1, "1.10"], [2, "9.99"]]
    span = wh.loaded_span_unix(settings, "raw_demo", "costs", "start_time")
    assert span == (1_785_000_000, 1_785_000_002)

    if settings.target == "postgres":
        password = settings.postgres.password
        assert password.startswith("pgpw-MARKER-")
        searcher = Searcher({"PGPASSWORD": password})
        leaks = searcher.in_tree(settings.dlt_pipelines_dir, "dlt pipelines dir")
        leaks += searcher.in_records(
            (f"log {r.name}", f"{r.getMessage()}\n{r.exc_text or ''}") for r in caplog.records
        )
        leaks += searcher.in_text(repr(settings), "repr(settings)")
        leaks += searcher.in_text(str(pipeline.destination), "str(destination)")
        assert len(searcher.searched) > 5
        assert not leaks, [str(leak) for leak in leaks]


def test_an_asset_writes_and_reads_through_the_warehouse_resource(
    target_env: dict[str, str], env: pytest.MonkeyPatch
) -> None:
    for name, value in target_env.items():
        env.setenv(name, value)

    @dg.asset(key=["analytics", "demo"])
    def demo(warehouse: WarehouseResource) -> dg.MaterializeResult:
        warehouse.replace_tables("analytics", {"demo": _frame()})
        with warehouse.connect(read_only=True) as con:
            sql = "select count(*) from analytics.demo where requests > ?"
            (n,) = con.execute(sql, [4]).fetchone() or (0,)
        return dg.MaterializeResult(metadata={"rows": int(n), "target": warehouse.target})

    result = dg.materialize([demo], resources={"warehouse": WarehouseResource()})
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["rows"].value == 2
    assert metadata["target"].value == target_env.get("AISPEND_TARGET", "duckdb")
    assert WarehouseResource().table_exists("analytics", "demo")


def test_postgres_without_pgpassword_uses_the_password_file(
    postgres_db: PostgresServer, tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    """PGPASSWORD unset, the password in a libpq password file (PGPASSFILE or ~/.pgpass), as
    most servers are reached: dlt, dbt's libpq and the warehouse API all log in."""
    passfile = tmp_path / "pgpass"
    passfile.write_text(
        f"{postgres_db.host}:{postgres_db.port}:{postgres_db.database}:"
        f"{postgres_db.user}:{postgres_db.password}\n"
    )
    passfile.chmod(0o600)
    env.setenv("PGPASSFILE", str(passfile))
    variables = {k: v for k, v in postgres_db.env().items() if k != "PGPASSWORD"}
    settings = load_settings(
        {"AISPEND_WAREHOUSE": str(tmp_path / "w.duckdb"), "AISPEND_TARGET": "postgres", **variables}
    )
    assert settings.postgres.password == ""
    pipeline = wh.dlt_pipeline("nopass", settings, settings.dlt_pipelines_dir)
    pipeline.run(_costs([{"id": 1, "start_time": 1_785_000_000, "amount": "1.00"}]))
    assert wh.read_frame(settings, "select id from raw_nopass.costs").values.tolist() == [[1]]
