"""Alert routes from `config/alert_routes.yaml`: which alerts go to which channel.

The file holds no secrets, only the names of the environment variables that do (webhook URLs,
signing secrets, SMTP host/user/password). It is validated whole on load and an error names the
file, the route (`routes[i]` and its name) and the field. An enabled route whose variables are
unset is skipped with a warning, so a shared file works on a laptop without Slack credentials.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alerts.model import KINDS, SEVERITIES, SEVERITY_RANK, Alert
from ingestion.config.allocation import ConfigFileError, config_dir

log = logging.getLogger(__name__)

CHANNELS: tuple[str, ...] = ("slack", "teams", "webhook", "email", "file")
STARTTLS: tuple[str, ...] = ("auto", "always", "never")
ROUTES_FILE = "alert_routes.yaml"
DEFAULT_FILE_PATH = "data/alerts/alerts.jsonl"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_FIELDS = {
    "name",
    "channel",
    "enabled",
    "kinds",
    "min_severity",
    "url_env",
    "secret_env",
    "smtp",
    "to",
    "include_owner",
    "path",
    "attachment",
    "attempts",
    "base_delay_s",
    "timeout_s",
}
_SMTP_FIELDS = {"host_env", "port_env", "user_env", "password_env", "from", "from_env", "starttls"}


@dataclass(frozen=True)
class SmtpRoute:
    """Names of the SMTP env vars; `sender` is the `from` address (or `from_env`)."""

    host_env: str
    port_env: str | None = None
    user_env: str | None = None
    password_env: str | None = None
    sender: str = "aispend@localhost"
    from_env: str | None = None
    starttls: str = "auto"


@dataclass(frozen=True)
class Route:
    """One validated route; `index` is its position in the file's list."""

    name: str
    channel: str
    enabled: bool = True
    kinds: tuple[str, ...] = KINDS
    min_severity: str = "low"
    url_env: str | None = None
    secret_env: str | None = None
    smtp: SmtpRoute | None = None
    to: tuple[str, ...] = ()
    include_owner: bool = False
    path: str | None = None
    attachment: str | None = None
    attempts: int | None = None
    base_delay_s: float | None = None
    timeout_s: float | None = None
    index: int = 0

    def env_vars(self) -> list[tuple[str, str]]:
        """(field, variable) pairs that must be set for the route to be usable."""
        out = [(f, v) for f, v in (("url_env", self.url_env), ("secret_env", self.secret_env)) if v]
        if self.smtp:
            s = self.smtp
            for f, v in (
                ("smtp.host_env", s.host_env),
                ("smtp.user_env", s.user_env),
                ("smtp.password_env", s.password_env),
                ("smtp.from_env", s.from_env),
            ):
                if v:
                    out.append((f, v))
        return out


def routes_path(env: Mapping[str, str] | None = None) -> Path:
    """`AISPEND_ALERT_ROUTES`, else `alert_routes.yaml` in the config folder."""
    env = os.environ if env is None else env
    raw = env.get("AISPEND_ALERT_ROUTES", "").strip()
    return Path(raw).expanduser() if raw else config_dir(dict(env)) / ROUTES_FILE


class _Fail:
    """Builds ConfigFileErrors that name file, route and field."""

    def __init__(self, source: str, index: int, name: str | None) -> None:
        self.where = f"{source}: routes[{index}]" + (f" ({name!r})" if name else "")

    def __call__(self, fld: str, why: str) -> ConfigFileError:
        return ConfigFileError(f"{self.where}: field {fld!r}: {why}")


