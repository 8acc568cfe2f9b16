"""One `Alert`, rendered for each channel from the same facts, so every channel says the same.

`facts()` (label/value pairs) and `notes()` (a heading and bullet lines: drivers, failed
checks, the error) feed Slack fields, the Teams FactSet, the e-mail table and the text body.
The generic webhook/file payload is the documented, versioned schema in alerts/README.md.
"""

from __future__ import annotations

import html
import json
import mimetypes
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from hashlib import sha256
from pathlib import Path
from typing import Any

from alerts.model import Alert, fmt_interval, fmt_money, fmt_pct

SCHEMA_VERSION = 1
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELD_MAX = 2000
SLACK_FIELDS_MAX = 10
MAX_BULLETS = 8
TEAMS_COLOR = {"low": "Default", "medium": "Warning", "high": "Attention", "critical": "Attention"}


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _first_line(value: Any) -> str:
    lines = str(value or "").strip().splitlines()
    return lines[0] if lines else ""


def _pct_g(value: Any) -> str:
    return f"{value:g}%" if isinstance(value, int | float) else "n/a"


def headline(alert: Alert) -> str:
    """`[HIGH] title`, `[HIGH] Updated: title` for an update."""
    update = "Updated: " if alert.updated else ""
    return f"[{alert.severity.upper()}] {update}{alert.title}"


def facts(alert: Alert) -> list[tuple[str, str]]:
    """The label/value pairs every channel shows, by kind."""
    d = alert.details
    out: list[tuple[str, str]] = []
    if alert.kind == "anomaly":
        out += [
            ("Expected", fmt_money(d.get("expected"))),
            ("Actual", fmt_money(d.get("actual"))),
            (
                "Impact",
                f"{fmt_money(d.get('impact_usd'), signed=True)} ({fmt_pct(d.get('impact_pct'))})",
            ),
            ("Series", str(d.get("series_id"))),
            ("Day", str(d.get("day"))),
        ]
        if d.get("episode_start") and d.get("episode_start") != d.get("day"):
            out.append(("Episode since", str(d["episode_start"])))
        fc = d.get("forecast")
        if fc:
            band = fmt_interval(fc.get("lower_80"), fc.get("upper_80"))
            out.append(
                (
                    "Month-end forecast",
                    fmt_money(fc.get("projected")) + (f" (80%: {band})" if band else ""),
                )
            )
        bd = d.get("budget")
        if bd and bd.get("amount") is not None:
            cur = bd.get("currency") or "USD"
            used = fmt_pct((bd.get("pct_used") or 0) / 100, signed=False)
            out.append(
                (
                    f"Budget {bd.get('name') or bd.get('budget_id')}",
                    f"{fmt_money(bd.get('actual_mtd'), cur)} of {fmt_money(bd['amount'], cur)}"
                    f" ({used})",
                )
            )
    elif alert.kind == "budget":
        cur = d.get("currency") or "USD"
        st = d.get("status") or {}
        out += [
            (
                "Threshold",
                f"{_pct_g(d.get('threshold_pct'))} ({fmt_money(d.get('threshold_amount'), cur)})",
            ),
            ("Basis", str(d.get("basis"))),
            ("Budget", f"{fmt_money(d.get('budget_amount'), cur)} ({d.get('month')})"),
        ]
        if st.get("actual_mtd") is not None:
            used = fmt_pct((st.get("pct_used") or 0) / 100, signed=False)
            out.append(("Month to date", f"{fmt_money(st['actual_mtd'], cur)} ({used})"))
        if st.get("forecast_month_end") is not None:
            band = fmt_interval(st.get("forecast_lower_80"), st.get("forecast_upper_80"), cur)
            out.append(
                (
                    "Month-end forecast",
                    fmt_money(st["forecast_month_end"], cur) + (f" (80%: {band})" if band else ""),
                )
            )
        if d.get("crossed_on"):
            out.append(("Crossed on", str(d["crossed_on"])))
        if st.get("projected_crossing_on"):
            out.append(("Projected crossing", str(st["projected_crossing_on"])))
        if st.get("forecast_crosses_budget_on"):
            out.append(("Forecast crosses 100% on", str(st["forecast_crosses_budget_on"])))
        if d.get("owner_email"):
            out.append(("Owner", str(d["owner_email"])))
    elif alert.kind == "data_quality" and "failed_checks" in d:
        out.append(("Failed checks", str(len(d["failed_checks"]))))
        out.append(("Day", str(d.get("day"))))
        if d.get("run_id"):
            out.append(("Run", str(d["run_id"])))
    elif alert.kind == "data_quality":
        out += [("Asset", str(d.get("asset"))), ("Check", str(d.get("check")))]
        out.append(("Day", str(d.get("day"))))
    elif alert.kind == "run_failure":
        out += [("Job", str(d.get("job"))), ("Run", str(d.get("run_id")))]
        if d.get("step"):
            out.append(("Step", str(d["step"])))
    out.append(("Severity", alert.severity))
    return out


