"""Helpers shared by the provider sources: time bounds, natural keys, REST clients.

Kept free of Dagster and dbt so a source can run on its own (`python -m ingestion.<provider>`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time as clock
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import dlt
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import Response
from requests.auth import AuthBase

DAY_SECONDS = 86_400
log = logging.getLogger(__name__)


class SourceDataError(ValueError):
    """A provider sent a value the pipeline cannot interpret; the message names source and field."""


class SourceFetchError(RuntimeError):
    """A provider request failed past the retry budget, or its pages do not add up (a gap);
    the message names the provider, the endpoint, the page and the window."""


@dataclass(frozen=True)
class HttpPolicy:
    """Timeout and retry budget of every provider request (dlt's retrying session).

    429, 5xx, connection errors, timeouts and a 200 whose JSON body is cut short are retried
    with exponential backoff (`Retry-After` honoured, capped at `max_retry_delay`); after
    `max_attempts` tries the run fails with a `SourceFetchError`. Read from the environment at
    run time: `AISPEND_HTTP_TIMEOUT_SECONDS` (60), `AISPEND_HTTP_MAX_ATTEMPTS` (5),
    `AISPEND_HTTP_BACKOFF_SECONDS` (1), `AISPEND_HTTP_MAX_RETRY_DELAY_SECONDS` (60).
    """

    timeout: float = 60.0
    max_attempts: int = 5
    backoff: float = 1.0
    max_retry_delay: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HttpPolicy:
        env = os.environ if env is None else env
        values: dict[str, float] = {}
        for name, attr in (
            ("AISPEND_HTTP_TIMEOUT_SECONDS", "timeout"),
            ("AISPEND_HTTP_MAX_ATTEMPTS", "max_attempts"),
            ("AISPEND_HTTP_BACKOFF_SECONDS", "backoff"),
            ("AISPEND_HTTP_MAX_RETRY_DELAY_SECONDS", "max_retry_delay"),
        ):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}: {raw!r} is not a number") from None
            if value <= 0 or (attr == "max_attempts" and value != int(value)):
                kind = "whole number" if attr == "max_attempts" else "number"
                raise ValueError(f"{name}: {raw!r} must be a positive {kind}")
            values[attr] = value
        policy = cls(**values)  # type: ignore[arg-type]
        return cls(policy.timeout, int(policy.max_attempts), policy.backoff, policy.max_retry_delay)

    def session(self) -> Any:
        """A requests session with dlt's retry layer and this policy."""
        return Client(
            request_timeout=self.timeout,
            request_max_attempts=self.max_attempts,
            request_backoff_factor=self.backoff,
            request_max_retry_delay=self.max_retry_delay,
            raise_for_status=False,
            retry_condition=_body_is_cut_short,
        ).session


def _body_is_cut_short(response: Response | None, exception: BaseException | None) -> bool:
    """Retry a 200 whose JSON body does not parse (a proxy cut it). The parsed body is kept on
    the response, so the client does not parse it a second time."""
    if response is None or response.status_code != 200:
        return False
    if "json" not in response.headers.get("Content-Type", "json"):
        return False
    try:
        parsed = json.loads(response.content)
    except ValueError:
        return True
    response.json = lambda **_: parsed  # type: ignore[method-assign]
    return False


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


class KeyRegistry:
    """Natural keys of one read, made unique: a second result with the same grouping values
    (a provider that stopped sending a grouping field still splits its rows) gets its
    occurrence number in the key instead of being merged away by dlt's primary-key dedup.
    The day's rows are replaced as a whole (merge key = bucket start), so a changed order on a
    re-read cannot leave two copies."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self.collisions = 0

    def key(self, *parts: Any) -> str:
        key = natural_key(*parts)
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        if n:
            self.collisions += 1
            return natural_key(*parts, {"occurrence": n})
        return key


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

    The session is dlt's retrying one (a plain `requests.Session` would drop the retry layer and
    its `Retry-After` handling), with the run's `HttpPolicy`. The key goes in `auth`, never in
    `headers`: dlt logs a request's headers at DEBUG, while `auth` is applied to the prepared
    request only.
    """
    return RESTClient(
        base_url=base_url.rstrip("/"),
        headers=dict(headers),
        auth=auth,
        paginator=JSONResponseCursorPaginator(
            cursor_path="next_page", cursor_param="page", has_more_path="has_more"
        ),
        data_selector="data",
        session=HttpPolicy.from_env().session(),
    )


@dataclass(frozen=True)
class DayWindow:
    """The UTC days [start, end) a run is responsible for, and how it re-reads recent days.

    Every resource keeps a dlt cursor on its bucket start (unix seconds). Without `backfill`,
    a run reads from the stored cursor minus the lookback (providers restate recent days;
    merging on the natural key makes the overlap harmless), never before the window start, up
    to the window end. `backfill` ignores the cursor and reads exactly [start, end) (dlt turns
    state off when `end_value` is set). The Dagster assets always pass `backfill`: the daily
    run computes its start from what the warehouse holds (`orchestration.defs.ingestion.
    resume_day`), since backfill runs of other days leave the stored cursor behind.
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


REPORTED_TABLE = "reported_buckets"
REPORTED_COLUMNS: dict[str, Any] = {
    "_row_key": {"data_type": "text", "nullable": False},
    "endpoint": {"data_type": "text", "nullable": False},
    "bucket_start": {"data_type": "bigint", "nullable": False},
    "bucket_end": {"data_type": "bigint", "nullable": False},
    "results": {"data_type": "bigint", "nullable": False},
    "amount": {"data_type": "decimal", "precision": 38, "scale": 12},
}


@dataclass
class BucketPages:
    """The time buckets of one paged usage/cost request, checked as they arrive.

    Iterating yields (bucket, result) pairs. Buckets must tile the requested window: a page
    that repeats buckets already read (a provider re-sending a page) is dropped, a gap (a page
    skipped by `next_page`) or a missing tail raises `SourceFetchError`, and so does any
    request that fails past the retry budget; the message names provider, endpoint, page and
    window. `reported` then holds one record per bucket with what the provider sent (result
    count and, for cost endpoints, the summed amount), landed beside the data so a check can
    reconcile raw tables to what the source reported.
    """

    client: RESTClient
    source: str
    path: str
    params: dict[str, Any]
    window: tuple[int, int]
    bucket_fields: tuple[str, str]
    to_unix: Callable[[Any], int] = int
    amount_of: Callable[[dict[str, Any]], Decimal | None] | None = None
    reported: list[dict[str, Any]] = field(default_factory=list)
    repeated_buckets: int = 0

    def describe(self, page: int, token: str | None) -> str:
        first, end = (unix_to_rfc3339(t)[:10] for t in self.window)
        where = f"page {page}" + (f" (page={token})" if token else " (first page)")
        return f"{self.source} GET {self.path}, {where}, window {first}..{end} (end exclusive)"

    def __iter__(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        start_field, end_field = self.bucket_fields
        covered_to = self.window[0]
        page_no, token = 0, None
        pages = self.client.paginate(self.path, params=self.params)
        while True:
            try:
                page = next(pages)
            except StopIteration:
                break
            except Exception as exc:
                status = getattr(getattr(exc, "response", None), "status_code", None)
                hint = (
                    " (the provider refused the key: check that it is an organisation admin "
                    "key with usage and cost read access)"
                    if status in (401, 403)
                    else ""
                )
                raise SourceFetchError(
                    f"{self.describe(page_no + 1, token)}: {type(exc).__name__}: {exc}{hint}"
                ) from exc
            page_no += 1
            for bucket in page:
                try:
                    start = self.to_unix(bucket[start_field])
                    end = self.to_unix(bucket[end_field])
                except (KeyError, TypeError, ValueError) as exc:
                    raise SourceDataError(
                        f"{self.describe(page_no, token)}: bucket without a valid "
                        f"'{start_field}'/'{end_field}': {str(bucket)[:200]}"
                    ) from exc
                if end <= covered_to:
                    self.repeated_buckets += 1
                    continue
                if start > covered_to:
                    raise SourceFetchError(
                        f"{self.describe(page_no, token)}: buckets from "
                        f"{unix_to_rfc3339(covered_to)} to {unix_to_rfc3339(start)} are missing "
                        "(the provider's next_page skipped a page); nothing of this request "
                        "was loaded"
                    )
                covered_to = end
                results = bucket.get("results") or []
                amounts = [self.amount_of(r) for r in results] if self.amount_of else []
                self.reported.append(
                    {
                        "endpoint": self.path,
                        "bucket_start": start,
                        "bucket_end": end,
                        "results": len(results),
                        "amount": sum((a for a in amounts if a is not None), Decimal(0))
                        if self.amount_of
                        else None,
                        "_row_key": natural_key(self.path, start),
                    }
                )
                for result in results:
                    yield bucket, result
            token = page.response.json().get("next_page") if page.response is not None else None
        settled = min(self.window[1], int(clock.time()) // DAY_SECONDS * DAY_SECONDS)
        if covered_to < settled:
            raise SourceFetchError(
                f"{self.describe(page_no, token)}: the last page ends at "
                f"{unix_to_rfc3339(covered_to)}, before the window's end; nothing of this "
                "request was loaded"
            )
        if self.repeated_buckets:
            log.warning(
                "%s GET %s: %d bucket(s) were sent twice (a repeated page); kept once",
                self.source,
                self.path,
                self.repeated_buckets,
            )


def reported_rows(pages: BucketPages, cursor_column: str) -> Iterator[Any]:
    """`pages.reported` as rows of the `reported_buckets` table (after the data rows).

    Each carries the resource's cursor column too, because dlt's incremental step reads it on
    every row a resource yields, whatever its table.
    """
    for record in pages.reported:
        yield dlt.mark.with_table_name(
            {**record, cursor_column: record["bucket_start"]}, REPORTED_TABLE
        )


def with_reported_table(resource: Any, cursor_column: str) -> Any:
    """Declare the `reported_buckets` table a bucket resource also writes: merged on endpoint +
    bucket, so a re-read bucket replaces what the provider reported before.

    A table variant starts from a copy of the resource's hints; its columns are reset first so
    the data table's columns (and their NOT NULLs) do not leak into it.
    """
    resource.apply_hints(table_name=REPORTED_TABLE, columns={}, create_table_variant=True)
    resource.apply_hints(
        table_name=REPORTED_TABLE,
        write_disposition="merge",
        primary_key="_row_key",
        merge_key=["endpoint", cursor_column],
        columns={**REPORTED_COLUMNS, cursor_column: {"data_type": "bigint", "nullable": False}},
        create_table_variant=True,
    )
    return resource
