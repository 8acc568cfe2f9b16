"""HTTP front end: OpenAI and Anthropic admin billing endpoints on one ThreadingHTTPServer.

Response shapes follow provider-formats.md sections 1, 2 and 10 (key order, explicit nulls,
empty buckets, cursor paging, error bodies). All aggregation works from the organisation's
fine-grained rows, so every grouping of the same data sums to the same totals.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ingestion.simulator import cursor_api, openai_extras
from ingestion.simulator.config import SimConfig
from ingestion.simulator.org import ANTHROPIC_NDIM, OPENAI_NDIM, SyntheticOrg

DAY = 86_400
UNIX_EPOCH = date(1970, 1, 1)
WIDTHS = {"1m": 60, "1h": 3_600, "1d": DAY}
# bucket_width -> (default limit, max limit) for the usage endpoints of both providers
USAGE_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
OPENAI_USAGE_GROUPS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
OPENAI_COST_GROUPS = ("project_id", "line_item", "api_key_id")
ANTHROPIC_USAGE_GROUPS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
)
ANTHROPIC_COST_GROUPS = ("workspace_id", "description")

Response = tuple[int, dict[str, str], bytes]
Params = dict[str, list[str]]
#: A "response" that drops the connection instead (a reset, as a proxy or load balancer does)
RESET: Response = (0, {}, b"")


class ApiError(Exception):
    """A request the provider would reject; rendered in that provider's error shape."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.param = param
        self.code = code


class Faults:
    """Extension point for fault injection (429 + Retry-After, 5xx, truncated JSON, latency).

    `before` may return a Response to short-circuit a request; `after` may rewrite one. The
    default does nothing; subclass and pass an instance to `Simulator(..., faults=...)`.
    """

    def before(self, provider: str, path: str, params: Params) -> Response | None:
        """Called after authentication, before the endpoint runs."""
        return None

    def after(self, provider: str, path: str, response: Response) -> Response:
        """Called with the finished response."""
        return response

    def bind(self, fetch: Callable[[str, str, Params], Response]) -> None:
        """Receive `fetch(provider, path, params)`, which serves a request without faults."""


# ---- helpers ------------------------------------------------------------------------------
def day_unix(day: date) -> int:
    """Unix seconds of 00:00 UTC on `day`."""
    return (day - UNIX_EPOCH).days * DAY