def notes(alert: Alert) -> tuple[str, list[str]] | None:
    """A heading and bullet lines: drivers, failed checks, or the run's error."""
    d = alert.details
    if alert.kind == "anomaly" and d.get("drivers"):
        lines = []
        for drv in d["drivers"][:MAX_BULLETS]:
            share = (
                f", {fmt_pct(drv['share'], signed=False)} of the change"
                if drv.get("share") is not None
                else ""
            )
            impact = fmt_money(drv.get("impact_usd"), signed=True)
            lines.append(f"{drv.get('name', '?')}: {impact}{share}")
        return "Drivers", lines
    if d.get("failed_checks"):
        return "Failed checks", [
            f"{c.get('check')} on {c.get('asset')}: {_first_line(c.get('message'))}"
            for c in d["failed_checks"][:MAX_BULLETS]
        ]
    if alert.kind == "run_failure" and d.get("error"):
        return "Error", [
            line for line in str(d["error"]).splitlines()[:MAX_BULLETS] if line.strip()
        ]
    return None


def render_text(alert: Alert) -> str:
    """The plain-text body: headline, summary, facts, bullets, link."""
    lines = [headline(alert), "", alert.summary, ""]
    lines += [f"{label}: {value}" for label, value in facts(alert)]
    extra = notes(alert)
    if extra:
        lines += ["", f"{extra[0]}:"] + [f"  - {line}" for line in extra[1]]
    if alert.link:
        lines += ["", f"Open in Dagster: {alert.link}"]
    lines += ["", f"alert id: {alert.alert_id}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Slack


def _mrkdwn(value: str) -> str:
    """Slack's three escapes; anything else is literal."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_slack(alert: Alert) -> dict[str, Any]:
    """Incoming-webhook Block Kit payload; `text` is the notification/fallback line."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(headline(alert), SLACK_HEADER_MAX)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(_mrkdwn(alert.summary), SLACK_TEXT_MAX)},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{_mrkdwn(k)}*\n{_mrkdwn(v)}", SLACK_FIELD_MAX)}
                for k, v in facts(alert)[:SLACK_FIELDS_MAX]
            ],
        },
    ]
    extra = notes(alert)
    if extra:
        body = f"*{extra[0]}*\n" + "\n".join(f"• {_mrkdwn(line)}" for line in extra[1])
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, SLACK_TEXT_MAX)}}
        )
    context = f"{alert.kind} · {_mrkdwn(alert.alert_id)} · {alert.occurred_on.isoformat()}"
    if alert.link:
        context = f"<{alert.link}|Open in Dagster> · {context}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": _cut(f"{headline(alert)}: {alert.summary}", SLACK_TEXT_MAX), "blocks": blocks}


# ---------------------------------------------------------------- Teams


