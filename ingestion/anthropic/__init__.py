"""dlt sources for the Anthropic Admin API: Messages usage and Cost report; Claude Code report.

The usage report carries token classes (uncached, 5m/1h cache writes, cache reads, output) per
key, workspace and model; the cost report carries the billed amount per workspace and
description, as a decimal string in cents. Both land raw in `raw_anthropic`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from ingestion._arrow import ArrowBatcher
from ingestion._common import (
    DAY_SECONDS,
    BucketPages,
    DayWindow,
    KeyRegistry,
    SourceDataError,
    cursor_client,
    natural_key,
    reported_rows,
    rfc3339_to_unix,
    to_decimal,
    unix_to_rfc3339,
    with_reported_table,
)

SOURCE = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
USAGE_GROUP_BY = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
)
COST_GROUP_BY = ("workspace_id", "description")
COST_DETAIL_FIELDS = (
    "cost_type",
    "model",
    "token_type",
    "service_tier",
    "context_window",
    "inference_geo",
)
USAGE_TOKEN_FIELDS = (
    "uncached_input_tokens",
    "cache_creation__ephemeral_1h_input_tokens",
    "cache_creation__ephemeral_5m_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "server_tool_use__web_search_requests",
)
USAGE_COLUMNS: dict[str, Any] = {
    "starting_at": {"data_type": "text", "nullable": False},
    "ending_at": {"data_type": "text", "nullable": False},
    "bucket_start": {"data_type": "bigint", "nullable": False},
    "bucket_width": {"data_type": "text"},
    **{f: {"data_type": "bigint"} for f in USAGE_TOKEN_FIELDS},
    **{f: {"data_type": "text"} for f in USAGE_GROUP_BY},
    "_seq": {"data_type": "bigint", "dedup_sort": "desc"},
}
COST_COLUMNS: dict[str, Any] = {
    "starting_at": {"data_type": "text", "nullable": False},
    "ending_at": {"data_type": "text", "nullable": False},
    "bucket_start": {"data_type": "bigint", "nullable": False},
    # the API's unit: cents (lowest currency unit), kept exact; staging divides by 100
    "amount_cents": {"data_type": "decimal", "precision": 38, "scale": 12},
    "amount_raw": {"data_type": "text"},
    "currency": {"data_type": "text"},
    **{f: {"data_type": "text"} for f in (*COST_GROUP_BY, *COST_DETAIL_FIELDS)},
    "_seq": {"data_type": "bigint", "dedup_sort": "desc"},
}


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}__"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _key_auth(api_key: str) -> APIKeyAuth:
    """`x-api-key` set on the prepared request, so dlt's DEBUG request log never shows it."""
    return APIKeyAuth(name="x-api-key", api_key=api_key, location="header")


# new fields and columns are welcome; a column changing type fails the load (see ingestion.openai)
SCHEMA_CONTRACT: dict[str, Any] = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
BUCKET_FIELDS = ("starting_at", "ending_at")


def _cost_cents(result: dict[str, Any]) -> Any:
    return to_decimal(result.get("amount"), source="anthropic cost_report", field="amount")