def unix_day(ts: int) -> date:
    """UTC day containing unix second `ts`."""
    return UNIX_EPOCH + timedelta(days=ts // DAY)


def rfc3339(ts: int) -> str:
    """Anthropic's timestamp form: `2025-08-01T00:00:00Z`."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str, param: str) -> int:
    """RFC 3339 -> unix seconds (naive values are taken as UTC)."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "invalid_request_error", f"{param}: invalid datetime", param) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def list_param(params: Params, name: str) -> list[str]:
    """Array parameter in either wire form: `name=a&name=b` or `name[]=a&name[]=b`."""
    return params.get(name, []) + params.get(name + "[]", [])


def one_param(params: Params, name: str) -> str | None:
    """Last value of a scalar parameter."""
    values = params.get(name)
    return values[-1] if values else None


def int_param(params: Params, name: str, default: int | None = None) -> int | None:
    """Integer parameter; 400 when it is not an integer."""
    raw = one_param(params, name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(
            400, "invalid_request_error", f"Invalid value for '{name}': {raw!r}", name
        ) from exc


def limit_param(params: Params, default: int, maximum: int, minimum: int = 1) -> int:
    """Buckets per page; 400 outside [minimum, maximum]."""
    limit = int_param(params, "limit", default)
    assert limit is not None
    if not minimum <= limit <= maximum:
        raise ApiError(
            400,
            "invalid_request_error",
            f"limit must be between {minimum} and {maximum}, got {limit}",
            "limit",
        )
    return limit


def group_param(params: Params, allowed: tuple[str, ...]) -> set[str]:
    """Validated group_by set (both array forms accepted)."""
    groups = list_param(params, "group_by")
    for g in groups:
        if g not in allowed:
            raise ApiError(
                400,
                "invalid_request_error",
                f"Invalid group_by value {g!r}; allowed: {', '.join(allowed)}",
                "group_by",
            )
    return set(groups)


def encode_cursor(payload: bytes) -> str:
    """Opaque `page_...` cursor (urlsafe base64), like the real APIs."""
    return "page_" + base64.urlsafe_b64encode(payload).decode()


def decode_cursor(value: str) -> bytes:
    """Inverse of encode_cursor; 400 on anything malformed."""
    if not value.startswith("page_"):
        raise ApiError(400, "invalid_request_error", "Invalid page cursor", "page")
    try:
        return base64.urlsafe_b64decode(value[5:].encode())
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "invalid_request_error", "Invalid page cursor", "page") from exc


def minute_part(value: int, m0: int, m1: int) -> int:
    """Share of an hourly count in minutes [m0, m1): remainders go to the first minutes."""
    q, r = divmod(value, 60)
    return q * (m1 - m0) + max(0, min(m1, r) - m0)


def sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Deterministic order for group keys that may contain None and bools."""
    return tuple((v is None, str(v)) for v in key)


def json_body(obj: Any) -> bytes:
    """Serialize; Decimals never reach here (callers convert), floats use shortest repr."""
    return json.dumps(obj).encode()


# ---- data access --------------------------------------------------------------------------
def rows_in(org: SyntheticOrg, provider: str, a: int, b: int) -> Iterator[tuple[Any, ...]]:
    """Usage rows whose time falls in [a, b); partial hours are cut at minute grain."""
    ndim = OPENAI_NDIM if provider == "openai" else ANTHROPIC_NDIM
    if b <= a:
        return
    for dn in range(a // DAY, (b - 1) // DAY + 1):
        data = org.day(UNIX_EPOCH + timedelta(days=dn))
        if data is None:
            continue
        hours = data.openai_hours if provider == "openai" else data.anthropic_hours
        ds = dn * DAY
        if a <= ds and ds + DAY <= b:
            yield from data.openai_day if provider == "openai" else data.anthropic_day
            continue
        for h in range(24):
            hs = ds + h * 3_600
            if hs + 3_600 <= a or hs >= b:
                continue
            if a <= hs and hs + 3_600 <= b:
                yield from hours[h]
                continue
            m0 = max(0, -(-(a - hs) // 60))
            m1 = min(60, -(-(b - hs) // 60))
            if m1 <= m0:
                continue
            for row in hours[h]:
                yield row[:ndim] + tuple(minute_part(v, m0, m1) for v in row[ndim:])


def aggregate(
    rows: Iterator[tuple[Any, ...]],
    ndim: int,
    keyfn: Callable[[tuple[Any, ...]], tuple[Any, ...]],
    filters: dict[int, set[Any]],
) -> list[tuple[tuple[Any, ...], list[int]]]:
    """Filter rows, group them with `keyfn`, sum metrics; all-zero groups dropped, sorted."""
    acc: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        if any(row[i] not in allowed for i, allowed in filters.items()):
            continue
        key = keyfn(row)
        cur = acc.get(key)
        if cur is None:
            acc[key] = list(row[ndim:])
        else:
            for i, v in enumerate(row[ndim:]):
                cur[i] += v
    return [(k, acc[k]) for k in sorted(acc, key=sort_key) if any(acc[k])]


# ---- OpenAI -------------------------------------------------------------------------------
class OpenAIApi:
    """`/v1/organization/...` endpoints."""

    def __init__(self, org: SyntheticOrg, config: SimConfig) -> None:
        self.org = org
        self.config = config

    def _time_range(self, params: Params) -> tuple[int, int]:
        start = int_param(params, "start_time")
        if start is None:
            raise ApiError(400, "invalid_request_error", "start_time is required", "start_time")
        # Default "now" = window end, but never before the first bucket: an incremental poll
        # past the window gets an empty bucket rather than an error.
        end = int_param(params, "end_time", max(day_unix(self.org.end), (start // DAY + 1) * DAY))
        assert end is not None
        if end <= start:
            raise ApiError(
                400, "invalid_request_error", "end_time must be after start_time", "end_time"
            )
        return start, end

    def _page(
        self, params: Params, start: int, end: int, width: int, limit: int
    ) -> tuple[list[tuple[int, int]], str | None]:
        """Buckets of this page (first one may start mid-interval) and the next cursor."""
        t = start
        page = one_param(params, "page")
        if page:
            raw = decode_cursor(page)
            if len(raw) != 16:
                raise ApiError(400, "invalid_request_error", "Invalid page cursor", "page")
            t = int.from_bytes(raw[:8], "big")
            if not start <= t < end:
                raise ApiError(400, "invalid_request_error", "Invalid page cursor", "page")
        buckets: list[tuple[int, int]] = []
        while t < end and len(buckets) < limit:
            nxt = min((t // width + 1) * width, end)
            buckets.append((t, nxt))
            t = nxt
        cursor = encode_cursor(t.to_bytes(8, "big") + end.to_bytes(8, "big")) if t < end else None
        return buckets, cursor

    @staticmethod
    def _filters(params: Params, names: dict[str, int]) -> dict[int, set[Any]]:
        out: dict[int, set[Any]] = {}
        for name, idx in names.items():
            values = list_param(params, name)
            if values:
                out[idx] = set(values)
        return out

    def usage_completions(self, params: Params) -> dict[str, Any]:
        """GET /v1/organization/usage/completions."""
        start, end = self._time_range(params)
        width_name = one_param(params, "bucket_width") or "1d"
        if width_name not in WIDTHS:
            raise ApiError(
                400, "invalid_request_error", "bucket_width must be 1m, 1h or 1d", "bucket_width"
            )
        default, maximum = USAGE_LIMITS[width_name]
        limit = limit_param(params, default, maximum)
        groups = group_param(params, OPENAI_USAGE_GROUPS)
        filters = self._filters(params, {"project_ids": 0, "api_key_ids": 1, "models": 2})
        if list_param(params, "user_ids"):
            filters[0] = set()  # no user-level data: a user filter matches nothing
        batch = one_param(params, "batch")
        if batch is not None:
            want = batch.lower() == "true"
            filters[3] = {want}
        buckets, cursor = self._page(params, start, end, WIDTHS[width_name], limit)
        g = [f in groups for f in ("project_id", "api_key_id", "model", "batch", "service_tier")]

        def keyfn(r: tuple[Any, ...]) -> tuple[Any, ...]:
            return (
                r[0] if g[0] else None,
                None,
                r[1] if g[1] else None,
                r[2] if g[2] else None,
                r[3] if g[3] else None,
                "default" if g[4] else None,
            )

        data = []
        for a, b in buckets:
            groups_out = aggregate(rows_in(self.org, "openai", a, b), OPENAI_NDIM, keyfn, filters)
            results = [self._usage_result(k, m) for k, m in groups_out]
            data.append({"object": "bucket", "start_time": a, "end_time": b, "results": results})
        return {"object": "page", "data": data, "has_more": cursor is not None, "next_page": cursor}

    def _usage_result(self, key: tuple[Any, ...], m: list[int]) -> dict[str, Any]:
        project, user, api_key, model, batch, tier = key
        req, uncached, cached, write, output = m
        total_in = uncached + cached + write
        if self.config.openai_legacy_fields:
            return {
                "object": "organization.usage.completions.result",
                "input_tokens": total_in,
                "output_tokens": output,
                "input_cached_tokens": cached,
                "input_audio_tokens": 0,
                "output_audio_tokens": 0,
                "num_model_requests": req,
                "project_id": project,
                "user_id": user,
                "api_key_id": api_key,
                "model": model,
                "batch": batch,
            }
        return {
            "object": "organization.usage.completions.result",
            "input_tokens": total_in,
            "input_cached_tokens": cached,
            "input_cache_write_tokens": write,
            "input_uncached_tokens": uncached,
            "output_tokens": output,
            "input_text_tokens": uncached,
            "output_text_tokens": output,
            "input_cached_text_tokens": cached,
            "input_audio_tokens": 0,
            "input_cached_audio_tokens": 0,
            "output_audio_tokens": 0,
            "input_image_tokens": 0,
            "input_cached_image_tokens": 0,
            "output_image_tokens": 0,
            "num_model_requests": req,
            "project_id": project,
            "user_id": user,
            "api_key_id": api_key,
            "model": model,
            "batch": batch,
            "service_tier": tier,
        }

    def usage_extra(self, endpoint: str, params: Params) -> dict[str, Any]:
        """GET /v1/organization/usage/<endpoint> for the non-completions endpoints.

        The simulator keeps these at day grain: a day's usage sits in the bucket holding 12:00
        UTC, so every bucket width sums to the same totals.
        """
        obj, _metrics, group_fields = openai_extras.ENDPOINTS[endpoint]
        start, end = self._time_range(params)
        width_name = one_param(params, "bucket_width") or "1d"
        if width_name not in WIDTHS:
            raise ApiError(
                400, "invalid_request_error", "bucket_width must be 1m, 1h or 1d", "bucket_width"
            )
        default, maximum = USAGE_LIMITS[width_name]
        limit = limit_param(params, default, maximum)
        groups = group_param(params, group_fields)
        wanted = {
            "project_id": set(list_param(params, "project_ids")),
            "api_key_id": set(list_param(params, "api_key_ids")),
            "model": set(list_param(params, "models")),
        }
        buckets, cursor = self._page(params, start, end, WIDTHS[width_name], limit)
        data = []
        for a, b in buckets:
            acc: dict[tuple[Any, ...], dict[str, int]] = {}
            for dn in range(a // DAY, (b - 1) // DAY + 1):
                if not a <= dn * DAY + DAY // 2 < b:
                    continue
                day_data = self.org.day(UNIX_EPOCH + timedelta(days=dn))
                for row in day_data.openai_extras if day_data else ():
                    if row.endpoint != endpoint:
                        continue
                    dims = dict(row.dims)
                    if any(v and dims.get(f) not in v for f, v in wanted.items()):
                        continue
                    gk = tuple(dims.get(f) if f in groups else None for f in group_fields)
                    cur = acc.setdefault(gk, {})
                    for name, value in row.metrics:
                        cur[name] = cur.get(name, 0) + value
            results = [
                openai_extras.usage_result(endpoint, dict(zip(group_fields, k, strict=True)), m)
                for k, m in sorted(acc.items(), key=lambda kv: sort_key(kv[0]))
                if any(m.values())
            ]
            data.append({"object": "bucket", "start_time": a, "end_time": b, "results": results})
        del obj
        return {"object": "page", "data": data, "has_more": cursor is not None, "next_page": cursor}

    def costs(self, params: Params) -> dict[str, Any]:
        """GET /v1/organization/costs (1d buckets; each day's lines land in one bucket)."""
        start, end = self._time_range(params)
        width_name = one_param(params, "bucket_width") or "1d"
        if width_name != "1d":
            raise ApiError(
                400, "invalid_request_error", "bucket_width must be 1d for costs", "bucket_width"
            )
        limit = limit_param(params, 7, 180)
        groups = group_param(params, OPENAI_COST_GROUPS)
        pids = set(list_param(params, "project_ids"))
        kids = set(list_param(params, "api_key_ids"))
        by_item = "line_item" in groups
        by_project = "project_id" in groups
        by_key = "api_key_id" in groups
        buckets, cursor = self._page(params, start, end, DAY, limit)
        data = []
        for a, b in buckets:
            acc: dict[tuple[Any, ...], list[Any]] = {}
            day_data = self.org.day(unix_day(a))
            for project, key, item, qty, amount in day_data.openai_costs if day_data else ():
                if (pids and project not in pids) or (kids and key not in kids):
                    continue
                gk = (
                    item if by_item else None,
                    project if by_project else None,
                    key if by_key else None,
                )
                cur = acc.setdefault(gk, [0, Decimal(0)])
                cur[0] += qty
                cur[1] += amount
            results = [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": float(acc[k][1]), "currency": "usd"},
                    "line_item": k[0],
                    "project_id": k[1],
                    "api_key_id": k[2],
                    "quantity": acc[k][0] if by_item else None,
                    "quantity_unit": openai_extras.QUANTITY_UNITS.get(k[0], "tokens")
                    if by_item
                    else None,
                }
                for k in sorted(acc, key=sort_key)
                if acc[k][1]
            ]
            data.append({"object": "bucket", "start_time": a, "end_time": b, "results": results})
        return {"object": "page", "data": data, "has_more": cursor is not None, "next_page": cursor}

    def projects(self, params: Params) -> dict[str, Any]:
        """GET /v1/organization/projects."""
        items = [
            {
                "id": p.id,
                "object": "organization.project",
                "name": p.name,
                "created_at": p.created_at,
                "archived_at": None,
                "status": "active",
                "external_key_id": None,
                "residency": None,
            }
            for p in self.org.projects
        ]
        return list_page(items, params, 20, 100, "after")

    def project_keys(self, project_id: str, params: Params) -> dict[str, Any]:
        """GET /v1/organization/projects/{id}/api_keys."""
        project = next((p for p in self.org.projects if p.id == project_id), None)
        if project is None:
            raise ApiError(404, "invalid_request_error", f"No project with id {project_id}")
        items = [
            {
                "object": "organization.project.api_key",
                "redacted_value": f"sk-proj-****{k.id[-4:]}",
                "name": k.name,
                "created_at": k.created_at,
                "last_used_at": day_unix(self.org.end) - 60,
                "id": k.id,
                "owner_project_access": "full",
                "owner": {
                    "type": "service_account",
                    "service_account": {
                        "object": "organization.project.service_account",
                        "id": "svc_acct_" + k.id[4:],
                        "name": k.name,
                        "role": "member",
                        "created_at": k.created_at,
                    },
                },
            }
            for k in project.keys
        ]
        return list_page(items, params, 20, 100, "after")


def list_page(
    items: list[dict[str, Any]],
    params: Params,
    default: int,
    maximum: int,
    after_name: str,
    openai: bool = True,
) -> dict[str, Any]:
    """`{object?, data, first_id, last_id, has_more}` list envelope with id-based paging."""
    limit = limit_param(params, default, maximum)
    after = one_param(params, after_name)
    before = one_param(params, "before_id")
    ids = [i["id"] for i in items]
    lo, hi = 0, len(items)
    if after:
        lo = ids.index(after) + 1 if after in ids else len(items)
    if before:
        hi = ids.index(before) if before in ids else 0
    page = items[lo:hi][:limit]
    body: dict[str, Any] = {"object": "list"} if openai else {}
    body.update(
        {
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": lo + len(page) < hi,
        }
    )
    return body


# ---- Anthropic ----------------------------------------------------------------------------
def cents_str(value: Decimal) -> str:
    """Cents as a plain decimal string without exponent: "144.6339", "14", "0.0105"."""
    text = format(value.normalize(), "f")
    return text


class AnthropicApi:
    """`/v1/organizations/...` endpoints."""

    def __init__(self, org: SyntheticOrg, config: SimConfig) -> None:
        self.org = org
        self.config = config

    def _page(
        self, params: Params, width: int, limit: int
    ) -> tuple[list[tuple[int, int]], str | None]:
        raw_start = one_param(params, "starting_at")
        if not raw_start:
            raise ApiError(400, "invalid_request_error", "starting_at: field required")
        start = parse_rfc3339(raw_start, "starting_at") // width * width
        raw_end = one_param(params, "ending_at")
        default_end = max(day_unix(self.org.end), start + width)
        end = parse_rfc3339(raw_end, "ending_at") if raw_end else default_end
        if end <= start:
            raise ApiError(400, "invalid_request_error", "ending_at must be after starting_at")
        t = start
        page = one_param(params, "page")
        if page:
            try:
                t = parse_rfc3339(decode_cursor(page).decode(), "page")
            except (ApiError, UnicodeDecodeError) as exc:
                raise ApiError(400, "invalid_request_error", "page: invalid cursor") from exc
            if not start <= t < end or (t - start) % width:
                raise ApiError(400, "invalid_request_error", "page: invalid cursor")
        buckets: list[tuple[int, int]] = []
        while t < end and len(buckets) < limit:
            buckets.append((t, t + width))
            t += width
        cursor = encode_cursor(rfc3339(t).encode()) if t < end else None
        return buckets, cursor

    def usage_messages(self, params: Params) -> dict[str, Any]:
        """GET /v1/organizations/usage_report/messages."""
        width_name = one_param(params, "bucket_width") or "1d"
        if width_name not in WIDTHS:
            raise ApiError(400, "invalid_request_error", "bucket_width: must be 1d, 1h or 1m")
        default, maximum = USAGE_LIMITS[width_name]
        limit = limit_param(params, default, maximum)
        groups = group_param(params, ANTHROPIC_USAGE_GROUPS)
        filters: dict[int, set[Any]] = {}
        for name, idx in (("workspace_ids", 0), ("api_key_ids", 1), ("models", 2)):
            values = list_param(params, name)
            if values:
                filters[idx] = set(values)
        buckets, cursor = self._page(params, WIDTHS[width_name], limit)
        # group key order = result key order: api_key, workspace, model, tier, context, geo
        sel = [(1, "api_key_id" in groups), (0, "workspace_id" in groups)] + [
            (i, name in groups) for i, name in enumerate(ANTHROPIC_USAGE_GROUPS[2:], start=2)
        ]

        def keyfn(r: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(r[i] if on else None for i, on in sel)

        data = []
        for a, b in buckets:
            rows = rows_in(self.org, "anthropic", a, b)
            results = []
            for k, m in aggregate(rows, ANTHROPIC_NDIM, keyfn, filters):
                unc, w5, w1, read, out, web, _req = m
                if not (unc or w5 or w1 or read or out or web):
                    continue
                results.append(
                    {
                        "uncached_input_tokens": unc,
                        "cache_creation": {
                            "ephemeral_1h_input_tokens": w1,
                            "ephemeral_5m_input_tokens": w5,
                        },
                        "cache_read_input_tokens": read,
                        "output_tokens": out,
                        "server_tool_use": {"web_search_requests": web},
                        "api_key_id": k[0],
                        "workspace_id": k[1],
                        "model": k[2],
                        "service_tier": k[3],
                        "context_window": k[4],
                        "inference_geo": k[5],
                    }
                )
            data.append({"starting_at": rfc3339(a), "ending_at": rfc3339(b), "results": results})
        return {"data": data, "has_more": cursor is not None, "next_page": cursor}

    def cost_report(self, params: Params) -> dict[str, Any]:
        """GET /v1/organizations/cost_report (1d only; amounts are cents as strings)."""
        width_name = one_param(params, "bucket_width") or "1d"
        if width_name != "1d":
            raise ApiError(400, "invalid_request_error", "bucket_width: only 1d is supported")
        limit = limit_param(params, 7, 31)
        groups = group_param(params, ANTHROPIC_COST_GROUPS)
        by_ws, by_desc = "workspace_id" in groups, "description" in groups
        buckets, cursor = self._page(params, DAY, limit)
        data = []
        for a, b in buckets:
            acc: dict[tuple[Any, ...], Decimal] = {}
            day_data = self.org.day(unix_day(a))
            for line in day_data.anthropic_costs if day_data else ():
                ws, rest, cents = line[0], line[1:8], line[8]
                key = (ws if by_ws else None, *(rest if by_desc else (None,) * 7))
                acc[key] = acc.get(key, Decimal(0)) + cents
            results = [
                {
                    "amount": cents_str(acc[k]),
                    "currency": "USD",
                    "workspace_id": k[0],
                    "description": k[1],
                    "cost_type": k[2],
                    "model": k[3],
                    "token_type": k[4],
                    "service_tier": k[5],
                    "context_window": k[6],
                    "inference_geo": k[7],
                }
                for k in sorted(acc, key=sort_key)
                if acc[k]
            ]
            data.append({"starting_at": rfc3339(a), "ending_at": rfc3339(b), "results": results})
        return {"data": data, "has_more": cursor is not None, "next_page": cursor}

    def api_keys(self, params: Params) -> dict[str, Any]:
        """GET /v1/organizations/api_keys."""
        ws_filter = one_param(params, "workspace_id")
        items = []
        for k in self.org.anthropic_keys:
            if k.id is None or (ws_filter and k.workspace_id != ws_filter):
                continue
            items.append(
                {
                    "id": k.id,
                    "type": "api_key",
                    "name": k.name,
                    "workspace_id": k.workspace_id,
                    "created_at": rfc3339(k.created_at),
                    "created_by": {"id": "user_01SimulatorAdminUser0001", "type": "user"},
                    "expires_at": None,
                    "partial_key_hint": f"sk-ant-api03-{k.id[9:12]}...{k.id[-4:]}",
                    "status": "active",
                }
            )
        return list_page(items, params, 20, 1000, "after_id", openai=False)

    def workspaces(self, params: Params) -> dict[str, Any]:
        """GET /v1/organizations/workspaces (the default workspace is not listed)."""
        items = [
            {
                "id": w.id,
                "type": "workspace",
                "name": w.name,
                "created_at": rfc3339(w.created_at),
                "archived_at": None,
                "display_color": "#6C5BB9",
            }
            for w in self.org.workspaces
            if w.id is not None
        ]
        return list_page(items, params, 20, 1000, "after_id", openai=False)


# ---- HTTP plumbing ------------------------------------------------------------------------
class ClosingHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer whose `server_close` also closes the connections still open.

    A client that keeps its connection alive (dlt's and requests' sessions do) holds one
    handler thread blocked on reading it; plain `server_close` leaves those threads running
    after the server has stopped, in every process that starts a simulator or a test server
    (and a pool that forks then sees threads that are not its own)."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            still_open, self._open = list(self._open), set()
        for request in still_open:
            # the handler's blocked read returns, and its thread ends
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)


class SimHTTPServer(ClosingHTTPServer):
    """Threaded server carrying the simulator state the handler needs."""

    allow_reuse_address = True

    def __init__(self, config: SimConfig, org: SyntheticOrg, faults: Faults | None) -> None:
        super().__init__((config.host, config.port), SimHandler)
        self.config = config
        self.org = org
        self.faults = faults or Faults()
        self.faults.bind(self.serve_internally)
        self.openai = OpenAIApi(org, config)
        self.anthropic = AnthropicApi(org, config)
        self.cursor = cursor_api.CursorApi(config)
        self.request_count = 0
        self._count_lock = threading.Lock()

    def serve_internally(self, provider: str, path: str, params: Params) -> Response:
        """A 200 response to an authenticated request, bypassing the HTTP layer and faults."""
        handler = SimHandler.__new__(SimHandler)
        handler.server = self
        return (
            200,
            {"Content-Type": "application/json"},
            json_body(handler._route(provider, path, params)),
        )

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, reset) is expected under faults: no traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def next_request_number(self) -> int:
        """Count a request (tests assert on paging round-trips)."""
        with self._count_lock:
            self.request_count += 1
            return self.request_count


