"""dlt source for the OpenAI Admin API: Usage (completions) and Costs.

Usage carries tokens and requests but no money; Costs carries the invoice-reconcilable dollars
per day, project, API key and line item. Both are loaded raw into `raw_openai`; all modelling
happens in dbt.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth

from ingestion._common import (
    DayWindow,
    cursor_client,
    flatten_buckets,
    natural_key,
    to_decimal,
)

SOURCE = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
USAGE_GROUP_BY = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
COST_GROUP_BY = ("project_id", "line_item", "api_key_id")
TOKEN_FIELDS = (
    "input_tokens",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "input_uncached_tokens",
    "output_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_audio_tokens",
    "input_cached_audio_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
    "num_model_requests",
)
# Declared so the columns exist even when a field is always null (dlt creates no column for
# all-null values) or missing from older API versions; staging can then select them safely.
USAGE_COLUMNS: dict[str, Any] = {
    "start_time": {"data_type": "bigint", "nullable": False},
    "end_time": {"data_type": "bigint", "nullable": False},
    "bucket_width": {"data_type": "text"},
    **{f: {"data_type": "bigint"} for f in TOKEN_FIELDS},
    **{f: {"data_type": "text"} for f in USAGE_GROUP_BY if f != "batch"},
    "batch": {"data_type": "bool"},
    "_seq": {"data_type": "bigint", "dedup_sort": "desc"},
}
COST_COLUMNS: dict[str, Any] = {
    "start_time": {"data_type": "bigint", "nullable": False},
    "end_time": {"data_type": "bigint", "nullable": False},
    "amount_value": {"data_type": "decimal", "precision": 38, "scale": 12},
    "amount_currency": {"data_type": "text"},
    "line_item": {"data_type": "text"},
    "project_id": {"data_type": "text"},
    "api_key_id": {"data_type": "text"},
    "quantity": {"data_type": "decimal", "precision": 38, "scale": 6},
    "quantity_unit": {"data_type": "text"},
    "_seq": {"data_type": "bigint", "dedup_sort": "desc"},
}

# The other Usage API endpoints: (metric fields, group_by fields). Each lands in its own raw
# table `<endpoint>_usage` so every dollar of the Costs API has usage that explains it.
OTHER_USAGE_ENDPOINTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "embeddings": (
        ("input_tokens", "num_model_requests"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "moderations": (
        ("input_tokens", "num_model_requests"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "images": (
        ("images", "num_model_requests"),
        ("project_id", "user_id", "api_key_id", "model", "size", "source"),
    ),
    "audio_speeches": (
        ("characters", "num_model_requests"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "audio_transcriptions": (
        ("seconds", "num_model_requests"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "vector_stores": (("usage_bytes",), ("project_id",)),
    "code_interpreter_sessions": (("num_sessions",), ("project_id",)),
}


def _other_usage_columns(metrics: tuple[str, ...], groups: tuple[str, ...]) -> dict[str, Any]:
    return {
        "start_time": {"data_type": "bigint", "nullable": False},
        "end_time": {"data_type": "bigint", "nullable": False},
        **{f: {"data_type": "bigint"} for f in metrics},
        **{f: {"data_type": "text"} for f in groups},
        "_seq": {"data_type": "bigint", "dedup_sort": "desc"},
    }


@dlt.source(name="openai", max_table_nesting=0)
def openai_source(
    api_key: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    start_date: date | None = None,
    end_date: date | None = None,
    lookback_days: int = 3,
    backfill: bool = False,
) -> list[DltResource]:
    """OpenAI organisation usage and costs for UTC days in [start_date, end_date).

    Args:
        api_key: an organisation Admin key (`sk-admin-…`).
        base_url: API root including `/v1`.
        start_date, end_date: the window; end exclusive.
        lookback_days: days re-read before the cursor on every run, because providers restate
            recent days; merge on the natural key makes the overlap harmless.
        backfill: read the whole window regardless of the stored cursor (used when the window
            starts before anything loaded so far).
    """
    if start_date is None or end_date is None:
        raise ValueError("openai source: start_date and end_date are required")
    window = DayWindow(start_date, end_date, lookback_days, backfill)
    client = cursor_client(base_url, {}, auth=BearerTokenAuth(token=api_key))

    @dlt.resource(
        name="completions_usage",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="start_time",
        columns=USAGE_COLUMNS,
    )
    def completions_usage(
        updated: dlt.sources.incremental[int] = window.cursor("start_time"),
    ) -> Iterator[dict[str, Any]]:
        """Daily token usage grouped by project, key, model, batch and service tier."""
        bounds = window.request_bounds(updated)
        if bounds is None:
            return
        params = {
            "start_time": bounds[0],
            "end_time": bounds[1],
            "bucket_width": "1d",
            "limit": 31,
            "group_by": list(USAGE_GROUP_BY),
        }
        pages = client.paginate("/organization/usage/completions", params=params)
        for seq, (bucket, result) in enumerate(flatten_buckets(pages, ("start_time", "end_time"))):
            row = {k: v for k, v in result.items() if k != "object"}
            row.update(
                start_time=int(bucket["start_time"]),
                end_time=int(bucket["end_time"]),
                bucket_width="1d",
                _seq=seq,
            )
            row["_row_key"] = natural_key(
                row["start_time"], *(result.get(f) for f in USAGE_GROUP_BY)
            )
            yield row

    @dlt.resource(
        name="costs",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="start_time",
        columns=COST_COLUMNS,
    )
    def costs(
        updated: dlt.sources.incremental[int] = window.cursor("start_time"),
    ) -> Iterator[dict[str, Any]]:
        """Daily billed cost in USD by project, API key and line item (the invoice truth)."""
        bounds = window.request_bounds(updated)
        if bounds is None:
            return
        params = {
            "start_time": bounds[0],
            "end_time": bounds[1],
            "bucket_width": "1d",
            "limit": 180,
            "group_by": list(COST_GROUP_BY),
        }
        pages = client.paginate("/organization/costs", params=params)
        for seq, (bucket, result) in enumerate(flatten_buckets(pages, ("start_time", "end_time"))):
            amount = result.get("amount") or {}
            row = {
                "start_time": int(bucket["start_time"]),
                "end_time": int(bucket["end_time"]),
                "amount_value": to_decimal(
                    amount.get("value"), source="openai /organization/costs", field="amount.value"
                ),
                "amount_currency": amount.get("currency"),
                "line_item": result.get("line_item"),
                "project_id": result.get("project_id"),
                "api_key_id": result.get("api_key_id"),
                "quantity": to_decimal(
                    result.get("quantity"), source="openai /organization/costs", field="quantity"
                ),
                "quantity_unit": result.get("quantity_unit"),
                "_seq": seq,
            }
            row["_row_key"] = natural_key(
                row["start_time"], *(result.get(f) for f in COST_GROUP_BY)
            )
            yield row

    def other_usage(endpoint: str) -> DltResource:
        metrics, groups = OTHER_USAGE_ENDPOINTS[endpoint]

        def rows(
            updated: dlt.sources.incremental[int] = window.cursor("start_time"),
        ) -> Iterator[dict[str, Any]]:
            bounds = window.request_bounds(updated)
            if bounds is None:
                return
            params = {
                "start_time": bounds[0],
                "end_time": bounds[1],
                "bucket_width": "1d",
                "limit": 31,
                "group_by": list(groups),
            }
            pages = client.paginate(f"/organization/usage/{endpoint}", params=params)
            buckets = flatten_buckets(pages, ("start_time", "end_time"))
            for seq, (bucket, result) in enumerate(buckets):
                row = {f: result.get(f) for f in (*metrics, *groups)}
                row.update(
                    start_time=int(bucket["start_time"]), end_time=int(bucket["end_time"]), _seq=seq
                )
                row["_row_key"] = natural_key(row["start_time"], *(result.get(f) for f in groups))
                yield row

        rows.__doc__ = f"Daily `/organization/usage/{endpoint}` grouped by {', '.join(groups)}."
        return dlt.resource(
            rows,
            name=f"{endpoint}_usage",
            write_disposition="merge",
            primary_key="_row_key",
            merge_key="start_time",
            columns=_other_usage_columns(metrics, groups),
        )

    return [completions_usage, costs, *(other_usage(e) for e in OTHER_USAGE_ENDPOINTS)]
