"""dlt source for the Cursor Admin API: per-request usage events, daily usage, team members.

Cursor authenticates with HTTP Basic (the key as username, an empty password), takes POST bodies
with epoch-millisecond bounds (both inclusive, at most 30 days per call) and pages with a 1-based
`page` in the body. Event cost is `chargedCents` (float cents). Everything lands in `raw_cursor`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import HttpBasicAuth
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator, SinglePagePaginator

from ingestion._arrow import ArrowBatcher
from ingestion._common import DAY_SECONDS, DayWindow, SourceDataError, natural_key, to_decimal

SOURCE = "cursor"
DEFAULT_BASE_URL = "https://api.cursor.com"
MAX_RANGE_DAYS = 30
EPOCH = date(1970, 1, 1)
EVENTS_PAGE_SIZE = 1000


def _money() -> dict[str, Any]:
    return {"data_type": "decimal", "precision": 38, "scale": 12}


# API field -> raw column (dlt would snake_case them anyway; explicit names keep staging stable)
EVENT_FIELDS = {
    "userEmail": "user_email",
    "conversationId": "conversation_id",
    "serviceAccountId": "service_account_id",
    "serviceAccountName": "service_account_name",
    "cloudAgentId": "cloud_agent_id",
    "automationId": "automation_id",
    "model": "model",
    "kind": "kind",
    "maxMode": "max_mode",
    "requestsCosts": "requests_costs",
    "isTokenBasedCall": "is_token_based_call",
    "isChargeable": "is_chargeable",
    "isHeadless": "is_headless",
}
TOKEN_FIELDS = {
    "inputTokens": "token_input_tokens",
    "outputTokens": "token_output_tokens",
    "cacheWriteTokens": "token_cache_write_tokens",
    "cacheReadTokens": "token_cache_read_tokens",
}
EVENT_COLUMNS: dict[str, Any] = {
    "_row_key": {"data_type": "text", "nullable": False},
    "day_start": {"data_type": "bigint", "nullable": False},
    "usage_date": {"data_type": "text", "nullable": False},
    "timestamp": {"data_type": "text", "nullable": False},
    "timestamp_ms": {"data_type": "bigint", "nullable": False},
    "occurrence": {"data_type": "bigint"},
    **{
        c: {"data_type": "text"}
        for c in (
            "user_email",
            "conversation_id",
            "service_account_id",
            "service_account_name",
            "cloud_agent_id",
            "automation_id",
            "model",
            "kind",
        )
    },
    **{
        c: {"data_type": "bool"}
        for c in (
            "max_mode",
            "is_token_based_call",
            "is_chargeable",
            "is_headless",
        )
    },
    "requests_costs": {"data_type": "double"},
    **{c: {"data_type": "bigint"} for c in TOKEN_FIELDS.values()},
    "token_total_cents": _money(),
    "token_discount_percent_off": {"data_type": "double"},
    "charged_cents": _money(),
    "charged_cents_raw": {"data_type": "text"},
    "cursor_token_fee_cents": _money(),
}
DAILY_INT_FIELDS = (
    "totalLinesAdded",
    "totalLinesDeleted",
    "acceptedLinesAdded",
    "acceptedLinesDeleted",
    "totalApplies",
    "totalAccepts",
    "totalRejects",
    "totalTabsShown",
    "totalTabsAccepted",
    "composerRequests",
    "chatRequests",
    "agentRequests",
    "cmdkUsages",
    "subscriptionIncludedReqs",
    "apiKeyReqs",
    "usageBasedReqs",
    "bugbotUsages",
)
DAILY_TEXT_FIELDS = (
    "mostUsedModel",
    "applyMostUsedExtension",
    "tabMostUsedExtension",
    "clientVersion",
)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


DAILY_COLUMNS: dict[str, Any] = {
    "_row_key": {"data_type": "text", "nullable": False},
    "day_start": {"data_type": "bigint", "nullable": False},
    "day": {"data_type": "text", "nullable": False},
    "email": {"data_type": "text"},
    "user_id": {"data_type": "bigint"},
    "is_active": {"data_type": "bool"},
    **{_snake(f): {"data_type": "bigint"} for f in DAILY_INT_FIELDS},
    **{_snake(f): {"data_type": "text"} for f in DAILY_TEXT_FIELDS},
}
MEMBER_COLUMNS: dict[str, Any] = {
    "_row_key": {"data_type": "text", "nullable": False},
    **{c: {"data_type": "text"} for c in ("id", "name", "email", "role")},
    "is_removed": {"data_type": "bool"},
}


def ms_chunks(start_unix: int, end_unix: int) -> Iterator[tuple[int, int]]:
    """Inclusive millisecond bounds of whole UTC days, at most 30 days per chunk."""
    t = start_unix
    while t < end_unix:
        nxt = min(t + MAX_RANGE_DAYS * DAY_SECONDS, end_unix)
        yield t * 1000, nxt * 1000 - 1  # ...T23:59:59.999Z
        t = nxt


def events_paginator() -> PageNumberPaginator:
    """1-based `page` in the JSON body; stop on `pagination.hasNextPage == false`."""
    return PageNumberPaginator(
        base_page=1,
        page=1,
        page_body_path="page",
        total_path=None,
        has_more_path="pagination.hasNextPage",
        stop_after_empty_page=True,
    )


def _day_start(ms: int) -> int:
    sec = ms // 1000
    return sec - sec % DAY_SECONDS


def event_row(event: dict[str, Any], occurrences: dict[str, int]) -> dict[str, Any]:
    """One raw row per event; the key hashes the natural key plus an occurrence index."""
    raw_ts = event.get("timestamp")
    try:
        ts = int(str(raw_ts))
    except ValueError as exc:
        raise SourceDataError(f"cursor usage_events: 'timestamp' {raw_ts!r} is not ms") from exc
    src = "cursor usage_events"
    usage = event.get("tokenUsage") or {}
    day_start = _day_start(ts)
    row: dict[str, Any] = {
        "timestamp": str(raw_ts),
        "timestamp_ms": ts,
        "day_start": day_start,
        "usage_date": (EPOCH + timedelta(days=day_start // DAY_SECONDS)).isoformat(),
        **{col: event.get(field) for field, col in EVENT_FIELDS.items()},
        **{col: usage.get(field) for field, col in TOKEN_FIELDS.items()},
        "token_total_cents": to_decimal(usage.get("totalCents"), source=src, field="totalCents"),
        "token_discount_percent_off": usage.get("discountPercentOff"),
        "charged_cents": to_decimal(event.get("chargedCents"), source=src, field="chargedCents"),
        "charged_cents_raw": None
        if event.get("chargedCents") is None
        else str(event.get("chargedCents")),
        "cursor_token_fee_cents": to_decimal(
            event.get("cursorTokenFee"), source=src, field="cursorTokenFee"
        ),
    }
    nat = natural_key(
        row["timestamp"],
        row["user_email"],
        row["model"],
        row["conversation_id"],
        row["charged_cents_raw"],
    )
    occurrences[nat] = occurrences.get(nat, 0) + 1
    row["occurrence"] = occurrences[nat]
    row["_row_key"] = natural_key(nat, row["occurrence"])
    return row


# new fields and columns are welcome; a column changing type fails the load (see ingestion.openai)
SCHEMA_CONTRACT: dict[str, Any] = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}


@dlt.source(name="cursor", max_table_nesting=0, schema_contract=SCHEMA_CONTRACT)
def cursor_source(
    api_key: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    start_date: date | None = None,
    end_date: date | None = None,
    lookback_days: int = 3,
    backfill: bool = False,
) -> list[DltResource]:
    """Cursor team usage for UTC days in [start_date, end_date).

    Args:
        api_key: a Cursor Admin API key, sent as the Basic-auth username (empty password).
        base_url: API root (`https://api.cursor.com`).
        start_date, end_date: the window; end exclusive.
        lookback_days: days re-read before the cursor on every run (usage is aggregated late).
        backfill: read the whole window regardless of the stored cursor.
    """
    if start_date is None or end_date is None:
        raise ValueError("cursor source: start_date and end_date are required")
    window = DayWindow(start_date, end_date, lookback_days, backfill)
    client = RESTClient(base_url=base_url.rstrip("/"), auth=HttpBasicAuth(api_key, ""))

    @dlt.resource(
        name="usage_events",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="day_start",
        columns=EVENT_COLUMNS,
    )
    def usage_events(
        updated: dlt.sources.incremental[int] = window.cursor("day_start"),
    ) -> Iterator[Any]:
        """One row per usage event; a re-read UTC day replaces the stored day."""
        span = window.request_bounds(updated)
        if span is None:
            return
        occurrences: dict[str, int] = {}

        def rows() -> Iterator[dict[str, Any]]:
            for start_ms, end_ms in ms_chunks(*span):
                body = {"startDate": start_ms, "endDate": end_ms, "pageSize": EVENTS_PAGE_SIZE}
                pages = client.paginate(
                    "/teams/filtered-usage-events",
                    method="POST",
                    json=body,
                    paginator=events_paginator(),
                    data_selector="usageEvents",
                )
                for page in pages:
                    for event in page:
                        yield event_row(event, occurrences)

        batcher = ArrowBatcher(
            EVENT_COLUMNS, source="cursor POST /teams/filtered-usage-events", table="usage_events"
        )
        yield from batcher.batches(rows())

    @dlt.resource(
        name="daily_usage",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="day_start",
        columns=DAILY_COLUMNS,
    )
    def daily_usage(
        updated: dlt.sources.incremental[int] = window.cursor("day_start"),
    ) -> Iterator[Any]:
        """Per member and UTC day: lines, accepts, tabs, request counts (active members)."""
        span = window.request_bounds(updated)
        if span is None:
            return

        def rows() -> Iterator[dict[str, Any]]:
            for start_ms, end_ms in ms_chunks(*span):
                pages = client.paginate(
                    "/teams/daily-usage-data",
                    method="POST",
                    json={"startDate": start_ms, "endDate": end_ms},
                    paginator=SinglePagePaginator(),
                    data_selector="data",
                )
                for page in pages:
                    for rec in page:
                        day_start = _day_start(int(rec["date"]))
                        row = {
                            "day_start": day_start,
                            "day": rec.get("day"),
                            "email": rec.get("email"),
                            "user_id": rec.get("userId"),
                            "is_active": rec.get("isActive"),
                            **{_snake(f): rec.get(f) for f in DAILY_INT_FIELDS},
                            **{_snake(f): rec.get(f) for f in DAILY_TEXT_FIELDS},
                        }
                        row["_row_key"] = natural_key(
                            day_start, rec.get("email"), rec.get("userId")
                        )
                        yield row

        batcher = ArrowBatcher(
            DAILY_COLUMNS, source="cursor POST /teams/daily-usage-data", table="daily_usage"
        )
        yield from batcher.batches(rows())

    @dlt.resource(
        name="members",
        write_disposition="replace",
        primary_key="_row_key",
        columns=MEMBER_COLUMNS,
    )
    def members() -> Iterator[dict[str, Any]]:
        """The team's members (removed ones flagged), for names and roles."""
        pages = client.paginate(
            "/teams/members", paginator=SinglePagePaginator(), data_selector="teamMembers"
        )
        for page in pages:
            for m in page:
                yield {
                    "_row_key": natural_key(m.get("id"), m.get("email")),
                    "id": m.get("id"),
                    "name": m.get("name"),
                    "email": m.get("email"),
                    "role": m.get("role"),
                    "is_removed": m.get("isRemoved"),
                }

    return [usage_events, daily_usage, members]
