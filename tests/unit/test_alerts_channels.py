"""Channel logic without servers: backoff schedule, Retry-After, the STARTTLS decision with a
fake SMTP, signatures, redaction, the file channel and building channels from routes."""

from __future__ import annotations

import json
import logging
import smtplib
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from alerts.channels import (
    ChannelConfigError,
    DeliveryError,
    EmailChannel,
    FileChannel,
    HttpChannel,
    RetryPolicy,
    SmtpSettings,
    make_channel,
    retry_after_seconds,
    sign,
    verify_signature,
)
from alerts.model import Alert
from alerts.redact import redact, safe_origin
from alerts.routes import parse_routes

ALERT = Alert(
    "budget:b:2024-05:actual:80",
    "budget",
    "medium",
    "t",
    "s",
    date(2024, 5, 3),
    {"owner_email": "owner@example.com"},
)
HOOK = "https://hooks.slack.com/services/T000/B000/SECRETxTOKEN"


class _Response:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}
        self.text = "nope" if status >= 300 else "ok"


class _Session:
    """Scripted `requests.Session.post`: a response or an exception per call."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls = 0

    def post(self, url: str, **kwargs: Any) -> _Response:
        self.calls += 1
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def _http(session: _Session, sleeps: list[float], **policy: Any) -> HttpChannel:
    return HttpChannel(
        "slack", "finops", HOOK, policy=RetryPolicy(**policy), session=session, sleep=sleeps.append
    )  # type: ignore[arg-type]


def test_exponential_backoff_then_delivery_error_without_the_url() -> None:
    sleeps: list[float] = []
    session = _Session(
        _Response(503), _Response(502), requests.ConnectionError(f"boom at {HOOK}"), _Response(500)
    )
    with pytest.raises(DeliveryError) as caught:
        _http(session, sleeps, attempts=4, base_delay_s=0.5, max_delay_s=1.5).send(ALERT)
    assert sleeps == [0.5, 1.0, 1.5]  # 0.5 * 2^n, capped
    assert caught.value.attempts == 4 and session.calls == 4
    assert str(caught.value) == (
        "slack route 'finops': delivery failed after 4 attempts: "
        "HTTP 500 from https://hooks.slack.com: nope"
    )
    assert "SECRET" not in repr(_http(_Session(), []))


def test_connection_error_text_is_redacted() -> None:
    session = _Session(
        requests.ConnectionError(
            "HTTPSConnectionPool(host='hooks.slack.com', port=443): Max retries exceeded with url: "
            "/services/T000/B000/SECRETxTOKEN (Caused by NameResolutionError)"
        )
    )
    with pytest.raises(DeliveryError) as caught:
        _http(session, [], attempts=1).send(ALERT)
    assert "SECRETxTOKEN" not in str(caught.value) and "/services/" not in str(caught.value)
    assert "ConnectionError to https://hooks.slack.com" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "retried"),
    [(400, False), (403, False), (404, False), (301, False), (408, True), (429, True)],
)
def test_which_statuses_are_retried(status: int, retried: bool) -> None:
    session = _Session(_Response(status), _Response(200))
    sleeps: list[float] = []
    if retried:
        assert _http(session, sleeps, attempts=2, base_delay_s=0.25).send(ALERT) == 2
        assert sleeps == [0.25]
    else:
        with pytest.raises(DeliveryError) as caught:
            _http(session, sleeps, attempts=2).send(ALERT)
        assert caught.value.attempts == 1 and sleeps == []


def test_retry_after_is_honoured_and_capped() -> None:
    sleeps: list[float] = []
    session = _Session(
        _Response(429, {"Retry-After": "7"}), _Response(503, {"Retry-After": "900"}), _Response(200)
    )
    _http(session, sleeps, attempts=3, base_delay_s=0.01, max_retry_after_s=60).send(ALERT)
    assert sleeps == [7.0, 60.0]


def test_retry_after_parsing() -> None:
    now = datetime(2024, 5, 4, 6, 0, tzinfo=UTC)
    assert retry_after_seconds("12", now) == 12.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None) is None


def test_signature_round_trip_and_rejections() -> None:
    body = json.dumps({"a": 1}).encode()
    header = sign("k", "1714802400", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature("k", 1714802400, body, header, now=1714802500)
    assert verify_signature("k", "1714802400", body.decode(), header, now=1714802500)
    assert not verify_signature("k", "1714802400", body, header, now=1714802400 + 301)
    assert verify_signature("k", "1714802400", body, header, tolerance_s=None, now=0)
    assert not verify_signature("k", "not-a-time", body, header)
    assert not verify_signature("k", "1714802400", body, None, tolerance_s=None)
    assert not verify_signature("", "1714802400", body, header, tolerance_s=None)
    assert not verify_signature("k", "1714802400", body, header.upper(), tolerance_s=None)


def test_redaction() -> None:
    assert safe_origin(HOOK) == "https://hooks.slack.com"
    assert safe_origin("https://user:pw@example.com:8443/x?y") == "https://example.com:8443"
    assert safe_origin("not a url") == "<invalid url>"
    text = f"failed {HOOK}, token=abc123 Authorization: Bearer eyJhbGciOiJI sk-ant-api03-abcdefgh"
    out = redact(text, ["hunter2"])
    assert out == (
        "failed https://hooks.slack.com, token=<redacted> Authorization: Bearer "
        "<redacted> <redacted>"
    )


class _FakeSMTP:
    """Records the conversation; `offers_tls` decides what EHLO advertises."""

    def __init__(self, offers_tls: bool, fail_login: int | None = None) -> None:
        self.offers_tls = offers_tls
        self.fail_login = fail_login
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, timeout: float) -> _FakeSMTP:
        self.calls.append(f"connect {host}:{port}")
        return self

    def ehlo(self) -> None:
        self.calls.append("ehlo")

    def has_extn(self, name: str) -> bool:
        return name == "starttls" and self.offers_tls

    def starttls(self, context: Any = None) -> None:
        self.calls.append("starttls")

    def login(self, user: str, password: str) -> None:
        if self.fail_login:
            raise smtplib.SMTPAuthenticationError(self.fail_login, b"nope")
        self.calls.append(f"login {user}")

    def send_message(self, msg: Any) -> dict:
        self.calls.append(f"send {msg['To']}")
        return {}

    def quit(self) -> None:
        self.calls.append("quit")

    def close(self) -> None:
        self.calls.append("close")


def _email(fake: _FakeSMTP, starttls: str, user: str | None = "u", **kw: Any) -> EmailChannel:
    settings = SmtpSettings("mail.test", 587, user, "pw" if user else None, "a@x.io", starttls)
    policy = RetryPolicy(attempts=2, base_delay_s=0)
    return EmailChannel(
        "mail", settings, ["ops@x.io"], smtp_factory=fake, policy=policy, sleep=lambda s: None, **kw
    )


@pytest.mark.parametrize(
    ("starttls", "offered", "user", "calls"),
    [
        ("auto", True, "u", ["ehlo", "starttls", "ehlo", "login u"]),
        ("auto", True, None, ["ehlo", "starttls", "ehlo"]),
        ("auto", False, None, ["ehlo"]),
        ("always", True, None, ["ehlo", "starttls", "ehlo"]),
        ("never", True, "u", ["ehlo", "login u"]),
        ("never", False, None, ["ehlo"]),
    ],
)
def test_starttls_decision(
    starttls: str, offered: bool, user: str | None, calls: list[str]
) -> None:
    fake = _FakeSMTP(offered)
    assert _email(fake, starttls, user).send(ALERT) == 1
    assert fake.calls == ["connect mail.test:587", *calls, "send ops@x.io", "quit"]


@pytest.mark.parametrize(
    ("starttls", "user", "message"),
    [
        ("always", None, "does not offer STARTTLS"),
        ("auto", "u", "refusing to send the SMTP password"),
    ],
)
def test_no_tls_is_a_permanent_error_when_required(
    starttls: str, user: str | None, message: str
) -> None:
    fake = _FakeSMTP(offers_tls=False)
    with pytest.raises(DeliveryError, match=message) as caught:
        _email(fake, starttls, user).send(ALERT)
    assert caught.value.attempts == 1 and not any(c.startswith("send") for c in fake.calls)


def test_smtp_4xx_is_retried_5xx_is_not_and_owner_is_added() -> None:
    with pytest.raises(DeliveryError) as caught:
        _email(_FakeSMTP(True, fail_login=454), "auto").send(ALERT)
    assert caught.value.attempts == 2 and "SMTP 454" in str(caught.value)
    with pytest.raises(DeliveryError) as caught:
        _email(_FakeSMTP(True, fail_login=535), "auto").send(ALERT)
    assert caught.value.attempts == 1
    fake = _FakeSMTP(True)
    _email(fake, "auto", include_owner=True).send(ALERT)
    assert "send ops@x.io, owner@example.com" in fake.calls


def test_file_channel_appends_json_lines_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "deep" / "alerts.jsonl"
    channel = FileChannel("log", path)
    with caplog.at_level(logging.INFO, logger="alerts.channels"):
        channel.send(ALERT)
        channel.send(ALERT)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["alert_id"] == ALERT.alert_id
    assert "alert budget:b:2024-05:actual:80 [medium] s" in caplog.text


def test_make_channel_reads_env_and_route_overrides() -> None:
    routes = parse_routes(
        [
            {
                "name": "hook",
                "channel": "webhook",
                "url_env": "U",
                "secret_env": "S",
                "attempts": 7,
                "base_delay_s": 0,
                "timeout_s": 2,
            },
            {
                "name": "mail",
                "channel": "email",
                "to": ["a@b.c"],
                "smtp": {"host_env": "H", "port_env": "P", "from": "x@y.z"},
            },
        ]
    )
    hook = make_channel(routes[0], {"U": "https://h.example/x", "S": "k"}, RetryPolicy(attempts=3))
    assert isinstance(hook, HttpChannel)
    assert (hook.policy.attempts, hook.policy.base_delay_s, hook.policy.timeout_s) == (7, 0, 2)
    with pytest.raises(ChannelConfigError, match="secret env var 'S' is not set"):
        make_channel(routes[0], {"U": "https://h.example/x"})
    mail = make_channel(routes[1], {"H": "smtp.example", "P": "2525"})
    assert isinstance(mail, EmailChannel) and mail.settings.port == 2525
    with pytest.raises(ChannelConfigError, match="P='x' is not a port number"):
        make_channel(routes[1], {"H": "smtp.example", "P": "x"})
    with pytest.raises(ChannelConfigError, match="must be http"):
        make_channel(routes[0], {"U": "ftp://h.example/x", "S": "k"})
