"""Anthropic Claude Code usage report stand-in: `GET /v1/organizations/usage_report/claude_code`.

Shape per provider-formats.md section 2.4: `starting_at` is one UTC day `YYYY-MM-DD`, `limit`
(default 20, max 1000) and an opaque `page` cursor; records carry an actor, core metrics, tool
actions and a per-model token breakdown with an estimated cost in CENTS (a JSON number).

Consistency with the Messages usage report: `api` records are Claude Code running on one or two
of the organisation's existing API keys ("claude-code" keys). Their tokens are a share of what
those keys already used that day (standard tier, 0-200k context), so they are already inside the
simulated Anthropic usage and cost and must not be billed twice. `subscription` records are seat
users (Claude Team/Max) whose usage is not on the API bill.
"""

from __future__ import annotations

import random
import threading
import uuid
import weakref
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ingestion.simulator.cursor_api import DEVELOPERS
from ingestion.simulator.org import ANTHROPIC_MODELS, HAIKU, OPUS, SONNET, SyntheticOrg
from ingestion.simulator.server import (
    ApiError,
    Params,
    decode_cursor,
    encode_cursor,
    limit_param,
    one_param,
)

MILLION = Decimal(1_000_000)
HUNDRED = Decimal(100)
FOUR_DP = Decimal("1e-4")
SEAT_USERS = 8
TERMINALS = ("vscode", "iTerm.app", "cursor", "ghostty", "Apple_Terminal")
# token class -> price class of the simulator's price book
PRICE_CLASS = {
    "input": "input",
    "output": "output",
    "cache_read": "cached_input",
    "cache_creation": "cache_write_5m",
}


@dataclass(frozen=True)
class ApiActorKey:
    """An existing Anthropic key of the organisation that Claude Code runs on."""

    id: str
    name: str
    workspace_id: str | None


