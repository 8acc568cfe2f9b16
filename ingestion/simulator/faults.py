"""Fault modes the simulator can switch on for a run: what real provider APIs do to a pipeline.

`FaultPlan` is a `Faults` (server.py) that misbehaves on purpose, per mode:

| mode | what the client sees |
|---|---|
| `rate_limit` | 429 with `Retry-After: 1` on the first try of every request |
| `server_error` | 500, then 503, on the first two tries of every request |
| `slow` | the first try of every request answers after `slow_seconds` (past the client timeout) |
| `connection_reset` | the first try of every request: the connection is reset, no response |
| `truncated_json` | the first try of every request: 200 with the JSON body cut in half |
| `page_repeat` | each paged endpoint's second page names itself as `next_page` once |
| `page_skip` | each paged endpoint's first `next_page` points one page too far |
| `schema_new_field` | every bucket and result carries fields the client has never seen |
| `schema_string_numbers` | numbers (tokens, requests, amounts) arrive as JSON strings |
| `schema_missing_optional` | optional fields (service tier, quantity, geo …) are absent |
| `empty_bucket` | the last day of every usage/cost response comes back as an empty bucket |
| `negative_credits` | each cost response gains a credit (OpenAI) or refund (Anthropic) line < 0 |
| `server_error_always` | 500 on every request to the cost endpoints (past any retry budget) |

"First try of every request" means the first time a given path + query is seen, so a retry of
the same request succeeds. Restatement is not a mode: `Simulator.restate` changes the
organisation itself, between two runs. Every fault served is counted in `FaultPlan.served`.

`negative_credits` changes what the provider bills: the credits it adds are in `credits`
(provider, day) → dollars, to add to the simulator's ground truth.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from ingestion.simulator.server import RESET, Faults, Params, Response

MODES = (
    "rate_limit",
    "server_error",
    "slow",
    "connection_reset",
    "truncated_json",
    "page_repeat",
    "page_skip",
    "schema_new_field",
    "schema_string_numbers",
    "schema_missing_optional",
    "empty_bucket",
    "negative_credits",
    "server_error_always",
)
# endpoints whose responses are time buckets (the billing data itself)
BUCKET_PATHS = {
    "/v1/organization/usage/completions",
    "/v1/organization/costs",
    "/v1/organizations/usage_report/messages",
    "/v1/organizations/cost_report",
}
COST_PATHS = {"/v1/organization/costs", "/v1/organizations/cost_report"}
OPTIONAL_FIELDS = {
    "openai": ("service_tier", "batch", "quantity", "input_audio_tokens", "output_audio_tokens"),
    "anthropic": ("inference_geo", "context_window", "service_tier", "cost_type"),
}
STRING_NUMBER_FIELDS = {
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    "num_model_requests",
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "quantity",
    "value",
}


def parse_modes(text: str) -> tuple[str, ...]:
    """Modes from a comma-separated list (env `AISPEND_SIMULATOR_FAULTS`); unknown names raise."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(
            f"AISPEND_SIMULATOR_FAULTS: unknown fault mode(s) {', '.join(unknown)}; "
            f"known: {', '.join(MODES)}"
        )
    return modes


