"""dlt source for the Anthropic Admin API: Messages usage report and Cost report.

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

from ingestion._common import (
    DayWindow,
    cursor_client,
    flatten_buckets,
    natural_key,
    rfc3339_to_unix,
    to_decimal,
    unix_to_rfc3339,
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


@dlt.source(name="anthropic", max_table_nesting=0)
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
    client = cursor_client(base_url, {"x-api-key": api_key, "anthropic-version": API_VERSION})

    def bounds(updated: dlt.sources.incremental[int]) -> tuple[str, str] | None:
        unix = window.request_bounds(updated)
        return None if unix is None else (unix_to_rfc3339(unix[0]), unix_to_rfc3339(unix[1]))

    @dlt.resource(
        name="messages_usage",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="bucket_start",
        columns=USAGE_COLUMNS,
    )
    def messages_usage(
        updated: dlt.sources.incremental[int] = window.cursor("bucket_start"),
    ) -> Iterator[dict[str, Any]]:
        """Daily token usage by API key, workspace, model, tier, context window and geo."""
        span = bounds(updated)
        if span is None:
            return
        params = {
            "starting_at": span[0],
            "ending_at": span[1],
            "bucket_width": "1d",
            "limit": 31,
            "group_by[]": list(USAGE_GROUP_BY),
        }
        pages = client.paginate("/v1/organizations/usage_report/messages", params=params)
        buckets = flatten_buckets(pages, ("starting_at", "ending_at"))
        for seq, (bucket, result) in enumerate(buckets):
            row = _flatten(result)
            row.update(
                starting_at=bucket["starting_at"],
                ending_at=bucket["ending_at"],
                bucket_start=rfc3339_to_unix(bucket["starting_at"]),
                bucket_width="1d",
                _seq=seq,
            )
            row["_row_key"] = natural_key(
                row["bucket_start"], *(result.get(f) for f in USAGE_GROUP_BY)
            )
            yield row

    @dlt.resource(
        name="cost_report",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="bucket_start",
        columns=COST_COLUMNS,
    )
    def cost_report(
        updated: dlt.sources.incremental[int] = window.cursor("bucket_start"),
    ) -> Iterator[dict[str, Any]]:
        """Daily billed cost by workspace and description (model, token type, tier)."""
        span = bounds(updated)
        if span is None:
            return
        params = {
            "starting_at": span[0],
            "ending_at": span[1],
            "bucket_width": "1d",
            "limit": 31,
            "group_by[]": list(COST_GROUP_BY),
        }
        pages = client.paginate("/v1/organizations/cost_report", params=params)
        buckets = flatten_buckets(pages, ("starting_at", "ending_at"))
        for seq, (bucket, result) in enumerate(buckets):
            row: dict[str, Any] = {
                "starting_at": bucket["starting_at"],
                "ending_at": bucket["ending_at"],
                "bucket_start": rfc3339_to_unix(bucket["starting_at"]),
                "amount_cents": to_decimal(
                    result.get("amount"), source="anthropic cost_report", field="amount"
                ),
                "amount_raw": result.get("amount"),
                "currency": result.get("currency"),
                **{f: result.get(f) for f in (*COST_GROUP_BY, *COST_DETAIL_FIELDS)},
                "_seq": seq,
            }
            row["_row_key"] = natural_key(
                row["bucket_start"], *(result.get(f) for f in (*COST_GROUP_BY, *COST_DETAIL_FIELDS))
            )
            yield row

    return [messages_usage, cost_report]
