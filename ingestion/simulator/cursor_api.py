"""Cursor Admin API stand-in: a seeded team, per-request usage events, daily usage, spend.

Shapes follow provider-formats.md section 3 (and checklist item 10.3): POST with a JSON body,
HTTP Basic auth with the key as username and an empty password, event `timestamp` as a STRING
of epoch milliseconds, optional fields omitted (never null), cents as floats, 1-based `page`.
Served under the `/cursor` prefix of the simulator's server. Events are generated lazily per UTC
day from (seed, day) only, so any query window sees the same events.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ingestion.simulator.config import SimConfig

Response = tuple[int, dict[str, str], bytes]

DAY_MS = 86_400_000
MAX_RANGE_MS = 30 * DAY_MS
HUNDRED = Decimal(100)

DEVELOPERS = (
    ("Dana Whitfield", "dana"),
    ("Lee Park", "lee"),
    ("Priya Raman", "priya"),
    ("Marco Bianchi", "marco"),
    ("Sofia Alvarez", "sofia"),
    ("Kenji Watanabe", "kenji"),
    ("Amara Okafor", "amara"),
    ("Jonas Berg", "jonas"),
    ("Chloe Martin", "chloe"),
    ("Ravi Shah", "ravi"),
    ("Elena Petrova", "elena"),
    ("Tom Becker", "tom"),
)
# model, share of events, input/output tokens per call, list cents per 1M (in, out, read, write)
CURSOR_MODELS = (
    ("claude-4.5-sonnet", 0.30, 9_000, 900, (300, 1500, 30, 375)),
    ("gpt-5", 0.22, 8_000, 1_200, (125, 1000, 12.5, 0)),
    ("default", 0.25, 6_000, 600, (125, 600, 12.5, 0)),
    ("claude-4.5-opus", 0.06, 10_000, 1_000, (500, 2500, 50, 625)),
    ("gemini-2.5-pro", 0.09, 7_000, 800, (125, 1000, 31, 0)),
    ("gpt-5-codex", 0.08, 8_000, 1_400, (125, 1000, 12.5, 0)),
)
EXTENSIONS = ("ts", "py", "tsx", "go", "rs", "sql")
CLIENT_VERSIONS = ("1.7.28", "1.7.33", "2.0.11")


def _ms(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp()) * 1000


def _day_of_ms(ms: int) -> date:
    return date(1970, 1, 1) + timedelta(days=ms // DAY_MS)


def cents_decimal(value: float | int) -> Decimal:
    """A cents value exactly as it is serialized (shortest float repr)."""
    return Decimal(str(value))


@dataclass(frozen=True)
class Member:
    """A team member; `user_num` is the numeric id daily-usage-data reports."""

    id: str
    user_num: int
    name: str
    email: str
    role: str
    is_removed: bool
    activity: float  # relative events per day
    usage_based_share: float  # share of token calls beyond the included allowance


class CursorTeam:
    """The deterministic Cursor team of one simulator window (same seed as SimConfig.seed)."""

    def __init__(self, seed: int, start: date, end: date) -> None:
        self.seed = seed
        self.start = start
        self.end = end
        rng = random.Random(f"{seed}:cursor:team")
        members = []
        for i, (name, handle) in enumerate(DEVELOPERS):
            members.append(
                Member(
                    id="user_"
                    + "".join(rng.choice("abcdefghjkmnpqrstvwxyz0123456789") for _ in range(20)),
                    user_num=1000 + i * 7 + rng.randint(0, 6),
                    name=name,
                    email=f"{handle}@example.com",
                    role="owner" if i == 0 else ("free-owner" if i == 1 else "member"),
                    is_removed=i == len(DEVELOPERS) - 1,
                    activity=rng.lognormvariate(0, 0.5),
                    usage_based_share=rng.uniform(0.2, 0.8),
                )
            )
        self.members = tuple(members)
        self.base_events = rng.uniform(170, 230)
        self._cache: dict[date, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # ---- events -----------------------------------------------------------------------
    def events(self, day: date) -> list[dict[str, Any]]:
        """The day's events, newest first (cached); empty outside the window."""
        if not self.start <= day < self.end:
            return []
        with self._lock:
            out = self._cache.get(day)
            if out is None:
                out = self._generate(day)
                self._cache[day] = out
            return out

    def _generate(self, day: date) -> list[dict[str, Any]]:
        rng = random.Random(f"{self.seed}:cursor:day:{day.isoformat()}")
        season = 0.35 if day.weekday() >= 5 else 1.0
        n = round(self.base_events * season * rng.lognormvariate(0, 0.15))
        n = max(50, min(400, n))
        active = [m for m in self.members if not m.is_removed]
        weights = [m.activity for m in active]
        models = [m[0] for m in CURSOR_MODELS]
        mweights = [m[1] for m in CURSOR_MODELS]
        day_ms = _ms(day)
        events: list[dict[str, Any]] = []
        conversations: dict[str, str] = {}
        for _ in range(n):
            member = rng.choices(active, weights)[0]
            hour = min(23, max(0, round(rng.gauss(14, 3.5))))
            ts = day_ms + hour * 3_600_000 + rng.randrange(3_600_000)
            model_i = rng.choices(range(len(models)), mweights)[0]
            model, _, ipc, opc, prices = CURSOR_MODELS[model_i]
            token_based = not (model == "default" and rng.random() < 0.5)
            chargeable = token_based and rng.random() < member.usage_based_share
            max_mode = token_based and model != "default" and rng.random() < 0.08
            if rng.random() < 0.7 or member.email not in conversations:
                conversations[member.email] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            event: dict[str, Any] = {"timestamp": str(ts), "userEmail": member.email}
            if rng.random() < 0.92:
                event["conversationId"] = conversations[member.email]
            if rng.random() < 0.03:
                event["serviceAccountId"] = "sa_ci_bot"
                event["serviceAccountName"] = "ci-bot"
            event.update(
                {
                    "model": model,
                    "kind": "Usage-based" if chargeable else "Included in Business",
                    "maxMode": max_mode,
                    "requestsCosts": (2 if max_mode else 1) if token_based else 1,
                    "isTokenBasedCall": token_based,
                    "isChargeable": chargeable,
                    "isHeadless": rng.random() < 0.05,
                }
            )
            if token_based:
                size = rng.lognormvariate(0, 0.6)
                inp = max(50, round(ipc * size))
                out = max(10, round(opc * size * rng.uniform(0.5, 1.5)))
                read = round(inp * rng.uniform(1, 6))
                write = round(inp * rng.uniform(0, 0.8)) if prices[3] else 0
                p_in, p_out, p_read, p_write = prices
                total = (inp * p_in + out * p_out + read * p_read + write * p_write) / 1e6
                total_cents = round(total * (2 if max_mode else 1), 4)
                usage: dict[str, Any] = {
                    "inputTokens": inp,
                    "outputTokens": out,
                    "cacheWriteTokens": write,
                    "cacheReadTokens": read,
                    "totalCents": total_cents,
                }
                if rng.random() < 0.05:
                    usage["discountPercentOff"] = 10
                event["tokenUsage"] = usage
                if chargeable:
                    fee = round((inp + out + read + write) / 1e6 * 25, 4)  # 0.25 USD / 1M
                    event["chargedCents"] = round(total_cents + fee, 4)
                    event["cursorTokenFee"] = fee
                else:
                    event["chargedCents"] = 0
            else:
                event["chargedCents"] = 0
            events.append(event)
        if rng.random() < 0.25:  # the API can return two byte-identical events
            events.append(dict(events[rng.randrange(len(events))]))
        events.sort(key=lambda e: -int(e["timestamp"]))
        return events

    def events_between(self, start_ms: int, end_ms: int, email: str | None = None) -> list[dict]:
        """Events with start_ms <= timestamp <= end_ms (both inclusive), newest first."""
        out: list[dict[str, Any]] = []
        first, last = _day_of_ms(max(start_ms, 0)), _day_of_ms(max(end_ms, 0))
        day = last
        while day >= first:
            for e in self.events(day):
                ts = int(e["timestamp"])
                if start_ms <= ts <= end_ms and (email is None or e["userEmail"] == email):
                    out.append(e)
            day -= timedelta(days=1)
        return out

    # ---- derived views ----------------------------------------------------------------
    def daily_rows(self, day: date, include_inactive: bool) -> list[dict[str, Any]]:
        """`/teams/daily-usage-data` rows of one day, by member order."""
        rng = random.Random(f"{self.seed}:cursor:daily:{day.isoformat()}")
        by_user: dict[str, list[dict[str, Any]]] = {}
        for e in self.events(day):
            by_user.setdefault(e["userEmail"], []).append(e)
        rows = []
        for m in self.members:
            evs = by_user.get(m.email, [])
            active = bool(evs)
            r = rng.random
            n = len(evs)
            added = round(n * 40 * (0.5 + r())) if active else 0
            deleted = round(added * 0.4 * r())
            models = [e["model"] for e in evs]
            row = {
                "userId": m.user_num,
                "day": day.isoformat(),
                "date": _ms(day),
                "email": m.email,
                "isActive": active,
                "totalLinesAdded": added,
                "totalLinesDeleted": deleted,
                "acceptedLinesAdded": round(added * 0.6),
                "acceptedLinesDeleted": round(deleted * 0.6),
                "totalApplies": round(n * 0.5),
                "totalAccepts": round(n * 0.4),
                "totalRejects": round(n * 0.1),
                "totalTabsShown": round(n * 12 * r()) if active else 0,
                "totalTabsAccepted": round(n * 3 * r()) if active else 0,
                "composerRequests": round(n * 0.2),
                "chatRequests": round(n * 0.2),
                "agentRequests": n - 2 * round(n * 0.2),
                "cmdkUsages": round(n * 0.1),
                "subscriptionIncludedReqs": sum(1 for e in evs if not e["isChargeable"]),
                "apiKeyReqs": 0,
                "usageBasedReqs": sum(1 for e in evs if e["isChargeable"]),
                "bugbotUsages": 0,
                "mostUsedModel": max(set(models), key=models.count) if models else None,
                "applyMostUsedExtension": EXTENSIONS[m.user_num % len(EXTENSIONS)]
                if active
                else None,
                "tabMostUsedExtension": EXTENSIONS[(m.user_num + 1) % len(EXTENSIONS)]
                if active
                else None,
                "clientVersion": CLIENT_VERSIONS[m.user_num % len(CLIENT_VERSIONS)]
                if active
                else None,
            }
            if active or include_inactive:
                rows.append(row)
        return rows

    def daily_totals(self) -> list[dict[str, Any]]:
        """Ground truth per UTC day: cost is the exact sum of chargedCents / 100 as serialized."""
        out = []
        day = self.start
        while day < self.end:
            evs = self.events(day)
            tu = [e.get("tokenUsage", {}) for e in evs]
            out.append(
                {
                    "provider": "cursor",
                    "date": day.isoformat(),
                    "billed_cost_usd": sum(
                        (cents_decimal(e["chargedCents"]) for e in evs), Decimal(0)
                    )
                    / HUNDRED,
                    "input_tokens": sum(t.get("inputTokens", 0) for t in tu),
                    "cached_input_tokens": sum(t.get("cacheReadTokens", 0) for t in tu),
                    "cache_write_tokens": sum(t.get("cacheWriteTokens", 0) for t in tu),
                    "output_tokens": sum(t.get("outputTokens", 0) for t in tu),
                    "requests": len(evs),
                }
            )
            day += timedelta(days=1)
        return out

    @property
    def cycle_start(self) -> date:
        """Start of the current billing cycle: the 1st of the month of the window's last day."""
        return (self.end - timedelta(days=1)).replace(day=1)


