"""Allocation rules and teams: who owns which key, project, account, tag or user, and when.

`config/allocation_rules.csv` maps the coarse things a bill is keyed by to team, feature,
customer and cost center, with dates because ownership moves. A rule with
`split_by=telemetry` spreads each billed dollar over the day's application requests by their
share of estimated cost (the true-up); telemetry fills what the rule leaves empty. The files
are CSV so finance can edit them in a spreadsheet; every error names file, line and field.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

# What a rule can match, and the fact column it is compared with. `project` covers an OpenAI
# project, an Anthropic workspace, an AWS account, a GCP project and an Azure subscription.
MATCH_TYPES = ("api_key", "user", "tag", "project", "provider")
SPLIT_BY = ("none", "telemetry")
PROVIDERS = ("openai", "anthropic", "cursor", "aws_bedrock", "gcp_vertex", "azure_openai")
RULE_COLUMNS = (
    "rule_id",
    "priority",
    "match_type",
    "provider",
    "match_value",
    "team",
    "feature",
    "customer",
    "cost_center",
    "split_by",
    "valid_from",
    "valid_to",
    "note",
)
TEAM_COLUMNS = ("team", "cost_center", "name", "owner_email")
DEFAULT_PRIORITY = 100


class ConfigFileError(ValueError):
    """A configuration file is malformed; the message names file, line and field."""


@dataclass(frozen=True)
class AllocationRule:
    """One line of allocation_rules.csv; empty targets are None, dates end-exclusive."""

    rule_id: str
    priority: int
    match_type: str
    provider: str
    match_value: str
    team: str | None
    feature: str | None
    customer: str | None
    cost_center: str | None
    split_by: str
    valid_from: date | None
    valid_to: date | None
    note: str | None
    source_line: int


@dataclass(frozen=True)
class Team:
    """One line of teams.csv."""

    team: str
    cost_center: str | None
    name: str | None
    owner_email: str | None


def config_dir(env: dict[str, str] | None = None) -> Path:
    """`AISPEND_CONFIG_DIR`, else the repository's `config/` folder."""
    env = dict(os.environ) if env is None else env
    raw = env.get("AISPEND_CONFIG_DIR", "").strip()
    if raw:
        return Path(raw).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "config"


def _read_rows(path: Path, expected: tuple[str, ...], required: set[str]):
    if not path.is_file():
        raise ConfigFileError(f"{path}: file not found")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = sorted(required - set(header))
        if missing:
            raise ConfigFileError(f"{path} line 1: missing column(s) {', '.join(missing)}")
        unknown = sorted(set(header) - set(expected))
        if unknown:
            raise ConfigFileError(
                f"{path} line 1: unknown column(s) {', '.join(unknown)}; "
                f"expected {', '.join(expected)}"
            )
        for row in reader:
            values = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
            if not any(values.values()) or values.get(header[0], "").startswith("#"):
                continue  # blank lines and lines commented out with '#'
            yield reader.line_num, values


