"""Helpers shared by the provider sources: time bounds, natural keys, REST clients.

Kept free of Dagster and dbt so a source can run on its own (`python -m ingestion.<provider>`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import dlt
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests.auth import AuthBase

DAY_SECONDS = 86_400


class SourceDataError(ValueError):
    """A provider sent a value the pipeline cannot interpret; the message names source and field."""


def day_start_unix(day: date) -> int:
    """Unix seconds of 00:00 UTC on `day` (a day is [00:00, 24:00) UTC)."""
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp())


def unix_to_rfc3339(ts: int) -> str:
    """RFC 3339 string (UTC, `Z`) of unix second `ts`."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def cursor_client(
    base_url: str, headers: Mapping[str, str], auth: AuthBase | None = None
) -> RESTClient:
    """RESTClient for the admin APIs' `has_more`/`next_page` → `page` cursor paging.

    dlt's own session is kept (no custom `requests.Session`) so its retry layer with
    `Retry-After` handling stays in place. The key goes in `auth`, never in `headers`: dlt logs
    a request's headers at DEBUG, while `auth` is applied to the prepared request only.
    """
    return RESTClient(
        base_url=base_url.rstrip("/"),
        headers=dict(headers),
        auth=auth,
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


@dataclass(frozen=True)
class DayWindow:
    """The UTC days [start, end) a run is responsible for, and how it re-reads recent days.

    Every resource keeps a dlt cursor on its bucket start (unix seconds). A run reads from the
    cursor minus the lookback (providers restate recent days; merging on the natural key makes
    the overlap harmless), never before the window start, up to the window end. `backfill`
    ignores the cursor and reads the whole window (dlt turns state off when `end_value` is set).
    """

    start: date
    end: date
    lookback_days: int = 3
    backfill: bool = False

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"window start {self.start} must be before its end {self.end}")

    @property
    def start_unix(self) -> int:
        return day_start_unix(self.start)

    @property
    def end_unix(self) -> int:
        return day_start_unix(self.end)

    def cursor(self, column: str) -> dlt.sources.incremental[int]:
        return dlt.sources.incremental(
            column,
            initial_value=self.start_unix,
            end_value=self.end_unix if self.backfill else None,
            lag=self.lookback_days * DAY_SECONDS,
            range_end="open",
        )

    def request_bounds(self, cursor: dlt.sources.incremental[int]) -> tuple[int, int] | None:
        """Unix bounds to request, whole UTC days only; None when there is nothing to read."""
        lower = max(int(cursor.start_value or self.start_unix), self.start_unix)
        lower -= lower % DAY_SECONDS  # a bucket never straddles two loads
        return (lower, self.end_unix) if lower < self.end_unix else None
