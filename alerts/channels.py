"""Delivery: Slack, Teams and signed JSON webhooks over HTTP, e-mail over SMTP, JSON-lines file.

Every channel retries transient failures with exponential backoff (`RetryPolicy`): connection
errors, timeouts, 5xx, 408 and 429 (whose `Retry-After` is honoured, capped); any other 4xx is
a configuration problem that a retry cannot fix. After the last attempt a channel raises
`DeliveryError`, whose text never holds a webhook URL (Slack/Teams URLs are credentials: only
scheme://host is shown), a signing secret or a password.

Webhook signature (for receivers, see alerts/README.md): `X-Aispend-Timestamp: <unix seconds>`
and `X-Aispend-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`;
`verify_signature` checks it in constant time and rejects stale timestamps (replays).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from alerts.model import Alert
from alerts.redact import redact, safe_origin
from alerts.render import render_email, render_file, render_slack, render_teams, render_webhook

log = logging.getLogger(__name__)


class _HideWebhookPaths(logging.Filter):
    """urllib3 logs each request's path at DEBUG, and a Slack/Teams/webhook URL's path is its
    credential: a record naming the path of a channel's URL is redacted before any handler."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: dict[str, str] = {}  # url -> its path

    def filter(self, record: logging.LogRecord) -> bool:
        paths = self.paths.copy()
        if paths:
            message = record.getMessage()
            urls = [url for url, path in paths.items() if path in message]
            if urls:
                record.msg, record.args = redact(message, urls), None
        return True


_hide_webhook_paths = _HideWebhookPaths()
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry")
for _name in _URLLIB3_LOGGERS:
    logging.getLogger(_name).addFilter(_hide_webhook_paths)


@contextlib.contextmanager
def _quiet_urllib3() -> Iterator[None]:
    """No urllib3 DEBUG lines while a webhook is called: they carry the URL's path, which is
    the credential. The filter above redacts known paths; this holds whatever the logging
    setup of the host process (levels and filters can be reconfigured by it)."""
    loggers = [logging.getLogger(name) for name in _URLLIB3_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        if lg.getEffectiveLevel() < logging.INFO:
            lg.setLevel(logging.INFO)
        if _hide_webhook_paths not in lg.filters:
            lg.addFilter(_hide_webhook_paths)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


USER_AGENT = "aispend-alerts/1"
SIGNATURE_HEADER = "X-Aispend-Signature"
TIMESTAMP_HEADER = "X-Aispend-Timestamp"
DEFAULT_FILE_PATH = "data/alerts/alerts.jsonl"
DEFAULT_SMTP_PORT = 587
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
Sleep = Callable[[float], None]


class DeliveryError(Exception):
    """A channel gave up; `last_error` is already redacted and safe to log or store."""

    def __init__(self, channel: str, route: str, attempts: int, last_error: str) -> None:
        self.channel = channel
        self.route = route
        self.attempts = attempts
        self.last_error = last_error
        plural = "s" if attempts != 1 else ""
        super().__init__(
            f"{channel} route {route!r}: delivery failed after {attempts} attempt{plural}: "
            f"{last_error}"
        )


class ChannelConfigError(ValueError):
    """A route cannot be turned into a channel (e.g. its env var vanished since loading)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts (≥ 1, including the first), exponential backoff and the Retry-After cap."""

    attempts: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_retry_after_s: float = 60.0
    timeout_s: float = 10.0

    def backoff(self, attempt: int) -> float:
        """Delay after failed attempt `attempt` (1-based): base × 2^(attempt−1), capped."""
        return min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))


class _Retryable(Exception):
    def __init__(self, message: str, delay_s: float | None = None) -> None:
        super().__init__(message)
        self.delay_s = delay_s