@lru_cache(maxsize=16)
def team_for(seed: int, start: date, end: date) -> CursorTeam:
    """One shared team per (seed, window), so the server and the ground truth agree."""
    return CursorTeam(seed, start, end)


class CursorError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _int_field(body: Mapping[str, Any], name: str, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise CursorError(400, f"{name} must be an integer")
    return int(value)


class CursorApi:
    """`/teams/...` endpoints; `handle` returns a full response (status, headers, body)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.team = team_for(config.seed, config.start, config.end)

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.config.cursor_key}:"

    def handle(self, method: str, path: str, auth: str | None, raw_body: bytes) -> Response:
        try:
            if not self.authorized(auth):
                raise CursorError(401, "Unauthorized")
            body: dict[str, Any] = {}
            if method == "POST" and raw_body:
                try:
                    body = json.loads(raw_body)
                except ValueError as exc:
                    raise CursorError(400, "Invalid JSON body") from exc
                if not isinstance(body, dict):
                    raise CursorError(400, "Body must be a JSON object")
            routes = {
                ("GET", "/teams/members"): self.members,
                ("POST", "/teams/daily-usage-data"): self.daily_usage,
                ("POST", "/teams/filtered-usage-events"): self.usage_events,
                ("POST", "/teams/spend"): self.spend,
            }
            fn = routes.get((method, path.rstrip("/")))
            if fn is None:
                raise CursorError(404, f"Not found: {method} {path}")
            status, out = 200, fn(body)
        except CursorError as err:
            status, out = err.status, {"error": err.message}
        return status, {"Content-Type": "application/json"}, json.dumps(out).encode()

    def _range(self, body: Mapping[str, Any], required: bool) -> tuple[int, int]:
        end_default = _ms(self.config.end) - 1
        start = _int_field(body, "startDate", None if required else end_default - 7 * DAY_MS + 1)
        end = _int_field(body, "endDate", None if required else end_default)
        if start is None or end is None:
            raise CursorError(400, "startDate and endDate are required")
        if end < start:
            raise CursorError(400, "endDate must not be before startDate")
        return start, end

    def _paging(self, body: Mapping[str, Any], default_size: int, max_size: int) -> tuple[int, int]:
        page = _int_field(body, "page", 1) or 0
        size = _int_field(body, "pageSize", default_size) or 0
        if page < 1:
            raise CursorError(400, "page must be >= 1")
        if not 1 <= size <= max_size:
            raise CursorError(400, f"pageSize must be between 1 and {max_size}")
        return page, size

    def members(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """GET /teams/members."""
        return {
            "teamMembers": [
                {
                    "id": m.id,
                    "name": m.name,
                    "email": m.email,
                    "role": m.role,
                    "isRemoved": m.is_removed,
                }
                for m in self.team.members
            ]
        }

    def daily_usage(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /teams/daily-usage-data (range <= 30 days; paging returns inactive members)."""
        start, end = self._range(body, required=True)
        if end - start > MAX_RANGE_MS:
            raise CursorError(400, "Date range cannot exceed 30 days")
        paged = "page" in body or "pageSize" in body
        rows = []
        day = _day_of_ms(start)
        while _ms(day) <= end:
            if self.team.start <= day < self.team.end:
                rows.extend(self.team.daily_rows(day, include_inactive=paged))
            day += timedelta(days=1)
        out: dict[str, Any] = {"data": rows, "period": {"startDate": start, "endDate": end}}
        if paged:
            page, size = self._paging(body, 100, 1000)
            users = len(self.team.members)
            # pages are of users: a page carries those users' rows for every day
            emails = {m.email for m in self.team.members[(page - 1) * size : page * size]}
            out["data"] = [r for r in rows if r["email"] in emails]
            pages = math.ceil(users / size)
            out["pagination"] = {
                "page": page,
                "pageSize": size,
                "totalUsers": users,
                "totalPages": pages,
                "hasNextPage": page < pages,
                "hasPreviousPage": page > 1,
            }
        return out

    def usage_events(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /teams/filtered-usage-events (inclusive ms bounds, 1-based pages)."""
        start, end = self._range(body, required=False)
        page, size = self._paging(body, 100, 1000)
        email = body.get("email")
        events = self.team.events_between(start, end, email)
        total = len(events)
        pages = math.ceil(total / size)
        return {
            "totalUsageEventsCount": total,
            "pagination": {
                "numPages": pages,
                "currentPage": page,
                "pageSize": size,
                "hasNextPage": page < pages,
                "hasPreviousPage": page > 1,
            },
            "usageEvents": events[(page - 1) * size : page * size],
            "period": {"startDate": start, "endDate": end},
        }

    def spend(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /teams/spend: the current billing cycle only."""
        page, size = self._paging(body, 100, 1000)
        cycle = self.team.cycle_start
        spend: dict[str, Decimal] = {m.email: Decimal(0) for m in self.team.members}
        overall: dict[str, Decimal] = dict(spend)
        premium: dict[str, int] = {m.email: 0 for m in self.team.members}
        day = max(cycle, self.team.start)
        while day < self.team.end:
            for e in self.team.events(day):
                charged = cents_decimal(e["chargedCents"])
                spend[e["userEmail"]] += charged
                overall[e["userEmail"]] += (
                    charged
                    if charged
                    else cents_decimal(e.get("tokenUsage", {}).get("totalCents", 0))
                )
                premium[e["userEmail"]] += int(e["requestsCosts"])
            day += timedelta(days=1)
        rows = [
            {
                "userId": m.id,
                "name": m.name,
                "email": m.email,
                "role": m.role,
                "spendCents": float(round(spend[m.email], 6)),
                "overallSpendCents": float(round(overall[m.email], 6)),
                "fastPremiumRequests": premium[m.email],
                "hardLimitOverrideDollars": 0,
                "monthlyLimitDollars": None,
                "effectivePerUserLimitDollars": 500,
            }
            for m in self.team.members
        ]
        term = body.get("searchTerm")
        if term:
            rows = [r for r in rows if term.lower() in (r["email"] + r["name"]).lower()]
        sort_by = body.get("sortBy", "date")
        if sort_by == "amount":
            rows.sort(key=lambda r: r["spendCents"])
        elif sort_by == "user":
            rows.sort(key=lambda r: r["email"])
        if body.get("sortDirection", "asc" if sort_by == "user" else "desc") == "desc":
            rows.reverse()
        pages = math.ceil(len(rows) / size)
        return {
            "teamMemberSpend": rows[(page - 1) * size : page * size],
            "subscriptionCycleStart": _ms(cycle),
            "totalMembers": len(rows),
            "totalPages": pages,
        }