@dlt.source(name="anthropic", max_table_nesting=0, schema_contract=SCHEMA_CONTRACT)
def anthropic_source(
    api_key: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    start_date: date | None = None,
    end_date: date | None = None,
    lookback_days: int = 3,
    backfill: bool = False,
) -> list[DltResource]:
    """Anthropic organisation usage and cost for UTC days in [start_date, end_date).

    Args:
        api_key: an Admin key (`sk-ant-admin…`), sent as `x-api-key`.
        base_url: API root without `/v1`.
        start_date, end_date: the window; end exclusive.
        lookback_days: days re-read before the cursor on every run (providers restate).
        backfill: read the whole window regardless of the stored cursor.
    """
    if start_date is None or end_date is None:
        raise ValueError("anthropic source: start_date and end_date are required")
    window = DayWindow(start_date, end_date, lookback_days, backfill)
    client = cursor_client(base_url, {"anthropic-version": API_VERSION}, auth=_key_auth(api_key))

    def bounds(updated: dlt.sources.incremental[int]) -> tuple[int, int] | None:
        return window.request_bounds(updated)

    @dlt.resource(
        name="messages_usage",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="bucket_start",
        columns=USAGE_COLUMNS,
    )
    def messages_usage(
        updated: dlt.sources.incremental[int] = window.cursor("bucket_start"),
    ) -> Iterator[Any]:
        """Daily token usage by API key, workspace, model, tier, context window and geo."""
        span = bounds(updated)
        if span is None:
            return
        params = {
            "starting_at": unix_to_rfc3339(span[0]),
            "ending_at": unix_to_rfc3339(span[1]),
            "bucket_width": "1d",
            "limit": 31,
            "group_by[]": list(USAGE_GROUP_BY),
        }
        pages = BucketPages(
            client,
            SOURCE,
            "/v1/organizations/usage_report/messages",
            params,
            span,
            BUCKET_FIELDS,
            to_unix=rfc3339_to_unix,
        )
        keys = KeyRegistry()

        def rows() -> Iterator[dict[str, Any]]:
            for seq, (bucket, result) in enumerate(pages):
                row = _flatten(result)
                row.update(
                    starting_at=bucket["starting_at"],
                    ending_at=bucket["ending_at"],
                    bucket_start=rfc3339_to_unix(bucket["starting_at"]),
                    bucket_width="1d",
                    _seq=seq,
                )
                row["_row_key"] = keys.key(
                    row["bucket_start"], *(result.get(f) for f in USAGE_GROUP_BY)
                )
                yield row

        batcher = ArrowBatcher(
            USAGE_COLUMNS, source=f"{SOURCE} {pages.path}", table="messages_usage"
        )
        yield from batcher.batches(rows())
        yield from reported_rows(pages, "bucket_start")

    @dlt.resource(
        name="cost_report",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="bucket_start",
        columns=COST_COLUMNS,
    )
    def cost_report(
        updated: dlt.sources.incremental[int] = window.cursor("bucket_start"),
    ) -> Iterator[Any]:
        """Daily billed cost by workspace and description (model, token type, tier)."""
        span = bounds(updated)
        if span is None:
            return
        params = {
            "starting_at": unix_to_rfc3339(span[0]),
            "ending_at": unix_to_rfc3339(span[1]),
            "bucket_width": "1d",
            "limit": 31,
            "group_by[]": list(COST_GROUP_BY),
        }
        pages = BucketPages(
            client,
            SOURCE,
            "/v1/organizations/cost_report",
            params,
            span,
            BUCKET_FIELDS,
            to_unix=rfc3339_to_unix,
            amount_of=_cost_cents,
        )
        keys = KeyRegistry()

        def rows() -> Iterator[dict[str, Any]]:
            for seq, (bucket, result) in enumerate(pages):
                row: dict[str, Any] = {
                    "starting_at": bucket["starting_at"],
                    "ending_at": bucket["ending_at"],
                    "bucket_start": rfc3339_to_unix(bucket["starting_at"]),
                    "amount_cents": _cost_cents(result),
                    "amount_raw": result.get("amount"),
                    "currency": result.get("currency"),
                    **{f: result.get(f) for f in (*COST_GROUP_BY, *COST_DETAIL_FIELDS)},
                    "_seq": seq,
                }
                row["_row_key"] = keys.key(
                    row["bucket_start"],
                    *(result.get(f) for f in (*COST_GROUP_BY, *COST_DETAIL_FIELDS)),
                )
                yield row

        batcher = ArrowBatcher(COST_COLUMNS, source=f"{SOURCE} {pages.path}", table="cost_report")
        yield from batcher.batches(rows())
        yield from reported_rows(pages, "bucket_start")

    return [
        with_reported_table(messages_usage, "bucket_start"),
        with_reported_table(cost_report, "bucket_start"),
    ]


