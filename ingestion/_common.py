"""Helpers shared by the provider sources: time bounds, natural keys, REST clients.

Kept free of Dagster and dbt so a source can run on its own (`python -m ingestion.<provider>`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

DAY_SECONDS = 86_400


class SourceDataError(ValueError):
    """A provider sent a value the pipeline cannot interpret; the message names source and field."""


def day_start_unix(day: date) -> int:
    """Unix seconds of 00:00 UTC on `day` (a day is [00:00, 24:00) UTC)."""
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp())


def day_start_rfc3339(day: date) -> str:
    """RFC 3339 string of 00:00 UTC on `day`, the form Anthropic's API expects and returns."""
    return datetime.combine(day, time.min, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_day(ts: int) -> date:
    """The UTC calendar day that contains unix second `ts`."""
    return datetime.fromtimestamp(ts, tz=UTC).date()


def rfc3339_to_unix(value: str) -> int:
    """Parse an RFC 3339 timestamp (with `Z` or an offset) to unix seconds."""
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def natural_key(*parts: Any) -> str:
    """Deterministic surrogate for a natural key whose parts may be null.

    dlt primary keys must be non-null, while the providers' grouping fields are null when a
    dimension does not apply (default workspace, Console usage); hashing keeps both facts.
    """
    raw = json.dumps(parts, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def to_decimal(value: Any, *, source: str, field: str) -> Decimal | None:
    """Convert a money value to Decimal without passing through binary float rounding twice."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise SourceDataError(f"{source}: field '{field}' is a boolean, expected a number")
    try:
        # str() of a float is its shortest round-trip repr, so 0.1845 stays 0.1845
        return Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise SourceDataError(
            f"{source}: field '{field}' has value {value!r}, expected a decimal number"
        ) from exc


def cursor_client(base_url: str, headers: Mapping[str, str]) -> RESTClient:
    """RESTClient for the admin APIs' `has_more`/`next_page` → `page` cursor paging.

    dlt's own session is kept (no custom `requests.Session`) so its retry layer with
    `Retry-After` handling stays in place.
    """
    return RESTClient(
        base_url=base_url.rstrip("/"),
        headers=dict(headers),
        paginator=JSONResponseCursorPaginator(
            cursor_path="next_page", cursor_param="page", has_more_path="has_more"
        ),
        data_selector="data",
    )


def flatten_buckets(
    pages: Iterable[list[dict[str, Any]]], bucket_fields: tuple[str, str]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (bucket, result) pairs from paged bucket lists; empty buckets yield nothing."""
    start_field, _ = bucket_fields
    for page in pages:
        for bucket in page:
            if start_field not in bucket:
                raise SourceDataError(f"bucket without '{start_field}': {str(bucket)[:200]}")
            for result in bucket.get("results") or []:
                yield bucket, result