def _date(path: Path, line: int, name: str, raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigFileError(
            f"{path} line {line}: {name} {raw!r} is not a date in YYYY-MM-DD form"
        ) from None


def _parse_rule(path: Path, line: int, row: dict[str, str]) -> AllocationRule:
    def fail(field: str, why: str) -> ConfigFileError:
        return ConfigFileError(f"{path} line {line}: {field} {why}")

    rule_id = row.get("rule_id", "")
    if not rule_id:
        raise fail("rule_id", "is empty")
    raw_priority = row.get("priority", "")
    try:
        priority = int(raw_priority) if raw_priority else DEFAULT_PRIORITY
    except ValueError:
        raise fail("priority", f"{raw_priority!r} is not a whole number") from None
    match_type = row.get("match_type", "")
    if match_type not in MATCH_TYPES:
        raise fail("match_type", f"{match_type!r} is not one of {', '.join(MATCH_TYPES)}")
    provider = row.get("provider", "") or "*"
    if provider != "*" and provider not in PROVIDERS:
        raise fail("provider", f"{provider!r} is not '*' or one of {', '.join(PROVIDERS)}")
    match_value = row.get("match_value", "")
    if match_type == "provider":
        if provider == "*":
            raise fail("provider", "must name a provider for a match_type=provider rule")
        match_value = match_value or "*"
    elif not match_value:
        raise fail("match_value", f"is empty (a {match_type} rule needs one)")
    if match_type == "tag" and ("=" not in match_value or match_value.startswith("=")):
        raise fail("match_value", f"{match_value!r} is not key=value for a tag rule")
    split_by = row.get("split_by", "") or "none"
    if split_by not in SPLIT_BY:
        raise fail("split_by", f"{split_by!r} is not one of {', '.join(SPLIT_BY)}")
    targets = {k: (row.get(k) or None) for k in ("team", "feature", "customer", "cost_center")}
    if split_by == "none" and not any(targets.values()):
        raise fail(
            "team", "and feature, customer, cost_center are all empty: the rule assigns nothing"
        )
    valid_from = _date(path, line, "valid_from", row.get("valid_from", ""))
    valid_to = _date(path, line, "valid_to", row.get("valid_to", ""))
    if valid_from and valid_to and valid_to <= valid_from:
        raise fail("valid_to", f"{valid_to} is not after valid_from {valid_from}")
    return AllocationRule(
        rule_id=rule_id,
        priority=priority,
        match_type=match_type,
        provider=provider,
        match_value=match_value,
        split_by=split_by,
        valid_from=valid_from,
        valid_to=valid_to,
        note=row.get("note") or None,
        source_line=line,
        **targets,
    )


def _overlaps(a: AllocationRule, b: AllocationRule) -> bool:
    a_from, b_from = a.valid_from or date.min, b.valid_from or date.min
    a_to, b_to = a.valid_to or date.max, b.valid_to or date.max
    return a_from < b_to and b_from < a_to


def load_allocation_rules(path: Path | None = None) -> list[AllocationRule]:
    """Read and validate allocation_rules.csv; raise ConfigFileError naming file/line/field."""
    path = path or config_dir() / "allocation_rules.csv"
    rules: list[AllocationRule] = []
    seen: dict[str, int] = {}
    for line, row in _read_rows(path, RULE_COLUMNS, {"rule_id", "match_type", "match_value"}):
        rule = _parse_rule(path, line, row)
        if rule.rule_id in seen:
            raise ConfigFileError(
                f"{path} line {line}: rule_id {rule.rule_id!r} is already used on line "
                f"{seen[rule.rule_id]}"
            )
        for other in rules:
            same_target = (
                other.match_type == rule.match_type
                and other.provider == rule.provider
                and other.match_value == rule.match_value
                and other.priority == rule.priority
            )
            if same_target and _overlaps(other, rule):
                raise ConfigFileError(
                    f"{path} line {line}: valid_from/valid_to of rule {rule.rule_id!r} overlap "
                    f"rule {other.rule_id!r} (line {other.source_line}) for the same "
                    f"{rule.match_type} {rule.match_value!r} and priority; give one a different "
                    "priority or make the dates meet"
                )
        seen[rule.rule_id] = line
        rules.append(rule)
    return rules


def load_teams(path: Path | None = None) -> list[Team]:
    """Read and validate teams.csv (team -> cost center and owner)."""
    path = path or config_dir() / "teams.csv"
    teams: dict[str, Team] = {}
    lines: dict[str, int] = {}
    for line, row in _read_rows(path, TEAM_COLUMNS, {"team"}):
        team = row.get("team", "")
        if not team:
            raise ConfigFileError(f"{path} line {line}: team is empty")
        if team in teams:
            raise ConfigFileError(
                f"{path} line {line}: team {team!r} is already listed on line {lines[team]}"
            )
        email = row.get("owner_email") or None
        if email and "@" not in email:
            raise ConfigFileError(f"{path} line {line}: owner_email {email!r} is not an address")
        teams[team] = Team(team, row.get("cost_center") or None, row.get("name") or None, email)
        lines[team] = line
    return list(teams.values())


DATE_COLUMNS = ("valid_from", "valid_to")
INT_COLUMNS = ("priority", "source_line")


def _frame(items: Iterable[Any], columns: list[str]) -> pd.DataFrame:
    """Typed columns, so DuckDB's types never depend on the data: an object column that is
    empty on every line would otherwise arrive as INTEGER."""
    frame = pd.DataFrame([asdict(item) for item in items], columns=columns)
    for column in columns:
        if column in DATE_COLUMNS:
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
        elif column in INT_COLUMNS:
            frame[column] = frame[column].astype("int64")
        else:
            frame[column] = frame[column].astype("string")
    return frame


def rules_frame(path: Path | None = None) -> pd.DataFrame:
    """The validated rules as a DataFrame (the rows `raw_config.allocation_rules` holds)."""
    return _frame(load_allocation_rules(path), [f.name for f in fields(AllocationRule)])


def teams_frame(path: Path | None = None) -> pd.DataFrame:
    """The validated teams as a DataFrame (the rows `raw_config.teams` holds)."""
    return _frame(load_teams(path), [f.name for f in fields(Team)])