class ClaudeCodeReport:
    """Deterministic Claude Code records per day for one SyntheticOrg."""

    def __init__(self, org: SyntheticOrg) -> None:
        self.org = org
        rng = random.Random(f"{org.seed}:claude_code:org")
        keys = [k for k in org.anthropic_keys if k.id is not None]
        preferred = [k for k in keys if SONNET in k.models] or keys
        picked = rng.sample(preferred, min(2, len(preferred)))
        self.api_keys = tuple(
            ApiActorKey(k.id, k.name, k.workspace_id) for k in picked if k.id is not None
        )
        self.organization_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.seats = tuple(
            (
                f"{handle}@example.com",
                rng.choice(("team", "max", "enterprise")),
                rng.choice(TERMINALS),
                rng.lognormvariate(0, 0.4),
            )
            for _, handle in DEVELOPERS[:SEAT_USERS]
        )
        self._cache: dict[date, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # ---- generation ---------------------------------------------------------------------
    def _cost_cents(self, model: str, tokens: dict[str, int], day: date) -> Decimal:
        total = Decimal(0)
        for cls, qty in tokens.items():
            if qty:
                price = self.org.prices.price(
                    "anthropic", model, PRICE_CLASS[cls], "standard", "0-200k", day
                )
                total += qty * price * HUNDRED / MILLION
        return total.quantize(FOUR_DP)

    def _breakdown(self, model: str, tokens: dict[str, int], day: date) -> dict[str, Any]:
        return {
            "model": model,
            "tokens": tokens,
            "estimated_cost": {
                "amount": float(self._cost_cents(model, tokens, day)),
                "currency": "USD",
            },
        }

    @staticmethod
    def _core(rng: random.Random, sessions: int) -> tuple[dict[str, Any], dict[str, Any]]:
        added = sum(rng.randint(20, 400) for _ in range(sessions))
        core = {
            "num_sessions": sessions,
            "lines_of_code": {"added": added, "removed": round(added * rng.uniform(0.1, 0.6))},
            "commits_by_claude_code": rng.randint(0, sessions * 2),
            "pull_requests_by_claude_code": rng.randint(0, max(1, sessions // 2)),
        }
        tools = {
            name: {"accepted": rng.randint(0, 30 * sessions), "rejected": rng.randint(0, 3)}
            for name in ("edit_tool", "multi_edit_tool", "write_tool", "notebook_edit_tool")
        }
        return core, tools

    def key_usage(self, day: date) -> dict[str, dict[str, dict[str, int]]]:
        """Standard-tier, 0-200k usage of the claude-code keys: key id -> model -> token class."""
        data = self.org.day(day)
        ids = {k.id for k in self.api_keys}
        out: dict[str, dict[str, dict[str, int]]] = {}
        for _ws, key, model, tier, ctx, _geo, unc, w5, w1, read, outp, _web, _req in (
            data.anthropic_day if data else ()
        ):
            if key not in ids or tier != "standard" or ctx != "0-200k":
                continue
            acc = out.setdefault(key, {}).setdefault(
                model, {"input": 0, "output": 0, "cache_read": 0, "cache_creation": 0}
            )
            acc["input"] += unc
            acc["output"] += outp
            acc["cache_read"] += read
            acc["cache_creation"] += w5 + w1
        return out

    def _generate(self, day: date) -> list[dict[str, Any]]:
        rng = random.Random(f"{self.org.seed}:claude_code:day:{day.isoformat()}")
        base = {"date": f"{day.isoformat()}T00:00:00Z"}
        records: list[dict[str, Any]] = []
        weekend = day.weekday() >= 5
        for email, sub, terminal, activity in self.seats:
            if rng.random() > (0.25 if weekend else 0.85):
                continue
            sessions = max(1, round(rng.uniform(1, 6) * activity))
            core, tools = self._core(rng, sessions)
            models = [SONNET] + [m for m in (OPUS, HAIKU) if rng.random() < 0.3]
            breakdown = []
            for model in models:
                inp = round(sessions * rng.uniform(20_000, 120_000))
                tokens = {
                    "input": inp,
                    "output": round(inp * rng.uniform(0.05, 0.2)),
                    "cache_read": round(inp * rng.uniform(2, 8)),
                    "cache_creation": round(inp * rng.uniform(0.2, 0.8)),
                }
                breakdown.append(self._breakdown(model, tokens, day))
            records.append(
                {
                    **base,
                    "actor": {"type": "user_actor", "email_address": email},
                    "organization_id": self.organization_id,
                    "customer_type": "subscription",
                    "subscription_type": sub,
                    "terminal_type": terminal,
                    "is_remote": False,
                    "core_metrics": core,
                    "tool_actions": tools,
                    "model_breakdown": breakdown,
                }
            )
        usage = self.key_usage(day)
        for key in self.api_keys:
            models = usage.get(key.id, {})
            if not any(any(t.values()) for t in models.values()):
                continue
            share = rng.uniform(0.3, 0.7)
            breakdown = []
            for model in sorted(models, key=ANTHROPIC_MODELS.index):
                tokens = {cls: int(qty * share) for cls, qty in models[model].items()}
                if any(tokens.values()):
                    breakdown.append(self._breakdown(model, tokens, day))
            sessions = max(1, sum(b["tokens"]["input"] for b in breakdown) // 400_000)
            core, tools = self._core(rng, min(sessions, 200))
            records.append(
                {
                    **base,
                    "actor": {"type": "api_actor", "api_key_name": key.name},
                    "organization_id": self.organization_id,
                    "customer_type": "api",
                    "subscription_type": None,
                    "terminal_type": "non-interactive",
                    "is_remote": True,
                    "core_metrics": core,
                    "tool_actions": tools,
                    "model_breakdown": breakdown,
                }
            )
        return records

    def records(self, day: date) -> list[dict[str, Any]]:
        """The day's records (cached, regenerated after a restatement); empty outside the window."""
        if not self.org.start <= day < self.org.end:
            return []
        data = self.org.day(day)  # identity changes when the org restates the day
        with self._lock:
            cached = self._cache.get(day)
            # a weak reference: holding the day itself would defeat the org's bounded cache
            if cached is None or cached[0]() is not data:
                cached = (weakref.ref(data), self._generate(day))
                self._cache[day] = cached  # type: ignore[assignment]
            return cached[1]  # type: ignore[return-value]

    # ---- endpoint -------------------------------------------------------------------------
    def usage_report(self, params: Params) -> dict[str, Any]:
        """GET /v1/organizations/usage_report/claude_code."""
        raw = one_param(params, "starting_at")
        if not raw:
            raise ApiError(400, "invalid_request_error", "starting_at: field required")
        try:
            day = datetime.strptime(raw, "%Y-%m-%d").date()
        except ValueError as exc:
            raise ApiError(
                400, "invalid_request_error", "starting_at: expected a UTC date YYYY-MM-DD"
            ) from exc
        limit = limit_param(params, 20, 1000)
        records = self.records(day)
        offset = 0
        page = one_param(params, "page")
        if page:
            try:
                tag, _, pos = decode_cursor(page).decode().partition(":")
                offset = int(pos)
            except (UnicodeDecodeError, ValueError) as exc:
                raise ApiError(400, "invalid_request_error", "page: invalid cursor") from exc
            if tag != day.isoformat() or not 0 <= offset <= len(records):
                raise ApiError(400, "invalid_request_error", "page: invalid cursor")
        chunk = records[offset : offset + limit]
        nxt = offset + len(chunk)
        more = nxt < len(records)
        return {
            "data": chunk,
            "has_more": more,
            "next_page": encode_cursor(f"{day.isoformat()}:{nxt}".encode()) if more else None,
        }

    # ---- ground truth ---------------------------------------------------------------------
    def daily(self) -> list[dict[str, Any]]:
        """Per (day, customer_type): sessions, code metrics, tokens, estimated cost in USD."""
        out = []
        day = self.org.start
        while day < self.org.end:
            for ctype in ("api", "subscription"):
                recs = [r for r in self.records(day) if r["customer_type"] == ctype]
                bds = [b for r in recs for b in r["model_breakdown"]]
                out.append(
                    {
                        "date": day.isoformat(),
                        "customer_type": ctype,
                        "records": len(recs),
                        "sessions": sum(r["core_metrics"]["num_sessions"] for r in recs),
                        "lines_added": sum(
                            r["core_metrics"]["lines_of_code"]["added"] for r in recs
                        ),
                        "pull_requests": sum(
                            r["core_metrics"]["pull_requests_by_claude_code"] for r in recs
                        ),
                        **{
                            f"{cls}_tokens": sum(b["tokens"][cls] for b in bds)
                            for cls in PRICE_CLASS
                        },
                        "estimated_cost_usd": sum(
                            (Decimal(str(b["estimated_cost"]["amount"])) for b in bds),
                            Decimal(0),
                        )
                        / HUNDRED,
                    }
                )
            day += timedelta(days=1)
        return out


_REPORTS: weakref.WeakKeyDictionary[SyntheticOrg, ClaudeCodeReport] = weakref.WeakKeyDictionary()
_REPORTS_LOCK = threading.Lock()


def report_for(org: SyntheticOrg) -> ClaudeCodeReport:
    """The one report of an organisation (shared by the server and the ground truth)."""
    with _REPORTS_LOCK:
        rep = _REPORTS.get(org)
        if rep is None:
            rep = ClaudeCodeReport(org)
            _REPORTS[org] = rep
        return rep