class SimHandler(BaseHTTPRequestHandler):
    """Routes a GET to the provider API and renders errors in that provider's shape."""

    server: SimHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        """Serve one request."""
        n = self.server.next_request_number()
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        if path.startswith("/cursor/"):
            self._cursor("GET", path)
            return
        params = parse_qs(parts.query, keep_blank_values=True)
        anthropic = path.startswith("/v1/organizations") or (
            not path.startswith("/v1/organization/") and "x-api-key" in self.headers
        )
        provider = "anthropic" if anthropic else "openai"
        request_id = (
            "req_" + hashlib.sha256(f"{self.server.config.seed}:{n}".encode()).hexdigest()[:24]
        )
        try:
            response = self._dispatch(provider, path, params, request_id)
        except ApiError as err:
            response = self._error(provider, err, request_id)
        except Exception as exc:  # a simulator bug: still answer like the provider would
            response = self._error(provider, ApiError(500, "api_error", repr(exc)), request_id)
        response = self.server.faults.after(provider, path, response)
        self._send(response)

    def do_POST(self) -> None:
        """Serve one POST (only the Cursor Admin API, under `/cursor`, uses POST)."""
        self.server.next_request_number()
        path = urlsplit(self.path).path.rstrip("/")
        if path.startswith("/cursor/"):
            self._cursor("POST", path)
            return
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send((404, {"Content-Type": "application/json"}, b'{"error":"Not found"}'))

    def _cursor(self, method: str, path: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sub = path.removeprefix("/cursor")
        response = self.server.faults.before("cursor", sub, {})
        if response is None:
            response = self.server.cursor.handle(
                method, sub, self.headers.get("Authorization"), raw
            )
        self._send(self.server.faults.after("cursor", sub, response))

    def _dispatch(self, provider: str, path: str, params: Params, request_id: str) -> Response:
        cfg = self.server.config
        if provider == "openai":
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {cfg.openai_key}":
                raise ApiError(
                    401,
                    "invalid_request_error",
                    "Incorrect API key provided. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                )
        else:
            if self.headers.get("x-api-key") != cfg.anthropic_key:
                raise ApiError(401, "authentication_error", "invalid x-api-key")
            if not self.headers.get("anthropic-version"):
                raise ApiError(
                    400, "invalid_request_error", "anthropic-version: header is required"
                )
        fault = self.server.faults.before(provider, path, params)
        if fault is not None:
            return fault
        body = self._route(provider, path, params)
        headers = {"Content-Type": "application/json"}
        if provider == "anthropic":
            headers["request-id"] = request_id
        return 200, headers, json_body(body)

    def _route(self, provider: str, path: str, params: Params) -> dict[str, Any]:
        oa, an = self.server.openai, self.server.anthropic
        if provider == "openai":
            if path == "/v1/organization/usage/completions":
                return oa.usage_completions(params)
            if path == "/v1/organization/costs":
                return oa.costs(params)
            extra = path.removeprefix("/v1/organization/usage/")
            if extra in openai_extras.ENDPOINTS:
                return oa.usage_extra(extra, params)
            if path == "/v1/organization/projects":
                return oa.projects(params)
            segs = path.split("/")
            if (
                len(segs) == 6
                and segs[:4] == ["", "v1", "organization", "projects"]
                and segs[5] == "api_keys"
            ):
                return oa.project_keys(segs[4], params)
        else:
            routes = {
                "/v1/organizations/usage_report/messages": an.usage_messages,
                "/v1/organizations/cost_report": an.cost_report,
                "/v1/organizations/api_keys": an.api_keys,
                "/v1/organizations/workspaces": an.workspaces,
            }
            if path == "/v1/organizations/usage_report/claude_code":
                from ingestion.simulator.claude_code import report_for

                return report_for(self.server.org).usage_report(params)
            if path in routes:
                return routes[path](params)
        raise ApiError(
            404,
            "not_found_error" if provider == "anthropic" else "invalid_request_error",
            f"Unknown path: {path}",
        )

    @staticmethod
    def _error(provider: str, err: ApiError, request_id: str) -> Response:
        if provider == "openai":
            body: dict[str, Any] = {
                "error": {
                    "message": err.message,
                    "type": err.kind,
                    "param": err.param,
                    "code": err.code,
                }
            }
            return err.status, {"Content-Type": "application/json"}, json_body(body)
        body = {
            "type": "error",
            "error": {"type": err.kind, "message": err.message},
            "request_id": request_id,
        }
        headers = {"Content-Type": "application/json", "request-id": request_id}
        return err.status, headers, json_body(body)

    def _send(self, response: Response) -> None:
        status, headers, body = response
        if status == RESET[0]:
            # SO_LINGER 0: close() sends a TCP RST, the client sees "connection reset by peer"
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