class FaultPlan(Faults):
    """Switchable faults; `enabled = False` turns them all off (the recovery run)."""

    def __init__(
        self,
        modes: Iterable[str],
        *,
        page_limit: int | None = None,
        slow_seconds: float = 3.0,
        providers: Iterable[str] = ("openai", "anthropic"),
    ) -> None:
        self.modes = parse_modes(",".join(modes))
        self.page_limit = page_limit
        self.slow_seconds = slow_seconds
        self.providers = set(providers)
        self.enabled = True
        self.served: Counter[str] = Counter()
        self.credits: dict[tuple[str, str], Decimal] = {}
        self.requests: list[tuple[str, str, Params]] = []
        self._seen: Counter[str] = Counter()
        self._paged: set[str] = set()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._fetch: Callable[[str, str, Params], Response] | None = None

    def bind(self, fetch: Callable[[str, str, Params], Response]) -> None:
        """The server hands over a way to serve a request internally (for `page_skip`)."""
        self._fetch = fetch

    # ---- hooks --------------------------------------------------------------------------
    def before(self, provider: str, path: str, params: Params) -> Response | None:
        self._local.params = params
        with self._lock:
            self.requests.append((provider, path, {k: list(v) for k, v in params.items()}))
        if provider not in self.providers:
            return None
        if self.page_limit and path in BUCKET_PATHS:
            params["limit"] = [str(self.page_limit)]
        if not self.enabled:
            return None
        key = f"{provider} {path}?{urlencode(sorted(params.items()), doseq=True)}"
        with self._lock:
            self._seen[key] += 1
            tries = self._seen[key]
        if "server_error_always" in self.modes and path in COST_PATHS:
            return self._count("server_error_always", _error(provider, 500, "api_error"))
        if "rate_limit" in self.modes and tries == 1:
            code, headers, body = _error(provider, 429, "rate_limit_error")
            return self._count("rate_limit", (code, {**headers, "Retry-After": "1"}, body))
        if "server_error" in self.modes and tries <= 2:
            status = 500 if tries == 1 else 503
            return self._count("server_error", _error(provider, status, "api_error"))
        if "connection_reset" in self.modes and tries == 1:
            return self._count("connection_reset", RESET)
        if "slow" in self.modes and tries == 1:
            self._count("slow", None)
            time.sleep(self.slow_seconds)
        self._local.tries = tries
        return None

    def after(self, provider: str, path: str, response: Response) -> Response:
        if not self.enabled or provider not in self.providers or response[0] != 200:
            return response
        params: Params = getattr(self._local, "params", {})
        tries: int = getattr(self._local, "tries", 0)
        if "truncated_json" in self.modes and tries == 1:
            status, headers, body = response
            return self._count("truncated_json", (status, headers, body[: len(body) // 2]))
        if path not in BUCKET_PATHS:
            return response
        body = json.loads(response[2])
        changed = False
        if "page_repeat" in self.modes or "page_skip" in self.modes:
            changed |= self._paging(provider, path, params, body)
        if "empty_bucket" in self.modes and not body.get("has_more") and body.get("data"):
            last = body["data"][-1]
            if last.get("results"):
                last["results"] = []
                changed = bool(self._count("empty_bucket", True))
        if "negative_credits" in self.modes and path in COST_PATHS:
            changed |= self._credit(provider, body)
        for bucket in body.get("data", []):
            for result in bucket.get("results", []):
                changed |= self._drift(provider, bucket, result)
        if not changed:
            return response
        return response[0], response[1], json.dumps(body).encode()

    # ---- modes --------------------------------------------------------------------------
    def _count(self, mode: str, value: Any) -> Any:
        with self._lock:
            self.served[mode] += 1
        return value

    def _paging(self, provider: str, path: str, params: Params, body: dict[str, Any]) -> bool:
        token = (params.get("page") or [None])[-1]
        nxt = body.get("next_page")
        endpoint = f"{provider} {path} {params.get('starting_at') or params.get('start_time')}"
        if "page_repeat" in self.modes and token and nxt and endpoint not in self._paged:
            self._paged.add(endpoint)
            body["next_page"] = token  # "the next page is this one": the client reads it twice
            return bool(self._count("page_repeat", True))
        if "page_skip" in self.modes and not token and nxt and endpoint not in self._paged:
            assert self._fetch is not None, "page_skip needs the server bound (Faults.bind)"
            self._paged.add(endpoint)
            skipped = json.loads(self._fetch(provider, path, {**params, "page": [nxt]})[2])
            body["next_page"] = skipped.get("next_page")
            body["has_more"] = bool(skipped.get("next_page"))
            return bool(self._count("page_skip", True))
        return False

    def _credit(self, provider: str, body: dict[str, Any]) -> bool:
        buckets = [b for b in body.get("data", []) if b.get("results")]
        if not buckets:
            return False
        bucket = buckets[len(buckets) // 2]
        template = bucket["results"][0]
        if provider == "openai":
            dollars = Decimal("-7.25")
            day = datetime.fromtimestamp(bucket["start_time"], tz=UTC).date().isoformat()
            bucket["results"].append(
                {
                    "object": "organization.costs.result",
                    "amount": {"value": float(dollars), "currency": "usd"},
                    "line_item": "Credit: service outage refund",
                    "project_id": template.get("project_id"),
                    "api_key_id": None,
                    "quantity": None,
                }
            )
        else:
            dollars = Decimal("-3.1415")
            day = bucket["starting_at"][:10]
            bucket["results"].append(
                {
                    "currency": "USD",
                    "amount": str(dollars * 100),
                    "workspace_id": template.get("workspace_id"),
                    "description": "Promotional Credit",
                    "cost_type": None,
                    "context_window": None,
                    "model": None,
                    "service_tier": None,
                    "token_type": None,
                    "inference_geo": None,
                }
            )
        with self._lock:
            key = (provider, day)
            self.credits[key] = self.credits.get(key, Decimal(0)) + dollars
        return bool(self._count("negative_credits", True))

    def _drift(self, provider: str, bucket: dict[str, Any], result: dict[str, Any]) -> bool:
        changed = False
        if "schema_new_field" in self.modes:
            bucket["region_hint"] = "us-east"
            result["request_priority"] = "standard"
            result["new_metrics"] = {"reasoning_effort": "medium"}
            changed = bool(self._count("schema_new_field", True))
        if "schema_string_numbers" in self.modes:
            for name, value in list(result.items()):
                if name in STRING_NUMBER_FIELDS and isinstance(value, int | float):
                    result[name] = str(value)
                    changed = True
                if name == "amount" and isinstance(value, dict):
                    value["value"] = str(value["value"])
                    changed = True
            if changed:
                self._count("schema_string_numbers", True)
        if "schema_missing_optional" in self.modes:
            for name in OPTIONAL_FIELDS[provider]:
                if result.pop(name, "<absent>") != "<absent>":
                    changed = bool(self._count("schema_missing_optional", True))
        return changed


def _error(provider: str, status: int, kind: str) -> Response:
    message = {
        429: "Rate limit reached for requests",
        500: "The server had an error while processing your request.",
        503: "The engine is currently overloaded, please try again later.",
    }[status]
    if provider == "openai":
        body: dict[str, Any] = {
            "error": {"message": message, "type": kind, "param": None, "code": None}
        }
    else:
        body = {"type": "error", "error": {"type": kind, "message": message}}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()