def render_teams(alert: Alert) -> dict[str, Any]:
    """Adaptive Card 1.4 in the `message` envelope Teams incoming webhooks/workflows accept."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": headline(alert),
            "size": "Large",
            "weight": "Bolder",
            "color": TEAMS_COLOR[alert.severity],
            "wrap": True,
        },
        {"type": "TextBlock", "text": alert.summary, "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(alert)]},
    ]
    extra = notes(alert)
    if extra:
        body.append({"type": "TextBlock", "text": extra[0], "weight": "Bolder", "wrap": True})
        body.append(
            {"type": "TextBlock", "text": "\n".join(f"- {line}" for line in extra[1]), "wrap": True}
        )
    body.append(
        {
            "type": "TextBlock",
            "text": f"{alert.alert_id} · {alert.occurred_on.isoformat()}",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if alert.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in Dagster", "url": alert.link}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


# ---------------------------------------------------------------- generic webhook / file


def render_webhook(alert: Alert, sent_at: datetime | None = None) -> dict[str, Any]:
    """The documented generic payload (alerts/README.md), `schema_version` 1."""
    sent = (sent_at or datetime.now(UTC)).astimezone(UTC)
    return {
        "schema_version": SCHEMA_VERSION,
        "source": "aispend",
        "alert_id": alert.alert_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "title": alert.title,
        "summary": alert.summary,
        "occurred_on": alert.occurred_on.isoformat(),
        "updated": alert.updated,
        "data_trusted": alert.data_trusted,
        "link": alert.link,
        "payload_hash": alert.payload_hash(),
        "sent_at": sent.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "details": dict(alert.details),
    }


def render_file(alert: Alert, sent_at: datetime | None = None) -> str:
    """One JSON line (no trailing newline) with the webhook schema."""
    return json.dumps(
        render_webhook(alert, sent_at), ensure_ascii=False, sort_keys=True, default=str
    )


# ---------------------------------------------------------------- e-mail


def thread_id(alert: Alert) -> str:
    """A Message-ID shared by an alert and its updates, so mail clients thread them."""
    return f"<{sha256(alert.alert_id.encode()).hexdigest()[:32]}@alerts.aispend>"


def render_html(alert: Alert) -> str:
    """A small, inline-styled HTML body (mail clients drop <style> blocks)."""
    e = html.escape
    color = {"low": "#555", "medium": "#b26b00", "high": "#c0392b", "critical": "#8e0000"}
    rows = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0;color:#555">{e(k)}</th>'
        f'<td style="padding:2px 0">{e(v)}</td></tr>'
        for k, v in facts(alert)
    )
    parts = [
        '<!doctype html><html><body style="font-family:Arial,Helvetica,sans-serif;font-size:14px">',
        f'<h2 style="color:{color[alert.severity]};margin:0 0 8px">{e(headline(alert))}</h2>',
        f"<p>{e(alert.summary)}</p>",
        f'<table style="border-collapse:collapse">{rows}</table>',
    ]
    extra = notes(alert)
    if extra:
        items = "".join(f"<li>{e(line)}</li>" for line in extra[1])
        parts.append(f'<h3 style="margin:12px 0 4px">{e(extra[0])}</h3><ul>{items}</ul>')
    if alert.link:
        parts.append(f'<p><a href="{e(alert.link, quote=True)}">Open in Dagster</a></p>')
    parts.append(f'<p style="color:#888;font-size:12px">alert id: {e(alert.alert_id)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def render_email(
    alert: Alert,
    sender: str,
    to: Sequence[str],
    attachment: Path | str | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """multipart/alternative (text + HTML), plus the attachment (e.g. the daily HTML report)."""
    msg = EmailMessage()
    msg["Subject"] = f"[aispend] {headline(alert)}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    root = thread_id(alert)
    if alert.updated:
        msg["Message-ID"] = make_msgid(domain="alerts.aispend")
        msg["In-Reply-To"] = root
        msg["References"] = root
    else:
        msg["Message-ID"] = root
    msg["X-Aispend-Alert-Id"] = alert.alert_id
    msg.set_content(render_text(alert))
    msg.add_alternative(render_html(alert), subtype="html")
    if attachment is not None:
        path = Path(attachment)
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return msg
