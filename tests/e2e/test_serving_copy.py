"""The serving copy: readers never see a lock or a half-written table, and DuckDB 1.0 opens it."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from orchestration.serving import publish

ROOT = Path(__file__).resolve().parents[2]
OLD_CLIENT = "duckdb==1.0.0"


def _warehouse(path: Path, rows: int) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts; create schema if not exists analytics")
        con.execute(
            "create or replace table marts.fct_ai_spend as select range as id, "
            "1.25::decimal(38, 9) as billed_cost_usd from range(?)",
            [rows],
        )
        con.execute(
            "create or replace table analytics.anomalies as select 'org' as series_id, "
            "current_date as day"
        )
        con.execute("create schema if not exists raw_openai")
        con.execute("create or replace table raw_openai.costs as select 1 as x")
    return path


def test_publish_copies_the_served_schemas_only(tmp_path: Path) -> None:
    result = publish(_warehouse(tmp_path / "w.duckdb", 10), tmp_path / "serving")
    assert result.tables == {"analytics.anomalies": 1, "marts.fct_ai_spend": 10}
    assert (tmp_path / "serving" / "parquet" / "marts" / "fct_ai_spend.parquet").is_file()
    with duckdb.connect(str(result.database), read_only=True) as con:
        assert con.execute("select sum(billed_cost_usd) from marts.fct_ai_spend").fetchone() == (
            pytest.approx(12.5),
        )


def test_a_reader_open_across_publishes_never_fails_or_sees_half_a_table(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb", 1_000)
    serving = tmp_path / "serving"
    publish(warehouse, serving)
    held = duckdb.connect(str(serving / "aispend.duckdb"), read_only=True)
    errors: list[BaseException] = []
    seen: set[int] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                # a new connection each time: it gets the old or the new copy, whole
                with duckdb.connect(str(serving / "aispend.duckdb"), read_only=True) as con:
                    (n,) = con.execute("select count(*) from marts.fct_ai_spend").fetchone()
                    seen.add(int(n))
                (m,) = held.execute("select count(*) from marts.fct_ai_spend").fetchone()
                assert m == 1_000
                parquet = serving / "parquet" / "marts" / "fct_ai_spend.parquet"
                (p,) = duckdb.sql(f"select count(*) from '{parquet}'").fetchone()
                seen.add(int(p))
            except BaseException as exc:  # any lock error or torn read fails the test
                errors.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for rows in (2_000, 3_000, 4_000):
            _warehouse(warehouse, rows)  # the pipeline rewrites its own file...
            publish(warehouse, serving)  # ...and then publishes
    finally:
        stop.set()
        reader.join()
    held.close()
    assert errors == []
    assert seen and seen <= {1_000, 2_000, 3_000, 4_000}
    with duckdb.connect(str(serving / "aispend.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_ai_spend").fetchone() == (4_000,)
    # old Parquet versions are pruned, the current one stays
    assert len(list(serving.glob("parquet-*"))) <= 2


def _old_client_python() -> Path | None:
    """A venv with DuckDB 1.0 (what older BI drivers embed), created on first use."""
    venv = ROOT / ".venv-duckdb1"
    python = venv / "bin" / "python"
    if not python.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True)
        if made.returncode != 0:
            return None
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", OLD_CLIENT], capture_output=True
        )
        if pip.returncode != 0:
            return None
    return python


def test_a_duckdb_1_0_client_opens_the_serving_copy(tmp_path: Path) -> None:
    python = _old_client_python()
    if python is None:
        pytest.skip(f"could not install {OLD_CLIENT} into .venv-duckdb1")
    result = publish(_warehouse(tmp_path / "w.duckdb", 42), tmp_path / "serving")
    script = (
        "import duckdb, sys; "
        f"con = duckdb.connect({str(result.database)!r}, read_only=True); "
        "print(duckdb.__version__, con.execute("
        "'select count(*), sum(billed_cost_usd) from marts.fct_ai_spend').fetchone())"
    )
    out = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("1.0.0 (42, Decimal('52.500000000'))"), out.stdout