def _env_name(fail: _Fail, fld: str, value: Any, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise fail(fld, "is required")
        return None
    if not isinstance(value, str):
        raise fail(fld, f"must be an environment variable name, got {type(value).__name__}")
    if "://" in value or not _ENV_NAME.match(value):
        raise fail(
            fld,
            "must name an environment variable (e.g. AISPEND_SLACK_WEBHOOK_URL); secrets and "
            "URLs never go in this file",
        )
    return value


def _number(fail: _Fail, fld: str, value: Any, integer: bool, minimum: float) -> Any:
    if value is None:
        return None
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or value < minimum:
        kind = "an integer" if integer else "a number"
        raise fail(fld, f"must be {kind} ≥ {minimum:g}, got {value!r}")
    return value


def _bool(fail: _Fail, fld: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise fail(fld, f"must be true or false, got {value!r}")
    return value


def _parse_smtp(fail: _Fail, raw: Any) -> SmtpRoute:
    if not isinstance(raw, dict):
        raise fail("smtp", "must be a mapping with host_env, from, …")
    for secret in ("password", "user", "host", "port"):
        if secret in raw:
            raise fail(f"smtp.{secret}", f"goes in an env var: name it with {secret}_env")
    unknown = sorted(set(raw) - _SMTP_FIELDS)
    if unknown:
        raise fail(
            f"smtp.{unknown[0]}", f"unknown field; expected {', '.join(sorted(_SMTP_FIELDS))}"
        )
    starttls = raw.get("starttls", "auto")
    if starttls is True:
        starttls = "always"  # YAML reads a bare `yes`/`true` as a bool
    if starttls is False:
        starttls = "never"
    if starttls not in STARTTLS:
        raise fail("smtp.starttls", f"must be one of {', '.join(STARTTLS)}, got {starttls!r}")
    sender, from_env = raw.get("from"), _env_name(fail, "smtp.from_env", raw.get("from_env"))
    if sender is None and from_env is None:
        raise fail("smtp.from", "is required (or smtp.from_env)")
    if sender is not None and (not isinstance(sender, str) or "@" not in sender):
        raise fail("smtp.from", f"must be an e-mail address, got {sender!r}")
    user_env = _env_name(fail, "smtp.user_env", raw.get("user_env"))
    password_env = _env_name(fail, "smtp.password_env", raw.get("password_env"))
    if password_env and not user_env:
        raise fail("smtp.user_env", "is required when password_env is set")
    return SmtpRoute(
        host_env=_env_name(fail, "smtp.host_env", raw.get("host_env"), required=True) or "",
        port_env=_env_name(fail, "smtp.port_env", raw.get("port_env")),
        user_env=user_env,
        password_env=password_env,
        sender=sender or "aispend@localhost",
        from_env=from_env,
        starttls=starttls,
    )


def _parse_route(source: str, index: int, raw: Any) -> Route:
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{source}: routes[{index}]: must be a mapping, got {raw!r}")
    name = raw.get("name")
    fail = _Fail(source, index, name if isinstance(name, str) else None)
    if name is not None and not isinstance(name, str):
        raise fail(
            "name", f"must be a string, got {name!r} (quote it: YAML reads off/yes as booleans)"
        )
    if not isinstance(name, str) or not _ROUTE_NAME.match(name):
        raise fail("name", "is required: letters, digits, '_', '.', '-'")
    for secret in ("url", "secret", "webhook_url"):
        if secret in raw:
            raise fail(
                secret,
                "secrets never go in this file: put it in an env var and name it "
                f"with {'secret_env' if secret == 'secret' else 'url_env'}",
            )
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field; expected {', '.join(sorted(_FIELDS))}")
    channel = raw.get("channel")
    if channel not in CHANNELS:
        raise fail("channel", f"must be one of {', '.join(CHANNELS)}, got {channel!r}")
    kinds_raw = raw.get("kinds")
    if kinds_raw is None:
        kinds = KINDS
    else:
        if isinstance(kinds_raw, str):
            kinds_raw = [kinds_raw]
        if not isinstance(kinds_raw, list) or not kinds_raw:
            raise fail("kinds", f"must be a non-empty list of {', '.join(KINDS)}")
        bad = [k for k in kinds_raw if k not in KINDS]
        if bad:
            raise fail("kinds", f"unknown kind {bad[0]!r}; expected {', '.join(KINDS)}")
        kinds = tuple(dict.fromkeys(kinds_raw))
    min_severity = raw.get("min_severity", "low")
    if min_severity not in SEVERITIES:
        raise fail("min_severity", f"must be one of {', '.join(SEVERITIES)}, got {min_severity!r}")

    http = channel in ("slack", "teams", "webhook")
    url_env = _env_name(fail, "url_env", raw.get("url_env"), required=http)
    if url_env and not http:
        raise fail("url_env", f"is for slack, teams and webhook routes, not {channel}")
    secret_env = _env_name(fail, "secret_env", raw.get("secret_env"))
    if secret_env and channel != "webhook":
        raise fail("secret_env", "signs generic webhook requests only (channel: webhook)")

    smtp = None
    to: tuple[str, ...] = ()
    if channel == "email":
        if "smtp" not in raw:
            raise fail("smtp", "is required for an email route")
        smtp = _parse_smtp(fail, raw["smtp"])
        to_raw = raw.get("to")
        if isinstance(to_raw, str):
            to_raw = [to_raw]
        if not isinstance(to_raw, list) or not to_raw:
            raise fail("to", "is required: a list of e-mail addresses")
        for addr in to_raw:
            if not isinstance(addr, str) or not _EMAIL.match(addr.strip()):
                raise fail("to", f"{addr!r} is not an e-mail address")
        to = tuple(a.strip() for a in to_raw)
    else:
        for fld in ("smtp", "to", "include_owner", "attachment"):
            if fld in raw:
                raise fail(fld, "is for email routes only")

    path = raw.get("path")
    if path is not None and (channel != "file" or not isinstance(path, str) or not path.strip()):
        raise fail("path", "is a non-empty file path, for file routes only")
    if channel == "file" and path is None:
        path = DEFAULT_FILE_PATH
    attachment = raw.get("attachment")
    if attachment is not None and not isinstance(attachment, str):
        raise fail("attachment", "must be a file path")

    return Route(
        name=name,
        channel=channel,
        enabled=_bool(fail, "enabled", raw.get("enabled"), True),
        kinds=kinds,
        min_severity=min_severity,
        url_env=url_env,
        secret_env=secret_env,
        smtp=smtp,
        to=to,
        include_owner=_bool(fail, "include_owner", raw.get("include_owner"), False),
        path=path,
        attachment=attachment,
        attempts=_number(fail, "attempts", raw.get("attempts"), True, 1),
        base_delay_s=_number(fail, "base_delay_s", raw.get("base_delay_s"), False, 0),
        timeout_s=_number(fail, "timeout_s", raw.get("timeout_s"), False, 0.1),
        index=index,
    )


def parse_routes(data: Any, source: str = "<routes>") -> list[Route]:
    """Validate loaded YAML (a `routes:` mapping or a bare list) into all routes, in order."""
    if data is None:
        return []
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"routes"})
        if unknown:
            raise ConfigFileError(
                f"{source}: unknown top-level key {unknown[0]!r}; expected 'routes'"
            )
        data = data.get("routes") or []
    if not isinstance(data, list):
        raise ConfigFileError(f"{source}: 'routes' must be a list of routes")
    routes = [_parse_route(source, i, raw) for i, raw in enumerate(data)]
    seen: dict[str, int] = {}
    for r in routes:
        if r.name in seen:
            raise ConfigFileError(
                f"{source}: routes[{r.index}] ({r.name!r}): field 'name': duplicate of "
                f"routes[{seen[r.name]}]"
            )
        seen[r.name] = r.index
    return routes


