"""Allocation rules and teams: the shipped files load, and every mistake names file, line, field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingestion.config import (
    ConfigFileError,
    config_dir,
    load_allocation_rules,
    load_teams,
    rules_frame,
)

HEADER = (
    "rule_id,priority,match_type,provider,match_value,team,feature,customer,cost_center,"
    "split_by,valid_from,valid_to,note\n"
)


def write(tmp_path: Path, body: str, name: str = "allocation_rules.csv") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_the_shipped_rules_and_teams_load():
    rules = load_allocation_rules()
    teams = {t.team for t in load_teams()}
    assert len(rules) > 10
    # every team a rule names has a cost center
    assert {r.team for r in rules if r.team} <= teams
    moved = [r for r in rules if r.match_value == "key_sgokZO30Ey6U7VYy"]
    assert [(r.team, r.valid_from, r.valid_to) for r in moved] == [
        ("platform", None, date(2026, 9, 15)),
        ("growth", date(2026, 9, 15), None),
    ]


def test_config_dir_follows_the_environment(tmp_path: Path):
    assert config_dir({"AISPEND_CONFIG_DIR": str(tmp_path)}) == tmp_path.resolve()
    assert config_dir({}).name == "config"


def test_rules_frame_types_do_not_depend_on_the_data(tmp_path: Path):
    path = write(tmp_path, HEADER + "r1,,provider,cursor,,eng,,,,none,,,\n")
    frame = rules_frame(path)
    con = duckdb.connect()
    con.register("rules", frame)
    types = {row[0]: row[1] for row in con.execute("describe select * from rules").fetchall()}
    assert types["customer"] == "VARCHAR"  # empty on every line, still text
    assert types["valid_to"] == "TIMESTAMP"
    assert types["priority"] == "BIGINT"
    assert frame.loc[0, "match_value"] == "*"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("r1,,owner,openai,key_1,team-a,,,,none,,,", "match_type"),
        ("r1,,api_key,openai,,team-a,,,,none,,,", "match_value"),
        ("r1,,tag,aws_bedrock,team,team-a,,,,none,,,", "match_value"),
        ("r1,,api_key,bard,key_1,team-a,,,,none,,,", "provider"),
        ("r1,high,api_key,openai,key_1,team-a,,,,none,,,", "priority"),
        ("r1,,api_key,openai,key_1,team-a,,,,evenly,,,", "split_by"),
        ("r1,,api_key,openai,key_1,,,,,none,,,", "team"),
        ("r1,,api_key,openai,key_1,team-a,,,,none,2026-02-30,,", "valid_from"),
        ("r1,,api_key,openai,key_1,team-a,,,,none,2026-03-01,2026-01-01,", "valid_to"),
        (",,api_key,openai,key_1,team-a,,,,none,,,", "rule_id"),
    ],
)
def test_a_bad_line_names_file_line_and_field(tmp_path: Path, line: str, field: str):
    path = write(tmp_path, HEADER + "ok,,provider,cursor,,eng,,,,none,,,\n" + line + "\n")
    with pytest.raises(ConfigFileError) as err:
        load_allocation_rules(path)
    message = str(err.value)
    assert str(path) in message
    assert "line 3" in message
    assert field in message


def test_duplicate_ids_and_overlapping_dates_are_refused(tmp_path: Path):
    dup = write(
        tmp_path,
        HEADER + "r1,,api_key,openai,k,a,,,,none,,,\nr1,,api_key,openai,k2,a,,,,none,,,\n",
    )
    with pytest.raises(ConfigFileError, match="line 3: rule_id 'r1' is already used on line 2"):
        load_allocation_rules(dup)
    overlap = write(
        tmp_path,
        HEADER
        + "r1,,api_key,openai,k,a,,,,none,,2026-10-01,\n"
        + "r2,,api_key,openai,k,b,,,,none,2026-09-01,,\n",
    )
    with pytest.raises(ConfigFileError, match="line 3: valid_from/valid_to of rule 'r2' overlap"):
        load_allocation_rules(overlap)
    # dates that meet are an ownership move, not an overlap
    moved = write(
        tmp_path,
        HEADER
        + "r1,,api_key,openai,k,a,,,,none,,2026-10-01,\n"
        + "r2,,api_key,openai,k,b,,,,none,2026-10-01,,\n",
    )
    assert [r.team for r in load_allocation_rules(moved)] == ["a", "b"]


def test_missing_and_unknown_columns_and_files(tmp_path: Path):
    with pytest.raises(ConfigFileError, match="line 1: missing column"):
        load_allocation_rules(write(tmp_path, "rule_id,team\nr1,a\n"))
    with pytest.raises(ConfigFileError, match="line 1: unknown column"):
        load_allocation_rules(write(tmp_path, HEADER.strip() + ",owner\n"))
    with pytest.raises(ConfigFileError, match="file not found"):
        load_allocation_rules(tmp_path / "nope.csv")


def test_teams_refuse_duplicates_and_bad_addresses(tmp_path: Path):
    header = "team,cost_center,name,owner_email\n"
    with pytest.raises(ConfigFileError, match="line 3: team 'a' is already listed on line 2"):
        load_teams(write(tmp_path, header + "a,CC1,,\na,CC2,,\n", "teams.csv"))
    with pytest.raises(ConfigFileError, match="line 2: owner_email"):
        load_teams(write(tmp_path, header + "a,CC1,,nobody\n", "teams.csv"))
