"""Rendering: Slack limits and escaping, the Teams envelope, the webhook schema, e-mail parts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from alerts.model import anomaly_alert, run_failure_alert, untrusted_data_alert
from alerts.render import (
    SLACK_HEADER_MAX,
    render_email,
    render_file,
    render_slack,
    render_teams,
    render_text,
    render_webhook,
    thread_id,
)

ROW = {
    "series_id": "customer:<acme & co>",
    "day": "2024-05-03",
    "expected": 100.0,
    "actual": 450.0,
    "severity": "high",
}
DRIVERS = [
    {
        "driver_kind": "component",
        "name": "component",
        "value": "volume",
        "impact_usd": 350.0,
        "share_of_change": 1.0,
    }
]
SCHEMA_FIELDS = {
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


def test_slack_escapes_and_truncates() -> None:
    alert = anomaly_alert(ROW, DRIVERS, link_base="http://d:3000")
    payload = render_slack(alert)
    section = payload["blocks"][1]["text"]["text"]
    assert "customer:&lt;acme &amp; co&gt;" in section and "<acme" not in section
    assert (
        payload["blocks"][0]["text"]["text"] == "[HIGH] Spend spike on customer:<acme & co>: +350%"
    )
    long = replace(alert, title="x" * 400)
    header = render_slack(long)["blocks"][0]["text"]["text"]
    assert len(header) == SLACK_HEADER_MAX and header.endswith("…")
    assert len(render_slack(alert)["blocks"][2]["fields"]) <= 10


def test_updates_say_so_everywhere() -> None:
    alert = replace(anomaly_alert(ROW, DRIVERS), updated=True)
    assert render_slack(alert)["text"].startswith("[HIGH] Updated: Spend spike")
    assert render_teams(alert)["attachments"][0]["content"]["body"][0]["text"].startswith(
        "[HIGH] Updated:"
    )
    assert render_webhook(alert)["updated"] is True
    msg = render_email(alert, "a@x.io", ["b@x.io"])
    assert msg["Subject"].startswith("[aispend] [HIGH] Updated:")
    assert msg["In-Reply-To"] == thread_id(alert) != msg["Message-ID"]
    assert render_email(replace(alert, updated=False), "a@x.io", ["b@x.io"])["Message-ID"] == (
        thread_id(alert)
    )


def test_webhook_and_file_carry_the_whole_schema() -> None:
    alert = anomaly_alert(ROW, DRIVERS, link_base="http://d:3000")
    sent = datetime(2024, 5, 4, 6, 0, 1, tzinfo=UTC)
    body = render_webhook(alert, sent)
    assert set(body) == SCHEMA_FIELDS
    assert body["sent_at"] == "2024-05-04T06:00:01Z" and body["occurred_on"] == "2024-05-03"
    assert body["details"]["drivers"][0]["name"] == "volume"
    line = render_file(alert, sent)
    assert "\n" not in line and json.loads(line) == json.loads(json.dumps(body))


def test_teams_card_shape() -> None:
    alert = untrusted_data_alert(
        [{"check": "freshness", "asset": "raw_openai/costs", "message": "3 days old"}],
        "run-1",
        "http://d:3000",
        on=date(2024, 5, 3),
    )
    payload = render_teams(alert)
    assert payload["type"] == "message"
    [att] = payload["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = att["content"]
    assert card["version"] == "1.4" and card["$schema"].endswith("adaptive-card.json")
    texts = [b.get("text", "") for b in card["body"]]
    assert "Failed checks" in texts and "- freshness on raw_openai/costs: 3 days old" in texts
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open in Dagster", "url": "http://d:3000/runs/run-1"}
    ]


def test_email_has_text_html_and_optional_attachment(tmp_path: Path) -> None:
    alert = run_failure_alert(
        {"run_id": "r1", "job": "daily", "step": "dbt", "error": "boom <b>x</b>\nline 2"}
    )
    msg = render_email(alert, "aispend@x.io", ["a@x.io", "b@x.io"])
    assert msg["To"] == "a@x.io, b@x.io" and msg["X-Aispend-Alert-Id"] == "run_failure:r1"
    assert msg.get_content_type() == "multipart/alternative"
    assert "Error:\n  - boom <b>x</b>" in msg.get_body(("plain",)).get_content()
    assert "boom &lt;b&gt;x&lt;/b&gt;" in msg.get_body(("html",)).get_content()

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    with_file = render_email(alert, "aispend@x.io", ["a@x.io"], pdf)
    assert with_file.get_content_type() == "multipart/mixed"
    [att] = list(with_file.iter_attachments())
    assert (att.get_filename(), att.get_content_type()) == ("report.pdf", "application/pdf")
    assert att.get_content() == b"%PDF-1.4 fake"


def test_text_body_lists_facts_and_link() -> None:
    body = render_text(anomaly_alert(ROW, DRIVERS, link_base="http://d:3000"))
    assert "Expected: $100.00\nActual: $450.00\nImpact: +$350.00 (+350%)" in body
    assert "  - volume: +$350.00, 100% of the change" in body
    assert "Open in Dagster: http://d:3000/assets/analytics/anomalies" in body