# ---- Claude Code usage report (a separate source: dataset `raw_claude_code`) -----------------
CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
CLAUDE_CODE_TOKEN_FIELDS = ("input", "output", "cache_read", "cache_creation")
CLAUDE_CODE_TOOLS = ("edit_tool", "multi_edit_tool", "notebook_edit_tool", "write_tool")
CLAUDE_CODE_COLUMNS: dict[str, Any] = {
    "_row_key": {"data_type": "text", "nullable": False},
    "day_start": {"data_type": "bigint", "nullable": False},
    "date": {"data_type": "text", "nullable": False},
    **{
        c: {"data_type": "text"}
        for c in (
            "actor_type",
            "actor_email_address",
            "actor_api_key_name",
            "organization_id",
            "customer_type",
            "subscription_type",
            "terminal_type",
            "model",
            "estimated_cost_currency",
        )
    },
    "is_remote": {"data_type": "bool"},
    # record-level metrics repeat on each model row; read them where model_index = 0
    "model_index": {"data_type": "bigint", "nullable": False},
    "model_count": {"data_type": "bigint"},
    "record_index": {"data_type": "bigint"},
    **{
        c: {"data_type": "bigint"}
        for c in (
            "num_sessions",
            "lines_added",
            "lines_removed",
            "commits_by_claude_code",
            "pull_requests_by_claude_code",
        )
    },
    **{
        f"{tool}_{verdict}": {"data_type": "bigint"}
        for tool in CLAUDE_CODE_TOOLS
        for verdict in ("accepted", "rejected")
    },
    **{f"{f}_tokens": {"data_type": "bigint"} for f in CLAUDE_CODE_TOKEN_FIELDS},
    # the API's unit: cents (a JSON number), kept exact; staging divides by 100
    "estimated_cost_cents": {"data_type": "decimal", "precision": 38, "scale": 12},
}
API_KEY_COLUMNS: dict[str, Any] = {
    **{
        c: {"data_type": "text"}
        for c in (
            "id",
            "name",
            "workspace_id",
            "created_at",
            "expires_at",
            "status",
            "partial_key_hint",
            "created_by__id",
            "created_by__type",
        )
    },
}
WORKSPACE_COLUMNS: dict[str, Any] = {
    c: {"data_type": "text"} for c in ("id", "name", "created_at", "archived_at", "display_color")
}


def claude_code_rows(record: dict[str, Any], record_index: int) -> Iterator[dict[str, Any]]:
    """One row per (record, model); a record without models yields one row with model null."""
    src = "anthropic claude_code"
    actor = record.get("actor") or {}
    core = record.get("core_metrics") or {}
    loc = core.get("lines_of_code") or {}
    tools = record.get("tool_actions") or {}
    day = str(record.get("date") or "")[:10]
    if not day:
        raise SourceDataError(f"{src}: record without 'date': {str(record)[:200]}")
    base: dict[str, Any] = {
        "date": day,
        "day_start": rfc3339_to_unix(f"{day}T00:00:00Z"),
        "actor_type": actor.get("type"),
        "actor_email_address": actor.get("email_address"),
        "actor_api_key_name": actor.get("api_key_name"),
        "organization_id": record.get("organization_id"),
        "customer_type": record.get("customer_type"),
        "subscription_type": record.get("subscription_type"),
        "terminal_type": record.get("terminal_type"),
        "is_remote": record.get("is_remote"),
        "record_index": record_index,
        "num_sessions": core.get("num_sessions"),
        "lines_added": loc.get("added"),
        "lines_removed": loc.get("removed"),
        "commits_by_claude_code": core.get("commits_by_claude_code"),
        "pull_requests_by_claude_code": core.get("pull_requests_by_claude_code"),
    }
    for tool in CLAUDE_CODE_TOOLS:
        for verdict in ("accepted", "rejected"):
            base[f"{tool}_{verdict}"] = (tools.get(tool) or {}).get(verdict)
    breakdown = record.get("model_breakdown") or [{}]
    for i, item in enumerate(breakdown):
        tokens = item.get("tokens") or {}
        cost = item.get("estimated_cost") or {}
        row = {
            **base,
            "model_index": i,
            "model_count": len(breakdown),
            "model": item.get("model"),
            **{f"{f}_tokens": tokens.get(f) for f in CLAUDE_CODE_TOKEN_FIELDS},
            "estimated_cost_cents": to_decimal(
                cost.get("amount"), source=src, field="estimated_cost.amount"
            ),
            "estimated_cost_currency": cost.get("currency"),
        }
        row["_row_key"] = natural_key(
            row["day_start"],
            row["actor_type"],
            row["actor_email_address"],
            row["actor_api_key_name"],
            row["customer_type"],
            row["subscription_type"],
            row["terminal_type"],
            row["is_remote"],
            record_index,
            i,
            row["model"],
        )
        yield row


