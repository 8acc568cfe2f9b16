"""Routes: the shipped file, validation errors naming file/route/field, skipping, filtering."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from alerts.model import Alert
from alerts.routes import load_routes, read_routes, routes_for
from ingestion.config.allocation import ConfigFileError

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alert_routes.yaml"
    path.write_text(text)
    return path


def test_shipped_file_enables_only_the_file_route() -> None:
    path = ROOT / "config" / "alert_routes.yaml"
    assert [(r.name, r.channel, r.path) for r in read_routes(path)] == [
        ("local-file", "file", "data/alerts/alerts.jsonl")
    ]
    text = path.read_text()
    for channel in ("slack", "teams", "webhook", "email"):
        assert f"#   channel: {channel}" in text  # commented examples
    assert [r.name for r in load_routes(path, env={})] == ["local-file"]


def test_default_path_and_missing_file(tmp_path: Path) -> None:
    env = {"AISPEND_CONFIG_DIR": str(tmp_path)}
    [fallback] = load_routes(env=env)
    assert (fallback.channel, fallback.path) == ("file", "data/alerts/alerts.jsonl")
    with pytest.raises(ConfigFileError, match=r"alert_routes\.yaml: file not found"):
        load_routes(env=env, missing_ok=False)


GOOD = """
routes:
  - name: slack
    channel: slack
    url_env: SLACK_URL
    kinds: [anomaly, budget]
    min_severity: high
  - name: hook
    channel: webhook
    url_env: HOOK_URL
    secret_env: HOOK_SECRET
  - name: mail
    channel: email
    to: [a@example.com]
    smtp: {host_env: SMTP_HOST, user_env: SMTP_USER, password_env: SMTP_PASSWORD, from: x@y.io}
  - name: muted
    channel: teams
    url_env: TEAMS_URL
    enabled: false
"""


def test_unset_env_vars_skip_a_route_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, GOOD)
    env = {"SLACK_URL": "https://hooks.example/x", "HOOK_URL": "https://h/x", "SMTP_HOST": "m"}
    with caplog.at_level(logging.WARNING, logger="alerts.routes"):
        routes = load_routes(path, env=env)
    assert [r.name for r in routes] == ["slack"]
    assert "'hook' (webhook) skipped: environment variable(s) not set: HOOK_SECRET" in caplog.text
    assert "SMTP_USER (smtp.user_env), SMTP_PASSWORD (smtp.password_env)" in caplog.text
    assert "'muted'" not in caplog.text  # disabled is not a warning


def _alert(kind: str, severity: str) -> Alert:
    return Alert(f"{kind}:x", kind, severity, "t", "s", date(2024, 5, 3))


def test_routes_for_filters_kind_and_severity(tmp_path: Path) -> None:
    routes = read_routes(_write(tmp_path, GOOD))
    names = lambda a: [r.name for r in routes_for(a, routes)]  # noqa: E731
    assert names(_alert("anomaly", "critical")) == ["slack", "hook", "mail"]
    assert names(_alert("anomaly", "medium")) == ["hook", "mail"]
    assert names(_alert("run_failure", "critical")) == ["hook", "mail"]


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "routes:\n  - name: a\n    channel: pager\n",
            "routes[0] ('a'): field 'channel': must be one of slack, teams, webhook, email, file",
        ),
        ("routes:\n  - channel: file\n", "routes[0]: field 'name': is required"),
        (
            "routes:\n  - name: a\n    channel: slack\n",
            "routes[0] ('a'): field 'url_env': is required",
        ),
        (
            "routes:\n  - name: a\n    channel: slack\n    url_env: https://hooks.slack.com/x\n",
            "routes[0] ('a'): field 'url_env': must name an environment variable",
        ),
        (
            "routes:\n  - name: a\n    channel: slack\n    url: https://hooks.slack.com/x\n",
            "routes[0] ('a'): field 'url': secrets never go in this file",
        ),
        (
            "routes:\n  - {name: a, channel: file}\n"
            "  - {name: b, channel: file, min_severity: huge}\n",
            "routes[1] ('b'): field 'min_severity': must be one of low, medium, high, critical",
        ),
        (
            "routes:\n  - {name: a, channel: file, kinds: [anomaly, weather]}\n",
            "routes[0] ('a'): field 'kinds': unknown kind 'weather'",
        ),
        (
            "routes:\n  - {name: a, channel: file, colour: red}\n",
            "routes[0] ('a'): field 'colour': unknown field",
        ),
        (
            "routes:\n  - {name: a, channel: file, enabled: 'yes please'}\n",
            "routes[0] ('a'): field 'enabled': must be true or false",
        ),
        (
            "routes:\n  - {name: a, channel: slack, url_env: U, secret_env: S}\n",
            "routes[0] ('a'): field 'secret_env': signs generic webhook requests only",
        ),
        (
            "routes:\n  - {name: a, channel: email, to: [a@b.c]}\n",
            "routes[0] ('a'): field 'smtp': is required",
        ),
        (
            "routes:\n  - {name: a, channel: email, smtp: {host_env: H, from: a@b.c}}\n",
            "routes[0] ('a'): field 'to': is required",
        ),
        (
            "routes:\n  - {name: a, channel: email, to: [nobody],"
            " smtp: {host_env: H, from: a@b.c}}\n",
            "routes[0] ('a'): field 'to': 'nobody' is not an e-mail address",
        ),
        (
            "routes:\n  - {name: a, channel: email, to: [a@b.c], smtp: {host_env: H}}\n",
            "routes[0] ('a'): field 'smtp.from': is required",
        ),
        (
            "routes:\n  - {name: a, channel: email, to: [a@b.c],"
            " smtp: {host_env: H, from: a@b.c, password: hunter2}}\n",
            "routes[0] ('a'): field 'smtp.password': goes in an env var",
        ),
        (
            "routes:\n  - {name: a, channel: email, to: [a@b.c],"
            " smtp: {host_env: H, from: a@b.c, starttls: maybe}}\n",
            "routes[0] ('a'): field 'smtp.starttls': must be one of auto, always, never",
        ),
        (
            "routes:\n  - {name: a, channel: slack, url_env: U, path: x.jsonl}\n",
            "routes[0] ('a'): field 'path': is a non-empty file path, for file routes only",
        ),
        (
            "routes:\n  - {name: a, channel: file, attempts: 0}\n",
            "routes[0] ('a'): field 'attempts': must be an integer ≥ 1",
        ),
        (
            "routes:\n  - {name: a, channel: file}\n  - {name: a, channel: file}\n",
            "routes[1] ('a'): field 'name': duplicate of routes[0]",
        ),
        ("routes:\n  - just a string\n", "routes[0]: must be a mapping"),
        ("routes:\n  - {name: off, channel: file}\n", "routes[0]: field 'name': must be a string"),
        ("channels: []\n", "unknown top-level key 'channels'"),
    ],
)
def test_validation_errors_name_file_route_and_field(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    path = _write(tmp_path, yaml_text)
    with pytest.raises(ConfigFileError) as caught:
        read_routes(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "routes:\n  - name: a\n    channel: [file\n")
    with pytest.raises(ConfigFileError, match=r"alert_routes\.yaml line \d+: not valid YAML"):
        read_routes(path)


def test_bare_list_and_yaml_booleans_for_starttls(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "- {name: m, channel: email, to: a@b.c, smtp: {host_env: H, from: a@b.c, starttls: yes}}\n",
    )
    [route] = read_routes(path)
    assert route.smtp is not None and route.smtp.starttls == "always" and route.to == ("a@b.c",)
