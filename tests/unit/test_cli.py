"""`aispend run` refuses a bad config file before it loads anything, naming file, line, field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestration import cli

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("allocation_rules.csv", "teams.csv", "price_overrides.csv", "budgets.csv"):
        shutil.copy(CONFIG / name, tmp_path / name)
    monkeypatch.setenv("AISPEND_CONFIG_DIR", str(tmp_path))
    return tmp_path


def test_the_shipped_config_files_pass(config_copy: Path):
    assert cli.check_config_files() is None


def test_run_stops_on_a_bad_rule_before_loading(
    config_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    rules = config_copy / "allocation_rules.csv"
    lines = rules.read_text().splitlines()
    lines[3] = lines[3].replace(",api_key,", ",apikey,", 1)
    rules.write_text("\n".join(lines) + "\n")

    def no_run(*_args, **_kwargs):
        raise AssertionError("the pipeline must not start on a bad config file")

    monkeypatch.setattr(cli, "run_pipeline", no_run)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert f"{rules} line 4: match_type 'apikey'" in err


def test_a_bad_price_override_is_named_too(config_copy: Path):
    overrides = config_copy / "price_overrides.csv"
    overrides.write_text(
        overrides.read_text() + "bad,openai,gpt-4o,input,*,2026-01-01,,-1,,negative\n"
    )
    problem = cli.check_config_files()
    assert problem and "line 3" in problem and "usd_per_million" in problem


def test_a_malformed_budget_stops_the_run_naming_file_line_and_field(
    config_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    budgets = config_copy / "budgets.csv"
    budgets.write_text(budgets.read_text() + "broken,Broken,team,search,lots,USD,,,,,,\n")
    monkeypatch.setattr(cli, "run_pipeline", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    line = len(budgets.read_text().splitlines())
    assert f"{budgets} line {line}: amount 'lots' is not a number" in err


def test_summary_lines_take_a_budget_without_a_forecast(tmp_path: Path):
    """A window ending on the first of a month leaves its current month nothing to forecast:
    pct_forecast is NULL and the summary says so instead of failing after a good run."""
    import duckdb

    from orchestration.warehouse import connect

    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema analytics")
        con.execute(
            "create table analytics.budget_status as select 'org-monthly' as budget_id, "
            "54.7 as pct_used, cast(null as double) as pct_forecast, 'ok' as status, "
            "true as is_current_month"
        )
    with connect(path, read_only=True) as con:
        lines = cli._analytics_lines(con)
    assert "budgets    org-monthly 55% (fcst —, ok)" in lines


def test_step_seconds_come_from_dagster_step_events():
    import dagster as dg

    @dg.asset
    def first() -> int:
        return 1

    @dg.asset
    def second(first: int) -> int:
        return first + 1

    result = dg.materialize([first, second])
    steps = cli.step_seconds(result)
    assert set(steps) == {"first", "second"}
    assert all(seconds >= 0 for seconds in steps.values())


def test_slowest_steps_line_names_the_largest_first():
    steps = {"dbt_models": 43.84, "openai_ingest": 2.0, "spend_forecast": 20.1, "a": 0.5}
    line = cli.slowest_steps_line(steps, top=2)
    assert line == (
        "Slowest steps: dbt_models 43.8 s, spend_forecast 20.1 s (of 4 steps, 66.4 s summed)"
    )
    assert cli.slowest_steps_line({}) == "Slowest steps: none succeeded"
