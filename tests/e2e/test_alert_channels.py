"""Alert channels against real local receivers: an HTTP server (as Slack, Teams and a signed
webhook) and an SMTP server (aiosmtpd, plain and STARTTLS with a throwaway certificate)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from alerts.channels import DeliveryError, HttpChannel, RetryPolicy, verify_signature
from alerts.model import Alert, anomaly_alert, budget_alert
from alerts.routes import Route, parse_routes
from alerts.state import AlertState, dispatch
from tests.support.receivers import SECRET_PATH, Receiver

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05, timeout_s=5)
NOW = datetime(2024, 5, 4, 6, 0, tzinfo=UTC)


# ---------------------------------------------------------------- receivers


def _anomaly(actual: float = 4123.0) -> Alert:
    return anomaly_alert(
        {
            "series_id": "provider:openai",
            "day": "2024-05-03",
            "episode_start": "2024-05-03",
            "expected": 1000.0,
            "actual": actual,
            "impact_usd": actual - 1000.0,
            "impact_pct": (actual - 1000.0) / 1000.0,
            "severity": "critical",
            "direction": "spike",
        },
        [
            {
                "driver_kind": "component",
                "name": "component",
                "value": "volume",
                "impact_usd": 2900.0,
                "share_of_change": 0.93,
            },
            {
                "driver_kind": "dimension",
                "name": "model",
                "value": "gpt-4o",
                "impact_usd": 3000.0,
                "share_of_change": 0.96,
            },
        ],
        {
            "month": "2024-05-01",
            "projected": 52000.0,
            "projected_lower_80": 48000.0,
            "projected_upper_80": 57000.0,
            "method": "prophet",
        },
        None,
        "http://dagster.test:3000",
    )


def _routes(*raw: dict[str, Any]) -> list[Route]:
    return parse_routes({"routes": list(raw)}, "test_routes.yaml")


# ---------------------------------------------------------------- HTTP channels


def test_slack_teams_and_signed_webhook_over_http(receiver: Receiver, tmp_path: Path) -> None:
    routes = _routes(
        {"name": "slack", "channel": "slack", "url_env": "SLACK_URL"},
        {"name": "teams", "channel": "teams", "url_env": "TEAMS_URL"},
        {"name": "hook", "channel": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
    )
    env = {
        "SLACK_URL": receiver.url("/slack" + SECRET_PATH),
        "TEAMS_URL": receiver.url("/teams/webhookb2/abc"),
        "HOOK_URL": receiver.url("/hook"),
        "HOOK_SECRET": "s3cr3t",
    }
    alert = _anomaly()
    report = dispatch([alert], routes, AlertState(tmp_path / "s.sqlite"), NOW, env=env, policy=FAST)
    assert report.ok and report.sent == [alert.alert_id]
    by_path = {r.path.split("/")[1]: r for r in receiver.requests}
    assert set(by_path) == {"slack", "teams", "hook"}

    slack = by_path["slack"].json()
    assert slack["text"].startswith("[CRITICAL] Spend spike on provider:openai")
    types = [b["type"] for b in slack["blocks"]]
    assert types == ["header", "section", "section", "section", "context"]
    assert slack["blocks"][0]["text"]["type"] == "plain_text"
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in slack["blocks"][2]["fields"]
    }
    assert fields["*Expected*"] == "$1,000.00"
    assert fields["*Actual*"] == "$4,123.00"
    assert fields["*Impact*"] == "+$3,123.00 (+312%)"
    drivers = slack["blocks"][3]["text"]["text"]
    assert drivers.startswith("*Drivers*\n• volume: +$2,900.00")
    assert "• model=gpt-4o: +$3,000.00" in drivers
    context = slack["blocks"][4]["elements"][0]["text"]
    assert "<http://dagster.test:3000/assets/analytics/anomalies|Open in Dagster>" in context

    teams = by_path["teams"].json()
    assert teams["type"] == "message"
    attachment = teams["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    factset = next(b for b in card["body"] if b["type"] == "FactSet")
    assert {"title": "Impact", "value": "+$3,123.00 (+312%)"} in factset["facts"]
    assert card["actions"][0]["url"] == "http://dagster.test:3000/assets/analytics/anomalies"

    hook = by_path["hook"]
    body = hook.json()
    assert body["schema_version"] == 1
    assert set(body) == {
        "schema_version",
        "source",
        "alert_id",
        "kind",
        "severity",
        "title",
        "summary",
        "occurred_on",
        "updated",
        "data_trusted",
        "link",
        "payload_hash",
        "sent_at",
        "details",
    }
    assert body["alert_id"] == "anomaly:provider:openai:2024-05-03"
    assert body["details"]["impact_usd"] == 3123.0
    assert body["details"]["forecast"]["upper_80"] == 57000.0
    assert body["payload_hash"] == alert.payload_hash()
    ts, sig = hook.headers["X-Aispend-Timestamp"], hook.headers["X-Aispend-Signature"]
    assert sig.startswith("sha256=")
    assert verify_signature("s3cr3t", ts, hook.body, sig)
    assert not verify_signature("wrong", ts, hook.body, sig)
    assert not verify_signature("s3cr3t", ts, hook.body + b" ", sig)
    assert not verify_signature("s3cr3t", str(int(ts) - 3600), hook.body, sig)
    # Slack and Teams are not signed (they would ignore it)
    assert "X-Aispend-Signature" not in by_path["slack"].headers


def test_two_500s_then_delivered_on_attempt_3(receiver: Receiver) -> None:
    receiver.script = [(500, {}), (500, {})]
    channel = HttpChannel("webhook", "hook", receiver.url(), policy=FAST)
    assert channel.send(_anomaly()) == 3
    assert len(receiver.requests) == 3
    assert all(r.body == receiver.requests[0].body for r in receiver.requests)


def test_always_500_fails_reports_and_later_retries_only_that_route(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.default = 500
    url = receiver.url()
    channel = HttpChannel("slack", "slack", url, policy=FAST)
    with pytest.raises(DeliveryError) as caught:
        channel.send(_anomaly())
    err = caught.value
    assert (err.channel, err.route, err.attempts) == ("slack", "slack", 3)
    assert f"http://127.0.0.1:{receiver.port}" in str(err)
    assert "HTTP 500" in str(err)
    assert "XXXXsecretTOKENxxxx" not in str(err) and "/services/" not in str(err)
    assert len(receiver.requests) == 3

    receiver.requests.clear()
    routes = _routes(
        {"name": "slack", "channel": "slack", "url_env": "SLACK_URL"},
        {"name": "log", "channel": "file", "path": str(tmp_path / "alerts.jsonl")},
    )
    state = AlertState(tmp_path / "state.sqlite")
    alert = _anomaly()
    report = dispatch([alert], routes, state, NOW, env={"SLACK_URL": url}, policy=FAST)
    assert not report.ok
    [failure] = report.failures
    assert (failure.route, failure.attempts) == ("slack", 3)
    assert "XXXXsecretTOKENxxxx" not in (failure.error or "")
    assert "XXXXsecretTOKENxxxx" not in report.summary()
    row = state.get(alert.alert_id)
    assert row is not None
    assert (row.channels_ok, row.channels_failed) == (("log",), ("slack",))
    assert row.last_error and "HTTP 500" in row.last_error and "secret" not in row.last_error
    assert len(receiver.requests) == 3

    receiver.default = 200
    again = dispatch([alert], routes, state, NOW, env={"SLACK_URL": url}, policy=FAST)
    assert again.ok and [d.route for d in again.deliveries] == ["slack"]
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1  # file not re-sent
    row = state.get(alert.alert_id)
    assert row is not None
    assert (row.channels_ok, row.channels_failed, row.last_error) == (("log", "slack"), (), None)
    assert dispatch([alert], routes, state, NOW, env={"SLACK_URL": url}).deliveries == []


def test_429_retry_after_is_honoured(receiver: Receiver) -> None:
    receiver.script = [(429, {"Retry-After": "1"})]
    channel = HttpChannel("teams", "teams", receiver.url(), policy=FAST)  # backoff 10 ms
    assert channel.send(_anomaly()) == 2
    first, second = receiver.requests
    assert second.at - first.at >= 0.95


def test_4xx_is_not_retried_and_unreachable_host_is_redacted(receiver: Receiver) -> None:
    receiver.script = [(404, {})]
    channel = HttpChannel("slack", "slack", receiver.url(), policy=FAST)
    with pytest.raises(DeliveryError) as caught:
        channel.send(_anomaly())
    assert caught.value.attempts == 1 and "HTTP 404" in str(caught.value)
    assert len(receiver.requests) == 1

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = HttpChannel("slack", "slack", f"http://127.0.0.1:{port}{SECRET_PATH}", policy=FAST)
    with pytest.raises(DeliveryError) as caught:
        dead.send(_anomaly())
    assert caught.value.attempts == 3
    assert "ConnectionError" in str(caught.value)
    assert "XXXXsecretTOKENxxxx" not in str(caught.value) and "/services/" not in str(caught.value)


# ---------------------------------------------------------------- SMTP


def _aiosmtpd(name: str) -> Any:
    """aiosmtpd is a dev dependency: without it only the SMTP tests skip."""
    return pytest.importorskip(f"aiosmtpd.{name}")


class _Inbox:
    """aiosmtpd handler: keep each message and whether it came over TLS, by whom."""

    def __init__(self) -> None:
        self.messages: list[tuple[EmailMessage, list[str], bool, str | None]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.messages.append((msg, list(envelope.rcpt_tos), session.ssl is not None, login))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
    ok = auth.login == b"alerts" and auth.password == b"pa55word"
    return _aiosmtpd("smtp").AuthResult(success=ok, handled=False, auth_data=auth)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _smtp_server(inbox: _Inbox, **kwargs: Any) -> Any:
    controller = _aiosmtpd("controller").Controller(
        inbox, hostname="127.0.0.1", port=_free_port(), authenticator=_authenticator, **kwargs
    )
    controller.start()
    return controller


def _email_route(starttls: str, attachment: Path | None) -> list[Route]:
    route: dict[str, Any] = {
        "name": "mail",
        "channel": "email",
        "to": ["finops@example.com"],
        "include_owner": True,
        "smtp": {
            "host_env": "SMTP_HOST",
            "port_env": "SMTP_PORT",
            "user_env": "SMTP_USER",
            "password_env": "SMTP_PASSWORD",
            "from": "aispend@example.com",
            "starttls": starttls,
        },
    }
    if attachment:
        route["attachment"] = str(attachment)
    return _routes(route)


def _budget() -> Alert:
    return budget_alert(
        {
            "budget_id": "org-monthly",
            "month": date(2024, 5, 1),
            "threshold_pct": 100.0,
            "basis": "actual",
            "crossed_on": date(2024, 5, 20),
            "threshold_amount": 50000.0,
            "budget_amount_reporting": 50000.0,
            "scope": "org",
            "scope_value": "all",
            "owner_email": "owner@example.com",
        },
        {"budget_name": "Org", "actual_mtd": 51234.5, "pct_used": 102.469, "days_observed": 20},
        "http://dagster.test:3000",
    )


def test_email_over_plain_smtp_with_attachment(tmp_path: Path) -> None:
    report_file = tmp_path / "daily.html"
    report_file.write_text("<html><body>daily report</body></html>")
    inbox = _Inbox()
    server = _smtp_server(inbox, auth_require_tls=False)
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(server.port),
        "SMTP_USER": "alerts",
        "SMTP_PASSWORD": "pa55word",
    }
    try:
        report = dispatch(
            [_budget()],
            _email_route("never", report_file),
            AlertState(tmp_path / "s.sqlite"),
            NOW,
            env=env,
            policy=FAST,
        )
    finally:
        server.stop()
    assert report.ok, report.summary()
    [(msg, rcpt, tls, login)] = inbox.messages
    assert (tls, login) == (False, "alerts")
    assert rcpt == ["finops@example.com", "owner@example.com"]
    assert msg["Subject"] == "[aispend] [CRITICAL] Budget Org: 100% reached in May 2024"
    assert msg["X-Aispend-Alert-Id"] == "budget:org-monthly:2024-05:actual:100"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "org crossed 100% ($50,000.00) of its $50,000.00 May 2024 budget on 2024-05-20" in text
    assert "Month to date $51,234.50 of $50,000.00 (102%)" in text
    assert "<table" in html and "$51,234.50" in html
    assert 'href="http://dagster.test:3000/assets/analytics/budget_status"' in html
    [attached] = list(msg.iter_attachments())
    assert attached.get_filename() == "daily.html"
    assert attached.get_content_type() == "text/html"
    assert "daily report" in attached.get_content()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_email_over_starttls_with_login(tmp_path: Path) -> None:
    key, cert = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))  # verifies the chain and the IP
    inbox = _Inbox()
    server = _smtp_server(inbox, tls_context=server_ctx, require_starttls=True)
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(server.port),
        "SMTP_USER": "alerts",
        "SMTP_PASSWORD": "pa55word",
    }
    try:
        ok = dispatch(
            [_budget()],
            _email_route("auto", None),
            AlertState(tmp_path / "s.sqlite"),
            NOW,
            env=env,
            policy=FAST,
            ssl_context=client_ctx,
        )
        env["SMTP_PASSWORD"] = "wrong"
        bad = dispatch(
            [_anomaly()],
            _email_route("always", None),
            AlertState(tmp_path / "s2.sqlite"),
            NOW,
            env=env,
            policy=FAST,
            ssl_context=client_ctx,
        )
    finally:
        server.stop()
    assert ok.ok, ok.summary()
    [(msg, _, tls, login)] = inbox.messages
    assert (tls, login) == (True, "alerts")
    assert msg["Subject"].startswith("[aispend] [CRITICAL] Budget Org")
    [failure] = bad.failures  # 535 is permanent: one attempt, and no password in the error
    assert failure.attempts == 1 and "535" in (failure.error or "")
    assert "wrong" not in (failure.error or "")