class _Permanent(Exception):
    pass


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or invalid."""
    if not value or not value.strip():
        return None
    raw = value.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _run_with_retries(
    channel: str,
    route: str,
    policy: RetryPolicy,
    sleep: Sleep,
    attempt_once: Callable[[], None],
) -> int:
    """Call `attempt_once` until it returns; return the attempts used or raise DeliveryError."""
    attempts = max(1, policy.attempts)
    for attempt in range(1, attempts + 1):
        try:
            attempt_once()
        except _Permanent as exc:
            raise DeliveryError(channel, route, attempt, str(exc)) from None
        except _Retryable as exc:
            if attempt == attempts:
                raise DeliveryError(channel, route, attempt, str(exc)) from None
            delay = policy.backoff(attempt)
            if exc.delay_s is not None:
                delay = min(policy.max_retry_after_s, exc.delay_s)
            log.warning(
                "%s route %r: attempt %d/%d failed (%s); retrying in %.2fs",
                channel,
                route,
                attempt,
                attempts,
                exc,
                delay,
            )
            sleep(delay)
        else:
            if attempt > 1:
                log.info("%s route %r: delivered on attempt %d", channel, route, attempt)
            return attempt
    raise AssertionError("unreachable")  # pragma: no cover


class Channel(Protocol):
    """What `dispatch` needs: a name for reports and a `send` that raises DeliveryError."""

    channel: str
    route: str

    def send(self, alert: Alert) -> int:
        """Deliver; return the attempts used."""
        ...


# ---------------------------------------------------------------- HTTP


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>")."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    header: str | None,
    *,
    tolerance_s: float | None = 300.0,
    now: float | None = None,
) -> bool:
    """For receivers: True when `header` signs `body` at `timestamp` and the timestamp is fresh.

    Pass the raw request body (bytes as received, before any JSON parsing). `tolerance_s=None`
    disables the replay window.
    """
    if not header or not secret:
        return False
    ts = str(timestamp).strip()
    try:
        sent = int(ts)
    except ValueError:
        return False
    if tolerance_s is not None and abs((now or time.time()) - sent) > tolerance_s:
        return False
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, ts, raw), header.strip())


class HttpChannel:
    """POST a JSON payload; Slack, Teams and the generic webhook differ only in payload/headers."""

    RENDERERS: dict[str, Callable[[Alert], dict[str, Any]]] = {
        "slack": render_slack,
        "teams": render_teams,
        "webhook": render_webhook,
    }

    def __init__(
        self,
        channel: str,
        route: str,
        url: str,
        *,
        secret: str | None = None,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        if channel not in self.RENDERERS:
            raise ChannelConfigError(f"route {route!r}: no HTTP channel {channel!r}")
        if not url.lower().startswith(("https://", "http://")):
            raise ChannelConfigError(f"route {route!r}: webhook URL must be http(s)")
        self.channel = channel
        self.route = route
        self._url = url
        self._secret = secret
        self.policy = policy or RetryPolicy()
        self._session = session or requests.Session()
        self._sleep = sleep
        self.origin = safe_origin(url)
        path = urlsplit(url).path
        if len(path) > 1:
            _hide_webhook_paths.paths[url] = path

    def __repr__(self) -> str:  # never the URL
        return f"HttpChannel({self.channel!r}, route={self.route!r}, origin={self.origin!r})"

    def close(self) -> None:
        self._session.close()

    def payload(self, alert: Alert) -> dict[str, Any]:
        return self.RENDERERS[self.channel](alert)

    def send(self, alert: Alert) -> int:
        payload = self.payload(alert)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
        data = body.encode()

        def attempt() -> None:
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "X-Aispend-Alert-Id": alert.alert_id,
            }
            if self._secret:
                ts = str(int(time.time()))
                headers[TIMESTAMP_HEADER] = ts
                headers[SIGNATURE_HEADER] = sign(self._secret, ts, data)
            self._post(data, headers)

        return _run_with_retries(self.channel, self.route, self.policy, self._sleep, attempt)

    def _post(self, data: bytes, headers: dict[str, str]) -> None:
        try:
            with _quiet_urllib3():
                resp = self._session.post(
                    self._url,
                    data=data,
                    headers=headers,
                    timeout=self.policy.timeout_s,
                    allow_redirects=False,
                )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retryable(self._clean(f"{type(exc).__name__} to {self.origin}: {exc}")) from None
        except requests.RequestException as exc:
            raise _Permanent(self._clean(f"{type(exc).__name__} to {self.origin}: {exc}")) from None
        if 200 <= resp.status_code < 300:
            return
        snippet = " ".join(resp.text[:200].split()) if resp.text else ""
        why = self._clean(
            f"HTTP {resp.status_code} from {self.origin}" + (f": {snippet}" if snippet else "")
        )
        if resp.status_code in RETRY_STATUS:
            wait = None
            if resp.status_code in (429, 503):
                wait = retry_after_seconds(resp.headers.get("Retry-After"))
            raise _Retryable(why, wait)
        if 300 <= resp.status_code < 400:
            raise _Permanent(why + " (redirects are not followed)")
        raise _Permanent(why)

    def _clean(self, message: str) -> str:
        return redact(message, (self._url, self._secret))


# ---------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class SmtpSettings:
    """Resolved SMTP settings; the password comes from the environment only."""

    host: str
    port: int = DEFAULT_SMTP_PORT
    user: str | None = None
    password: str | None = None
    sender: str = "aispend@localhost"
    starttls: str = "auto"  # auto | always | never

    def __repr__(self) -> str:
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"starttls={self.starttls!r})"
        )


def use_starttls(mode: str, offered: bool) -> bool:
    """STARTTLS when offered (auto) or required (always); never when told so.

    `always` against a server that does not offer it is a permanent error: sending in clear
    was ruled out.
    """
    if mode == "never":
        return False
    if mode == "always" and not offered:
        raise _Permanent("server does not offer STARTTLS and starttls is 'always'")
    return offered


SmtpFactory = Callable[[str, int, float], Any]


def _smtp_factory(host: str, port: int, timeout: float) -> smtplib.SMTP:
    return smtplib.SMTP(host, port, timeout=timeout)


class EmailChannel:
    """Send over SMTP: EHLO, STARTTLS when offered/required, LOGIN only when a user is set."""

    channel = "email"

    def __init__(
        self,
        route: str,
        settings: SmtpSettings,
        to: list[str] | tuple[str, ...],
        *,
        attachment: Path | str | None = None,
        include_owner: bool = False,
        policy: RetryPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        smtp_factory: SmtpFactory = _smtp_factory,
        sleep: Sleep = time.sleep,
    ) -> None:
        if settings.starttls not in ("auto", "always", "never"):
            raise ChannelConfigError(f"route {route!r}: starttls {settings.starttls!r}")
        self.route = route
        self.settings = settings
        self.to = list(to)
        self.attachment = Path(attachment) if attachment else None
        self.include_owner = include_owner
        self.policy = policy or RetryPolicy()
        self._ssl_context = ssl_context
        self._factory = smtp_factory
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"EmailChannel(route={self.route!r}, {self.settings!r})"

    def recipients(self, alert: Alert) -> list[str]:
        out = list(self.to)
        owner = alert.details.get("owner_email")
        if self.include_owner and owner and owner not in out:
            out.append(str(owner))
        return out

    def message(self, alert: Alert) -> EmailMessage:
        attach = self.attachment
        if attach is not None and not attach.is_file():
            log.warning(
                "email route %r: attachment %s not found; sending without", self.route, attach
            )
            attach = None
        return render_email(alert, self.settings.sender, self.recipients(alert), attach)

    def send(self, alert: Alert) -> int:
        msg = self.message(alert)
        return _run_with_retries(
            "email", self.route, self.policy, self._sleep, lambda: self._deliver(msg)
        )

    def _deliver(self, msg: EmailMessage) -> None:
        s = self.settings
        try:
            smtp = self._factory(s.host, s.port, self.policy.timeout_s)
        except (OSError, smtplib.SMTPException) as exc:
            raise _Retryable(self._clean(f"connect to {s.host}:{s.port}: {exc!r}")) from None
        try:
            smtp.ehlo()
            tls = use_starttls(s.starttls, bool(smtp.has_extn("starttls")))
            if tls:
                smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                if not tls and s.starttls != "never":
                    raise _Permanent(
                        "refusing to send the SMTP password in clear: the server offers no "
                        "STARTTLS (set starttls: never to allow it)"
                    )
                smtp.login(s.user, s.password or "")
            refused = smtp.send_message(msg)
            if refused:
                log.warning("email route %r: recipients refused: %s", self.route, sorted(refused))
        except (_Permanent, _Retryable):
            raise
        except smtplib.SMTPResponseException as exc:
            why = self._clean(f"SMTP {exc.smtp_code} from {s.host}:{s.port}: {exc.smtp_error!r}")
            if 400 <= exc.smtp_code < 500:
                raise _Retryable(why) from None
            raise _Permanent(why) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise _Permanent(self._clean(f"all recipients refused: {exc.recipients}")) from None
        except (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as exc:
            raise _Permanent(self._clean(f"{type(exc).__name__}: {exc}")) from None
        except (OSError, smtplib.SMTPException) as exc:
            # disconnects, timeouts, TLS handshake failures
            raise _Retryable(self._clean(f"{type(exc).__name__}: {exc}")) from None
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def _clean(self, message: str) -> str:
        return redact(message, (self.settings.password,))


# ---------------------------------------------------------------- file


class FileChannel:
    """Append one JSON line per alert (the webhook schema); `-` writes to stdout."""

    channel = "file"

    def __init__(self, route: str, path: Path | str = DEFAULT_FILE_PATH) -> None:
        self.route = route
        self.path = path if str(path) == "-" else Path(path)

    def send(self, alert: Alert) -> int:
        line = render_file(alert) + "\n"
        try:
            if isinstance(self.path, Path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
        except OSError as exc:
            raise DeliveryError("file", self.route, 1, f"{type(exc).__name__}: {exc}") from None
        log.info(
            "alert %s [%s]%s %s",
            alert.alert_id,
            alert.severity,
            " (update)" if alert.updated else "",
            alert.summary,
        )
        return 1


# ---------------------------------------------------------------- from a route


def make_channel(
    route: Any,
    env: Mapping[str, str],
    policy: RetryPolicy | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    sleep: Sleep = time.sleep,
) -> Channel:
    """Build the channel for a `routes.Route`, reading its URL/secret/SMTP settings from `env`."""

    def need(var: str | None, what: str) -> str:
        value = env.get(var or "", "").strip()
        if not var or not value:
            raise ChannelConfigError(f"route {route.name!r}: {what} env var {var!r} is not set")
        return value

    base = policy or RetryPolicy()
    policy = RetryPolicy(
        attempts=route.attempts or base.attempts,
        base_delay_s=base.base_delay_s if route.base_delay_s is None else route.base_delay_s,
        max_delay_s=base.max_delay_s,
        max_retry_after_s=base.max_retry_after_s,
        timeout_s=route.timeout_s or base.timeout_s,
    )
    if route.channel in ("slack", "teams", "webhook"):
        url = need(route.url_env, "url")
        secret = need(route.secret_env, "secret") if route.secret_env else None
        return HttpChannel(
            route.channel, route.name, url, secret=secret, policy=policy, sleep=sleep
        )
    if route.channel == "email":
        smtp = route.smtp
        port_raw = env.get(smtp.port_env or "", "").strip()
        try:
            port = int(port_raw) if port_raw else DEFAULT_SMTP_PORT
        except ValueError:
            raise ChannelConfigError(
                f"route {route.name!r}: {smtp.port_env}={port_raw!r} is not a port number"
            ) from None
        settings = SmtpSettings(
            host=need(smtp.host_env, "SMTP host"),
            port=port,
            user=need(smtp.user_env, "SMTP user") if smtp.user_env else None,
            password=need(smtp.password_env, "SMTP password") if smtp.password_env else None,
            sender=need(smtp.from_env, "SMTP from") if smtp.from_env else smtp.sender,
            starttls=smtp.starttls,
        )
        return EmailChannel(
            route.name,
            settings,
            route.to,
            attachment=route.attachment,
            include_owner=route.include_owner,
            policy=policy,
            ssl_context=ssl_context,
            sleep=sleep,
        )
    if route.channel == "file":
        return FileChannel(route.name, route.path or DEFAULT_FILE_PATH)
    raise ChannelConfigError(f"route {route.name!r}: unknown channel {route.channel!r}")
