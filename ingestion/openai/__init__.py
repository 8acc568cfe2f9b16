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

from ingestion._arrow import ArrowBatcher
from ingestion._common import (
    BucketPages,
    DayWindow,
    KeyRegistry,
    cursor_client,
    reported_rows,
    to_decimal,
    with_reported_table,
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


# New fields and columns are welcome (providers add them); a column changing type is not: a
# number arriving as text must fail the load, never land in a `__v_text` variant column that
# the models do not read (money would silently go missing).
SCHEMA_CONTRACT: dict[str, Any] = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
BUCKET_FIELDS = ("start_time", "end_time")


def _cost_amount(result: dict[str, Any]) -> Any:
    amount = result.get("amount") or {}
    return to_decimal(
        amount.get("value"), source="openai /organization/costs", field="amount.value"
    )


@dlt.source(name="openai", max_table_nesting=0, schema_contract=SCHEMA_CONTRACT)
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
    ) -> Iterator[Any]:
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
        pages = BucketPages(
            client, SOURCE, "/organization/usage/completions", params, bounds, BUCKET_FIELDS
        )
        keys = KeyRegistry()

        def rows() -> Iterator[dict[str, Any]]:
            for seq, (bucket, result) in enumerate(pages):
                row = {k: v for k, v in result.items() if k != "object"}
                row.update(
                    start_time=int(bucket["start_time"]),
                    end_time=int(bucket["end_time"]),
                    bucket_width="1d",
                    _seq=seq,
                )
                row["_row_key"] = keys.key(
                    row["start_time"], *(result.get(f) for f in USAGE_GROUP_BY)
                )
                yield row

        batcher = ArrowBatcher(
            USAGE_COLUMNS, source=f"{SOURCE} {pages.path}", table="completions_usage"
        )
        yield from batcher.batches(rows())
        yield from reported_rows(pages, "start_time")

    @dlt.resource(
        name="costs",
        write_disposition="merge",
        primary_key="_row_key",
        merge_key="start_time",
        columns=COST_COLUMNS,
    )
    def costs(
        updated: dlt.sources.incremental[int] = window.cursor("start_time"),
    ) -> Iterator[Any]:
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
        pages = BucketPages(
            client,
            SOURCE,
            "/organization/costs",
            params,
            bounds,
            BUCKET_FIELDS,
            amount_of=_cost_amount,
        )
        keys = KeyRegistry()

        def rows() -> Iterator[dict[str, Any]]:
            for seq, (bucket, result) in enumerate(pages):
                amount = result.get("amount") or {}
                row = {
                    "start_time": int(bucket["start_time"]),
                    "end_time": int(bucket["end_time"]),
                    "amount_value": _cost_amount(result),
                    "amount_currency": amount.get("currency"),
                    "line_item": result.get("line_item"),
                    "project_id": result.get("project_id"),
                    "api_key_id": result.get("api_key_id"),
                    "quantity": to_decimal(
                        result.get("quantity"),
                        source="openai /organization/costs",
                        field="quantity",
                    ),
                    "quantity_unit": result.get("quantity_unit"),
                    "_seq": seq,
                }
                row["_row_key"] = keys.key(
                    row["start_time"], *(result.get(f) for f in COST_GROUP_BY)
                )
                yield row

        batcher = ArrowBatcher(COST_COLUMNS, source=f"{SOURCE} {pages.path}", table="costs")
        yield from batcher.batches(rows())
        yield from reported_rows(pages, "start_time")

    def other_usage(endpoint: str) -> DltResource:
        metrics, groups = OTHER_USAGE_ENDPOINTS[endpoint]
        columns = _other_usage_columns(metrics, groups)

        def rows(
            updated: dlt.sources.incremental[int] = window.cursor("start_time"),
        ) -> Iterator[Any]:
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
            path = f"/organization/usage/{endpoint}"
            pages = BucketPages(client, SOURCE, path, params, bounds, BUCKET_FIELDS)
            keys = KeyRegistry()

            def records() -> Iterator[dict[str, Any]]:
                for seq, (bucket, result) in enumerate(pages):
                    row = {f: result.get(f) for f in (*metrics, *groups)}
                    row.update(
                        start_time=int(bucket["start_time"]),
                        end_time=int(bucket["end_time"]),
                        _seq=seq,
                    )
                    row["_row_key"] = keys.key(row["start_time"], *(result.get(f) for f in groups))
                    yield row

            batcher = ArrowBatcher(columns, source=f"{SOURCE} {path}", table=f"{endpoint}_usage")
            yield from batcher.batches(records())
            yield from reported_rows(pages, "start_time")

        rows.__doc__ = f"Daily `/organization/usage/{endpoint}` grouped by {', '.join(groups)}."
        return with_reported_table(
            dlt.resource(
                rows,
                name=f"{endpoint}_usage",
                write_disposition="merge",
                primary_key="_row_key",
                merge_key="start_time",
                columns=columns,
            ),
            "start_time",
        )

    return [
        with_reported_table(completions_usage, "start_time"),
        with_reported_table(costs, "start_time"),
        *(other_usage(e) for e in OTHER_USAGE_ENDPOINTS),
    ]
