"""An independent stand-in for the Cursor Admin API and Anthropic's Claude Code report.

Hand-written payloads, sharing no code with `ingestion.simulator`. Known totals (by hand):

Cursor   2026-03-01: chargedCents 4.3126 + 0 + 1.25 + 1.25 (an exact duplicate) = 6.8126 cents
         = 0.068126 USD; 4 events; input 2210 + 1000 + 1000 = 4210; cache read 18800 + 500 + 500
         = 19800; cache write 4100; output 640 + 100 + 100 = 840.
         2026-03-02: 0.0123 cents = 0.000123 USD; 1 event; input 10, output 5.
Claude Code 2026-03-01: dana (2 models, 3 sessions, 1 PR, est. 12.5 + 3.25 cents) and the api
         actor "research-key-1" (1 model, est. 7.0 cents); 2026-03-02: lee (1 model, 1.5 cents).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from ingestion.simulator.server import ClosingHTTPServer

CURSOR_KEY = "key_handwritten_cursor"
ANTHROPIC_KEY = "sk-ant-admin01-handwritten-devtools"
DAY1_MS = 1772323200000  # 2026-03-01T00:00:00Z
DAY2_MS = 1772409600000  # 2026-03-02T00:00:00Z

_E3 = {
    "timestamp": str(DAY1_MS + 30_000_000),
    "userEmail": "dana@example.com",
    "conversationId": "conv-2",
    "model": "gpt-5",
    "kind": "Usage-based",
    "maxMode": False,
    "requestsCosts": 1,
    "isTokenBasedCall": True,
    "isChargeable": True,
    "isHeadless": False,
    "tokenUsage": {
        "inputTokens": 1000,
        "outputTokens": 100,
        "cacheWriteTokens": 0,
        "cacheReadTokens": 500,
        "totalCents": 1.0,
    },
    "chargedCents": 1.25,
    "cursorTokenFee": 0.25,
}


def cursor_events() -> list[dict[str, Any]]:
    """Newest first, like the API."""
    return [
        {
            "timestamp": str(DAY2_MS + 1_000),
            "userEmail": "lee@example.com",
            "conversationId": "conv-3",
            "model": "gpt-5",
            "kind": "Usage-based",
            "maxMode": False,
            "requestsCosts": 1,
            "isTokenBasedCall": True,
            "isChargeable": True,
            "isHeadless": False,
            "tokenUsage": {
                "inputTokens": 10,
                "outputTokens": 5,
                "cacheWriteTokens": 0,
                "cacheReadTokens": 0,
                "totalCents": 0.0123,
            },
            "chargedCents": 0.0123,
        },
        dict(_E3),
        dict(_E3),
        {
            "timestamp": str(DAY1_MS + 20_000_000),
            "userEmail": "lee@example.com",
            "model": "default",
            "kind": "Included in Business",
            "maxMode": False,
            "requestsCosts": 1,
            "isTokenBasedCall": False,
            "isChargeable": False,
            "isHeadless": False,
            "chargedCents": 0,
        },
        {
            "timestamp": str(DAY1_MS + 10_000_000),
            "userEmail": "dana@example.com",
            "conversationId": "conv-1",
            "model": "claude-4.5-sonnet",
            "kind": "Usage-based",
            "maxMode": False,
            "requestsCosts": 2,
            "isTokenBasedCall": True,
            "isChargeable": True,
            "isHeadless": False,
            "tokenUsage": {
                "inputTokens": 2210,
                "outputTokens": 640,
                "cacheWriteTokens": 4100,
                "cacheReadTokens": 18800,
                "totalCents": 3.9126,
            },
            "chargedCents": 4.3126,
            "cursorTokenFee": 0.4,
        },
    ]


def _cc_record(day: str, actor: dict[str, Any], ctype: str, models: list[tuple]) -> dict:
    return {
        "date": f"{day}T00:00:00Z",
        "actor": actor,
        "organization_id": "org-handwritten",
        "customer_type": ctype,
        "subscription_type": "team" if ctype == "subscription" else None,
        "terminal_type": "vscode",
        "is_remote": False,
        "core_metrics": {
            "num_sessions": 3,
            "lines_of_code": {"added": 120, "removed": 20},
            "commits_by_claude_code": 2,
            "pull_requests_by_claude_code": 1,
        },
        "tool_actions": {"edit_tool": {"accepted": 5, "rejected": 1}},
        "model_breakdown": [
            {
                "model": model,
                "tokens": {"input": i, "output": o, "cache_read": r, "cache_creation": c},
                "estimated_cost": {"amount": cents, "currency": "USD"},
            }
            for model, i, o, r, c, cents in models
        ],
    }


def claude_code_records() -> dict[str, list[dict[str, Any]]]:
    return {
        "2026-03-01": [
            _cc_record(
                "2026-03-01",
                {"type": "user_actor", "email_address": "dana@example.com"},
                "subscription",
                [
                    ("claude-sonnet-4-20250514", 100, 50, 1000, 200, 12.5),
                    ("claude-opus-4-1-20250805", 10, 5, 0, 0, 3.25),
                ],
            ),
            _cc_record(
                "2026-03-01",
                {"type": "api_actor", "api_key_name": "research-key-1"},
                "api",
                [("claude-sonnet-4-20250514", 400, 40, 0, 0, 7.0)],
            ),
        ],
        "2026-03-02": [
            _cc_record(
                "2026-03-02",
                {"type": "user_actor", "email_address": "lee@example.com"},
                "subscription",
                [("claude-sonnet-4-20250514", 20, 10, 0, 0, 1.5)],
            ),
        ],
    }


API_KEYS = [
    {"id": "apikey_01", "type": "api_key", "name": "research-key-1", "workspace_id": "wrk_1"},
    {"id": "apikey_02", "type": "api_key", "name": "agents-key-1", "workspace_id": None},
]
WORKSPACES = [{"id": "wrk_1", "type": "workspace", "name": "Research", "created_at": "x"}]


class FakeDevtoolsAPI:
    """Serves the payloads above; `events` can be replaced between runs (a restated day)."""

    def __init__(self, cc_page_size: int = 1) -> None:
        self.events = cursor_events()
        self.cc_records = claude_code_records()
        self.cc_page_size = cc_page_size
        self.requests: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _record(self, body: Any) -> urlparse:
                url = urlparse(self.path)
                api.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "body": body,
                        "headers": dict(self.headers.items()),
                    }
                )
                return url

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                url = self._record(body)
                good = "Basic " + base64.b64encode(f"{CURSOR_KEY}:".encode()).decode()
                if self.headers.get("Authorization") != good:
                    return self._send(401, {"error": "Unauthorized"})
                if url.path == "/teams/filtered-usage-events":
                    evs = [
                        e
                        for e in api.events
                        if body["startDate"] <= int(e["timestamp"]) <= body["endDate"]
                    ]
                    page, size = body.get("page", 1), body.get("pageSize", 100)
                    pages = -(-len(evs) // size)
                    return self._send(
                        200,
                        {
                            "totalUsageEventsCount": len(evs),
                            "pagination": {
                                "numPages": pages,
                                "currentPage": page,
                                "pageSize": size,
                                "hasNextPage": page < pages,
                                "hasPreviousPage": page > 1,
                            },
                            "usageEvents": evs[(page - 1) * size : page * size],
                            "period": {"startDate": body["startDate"], "endDate": body["endDate"]},
                        },
                    )
                if url.path == "/teams/daily-usage-data":
                    rows = [
                        {
                            "userId": 1,
                            "day": "2026-03-01",
                            "date": DAY1_MS,
                            "email": "dana@example.com",
                            "isActive": True,
                            "totalLinesAdded": 50,
                            "totalLinesDeleted": 5,
                            "agentRequests": 3,
                            "mostUsedModel": "gpt-5",
                        },
                        {
                            "userId": 2,
                            "day": "2026-03-02",
                            "date": DAY2_MS,
                            "email": "lee@example.com",
                            "isActive": True,
                            "totalLinesAdded": 7,
                            "totalLinesDeleted": 1,
                            "agentRequests": 1,
                            "mostUsedModel": None,
                        },
                    ]
                    rows = [r for r in rows if body["startDate"] <= r["date"] <= body["endDate"]]
                    return self._send(200, {"data": rows, "period": {}})
                return self._send(404, {"error": "not found"})

            def do_GET(self) -> None:
                url = self._record(None)
                query = parse_qs(url.query)
                if url.path == "/teams/members":
                    good = "Basic " + base64.b64encode(f"{CURSOR_KEY}:".encode()).decode()
                    if self.headers.get("Authorization") != good:
                        return self._send(401, {"error": "Unauthorized"})
                    return self._send(
                        200,
                        {
                            "teamMembers": [
                                {
                                    "id": "user_a",
                                    "name": "Dana",
                                    "email": "dana@example.com",
                                    "role": "owner",
                                    "isRemoved": False,
                                },
                                {
                                    "id": "user_b",
                                    "name": "Lee",
                                    "email": "lee@example.com",
                                    "role": "member",
                                    "isRemoved": False,
                                },
                            ]
                        },
                    )
                if self.headers.get("x-api-key") != ANTHROPIC_KEY:
                    return self._send(401, {"type": "error", "error": {"type": "auth"}})
                if url.path == "/v1/organizations/usage_report/claude_code":
                    day = query["starting_at"][0]
                    recs = api.cc_records.get(day, [])
                    offset = int(query.get("page", ["0"])[0])
                    size = min(int(query.get("limit", ["20"])[0]), api.cc_page_size)
                    nxt = offset + size
                    return self._send(
                        200,
                        {
                            "data": recs[offset:nxt],
                            "has_more": nxt < len(recs),
                            "next_page": str(nxt) if nxt < len(recs) else None,
                        },
                    )
                if url.path in ("/v1/organizations/api_keys", "/v1/organizations/workspaces"):
                    items = API_KEYS if url.path.endswith("api_keys") else WORKSPACES
                    after = query.get("after_id", [None])[0]
                    ids = [i["id"] for i in items]
                    lo = ids.index(after) + 1 if after else 0
                    page = items[lo : lo + 1]
                    return self._send(
                        200,
                        {
                            "data": copy.deepcopy(page),
                            "first_id": page[0]["id"] if page else None,
                            "last_id": page[-1]["id"] if page else None,
                            "has_more": lo + 1 < len(items),
                        },
                    )
                return self._send(404, {"error": "not found"})

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

    def __enter__(self) -> FakeDevtoolsAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