def read_routes(path: Path) -> list[Route]:
    """All routes of a file, enabled or not, validated; missing file → ConfigFileError."""
    if not path.is_file():
        raise ConfigFileError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigFileError(f"{path}{where}: not valid YAML: {problem}") from None
    return parse_routes(data, str(path))


def usable(routes: Iterable[Route], env: Mapping[str, str] | None = None) -> list[Route]:
    """Enabled routes whose env vars are set; the others are skipped with a warning."""
    env = os.environ if env is None else env
    out = []
    for route in routes:
        if not route.enabled:
            log.debug("alert route %r is disabled", route.name)
            continue
        missing = [
            f"{var} ({fld})" for fld, var in route.env_vars() if not env.get(var, "").strip()
        ]
        if missing:
            log.warning(
                "alert route %r (%s) skipped: environment variable(s) not set: %s",
                route.name,
                route.channel,
                ", ".join(missing),
            )
            continue
        out.append(route)
    return out


def load_routes(
    path: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    missing_ok: bool = True,
) -> list[Route]:
    """The usable routes of the routes file (default: config/alert_routes.yaml).

    A missing file with `missing_ok` gives the default: one `file` route to
    data/alerts/alerts.jsonl, so alerts are never silently dropped.
    """
    env = os.environ if env is None else env
    file = Path(path) if path is not None else routes_path(env)
    if not file.is_file() and missing_ok:
        log.warning("%s not found: alerts go to %s only", file, DEFAULT_FILE_PATH)
        return [Route(name="file", channel="file", path=DEFAULT_FILE_PATH)]
    return usable(read_routes(file), env)


def routes_for(alert: Alert, routes: Sequence[Route]) -> list[Route]:
    """The enabled routes that take this alert's kind at its severity."""
    rank = SEVERITY_RANK[alert.severity]
    return [
        r
        for r in routes
        if r.enabled and alert.kind in r.kinds and rank >= SEVERITY_RANK[r.min_severity]
    ]
