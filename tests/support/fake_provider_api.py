"""An independent stand-in for the OpenAI and Anthropic admin APIs serving hand-written payloads.

It shares no code with `ingestion.simulator`: the tests that use it check that the pipeline
reads whatever server the env vars point at, with totals the test knows by hand.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from ingestion.simulator.server import ClosingHTTPServer

OPENAI_KEY = "sk-admin-handwritten-test-key"
ANTHROPIC_KEY = "sk-ant-admin01-handwritten-test-key"
DAY1 = date(2026, 3, 1)
DAY2 = date(2026, 3, 2)


def unix(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp())


def rfc(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _usage(**fields: Any) -> dict[str, Any]:
    row = {
        "object": "organization.usage.completions.result",
        "input_tokens": 0,
        "input_cached_tokens": 0,
        "output_tokens": 0,
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": 0,
        "project_id": None,
        "user_id": None,
        "api_key_id": None,
        "model": None,
        "batch": None,
    }
    row.update(fields)
    return row


def _cost(value: float, line_item: str | None, project: str, key: str | None) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": "usd"},
        "line_item": line_item,
        "project_id": project,
        "api_key_id": key,
        "quantity": None,
        "quantity_unit": None,
    }


def default_payloads() -> dict[str, Any]:
    """Two days of data. Known totals (also asserted by the tests, computed by hand):

    OpenAI   day 1 cost 0.1845 + 0.03 + 1.25 + 0.5 = 1.9645 USD; day 2 0.0123456789 USD.
             day 1 input 1000 + 2000 = 3000 (cached 200), output 500 + 100 = 600, 15 requests.
             day 2 input 300 (cached 100), output 50, 3 requests (Dec-2024 field set).
    Anthropic day 1 cost "144.6339" + "14.0" + "7.5" cents = 1.661339 USD; day 2 nothing.
             day 1 input 1000 + 100 + 400 + 500 = 2000 (cached 400, writes 100), output 250.
    """
    d1, d2 = unix(DAY1), unix(DAY2)
    day = 86_400
    return {
        "openai_usage_pages": [
            {
                "object": "page",
                "data": [
                    {
                        "object": "bucket",
                        "start_time": d1,
                        "end_time": d1 + day,
                        "results": [
                            _usage(
                                input_tokens=1000,
                                input_cached_tokens=200,
                                input_cache_write_tokens=0,
                                input_uncached_tokens=800,
                                output_tokens=500,
                                num_model_requests=10,
                                project_id="proj_a",
                                api_key_id="key_a",
                                model="gpt-4o-mini-2024-07-18",
                                batch=False,
                                service_tier="default",
                            ),
                            _usage(
                                input_tokens=2000,
                                output_tokens=100,
                                num_model_requests=5,
                                project_id="proj_a",
                                api_key_id="key_b",
                                model="gpt-4o-2024-08-06",
                                batch=False,
                                service_tier="default",
                            ),
                        ],
                    }
                ],
                "has_more": True,
                "next_page": "page_two",
            },
            {
                "object": "page",
                "data": [
                    {
                        "object": "bucket",
                        "start_time": d2,
                        "end_time": d2 + day,
                        "results": [
                            _usage(
                                input_tokens=300,
                                input_cached_tokens=100,
                                output_tokens=50,
                                num_model_requests=3,
                                project_id="proj_b",
                                api_key_id="key_c",
                                model="gpt-4o-mini-2024-07-18",
                                batch=False,
                            )
                        ],
                    },
                    {
                        "object": "bucket",
                        "start_time": d2 + day,
                        "end_time": d2 + 2 * day,
                        "results": [],
                    },
                ],
                "has_more": False,
                "next_page": None,
            },
        ],
        "openai_cost_pages": [
            {
                "object": "page",
                "data": [
                    {
                        "object": "bucket",
                        "start_time": d1,
                        "end_time": d1 + day,
                        "results": [
                            _cost(0.1845, "gpt-4o-mini-2024-07-18, input", "proj_a", "key_a"),
                            _cost(0.03, "gpt-4o-mini-2024-07-18, cached input", "proj_a", "key_a"),
                            _cost(1.25, "gpt-4o-2024-08-06, output", "proj_a", "key_b"),
                            _cost(0.5, "Web search", "proj_a", None),
                        ],
                    },
                    {
                        "object": "bucket",
                        "start_time": d2,
                        "end_time": d2 + day,
                        "results": [
                            _cost(0.0123456789, "gpt-4o-mini-2024-07-18, output", "proj_b", "key_c")
                        ],
                    },
                ],
                "has_more": False,
                "next_page": "",
            }
        ],
        "anthropic_usage_pages": [
            {
                "data": [
                    {
                        "starting_at": rfc(DAY1),
                        "ending_at": rfc(DAY2),
                        "results": [
                            {
                                "uncached_input_tokens": 1000,
                                "cache_creation": {
                                    "ephemeral_1h_input_tokens": 0,
                                    "ephemeral_5m_input_tokens": 100,
                                },
                                "cache_read_input_tokens": 400,
                                "output_tokens": 200,
                                "server_tool_use": {"web_search_requests": 2},
                                "api_key_id": "apikey_1",
                                "workspace_id": "wrkspc_x",
                                "model": "claude-sonnet-4-20250514",
                                "service_tier": "standard",
                                "context_window": "0-200k",
                                "inference_geo": "global",
                            },
                            {
                                "uncached_input_tokens": 500,
                                "cache_creation": {
                                    "ephemeral_1h_input_tokens": 0,
                                    "ephemeral_5m_input_tokens": 0,
                                },
                                "cache_read_input_tokens": 0,
                                "output_tokens": 50,
                                "server_tool_use": {"web_search_requests": 0},
                                "api_key_id": "apikey_2",
                                "workspace_id": None,
                                "model": "claude-sonnet-4-20250514",
                                "service_tier": "standard",
                                "context_window": "0-200k",
                                "inference_geo": "global",
                            },
                        ],
                    }
                ],
                "has_more": True,
                "next_page": "page_MjAyNi0wMy0wMg==",
            },
            {
                "data": [
                    {"starting_at": rfc(DAY2), "ending_at": rfc(date(2026, 3, 3)), "results": []}
                ],
                "has_more": False,
                "next_page": None,
            },
        ],
        "anthropic_cost_pages": [
            {
                "data": [
                    {
                        "starting_at": rfc(DAY1),
                        "ending_at": rfc(DAY2),
                        "results": [
                            {
                                "amount": "144.6339",
                                "currency": "USD",
                                "workspace_id": "wrkspc_x",
                                "description": "Claude Sonnet 4 Usage - Input Tokens",
                                "cost_type": "tokens",
                                "model": "claude-sonnet-4-20250514",
                                "token_type": "uncached_input_tokens",
                                "service_tier": "standard",
                                "context_window": "0-200k",
                                "inference_geo": "global",
                            },
                            {
                                "amount": "14.0",
                                "currency": "USD",
                                "workspace_id": None,
                                "description": "Web Search Usage",
                                "cost_type": "web_search",
                                "model": None,
                                "token_type": None,
                                "service_tier": None,
                                "context_window": None,
                                "inference_geo": None,
                            },
                            {
                                "amount": "7.5",
                                "currency": "USD",
                                "workspace_id": "wrkspc_x",
                                "description": "Claude Sonnet 4 Usage - Output Tokens",
                                "cost_type": "tokens",
                                "model": "claude-sonnet-4-20250514",
                                "token_type": "output_tokens",
                                "service_tier": "standard",
                                "context_window": "0-200k",
                                "inference_geo": "global",
                            },
                        ],
                    },
                    {"starting_at": rfc(DAY2), "ending_at": rfc(date(2026, 3, 3)), "results": []},
                ],
                "has_more": False,
                "next_page": None,
            }
        ],
    }


def tile(page: dict[str, Any], query: dict[str, list[str]], first: bool) -> dict[str, Any]:
    """The page as a real bucket endpoint sends it: only buckets inside the requested range,
    and an empty bucket for every requested day without data (before the first bucket on the
    first page, after the last one on the last page)."""
    if "start_time" in query:
        lo, hi = int(query["start_time"][0]), int(query["end_time"][0])
        fields: tuple[str, str] = ("start_time", "end_time")

        def empty(t: int) -> dict[str, Any]:
            return {"object": "bucket", "start_time": t, "end_time": t + 86_400, "results": []}

        def at(value: Any) -> int:
            return int(value)
    elif "starting_at" in query:
        lo = _from_rfc(query["starting_at"][0])
        hi = _from_rfc(query["ending_at"][0])
        fields = ("starting_at", "ending_at")

        def empty(t: int) -> dict[str, Any]:
            return {"starting_at": _to_rfc(t), "ending_at": _to_rfc(t + 86_400), "results": []}

        at = _from_rfc
    else:
        return page
    buckets = [b for b in page["data"] if lo <= at(b[fields[0]]) < hi]
    if first:
        until = at(buckets[0][fields[0]]) if buckets else hi
        buckets = [empty(t) for t in range(lo, until, 86_400)] + buckets
    if not page.get("has_more"):
        since = at(buckets[-1][fields[1]]) if buckets else lo
        buckets += [empty(t) for t in range(since, hi, 86_400)]
    return {**page, "data": buckets}


def _from_rfc(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _to_rfc(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeProviderAPI:
    """Serve `payloads` on 127.0.0.1; record every request (path, query, auth headers)."""

    def __init__(self, payloads: dict[str, Any] | None = None) -> None:
        self.payloads = payloads or default_payloads()
        self.requests: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                api.requests.append(
                    {"path": url.path, "query": query, "headers": dict(self.headers.items())}
                )
                routes = {
                    "/v1/organization/usage/completions": ("openai", "openai_usage_pages"),
                    "/v1/organization/costs": ("openai", "openai_cost_pages"),
                    "/v1/organizations/usage_report/messages": (
                        "anthropic",
                        "anthropic_usage_pages",
                    ),
                    "/v1/organizations/cost_report": ("anthropic", "anthropic_cost_pages"),
                }
                if url.path.startswith("/v1/organization/usage/") and url.path not in routes:
                    # the other usage endpoints (embeddings, images, ...): an organisation
                    # that used none of them gets empty buckets
                    empty = {"object": "page", "data": [], "has_more": False, "next_page": None}
                    return self._send(200, tile(empty, query, first=True))
                if url.path.startswith("/v1/organizations/") and url.path not in routes:
                    # Claude Code report, key and workspace lists: none in this organisation
                    empty = {"data": [], "has_more": False, "next_page": None}
                    return self._send(200, {**empty, "first_id": None, "last_id": None})
                if url.path not in routes:
                    return self._send(404, {"error": {"message": "not found"}})
                provider, key = routes[url.path]
                if provider == "openai":
                    if self.headers.get("Authorization") != f"Bearer {OPENAI_KEY}":
                        return self._send(401, {"error": {"message": "bad key"}})
                elif self.headers.get("x-api-key") != ANTHROPIC_KEY or not self.headers.get(
                    "anthropic-version"
                ):
                    return self._send(401, {"type": "error", "error": {"type": "auth"}})
                pages = api.payloads[key]
                index = 1 if query.get("page") else 0
                page = pages[min(index, len(pages) - 1)]
                return self._send(200, tile(page, query, first=index == 0))

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ClosingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeProviderAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