@dlt.source(name="claude_code", max_table_nesting=0, schema_contract=SCHEMA_CONTRACT)
def claude_code_source(
    api_key: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    start_date: date | None = None,
    end_date: date | None = None,
    lookback_days: int = 3,
    backfill: bool = False,
) -> list[DltResource]:
    """Claude Code usage (per day, actor and model) and key/workspace names, [start, end).

    `api` records are Claude Code on an org API key: their spend is already in `anthropic_source`
    (messages usage / cost report), so these rows are for unit economics, never for billing.

    Args:
        api_key: an Admin key (`sk-ant-admin…`), sent as `x-api-key`.
        base_url: API root without `/v1`.
        start_date, end_date: the window; end exclusive.
        lookback_days: days re-read before the cursor on every run.
        backfill: read the whole window regardless of the stored cursor.
    """
    if start_date is None or end_date is None:
        raise ValueError("claude_code source: start_date and end_date are required")
    window = DayWindow(start_date, end_date, lookback_days, backfill)
    headers = {"anthropic-version": API_VERSION}
    client = cursor_client(base_url, headers, auth=_key_auth(api_key))
    lists = RESTClient(
        base_url=base_url.rstrip("/"),
        headers=headers,
        auth=_key_auth(api_key),
        paginator=JSONResponseCursorPaginator(
            cursor_path="last_id", cursor_param="after_id", has_more_path="has_more"
        ),
        data_selector="data",
    )

    @dlt.resource(
        name="claude_code_usage",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="day_start",
        columns=CLAUDE_CODE_COLUMNS,
    )
    def claude_code_usage(
        updated: dlt.sources.incremental[int] = window.cursor("day_start"),
    ) -> Iterator[Any]:
        """One row per (day, actor record, model); a re-read day replaces the stored day."""
        span = window.request_bounds(updated)
        if span is None:
            return

        def rows() -> Iterator[dict[str, Any]]:
            for day_unix in range(span[0], span[1], DAY_SECONDS):
                params = {"starting_at": unix_to_rfc3339(day_unix)[:10], "limit": 1000}
                pages = client.paginate(CLAUDE_CODE_PATH, params=params)
                index = 0
                for page in pages:
                    for record in page:
                        yield from claude_code_rows(record, index)
                        index += 1

        batcher = ArrowBatcher(
            CLAUDE_CODE_COLUMNS,
            source=f"anthropic GET {CLAUDE_CODE_PATH}",
            table="claude_code_usage",
        )
        yield from batcher.batches(rows())

    @dlt.resource(
        name="anthropic_api_keys",
        write_disposition="replace",
        primary_key="id",
        columns=API_KEY_COLUMNS,
    )
    def anthropic_api_keys() -> Iterator[dict[str, Any]]:
        """The organisation's API keys (names for Claude Code `api_key_name` and key ids)."""
        for page in lists.paginate("/v1/organizations/api_keys", params={"limit": 1000}):
            for key in page:
                yield {c: v for c, v in _flatten(key).items() if c in API_KEY_COLUMNS}

    @dlt.resource(
        name="anthropic_workspaces",
        write_disposition="replace",
        primary_key="id",
        columns=WORKSPACE_COLUMNS,
    )
    def anthropic_workspaces() -> Iterator[dict[str, Any]]:
        """The organisation's workspaces (the default workspace is not listed)."""
        for page in lists.paginate("/v1/organizations/workspaces", params={"limit": 1000}):
            for ws in page:
                yield {c: ws.get(c) for c in WORKSPACE_COLUMNS}

    return [claude_code_usage, anthropic_api_keys, anthropic_workspaces]
